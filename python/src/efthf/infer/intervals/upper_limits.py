"""Upper limits with pyhf's signatures (``pyhf.infer.intervals.upper_limits``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _common
from ...exceptions import InvalidArgument

__all__ = ["upper_limit", "linear_grid_scan"]


def _limit(data: Any, model: Any, scan: Any, level: float, init_pars: Any = None, par_bounds: Any = None,
           fixed_params: Any = None, test_stat: str = "qtilde", calctype: str = "asymptotics", **kwargs: Any) -> dict:
    if kwargs:
        raise InvalidArgument(f"upper_limit: unknown keyword argument(s) {', '.join(sorted(kwargs))}")
    if calctype != "asymptotics":
        raise InvalidArgument("efthf's upper limits are asymptotic")
    options = {"level": float(level), "test_statistic": test_stat,
               "overrides": _common.overrides(model, init_pars, par_bounds, fixed_params)}
    if scan is not None:
        options["scan"] = [float(x) for x in np.asarray(scan, dtype=float).reshape(-1)]
    return model.run("limit", options, data=data)


def upper_limit(data: Any, model: Any, scan: Any = None, level: float = 0.05, return_results: bool = False,
                **hypotest_kwargs: Any) -> Any:
    """The CLs upper limit on the POI at ``level``, observed and the five expected limits
    (pyhf's ``upper_limit``): by root finding when ``scan`` is None (pyhf's toms748_scan; efthf
    solves to 10⁻⁶ relative), otherwise by linear interpolation between hypotests on the scan
    (pyhf's ``linear_grid_scan``). With ``return_results`` (needs a scan) also
    ``(scan, [(CLs_obs, [CLs_exp…]) per point])``."""
    if return_results and scan is None:
        raise InvalidArgument("return_results needs a scan: efthf's root finding does not keep its intermediate hypotests")
    r = _limit(data, model, scan, level, **hypotest_kwargs)
    observed, expected = np.asarray(r["observed"]), np.asarray(r["expected"])
    if return_results:
        results = [(np.asarray(h["cls_obs"]), [np.asarray(e) for e in h["cls_exp"]]) for h in r["scan"]]
        return observed, expected, (np.asarray(scan, dtype=float), results)
    return observed, expected


def linear_grid_scan(data: Any, model: Any, scan: Any, level: float = 0.05, return_results: bool = False, **hypotest_kwargs: Any) -> Any:
    """The limits interpolated on ``scan`` (pyhf's ``linear_grid_scan``)."""
    return upper_limit(data, model, scan, level, return_results, **hypotest_kwargs)
