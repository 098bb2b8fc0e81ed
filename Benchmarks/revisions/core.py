#!/usr/bin/env python3
"""The HistFactory core of two or more builds: log L + gradient per evaluation off the inits (the
headline case) and at the inits, on the reference workspaces 01–08, rounds interleaved (the builds'
order turning each round), medians of the per-round medians; every build's log-likelihood must
agree with the first's to 1e-12 relative.

    python3 Benchmarks/revisions/core.py BUILD BUILD... [--rounds 5] [--cases 06,07] [--unchecked]

Each BUILD is a HistFactoryBenchmark executable; the ratios are to the first. `--unchecked` skips the
agreement check and prints each build's log L instead: for builds that leave a part of the kernel
out on purpose, to bound what that part costs (Benchmarks/results/benchmarks.md, "What limits the
per-evaluation figures of 06 and 07").
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import median  # noqa: E402

REF = os.environ.get("EFTHF_REFERENCE_DIR", "/work/shared/reference")
CASES = [
    ("01", "01_pyhf_example", "example_bkgonly.json", "example_patchset.json:patch_channel1_signal_syst1"),
    ("02", "02_cms_combine2pyhf_one-bin-stat-full", "workspace.json", None),
    ("03", "03_atlas_susy2018_14_comb", "BkgOnly.json", "patchset_SYNTHETIC.json:synthetic_signal"),
    ("04", "04_atlas_susy2018_22_simplified_MB-SSd", "BkgOnly.json", "patchset_SYNTHETIC.json:synthetic_signal"),
    ("05", "05_atlas_susy2018_31_sbottom_RegionA", "BkgOnly.json", "patch.sbottom_1300_205_60.json"),
    ("06", "06_atlas_susy2019_08_1Lbb", "BkgOnly.json", "patchset.json:C1N2_Wh_hbb_700_150"),
    ("07", "07_atlas_susy2018_16_ewkinos_SR2l", "BkgOnly.json", "patchset_SYNTHETIC.json:synthetic_signal"),
    ("08", "08_atlas_susy2019_09_offshell", "BkgOnly.json", "patchset_SYNTHETIC.json:synthetic_signal"),
]


def run(binary, case):
    _, folder, ws, patch = case
    args = [binary, f"{REF}/workspaces/{folder}/{ws}"] + ([f"{REF}/workspaces/{folder}/{patch}"] if patch else []) + ["--repeat", "5"]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def options():
    """(builds, rounds, cases, unchecked) from the command line."""
    args = sys.argv[1:]
    values = {}
    for flag in ("--rounds", "--cases"):
        if flag in args:
            k = args.index(flag)
            if k + 1 >= len(args):
                sys.exit(f"{flag} needs a value")
            values[flag] = args[k + 1]
            del args[k:k + 2]
    unchecked = "--unchecked" in args
    builds = [a for a in args if a != "--unchecked"]
    if len(builds) < 2 or any(b.startswith("--") for b in builds):
        sys.exit(__doc__.split("\n\n")[1])
    rounds = int(values.get("--rounds", 5))
    if not 1 <= rounds <= 100:
        sys.exit(f"--rounds must be from 1 to 100, not {rounds}")
    wanted = values["--cases"].split(",") if "--cases" in values else [c[0] for c in CASES]
    unknown = [w for w in wanted if w not in {c[0] for c in CASES}]
    if unknown:
        sys.exit(f"unknown cases {','.join(unknown)}; the cases are {','.join(c[0] for c in CASES)}")
    return builds, rounds, [c for c in CASES if c[0] in wanted], unchecked


def main():
    builds, rounds, cases, unchecked = options()
    load0 = os.getloadavg()
    columns = [f"build {k + 1} µs off inits" + ("" if k == 0 else " (/ build 1)") for k in range(len(builds))]
    print("builds: " + ", ".join(f"{k + 1} = {b}" for k, b in enumerate(builds)))
    print("| workspace | " + " | ".join(columns) + " | at the inits, µs: " + ", ".join(str(k + 1) for k in range(len(builds))) + " |")
    print("|---|" + "---|" * (len(builds) + 1))
    for case in cases:
        shifted = {b: [] for b in builds}
        inits = {b: [] for b in builds}
        values = {}
        for r in range(rounds):
            turn = r % len(builds)
            for binary in builds[turn:] + builds[:turn]:
                d = run(binary, case)
                shifted[binary].append(d["logpdf_grad_shifted_seconds_median"])
                inits[binary].append(d["logpdf_grad_seconds_median"])
                values[binary] = d["logpdf_at_shifted"]
        first = values[builds[0]]
        for b in builds[1:]:
            if not unchecked and abs(values[b] - first) > 1e-12 * abs(first):
                sys.exit(f"{case[0]}: log L of {b} differs from {builds[0]}'s: {values[b]} vs {first}")
        s = [median(shifted[b]) * 1e6 for b in builds]
        i = [median(inits[b]) * 1e6 for b in builds]
        cells = [f"{s[0]:.2f}"] + [f"{v:.2f} ({v / s[0]:.2f})" for v in s[1:]]
        print(f"| {case[0]} | " + " | ".join(cells) + " | " + ", ".join(f"{v:.2f}" for v in i) + " |")
        if unchecked:
            print(f"  {case[0]} log L off the inits: " + ", ".join(f"{k + 1}: {values[b]!r}" for k, b in enumerate(builds)))
    print(f"rounds: {rounds} (interleaved), load average {load0[0]:.2f} → {os.getloadavg()[0]:.2f}; CPU time per log L + gradient")


if __name__ == "__main__":
    main()
