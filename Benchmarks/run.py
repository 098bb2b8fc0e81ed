#!/usr/bin/env python3
"""One benchmark table: efthf against pyhf-numpy, pyhf-JAX and ROOT on the reference workspaces, and
efthf's EFT fits, in CPU time, rounds interleaved, every row checked against its peer.

    swift build -c release
    pip install pyhf==0.7.6 "jax[cpu]"
    pip install root   # for --peers …,root (ROOT 6.40)
    python3 Benchmarks/run.py [--cases 01,02,...] [--tasks eval,fit,hypotest,limit,eft] [--peers pyhf-numpy,pyhf-jax,root]
                              [--rounds 3] [--budget 120] [--root-strategy 1] [--build .build/release] [--before DIR] [-o DIR]

Each peer runs in a worker process of its own that stays up for the whole run (Benchmarks/bench_worker.py);
the runner sends every worker the same task in turn, round after round, who goes first rotating, so
that the peers see the same state of a shared machine. Workers time with `time.process_time` (CPU time
of every thread of the process: XLA's and NLopt's count); efthf's per-evaluation figure comes from
`HistFactoryBenchmark` (CPU time inside the process, off the inits: θ_i = init_i + 0.3·sin(i + 1), where
every interpolation takes its general branch). A peer gets at most --budget CPU-seconds per row and
round: past it the runner kills the worker (a new one takes the next request), the cell reads
"> N CPU-s (budget)" and the peer is not asked that row again.

Rows and their checks, made once every peer has answered a row in the first round:
  eval      ln L + gradient per evaluation   ln L equal to 1e-9 relative; JAX's gradient equal to efthf's to 1e-6
  fit       one free fit from the inits      2NLL equal to 1e-3 absolute
  hypotest  q̃μ CLs at μ = 1 (asymptotic)    CLs equal to 1e-4 absolute
  limit     observed 95 % CLs upper limit    equal to 1e-3 relative
  eft       efthf fit --ops on the VH examples (2 and 6 coefficients; event databases): converged, and
            ln L at the reported minimum equal to −½·2NLL (efthf eval); ROOT's 2NLL equal to 1e-2 absolute
  scan      (only when asked for) efthf scan of the VH morphing example, cHW × cHq3 on 41 × 41 points, on
            all cores and on one (taskset): the same report bytes; no failed point next to the 95 % region
            unless outside the model's domain; the process's CPU over the CPU its fits took (the text
            report's figure), and CPU on all cores over CPU on one core
A disagreement (or an efthf error) prints "FAIL: …" at once, marks the row FAILED in the table and the
run goes on; at the end the FAIL lines are repeated and the exit status is 1. After every row the
JSON document is written (atomically) and the Markdown table made from it (Benchmarks/bench_report.py),
so a run that stops keeps what it measured. --perturb shifts efthf's result of a task by 10× its
tolerance before the check (the run must then fail).
ROOT (`--peers …,root`; Benchmarks/root_peer.py): RooFit/Minuit2/RooStats 6.40 on `efthf export --hs3`,
its NLL related to efthf's ln L by the constant at efthf's inits (Specs/hs3.md §2); eval times the NLL
value alone (ROOT's gradient is numerical) and checks ROOT's NLL with the histosys positive-definite
clamp off (pyhf's semantics, Specs/hs3.md §2.3), stating the clamp's own effect; hypotest/limit use
RooStats' AsymptoticCalculator (one-sided q̃μ) and HypoTestInverter; eft fits the VH examples it can
import (2NLL to 1e-2 with the width term of Specs/hs3.md §2.1 added back; the per-event-systematics
example has no HS3 form). A row a peer cannot do is said once below the table.
Per-event pass: in every round, Benchmarks/stream.c (compiled with cc -O2) reads 256 MiB 8 times with
1 and 2 threads, and efthf's ln L of Data/vh/workspace_events_syst.json (reweighted, varied and binned
per event at each evaluation) is timed; both as bytes per CPU-second, the kernel's as a fraction.
JAX's compile (first call) is timed apart. --before DIR (another release build folder, e.g. main's) adds the
column efthf-before to the eval rows: that build's HistFactoryBenchmark, timed in the same rotation, its ln L
equal to this build's to 1e-12 relative (a change of the kernel's evaluation order moves it by ulps only). Figures: medians of the rounds with their range; ratios
are peer / efthf of the medians. Writes DIR/benchmarks.json and DIR/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import CASES, DEFAULT_TASKS, EFT_ROWS, PEERS, REPOSITORY, SCAN_ROW, TASKS, TOLERANCE, VH, load_json, reference_dir
from bench_report import markdown
from bench_worker import Worker


BEFORE = "efthf-before"  # the pseudo-peer of --before


class RowFailure(Exception):
    """efthf could not do a row's work; the row is marked FAILED and not measured again."""


