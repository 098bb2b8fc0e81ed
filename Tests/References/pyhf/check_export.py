#!/usr/bin/env python3
"""Checks efthf's exports (issue 7) with stock pyhf.

usage:
  check_export.py WORKSPACE EVAL_JSON [--bkg BkgOnly.json --patchset patchset.json [--patch NAME --expected WORKSPACE_AT_POINT]]

WORKSPACE    an exported plain workspace (`efthf export ... --at ... -o WORKSPACE`)
EVAL_JSON    efthf's log-likelihood of it (`efthf eval WORKSPACE --at ...`: {"parameters": {name: value}, "logpdf": x})

Asserts that pyhf validates and loads WORKSPACE, and that pyhf's logpdf at efthf's parameter values
equals efthf's to 1e-9 relative. With --bkg/--patchset: pyhf validates the PatchSet, verifies its
digest against the background-only workspace, applies every patch (each result must build a model),
and, with --patch/--expected, that applying NAME gives exactly the workspace EXPECTED (as JSON, up to
key order) and the same logpdf as WORKSPACE. Prints one summary line per check; exit status 1 on failure.
"""
import argparse
import json
import sys

import pyhf

from _common import from_par_names


def logpdf(ws, named):
    model = ws.model()
    data = ws.data(model)
    pars = from_par_names(model, named)
    return float(model.logpdf(pyhf.tensorlib.astensor(pars), data)[0]), model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("workspace")
    p.add_argument("eval_json")
    p.add_argument("--bkg")
    p.add_argument("--patchset")
    p.add_argument("--patch")
    p.add_argument("--expected")
    p.add_argument("--rtol", type=float, default=1e-9)
    a = p.parse_args()
    failures = 0

    with open(a.workspace) as f:
        spec = json.load(f)
    with open(a.eval_json) as f:
        ev = json.load(f)
    ws = pyhf.Workspace(spec)  # validates against pyhf's workspace schema
    ours = float(ev["logpdf"])
    theirs, model = logpdf(ws, ev["parameters"])
    rel = abs(theirs - ours) / max(abs(ours), 1e-300)
    ok = rel <= a.rtol
    failures += not ok
    print(f"{'ok ' if ok else 'FAIL'} logpdf {a.workspace}: pyhf {theirs!r} efthf {ours!r} rel.diff {rel:.3e} "
          f"({len(model.config.par_order)} parameter sets, {model.config.npars} parameters, pyhf {pyhf.__version__})")

    if a.patchset:
        with open(a.bkg) as f:
            bkg = pyhf.Workspace(json.load(f))
        with open(a.patchset) as f:
            ps = pyhf.PatchSet(json.load(f))  # validates against pyhf's patchset schema
        ps.verify(bkg)
        print(f"ok  patchset: digest verified, {len(ps.patches)} patches, labels {ps.labels}")
        for patch in ps.patches:
            pyhf.Workspace(ps.apply(bkg, patch.name)).model()
        print(f"ok  patchset: every patch applies and builds a model")
        if a.patch:
            patched = ps.apply(bkg, a.patch)
            with open(a.expected) as f:
                expected = json.load(f)
            same = json.dumps(dict(patched), sort_keys=True) == json.dumps(expected, sort_keys=True)
            failures += not same
            print(f"{'ok ' if same else 'FAIL'} patch {a.patch}: applied workspace {'equals' if same else 'differs from'} {a.expected}")
            lp, _ = logpdf(pyhf.Workspace(dict(patched)), ev["parameters"])
            rel = abs(lp - ours) / max(abs(ours), 1e-300)
            ok = rel <= a.rtol
            failures += not ok
            print(f"{'ok ' if ok else 'FAIL'} patch {a.patch}: logpdf {lp!r} rel.diff {rel:.3e}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
