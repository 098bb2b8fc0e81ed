"""HS3 and CMS Combine from Python, each against its source of truth: ROOT 6.40 imports
``efthf.eft.to_hs3``'s document and gets efthf's NLL differences; an HS3 file read back with
``efthf.eft.from_hs3`` gives stock pyhf the original workspace's logpdf; Combine's documented
scaling data applied with ``efthf.eft.add_combine_scaling`` gives pyhf's logpdf of the scaled process
(Tests/References/combine/make_combine_refs.py); an EFT2Obs table reproduces worked example C."""
from __future__ import annotations

import importlib.util
import json
import random

import numpy as np
import pytest

import efthf
from conftest import REFERENCE_DIR, REPOSITORY, needs_reference

pyhf = pytest.importorskip("pyhf")

COMBINE = REPOSITORY / "Tests" / "References" / "combine"


def _values(model, names_values):
    """A parameter vector of ``model`` from {name or name[i]: value}, the rest at the inits."""
    pars = np.array(model.config.suggested_init(), dtype=float)
    for name, value in names_values.items():
        base, _, index = name.partition("[")
        s = model.config.par_slice(base)
        pars[s.start + (int(index.rstrip("]")) if index else 0)] = value
    return pars


@needs_reference
def test_hs3_read_back_gives_stock_pyhf_the_original_logpdf(tmp_path):
    folder = REFERENCE_DIR / "workspaces" / "01_pyhf_example"
    spec = json.loads((folder / "example_bkgonly.json").read_text())
    ws = efthf.Workspace(spec)
    hs3 = efthf.eft.to_hs3(ws)
    assert hs3["metadata"]["hs3_version"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(hs3))
    back = efthf.eft.from_hs3(path)
    original, read = pyhf.Workspace(spec), pyhf.Workspace(back)
    m0, m1 = original.model(), read.model()
    d0, d1 = original.data(m0), read.data(m1)
    rng = np.random.default_rng(3)
    for _ in range(5):
        pars = np.array(m0.config.suggested_init(), dtype=float) + rng.uniform(-0.3, 0.3, m0.config.npars)
        by_name = {}
        for name in m0.config.par_order:
            s = m0.config.par_slice(name)
            by_name[name] = pars[s]
        p1 = np.array(m1.config.suggested_init(), dtype=float)
        for name in m1.config.par_order:
            p1[m1.config.par_slice(name)] = by_name[name]
        a, b = float(m0.logpdf(pars, d0)[0]), float(m1.logpdf(p1, d1)[0])
        assert abs(a - b) <= 1e-12 * abs(a), (a, b)


def _check_hs3_module():
    spec = importlib.util.spec_from_file_location("check_hs3", REPOSITORY / "Tests" / "References" / "root" / "check_hs3.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_root_imports_to_hs3_and_gets_efthfs_nll_differences(tmp_path):
    pytest.importorskip("ROOT")
    check = _check_hs3_module()
    ROOT = check.load_root()
    ws = efthf.Workspace.load(REPOSITORY / "Data" / "vh" / "workspace_morphing.json")
    model = ws.model()
    data = ws.data(model)
    hs3 = efthf.eft.to_hs3(ws)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(hs3))
    imported = check.ImportedModel(ROOT, str(path), hs3)
    names = hs3["misc"]["efthf"]["parameter_names"]
    # The staterror gammas at 1: there the HS3 model is exactly efthf's (Specs/hs3.md §2.1).
    points = check.random_points(hs3, 6, random.Random(11), gammas_random=False)
    logl = [float(model.logpdf(_values(model, p), data)[0]) for p in points]
    nll = [imported.value({names[k]: v for k, v in p.items()}) for p in points]
    for i in range(1, len(points)):
        d_efthf, d_root = logl[i] - logl[0], -(nll[i] - nll[0])
        assert abs(d_efthf - d_root) <= 1e-9 * max(abs(logl[i]), abs(logl[0])), (i, d_efthf, d_root)


