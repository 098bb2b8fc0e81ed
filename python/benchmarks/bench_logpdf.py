#!/usr/bin/env python3
"""Benchmark (not a test): ln L and its gradient from Python, efthf against pyhf 0.7.6.

    EFTHF_LIBRARY=.build/release/libEFTHFC.so python python/benchmarks/bench_logpdf.py --output bench.json

On the reference workspaces 05-08 (patched as make_reference.py's CASES), at random points within
the suggested bounds (the same points for every peer), it times, in interleaved rounds:

  efthf  logpdf+grad   model.logpdf_and_grad(pars, data): value and exact gradient, one call
  efthf  logpdf        model.logpdf(pars, data)
  pyhf   numpy logpdf  pyhf's numpy backend, value only (pyhf has no gradient there; finite
                       differences would cost (npars+1) calls and are not shown)
  pyhf   jax   v+g     jax.jit(jax.value_and_grad(logpdf)), compile time reported separately

as CPU time (time.process_time, all threads of the process) over batches of calls, the median of
the rounds with the min-max range. It checks the results at every point: efthf's logpdf against
pyhf's (1e-9 relative) and efthf's gradient against JAX's (1e-6 relative), exiting with status 1
otherwise. It also measures the binding's per-call overhead: logpdf_and_grad on a 1-bin model
against the raw ctypes call of efthf_model_logpdf with prepared pointers.

The library is the installed package's, or the one EFTHF_LIBRARY (or --library) names; figures
are only meaningful with the release build (README.md beside this file).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
CASE_NAMES = ["05_atlas_susy2018_31_sbottom_RegionA", "06_atlas_susy2019_08_1Lbb", "07_atlas_susy2018_16_ewkinos_SR2l",
              "08_atlas_susy2019_09_offshell"]
SHORT = dict(zip(CASE_NAMES, ["05 sbottom RegionA", "06 1Lbb", "07 EWKinos SR2l", "08 offshell"]))
LOGPDF_RTOL, GRAD_RTOL = 1e-9, 1e-6


def reference_dir() -> Path:
    for candidate in (os.environ.get("EFTHF_REFERENCE_DIR"), REPOSITORY.parent / "shared" / "reference", "/work/shared/reference"):
        if candidate and (Path(candidate) / "make_reference.py").exists():
            return Path(candidate)
    sys.exit("the shared reference folder (../shared/reference beside the repository, or $EFTHF_REFERENCE_DIR) is absent")


def cpu_per_call(fn, points, reps):
    """CPU µs per call of fn over `reps` passes through `points`."""
    start = time.process_time()
    for _ in range(reps):
        for p in points:
            fn(p)
    return (time.process_time() - start) / (reps * len(points)) * 1e6


def calibrate(fn, points, min_seconds):
    """Passes through `points` for one batch to last at least `min_seconds` of CPU time."""
    reps = 1
    while True:
        start = time.process_time()
        for _ in range(reps):
            for p in points:
                fn(p)
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return reps
        reps = max(reps + 1, int(reps * min(10.0, 1.2 * min_seconds / max(elapsed, 1e-6))))


def measure(peers, points, rounds, min_seconds):
    """{peer: [µs per call for each round]}, the peers interleaved within each round."""
    reps = {name: calibrate(fn, points, min_seconds) for name, fn in peers.items()}
    times = {name: [] for name in peers}
    for _ in range(rounds):
        for name, fn in peers.items():
            times[name].append(cpu_per_call(fn, points, reps[name]))
    return times, reps


def summary(values):
    return {"median_us": statistics.median(values), "min_us": min(values), "max_us": max(values), "rounds_us": values}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--library", help="the libEFTHFC to load (sets EFTHF_LIBRARY)")
    parser.add_argument("--cases", nargs="*", default=CASE_NAMES, help="reference cases (folder names)")
    parser.add_argument("--points", type=int, default=8, help="random points per workspace")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--batch-seconds", type=float, default=0.2, help="minimum CPU time of one batch")
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()
    if args.library:
        os.environ["EFTHF_LIBRARY"] = str(Path(args.library).resolve())

    import efthf
    from efthf import _native
    import jax
    import jax.numpy as jnp
    import pyhf

    sys.path.insert(0, str(reference_dir()))
    import make_reference as ref  # noqa: E402  (CASES, load, random_point)

    library = _native._library_path()
    source = "EFTHF_LIBRARY" if os.environ.get("EFTHF_LIBRARY") else "installed package"
    print(f"efthf {efthf.__version__}, library {library} ({source}); pyhf {pyhf.__version__}, jax {jax.__version__}, "
          f"numpy {np.__version__}, Python {platform.python_version()}")
    if "release" not in str(library):
        print("WARNING: the library is not .../release/libEFTHFC.so: if it is a debug build, efthf's figures are pessimistic")
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {os.cpu_count()} CPUs\n")

    cases = {c[0]: c for c in ref.CASES}
    unknown = sorted(set(args.cases) - set(cases))
    if unknown:
        sys.exit(f"unknown case(s) {', '.join(unknown)}; make_reference.py has {', '.join(cases)}")
    rng = np.random.default_rng(args.seed)
    results, failures = [], []
    for name in args.cases:
        pyhf.set_backend("numpy")
        ws_pyhf, label = ref.load(cases[name])
        model_pyhf = ws_pyhf.model()
        data = np.asarray(ws_pyhf.data(model_pyhf), dtype=float)
        ws_efthf = efthf.Workspace(dict(ws_pyhf))  # the same patched specification
        model_efthf = ws_efthf.model()
        if not np.array_equal(np.asarray(ws_efthf.data(model_efthf)), data) or model_efthf.config.par_names != list(model_pyhf.config.par_names):
            failures.append(f"{name}: efthf's data or parameter order differs from pyhf's")
            continue
        points = [ref.random_point(model_pyhf, rng) for _ in range(args.points)]

        pyhf.set_backend("jax")
        value_and_grad = jax.jit(jax.value_and_grad(lambda p, d: model_pyhf.logpdf(p, d)[0]))
        data_jax = jnp.asarray(data)
        wall, cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(value_and_grad(points[0], data_jax))
        compile_s = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        pyhf.set_backend("numpy")  # the jitted function keeps its compiled trace

        def efthf_vg(p):
            return model_efthf.logpdf_and_grad(p, data)

        def efthf_logpdf(p):
            return model_efthf.logpdf(p, data)

        def pyhf_numpy(p):
            return model_pyhf.logpdf(p, data)

        def pyhf_jax(p):
            v, g = value_and_grad(p, data_jax)
            return float(v), np.asarray(g)

        worst_value = worst_grad = 0.0
        for p in points:
            v_e, g_e = efthf_vg(p)
            v_n = float(pyhf_numpy(p)[0])
            v_j, g_j = pyhf_jax(p)
            worst_value = max(worst_value, abs(v_e - v_n) / abs(v_n), abs(float(efthf_logpdf(p)[0]) - v_n) / abs(v_n))
            worst_grad = max(worst_grad, float(np.max(np.abs(g_e - g_j) / np.maximum(np.abs(g_j), 1e-300 + 1e-9 * np.max(np.abs(g_j))))))
            if not abs(v_j - v_n) <= LOGPDF_RTOL * abs(v_n):  # the jitted trace is pyhf's logpdf
                failures.append(f"{name}: pyhf's JAX logpdf {v_j!r} differs from its numpy logpdf {v_n!r}")
        if not worst_value <= LOGPDF_RTOL:
            failures.append(f"{name}: efthf's logpdf differs from pyhf's by {worst_value:.2e} relative")
        if not worst_grad <= GRAD_RTOL:
            failures.append(f"{name}: efthf's gradient differs from JAX's by {worst_grad:.2e} relative")

        peers = {"efthf_logpdf_and_grad": efthf_vg, "efthf_logpdf": efthf_logpdf, "pyhf_numpy_logpdf": pyhf_numpy,
                 "pyhf_jax_value_and_grad": pyhf_jax}
        times, reps = measure(peers, points, args.rounds, args.batch_seconds)
        entry = {"case": name, "patch": label, "npars": model_pyhf.config.npars, "nbins": model_pyhf.config.nmaindata,
                 "points": len(points), "calls_per_batch": {k: r * len(points) for k, r in reps.items()},
                 "jax_compile": compile_s, "max_rel_diff_logpdf_vs_pyhf": worst_value, "max_rel_diff_grad_vs_jax": worst_grad,
                 **{k: summary(v) for k, v in times.items()}}
        results.append(entry)
        print(f"{name}: {entry['npars']} parameters, {entry['nbins']} bins; JAX compile {compile_s['wall_s']:.2f} s wall "
              f"({compile_s['cpu_s']:.2f} s CPU); max rel. diff logpdf {worst_value:.1e}, gradient {worst_grad:.1e}")
        del model_pyhf, ws_pyhf, value_and_grad

    # The binding's overhead: the wrapper against the raw ctypes call, on a 1-bin model.
    one_bin = efthf.simplemodels.uncorrelated_background(signal=[5.0], bkg=[10.0], bkg_uncertainty=[2.0])
    one_data = np.asarray([12.0] + one_bin.config.auxdata)
    pars = np.asarray(one_bin.config.suggested_init(), dtype=float)
    grad = np.empty(pars.size)
    fn, handle, data_handle = _native.lib.efthf_model_logpdf, one_bin._handle.value, one_bin._data(one_data).value
    p_ptr, g_ptr, n = _native.pointer(pars), _native.pointer(grad), pars.size
    value, error = ctypes.c_double(), ctypes.c_void_p()
    value_ref, error_ref = ctypes.byref(value), ctypes.byref(error)

    def raw_call(_):
        if fn(handle, p_ptr, n, data_handle, value_ref, g_ptr, error_ref) != 0:
            raise RuntimeError(_native._take_string(error))

    def wrapped_call(p):
        return one_bin.logpdf_and_grad(p, one_data)

    wrapped_call(pars)
    raw_call(pars)
    if not value.value == wrapped_call(pars)[0]:
        failures.append("1-bin model: the raw call and logpdf_and_grad disagree")
    times, _ = measure({"wrapped_logpdf_and_grad": wrapped_call, "raw_c_call": raw_call}, [pars] * 100, args.rounds, args.batch_seconds)
    overhead = {k: summary(v) for k, v in times.items()}
    overhead["binding_overhead_us"] = overhead["wrapped_logpdf_and_grad"]["median_us"] - overhead["raw_c_call"]["median_us"]
    load_after = os.getloadavg()

    print("\nCPU µs per evaluation: median of the rounds (min-max); ratio = peer / efthf for the same quantity\n")
    print("| workspace | pars | bins | evaluation | µs median | µs min-max | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        rows = [("efthf logpdf+grad", r["efthf_logpdf_and_grad"], ""), ("efthf logpdf", r["efthf_logpdf"], ""),
                ("pyhf numpy logpdf", r["pyhf_numpy_logpdf"],
                 f"{r['pyhf_numpy_logpdf']['median_us'] / r['efthf_logpdf']['median_us']:.1f} × efthf logpdf"),
                ("pyhf JAX jit value+grad", r["pyhf_jax_value_and_grad"],
                 f"{r['pyhf_jax_value_and_grad']['median_us'] / r['efthf_logpdf_and_grad']['median_us']:.1f} × efthf logpdf+grad")]
        for i, (label, s, ratio) in enumerate(rows):
            head = f"| {SHORT.get(r['case'], r['case'])} | {r['npars']} | {r['nbins']} |" if i == 0 else "| | | |"
            print(f"{head} {label} | {s['median_us']:.1f} | {s['min_us']:.1f}-{s['max_us']:.1f} | {ratio} |")
        print(f"| | | | JAX compile, once (seconds) | {r['jax_compile']['wall_s']:.2f} s wall | {r['jax_compile']['cpu_s']:.2f} s CPU | |")
    w, c = overhead["wrapped_logpdf_and_grad"], overhead["raw_c_call"]
    print(f"| 1-bin model | {one_bin.config.npars} | 1 | efthf logpdf_and_grad | {w['median_us']:.2f} | {w['min_us']:.2f}-{w['max_us']:.2f} | |")
    print(f"| | | | raw ctypes call of efthf_model_logpdf | {c['median_us']:.2f} | {c['min_us']:.2f}-{c['max_us']:.2f} "
          f"| binding overhead {overhead['binding_overhead_us']:.2f} µs/call |")
    print(f"\nload average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")

    if args.output:
        report = {"library": str(library), "library_source": source, "efthf": efthf.__version__, "pyhf": pyhf.__version__,
                  "jax": jax.__version__, "numpy": np.__version__, "python": platform.python_version(),
                  "machine": platform.machine(), "cpus": os.cpu_count(), "load_average_before": load_before,
                  "load_average_after": load_after, "rounds": args.rounds, "seed": args.seed, "timer": "time.process_time",
                  "unit": "CPU microseconds per evaluation", "cases": results, "binding_overhead_1bin": overhead,
                  "failures": failures}
        args.output.write_text(json.dumps(report, indent=1))
        print(f"results written to {args.output}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
