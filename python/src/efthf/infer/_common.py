"""Shared argument handling of efthf.infer (pyhf's init_pars, par_bounds, fixed_params)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ..exceptions import InvalidArgument


def overrides(model: Any, init_pars: Any = None, par_bounds: Any = None, fixed_params: Any = None) -> Dict[str, Any]:
    """The task layer's `overrides` member for pyhf's three optional vectors."""
    out: Dict[str, Any] = {}
    if init_pars is not None:
        out["inits"] = [float(x) for x in np.asarray(init_pars, dtype=float).reshape(-1)]
    if par_bounds is not None:
        out["bounds"] = [[float(lo), float(hi)] for lo, hi in par_bounds]
    if fixed_params is not None:
        out["fixed"] = [bool(x) for x in fixed_params]
    return out


def reject(kwargs: Dict[str, Any], allowed: set, where: str) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InvalidArgument(f"{where}: unknown keyword argument(s) {', '.join(unknown)}")


def scalar(x: Optional[float]) -> np.ndarray:
    return np.asarray(np.nan if x is None else x, dtype=float)
