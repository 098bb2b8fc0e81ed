#!/usr/bin/env python3
"""The worker processes of Benchmarks/run.py (one per peer, up for the whole run) and the runner's handle
on them, which enforces the per-row CPU budget.

A worker answers one JSON request per line on stdin, {"task", "case"[, "workspace", "ops"]}, with one
JSON line {"cpu", ...results} or {"error": ...}. efthf's and ROOT's workers use efthf's Python package
(ROOT's for efthf's parameter order and inits; Benchmarks/root_peer.py); pyhf's set their backend once,
as it is a process-wide setting, and JAX compiles once per process.

    python3 Benchmarks/bench_worker.py PEER      (started by run.py; PEER: efthf, pyhf-numpy, pyhf-jax, root)
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from bench_common import CASES, load_json, reference_dir, shifted


def kernel_eval(lib, workspace):
    """CPU seconds per ln L (value alone, and with the gradient) of an event-database workspace whose
    sample is reweighted, varied and binned per event at every evaluation (SmoothedReweightingKernel),
    off the inits, cycling through 16 points 1e-9 apart in every parameter: more than the kernel keeps
    (its last 4 results, Specs/event-database.md), so that no result can be reused."""
    ws = lib.Workspace.load(str(workspace))
    model = ws.model()
    data = ws.data(model)
    a = shifted(model.config.suggested_init())
    points = [[x + k * 1e-9 * max(1.0, abs(x)) for x in a] for k in range(16)]
    result = {}
    for label, fn in (("value_cpu", lambda p: model.logpdf(p, data)), ("value_grad_cpu", lambda p: model.logpdf_and_grad(p, data))):
        n = 16
        while True:
            t0 = time.process_time()
            for i in range(n):
                fn(points[i % 16])
            cpu = time.process_time() - t0
            if cpu > 0.2:
                break
            n *= 4
        result[label] = cpu / n
    return result


def worker_main(peer: str) -> None:
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
            if task == "load":  # imports and the model, outside the budget
                model_of(key)
                print(json.dumps({"loaded": key}), flush=True)
                continue
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
        except Exception as e:  # reported to the runner
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


class Worker:
    """A peer's worker process as the runner sees it. `ask` sends one request and waits for its answer
    while watching the process's CPU time (every thread's, /proc/PID/stat): past `budget` CPU-seconds
    the process is killed and the answer is {"over_budget": budget}; the next request starts a new one.
    `load` (the imports and the case's model) is asked first, outside the budget."""

    def __init__(self, peer, env, budget=None):
        self.peer, self.env, self.budget = peer, env, budget
        self.process, self.pending = None, b""

    def start(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_worker.py")
        self.process = subprocess.Popen([sys.executable, script, self.peer], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=self.env, start_new_session=True)
        self.pending = b""

    def cpu(self):
        """User + system CPU seconds of the worker process, all threads (proc(5): fields 14 and 15)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def ask(self, task, case, **extra):
        if task not in ("load", "kernel"):
            loaded = self.request("load", case, None, **extra)
            if "error" in loaded:
                return loaded
        return self.request(task, case, self.budget, **extra)

    def request(self, task, case, budget, **extra):
        if self.process is None or self.process.poll() is not None:
            self.start()
        self.process.stdin.write((json.dumps({"task": task, "case": case, **extra}) + "\n").encode())
        self.process.stdin.flush()
        start = self.cpu()
        fd = self.process.stdout.fileno()
        while b"\n" not in self.pending:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    status = self.process.wait()
                    self.process = None
                    return {"error": f"the {self.peer} worker died (exit status {status})"}
                self.pending += chunk
            elif budget is not None and self.cpu() - start > budget:
                self.stop(kill=True)
                return {"over_budget": budget}
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def stop(self, kill=False):
        if self.process is None:
            return
        if kill:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: ROOT's helper processes too
        else:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self.process = None


if __name__ == "__main__":
    worker_main(sys.argv[1])
