#!/usr/bin/env python3
"""Reference outputs of ROOT's RooLagrangianMorphFunc for the efthf morphing-modifier tests.

For each requested observable of the ROOT tutorial file
/work/shared/reference/eft/input_histos_rf_lagrangianmorph.root this script builds
RooLagrangianMorphFunc for 1, 3 and 6 operators (the same operator subsets as
/work/shared/reference/eft/root_morph_reference_pTV.json: the first 1/3/6 of
cHq3 cHl3 cHDD cHbox cHW cll1; 3/10/28 template folders) and records, at 7 points each
(SM, all couplings = 1, 5 random points uniform in [-2, 2]):
  * "root": the morphed histogram contents from RooLagrangianMorphFunc::createTH1 (TH1F precision),
  * "poly": the plain quadratic polynomial in double precision, built from the templates with the
    convention of /work/shared/reference/eft/README.txt:
        y(c) = T[SM_NPsq0] + sum_X ( c_X T[X_NPsq1] + c_X^2 T[X_NPsq2] )
               + sum_{A<B} c_A c_B ( T[A_B_NPsq2] - T[A_NPsq2] - T[B_NPsq2] )
    (the cross folder may be named A_B_NPsq2 or B_A_NPsq2),
  * "max_rel_diff" = max_bin |root - poly| / max(1e-9, |poly|),
plus the condition number (getCondition), build / evaluation timings (indicative only) and an
Asimov shape-only RooWrapperPdf fit, i.e. exactly the layout of root_morph_reference_pTV.json
(which was made by derivation_scripts/root_morph_ref.py; this script follows it step by step,
including the RNG call sequence, so the random points are the same for every observable).

Seeds: numpy.random.default_rng(12345), re-created for each observable; per operator count the
5 random check points are drawn first (5 x n_ops), then 200 x n_ops timing points.

Output: root_morph_reference_<obs>.json next to this script (written to a temporary file, then
renamed). Top-level keys "observable" and "configs" match the pTV reference; "meta" is extra.

Usage:
  python3 make_root_morph_refs.py                      # mbb MET deletabb
  python3 make_root_morph_refs.py mbb                  # selected observables
  python3 make_root_morph_refs.py --check-pTV          # rerun pTV, compare with the shared reference,
                                                       # write nothing
Needs ROOT with PyROOT (pip install root; made with root==0.1a12 = ROOT 6.40.00) and numpy.
"""
import hashlib
import itertools
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = "/work/shared/reference/eft"
INPUT = os.path.join(SHARED, "input_histos_rf_lagrangianmorph.root")
PTV_REF = os.path.join(SHARED, "root_morph_reference_pTV.json")
OPS_ALL = ["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"]
N_OPS = (1, 3, 6)
SEED = 12345
N_TIMING = 200
DEFAULT_OBS = ["mbb", "MET", "deletabb"]

import ROOT  # noqa: E402

ROOT.gROOT.SetBatch(True)
ROOT.TH1.AddDirectory(False)  # createTH1 histograms are not registered -> no "Replacing existing TH1" noise
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read())
    return h.hexdigest()


def atomic_json(obj, path):
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


