"""Make goodness_of_fit.json: the saturated-model goodness of fit of pyhf 0.7.6 fits, for efthf fit's
`goodness_of_fit` (Sources/EFTHF/Tasks/FitDiagnostics.swift).

Rerun (needs pyhf==0.7.6, iminuit, scipy; ~5 s):

    python3 make_goodness_of_fit.py

For each workspace below (paths relative to the repository), the first measurement:
  - best fit: pyhf.infer.mle.fit(data, model, return_fitted_val=True) with the minuit optimizer
    (tolerance 1e-6) -> twice_nll = 2 NLL(θ̂) (pyhf's fitted value is already -2 ln L).
  - the saturated model, written out independently of pyhf's Poisson (cabinetry's
    fit._goodness_of_fit formula):
        2NLL_sat = -2 [ Σ_b (n_b ln n_b - n_b - lnΓ(n_b + 1)) + model.constraint_logpdf(auxdata, suggested_init) ]
    with 0 ln 0 = 0 (scipy.special.xlogy, gammaln).
  - twice_delta_nll = twice_nll - 2NLL_sat; ndf = main bins - free unconstrained parameters
    (every component of a non-fixed parameter set without a constraint: normfactor, shapefactor);
    p_value = scipy.stats.chi2.sf(twice_delta_nll, ndf).
"""
import json
import os

import numpy as np
import pyhf
import scipy
from scipy import special, stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CASES = [
    "Data/example/workspace.json",
    "Tests/References/pyhf/edge_cases/j_sorting.json",
    "Tests/References/pyhf/edge_cases/h_continuous_data.json",
    "Tests/References/pyhf/edge_cases/a_shared_normsys_histosys.json",
]


def case(path):
    ws = pyhf.Workspace(json.load(open(os.path.join(ROOT, path))))
    model = ws.model()
    data = np.asarray(ws.data(model), dtype=float)
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-6))
    _, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    twice_nll = float(twice_nll)
    main = data[: model.config.nmaindata]
    aux = data[model.config.nmaindata:]
    poisson = float(np.sum(special.xlogy(main, main) - main - special.gammaln(main + 1)))
    constraint = float(model.constraint_logpdf(aux, np.asarray(model.config.suggested_init())))
    saturated = -2 * (poisson + constraint)
    fixed = model.config.suggested_fixed()
    free_unconstrained = 0
    for name in model.config.par_order:
        s = model.config.param_set(name)
        if s.constrained:
            continue
        sl = model.config.par_slice(name)
        free_unconstrained += sum(1 for f in fixed[sl] if not f)
    ndf = int(model.config.nmaindata - free_unconstrained)
    delta = twice_nll - saturated
    return {
        "workspace": path,
        "twice_nll": twice_nll,
        "saturated_twice_nll": saturated,
        "twice_delta_nll": delta,
        "ndf": ndf,
        "p_value": float(stats.chi2.sf(delta, ndf)),
    }


if __name__ == "__main__":
    out = {
        "description": "saturated-model goodness of fit of pyhf fits; see make_goodness_of_fit.py",
        "versions": {"pyhf": pyhf.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "cases": [case(p) for p in CASES],
    }
    with open(os.path.join(HERE, "goodness_of_fit.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for c in out["cases"]:
        print(c)
