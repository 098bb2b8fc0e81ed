"""The EFT side of efthf from Python: fits of chosen Wilson coefficients, profile-likelihood
scans, exports to plain pyhf at a point or on a grid (PatchSet). Each calls one task of efthf's
task layer and returns its report (the same JSON as the command line's ``--json``)."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import json
import os

from . import _native
from .exceptions import InvalidArgument
from .model import Model, Workspace

Grid = Mapping[str, Tuple[float, float, int]]


def _model(target: Union[Workspace, Model], measurement_name: Optional[str]) -> Model:
    if isinstance(target, Model):
        return target
    if isinstance(target, Workspace):
        return target.model(measurement_name=measurement_name)
    raise InvalidArgument("expected an efthf.Workspace or efthf.Model")


def _axes(grid: Grid) -> list:
    axes = []
    for name, spec in grid.items():
        try:
            lower, upper, count = spec
        except (TypeError, ValueError):
            raise InvalidArgument(f"grid[{name!r}] must be (lower, upper, count), found {spec!r}") from None
        axes.append({"name": name, "lower": float(lower), "upper": float(upper), "count": int(count)})
    return axes


def wilson_coefficients(target: Union[Workspace, Model], measurement_name: Optional[str] = None) -> list:
    """The Wilson coefficients of the model (parameters of morphing or event-database modifiers)."""
    return list(_model(target, measurement_name).config.wilson_coefficients)


def fit(target: Union[Workspace, Model], ops: Optional[Sequence[str]] = None, fix: Optional[Mapping[str, Any]] = None,
        measurement_name: Optional[str] = None, data: Any = None, uncertainties: bool = True,
        multistart: str = "auto", max_starts: Optional[int] = None, exclude: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """A fit floating the Wilson coefficients ``ops`` (the others at the Standard Model, 0) with
    every nuisance parameter, with each coefficient's ±1σ and 95 % CL profile-likelihood interval
    (``efthf fit --ops … --json``). ``multistart`` ("auto", "none" or "grid") and ``max_starts``
    choose the search for the global minimum and its budget (``--multistart``, ``--max-starts``);
    ``exclude`` names modifiers removed before the fit, as ``Workspace.prune(modifiers=…)``
    (``--exclude``)."""
    options: Dict[str, Any] = {"uncertainties": uncertainties, "multistart": multistart}
    if exclude:
        options["exclude"] = list(exclude)
    if max_starts is not None:
        options["max_starts"] = int(max_starts)
    if ops is not None:
        options["ops"] = list(ops)
    if fix:
        options["fix"] = dict(fix)
    return _model(target, measurement_name).run("fit", options, data=data)


def scan(target: Union[Workspace, Model], grid: Grid, fix: Optional[Mapping[str, Any]] = None, adaptive: bool = False,
         measurement_name: Optional[str] = None, data: Any = None) -> Dict[str, Any]:
    """A profile-likelihood scan on a grid of one or two parameters, ``{"cHW": (-1, 1, 41)}``:
    Δ2NLL at each point, the 68 %/95 % CL intervals (1-D) or contour levels (2-D) (``efthf scan``)."""
    options: Dict[str, Any] = {"axes": _axes(grid), "adaptive": adaptive}
    if fix:
        options["fix"] = dict(fix)
    return _model(target, measurement_name).run("scan", options, data=data)


def ranking(target: Union[Workspace, Model], poi: Optional[str] = None, ops: Optional[Sequence[str]] = None,
            fix: Optional[Mapping[str, Any]] = None, measurement_name: Optional[str] = None, data: Any = None) -> Dict[str, Any]:
    """The impact of each free constrained parameter on ``poi`` (default: the measurement's POI):
    the shift of its best fit with the parameter fixed at θ̂ ± σ̂ and θ̂ ± σ₀, largest post-fit
    impact first (``efthf ranking --json``; cabinetry's ranking)."""
    options: Dict[str, Any] = {}
    if poi is not None:
        options["poi"] = poi
    if ops is not None:
        options["ops"] = list(ops)
    if fix:
        options["fix"] = dict(fix)
    return _model(target, measurement_name).run("ranking", options, data=data)


def export(workspace: Workspace, point: Mapping[str, float], poi: Optional[str] = None,
           measurement_name: Optional[str] = None) -> Dict[str, Any]:
    """The workspace as plain pyhf 1.0.0 at one point of the Wilson coefficients (a dict that
    stock ``pyhf.Workspace`` reads; ``efthf export --at``)."""
    options: Dict[str, Any] = {"point": {k: float(v) for k, v in point.items()}}
    if poi is not None:
        options["poi"] = poi
    if measurement_name is not None:
        options["measurement"] = measurement_name
    return workspace.model(measurement_name=measurement_name).run("export", options)


def patchset(workspace: Workspace, grid: Grid, poi: Optional[str] = None, measurement_name: Optional[str] = None,
             skip_invalid: bool = False) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A background-only workspace and a pyhf PatchSet with one patch per grid point
    (``efthf export --patchset --grid``)."""
    options: Dict[str, Any] = {"grid": _axes(grid), "skip_invalid": skip_invalid}
    if poi is not None:
        options["poi"] = poi
    if measurement_name is not None:
        options["measurement"] = measurement_name
    r = workspace.model(measurement_name=measurement_name).run("patchset", options)
    return r["background_only"], r["patchset"]


def yields(target: Union[Workspace, Model], at: Optional[Mapping[str, Any]] = None, measurement_name: Optional[str] = None,
           data: Any = None) -> Dict[str, Any]:
    """Each sample's expected yields per channel at a point, with the observed data."""
    return _model(target, measurement_name).run("yields", {"at": dict(at or {})}, data=data)


def _provenance(generator: str, basis: str, normalisation: str, weight_unit: str, lambda_gev: float) -> Dict[str, Any]:
    return {"generator": generator, "basis": basis, "normalisation": normalisation, "weight_unit": weight_unit, "lambda": float(lambda_gev)}


def import_lhe(file: Union[str, os.PathLike], coefficients: Sequence[str], benchmarks: Mapping[str, Sequence[float]], output: Union[str, os.PathLike],
               *, generator: str, basis: str, normalisation: str, weight_unit: str, lambda_gev: float = 1000.0,
               observables: Sequence[str] = (), degree: int = 2, weight_scale: float = 1.0) -> Dict[str, Any]:
    """An event database (HDF5, Specs/event-database.md) from the reweighting weights of an LHE
    file (``efthf import lhe``): ``benchmarks`` maps each weight id to its coefficient point,
    ``observables`` are ``NAME=QUANTITY:PDG,PDG,...[:UNIT]``. Returns what was written."""
    options = {"file": os.fspath(file), "coefficients": list(coefficients),
               "benchmarks": [{"id": k, "point": [float(x) for x in v]} for k, v in benchmarks.items()],
               "degree": int(degree), "observables": list(observables), "weight_scale": float(weight_scale),
               "provenance": _provenance(generator, basis, normalisation, weight_unit, lambda_gev), "output": os.fspath(output)}
    return _native.call_json("efthf_run", b"import_lhe", json.dumps(options).encode("utf-8"))


def import_madminer(file: Union[str, os.PathLike], output: Union[str, os.PathLike], *, generator: str, basis: str, normalisation: str,
                    weight_unit: str, lambda_gev: float = 1000.0, units: Optional[Mapping[str, str]] = None,
                    least_squares: bool = False) -> Dict[str, Any]:
    """An event database from a MadMiner HDF5 file (``efthf import madminer``)."""
    options = {"file": os.fspath(file), "units": dict(units or {}), "least_squares": bool(least_squares),
               "provenance": _provenance(generator, basis, normalisation, weight_unit, lambda_gev), "output": os.fspath(output)}
    return _native.call_json("efthf_run", b"import_madminer", json.dumps(options).encode("utf-8"))


def _workspace_run(workspace: Workspace, task: str, options: Dict[str, Any]) -> Dict[str, Any]:
    return _native.call_json("efthf_workspace_run", workspace._handle.value, _native.encode(task), json.dumps(options, allow_nan=False).encode("utf-8"))


def _options(**members: Any) -> Dict[str, Any]:
    return {k: v for k, v in members.items() if v is not None}


def to_hs3(workspace: Workspace, measurement_name: Optional[str] = None) -> Dict[str, Any]:
    """The whole likelihood as an HS3 document that ROOT 6.40's ``RooJSONFactoryWSTool`` reads, the
    Wilson coefficients free (``efthf export --hs3``; Specs/hs3.md)."""
    return workspace.model(measurement_name=measurement_name).run("hs3_export", _options(measurement=measurement_name))


def from_hs3(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """An HS3 file (efthf's or ROOT's HistFactory export) read back as a workspace spec
    (``efthf import hs3``): a dict for ``efthf.Workspace`` or stock ``pyhf.Workspace``."""
    return _native.call_json("efthf_run", b"hs3_import", json.dumps({"path": os.fspath(path)}).encode("utf-8"))


def combine_scaling(workspace: Workspace, measurement_name: Optional[str] = None) -> Tuple[list, Dict[str, Any]]:
    """Every morphed sample as CMS Combine InterferenceModel scaling data, with the plain pyhf
    workspace of the SM templates (``efthf export --combine-scaling``; Specs/combine.md §2)."""
    r = workspace.model(measurement_name=measurement_name).run("combine_scaling_export", _options(measurement=measurement_name))
    return r["scaling"], r["workspace"]


def add_combine_scaling(workspace: Workspace, scaling: Union[str, os.PathLike], modifier: str = "combine_scaling") -> Dict[str, Any]:
    """The workspace with Combine InterferenceModel scaling data (the file of ``--PO scalingData=``)
    applied as relative-form morphing modifiers (``efthf import combine-scaling``; Specs/combine.md §1).
    Returns the new workspace's spec."""
    return _workspace_run(workspace, "combine_scaling_import", {"scaling": os.fspath(scaling), "modifier": modifier})


def add_stxs_scaling(workspace: Workspace, table: Union[str, os.PathLike], assignments: Mapping[str, Sequence[str]],
                     coefficients: Optional[Sequence[str]] = None, modifier: str = "stxs_scaling", uncertainties: bool = True) -> Dict[str, Any]:
    """The workspace with an EFT2Obs STXS→SMEFT table (``prod.json``) applied to samples as
    relative-form morphing modifiers (``efthf import eft2obs``; Specs/combine.md §3).
    ``assignments`` maps ``"CHANNEL/SAMPLE"`` to the table entries that scale it. Returns the new
    workspace's spec."""
    items = []
    for key, entries in assignments.items():
        channel, slash, sample = key.partition("/")
        if not slash or not channel or not sample:
            raise InvalidArgument(f"assignments: expected keys \"CHANNEL/SAMPLE\", found {key!r}")
        if isinstance(entries, str):
            entries = [entries]
        items.append({"channel": channel, "sample": sample, "entries": [str(e) for e in entries]})
    options: Dict[str, Any] = {"table": os.fspath(table), "assignments": items, "modifier": modifier, "uncertainties": bool(uncertainties)}
    if coefficients is not None:
        options["coefficients"] = list(coefficients)
    return _workspace_run(workspace, "eft2obs_import", options)
