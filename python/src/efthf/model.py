"""Workspaces and models with pyhf's names (pyhf.Workspace, pyhf.pdf.Model, model.config)."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from .exceptions import InvalidArgument

JSONLike = Union[Dict[str, Any], str, bytes, os.PathLike]


def _spec_text(spec: Any) -> str:
    if isinstance(spec, (bytes, bytearray)):
        return spec.decode("utf-8")
    if isinstance(spec, str):
        return spec
    try:
        return json.dumps(spec, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"the workspace specification cannot be written as JSON: {e}") from None


class Workspace:
    """A HistFactory workspace (pyhf 1.0.0, or efthf's extension with morphing and
    event-database modifiers), as ``pyhf.Workspace``.

    ``Workspace(spec)`` takes the JSON object (a dict) or its text; ``Workspace.load(path)`` reads a
    file, resolving relative event-database paths against its directory. ``base_directory`` does
    that for a spec given as a dict.
    """

    def __init__(self, spec: Any, base_directory: Optional[Union[str, os.PathLike]] = None, **config_kwargs: Any):
        handle = ctypes.c_void_p()
        base = None if base_directory is None else os.fspath(base_directory)
        _native.call("efthf_workspace_from_json", _native.encode(_spec_text(spec)), _native.encode(base), ctypes.byref(handle))
        self._init(handle, config_kwargs)

    def _init(self, handle: ctypes.c_void_p, config_kwargs: Dict[str, Any]) -> None:
        self._handle = _native.Handle(handle, "efthf_workspace_free")
        self._config_kwargs = dict(config_kwargs)
        self._spec: Optional[Dict[str, Any]] = None

    @classmethod
    def load(cls, path: Union[str, os.PathLike], **config_kwargs: Any) -> "Workspace":
        """Reads a workspace file (relative event-database paths against its directory)."""
        handle = ctypes.c_void_p()
        _native.call("efthf_workspace_from_file", _native.encode(os.fspath(path)), ctypes.byref(handle))
        ws = cls.__new__(cls)
        ws._init(handle, config_kwargs)
        return ws

    @property
    def spec(self) -> Dict[str, Any]:
        """The workspace's JSON as a dict."""
        if self._spec is None:
            self._spec = json.loads(_native.call_string("efthf_workspace_json", self._handle.value))
        return self._spec

    @property
    def measurement_names(self) -> List[str]:
        return [m["name"] for m in self.spec["measurements"]]

    @property
    def channels(self) -> List[str]:
        return sorted(c["name"] for c in self.spec["channels"])

    @property
    def samples(self) -> List[str]:
        return sorted({s["name"] for c in self.spec["channels"] for s in c["samples"]})

    @property
    def modifiers(self) -> List[str]:
        return sorted({m["name"] for c in self.spec["channels"] for s in c["samples"] for m in s["modifiers"]})

    def model(self, measurement_name: Optional[str] = None, patches: Optional[Sequence[Any]] = None, **config_kwargs: Any) -> "Model":
        """The model of a measurement (the first when None), with ``patches`` (JSON Patches, or
        patches of a PatchSet) applied in order; ``config_kwargs`` as pyhf: ``poi_name``,
        ``modifier_settings`` ({"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}})."""
        kwargs = {**self._config_kwargs, **config_kwargs}
        unknown = sorted(set(kwargs) - {"poi_name", "modifier_settings", "validate"})
        if unknown:
            raise InvalidArgument(f"unknown model option(s) {', '.join(unknown)}; efthf takes poi_name and modifier_settings")
        options: Dict[str, Any] = {}
        if measurement_name is not None:
            options["measurement_name"] = measurement_name
        if patches:
            options["patches"] = [_patch_json(p) for p in patches]
        if kwargs.get("poi_name") is not None:
            options["poi_name"] = kwargs["poi_name"]
        if kwargs.get("modifier_settings") is not None:
            options["modifier_settings"] = kwargs["modifier_settings"]
        handle = ctypes.c_void_p()
        _native.call("efthf_workspace_model", self._handle.value, _native.encode(json.dumps(options)), ctypes.byref(handle))
        return Model._from_handle(handle, self)

    def data(self, model: "Model", include_auxdata: bool = True) -> List[float]:
        """The observed data for ``model``: main bins in channel order, then the auxiliary data."""
        return model._observed_data(include_auxdata).tolist()