def run_observable(OBS):
    f = ROOT.TFile.Open(INPUT)
    folders = [k.GetName() for k in f.GetListOfKeys()]
    cache = {}

    def tmpl(name):
        if name not in cache:
            h = f.Get(name).FindObject(OBS)
            cache[name] = (np.array([h.GetBinContent(i) for i in range(1, h.GetNbinsX() + 1)]), h)
        return cache[name]

    def cross_name(a, b):
        for nm in (f"{a}_{b}_NPsq2", f"{b}_{a}_NPsq2"):
            if nm in folders:
                return nm
        raise RuntimeError(f"missing cross folder for {a},{b}")

    def folder_for(ops):
        out = ["SM_NPsq0"]
        for o in ops:
            out += [o + "_NPsq1", o + "_NPsq2"]
        out += [cross_name(a, b) for a, b in itertools.combinations(ops, 2)]
        return out

    def poly(ops, c):
        y = tmpl("SM_NPsq0")[0].copy()
        for o in ops:
            y += c[o] * tmpl(o + "_NPsq1")[0] + c[o] ** 2 * tmpl(o + "_NPsq2")[0]
        for a, b in itertools.combinations(ops, 2):
            nm = cross_name(a, b)
            y += c[a] * c[b] * (tmpl(nm)[0] - tmpl(a + "_NPsq2")[0] - tmpl(b + "_NPsq2")[0])
        return y

    results = {"observable": OBS, "configs": []}
    rng = np.random.default_rng(SEED)
    for nops in N_OPS:
        ops = OPS_ALL[:nops]
        samples = folder_for(ops)
        h0 = tmpl("SM_NPsq0")[1]
        obs = ROOT.RooRealVar(OBS, OBS, h0.GetXaxis().GetXmin(), h0.GetXaxis().GetXmax())
        kSM = ROOT.RooRealVar("kSM", "kSM", 1.0)
        cvars = {}
        cfg = ROOT.RooLagrangianMorphFunc.Config()
        cfg.fileName = INPUT
        cfg.observableName = OBS
        cfg.folderNames = samples
        for o in ops:
            v = ROOT.RooRealVar(o, o, 0.0, -10.0, 10.0)
            v.setAttribute("NewPhysics", True)
            cvars[o] = v
            cfg.couplings.add(v)
        cfg.couplings.add(kSM)
        t0 = time.perf_counter()
        mf = ROOT.RooLagrangianMorphFunc("mf%d" % nops, "mf", cfg)
        mf.setParameter(ops[0], 0.0)
        _ = mf.createTH1("warm")
        t_build = time.perf_counter() - t0
        cond = mf.getCondition()
        pts = [{o: 0.0 for o in ops}, {o: 1.0 for o in ops}] + [
            {o: float(x) for o, x in zip(ops, rng.uniform(-2, 2, nops))} for _ in range(5)]
        recs = []
        for p in pts:
            for o, v in p.items():
                mf.setParameter(o, v)
            h = mf.createTH1("h")
            y_root = np.array([h.GetBinContent(i) for i in range(1, h.GetNbinsX() + 1)])
            y_poly = poly(ops, p)
            recs.append({"point": p, "root": y_root.tolist(), "poly": y_poly.tolist(),
                         "max_rel_diff": float(np.max(np.abs(y_root - y_poly) / np.maximum(1e-9, np.abs(y_poly))))})
        # timing: all bins via createTH1 at N random points
        P = rng.uniform(-2, 2, (N_TIMING, nops))
        t0 = time.perf_counter()
        for row in P:
            for o, v in zip(ops, row):
                mf.setParameter(o, float(v))
            _ = mf.createTH1("t%d" % nops)
        t_eval = (time.perf_counter() - t0) / N_TIMING
        # timing: getVal at one bin centre
        mfobs = mf.getObservable()
        t0 = time.perf_counter()
        for row in P:
            for o, v in zip(ops, row):
                cvars[o].setVal(float(v))
            mfobs.setVal(h0.GetBinCenter(5))
            _ = mf.getVal()
        t_getval = (time.perf_counter() - t0) / N_TIMING
        t0 = time.perf_counter()
        for row in P:
            _ = poly(ops, dict(zip(ops, row)))
        t_np = (time.perf_counter() - t0) / N_TIMING
        # Asimov shape-only fit (as rf712)
        truth = {o: 0.3 * (i + 1) / nops for i, o in enumerate(ops)}
        for o, v in truth.items():
            mf.setParameter(o, v)
        ph = mf.createTH1("pseudo")
        dh = ROOT.RooDataHist("dh", "dh", ROOT.RooArgList(mfobs), ph)
        for o in ops:
            mf.setParameter(o, 0.0)
            cvars[o].setError(0.1)
        model = ROOT.RooWrapperPdf("wp%d" % nops, "wp", mf)
        t0 = time.perf_counter()
        fr = model.fitTo(dh, ROOT.RooFit.SumW2Error(True), ROOT.RooFit.Save(True), ROOT.RooFit.PrintLevel(-1))
        t_fit = time.perf_counter() - t0
        fitted = {o: cvars[o].getVal() for o in ops}
        results["configs"].append({
            "n_ops": nops, "ops": ops, "samples": samples, "n_samples": len(samples),
            "condition_number": cond, "t_build_s": t_build, "t_createTH1_per_point_s": t_eval,
            "t_getVal_per_point_s": t_getval, "t_numpy_poly_per_point_s": t_np,
            "fit": {"truth": truth, "fitted": fitted, "status": fr.status(), "t_fit_s": t_fit,
                    "nll_evals_note": "RooWrapperPdf shape-only fit to Asimov RooDataHist"},
            "checks": recs})
        print(OBS, nops, "ops: n_samples", len(samples), "cond=%.3g" % cond, "build %.3fs" % t_build,
              "createTH1 %.2e s" % t_eval, "getVal %.2e s" % t_getval, "numpy %.2e s" % t_np,
              "fit %.2fs status %d" % (t_fit, fr.status()),
              "maxreldiff %.2e" % max(r["max_rel_diff"] for r in recs), flush=True)
    f.Close()
    return results


