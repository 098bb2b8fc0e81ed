#!/usr/bin/env python3
"""The HistFactory core of two builds: log L + gradient per evaluation off the inits (the headline
case) and at the inits, on the reference workspaces 01–08, rounds interleaved, medians of the
per-round medians; the log-likelihoods of both builds must agree to 1e-12 relative.

    python3 Benchmarks/revisions/core.py OLD/HistFactoryBenchmark NEW/HistFactoryBenchmark [--rounds 5]
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import arguments, median  # noqa: E402

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


def main():
    old, new, rounds, _ = arguments()
    load0 = os.getloadavg()
    print("| workspace | old µs off inits | new µs off inits | new/old | old µs at inits | new µs at inits | new/old |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        t = {old: ([], []), new: ([], [])}
        for r in range(rounds):
            docs = {}
            for binary in ((old, new) if r % 2 == 0 else (new, old)):
                d = run(binary, case)
                docs[binary] = d
                t[binary][0].append(d["logpdf_grad_shifted_seconds_median"])
                t[binary][1].append(d["logpdf_grad_seconds_median"])
            a, b = docs[old]["logpdf_at_shifted"], docs[new]["logpdf_at_shifted"]
            if abs(a - b) > 1e-12 * abs(a):
                sys.exit(f"{case[0]}: log L differs: {a} vs {b}")
        so, sn = median(t[old][0]) * 1e6, median(t[new][0]) * 1e6
        io, inn = median(t[old][1]) * 1e6, median(t[new][1]) * 1e6
        print(f"| {case[0]} | {so:.2f} | {sn:.2f} | {sn / so:.2f} | {io:.2f} | {inn:.2f} | {inn / io:.2f} |")
    print(f"rounds: {rounds} (interleaved), load average {load0[0]:.2f} → {os.getloadavg()[0]:.2f}; CPU time per log L + gradient")


if __name__ == "__main__":
    main()
