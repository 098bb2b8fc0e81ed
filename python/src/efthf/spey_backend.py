"""A spey backend (spey 0.2.x, arXiv:2307.06996) over efthf's likelihood.

Registered by the entry point ``spey.backend.plugins: efthf``, so that::

    import spey
    model = spey.get_backend("efthf")(background_only_model="BkgOnly.json", signal_patch=patch,
                                      analysis="atlas-susy-2019-08", xsection=0.05)
    model.exclusion_confidence_level()

takes the arguments of spey's pyhf backend (``spey.get_backend("pyhf")``) and gives its numbers,
with efthf's exact gradient for the optimiser. ``background_only_model`` may also be an efthf
workspace with morphing or event-database samples (a path, so that its event databases are found).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from spey import BackendBase, ExpectationType
from spey.base.model_config import ModelConfig

from . import _native
from .exceptions import InvalidArgument
from .model import Model, Workspace

__all__ = ["EFTHFBackend"]

# The lower bound of the POI when negative signal is allowed, as spey's pyhf backend
# (spey_pyhf.data.FullStatisticalModelData.config): max(μ_min, −10).
_POI_LOWER_LIMIT = -10.0


class EFTHFBackend(BackendBase):
    """A full HistFactory likelihood (pyhf 0.7.6 semantics, efthf's extensions) for spey.

    Args:
        signal_patch: a JSON Patch (list of operations) that adds the signal to the background-only
          workspace, as spey's pyhf backend takes it; ``None`` when the workspace already holds it.
        background_only_model: the workspace, as a dict or a file path.
        measurement_name, poi_name, modifier_settings: as ``efthf.Workspace.model`` (pyhf's names).
          Without ``modifier_settings`` the interpolation codes are pyhf's defaults, code4 and
          code4p, which is also what spey's pyhf backend sets.
    """

    name: str = "efthf"
    version: str = _native.version()
    author: str = "efthf developers"
    spey_requires: str = ">=0.2.0,<0.3.0"
    doi: List[str] = []
    arXiv: List[str] = []

    def __init__(self, signal_patch: Optional[Sequence[Dict[str, Any]]] = None,
                 background_only_model: Union[Dict[str, Any], str, os.PathLike, None] = None,
                 measurement_name: Optional[str] = None, poi_name: Optional[str] = None,
                 modifier_settings: Optional[Dict[str, Any]] = None):
        if background_only_model is None:
            raise InvalidArgument("the efthf spey backend needs background_only_model (a workspace dict or a file path)")
        if isinstance(background_only_model, (str, os.PathLike)):
            workspace = Workspace.load(background_only_model)
        else:
            workspace = Workspace(background_only_model)
        options: Dict[str, Any] = {}
        if poi_name is not None:
            options["poi_name"] = poi_name
        if modifier_settings is not None:
            options["modifier_settings"] = modifier_settings
        self._model: Model = workspace.model(measurement_name=measurement_name, patches=[list(signal_patch)] if signal_patch else None,
                                             **options)
        config = self._model.config
        if config.poi_index is None:
            raise InvalidArgument(f"the measurement \"{config.measurement_name}\" has no parameter of interest; spey needs one "
                                  "(give poi_name)")
        self._observed = np.asarray(workspace.data(self._model), dtype=np.float64)
        inits = np.asarray(config.suggested_init(), dtype=np.float64)
        background = inits.copy()
        background[config.poi_index] = 0.0
        signal_plus_background = inits.copy()
        signal_plus_background[config.poi_index] = 1.0
        b = self._model.expected_data(background, include_auxdata=False)
        s = self._model.expected_data(signal_plus_background, include_auxdata=False) - b
        self._background = b
        self._signal = s
        # μ_min = −min_i b_i / s_i over bins with s_i ≠ 0, so that b + μ s ≥ 0 (spey's ModelConfig).
        with_signal = s != 0.0
        self._minimum_poi = float(-np.min(b[with_signal] / s[with_signal])) if np.any(with_signal) else -np.inf
        self._widths = _auxiliary_widths(config)

    @property
    def model(self) -> Model:
        """The efthf model (``efthf.Model``, pyhf's names)."""
        return self._model

    @property
    def is_alive(self) -> bool:
        """Whether the signal (ν at POI = 1 minus ν at POI = 0, at the suggested inits) is non-zero in some bin."""
        return bool(np.any(self._signal != 0.0))

    def config(self, allow_negative_signal: bool = True, poi_upper_bound: Optional[float] = 10.0) -> ModelConfig:
        """Parameters, inits, bounds and fixed flags of the model; the POI's bounds as spey's pyhf
        backend sets them: [max(μ_min, −10), poi_upper_bound] with negative signal allowed,
        [0, poi_upper_bound] without (the model's own upper bound when ``poi_upper_bound`` is falsy)."""
        c = self._model.config
        bounds = [tuple(b) for b in c.suggested_bounds()]
        lower = max(self._minimum_poi, _POI_LOWER_LIMIT) if allow_negative_signal else 0.0
        bounds[c.poi_index] = (lower, bounds[c.poi_index][1] if not poi_upper_bound else float(poi_upper_bound))
        return ModelConfig(poi_index=c.poi_index, minimum_poi=self._minimum_poi, suggested_init=c.suggested_init(),
                           suggested_bounds=bounds, parameter_names=list(c.par_names), suggested_fixed=c.suggested_fixed())

    def _data(self, expected: ExpectationType, data: Optional[Union[List[float], np.ndarray]]) -> np.ndarray:
        """Main then auxiliary data: ``data`` when given; the background-only prediction (ν at
        POI = 0, suggested inits) with the nominal auxiliary data for ``apriori``; else the observed."""
        if data is not None:
            array = np.asarray(data, dtype=np.float64)
            c = self._model.config
            if array.shape != (c.nmaindata + c.nauxdata,):
                raise InvalidArgument(f"data has shape {array.shape}; the model takes {c.nmaindata} main and {c.nauxdata} "
                                      f"auxiliary values ({c.nmaindata + c.nauxdata})")
            return array
        if expected == ExpectationType.apriori:
            return np.concatenate([self._background, np.asarray(self._model.config.auxdata, dtype=np.float64)])
        return self._observed

    def expected_data(self, pars: List[float]) -> List[float]:
        """Main and auxiliary expected data at ``pars`` (pyhf's ``Model.expected_data``)."""
        return self._model.expected_data(pars).tolist()

    def get_logpdf_func(self, expected: ExpectationType = ExpectationType.observed,
                        data: Optional[Union[List[float], np.ndarray]] = None) -> Callable[[np.ndarray], float]:
        """``pars ↦ ln L(pars | data)`` with every constant term (pyhf's ``logpdf``)."""
        model, values = self._model, self._data(expected, data)
        return lambda pars: model.logpdf_and_grad(pars, values, gradient=False)[0]

    def get_objective_function(self, expected: ExpectationType = ExpectationType.observed,
                               data: Optional[Union[List[float], np.ndarray]] = None,
                               do_grad: bool = True) -> Callable[[np.ndarray], Union[float, Tuple[float, np.ndarray]]]:
        """−2 ln L (the objective spey's pyhf backend minimises), with its exact gradient when ``do_grad``."""
        model, values = self._model, self._data(expected, data)
        if do_grad:
            return lambda pars: model.nll_and_grad(pars, values)
        return lambda pars: -2.0 * model.logpdf_and_grad(pars, values, gradient=False)[0]

    def get_hessian_logpdf_func(self, expected: ExpectationType = ExpectationType.observed,
                                data: Optional[Union[List[float], np.ndarray]] = None) -> Callable[[np.ndarray], np.ndarray]:
        """∂² ln L/∂p_i∂p_j by central differences of the exact gradient, symmetrised:

            H_ij ≈ [g_j(p + h_i e_i) − g_j(p − h_i e_i)] / (2 h_i),   h_i = 10⁻⁵ · max(1, |p_i|)

        (truncation O(h²), rounding O(ε/h) relative: about 10⁻¹⁰ of the curvature)."""
        model, values = self._model, self._data(expected, data)

        def hessian(pars: np.ndarray) -> np.ndarray:
            p = np.asarray(pars, dtype=np.float64)
            h = 1e-5 * np.maximum(1.0, np.abs(p))
            rows = []
            for i in range(p.size):
                up, down = p.copy(), p.copy()
                up[i] += h[i]
                down[i] -= h[i]
                rows.append((model.logpdf_and_grad(up, values)[1] - model.logpdf_and_grad(down, values)[1]) / (2.0 * h[i]))
            matrix = np.array(rows)
            return 0.5 * (matrix + matrix.T)

        return hessian

    def get_sampler(self, pars: np.ndarray) -> Callable[..., np.ndarray]:
        """Pseudo-data at ``pars``: main bins Poisson(ν_b); auxiliary data Normal(θ, σ) for
        Gaussian constraints and Poisson(τγ) for Poisson ones, as pyhf's ``Model.make_pdf(pars).sample``.
        The sampler takes ``(number_of_samples, include_auxiliary=True)`` and numpy's global RNG."""
        expected = self._model.expected_data(pars)
        nmain = self._model.config.nmaindata
        main, auxiliary = expected[:nmain], expected[nmain:]
        normal, sigma = self._widths

        def sampler(number_of_samples: int, include_auxiliary: bool = True) -> np.ndarray:
            n = int(number_of_samples)
            samples = np.random.poisson(main, size=(n, main.size)).astype(np.float64)
            if not include_auxiliary:
                return samples
            aux = np.where(normal, np.random.normal(auxiliary, np.where(normal, sigma, 1.0), size=(n, auxiliary.size)),
                           np.random.poisson(np.where(normal, 0.0, auxiliary), size=(n, auxiliary.size)))
            return np.concatenate([samples, aux], axis=1)

        return sampler


def _auxiliary_widths(config: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(is the constraint normal, σ) per auxiliary datum, in the model's auxiliary-data order
    (the constrained parameter sets in ``par_order``, as pyhf's ``config.auxdata``)."""
    normal: List[bool] = []
    sigma: List[float] = []
    auxdata: List[float] = []
    for name in config.par_order:
        s = config.param_set(name)
        if not s.constrained:
            continue
        is_normal = s.pdf_type == "normal"
        normal += [is_normal] * len(s.auxdata)
        sigma += list(s.widths) if is_normal else [0.0] * len(s.auxdata)
        auxdata += s.auxdata
    if auxdata != list(config.auxdata):
        raise InvalidArgument("the model's auxiliary data are not in the order of its constrained parameter sets")
    return np.array(normal, dtype=bool), np.array(sigma, dtype=np.float64)
