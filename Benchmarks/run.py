#!/usr/bin/env python3
"""One benchmark table: efthf against pyhf-numpy and pyhf-JAX on the reference workspaces, and
efthf's EFT fits, in CPU time, rounds interleaved, every row checked against its peer.

    swift build -c release --product efthf --product HistFactoryBenchmark --product EFTHFC
    pip install pyhf==0.7.6 "jax[cpu]"
    pip install root   # for --peers …,root (ROOT 6.40)
    python3 Benchmarks/run.py [--cases 01,02,...] [--tasks eval,fit,hypotest,limit,eft] [--peers pyhf-numpy,pyhf-jax,root]
                              [--rounds 3] [--build .build/release] [-o DIR]

Each peer runs in a worker process of its own that stays up for the whole run (pyhf's backend is a
process-wide setting, and JAX compiles once per process); the runner sends every worker the same
task in turn, round after round, so that the peers see the same state of a shared machine. Workers
time with `time.process_time` (CPU time of every thread of the process: XLA's and NLopt's count),
efthf's per-evaluation figure comes from `HistFactoryBenchmark` (CPU time inside the process, off
the inits: θ_i = init_i + 0.3·sin(i + 1), where every interpolation takes its general branch).

Rows and their checks (the run stops with status 1 at the first disagreement, naming the row):
  eval      ln L + gradient per evaluation   ln L equal to 1e-9 relative; JAX's gradient equal to efthf's to 1e-6
  fit       one free fit from the inits      2NLL equal to 1e-3 absolute
  hypotest  q̃μ CLs at μ = 1 (asymptotic)    CLs equal to 1e-4 absolute
  limit     observed 95 % CLs upper limit    equal to 1e-3 relative
  eft       efthf fit --ops on the VH examples (2 and 6 coefficients; event databases): converged, and
            ln L at the reported minimum equal to −½·2NLL (efthf eval); ROOT's 2NLL equal to 1e-2 absolute
  scan      (only when asked for) efthf scan of the VH morphing example, cHW × cHq3 on 41 × 41 points, on
            all cores and on one (taskset): the same report bytes; no failed point next to the 95 % region
            unless outside the model's domain; CPU on all cores / CPU on one core (the fits' own cost)
ROOT (`--peers …,root`; Benchmarks/root_peer.py): RooFit/Minuit2/RooStats 6.40 on `efthf export --hs3`,
its NLL related to efthf's ln L by the constant at efthf's inits (Specs/hs3.md §2); eval times the NLL
value alone (ROOT's gradient is numerical), hypotest/limit use RooStats' AsymptoticCalculator (one-sided
q̃μ) and HypoTestInverter, eft fits the VH examples it can import (2NLL to 1e-2 with the width term of
Specs/hs3.md §2.1 added back; the per-event-systematics example has no HS3 form). A row a peer cannot
do is said once below the table.
Per-event pass: in every round, Benchmarks/stream.c (compiled with cc -O2) reads 256 MiB 8 times with
1 and 2 threads, and efthf's ln L of Data/vh/workspace_events_syst.json (reweighted, varied and binned
per event at each evaluation) is timed; both as bytes per CPU-second, the kernel's as a fraction.
JAX's compile (first call) is timed apart. Figures: medians of the rounds with their range; ratios
are peer / efthf of the medians. Writes DIR/benchmarks.json and DIR/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
CASES = {
    "01": ("01_pyhf_example", "example_bkgonly.json", "example_patchset.json", "patch_channel1_signal_syst1"),
    "02": ("02_cms_combine2pyhf_one-bin-stat-full", "workspace.json", None, None),
    "03": ("03_atlas_susy2018_14_comb", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    "04": ("04_atlas_susy2018_22_simplified_MB-SSd", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    "05": ("05_atlas_susy2018_31_sbottom_RegionA", "BkgOnly.json", "patch.sbottom_1300_205_60.json", None),
    "06": ("06_atlas_susy2019_08_1Lbb", "BkgOnly.json", "patchset.json", "C1N2_Wh_hbb_700_150"),
    "07": ("07_atlas_susy2018_16_ewkinos_SR2l", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    "08": ("08_atlas_susy2019_09_offshell", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
}
VH = REPOSITORY / "Data" / "vh"
SIX = "cHq3,cHl3,cHDD,cHbox,cHW,cll1"
EFT_ROWS = [
    ("VH morphing, 2 coefficients", VH / "workspace_morphing.json", "cHW,cHq3"),
    ("VH morphing, 6 coefficients", VH / "workspace_morphing.json", SIX),
    ("VH event database, 2 coefficients", VH / "workspace_events.json", "cHW,cHq3"),
    ("VH event database + per-event systematics, 2 coefficients", VH / "workspace_events_syst.json", "cHW,cHq3"),
]
SCAN_ROW = ("VH morphing, 41 × 41 scan", VH / "workspace_morphing.json", ["--par", "cHW=-1:1:41", "--par", "cHq3=-0.3:0.3:41"])
PEERS = ("pyhf-numpy", "pyhf-jax", "root")
# eft_twice_nll_abs: ROOT minimises the HS3 model, whose MC-statistics widths are static (Specs/hs3.md §2.1),
# and migrad stops at its default EDM (1e-3) along the 6-coefficient fit's flat directions.
TOLERANCE = {"logpdf_rel": 1e-9, "grad_rel": 1e-6, "twice_nll_abs": 1e-3, "cls_abs": 1e-4, "limit_rel": 1e-3, "eft_twice_nll_abs": 1e-2}


def reference_dir() -> Path:
    for candidate in (os.environ.get("EFTHF_REFERENCE_DIR"), REPOSITORY.parent / "shared" / "reference", "/work/shared/reference"):
        if candidate and (Path(candidate) / "make_reference.py").exists():
            return Path(candidate)
    sys.exit("the shared reference folder (../shared/reference beside the repository, or $EFTHF_REFERENCE_DIR) is absent")


def shifted(inits):
    return [x + 0.3 * math.sin(i + 1) for i, x in enumerate(inits)]


# ---------------------------------------------------------------- workers (one per peer) --------

def kernel_eval(lib, workspace):
    """CPU seconds per ln L (value alone, and with the gradient) of an event-database workspace whose
    sample is reweighted, varied and binned per event at every evaluation (SmoothedReweightingKernel),
    off the inits, alternating with a point 1e-9 away so that no result can be reused."""
    ws = lib.Workspace.load(str(workspace))
    model = ws.model()
    data = ws.data(model)
    a = shifted(model.config.suggested_init())
    b = [x + 1e-9 * max(1.0, abs(x)) for x in a]
    result = {}
    for label, fn in (("value_cpu", lambda p: model.logpdf(p, data)), ("value_grad_cpu", lambda p: model.logpdf_and_grad(p, data))):
        n = 2
        while True:
            t0 = time.process_time()
            for i in range(n):
                fn(b if i & 1 else a)
            cpu = time.process_time() - t0
            if cpu > 0.2:
                break
            n *= 4
        result[label] = cpu / n
    return result


def load_json(path):
    with open(path) as f:
        return json.load(f)


def worker_main(peer: str) -> None:
    """Answers one JSON request per line on stdin: {"task", "case"} → {"cpu", ...results}."""
    import numpy as np

    if peer in ("efthf", "root"):  # ROOT's worker uses efthf's parameter order and inits
        import efthf as lib
    else:
        import pyhf as lib
        if peer == "pyhf-jax":
            lib.set_backend("jax", lib.optimize.scipy_optimizer())
        else:
            lib.set_backend("numpy")
    reference = reference_dir()
    models = {}

    def workspace_of(key):
        folder, ws_file, patch_file, patch_name = CASES[key]
        base = reference / "workspaces" / folder
        spec = load_json(base / ws_file)
        ws = lib.Workspace(spec)
        if patch_file:
            patch = load_json(base / patch_file)
            if "patches" in patch:
                ws = lib.PatchSet(patch).apply(ws, patch_name)
            elif peer in ("efthf", "root"):
                ws = lib.apply_patch(ws, patch)
            else:
                ws = lib.Workspace(lib.workspace.jsonpatch.apply_patch(spec, patch))
        return ws

    if peer == "root":
        import root_peer

        return root_peer.main(os.environ["EFTHF_BINARY"], CASES, reference, workspace_of)

    def model_of(key):
        if key not in models:
            ws = workspace_of(key)
            model = ws.model()
            data = ws.data(model)
            entry = {"model": model, "data": data}
            if peer == "pyhf-jax":
                import jax

                tensor_data = lib.tensorlib.astensor(data)
                entry["vg"] = jax.jit(jax.value_and_grad(lambda p: model.logpdf(p, tensor_data)[0]))
            models[key] = entry
        return models[key]

    def run_task(task, model, data):
        """One fit, q̃μ hypotest at μ = 1, or observed upper limit, and the number it gives."""
        if task == "fit":
            _, twice_nll = lib.infer.mle.fit(data, model, return_fitted_val=True)
            return {"twice_nll": float(twice_nll)}
        if task == "hypotest":
            return {"cls": float(lib.infer.hypotest(1.0, data, model, test_stat="qtilde"))}
        if task == "limit":
            observed, _ = lib.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05)
            return {"limit": float(observed)}
        raise ValueError(f"unknown task {task}")

    warmed = set()
    for line in sys.stdin:
        request = json.loads(line)
        task, key = request["task"], request["case"]
        try:
            if task == "kernel":
                print(json.dumps(kernel_eval(lib, request["workspace"])), flush=True)
                continue
            m = model_of(key)
            model, data = m["model"], m["data"]
            point = shifted(model.config.suggested_init())
            result = {}
            if task == "eval":
                if peer == "pyhf-jax":
                    p = lib.tensorlib.astensor(point)
                    t0 = time.process_time()
                    value, grad = m["vg"](p)
                    value.block_until_ready()
                    result["first_call_cpu"] = time.process_time() - t0
                    fn = lambda: m["vg"](p)[0].block_until_ready()  # noqa: E731
                    result["grad"] = np.asarray(grad).tolist()
                elif peer == "pyhf-numpy":
                    p = lib.tensorlib.astensor(point)
                    fn = lambda: model.logpdf(p, data)  # noqa: E731
                    value = model.logpdf(p, data)[0]
                else:
                    value, grad = model.logpdf_and_grad(point, data)
                    fn = lambda: model.logpdf_and_grad(point, data)  # noqa: E731
                    result["grad"] = grad.tolist()
                result["logpdf"] = float(value)
                n = 1
                while True:  # batches of at least 0.1 s of CPU
                    t0 = time.process_time()
                    for _ in range(n):
                        fn()
                    cpu = time.process_time() - t0
                    if cpu > 0.1:
                        break
                    n *= 4
                result["cpu"] = cpu / n
            else:
                if peer == "pyhf-jax" and (task, key) not in warmed:
                    # JAX traces and compiles on the first call of each shape: one untimed run, its cost reported apart.
                    warmed.add((task, key))
                    t0 = time.process_time()
                    run_task(task, model, data)
                    result["first_call_cpu"] = time.process_time() - t0
                t0 = time.process_time()
                result.update(run_task(task, model, data))
                result["cpu"] = time.process_time() - t0
            result["npars"] = model.config.npars
            if peer == "efthf":
                result["logpdf_at_inits"] = float(model.logpdf(model.config.suggested_init(), data)[0])
            print(json.dumps(result), flush=True)
        except Exception as e:  # reported to the runner, which stops
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


class Worker:
    def __init__(self, peer, env):
        self.peer = peer
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", peer], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)

    def ask(self, task, case, **extra):
        self.process.stdin.write(json.dumps({"task": task, "case": case, **extra}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"FAIL: the {self.peer} worker died on {task} {case}")
        answer = json.loads(line)
        if "error" in answer and self.peer == "efthf":
            sys.exit(f"FAIL: efthf on {task} {case}: {answer['error']}")
        return answer

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


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
    out = json.loads(subprocess.run(args + ["--repeat", "1"], check=True, capture_output=True, text=True).stdout)
    return {"cpu": out["logpdf_grad_shifted_seconds_median"], "logpdf": out["logpdf_at_shifted"]}


def eft_fit(efthf, workspace, ops):
    t0 = children_cpu()
    run = subprocess.run([str(efthf), "fit", str(workspace), "--ops", ops, "--json"], capture_output=True, text=True)
    cpu = children_cpu() - t0
    if run.returncode != 0:
        sys.exit(f"FAIL: efthf fit {workspace.name} --ops {ops}: exit {run.returncode}\n{run.stderr}")
    report = json.loads(run.stdout)
    return {"cpu": cpu, "report": report}


def check_eft(efthf, workspace, ops, report):
    fit = report.get("fit") or report
    if fit.get("status") != "converged":
        sys.exit(f"FAIL: efthf fit {workspace.name} --ops {ops}: status {fit.get('status')}")
    values = {name: p["value"] for name, p in fit["parameters"].items()}
    at = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"efthf-bench-point-{os.getpid()}.json")
    with open(at, "w") as f:
        json.dump(values, f)
    evaluated = json.loads(subprocess.run([str(efthf), "eval", str(workspace), "--pars", at], check=True, capture_output=True,
                                          text=True).stdout)
    os.unlink(at)
    twice_nll = fit["twice_nll"]
    if not abs(-2.0 * evaluated["logpdf"] - twice_nll) <= 1e-9 * max(1.0, abs(twice_nll)):
        sys.exit(f"FAIL: efthf fit {workspace.name} --ops {ops}: 2NLL {twice_nll} but −2 ln L at its minimum {-2 * evaluated['logpdf']}")
    return twice_nll


def scan_timed(efthf, workspace, axes):
    """The 2D scan on all cores and on one core (taskset), each's CPU time; fails unless both give the
    same report and no failed point borders the 95 % region (Δ2NLL ≤ 5.99) outside the model's domain."""
    outputs, cpus = [], []
    for prefix in ([], ["taskset", "-c", str(min(os.sched_getaffinity(0)))]):
        t0 = children_cpu()
        run = subprocess.run(prefix + [str(efthf), "scan", str(workspace), *axes, "--json"], capture_output=True, text=True)
        cpus.append(children_cpu() - t0)
        if run.returncode != 0:
            sys.exit(f"FAIL: efthf scan {workspace.name} {' '.join(axes)}: exit {run.returncode}\n{run.stderr}")
        outputs.append(run.stdout)
    if outputs[0] != outputs[1]:
        sys.exit(f"FAIL: efthf scan {workspace.name}: the report on {len(os.sched_getaffinity(0))} cores differs from the one on 1 core")
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
        sys.exit(f"FAIL: efthf scan {workspace.name}: {len(inside)} failed fits border the 95 % region, e.g. {inside[0]}")
    return {"cpu": cpus[0], "cpu_one_core": cpus[1], "failures": len(report.get("failures") or [])}


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


