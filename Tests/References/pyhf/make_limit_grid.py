"""Make limit_grid_patchset.json and limit_grid.json: an exclusion grid on pyhf's example and
pyhf 0.7.6's CLs and upper limits for each of its patches.

Rerun (needs pyhf==0.7.6, scipy; reads /work/shared/reference or $EFTHF_REFERENCE_DIR):

    python3 make_limit_grid.py      # about 20 s

The grid: reference workspace 01 (pyhf's example_bkgonly.json, POI SigXsecOverSM in [0, 3]) with
a patch set of SCALES signal hypotheses, label "xsec_scale": patch signal_x<k> (0.1 -> signal_x0p1) sets the signal
sample's yields to k × [20, 10] and syst1's normsys to hi 1.2 / lo 0.8 (as the published patch).
For each patch: pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde",
return_expected_set=True) -> cls_obs, cls_exp (5, ascending; [2] median), and
pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05) -> toms748
between the POI's suggested bounds; where pyhf raises (no sign change of CLs - 0.05 inside the
bounds), the exception's type and message are recorded instead. Backend numpy with
scipy_optimizer(tolerance=1e-10), as make_fit_references.py. This is what
`efthf limit example_bkgonly.json --patchset limit_grid_patchset.json` computes per patch.
"""
import json
import os
import time

import pyhf

import _common as C

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "limit_grid.json")
PATCHSET = os.path.join(HERE, "limit_grid_patchset.json")
SCALES = [0.1, 0.5, 1, 2, 4]


def make_patchset(bkg_spec):
    patches = []
    for k in SCALES:
        name = "signal_x" + str(k).replace(".", "p")
        patches.append({"metadata": {"name": name, "values": [k]}, "patch": [
            {"op": "replace", "path": "/channels/0/samples/0/data", "value": [20.0 * k, 10.0 * k]},
            {"op": "replace", "path": "/channels/0/samples/0/modifiers/0/data/hi", "value": 1.2},
            {"op": "replace", "path": "/channels/0/samples/0/modifiers/0/data/lo", "value": 0.8},
        ]})
    return {"metadata": {"description": "signal cross-section scales on pyhf's example (efthf test grid)",
                         "digests": {"sha256": pyhf.utils.digest(bkg_spec)}, "labels": ["xsec_scale"],
                         "references": {"hepdata": "ins1234567"}},
            "patches": patches, "version": "1.0.0"}


def main():
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-10))
    bkg_spec = json.load(open(os.path.join(C.REF_DIR, "workspaces", "01_pyhf_example", "example_bkgonly.json")))
    spec = make_patchset(bkg_spec)
    with open(PATCHSET, "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")
    bkg = pyhf.Workspace(bkg_spec)
    patchset = pyhf.PatchSet(spec)
    rows = []
    for patch in patchset.patches:
        t0 = time.perf_counter()
        ws = patchset.apply(bkg, patch.name)
        model = ws.model()
        data = ws.data(model)
        row = {"patch": patch.name, "values": list(patch.values)}
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
        print(patch.name, row, flush=True)
    out = {"description": __doc__.strip().splitlines()[0], "versions": C.versions(),
           "workspace": "workspaces/01_pyhf_example/example_bkgonly.json", "patchset": "limit_grid_patchset.json",
           "measurement": model.config.measurement_name if hasattr(model.config, "measurement_name") else None,
           "poi_value": 1.0, "level": 0.05, "test_stat": "qtilde",
           "optimizer": "scipy_optimizer(tolerance=1e-10)", "rows": rows}
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
