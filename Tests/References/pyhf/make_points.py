"""Make points.json: pyhf 0.7.6 logpdf and expected data at extra parameter points of the 8 real workspaces.

Rerun (needs pyhf==0.7.6, numpy, scipy; reads /work/shared/reference or $EFTHF_REFERENCE_DIR):

    python3 make_points.py            # writes points.json next to this script (~1 min)

For each case of make_reference.py's CASES (patch applied by make_reference.load, i.e. exactly as
reference-values.json was made) it records the workspace/patch/measurement, `par_names`
(model.config.par_names, pyhf's `name[i]` expansion), `par_order` with sizes and types, the main
observed data (ws.data(model, include_auxdata=False)) and `auxdata` (model.config.auxdata), and at
each point: `pars` by parameter name ({name: [values]}), `logpdf` = model.logpdf(pars, data)[0]
(full log-likelihood with all constants, default interpolation code4/code4p), `expected_main` =
model.expected_data(pars, include_auxdata=False) and `expected_aux` = model.expected_auxdata(pars).

Points per case (rng = numpy.random.default_rng([SEED, case_index]), case_index 0..7 in CASES order):
  - 5 points "random": make_reference.random_point (free params within ±1 of init, or [0.7, 1.3]
    for init-1 params with lower bound >= 0, intersected with the bounds);
  - 2 points "wide": _common.wide_point (normsys/histosys alphas in [-2.5, 2.5], gammas in
    [0.5, 1.5], normfactors in [0, 3], lumi within its bounds; all within the suggested bounds),
    redrawn until logpdf is finite; the first non-finite draw, if any, is kept as kind
    "wide_nonfinite" (a negative expected rate makes pyhf's logpdf NaN; written as the string "nan");
  - the suggested init ("init") and the 3 points of reference-values.json ("reference_values"),
    whose logpdf is checked to reproduce reference-values.json exactly (`sanity` block).
Non-finite numbers are written as the strings "nan"/"inf"/"-inf" (strict JSON).
"""
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import json  # noqa: E402

import numpy as np  # noqa: E402
import pyhf  # noqa: E402

import _common as C  # noqa: E402

SEED = 20260315
N_RANDOM = 5
N_WIDE = 2
OUT = os.path.join(C.HERE, "points.json")


def point_entry(model, data_full, x, kind):
    return {
        "kind": kind,
        "pars": C.by_name(model, x),
        "logpdf": float(model.logpdf(x, data_full)[0]),
        "expected_main": C.floats(model.expected_data(x, include_auxdata=False)),
        "expected_aux": C.floats(model.expected_auxdata(x)),
    }


def main():
    pyhf.set_backend("numpy")
    mr = C.load_make_reference()
    refvals = json.load(open(os.path.join(C.REF_DIR, "reference-values.json")))
    ref_by_case = {c["name"]: c for c in refvals["cases"]}
    out = {
        "description": "pyhf logpdf / expected data at extra points of the real workspaces; see make_points.py",
        "versions": C.versions(),
        "seed": SEED,
        "rng": "numpy.random.default_rng([seed, case_index]); 5 random_point draws then 2 wide_point draws",
        "interpolation": "pyhf Model defaults: normsys code4, histosys code4p",
        "logpdf": "model.logpdf(pars, data)[0], data = main + auxdata, all constant terms included",
        "cases": [],
    }
    all_ok = True
    for idx, case in enumerate(mr.CASES):
        t0 = time.perf_counter()
        ws, label = mr.load(case)
        model = ws.model()
        main_data = C.floats(ws.data(model, include_auxdata=False))
        data_full = ws.data(model)
        info = C.case_info(mr, case)
        info["patch_name"] = C.resolved_patch_name(label) or info["patch_name"]
        entry = dict(info)
        entry.update({
            "patch_label": label,
            "measurement": ws.get_measurement()["name"],
            "poi": model.config.poi_name,
            "par_order": C.par_order_info(model),
            "par_names": list(model.config.par_names),
            "n_main_bins": int(model.config.nmaindata),
            "n_auxdata": int(model.config.nauxdata),
            "main_data": main_data,
            "auxdata": C.floats(model.config.auxdata),
            "points": [],
        })
        rng = np.random.default_rng([SEED, idx])
        init = np.array(model.config.suggested_init(), dtype=float)
        entry["points"].append(point_entry(model, data_full, init, "init"))
        for _ in range(N_RANDOM):
            entry["points"].append(point_entry(model, data_full, mr.random_point(model, rng), "random"))
        n_wide, tries, kept_nonfinite = 0, 0, False
        while n_wide < N_WIDE:
            tries += 1
            if tries > 200:
                raise RuntimeError(f"{case[0]}: no finite wide point in 200 draws")
            p = point_entry(model, data_full, C.wide_point(model, rng), "wide")
            if np.isfinite(p["logpdf"]):
                entry["points"].append(p)
                n_wide += 1
            elif not kept_nonfinite:  # keep one NaN example (negative expected rate), then redraw
                p["kind"] = "wide_nonfinite"
                entry["points"].append(p)
                kept_nonfinite = True
        entry["wide_draws"] = tries
        # sanity: reproduce reference-values.json
        ref = ref_by_case[case[0]]
        diffs = []
        for rp in ref["logpdf_at_points"]:
            x = C.from_name(model, rp["pars"])
            p = point_entry(model, data_full, x, "reference_values")
            diffs.append(p["logpdf"] - rp["logpdf"])
            entry["points"].append(p)
        init_diff = float(model.logpdf(init, data_full)[0]) - ref["logpdf_at_init"]
        exact = all(d == 0.0 for d in diffs) and init_diff == 0.0
        all_ok &= exact
        entry["sanity"] = {
            "reference_values_logpdf_diffs": diffs,
            "reference_values_init_diff": init_diff,
            "reproduces_reference_values_exactly": exact,
        }
        nonfinite = [p["kind"] for p in entry["points"] if not np.isfinite(p["logpdf"])]
        if nonfinite:
            entry["sanity"]["nonfinite_logpdf_points"] = nonfinite
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        out["cases"].append(entry)
        print(f"{case[0]}: {len(entry['points'])} points, ref exact={exact}, {entry['seconds']} s", file=sys.stderr)
    out["all_reproduce_reference_values_exactly"] = all_ok
    C.write_json_atomic(OUT, out, indent=None)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
