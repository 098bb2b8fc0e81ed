#!/usr/bin/env python3
"""Two EventDatabaseBenchmark builds, rounds interleaved (who goes first alternating): events per
CPU-second of the sharp kernel (θ = 0.5) and of the smoothed kernel on the VH example, values alone
and with Jacobians; medians and ranges over the rounds, and the smoothed/sharp ratios. Every run
checks its own results (the benchmark's preconditions) before it prints them.

    python3 Benchmarks/compare_smoothed.py BEFORE AFTER [--rounds 5] [--events 2000000] [-o FILE.json]
"""
import argparse
import json
import re
import statistics
import subprocess
import sys

PATTERNS = {
    "sharp": re.compile(r"kernel θ=0\.5: .*?; ([0-9.]+) Mevents, "),
    "smoothed values": re.compile(r"smoothed kernel \(Data/vh example[^)]*\): .*?; ([0-9.]+) Mevents per CPU-second"),
    "smoothed with Jacobian": re.compile(r"smoothed kernel \(Data/vh example[^)]*\) with Jacobian: .*?; ([0-9.]+) Mevents per CPU-second"),
}


def run(binary, events):
    out = subprocess.run([binary, "--events", str(events), "--no-load"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{binary}: exit {out.returncode}: {out.stderr[-400:]}")
    figures = {}
    for name, pattern in PATTERNS.items():
        match = pattern.search(out.stdout)
        if not match:
            sys.exit(f"{binary}: no '{name}' figure in its output:\n{out.stdout}")
        figures[name] = float(match.group(1))
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("-o", "--output")
    args = parser.parse_args()
    runs = {"before": [], "after": []}
    for r in range(args.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        for which in order:
            runs[which].append(run(getattr(args, which), args.events))
        print(f"round {r + 1}: " + "; ".join(f"{w} " + ", ".join(f"{k} {v:.1f}" for k, v in runs[w][-1].items()) for w in ("before", "after")),
              flush=True)
    summary = {}
    for which, rows in runs.items():
        summary[which] = {}
        for name in PATTERNS:
            values = [row[name] for row in rows]
            summary[which][name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        for name in ("smoothed values", "smoothed with Jacobian"):
            summary[which][name]["fraction of sharp"] = statistics.median(row[name] / row["sharp"] for row in rows)
    print("Mevents per CPU-second, median (min–max) over the rounds:")
    for name in PATTERNS:
        cells = []
        for which in ("before", "after"):
            s = summary[which][name]
            extra = f", {100 * s['fraction of sharp']:.0f} % of sharp" if "fraction of sharp" in s else ""
            cells.append(f"{which} {s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f}){extra}")
        print(f"  {name}: " + "; ".join(cells))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"events": args.events, "rounds": args.rounds, "before": args.before, "after": args.after,
                       "runs": runs, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
