"""Make fits.json: pyhf 0.7.6 fit / hypothesis-test / upper-limit references for the inference engine.

Rerun (needs pyhf==0.7.6, iminuit, scipy; reads /work/shared/reference or $EFTHF_REFERENCE_DIR):

    python3 make_fit_references.py [--limit SECONDS] [--only CASE_PREFIX ...]   # ~10-15 min on 2 cores

Default --limit is 200 s per item (one fit, one hypotest or one upper limit); an item that runs
longer is abandoned (SIGALRM) and recorded as {"skipped": "..."} with the time spent. With --only
the existing fits.json is updated in place for the named cases (others kept).

Cases and patches are those of make_reference.py (imported, so patches are applied identically).
  - "fit" (cases 01..05): backend numpy + pyhf.optimize.minuit_optimizer(tolerance=1e-4, strategy=2);
    pyhf.infer.mle.fit(data, model, return_uncertainties=True, return_correlations=True,
    return_fitted_val=True, return_result_obj=True) -> bestfit, HESSE uncertainties, correlation
    matrix (rows/cols in par_names order) and twice_nll, plus Minuit diagnostics.
  - "hypotests" (cases 01..05 and 08): backend numpy + pyhf.optimize.scipy_optimizer(tolerance=1e-10);
    pyhf.infer.hypotest(mu, data, model, test_stat=..., return_tail_probs=True,
    return_expected_set=True, return_calculator=True) (asymptotics) for
      qtilde at mu = 1.0 and mu = 0.5:  cls_obs, [clsb_obs, clb_obs], cls_exp (5, ascending; [2] median)
      q0 at poi = 0.0:                  p0_obs (= CLs+b), [clb_obs], p0_exp (5)
    plus the calculator internals: the test statistic in pyhf's transformed (-muhat/sigma) space as
    returned by AsymptoticCalculator.teststatistic, sqrt(q_A), q_obs = teststat function value
    recomputed from the two data fits, and the five fitted parameter vectors (by name) with 2NLL of
    the data fits.
  - "upper_limit" (cases 01..04): same scipy backend, qtilde, level 0.05.
    pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, return_results=True)
    -> toms748_scan between the POI's suggested bounds (atol=2e-12, rtol=1e-4, pyhf defaults).
    Case 02's POI has bounds [-10, 10]; upper_limit(scan=None) then fails (SLSQP
    FailedMinimization at POI = -10), so toms748_scan(data, model, 0.0, 10.0) is called directly.
    Records obs and the 5 expected limits and every (poi, cls_obs, cls_exp) the scan evaluated;
    plus "linear_grid": upper_limit(scan=np.linspace(0, H, 21)) with H = 1.5 x the largest toms748
    limit rounded up to a multiple of 0.5, at most the POI upper bound (pyhf's np.interp-based linear_grid_scan).
Each item records wall-clock seconds.
"""
import argparse
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import json  # noqa: E402

import numpy as np  # noqa: E402
import pyhf  # noqa: E402
from pyhf.infer.calculators import AsymptoticCalculator  # noqa: E402

import _common as C  # noqa: E402

OUT = os.path.join(C.HERE, "fits.json")
FIT_CASES = ("01", "02", "03", "04", "05")
HYPO_CASES = ("01", "02", "03", "04", "05", "08")
LIMIT_CASES = ("01", "02", "03", "04")
FIT_RESULT_FIELDS = ("asimov_pars", "free_fit_to_data", "free_fit_to_asimov",
                     "fixed_poi_fit_to_data", "fixed_poi_fit_to_asimov")  # HypoTestFitResults
MINUIT = dict(tolerance=1e-4, strategy=2)
SCIPY = dict(tolerance=1e-10)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


def timed(limit, fn):
    """Run fn() with a wall-clock limit; returns (result or None, seconds, skipped message or None)."""
    signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    signal.alarm(int(limit))
    try:
        res = fn()
        return res, time.perf_counter() - t0, None
    except Timeout:
        dt = time.perf_counter() - t0
        return None, dt, f"skipped: exceeded the {limit} s limit (abandoned after {dt:.1f} s)"
    finally:
        signal.alarm(0)


# capture the value AsymptoticCalculator.teststatistic returns to hypotest
_captured = []
_orig_teststatistic = AsymptoticCalculator.teststatistic