# ---------------------------------------------------------------- efthf's own processes ---------

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def core_eval(binary, key):
    """efthf's ln L + gradient per evaluation off the inits, in the Swift process (HistFactoryBenchmark)."""
    folder, ws_file, patch_file, patch_name = CASES[key]
    base = reference_dir() / "workspaces" / folder
    args = [str(binary), str(base / ws_file)]
    if patch_file:
        args.append(str(base / patch_file) + (f":{patch_name}" if patch_name else ""))
    run = subprocess.run(args + ["--repeat", "1"], capture_output=True, text=True)
    if run.returncode != 0:
        raise RowFailure(f"HistFactoryBenchmark exit {run.returncode}: {run.stderr.strip()[-300:]}")
    out = json.loads(run.stdout)
    return {"cpu": out["logpdf_grad_shifted_seconds_median"], "logpdf": out["logpdf_at_shifted"]}


def eft_fit(efthf, workspace, ops):
    t0 = children_cpu()
    run = subprocess.run([str(efthf), "fit", str(workspace), "--ops", ops, "--json"], capture_output=True, text=True)
    cpu = children_cpu() - t0
    if run.returncode != 0:
        raise RowFailure(f"efthf fit {workspace.name} --ops {ops}: exit {run.returncode}: {run.stderr.strip()[-300:]}")
    return {"cpu": cpu, "report": json.loads(run.stdout)}


def scan_timed(efthf, workspace, axes):
    """The 2D scan on all cores and on one core (taskset), each's CPU time; fails unless both give the
    same report and no failed point borders the 95 % region (Δ2NLL ≤ 5.99) outside the model's domain."""
    outputs, cpus = [], []
    for prefix in ([], ["taskset", "-c", str(min(os.sched_getaffinity(0)))]):
        t0 = children_cpu()
        run = subprocess.run(prefix + [str(efthf), "scan", str(workspace), *axes, "--json"], capture_output=True, text=True)
        cpus.append(children_cpu() - t0)
        if run.returncode != 0:
            raise RowFailure(f"efthf scan {workspace.name} {' '.join(axes)}: exit {run.returncode}: {run.stderr.strip()[-300:]}")
        outputs.append(run.stdout)
    if outputs[0] != outputs[1]:
        raise RowFailure(f"efthf scan {workspace.name}: the report on {len(os.sched_getaffinity(0))} cores differs from the one on 1 core")
    report = json.loads(outputs[0])
    grid, low = report["twice_nll"], report["twice_nll_min"]
    index = {(x, y): (i, j) for i, x in enumerate(report["x_values"]) for j, y in enumerate(report["y_values"])}
    inside = []
    for f in report.get("failures") or []:
        i, j = index[tuple(f["point"])]
        near = [grid[a][b] for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)) if 0 <= a < len(grid) and 0 <= b < len(grid[0])]
        if any(v is not None and v - low <= 5.991464547107979 for v in near) and "outside the model's domain" not in f["reason"]:
            inside.append(f)
    if inside:
        raise RowFailure(f"efthf scan {workspace.name}: {len(inside)} failed fits border the 95 % region, e.g. {inside[0]}")
    # The text report states the CPU its conditional fits took (getrusage per thread around each fit).
    t0 = children_cpu()
    run = subprocess.run([str(efthf), "scan", str(workspace), *axes], capture_output=True, text=True)
    process_cpu = children_cpu() - t0
    found = re.search(r"conditional fits: ([0-9.]+) s CPU in the fits", run.stdout + run.stderr)
    if run.returncode != 0 or not found:
        raise RowFailure(f"efthf scan {workspace.name} (text): exit {run.returncode}, no 'CPU in the fits' line")
    return {"cpu": cpus[0], "cpu_one_core": cpus[1], "failures": len(report.get("failures") or []),
            "process_over_fits": process_cpu / float(found.group(1))}


