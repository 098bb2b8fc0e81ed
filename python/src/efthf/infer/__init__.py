"""Inference with pyhf's signatures (``pyhf.infer``): ``hypotest``, ``mle``, ``intervals``.

Every number is computed by efthf's task layer; these functions only translate arguments and
results.
"""
from __future__ import annotations

from typing import Any, List

import numpy as np

from . import _common, intervals, mle
from ..exceptions import InvalidArgument

__all__ = ["hypotest", "intervals", "mle"]

_HYPOTEST_KEYWORDS = {"test_stat", "ntoys", "track_progress", "seed"}


def hypotest(poi_test: float, data: Any, pdf: Any, init_pars: Any = None, par_bounds: Any = None, fixed_params: Any = None,
             calctype: str = "asymptotics", return_tail_probs: bool = False, return_expected: bool = False,
             return_expected_set: bool = False, return_calculator: bool = False, **kwargs: Any) -> Any:
    """The CLs test of POI = ``poi_test`` (pyhf's ``infer.hypotest``; Cowan et al.,
    arXiv:1007.1727), asymptotic or with toys (``calctype="toybased"``, ``ntoys``, ``seed``).

    Returns CLs_obs, then as pyhf [CLsb, CLb] with ``return_tail_probs``, the median expected
    CLs with ``return_expected``, the five expected CLs (−2σ … +2σ of the background-only
    distribution, ascending) with ``return_expected_set``. ``test_stat``: "qtilde" (default),
    "q", or "q0" (discovery: p0 and the expected p0 band, at ``poi_test`` = 0).
    """
    _common.reject(kwargs, _HYPOTEST_KEYWORDS, "efthf.infer.hypotest")
    if return_calculator:
        raise InvalidArgument("efthf.infer.hypotest: return_calculator is not available; the calculators run inside efthf")
    test_stat = kwargs.get("test_stat", "qtilde")
    overrides = _common.overrides(pdf, init_pars, par_bounds, fixed_params)
    if test_stat == "q0":
        if poi_test != 0:
            raise InvalidArgument(f"the q0 test is of POI = 0, not {poi_test}")
        if calctype != "asymptotics":
            raise InvalidArgument("the q0 test is asymptotic only in efthf")
        r = pdf.run("significance", {"overrides": overrides}, data=data)
        observed, tails, expected = r["p0"], [r["p0"]], r["p0_expected"]
    else:
        if calctype == "asymptotics":
            r = pdf.run("hypotest", {"poi_value": float(poi_test), "test_statistic": test_stat, "overrides": overrides}, data=data)
        elif calctype == "toybased":
            if overrides:
                raise InvalidArgument("toy-based hypotests take the model's suggested inits, bounds and fixed parameters")
            r = pdf.run("toys", {"poi_value": float(poi_test), "test_statistic": test_stat, "toys": int(kwargs.get("ntoys", 2000)),
                                 "seed": int(kwargs.get("seed", 0))}, data=data)
        else:
            raise InvalidArgument(f"calctype must be \"asymptotics\" or \"toybased\", not \"{calctype}\"")
        observed, tails, expected = r["cls_obs"], [r["clsb_obs"], r["clb_obs"]], r["cls_exp"]
    returns: List[Any] = [np.asarray(observed)]
    if return_tail_probs:
        returns.append([np.asarray(t) for t in tails])
    band = [np.asarray(e) for e in expected]
    if return_expected_set:
        if return_expected:
            returns.append(band[2])
        returns.append(band)
    elif return_expected:
        returns.append(band[2])
    return tuple(returns) if len(returns) > 1 else returns[0]
