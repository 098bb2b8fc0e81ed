#!/usr/bin/env python3
"""Event databases larger than memory: the passes of a model under a memory budget.

Writes a synthetic event database (Specs/event-database.md layout: 4 Wilson coefficients, 15
monomials, pTV, nominal weights, a pTV shift JES and a weight variation btag: 21 float64 columns,
168 bytes per event) of --gigabytes GB, then measures, each in its own process:

  * `dd` of the file, cold (page cache dropped, as root) and warm;
  * the streamed passes under --budget (EventDatabaseBenchmark --stream: the static projection in
    one pass at model build, the smoothed per-event kernel with and without Jacobians), cold and
    warm, with the peak resident memory (/usr/bin/time -v and VmHWM);
  * on a --small-gigabytes database that fits: the in-memory kernel against the same kernel
    streamed under 64 MiB (warm cache), so the cost of streaming itself is seen;
  * optionally (--efthf PATH) `efthf eval --event-memory BUDGET` of a workspace on the large
    database (the model build and one evaluation), with its peak resident memory.

The big files are deleted at the end (--keep keeps them). Results: a JSON report on stdout and
a Markdown table on stderr.

  swift build -c release --scratch-path .build-eventdb-release --product EventDatabaseBenchmark
  python3 Benchmarks/EventDatabase/streaming.py --gigabytes 12 --budget 1GiB \
      --binary .build-eventdb-release/release/EventDatabaseBenchmark
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

NAMES = ["cHq3", "cHW", "cHDD", "cHbox"]
BYTES_PER_EVENT = 21 * 8


def monomials():
    """(name, exponents) of the 15 monomials of degree ≤ 2 in the efthf spelling."""
    out = [("SM", (0, 0, 0, 0))]
    for i, n in enumerate(NAMES):
        e = [0] * 4
        e[i] = 1
        out.append((n, tuple(e)))
    for i in range(4):
        for j in range(i, 4):
            e = [0] * 4
            e[i] += 1
            e[j] += 1
            out.append((NAMES[i] + "^2" if i == j else NAMES[i] + "*" + NAMES[j], tuple(e)))
    return out


def write_database(path, events, block=1 << 22):
    """Writes `events` events block by block (contiguous, uncompressed float64 columns)."""
    terms = monomials()
    start = time.time()
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["format"] = "efthf-event-database"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["event_count"] = np.int64(events)
        f.attrs["generator"] = "Benchmarks/EventDatabase/streaming.py (synthetic)"
        f.attrs["eft_basis"] = "SMEFT Warsaw (synthetic)"
        f.attrs["lambda_GeV"] = 1000.0
        f.attrs["normalisation"] = "arbitrary"
        f.attrs["weight_unit"] = "events"
        f.create_dataset("wilson_coefficients", data=np.array(NAMES, dtype=h5py.string_dtype()))
        f.create_dataset("monomials", data=np.array([n for n, _ in terms], dtype=h5py.string_dtype()))
        f.create_dataset("monomial_exponents", data=np.array([e for _, e in terms], dtype=np.int64))
        columns = {"coefficients/" + n: None for n, _ in terms}
        columns.update({k: None for k in ["weights/nominal", "observables/pTV", "systematics/shifts/JES/pTV/up",
                                            "systematics/shifts/JES/pTV/down", "systematics/weights/btag/up",
                                            "systematics/weights/btag/down"]})
        for name in columns:
            columns[name] = f.create_dataset(name, shape=(events,), dtype="<f8")
        f["weights/nominal"].attrs["reference_point"] = np.zeros(4)
        f["observables/pTV"].attrs["unit"] = "GeV"
        rng = np.random.default_rng(2026)
        for lo in range(0, events, block):
            n = min(block, events - lo)
            pT = 20 + 580 * rng.random(n) * rng.random(n)
            sm = 0.5 + rng.random(n)
            r = rng.random((4, n)) - 0.3
            x = pT / 300
            values = {"weights/nominal": sm, "observables/pTV": pT,
                      "systematics/shifts/JES/pTV/up": 0.02 * pT, "systematics/shifts/JES/pTV/down": -0.02 * pT,
                      "systematics/weights/btag/up": 1 + 0.05 * r[0] + 0.015, "systematics/weights/btag/down": 1 - 0.03 * r[1] - 0.009}
            for name, e in terms:
                v = sm.copy()
                for i, p in enumerate(e):
                    for _ in range(p):
                        v *= r[i] * x
                values["coefficients/" + name] = v
            for name, v in values.items():
                columns[name][lo:lo + n] = v
            if sys.stderr.isatty():
                print(f"\rwriting {path}: {100 * (lo + n) / events:.0f}%", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return time.time() - start


def drop_cache(path):
    """Empties the page cache (as root), else asks the kernel to forget this file."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return "drop_caches"
    except OSError:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        return "fadvise"


def timed(command):
    """Runs `command` under /usr/bin/time -v: (stdout, wall seconds, peak RSS bytes)."""
    start = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + command, capture_output=True, text=True)
    wall = time.time() - start
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) * 1024
    return p.stdout, wall, rss


def dd(path, cold):
    how = drop_cache(path) if cold else "warm"
    start = time.time()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=8M"], check=True, capture_output=True)
    seconds = time.time() - start
    size = os.path.getsize(path)
    return {"cache": how, "seconds": seconds, "GB_per_second": size / seconds / 1e9}