# ---------------------------------------------------------------- the run -----------------------

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def root_equivalent(efthf_result, root_result):
    """ROOT's answer on efthf's scale: its NLL differs from −ln L by a constant (Specs/hs3.md §2), fixed
    at efthf's inits; a fit adds the documented MC-statistics width term of morphed samples (§2.1)."""
    out = dict(root_result)
    lnl0, nll0 = efthf_result["logpdf_at_inits"], root_result["nll_at_inits"]
    if "nll" in root_result:
        out["logpdf"] = lnl0 - (root_result["nll"] - nll0) + root_result.get("width_term", 0.0)
        out["twice_nll"] = -2.0 * out["logpdf"]
    return out


def check(row, peer, efthf_result, peer_result):
    task = row["task"]
    where = f"{row['case']} {task}: {peer}"
    if peer == "root":
        peer_result = root_equivalent(efthf_result, peer_result)
    if task == "eft":
        a, b = efthf_result["twice_nll"], peer_result["twice_nll"]
        if not abs(a - b) <= TOLERANCE["eft_twice_nll_abs"]:
            sys.exit(f"FAIL: {where} 2NLL {b!r} against efthf's {a!r}")
    elif task == "eval":
        a, b = efthf_result["logpdf"], peer_result["logpdf"]
        if not abs(a - b) <= TOLERANCE["logpdf_rel"] * abs(a):
            sys.exit(f"FAIL: {where} ln L {b!r} against efthf's {a!r}")
    elif task == "fit":
        a, b = efthf_result["twice_nll"], peer_result["twice_nll"]
        if not abs(a - b) <= TOLERANCE["twice_nll_abs"]:
            sys.exit(f"FAIL: {where} 2NLL {b!r} against efthf's {a!r}")
    elif task == "hypotest":
        a, b = efthf_result["cls"], peer_result["cls"]
        if not abs(a - b) <= TOLERANCE["cls_abs"]:
            sys.exit(f"FAIL: {where} CLs {b!r} against efthf's {a!r}")
    elif task == "limit":
        a, b = efthf_result["limit"], peer_result["limit"]
        if not abs(a - b) <= TOLERANCE["limit_rel"] * abs(a):
            sys.exit(f"FAIL: {where} upper limit {b!r} against efthf's {a!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--cases", default=",".join(CASES), help="reference workspaces (default all: 01,…,08)")
    parser.add_argument("--tasks", default="eval,fit,hypotest,limit,eft", help="of eval,fit,hypotest,limit,eft,scan")
    parser.add_argument("--peers", default="pyhf-numpy,pyhf-jax", help="of " + ",".join(PEERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default=str(REPOSITORY / ".build" / "release"), help="the release build folder")
    parser.add_argument("--perturb", choices=["eval", "fit", "hypotest", "limit", "eft"],
                        help="shift efthf's result of this task by 10× its tolerance before the check (the run must then fail)")
    parser.add_argument("-o", "--output", default=str(REPOSITORY / ".build" / "benchmarks"))
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker)

    build = Path(args.build)
    binaries = {name: build / name for name in ("efthf", "HistFactoryBenchmark", "libEFTHFC.so")}
    missing = [str(p) for p in binaries.values() if not p.exists()]
    if missing:
        sys.exit("build first: swift build -c release --product efthf --product HistFactoryBenchmark --product EFTHFC "
                 f"(missing {', '.join(missing)})")
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"--cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    tasks = args.tasks.split(",")
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        sys.exit(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    if not 1 <= args.rounds <= 100:
        sys.exit(f"--rounds {args.rounds}: between 1 and 100")
    env = dict(os.environ, EFTHF_LIBRARY=str(binaries["libEFTHFC.so"]), EFTHF_BINARY=str(binaries["efthf"]))
    env.pop("OPENBLAS_CORETYPE", None)  # a pinned OpenBLAS kernel slows numpy (see the machine notes); both together
    env.pop("OPENBLAS_L2_SIZE", None)
    workers = {p: Worker(p, env) for p in ["efthf", *peers]}
    load_before = os.getloadavg()
    print(f"efthf benchmarks: cases {','.join(cases)}; tasks {','.join(tasks)}; peers {','.join(peers) or 'none'}; "
          f"{args.rounds} rounds; load average {load_before[0]:.2f}", file=sys.stderr)

    rows = []
    for key in cases:
        for task in [t for t in tasks if t not in ("eft", "scan")]:
            rows.append({"case": key, "task": task, "times": {p: [] for p in ["efthf", *peers]}, "results": {}})
    for label, workspace, ops in EFT_ROWS if "eft" in tasks else []:
        rows.append({"case": label, "task": "eft", "workspace": workspace, "ops": ops,
                     "times": {"efthf": [], **({"root": []} if "root" in peers else {})}, "results": {}})
    if "scan" in tasks:
        rows.append({"case": SCAN_ROW[0], "task": "scan", "times": {"efthf": []}, "results": {"cpu_one_core": []}})
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    events_workspace = VH / "workspace_events_syst.json"
    ceiling = {"stream_1": [], "stream_2": [], "value_cpu": [], "value_grad_cpu": [], "kernel": kernel_bytes(events_workspace)}

    for r in range(args.rounds):
        # The per-event pass against a streaming read, both in CPU time, in every round.
        streams = stream_read(out_dir)
        ceiling["stream_1"].append(streams[1])
        ceiling["stream_2"].append(streams[2])
        kernel = workers["efthf"].ask("kernel", "", workspace=str(events_workspace))
        ceiling["value_cpu"].append(kernel["value_cpu"])
        ceiling["value_grad_cpu"].append(kernel["value_grad_cpu"])
        for row in rows:
            order = list(row["times"])
            order = order[r % len(order):] + order[:r % len(order)]  # who goes first rotates with the round
            for peer in order:
                if row["task"] == "eft" and peer == "root":
                    if "error" in row["results"].get(peer, {}):
                        continue
                    out = workers[peer].ask("eft", row["case"], workspace=str(row["workspace"]), ops=row["ops"])
                    if r == 0:
                        row["results"][peer] = out
                    if "error" in out:
                        print(f"  {peer} cannot do {row['case']}: {out['error']}", file=sys.stderr)
                        continue
                elif row["task"] == "scan":
                    out = scan_timed(binaries["efthf"], SCAN_ROW[1], SCAN_ROW[2])
                    row["results"]["cpu_one_core"].append(out["cpu_one_core"])
                    row["results"]["failures"] = out["failures"]
                elif row["task"] == "eft":
                    out = eft_fit(binaries["efthf"], row["workspace"], row["ops"])
                    if r == 0:
                        row["results"]["twice_nll"] = check_eft(binaries["efthf"], row["workspace"], row["ops"], out["report"])
                        fit = out["report"].get("fit") or out["report"]
                        row["results"]["evaluations"] = (fit.get("evaluations") or {}).get("total", fit.get("function_calls"))
                elif row["task"] == "eval" and peer == "efthf":
                    out = core_eval(binaries["HistFactoryBenchmark"], row["case"])
                    if r == 0:
                        via_python = workers["efthf"].ask("eval", row["case"])
                        row["results"]["efthf"] = {**out, "grad": via_python["grad"], "python_cpu": via_python["cpu"],
                                                   "npars": via_python["npars"], "logpdf_at_inits": via_python["logpdf_at_inits"]}
                else:
                    if "error" in row["results"].get(peer, {}):
                        continue  # the peer cannot do this work: said once in the table
                    out = workers[peer].ask(row["task"], row["case"])
                    if r == 0:
                        row["results"][peer] = out
                    if "error" in out:
                        print(f"  {peer} cannot do {row['case']} {row['task']}: {out['error']}", file=sys.stderr)
                        continue
                row["times"][peer].append(out["cpu"])
            print(f"  round {r + 1}/{args.rounds}: {row['case']} {row['task']} done", file=sys.stderr)
        if r == 0:  # checks once every peer has answered
            for row in rows:
                if row["task"] == "scan":
                    continue  # checked in every round (scan_timed)
                if row["task"] == "eft":
                    if "root" in row["results"] and "error" not in row["results"]["root"]:
                        at_inits = json.loads(subprocess.run([str(binaries["efthf"]), "eval", str(row["workspace"])], check=True,
                                                             capture_output=True, text=True).stdout)["logpdf"]
                        ours = {"twice_nll": row["results"]["twice_nll"], "logpdf_at_inits": at_inits}
                        if args.perturb == "eft":
                            ours["twice_nll"] += 10 * TOLERANCE["eft_twice_nll_abs"]
                        check(row, "root", ours, row["results"]["root"])
                    continue
                if row["task"] == args.perturb:
                    ours = row["results"]["efthf"]
                    key, shift = {"eval": ("logpdf", 10 * TOLERANCE["logpdf_rel"] * abs(ours.get("logpdf", 0.0))),
                                  "fit": ("twice_nll", 10 * TOLERANCE["twice_nll_abs"]), "hypotest": ("cls", 10 * TOLERANCE["cls_abs"]),
                                  "limit": ("limit", 10 * TOLERANCE["limit_rel"] * abs(ours.get("limit", 0.0)))}[row["task"]]
                    ours[key] += shift
                for peer in peers:
                    if "error" not in row["results"].get(peer, {"error": "no answer"}):
                        check(row, peer, row["results"]["efthf"], row["results"][peer])
                if row["task"] == "eval" and "pyhf-jax" in peers and "error" not in row["results"]["pyhf-jax"]:
                    ours, theirs = row["results"]["efthf"]["grad"], row["results"]["pyhf-jax"]["grad"]
                    scale = max(1.0, max(abs(g) for g in ours))
                    worst = max(abs(a - b) for a, b in zip(ours, theirs)) / scale
                    if not worst <= TOLERANCE["grad_rel"]:
                        sys.exit(f"FAIL: {row['case']} eval: JAX's gradient differs from efthf's by {worst:.2e} (relative to the largest)")
    for w in workers.values():
        w.close()
    load_after = os.getloadavg()

    kernel = ceiling["kernel"]
    per_event = {"stream_bytes_per_cpu_second": {"1 thread": summary(ceiling["stream_1"]), "2 threads": summary(ceiling["stream_2"])},
                 "kernel": kernel, "value_cpu": summary(ceiling["value_cpu"]), "value_grad_cpu": summary(ceiling["value_grad_cpu"])}
    document = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after},
        "rounds": args.rounds, "tolerances": TOLERANCE, "peers": peers, "per_event_pass": per_event,
        "rows": [{"case": row["case"], "task": row["task"], "ops": row.get("ops"),
                  "cpu_seconds": {p: summary(t) for p, t in row["times"].items() if t},
                  "results": {p: {k: v for k, v in res.items() if k != "grad"} if isinstance(res, dict) else res
                              for p, res in row["results"].items()}} for row in rows],
    }
    (out_dir / "benchmarks.json").write_text(json.dumps(document, indent=1) + "\n")
    head = "| workspace | task | efthf | " + " | ".join(peers) + " | " + " | ".join(f"{p} / efthf" for p in peers) + " | check |"
    lines = [f"CPU time, medians of {args.rounds} interleaved rounds (range in brackets); load average "
             f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} cores."]
    if "root" in peers:
        lines += ["", "ROOT 6.40 (PyPI wheel) runs on efthf's HS3 export (`efthf export --hs3`, imported by RooJSONFactoryWSTool), "
                  f"NLL with `EvalBackend(\"{'cpu'}\")`; its NLL is related to efthf's ln L by the constant at efthf's inits "
                  "(Specs/hs3.md §2). ROOT's eval row is the **NLL value alone** (its gradient is numerical): every parameter "
                  "moved between calls in a C++ loop; efthf's is ln L + exact gradient. ROOT's fit: Minuit2 migrad, strategy 1, tolerance 0.01, "
                  "no hesse; hypotest: RooStats AsymptoticCalculator, one-sided q̃μ at μ = 1; limit: HypoTestInverter "
                  "(CLs, 95 %, automatic scan) on it; eft: migrad + hesse, strategy 1 (efthf's eft command also searches "
                  "for minima and computes profile intervals)."]
    lines += ["", head, "|" + "---|" * (4 + 2 * len(peers))]
    cannot = []
    for row in rows:
        med = {p: statistics.median(t) for p, t in row["times"].items() if t}
        for p, res in row["results"].items():
            if isinstance(res, dict) and "error" in res:
                cannot.append(f"- {p}, {row['case']} {row['task']}: {res['error']}")
        cells = [f"{fmt_time(med[p])} [{fmt_time(min(row['times'][p]))}–{fmt_time(max(row['times'][p]))}]" if p in med
                 else "cannot (below)" for p in row["times"]]
        if row["task"] == "eft":
            by_peer = dict(zip(row["times"], cells))
            cells = [by_peer["efthf"]] + [by_peer.get(p, "no peer") for p in peers]
            ratios = [f"{med[p] / med['efthf']:.1f}×" if p in med else "" for p in peers]
            checked = f"converged, 2NLL {row['results']['twice_nll']:.6f} = −2 ln L at the minimum; {row['results']['evaluations']} likelihood evaluations in all (fit, search, uncertainties, intervals)"
            if "root" in med:
                checked += "; ROOT's 2NLL (with the §2.1 width term) 1e-2"
            task = f"fit --ops {row['ops']}"
        elif row["task"] == "scan":
            one = statistics.median(row["results"]["cpu_one_core"])
            cells = cells + ["" for _ in peers]
            ratios = ["" for _ in peers]
            checked = (f"CPU on all cores / on one core {med['efthf'] / one:.2f} (one core {fmt_time(one)}); same report bytes; "
                       f"{row['results']['failures']} failed points, none bordering the 95 % region inside the model's domain")
            task = "scan " + " ".join(SCAN_ROW[2][1::2])
        else:
            ratios = [f"{med[p] / med['efthf']:.0f}×" if p in med else "" for p in peers]
            checked = {"eval": "ln L 1e-9" + (", JAX gradient 1e-6" if "pyhf-jax" in med else ""), "fit": "2NLL 1e-3", "hypotest": "CLs 1e-4", "limit": "limit 1e-3"}[row["task"]]
            task = {"eval": "ln L + gradient (off the inits)", "fit": "fit", "hypotest": "q̃μ hypotest, μ = 1", "limit": "upper limit (obs.)"}[row["task"]]
            if row["task"] == "eval" and "pyhf-jax" in med:
                compile_time = row["results"]["pyhf-jax"]["first_call_cpu"]
                checked += f"; JAX compile {compile_time:.2f} s CPU"
            elif "pyhf-jax" in med and "first_call_cpu" in row["results"]["pyhf-jax"]:
                checked += f"; JAX first call (tracing, compiling) {row['results']['pyhf-jax']['first_call_cpu']:.2f} s CPU, untimed"
            if row["task"] == "eval":
                checked += f"; via Python {fmt_time(row['results']['efthf']['python_cpu'])}"
                if "root" in med:
                    checked += "; ROOT: NLL value only"
        lines.append(f"| {row['case']} | {task} | " + " | ".join(cells) + " | " + " | ".join(ratios) + f" | {checked} |")
    if cannot:
        lines += ["", "Rows a peer cannot do (said once):", *cannot]
    s1, s2 = statistics.median(ceiling["stream_1"]), statistics.median(ceiling["stream_2"])
    value, grad = statistics.median(ceiling["value_cpu"]), statistics.median(ceiling["value_grad_cpu"])
    rate = kernel["bytes"] / value
    lines += ["", "Per-event pass against a streaming read, both in CPU time (medians of the rounds):", "",
              "| measurement | bytes per CPU-second | fraction of the 1-thread / 2-thread read |", "|---|---|---|",
              f"| read, 1 thread (Benchmarks/stream.c, cc -O2, {STREAM_MIB} MiB × {STREAM_PASSES} passes) | {s1 / 1e9:.2f} GB "
              f"[{min(ceiling['stream_1']) / 1e9:.2f}–{max(ceiling['stream_1']) / 1e9:.2f}] | |",
              f"| read, 2 threads (bytes per CPU-second of both) | {s2 / 1e9:.2f} GB "
              f"[{min(ceiling['stream_2']) / 1e9:.2f}–{max(ceiling['stream_2']) / 1e9:.2f}] | |",
              f"| per-event kernel: ln L of `Data/vh/workspace_events_syst.json` ({kernel['events']} events × "
              f"{kernel['bytes_per_event']} B = {kernel['bytes'] / 1e6:.2f} MB of columns per evaluation), value alone, "
              f"{fmt_time(value)} | {rate / 1e9:.2f} GB | {100 * rate / s1:.0f} % / {100 * rate / s2:.0f} % |",
              f"| the same with the gradient (the kernel's Jacobians too), {fmt_time(grad)} | {kernel['bytes'] / grad / 1e9:.2f} GB | "
              f"{100 * kernel['bytes'] / grad / s1:.0f} % / {100 * kernel['bytes'] / grad / s2:.0f} % |",
              "", f"The example's {kernel['bytes'] / 2**20:.1f} MiB of columns fit in this machine's 32 MiB L3, so its reads "
              "need not come from memory; the read reference is memory-bound (8× the L3). The smoothed kernel also "
              "evaluates a logistic per edge near each event, so it is not bound by reading alone."]
    (out_dir / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out_dir / 'benchmarks.json'}, {out_dir / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