def test_combine_documented_scaling_gives_pyhfs_logpdf(tmp_path):
    examples = json.loads((COMBINE / "interference_docs_examples.json").read_text())
    scaling = tmp_path / "scaling.json"
    scaling.write_text(json.dumps(examples["sqrt_mu"]))
    spec = efthf.eft.add_combine_scaling(efthf.Workspace.load(COMBINE / "sample_sm.json"), scaling)
    model = efthf.Workspace(spec).model()
    data = efthf.Workspace(spec).data(model)
    reference = json.loads((COMBINE / "combine_reference.json").read_text())["sqrt_mu"]
    assert len(reference) >= 6
    for entry in reference:
        pars = _values(model, {"sqrt_mu": entry["sqrt_mu"], "sigxs": entry["sigxs"]})
        got = float(model.logpdf(pars, data)[0])
        assert abs(got - entry["logpdf"]) <= 1e-12 * abs(entry["logpdf"]), (entry, got)


def test_combine_scaling_export_round_trip_keeps_the_likelihood(tmp_path):
    ws = efthf.Workspace.load(REPOSITORY / "Specs" / "examples" / "eft_coefficient_absolute.json")
    model = ws.model()
    data = ws.data(model)
    scaling, templates = efthf.eft.combine_scaling(ws)
    # The SM templates are plain pyhf 1.0.0: stock pyhf reads them (their measurement's POI is a
    # Wilson coefficient, which only the scaling brings back, so the model is built without a POI).
    pyhf.Workspace(templates).model(poi_name=None)
    path = tmp_path / "scaling.json"
    path.write_text(json.dumps(scaling))
    back = efthf.Workspace(efthf.eft.add_combine_scaling(efthf.Workspace(templates), path))
    model_back = back.model()
    data_back = back.data(model_back)
    coefficients = efthf.eft.wilson_coefficients(model)
    rng = np.random.default_rng(5)
    for _ in range(5):
        point = {c: rng.uniform(-0.05, 0.05) for c in coefficients}
        a = float(model.logpdf(_values(model, point), data)[0])
        b = float(model_back.logpdf(_values(model_back, point), data_back)[0])
        assert abs(a - b) <= 5e-12 * max(1.0, abs(a)), (point, a, b)


def test_eft2obs_table_reproduces_worked_example_c():
    example_path = REPOSITORY / "Specs" / "examples" / "eft_relative_stxs.json"
    spec = json.loads(example_path.read_text())
    sample = spec["channels"][0]["samples"][0]
    sample["modifiers"] = sample["modifiers"][1:]  # example C without its production modifier
    stripped = efthf.Workspace(spec, base_directory=example_path.parent)
    channel, name = spec["channels"][0]["name"], sample["name"]
    imported = efthf.eft.add_stxs_scaling(stripped, COMBINE / "prod_ggH_highpt.json",
                                          {f"{channel}/{name}": ["GG2H_PTH_200_300", "GG2H_PTH_300_450"]},
                                          coefficients=["chg", "chbox"], modifier="ggH_prod")
    a_ws, b_ws = efthf.Workspace.load(example_path), efthf.Workspace(imported)
    a, b = a_ws.model(), b_ws.model()
    da, db = a_ws.data(a), b_ws.data(b)
    rng = np.random.default_rng(9)
    for _ in range(6):
        point = {"chg": rng.uniform(-0.005, 0.005), "chbox": rng.uniform(-0.05, 0.05)}
        la = float(a.logpdf(_values(a, point), da)[0])
        lb = float(b.logpdf(_values(b, point), db)[0])
        assert np.isfinite(la), (point, la)
        assert abs(la - lb) <= 1e-12 * max(1.0, abs(la)), (point, la, lb)
    with pytest.raises(efthf.exceptions.EFTHFError, match="prod_ggH_highpt.json at /GG2H_PTH_GT650"):
        efthf.eft.add_stxs_scaling(stripped, COMBINE / "prod_ggH_highpt.json", {f"{channel}/{name}": "GG2H_PTH_GT650"})
