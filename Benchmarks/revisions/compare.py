#!/usr/bin/env python3
"""CPU time of two efthf builds on the same commands, rounds interleaved, medians and ranges,
results checked (2NLL of fits, Δ2NLL curve of scans agree to 1e-8 relative).

    python3 Benchmarks/revisions/compare.py OLD/efthf NEW/efthf [--rounds 5] [--only TEXT]

Prints one Markdown table: per case the median CPU seconds (user + system of the child) of each
build, their ratio new/old, and the range over the rounds; the load average at the start and end.
"""
import json
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import arguments, median  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.environ.get("EFTHF_REFERENCE_DIR", "/work/shared/reference")
CASES = [
    ("fit --ops cHW,cHq3, VH morphing", ["fit", "Data/vh/workspace_morphing.json", "--ops", "cHW,cHq3", "--json"]),
    ("fit --ops cHW, VH event database", ["fit", "Data/vh/workspace_events.json", "--ops", "cHW", "--json"]),
    ("fit --ops cHW, VH per-event systematics", ["fit", "Data/vh/workspace_events_syst.json", "--ops", "cHW", "--json"]),
    ("scan cHW 25 points, VH morphing", ["scan", "Data/vh/workspace_morphing.json", "--par", "cHW=-0.6:0.6:25", "--fix", "cHq3=0", "--json"]),
    ("fit, pyhf example", ["fit", "Data/example/workspace.json", "--json"]),
    ("fit, ATLAS 1Lbb (06) + signal", ["fit", f"{REF}/workspaces/06_atlas_susy2019_08_1Lbb/BkgOnly.json", "--patch",
                                       f"{REF}/workspaces/06_atlas_susy2019_08_1Lbb/patchset.json:C1N2_Wh_hbb_700_150", "--json"]),
]


def run(binary, args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([binary] + args, cwd=REPO, capture_output=True, text=True, env={**os.environ, "EFTHF_PROGRESS": "0"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode not in (0, 2):
        sys.exit(f"{binary} {' '.join(args)} failed: {out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, json.loads(out.stdout)


def check(label, a, b):
    if "twice_nll" in a and isinstance(a["twice_nll"], float):
        x, y = a["twice_nll"], b["twice_nll"]
        if abs(x - y) > 1e-8 * abs(x):
            sys.exit(f"{label}: 2NLL differs: {x} vs {y}")
    if "delta_twice_nll" in a:
        for x, y in zip(a["delta_twice_nll"], b["delta_twice_nll"]):
            if abs(x - y) > 1e-6 * max(1, abs(x)):
                sys.exit(f"{label}: Δ2NLL differs: {x} vs {y}")


def main():
    old, new, rounds, only = arguments()
    load0 = os.getloadavg()
    rows = []
    for label, args in CASES:
        if only not in label:
            continue
        if not os.path.exists(args[1]) and not os.path.exists(os.path.join(REPO, args[1])):
            continue
        times = {old: [], new: []}
        for r in range(rounds):
            order = (old, new) if r % 2 == 0 else (new, old)
            results = {}
            for binary in order:
                t, doc = run(binary, args)
                times[binary].append(t)
                results[binary] = doc
            check(label, results[old], results[new])
        a, b = median(times[old]), median(times[new])
        rows.append((label, a, b, b / a, min(times[old]), max(times[old]), min(times[new]), max(times[new])))
    load1 = os.getloadavg()
    print(f"rounds: {rounds} (interleaved), load average {load0[0]:.2f} → {load1[0]:.2f}")
    print("| case | old CPU s (median) | new CPU s (median) | new/old | old range | new range |")
    print("|---|---|---|---|---|---|")
    for label, a, b, ratio, a0, a1, b0, b1 in rows:
        print(f"| {label} | {a:.3f} | {b:.3f} | {ratio:.2f} | {a0:.3f}–{a1:.3f} | {b0:.3f}–{b1:.3f} |")


if __name__ == "__main__":
    main()