def efthf_logpdf(efthf, workspace, pars=None):
    args = [str(efthf), "eval", str(workspace)] + (["--pars", str(pars)] if pars else [])
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        raise RowFailure(f"efthf eval {workspace.name}: exit {run.returncode}: {run.stderr.strip()[-300:]}")
    return json.loads(run.stdout)["logpdf"]


def check_eft(efthf, workspace, ops, report):
    """efthf's EFT fit converged and its 2NLL is −2 ln L at the parameters it reports: the 2NLL."""
    fit = report.get("fit") or report
    if fit.get("status") != "converged":
        raise RowFailure(f"efthf fit {workspace.name} --ops {ops}: status {fit.get('status')}")
    values = {name: p["value"] for name, p in fit["parameters"].items()}
    at = Path(os.environ.get("TMPDIR", "/tmp")) / f"efthf-bench-point-{os.getpid()}.json"
    at.write_text(json.dumps(values))
    try:
        logpdf = efthf_logpdf(efthf, workspace, at)
    finally:
        at.unlink()
    twice_nll = fit["twice_nll"]
    if not abs(-2.0 * logpdf - twice_nll) <= 1e-9 * max(1.0, abs(twice_nll)):
        raise RowFailure(f"efthf fit {workspace.name} --ops {ops}: 2NLL {twice_nll} but −2 ln L at its minimum {-2 * logpdf}")
    return twice_nll, (fit.get("evaluations") or {}).get("total", fit.get("function_calls"))


# ---------------------------------------------------------------- the per-event pass's ceiling --

STREAM_MIB, STREAM_PASSES = 256, 8  # 8× this machine's 32 MiB L3


def stream_read(out_dir):
    """Bytes read per CPU-second by Benchmarks/stream.c (compiled now with cc -O2) with 1 and 2 threads."""
    binary = out_dir / "stream"
    subprocess.run(["cc", "-O2", "-pthread", str(REPOSITORY / "Benchmarks" / "stream.c"), "-o", str(binary)], check=True)
    result = {}
    for threads in (1, 2):
        out = json.loads(subprocess.run([str(binary), str(STREAM_MIB), str(threads), str(STREAM_PASSES)], check=True,
                                        capture_output=True, text=True).stdout)
        result[threads] = out["bytes"] / out["cpu_seconds"]
    return result


def kernel_bytes(workspace):
    """Bytes of columns the smoothed per-event kernel reads per evaluation: N · 8 · (T + 1 + 2K)
    (SmoothedReweightingKernel.bytesPerEvent: T coefficient columns, the observable, up and down per systematic)."""
    import h5py

    spec = load_json(workspace)
    [modifier] = [m for c in spec["channels"] for s in c["samples"] for m in s["modifiers"] if m["type"] == "event_database"]
    d = modifier["data"]
    if "selection" in d:
        sys.exit(f"{workspace}: kernel_bytes counts every event; this workspace has a selection")
    with h5py.File(workspace.parent / d["file"]) as f:
        events = f["weights/nominal"].shape[0]
        terms = len(f["coefficients"])
    per_event = 8 * (terms + 1 + 2 * len(d.get("systematics", [])))
    return {"events": events, "terms": terms, "bytes_per_event": per_event, "bytes": events * per_event}


# ---------------------------------------------------------------- checks ------------------------

def root_equivalent(efthf_result, root_result):
    """ROOT's answer on efthf's scale: its NLL differs from −ln L by a constant (Specs/hs3.md §2), fixed
    at efthf's inits; a fit adds the documented MC-statistics width term of morphed samples (§2.1). For
    eval, `logpdf` is ROOT's NLL with the histosys clamp off (pyhf's semantics, §2.3), `logpdf_clamped`
    ROOT's own."""
    out = dict(root_result)
    lnl0 = efthf_result["logpdf_at_inits"]
    if "nll_unclamped" in root_result:
        out["logpdf"] = lnl0 - (root_result["nll_unclamped"] - root_result["nll_unclamped_at_inits"])
        out["logpdf_clamped"] = lnl0 - (root_result["nll"] - root_result["nll_at_inits"])
    elif "nll" in root_result:
        out["logpdf"] = lnl0 - (root_result["nll"] - root_result["nll_at_inits"]) + root_result.get("width_term", 0.0)
        out["twice_nll"] = -2.0 * out["logpdf"]
    return out