def _capturing_teststatistic(self, poi_test):
    v = _orig_teststatistic(self, poi_test)
    _captured.append(float(v))
    return v


AsymptoticCalculator.teststatistic = _capturing_teststatistic


def do_fit(model, data):
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(**MINUIT))
    pars_unc, corr, twice_nll, res = pyhf.infer.mle.fit(
        data, model, return_uncertainties=True, return_correlations=True,
        return_fitted_val=True, return_result_obj=True)
    pars_unc = np.asarray(pars_unc)
    m = res.minuit
    return {
        "optimizer": "minuit_optimizer(tolerance=1e-4, strategy=2)",
        "twice_nll": float(twice_nll),
        "twice_nll_recomputed": float(pyhf.infer.mle.twice_nll(pars_unc[:, 0], data, model)[0]),
        "bestfit": C.by_name(model, pars_unc[:, 0]),
        "uncertainties": C.by_name(model, pars_unc[:, 1]),
        "correlations": [C.floats(row) for row in np.asarray(corr)],
        "minuit": {"valid": bool(m.valid), "edm": float(m.fmin.edm), "nfcn": int(m.nfcn),
                   "strategy": int(m.strategy.strategy) if hasattr(m.strategy, "strategy") else str(m.strategy),
                   "tol": float(m.tol), "success": bool(res.success)},
    }


def do_hypotest(model, data, poi, test_stat):
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(**SCIPY))
    _captured.clear()
    obs, tails, exp_set, calc = pyhf.infer.hypotest(
        poi, data, model, test_stat=test_stat, calctype="asymptotics",
        return_tail_probs=True, return_expected_set=True, return_calculator=True)
    fp = calc.fitted_pars
    tn = lambda x: float(pyhf.infer.mle.twice_nll(x, data, model)[0])  # noqa: E731
    poi_idx = model.config.poi_index
    mu_hat = float(np.asarray(fp.free_fit_to_data)[poi_idx])
    t = max(tn(fp.fixed_poi_fit_to_data) - tn(fp.free_fit_to_data), 0.0)
    if test_stat == "q0":
        q_obs = 0.0 if mu_hat < poi else t
    else:
        q_obs = 0.0 if mu_hat > poi else t
    out = {"poi": poi, "test_stat": test_stat, "calctype": "asymptotics",
           "optimizer": "scipy_optimizer(tolerance=1e-10)"}
    if test_stat == "q0":
        out.update({"p0_obs": float(obs), "tail_probs": {"clb_obs": float(tails[0])},
                    "p0_exp": C.floats(exp_set)})
    else:
        out.update({"cls_obs": float(obs), "tail_probs": {"clsb_obs": float(tails[0]), "clb_obs": float(tails[1])},
                    "cls_exp": C.floats(exp_set)})
    out["calculator"] = {
        "teststat_transformed": _captured[-1] if _captured else None,
        "sqrt_qA": float(calc.sqrtqmuA_v),
        "q_obs_recomputed": float(q_obs),
        "mu_hat": mu_hat,
        "twice_nll_free_fit_to_data": tn(fp.free_fit_to_data),
        "twice_nll_fixed_poi_fit_to_data": tn(fp.fixed_poi_fit_to_data),
        "fitted_pars": {k: C.by_name(model, getattr(fp, k)) for k in FIT_RESULT_FIELDS},
    }
    return out


def _scan_points(pois, results):
    order = np.argsort(pois)
    return [{"poi": float(pois[i]), "cls_obs": float(results[i][0]), "cls_exp": C.floats(results[i][1])}
            for i in order]


