#!/usr/bin/env python3
"""Intervals and contours from an efthf patch set profiled in stock pyhf, against `efthf scan` on
the original workspace (Specs/eft-extension.md §16: the export reproduces the extended likelihood up
to one constant, so profile scans over the patch set give efthf's intervals).

usage:
  efthf scan WS --par cHW=-0.6:0.6:25 --fix cHq3=0 --json > scan1.json
  efthf export WS --patchset --grid cHW=-0.6:0.6:25 --poi lumi --skip-invalid -o ps1
  efthf scan WS --par cHW=-0.3:0.7:11 --par cHq3=-0.2:0.05:11 --json > scan2.json
  efthf export WS --patchset --grid cHW=-0.3:0.7:11,cHq3=-0.2:0.05:11 --poi lumi --skip-invalid -o ps2
  check_patchset_intervals.py ps1 scan1.json ps2 scan2.json

For each (patch set, scan) pair: pyhf 0.7.6's profiled 2NLL (`pyhf.infer.mle.fit`, numpy/scipy) at
every patch; Δ2NLL relative to the smallest value on the grid, for pyhf's values and for the scan's
`twice_nll` alike (points outside the domain, NaN in the scan and absent from the patch set, are left
out on both sides). 1D: the ends of the Δ2NLL < 1 and < 3.84 ranges by linear interpolation between
grid points. 2D: the extent (min and max of each coordinate) of the Δ2NLL = 2.30 and 5.99 contours,
from the crossings along grid edges with finite ends. Prints one JSON object: per pair the ends from
both, and the largest difference of an end.
"""
import json
import math
import os
import sys

import pyhf


def profiled(bkg, patchset):
    pyhf.set_backend("numpy", "scipy")
    out = {}
    for patch in patchset.patches:
        ws = pyhf.Workspace(patchset.apply(bkg, patch.name))
        model = ws.model()
        _, twice = pyhf.infer.mle.fit(ws.data(model), model, return_fitted_val=True)
        out[tuple(round(float(v), 12) for v in patch.values)] = float(twice)
    return out


def crossings_1d(xs, ys, level):
    """Ends of the ranges where y < level, linear interpolation; None at a grid edge."""
    ends = []
    for i in range(len(xs) - 1):
        a, b = ys[i] - level, ys[i + 1] - level
        if (a < 0) != (b < 0):
            ends.append(xs[i] + a / (a - b) * (xs[i + 1] - xs[i]))
    return ends


def extent_2d(xs, ys, grid, level):
    points = []
    for i in range(len(xs)):
        for j in range(len(ys)):
            for di, dj in ((1, 0), (0, 1)):
                k, l = i + di, j + dj
                if k >= len(xs) or l >= len(ys):
                    continue
                a, b = grid[i][j], grid[k][l]
                if a is None or b is None:
                    continue
                a, b = a - level, b - level
                if (a < 0) != (b < 0):
                    t = a / (a - b)
                    points.append((xs[i] + t * (xs[k] - xs[i]), ys[j] + t * (ys[l] - ys[j])))
    if not points:
        return []
    return [min(p[0] for p in points), max(p[0] for p in points), min(p[1] for p in points), max(p[1] for p in points)]


def compare(directory, scan_path):
    bkg = pyhf.Workspace(json.load(open(os.path.join(directory, "BkgOnly.json"))))
    patchset = pyhf.PatchSet(json.load(open(os.path.join(directory, "patchset.json"))))
    scan = json.load(open(scan_path))
    pyhf_2nll = profiled(bkg, patchset)

    def key(*values):
        return tuple(round(float(v), 12) for v in values)

    if "parameter" in scan:
        xs, ours, theirs = [], [], []
        for x, t in zip(scan["values"], scan["twice_nll"]):
            p = pyhf_2nll.get(key(x))
            if p is None or t is None or not math.isfinite(t):
                continue
            xs.append(x); ours.append(t); theirs.append(p)
        result = {"kind": "1D", "parameter": scan["parameter"], "points": len(xs)}
        worst = 0.0
        for name, level in (("68", 1.0), ("95", 3.84)):
            e = crossings_1d(xs, [v - min(ours) for v in ours], level)
            p = crossings_1d(xs, [v - min(theirs) for v in theirs], level)
            result[name] = {"efthf": e, "pyhf": p}
            if len(e) != len(p) or not e:
                worst = math.inf
            else:
                worst = max([worst] + [abs(a - b) for a, b in zip(e, p)])
    else:
        xs, ys = scan["x_values"], scan["y_values"]
        ours = [[t if t is not None and math.isfinite(t) and key(x, y) in pyhf_2nll else None for y, t in zip(ys, row)] for x, row in zip(xs, scan["twice_nll"])]
        theirs = [[pyhf_2nll[key(x, y)] if ours[i][j] is not None else None for j, y in enumerate(ys)] for i, x in enumerate(xs)]
        def shifted(g):
            m = min(v for row in g for v in row if v is not None)
            return [[None if v is None else v - m for v in row] for row in g]
        ours, theirs = shifted(ours), shifted(theirs)
        result = {"kind": "2D", "parameters": scan["parameters"], "points": sum(v is not None for row in ours for v in row)}
        worst = 0.0
        for name, level in (("68", 2.30), ("95", 5.99)):
            e, p = extent_2d(xs, ys, ours, level), extent_2d(xs, ys, theirs, level)
            result[name] = {"efthf": e, "pyhf": p}
            if len(e) != 4 or len(p) != 4:
                worst = math.inf
            else:
                worst = max([worst] + [abs(a - b) for a, b in zip(e, p)])
    result["largest_difference"] = worst
    return result


def main(args):
    pairs = [compare(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    print(json.dumps({"pyhf": pyhf.__version__, "comparisons": pairs}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
