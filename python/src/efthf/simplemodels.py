"""pyhf's simple models (``pyhf.simplemodels``): the same specifications, built by efthf."""
from __future__ import annotations

from typing import Any, Sequence

from .model import Model


def uncorrelated_background(signal: Sequence[float], bkg: Sequence[float], bkg_uncertainty: Sequence[float],
                            batch_size: Any = None) -> Model:
    """Signal (normfactor ``mu``) over a background with one uncorrelated shapesys per bin."""
    if batch_size is not None:
        raise ValueError("efthf models are not batched")
    spec = {"channels": [{"name": "singlechannel", "samples": [
        {"name": "signal", "data": list(signal), "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "background", "data": list(bkg),
         "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": list(bkg_uncertainty)}]},
    ]}]}
    return Model(spec, poi_name="mu")


def correlated_background(signal: Sequence[float], bkg: Sequence[float], bkg_up: Sequence[float], bkg_down: Sequence[float],
                          batch_size: Any = None) -> Model:
    """Signal (normfactor ``mu``) over a background with one correlated histosys."""
    if batch_size is not None:
        raise ValueError("efthf models are not batched")
    spec = {"channels": [{"name": "single_channel", "samples": [
        {"name": "signal", "data": list(signal), "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "background", "data": list(bkg), "modifiers": [
            {"name": "correlated_bkg_uncertainty", "type": "histosys", "data": {"hi_data": list(bkg_up), "lo_data": list(bkg_down)}}]},
    ]}]}
    return Model(spec, poi_name="mu")