def disagreement(task, peer, ours, theirs):
    """The message of a disagreement between efthf's result and a peer's, or None."""
    if peer == "root":
        theirs = root_equivalent(ours, theirs)
    key, limit, absolute = {"eft": ("twice_nll", TOLERANCE["eft_twice_nll_abs"], True), "fit": ("twice_nll", TOLERANCE["twice_nll_abs"], True),
                            "eval": ("logpdf", TOLERANCE["logpdf_rel"], False), "hypotest": ("cls", TOLERANCE["cls_abs"], True),
                            "limit": ("limit", TOLERANCE["limit_rel"], False)}[task]
    a, b = ours[key], theirs[key]
    bound = limit if absolute else limit * abs(a)
    if abs(a - b) <= bound:
        return None
    what = {"twice_nll": "2NLL", "logpdf": "ln L", "cls": "CLs", "limit": "upper limit"}[key]
    return f"{peer} {what} {b!r} against efthf's {a!r} (|Δ| {abs(a - b):.3g}, tolerance {'' if absolute else 'relative '}{limit:g})"


def perturbed(task, ours):
    """efthf's result shifted by 10× the task's tolerance (--perturb: the check must then fail)."""
    key, shift = {"eval": ("logpdf", 10 * TOLERANCE["logpdf_rel"] * abs(ours.get("logpdf", 0.0))),
                  "fit": ("twice_nll", 10 * TOLERANCE["twice_nll_abs"]), "hypotest": ("cls", 10 * TOLERANCE["cls_abs"]),
                  "limit": ("limit", 10 * TOLERANCE["limit_rel"] * abs(ours.get("limit", 0.0))),
                  "eft": ("twice_nll", 10 * TOLERANCE["eft_twice_nll_abs"])}[task]
    return {**ours, key: ours[key] + shift}


# ---------------------------------------------------------------- the run -----------------------

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