def stream(binary, path, budget, cold, passes):
    how = drop_cache(path) if cold else "warm"
    command = [binary, "--stream", path, "--passes", str(passes)] + (["--budget", budget] if budget else [])
    out, wall, rss = timed(command)
    report = json.loads(out[out.index("{"):])
    report.update({"cache": how, "wall_seconds": wall, "time_v_peak_rss_bytes": rss})
    return report


def workspace(directory, database, yields):
    edges = [0, 60, 100, 140, 200, 260, 340, 440, 600]
    data = {"file": os.path.basename(database), "observable": "pTV", "edges": edges,
            "systematics": [{"name": "JES", "type": "shift", "parameter": "alpha_JES"},
                            {"name": "btag", "type": "weight", "parameter": "alpha_btag"}],
            "smoothing_width": 2.0, "negative_yields": "allow"}
    ws = {"version": "1.0.0+efthf.1",
          "channels": [{"name": "SR", "samples": [{"name": "signal", "data": yields,
                                                   "modifiers": [{"name": "events", "type": "event_database", "data": data},
                                                                 {"name": "mu", "type": "normfactor", "data": None}]}]}],
          "observations": [{"name": "SR", "data": [round(y) for y in yields]}],
          "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
    path = os.path.join(directory, "workspace_stream.json")
    with open(path, "w") as f:
        json.dump(ws, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="release EventDatabaseBenchmark")
    parser.add_argument("--gigabytes", type=float, default=12)
    parser.add_argument("--small-gigabytes", type=float, default=0.8)
    parser.add_argument("--budget", default="1GiB")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--directory", default="/tmp/efthf-streaming-benchmark")
    parser.add_argument("--efthf", help="an efthf binary: also time `efthf eval --event-memory BUDGET` on the large database")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not 0 < args.gigabytes <= 200 or not 0 < args.small_gigabytes <= 16:
        raise SystemExit("--gigabytes must be in (0, 200], --small-gigabytes in (0, 16]")
    os.makedirs(args.directory, exist_ok=True)
    free = shutil.disk_usage(args.directory).free
    if (args.gigabytes + args.small_gigabytes) * 1e9 > free - 5e9:
        raise SystemExit(f"{args.gigabytes + args.small_gigabytes:.1f} GB do not fit in the {free / 1e9:.1f} GB free (keeping 5 GB)")
    large, small = os.path.join(args.directory, "large.h5"), os.path.join(args.directory, "small.h5")
    report = {"budget": args.budget, "cores": os.cpu_count(), "load_average": os.getloadavg()}
    try:
        for path, gb, key in [(small, args.small_gigabytes, "small"), (large, args.gigabytes, "large")]:
            events = int(gb * 1e9 / BYTES_PER_EVENT)
            report[key + "_events"] = events
            report[key + "_write_seconds"] = write_database(path, events)
            report[key + "_file_bytes"] = os.path.getsize(path)

        # The cost of streaming itself: one database that fits, in memory and streamed (warm).
        report["small_in_memory"] = stream(args.binary, small, None, cold=False, passes=args.passes)
        # 64 MiB: far below the small database, so it streams whatever --budget is.
        report["small_streamed_warm"] = stream(args.binary, small, "64MiB", cold=False, passes=args.passes)
        # The large database against the device.
        report["dd_cold"] = dd(large, cold=True)
        report["dd_warm"] = dd(large, cold=False)
        report["large_streamed_cold"] = stream(args.binary, large, args.budget, cold=True, passes=args.passes)
        report["large_streamed_warm"] = stream(args.binary, large, args.budget, cold=False, passes=args.passes)
        if args.efthf:
            ws = workspace(args.directory, large, report["large_streamed_warm"]["kernel_sm_yields"])
            drop_cache(large)
            out, wall, rss = timed([args.efthf, "eval", ws, "--event-memory", args.budget])
            report["efthf_eval_cold"] = {"wall_seconds": wall, "peak_rss_bytes": rss}
    finally:
        if not args.keep:
            for path in [large, small]:
                if os.path.exists(path):
                    os.remove(path)
    print(json.dumps(report, indent=1, sort_keys=True))

    def row(label, r, kind):
        gb = r.get("peak_rss_bytes", 0) / 2**30
        if kind == "dd":
            return f"| {label} | | | {r['GB_per_second']:.2f} GB/s | |"
        return (f"| {label} | {r['projection_events_per_second'] / 1e6:.1f} M/s ({r['projection_GB_per_second']:.2f} GB/s) | "
                f"{r['kernel_events_per_second'] / 1e6:.1f} M/s ({r['kernel_GB_per_second']:.2f} GB/s) | "
                f"{r['kernel_jacobian_events_per_second'] / 1e6:.1f} M/s ({r['kernel_jacobian_GB_per_second']:.2f} GB/s) | "
                f"{max(gb, r['time_v_peak_rss_bytes'] / 2**30):.2f} GiB |")
    lines = ["| run | projection pass | kernel pass | kernel + Jacobian | peak RSS |", "|---|---|---|---|---|"]
    lines.append(row(f"small {report['small_file_bytes'] / 1e9:.2f} GB in memory", report["small_in_memory"], "run"))
    lines.append(row(f"small streamed (warm)", report["small_streamed_warm"], "run"))
    lines.append(row(f"large {report['large_file_bytes'] / 1e9:.1f} GB streamed, cold", report["large_streamed_cold"], "run"))
    lines.append(row(f"large streamed, warm", report["large_streamed_warm"], "run"))
    lines.append(row("dd large, cold", report["dd_cold"], "dd"))
    lines.append(row("dd large, warm", report["dd_warm"], "dd"))
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