def meta(OBS, t_total):
    return {
        "root_version": ROOT.gROOT.GetVersion(),
        "python_package": "root (PyPI) 0.1a12 wheel",
        "input_file": "input_histos_rf_lagrangianmorph.root (root-project/root tutorials/roofit)",
        "input_sha256": sha256(INPUT),
        "seed": SEED,
        "rng": "numpy.random.default_rng(seed) per observable; per n_ops: 5 x n_ops check points, then "
               "%d x n_ops timing points, uniform in [-2,2]" % N_TIMING,
        "convention": "root = RooLagrangianMorphFunc::createTH1 contents (float32); poly = T[SM_NPsq0] + "
                      "sum_X (c_X T[X_NPsq1] + c_X^2 T[X_NPsq2]) + sum_{A<B} c_A c_B (T[A_B_NPsq2] - "
                      "T[A_NPsq2] - T[B_NPsq2]) in float64; kSM = 1; bins 1..nbins (no under/overflow)",
        "generator": "Tests/References/root/make_root_morph_refs.py",
        "wall_time_s": t_total,
    }


def check_ptv():
    t0 = time.perf_counter()
    mine = run_observable("pTV")
    print("pTV rerun wall time %.1fs" % (time.perf_counter() - t0))
    ref = json.load(open(PTV_REF))
    worst = 0.0
    worst_pt = 0.0
    for cm, cr in zip(mine["configs"], ref["configs"]):
        assert cm["ops"] == cr["ops"] and cm["samples"] == cr["samples"]
        for rm, rr in zip(cm["checks"], cr["checks"]):
            for o in rr["point"]:
                worst_pt = max(worst_pt, abs(rm["point"][o] - rr["point"][o]))
            for key in ("root", "poly"):
                a, b = np.array(rm[key]), np.array(rr[key])
                worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(1e-9, np.abs(b)))))
        print("n_ops=%d cond mine %g ref %g" % (cm["n_ops"], cm["condition_number"], cr["condition_number"]))
    print("pTV reproduction: max |point diff| = %.3g, max relative histogram diff (root & poly) = %.3g"
          % (worst_pt, worst))
    return worst


def main(argv):
    if "--check-pTV" in argv:
        worst = check_ptv()
        return 0 if worst < 1e-6 else 1
    obs_list = [a for a in argv if not a.startswith("-")] or DEFAULT_OBS
    for OBS in obs_list:
        t0 = time.perf_counter()
        res = run_observable(OBS)
        res["meta"] = meta(OBS, time.perf_counter() - t0)
        out = os.path.join(HERE, f"root_morph_reference_{OBS}.json")
        atomic_json(res, out)
        print("wrote", out, os.path.getsize(out), "bytes in %.1fs" % res["meta"]["wall_time_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