class Run:
    def __init__(self, args, binaries, cases, tasks, peers, out_dir):
        self.args, self.binaries, self.peers, self.out_dir = args, binaries, peers, out_dir
        env = dict(os.environ, EFTHF_LIBRARY=str(binaries["libEFTHFC.so"]), EFTHF_BINARY=str(binaries["efthf"]),
                   EFTHF_ROOT_STRATEGY=str(args.root_strategy))
        env.pop("OPENBLAS_CORETYPE", None)  # a pinned OpenBLAS kernel slows numpy (see the machine notes); both together
        env.pop("OPENBLAS_L2_SIZE", None)
        self.workers = {p: Worker(p, env, None if p == "efthf" else args.budget) for p in ["efthf", *peers] if p != BEFORE}
        self.rows = [{"case": key, "task": task, "peers": ["efthf", *[p for p in peers if p != BEFORE or task == "eval"]]}
                     for key in cases for task in tasks if task not in ("eft", "scan")]
        self.rows += [{"case": label, "task": "eft", "workspace": workspace, "ops": ops, "peers": ["efthf", *[p for p in peers if p == "root"]]}
                      for label, workspace, ops in (EFT_ROWS if "eft" in tasks else [])]
        self.rows += [{"case": SCAN_ROW[0], "task": "scan", "peers": ["efthf"]}] if "scan" in tasks else []
        for row in self.rows:
            row.update(times={p: [] for p in row["peers"]}, results={}, status="pending", failures=[], over_budget=[], stopped=False)
        self.events_workspace = VH / "workspace_events_syst.json"
        self.ceiling = {"stream_1": [], "stream_2": [], "value_cpu": [], "value_grad_cpu": [], "kernel": kernel_bytes(self.events_workspace)}
        self.load_before, self.load_rounds, self.load_after = os.getloadavg(), [], None
        self.rounds_done = 0
        commit = subprocess.run(["git", "-C", str(REPOSITORY), "log", "-1", "--format=%h %cs"], capture_output=True, text=True).stdout.strip()
        built = datetime.datetime.fromtimestamp(binaries["efthf"].stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.efthf_version = f"release build {binaries['efthf']} (linked {built}; Benchmarks/ at {commit})"

    # -------- measuring

    def fail(self, row, message):
        row["status"] = "FAILED"
        row["failures"].append(message)
        print(f"FAIL: {row['case']} {row['task']}: {message}", file=sys.stderr, flush=True)

    def measure(self, row, peer, first):
        """One peer's answer on a row (None when it has none this round); in the first round the result is kept."""
        if row["task"] == "eft" and peer == "efthf":
            out = eft_fit(self.binaries["efthf"], row["workspace"], row["ops"])
            if first:
                twice_nll, evaluations = check_eft(self.binaries["efthf"], row["workspace"], row["ops"], out["report"])
                row["results"].update(twice_nll=twice_nll, evaluations=evaluations)
            return out["cpu"]
        if row["task"] == "scan":
            out = scan_timed(self.binaries["efthf"], SCAN_ROW[1], SCAN_ROW[2])
            row["results"].setdefault("cpu_one_core", []).append(out["cpu_one_core"])
            row["results"]["failures"] = out["failures"]
            row["results"].setdefault("process_over_fits", []).append(out["process_over_fits"])
            return out["cpu"]
        if peer == BEFORE:
            out = core_eval(Path(self.args.before) / "HistFactoryBenchmark", row["case"])
            if first:
                row["results"][BEFORE] = out
            return out["cpu"]
        if row["task"] == "eval" and peer == "efthf":
            out = core_eval(self.binaries["HistFactoryBenchmark"], row["case"])
            if first:
                via_python = self.workers["efthf"].ask("eval", row["case"])
                if "error" in via_python:
                    raise RowFailure(f"efthf's Python package: {via_python['error']}")
                row["results"]["efthf"] = {**out, "grad": via_python["grad"], "python_cpu": via_python["cpu"],
                                           "npars": via_python["npars"], "logpdf_at_inits": via_python["logpdf_at_inits"]}
            return out["cpu"]
        extra = {"workspace": str(row["workspace"]), "ops": row["ops"]} if row["task"] == "eft" else {}
        out = self.workers[peer].ask(row["task"], row["case"], **extra)
        if "over_budget" in out:
            row["over_budget"].append(peer)
            print(f"  {peer} over the budget of {out['over_budget']:g} CPU-s on {row['case']} {row['task']}", file=sys.stderr)
            return None
        if "error" in out:
            if peer == "efthf":
                raise RowFailure(out["error"])
            row["results"][peer] = out
            print(f"  {peer} cannot do {row['case']} {row['task']}: {out['error']}", file=sys.stderr)
            return None
        if first:
            row["results"][peer] = out
        return out["cpu"]

    def check(self, row):
        """The row's checks, once every peer has answered it in the first round."""
        results = row["results"]
        if row["task"] == "scan":
            problems = []  # checked in every round by scan_timed
        elif row["task"] == "eft":
            problems = []
            if row["times"].get("root"):
                ours = {"twice_nll": results["twice_nll"], "logpdf_at_inits": efthf_logpdf(self.binaries["efthf"], row["workspace"])}
                if self.args.perturb == "eft":
                    ours = perturbed("eft", ours)
                problems.append(disagreement("eft", "root", ours, results["root"]))
        else:
            ours = results["efthf"]
            if row["task"] == self.args.perturb:
                ours = perturbed(row["task"], ours)
            answered = [p for p in self.peers if row["times"].get(p) and p != BEFORE]
            problems = [disagreement(row["task"], p, ours, results[p]) for p in answered]
            if row["times"].get(BEFORE):
                a, b = ours["logpdf"], results[BEFORE]["logpdf"]
                if not abs(a - b) <= 1e-12 * abs(a):
                    problems.append(f"{BEFORE} ln L {b!r} against this build's {a!r} (tolerance relative 1e-12)")
            if row["task"] == "eval" and "root" in answered:
                clamped = root_equivalent(ours, results["root"])["logpdf_clamped"]
                results["root"]["clamp_delta_logpdf"] = clamped - root_equivalent(ours, results["root"])["logpdf"]
            if row["task"] == "eval" and "pyhf-jax" in answered:
                mine, theirs = results["efthf"]["grad"], results["pyhf-jax"]["grad"]
                scale = max(1.0, max(abs(g) for g in mine))
                worst = max(abs(a - b) for a, b in zip(mine, theirs)) / scale
                if not worst <= TOLERANCE["grad_rel"]:
                    problems.append(f"JAX's gradient differs from efthf's by {worst:.2e} (relative to the largest)")
        for message in filter(None, problems):
            self.fail(row, message)
        if row["status"] == "pending":
            row["status"] = "ok"

    def round(self, r):
        streams = stream_read(self.out_dir)  # the per-event pass against a streaming read, in every round
        self.ceiling["stream_1"].append(streams[1])
        self.ceiling["stream_2"].append(streams[2])
        kernel = self.workers["efthf"].ask("kernel", "", workspace=str(self.events_workspace))
        if "error" in kernel:
            sys.exit(f"FAIL: efthf's per-event kernel: {kernel['error']}")
        self.ceiling["value_cpu"].append(kernel["value_cpu"])
        self.ceiling["value_grad_cpu"].append(kernel["value_grad_cpu"])
        for row in self.rows:
            if row["stopped"]:
                continue  # efthf could not do it
            order = row["peers"][r % len(row["peers"]):] + row["peers"][:r % len(row["peers"])]  # who goes first rotates
            try:
                for peer in order:
                    if peer in row["over_budget"] or "error" in row["results"].get(peer, {}):
                        continue  # said once in the table
                    cpu = self.measure(row, peer, r == 0)
                    if cpu is not None:
                        row["times"][peer].append(cpu)
                if r == 0:
                    self.check(row)
            except RowFailure as e:
                self.fail(row, str(e))
                row["stopped"] = True
            print(f"  round {r + 1}/{self.args.rounds}: {row['case']} {row['task']} {'FAILED' if row['status'] == 'FAILED' else 'done'}"
                  f" (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            self.write()
        self.rounds_done = r + 1
        self.load_rounds.append(os.getloadavg())
        self.write()

    # -------- output

    def document(self, status):
        c = self.ceiling
        per_event = {"stream_mib": STREAM_MIB, "stream_passes": STREAM_PASSES, "kernel": c["kernel"]}
        if c["value_cpu"]:
            per_event.update(stream_bytes_per_cpu_second={"1 thread": summary(c["stream_1"]), "2 threads": summary(c["stream_2"])},
                             value_cpu=summary(c["value_cpu"]), value_grad_cpu=summary(c["value_grad_cpu"]))
        return {
            "command": "python3 Benchmarks/run.py " + shlex.join(sys.argv[1:]), "status": status, "efthf": self.efthf_version,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": self.load_before,
                        "load_after_rounds": self.load_rounds, "load_after": self.load_after},
            "rounds": self.args.rounds, "rounds_done": self.rounds_done, "tolerances": TOLERANCE, "peers": self.peers,
            "budget_cpu_seconds": self.args.budget, "root_settings": {"backend": "cpu", "strategy": self.args.root_strategy},
            "per_event_pass": per_event,
            "rows": [{"case": row["case"], "task": row["task"], "ops": row.get("ops"), "status": row["status"], "failures": row["failures"],
                      "over_budget": row["over_budget"],
                      "cpu_seconds": {p: summary(t) for p, t in row["times"].items() if t},
                      "results": {p: {k: v for k, v in res.items() if k != "grad"} if isinstance(res, dict) else res
                                  for p, res in row["results"].items()}} for row in self.rows],
        }

    def write(self, status="running"):
        """benchmarks.json and benchmarks.md, each written to a temporary name and renamed."""
        document = self.document(status)
        for name, text in (("benchmarks.json", json.dumps(document, indent=1) + "\n"), ("benchmarks.md", markdown(document))):
            temporary = self.out_dir / f".{name}.partial"
            temporary.write_text(text)
            os.replace(temporary, self.out_dir / name)
        return document

    def finish(self, interrupted=False):
        for w in self.workers.values():
            w.stop(kill=interrupted)
        self.load_after = os.getloadavg()
        failures = [f"FAIL: {row['case']} {row['task']}: {f}" for row in self.rows for f in row["failures"]]
        document = self.write("running" if interrupted else "failed" if failures else "complete")
        print(markdown(document))
        print(f"written: {self.out_dir / 'benchmarks.json'}, {self.out_dir / 'benchmarks.md'}", file=sys.stderr)
        if failures:
            print("\n".join(failures), file=sys.stderr)
            sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="reference workspaces (default all: 01,…,08)")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="of " + ",".join(TASKS))
    parser.add_argument("--peers", default="pyhf-numpy,pyhf-jax", help="of " + ",".join(PEERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=120.0, help="CPU-seconds a peer may spend on one row in one round (1 to 3600)")
    parser.add_argument("--root-strategy", type=int, choices=[0, 1, 2], default=1, help="Minuit2 strategy of ROOT's fits (1, Minuit's default: strategy 0 stops 0.19 in 2NLL above the minimum of the 6-coefficient VH fit)")
    parser.add_argument("--build", default=str(REPOSITORY / ".build" / "release"), help="the release build folder")
    parser.add_argument("--before", help="another release build folder (e.g. main's): its HistFactoryBenchmark is timed in the eval rows, "
                        "interleaved, as the column efthf-before")
    parser.add_argument("--allow-stale-build", action="store_true",
                        help="measure a --build older than the newest file under Sources/ (e.g. another revision's build)")
    parser.add_argument("--perturb", choices=list(DEFAULT_TASKS),
                        help="shift efthf's result of this task by 10× its tolerance before the check (the run must then fail)")
    parser.add_argument("-o", "--output", default=str(REPOSITORY / ".build" / "benchmarks"))
    args = parser.parse_args()

    build = Path(args.build)
    binaries = {name: build / name for name in ("efthf", "HistFactoryBenchmark", "libEFTHFC.so")}
    missing = [str(p) for p in binaries.values() if not p.exists()]
    if missing:
        sys.exit("build first: swift build -c release "
                 f"(missing {', '.join(missing)})")
    sources = [p for p in (REPOSITORY / "Sources").rglob("*") if p.suffix in (".swift", ".c", ".h")] + [REPOSITORY / "Package.swift"]
    newest = max(sources, key=lambda p: p.stat().st_mtime)
    stale = [f"{p.name} ({time.strftime('%H:%M:%S', time.localtime(p.stat().st_mtime))})" for p in binaries.values()
             if p.stat().st_mtime < newest.stat().st_mtime]
    if stale and not args.allow_stale_build:
        sys.exit(f"the build in {build} is older than {newest.relative_to(REPOSITORY)} (modified "
                 f"{time.strftime('%H:%M:%S', time.localtime(newest.stat().st_mtime))}): {', '.join(stale)}; "
                 "rebuild with swift build -c release, or give --allow-stale-build to measure it anyway")
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        sys.exit(f"--tasks: unknown {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    if args.before:
        if not (Path(args.before) / "HistFactoryBenchmark").exists():
            sys.exit(f"--before {args.before}: no HistFactoryBenchmark in it")
        peers.append(BEFORE)
    if not 1 <= args.rounds <= 100:
        sys.exit(f"--rounds {args.rounds}: between 1 and 100")
    if not 1 <= args.budget <= 3600:
        sys.exit(f"--budget {args.budget:g}: between 1 and 3600 CPU-seconds")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)

    run = Run(args, binaries, cases, tasks, peers, out_dir)
    print(f"efthf benchmarks: cases {','.join(cases)}; tasks {','.join(tasks)}; peers {','.join(peers) or 'none'}; "
          f"{args.rounds} rounds; budget {args.budget:g} CPU-s; load average {run.load_before[0]:.2f}", file=sys.stderr)
    def stop(signum, frame):
        raise KeyboardInterrupt  # SIGTERM as Ctrl-C: a background run ignores SIGINT

    signal.signal(signal.SIGTERM, stop)
    try:
        for r in range(args.rounds):
            run.round(r)
    except KeyboardInterrupt:
        print("interrupted: the tables keep the rounds and rows measured so far", file=sys.stderr)
        run.finish(interrupted=True)
        sys.exit(130)
    run.finish()


if __name__ == "__main__":
    main()