def _patch_json(patch: Any) -> Any:
    if hasattr(patch, "patch"):  # a pyhf or efthf Patch object
        return list(patch.patch)
    return patch


class _ParamSet:
    """One parameter set of the model, as pyhf's paramsets (inits, bounds, fixed, auxdata)."""

    def __init__(self, entry: Dict[str, Any]):
        self.name: str = entry["name"]
        self.n_parameters: int = entry["count"]
        self.is_scalar: bool = entry["is_scalar"]
        self.suggested_init: List[float] = entry["inits"]
        self.suggested_bounds: List[Tuple[float, float]] = [tuple(b) for b in entry["bounds"]]
        self.suggested_fixed: List[bool] = entry["fixed"]
        self.auxdata: List[float] = entry["auxdata"]
        self.constraint: str = entry["constraint"]
        # σ of each normal constraint, τ of each Poisson one (None when unconstrained).
        self.widths: Optional[List[float]] = entry.get("widths")
        self.pdf_type: Optional[str] = {"constrained_by_normal": "normal", "constrained_by_poisson": "poisson"}.get(entry["constraint"])
        self.constrained: bool = self.pdf_type is not None
        self.modifier_types: List[str] = entry["modifier_types"]
        self.slice = slice(entry["offset"], entry["offset"] + entry["count"])


class ModelConfig:
    """The model's configuration, as ``pyhf.pdf._ModelConfig``."""

    def __init__(self, config: Dict[str, Any]):
        self._config = config
        self.par_names: List[str] = config["par_names"]
        self.par_order: List[str] = config["par_order"]
        self.npars: int = len(self.par_names)
        self.poi_name: Optional[str] = config.get("poi_name")
        self.poi_index: Optional[int] = config.get("poi_index")
        self.channels: List[str] = config["channels"]
        self.channel_nbins: Dict[str, int] = dict(zip(config["channels"], config["channel_nbins"]))
        self.samples: List[str] = config["samples"]
        self.auxdata: List[float] = config["auxdata"]
        self.nmaindata: int = sum(config["channel_nbins"])
        self.nauxdata: int = len(self.auxdata)
        self.measurement_name: str = config["measurement"]
        self.wilson_coefficients: List[str] = config["wilson_coefficients"]
        self.modifier_settings: Dict[str, Dict[str, str]] = {
            "normsys": {"interpcode": config["normsys_interpcode"]},
            "histosys": {"interpcode": config["histosys_interpcode"]},
        }
        self._sets = {e["name"]: _ParamSet(e) for e in config["parameter_sets"]}
        self.parameters: List[str] = sorted(self._sets)

    def suggested_init(self) -> List[float]:
        return list(self._config["suggested_init"])

    def suggested_bounds(self) -> List[Tuple[float, float]]:
        return [tuple(b) for b in self._config["suggested_bounds"]]

    def suggested_fixed(self) -> List[bool]:
        return list(self._config["suggested_fixed"])

    def par_slice(self, name: str) -> slice:
        return self.param_set(name).slice

    def param_set(self, name: str) -> _ParamSet:
        try:
            return self._sets[name]
        except KeyError:
            raise InvalidArgument(f"the model has no parameter set \"{name}\"; it has: {', '.join(self.par_order)}") from None

    def par_map(self) -> Dict[str, Dict[str, Any]]:
        return {n: {"slice": s.slice, "paramset": s} for n, s in self._sets.items()}


