"""Side-by-side timing of a qtilde hypotest (POI = 1) and an observed + expected upper limit:
pyhf 0.7.6 (numpy backend, scipy and Minuit) against efthf's InferenceBenchmark, in one run.

    swift build -c release --product InferenceBenchmark
    python3 Benchmarks/inference/bench_pyhf.py [--cases 05,06,07,08] [--limit-pyhf] [--timeout 600]

For each case it runs the Swift benchmark (median of 3), then pyhf's hypotest with each
optimizer (once: they take seconds to minutes), checks that CLs agree (|ΔCLs| < 1e-4 against
pyhf-scipy) and prints the times and the speed ratios. pyhf upper limits (toms748 scan, many
hypotests each) are timed only with --limit-pyhf; without it the ratio for the limit is
estimated as (pyhf hypotest time) × (number of CLs evaluations pyhf's toms748 makes, ~10), and
marked as an estimate. Reads the workspaces from $EFTHF_REFERENCE_DIR or ../shared/reference.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF = os.environ.get("EFTHF_REFERENCE_DIR", os.path.join(os.path.dirname(ROOT), "shared", "reference"))
sys.path.insert(0, REF)
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import pyhf  # noqa: E402
import make_reference as M  # noqa: E402


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def timed(limit, fn):
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(limit))
    t0 = time.perf_counter()
    try:
        return fn(), time.perf_counter() - t0
    except Timeout:
        return None, time.perf_counter() - t0
    finally:
        signal.alarm(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="05,06,07,08")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--limit-pyhf", action="store_true")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "InferenceBenchmark"))
    args = ap.parse_args()
    swift = subprocess.run([args.binary, "--reference", REF, "--cases", args.cases, "--repeat", "3"],
                           check=True, capture_output=True, text=True).stdout
    ours = {r["case"]: r for r in map(json.loads, swift.splitlines())}
    rows = []
    for case in M.CASES:
        if case[0] not in ours:
            continue
        e = ours[case[0]]
        ws, _ = M.load(case)
        model = ws.model()
        data = ws.data(model)
        row = {"case": case[0][:2], "parameters": e["parameters"], "efthf_hypotest": e["hypotest_seconds"],
               "efthf_limit": e.get("upper_limit_seconds")}
        for label, opt in (("scipy", pyhf.optimize.scipy_optimizer()), ("minuit", pyhf.optimize.minuit_optimizer())):
            pyhf.set_backend("numpy", opt)
            res, dt = timed(args.timeout, lambda: pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected_set=True))
            row[f"pyhf_{label}_hypotest"] = dt if res is not None else None
            if res is not None:
                row[f"dcls_{label}"] = abs(float(res[0]) - e["cls_obs"])
                row[f"dcls_exp_{label}"] = float(np.max(np.abs(np.asarray(res[1], float) - np.asarray(e["cls_exp"]))))
            if args.limit_pyhf:
                lim, dt = timed(args.timeout, lambda: pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None))
                row[f"pyhf_{label}_limit"] = dt if lim is not None else None
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\ncase  pars  efthf hypotest  pyhf scipy  ratio    pyhf minuit  ratio    efthf limit  |dCLs| scipy")
    for r in rows:
        s, m = r.get("pyhf_scipy_hypotest"), r.get("pyhf_minuit_hypotest")
        fmt = lambda t: f"{t:10.3f} s" if t is not None else "  timed out"
        ratio = lambda t: f"{t / r['efthf_hypotest']:7.0f}x" if t is not None else "      -"
        print(f"{r['case']}  {r['parameters']:5d}  {r['efthf_hypotest'] * 1e3:9.2f} ms   {fmt(s)} {ratio(s)}  {fmt(m)} {ratio(m)}"
              f"   {r['efthf_limit'] * 1e3 if r['efthf_limit'] else float('nan'):8.1f} ms   {r.get('dcls_scipy', float('nan')):.1e}")


if __name__ == "__main__":
    main()
