"""Shared helpers for the pyhf reference scripts in this directory (not a script itself).

The real workspaces and make_reference.py live in the read-only reference folder, by default
/work/shared/reference (override with the environment variable EFTHF_REFERENCE_DIR). CASES and
load() are imported from that make_reference.py so that patches are applied exactly as there.
"""
import importlib.util
import json
import math
import os
import sys
import tempfile

import numpy as np
import pyhf

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.environ.get("EFTHF_REFERENCE_DIR", "/work/shared/reference")


def load_make_reference():
    """Import <REF_DIR>/make_reference.py as a module (without writing bytecode there)."""
    sys.dont_write_bytecode = True
    path = os.path.join(REF_DIR, "make_reference.py")
    if not os.path.exists(path):
        sys.exit(f"reference folder not found: {path} (set EFTHF_REFERENCE_DIR)")
    spec = importlib.util.spec_from_file_location("make_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def case_info(mr, case):
    """Where a case comes from: workspace path relative to REF_DIR, patch file and patch name."""
    name, ws_file, patch = case
    info = {"name": name, "workspace": f"workspaces/{name}/{ws_file}", "patch_file": None, "patch_name": None}
    if patch:
        pfile, pname = patch
        info["patch_file"] = f"workspaces/{name}/{pfile}"
        info["patch_name"] = pname  # as listed in make_reference.CASES; resolved name below
    return info


def resolved_patch_name(label):
    """make_reference.load returns 'file:patchname' for a PatchSet, 'file' for a bare JSON Patch."""
    if label and ":" in label:
        return label.split(":", 1)[1]
    return None


def by_name(model, vec):
    out = {}
    v = np.asarray(vec, dtype=float)
    for p in model.config.par_order:
        out[p] = [float(x) for x in v[model.config.par_slice(p)]]
    return out


def from_name(model, pars):
    """Inverse of by_name: {name: [values]} -> vector in pyhf's order."""
    x = np.zeros(len(model.config.suggested_init()))
    for p, vals in pars.items():
        x[model.config.par_slice(p)] = vals
    return x


def from_par_names(model, named):
    """{pyhf par_name ("name", or "name[i]" for vectors): value} -> vector in pyhf's order, the
    parameters not named at their suggested inits."""
    pars = list(model.config.suggested_init())
    for name in model.config.par_order:
        sl = model.config.par_slice(name)
        n = sl.stop - sl.start
        for i in range(n):
            key = name if n == 1 else f"{name}[{i}]"
            if key in named:
                pars[sl.start + i] = named[key]
    return pars


def floats(v):
    return [float(x) for x in np.asarray(v, dtype=float).ravel()]


def par_types(model):
    """{parameter name: sorted list of modifier types using that name}."""
    out = {}
    for name, mtype in model.config.modifiers:
        out.setdefault(name, set()).add(mtype)
    return {k: sorted(v) for k, v in out.items()}


def par_order_info(model):
    types = par_types(model)
    return [{"name": p, "n": model.config.param_set(p).n_parameters,
             "paramset_type": type(model.config.param_set(p)).__name__,
             "modifier_types": types.get(p, [])} for p in model.config.par_order]


def suggested_by_name(model):
    sl = model.config.par_slice
    bounds = np.asarray(model.config.suggested_bounds(), dtype=float)
    fixed = model.config.suggested_fixed()
    init = model.config.suggested_init()
    return {
        "suggested_init": by_name(model, init),
        "suggested_bounds": {p: [floats(b) for b in bounds[sl(p)]] for p in model.config.par_order},
        "suggested_fixed": {p: [bool(f) for f in fixed[sl(p)]] for p in model.config.par_order},
    }


def wide_point(model, rng):
    """A point exercising interpolation outside |alpha| <= 1: normsys/histosys alphas uniform in
    [-2.5, 2.5], gammas (staterror/shapesys/shapefactor) in [0.5, 1.5], normfactors in [0, 3], lumi
    uniform within its bounds; every range intersected with the suggested bounds; fixed parameters
    stay at their suggested init. Parameters are drawn in par_order, one uniform per component."""
    init = np.array(model.config.suggested_init(), dtype=float)
    bounds = model.config.suggested_bounds()
    fixed = model.config.suggested_fixed()
    types = par_types(model)
    x = init.copy()
    for p in model.config.par_order:
        t = set(types[p])
        if t & {"normsys", "histosys"}:
            rlo, rhi = -2.5, 2.5
        elif t & {"staterror", "shapesys", "shapefactor"}:
            rlo, rhi = 0.5, 1.5
        elif "normfactor" in t:
            rlo, rhi = 0.0, 3.0
        elif "lumi" in t:
            rlo, rhi = -math.inf, math.inf
        else:
            raise ValueError(f"unknown parameter type for {p}: {t}")
        sl = model.config.par_slice(p)
        for i in range(sl.start, sl.stop):
            if fixed[i]:
                continue
            lo, hi = max(bounds[i][0], rlo), min(bounds[i][1], rhi)
            x[i] = rng.uniform(lo, hi)
    return x


def jsonable(obj):
    """Recursively convert numpy scalars/arrays; non-finite floats become the strings 'nan'/'inf'/'-inf'."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    return obj


def compact_dumps(obj, indent=2, width=110, _level=0):
    """Pretty JSON that keeps short lists/objects (e.g. bin contents, one modifier) on one line."""
    flat = json.dumps(obj, allow_nan=False)
    pad = " " * (indent * (_level + 1))
    if not isinstance(obj, (dict, list)) or len(flat) + len(pad) <= width:
        return flat
    if isinstance(obj, list):
        inner = [compact_dumps(v, indent, width, _level + 1) for v in obj]
        return "[\n" + ",\n".join(pad + s for s in inner) + "\n" + " " * (indent * _level) + "]"
    inner = [json.dumps(k) + ": " + compact_dumps(v, indent, width, _level + 1) for k, v in obj.items()]
    return "{\n" + ",\n".join(pad + s for s in inner) + "\n" + " " * (indent * _level) + "}"


def write_json_atomic(path, obj, indent=1, compact=False):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            if compact:
                f.write(compact_dumps(jsonable(obj), indent=indent or 2))
            else:
                json.dump(jsonable(obj), f, indent=indent, allow_nan=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def versions():
    import scipy
    out = {"pyhf": pyhf.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
           "python": sys.version.split()[0]}
    try:
        import iminuit
        out["iminuit"] = iminuit.__version__
    except ImportError:
        pass
    return out