class Model:
    """A HistFactory model with efthf's extensions, as ``pyhf.pdf.Model``: ``logpdf``,
    ``expected_data``, ``config``; plus ``logpdf_and_grad`` with the exact gradient.

    ``Model(spec, poi_name="mu")`` builds a model from a pyhf model spec ({"channels": [...]}) as
    ``pyhf.Model`` does; ``Workspace.model()`` is the usual way.
    """

    def __init__(self, spec: Dict[str, Any], poi_name: Optional[str] = "mu", modifier_settings: Optional[Dict[str, Any]] = None,
                 **kwargs: Any):
        if not isinstance(spec, dict) or "channels" not in spec:
            raise InvalidArgument("Model(spec) takes a pyhf model specification {\"channels\": [...]}")
        channels = spec["channels"]
        workspace = {
            "channels": channels,
            "observations": [{"name": c["name"], "data": [0.0] * len(c["samples"][0]["data"])} for c in channels],
            "measurements": [{"name": "Measurement", "config": {"poi": poi_name or "", "parameters": spec.get("parameters", [])}}],
            "version": "1.0.0",
        }
        ws = Workspace(workspace, base_directory=kwargs.pop("base_directory", None))
        model = ws.model(modifier_settings=modifier_settings)
        self.__dict__.update(model.__dict__)
        self.spec = spec

    @classmethod
    def _from_handle(cls, handle: ctypes.c_void_p, workspace: Workspace) -> "Model":
        model = cls.__new__(cls)
        model._handle = _native.Handle(handle, "efthf_model_free")
        model._workspace = workspace
        model.config = ModelConfig(_native.call_json("efthf_model_config", handle))
        model._data_cache = None
        model.spec = {"channels": [c for c in workspace.spec["channels"]]}
        return model

    @property
    def workspace(self) -> Workspace:
        return self._workspace

    # Data handles are built once per distinct data vector (they hold Σ ln Γ(n+1)).
    def _data(self, data: Any) -> _native.Handle:
        array = _native.doubles(data, "data")
        key = array.tobytes()
        cached = self._data_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        handle = ctypes.c_void_p()
        _native.call("efthf_data_create", self._handle.value, _native.pointer(array), array.size, ctypes.byref(handle))
        owned = _native.Handle(handle, "efthf_data_free")
        self._data_cache = (key, owned)
        return owned

    def _pars(self, pars: Any) -> np.ndarray:
        array = _native.doubles(pars, "pars")
        if array.size != self.config.npars:
            raise InvalidArgument(f"pars has {array.size} values, the model has {self.config.npars} parameters")
        return array

    def logpdf(self, pars: Any, data: Any) -> np.ndarray:
        """ln L(pars | data) with every constant term, as an array of shape (1,) (pyhf's
        ``Model.logpdf``); ``data`` is main data then auxiliary data."""
        return np.array([self.logpdf_and_grad(pars, data, gradient=False)[0]])

    def logpdf_and_grad(self, pars: Any, data: Any, gradient: bool = True) -> Tuple[float, Optional[np.ndarray]]:
        """(ln L, ∂ln L/∂pars) at ``pars``: the exact gradient in one pass."""
        p = self._pars(pars)
        d = self._data(data)
        value = ctypes.c_double()
        grad = np.empty(p.size) if gradient else None
        _native.call("efthf_model_logpdf", self._handle.value, _native.pointer(p), p.size, d.value, ctypes.byref(value),
                     _native.pointer(grad) if grad is not None else None)
        return value.value, grad

    def nll_and_grad(self, pars: Any, data: Any) -> Tuple[float, np.ndarray]:
        """(−2 ln L, its gradient): the objective minimisers take."""
        value, grad = self.logpdf_and_grad(pars, data)
        return -2.0 * value, -2.0 * grad

    def expected_data(self, pars: Any, include_auxdata: bool = True) -> np.ndarray:
        """The expected main data (and auxiliary data) at ``pars``."""
        p = self._pars(pars)
        n = self.config.nmaindata + (self.config.nauxdata if include_auxdata else 0)
        out = np.empty(n)
        _native.call("efthf_model_expected_data", self._handle.value, _native.pointer(p), p.size, int(include_auxdata),
                     _native.pointer(out), n)
        return out

    def expected_actualdata(self, pars: Any) -> np.ndarray:
        return self.expected_data(pars, include_auxdata=False)

    def expected_auxdata(self, pars: Any) -> np.ndarray:
        return self.expected_data(pars)[self.config.nmaindata:]

    def _observed_data(self, include_auxdata: bool) -> np.ndarray:
        n = self.config.nmaindata + (self.config.nauxdata if include_auxdata else 0)
        out = np.empty(n)
        _native.call("efthf_model_observed_data", self._handle.value, int(include_auxdata), _native.pointer(out), n)
        return out

    def run(self, task: str, options: Optional[Dict[str, Any]] = None, data: Any = None) -> Dict[str, Any]:
        """Runs a task of efthf's task layer (fit, hypotest, limit, significance, toys, scan,
        yields, inspect, export, patchset) with its JSON options, on ``data`` (None: the observed
        data), and returns its report (Specs/bindings.md)."""
        handle = None if data is None else self._data(data).value
        text = json.dumps(options or {}, allow_nan=False)
        return _native.call_json("efthf_model_run", self._handle.value, handle, _native.encode(task), _native.encode(text))
