#!/usr/bin/env python3
"""Two efthf binaries on the same fits, interleaved: CPU time (median), likelihood evaluations by
stage, and the largest differences of 2NLL and of the profile-interval ends.

    python3 Benchmarks/compare_fits.py BEFORE AFTER [--repeat 5] [--output results.json]

The fits: `fit --ops cHW,cHq3` on the VH morphing, event-database and per-event-systematics
workspaces, and `fit` on reference workspace 05 (with its patch; ../shared/reference).
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import CASES, VH, reference_dir  # noqa: E402


def cases():
    rows = [(f"VH {name}, cHW,cHq3", [str(VH / name), "--ops", "cHW,cHq3"])
            for name in ("workspace_morphing.json", "workspace_events.json", "workspace_events_syst.json")]
    folder, ws_file, patch_file, patch_name = CASES["05"]
    base = reference_dir() / "workspaces" / folder
    rows.append(("reference 05", [str(base / ws_file), "--patch", str(base / patch_file) + (f":{patch_name}" if patch_name else "")]))
    return rows


def run(binary, args):
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_utime + usage.ru_stime
    out = subprocess.run([binary, "fit", *args, "--json"], capture_output=True, text=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{binary} fit {' '.join(args)}: exit {out.returncode}: {out.stderr[-400:]}")
    return usage.ru_utime + usage.ru_stime - before, json.loads(out.stdout)


def ends(report):
    return {f"{name} {key}[{i}]": value
            for name, interval in (report.get("profile_intervals") or {}).items()
            for key in ("one_sigma", "cl95") for i, value in enumerate(interval[key])}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path, help="also write every measurement as JSON")
    args = parser.parse_args()
    rows = []
    print("| fit | before CPU s | after CPU s | before evaluations (intervals) | after evaluations (intervals) | max abs Δ end | Δ 2NLL |")
    print("|---|---|---|---|---|---|---|")
    for label, fit_args in cases():
        cpu = {"before": [], "after": []}
        reports = {}
        for _ in range(args.repeat):
            for which in ("before", "after"):
                seconds, report = run(getattr(args, which), fit_args)
                cpu[which].append(seconds)
                reports[which] = report
        b, a = reports["before"], reports["after"]
        eb, ea = ends(b), ends(a)
        if eb.keys() != ea.keys() or any((eb[k] is None) != (ea[k] is None) for k in eb):
            sys.exit(f"{label}: the interval ends differ in presence: {eb} vs {ea}")
        worst = max((abs(eb[k] - ea[k]) for k in eb if eb[k] is not None), default=0.0)
        evaluations = [f"{r['evaluations']['total']} ({r['evaluations']['profile_intervals']})" for r in (b, a)]
        print(f"| {label} | {statistics.median(cpu['before']):.3f} | {statistics.median(cpu['after']):.3f} | {evaluations[0]} | {evaluations[1]} "
              f"| {worst:.1e} | {abs(a['twice_nll'] - b['twice_nll']):.1e} |", flush=True)
        rows.append({"fit": label, "cpu_seconds": cpu, "evaluations": {"before": b["evaluations"], "after": a["evaluations"]},
                     "max_abs_end_difference": worst, "twice_nll_difference": abs(a["twice_nll"] - b["twice_nll"])})
    if args.output:
        args.output.write_text(json.dumps({"before": args.before, "after": args.after, "repeat": args.repeat, "fits": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
