"""Make exclude_fits.json: pyhf 0.7.6 fits of the bundled example workspace with modifiers removed
(pyhf's Workspace.prune(modifiers=...)), the reference of efthf's `fit --exclude` / FitTask.exclude.

Rerun (needs pyhf==0.7.6, scipy), from anywhere:

    python3 Tests/References/pyhf/make_exclude_fits.py

Each case prunes the modifiers named, builds the model of measurement "VH" with pyhf's defaults,
and fits the observed data (pyhf.infer.mle.fit, numpy backend, scipy_optimizer(tolerance=1e-12)),
optionally with parameters fixed (fixed_params, values set in init_pars). Recorded: 2NLL at the
minimum and the best-fit values by parameter name. The case without exclusions is the contrast:
its numbers differ from every pruned case by far more than the tests' tolerances.
"""
import json
import os

import numpy as np
import pyhf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
WORKSPACE = os.path.join(REPO, "Data", "example", "workspace.json")

CASES = [
    {"exclude": [], "fix": {}},
    {"exclude": ["jes"], "fix": {}},
    {"exclude": ["wjets_xsec", "staterror_SR_pTV"], "fix": {}},
    {"exclude": ["lumi", "sig_theory"], "fix": {"ttbar_norm": 1.1}},
]


def main():
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    with open(WORKSPACE) as f:
        spec = json.load(f)
    out = []
    for case in CASES:
        ws = pyhf.Workspace(spec)
        if case["exclude"]:
            ws = ws.prune(modifiers=case["exclude"])
        model = ws.model(measurement_name="VH")
        data = ws.data(model)
        init = model.config.suggested_init()
        fixed = model.config.suggested_fixed()
        for name, value in case["fix"].items():
            init[model.config.par_slice(name)] = [value]
            fixed[model.config.par_slice(name)] = [True]
        best, twice_nll = pyhf.infer.mle.fit(data, model, init_pars=init, fixed_params=fixed, return_fitted_val=True)
        best = np.asarray(best)
        out.append({
            "exclude": case["exclude"],
            "fix": case["fix"],
            "twice_nll": float(twice_nll),
            "bestfit": {p: [float(x) for x in best[model.config.par_slice(p)]] for p in model.config.par_order},
        })
    with open(os.path.join(HERE, "exclude_fits.json"), "w") as f:
        json.dump({"description": "pyhf 0.7.6 fits of Data/example/workspace.json after Workspace.prune(modifiers=...); see make_exclude_fits.py",
                   "pyhf": pyhf.__version__, "cases": out}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
