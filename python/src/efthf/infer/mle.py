"""Maximum-likelihood fits with pyhf's signatures (``pyhf.infer.mle``)."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from . import _common

__all__ = ["fit", "fixed_poi_fit", "twice_nll"]

# Keywords of pyhf's optimisers that do not change the result here (efthf minimises with its own
# exact-gradient quasi-Newton method to an EDM far below Minuit's default).
_OPTIMIZER_KEYWORDS = {"do_grad", "do_stitch", "maxiter", "tolerance", "strategy", "solver_options", "verbose"}


def twice_nll(pars: Any, data: Any, pdf: Any) -> np.ndarray:
    """−2 ln L(pars | data), as an array of shape (1,)."""
    return -2.0 * pdf.logpdf(pars, data)


def _fit_report(data: Any, pdf: Any, init_pars: Any, par_bounds: Any, fixed_params: Any, uncertainties: bool) -> Dict[str, Any]:
    options = {"uncertainties": uncertainties, "overrides": _common.overrides(pdf, init_pars, par_bounds, fixed_params)}
    return pdf.run("fit", options, data=data)


def fit(data: Any, pdf: Any, init_pars: Any = None, par_bounds: Any = None, fixed_params: Any = None,
        return_uncertainties: bool = False, return_correlations: bool = False, return_fitted_val: bool = False,
        **kwargs: Any) -> Any:
    """The maximum-likelihood estimate of every free parameter (pyhf's ``mle.fit``).

    Returns the best-fit vector; with ``return_uncertainties`` an array of shape (npars, 2) of
    value and uncertainty (0 for fixed parameters) as Minuit's HESSE reports it, so through its
    sine transformation of bounded parameters, as pyhf's minuit optimizer; then, as pyhf, the correlation matrix
    with ``return_correlations`` and −2 ln L at the minimum with ``return_fitted_val``.
    Raises ``FailedMinimization`` when the fit does not converge.
    """
    _common.reject(kwargs, _OPTIMIZER_KEYWORDS, "efthf.infer.mle.fit")
    report = _fit_report(data, pdf, init_pars, par_bounds, fixed_params, return_uncertainties or return_correlations)
    if not report["converged"]:
        from ..exceptions import FailedMinimization
        raise FailedMinimization(f"the fit did not converge: {report['status']} (2NLL = {report['twice_nll']}, EDM = {report['edm']})")
    params = report["parameters"]
    values = np.array([p["value"] for p in params.values()])
    if return_uncertainties:
        sigmas = np.array([0.0 if p.get("minuit_uncertainty") is None else p["minuit_uncertainty"] for p in params.values()])
        values = np.stack([values, sigmas], axis=1)
    returns = [values]
    if return_correlations:
        returns.append(np.array(report["correlations"]))
    if return_fitted_val:
        returns.append(np.asarray(report["twice_nll"]))
    return tuple(returns) if len(returns) > 1 else returns[0]


def fixed_poi_fit(poi_val: float, data: Any, pdf: Any, init_pars: Any = None, par_bounds: Any = None, fixed_params: Any = None,
                  **kwargs: Any) -> Any:
    """The fit with the POI held at ``poi_val`` (pyhf's ``mle.fixed_poi_fit``)."""
    if pdf.config.poi_index is None:
        from ..exceptions import InvalidArgument
        raise InvalidArgument("the model has no POI; a fixed-POI fit needs one")
    init = np.array(pdf.config.suggested_init() if init_pars is None else init_pars, dtype=float)
    fixed = list(pdf.config.suggested_fixed() if fixed_params is None else fixed_params)
    init[pdf.config.poi_index] = poi_val
    fixed[pdf.config.poi_index] = True
    return fit(data, pdf, init, par_bounds, fixed, **kwargs)
