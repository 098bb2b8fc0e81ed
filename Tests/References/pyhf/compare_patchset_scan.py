#!/usr/bin/env python3
"""Profile scan over an efthf patch set in stock pyhf against `efthf scan` on the original workspace.

usage:
  efthf scan WS --par cHW=-0.5:0.5:11 --fix cHq3=0 --json > scan.json
  efthf export WS --patchset --grid cHW=-0.5:0.5:11 --poi lumi -o ps
  compare_patchset_scan.py ps/BkgOnly.json ps/patchset.json scan.json

Prints, per grid point, pyhf's profiled 2NLL of the patch, efthf's, and the difference less the one at
the first point (Specs/eft-extension.md §16: a constant, so Δ2NLL curves and intervals agree up to
the minimisers' tolerance).
"""
import json
import sys

import pyhf


def main(bkg_path, patchset_path, scan_path):
    pyhf.set_backend("numpy", "scipy")
    bkg = pyhf.Workspace(json.load(open(bkg_path)))
    patchset = pyhf.PatchSet(json.load(open(patchset_path)))
    scan = json.load(open(scan_path))
    rows = []
    for value, efthf in zip(scan["values"], scan["twice_nll"]):
        patch = next(p for p in patchset.patches if abs(p.values[0] - value) < 1e-9)
        ws = pyhf.Workspace(patchset.apply(bkg, patch.name))
        model = ws.model()
        _, twice = pyhf.infer.mle.fit(ws.data(model), model, return_fitted_val=True)
        rows.append((value, float(twice), efthf))
    offset = rows[0][1] - rows[0][2]
    worst = 0.0
    for value, pyhf_2nll, efthf_2nll in rows:
        d = pyhf_2nll - efthf_2nll - offset
        worst = max(worst, abs(d))
        print(f"{scan['parameter']} = {value:+.4f}: pyhf 2NLL {pyhf_2nll:.6f}, efthf 2NLL {efthf_2nll:.6f}, difference less the first {d:+.2e}")
    print(f"largest |Δ2NLL difference|: {worst:.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