def do_upper_limit(model, data):
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(**SCIPY))
    lo, hi = (float(b) for b in model.config.suggested_bounds()[model.config.poi_index])
    out = {"level": 0.05, "test_stat": "qtilde", "optimizer": "scipy_optimizer(tolerance=1e-10)",
           "poi_bounds": [lo, hi]}
    if lo == 0.0:
        obs, exp, (pois, results) = pyhf.infer.intervals.upper_limits.upper_limit(
            data, model, scan=None, level=0.05, return_results=True)
        out["method"] = ("upper_limits.upper_limit(data, model, scan=None, level=0.05) -> "
                         "toms748_scan(bounds_low=0, bounds_up=POI upper bound, atol=2e-12, rtol=1e-4)")
    else:  # upper_limit(scan=None) would start at the negative lower bound, where pyhf's fits fail
        obs, exp, (pois, results) = pyhf.infer.intervals.upper_limits.toms748_scan(
            data, model, 0.0, hi, level=0.05, from_upper_limit_fn=True)
        out["method"] = ("upper_limits.toms748_scan(data, model, bounds_low=0.0, bounds_up=POI upper bound, "
                         "level=0.05, atol=2e-12, rtol=1e-4) called directly: the POI lower bound is not 0 and "
                         "upper_limit(scan=None) fails (FailedMinimization at the lower bound)")
    out.update({"obs_limit": float(obs), "exp_limits": C.floats(exp), "scan_points": _scan_points(pois, results)})
    # a linear grid too (pyhf's linear_grid_scan: np.interp of CLs vs POI at level, per band)
    top = max([float(obs)] + C.floats(exp))
    scan_hi = min(float(np.ceil(1.5 * top * 2) / 2), hi)  # 1.5 x largest limit, up to a multiple of 0.5, <= bound
    scan = np.linspace(0.0, scan_hi, 21)
    g_obs, g_exp, (g_pois, g_results) = pyhf.infer.intervals.upper_limits.upper_limit(
        data, model, scan=scan, level=0.05, return_results=True)
    out["linear_grid"] = {"method": f"upper_limits.upper_limit(data, model, scan=np.linspace(0, {scan_hi}, 21), level=0.05)",
                          "scan": C.floats(scan), "obs_limit": float(g_obs), "exp_limits": C.floats(g_exp),
                          "scan_points": _scan_points(np.asarray(g_pois), g_results)}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=float, default=200.0)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    mr = C.load_make_reference()
    out = {"description": "pyhf fit/hypotest/upper-limit references; see make_fit_references.py",
           "versions": C.versions(), "time_limit_seconds_per_item": args.limit, "cases": []}
    if args.only and os.path.exists(OUT):
        out["cases"] = json.load(open(OUT))["cases"]
    t_all = time.perf_counter()
    for case in mr.CASES:
        prefix = case[0][:2]
        if prefix not in set(FIT_CASES) | set(HYPO_CASES) | set(LIMIT_CASES):
            continue
        if args.only and prefix not in args.only and case[0] not in args.only:
            continue
        pyhf.set_backend("numpy")
        ws, label = mr.load(case)
        model = ws.model()
        data = ws.data(model)
        entry = C.case_info(mr, case)
        entry["patch_name"] = C.resolved_patch_name(label) or entry["patch_name"]
        entry.update({"measurement": ws.get_measurement()["name"], "poi": model.config.poi_name,
                      "par_names": list(model.config.par_names)})
        items = []
        if prefix in FIT_CASES:
            items.append(("fit", lambda: do_fit(model, data)))
        if prefix in HYPO_CASES:
            items.append(("hypotest_qtilde_mu1", lambda: do_hypotest(model, data, 1.0, "qtilde")))
            items.append(("hypotest_qtilde_mu0.5", lambda: do_hypotest(model, data, 0.5, "qtilde")))
            items.append(("discovery_q0", lambda: do_hypotest(model, data, 0.0, "q0")))
        if prefix in LIMIT_CASES:
            items.append(("upper_limit", lambda: do_upper_limit(model, data)))
        for key, fn in items:
            try:
                res, dt, skipped = timed(args.limit, fn)
            except Exception as e:  # record pyhf failures instead of stopping
                res, dt, skipped = None, 0.0, f"failed: {type(e).__name__}: {e}"
            if skipped:
                entry[key] = {"skipped": skipped, "seconds": round(dt, 3)}
            else:
                res["seconds"] = round(dt, 3)
                entry[key] = res
            print(f"{case[0]} {key}: {skipped or 'ok'} ({dt:.2f} s)", file=sys.stderr, flush=True)
        out["cases"] = [c for c in out["cases"] if c["name"] != case[0]] + [entry]
        out["cases"].sort(key=lambda c: c["name"])
        C.write_json_atomic(OUT, out)  # checkpoint after every case
    print(f"total {time.perf_counter() - t_all:.1f} s; wrote {OUT} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
