#!/usr/bin/env python3
"""Checks the module graph of `swift package dump-package` against the architecture:
HistFactory (pyhf) reaches neither the EFT modules nor HDF5/zlib; only EventDatabase imports the
C shim for HDF5; zlib only EventDatabase (gzip'd LHE files) and EFTHF (HEPData archives); only
Inference reaches NLopt.

    swift package dump-package | scripts/check-modules.py
"""
import json
import sys

package = json.load(sys.stdin)
deps = {}
for t in package["targets"]:
    names = []
    for d in t.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in d:
                names.append(d[kind][0])
    deps[t["name"]] = names


def closure(name):
    seen, todo = set(), [name]
    while todo:
        for d in deps.get(todo.pop(), []):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


failures = []
core = closure("HistFactory")
for forbidden in ("Morphing", "EventDatabase", "EFTModifiers", "CHDF5", "CZlib", "_Inflate"):
    if forbidden in core:
        failures.append(f"HistFactory depends on {forbidden} (through {sorted(core)})")
for shim, owners in (("CHDF5", ["EventDatabase"]), ("CZlib", ["_Inflate"]), ("CNLopt", ["Inference"])):
    direct = sorted(n for n, d in deps.items() if shim in d)
    if direct != owners:
        failures.append(f"{shim} is a direct dependency of {direct}, expected only {', '.join(owners)}")
if failures:
    print("module graph: " + "; ".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"module graph: HistFactory depends on {', '.join(sorted(core))} only; C shims behind EventDatabase (HDF5), _Inflate (zlib) and Inference (NLopt)")
