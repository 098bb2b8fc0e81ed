"""Make limit_grid.json: pyhf 0.7.6 CLs and upper limits for patches of a published exclusion grid.

Rerun (needs pyhf==0.7.6, scipy; reads /work/shared/reference or $EFTHF_REFERENCE_DIR):

    python3 make_limit_grid.py      # a few minutes on 2 cores

Workspace 06 (ATLAS SUSY-2019-08, 1Lbb; BkgOnly.json + patchset.json, labels m1, m2). For each
patch of PATCHES: pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde",
return_expected_set=True) -> cls_obs, cls_exp (5, ascending; [2] median), and
pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05) -> toms748
between the POI's suggested bounds; where pyhf raises (no sign change of CLs - 0.05 inside the
bounds), the exception's type and message are recorded instead. Backend numpy with
scipy_optimizer(tolerance=1e-10), as make_fit_references.py. This is what efthf's
`efthf limit BkgOnly.json --patchset patchset.json --patches …` computes per patch.
"""
import json
import os
import time

import numpy as np
import pyhf

import _common as C

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "limit_grid.json")
CASE = "06_atlas_susy2019_08_1Lbb"
PATCHES = ["C1N2_Wh_hbb_300_150", "C1N2_Wh_hbb_500_200", "C1N2_Wh_hbb_1000_0"]


def main():
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-10))
    folder = os.path.join(C.REF_DIR, "workspaces", CASE)
    bkg = pyhf.Workspace(json.load(open(os.path.join(folder, "BkgOnly.json"))))
    patchset = pyhf.PatchSet(json.load(open(os.path.join(folder, "patchset.json"))))
    rows = []
    for name in PATCHES:
        t0 = time.perf_counter()
        ws = patchset.apply(bkg, name)
        model = ws.model()
        data = ws.data(model)
        row = {"patch": name, "values": list(patchset[name].values)}
        obs, exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected_set=True)
        row["cls_obs"] = float(obs)
        row["cls_exp"] = C.floats(exp)
        try:
            lim_obs, lim_exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05)
            row["limit_obs"] = float(lim_obs)
            row["limit_exp"] = C.floats(lim_exp)
        except Exception as e:  # noqa: BLE001 - the failure is the reference
            row["limit_error"] = f"{type(e).__name__}: {e}"
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(name, row, flush=True)
    out = {"description": __doc__.strip().splitlines()[0], "versions": C.versions(),
           "workspace": f"workspaces/{CASE}", "poi_value": 1.0, "level": 0.05, "test_stat": "qtilde",
           "optimizer": "scipy_optimizer(tolerance=1e-10)", "rows": rows}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
