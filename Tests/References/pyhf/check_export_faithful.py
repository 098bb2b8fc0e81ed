#!/usr/bin/env python3
"""Stock pyhf on efthf's exports against efthf's log-likelihood of the *original* extended workspace.

usage: check_export_faithful.py MANIFEST.json

MANIFEST: {"tolerance": 1e-9, "cases": [{"label": str, "workspace": plain.json | null,
           "bkg": BkgOnly.json, "patchset": patchset.json, "patch": NAME,   (instead of "workspace")
           "parameters": {pyhf name: value}, "efthf_logpdf": x}]}

For every case pyhf validates and loads the plain workspace (or applies the patch to the background-only
workspace), evaluates logpdf at the given parameters (pyhf names, `name[i]` for vectors; unnamed ones at
their inits) and forms d = logpdf_pyhf − efthf_logpdf. Specs/eft-extension.md §16: d is one constant for
every point of the Wilson coefficients and every nuisance point. Asserts max(d) − min(d) ≤ tolerance ·
max|efthf_logpdf|; prints every d. Exit status 1 on failure.
"""
import json
import sys

import pyhf

from _common import from_par_names


def main():
    manifest = json.load(open(sys.argv[1]))
    tolerance = manifest["tolerance"]
    differences, scale = [], 0.0
    cache = {}
    for case in manifest["cases"]:
        if case.get("workspace"):
            spec = json.load(open(case["workspace"]))
            ws = pyhf.Workspace(spec)
        else:
            key = (case["bkg"], case["patchset"])
            if key not in cache:
                bkg = pyhf.Workspace(json.load(open(case["bkg"])))
                patchset = pyhf.PatchSet(json.load(open(case["patchset"])))
                patchset.verify(bkg)
                cache[key] = (bkg, patchset)
            bkg, patchset = cache[key]
            ws = pyhf.Workspace(patchset.apply(bkg, case["patch"]))
        model = ws.model()
        data = ws.data(model)
        logpdf = float(model.logpdf(pyhf.tensorlib.astensor(from_par_names(model, case["parameters"])), data)[0])
        d = logpdf - case["efthf_logpdf"]
        differences.append(d)
        scale = max(scale, abs(case["efthf_logpdf"]))
        print(f"{case['label']}: pyhf logpdf {logpdf!r}, efthf (extended) {case['efthf_logpdf']!r}, difference {d!r}")
    spread = max(differences) - min(differences)
    ok = spread <= tolerance * scale
    print(f"{len(differences)} cases: spread of the difference {spread:.3e} (tolerance {tolerance * scale:.3e}): {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
