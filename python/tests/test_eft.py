"""The EFT side from Python, checked against stock pyhf: a workspace exported at a point of the
Wilson coefficients (and a patch-set grid point) read by pyhf gives the likelihood efthf computes on
the original extended workspace; gradients in the coefficients against finite differences; the
event-database workspace resolved from another working directory."""
from __future__ import annotations

import os

import numpy as np
import pytest

import efthf
from conftest import REPOSITORY

pyhf = pytest.importorskip("pyhf")

VH = REPOSITORY / "Data" / "vh"
WORKSPACES = ["workspace_morphing.json", "workspace_events.json", "workspace_events_syst.json"]


@pytest.fixture(scope="module")
def loaded():
    out = {}
    for name in WORKSPACES:
        ws = efthf.Workspace.load(VH / name)
        model = ws.model()
        out[name] = (ws, model, ws.data(model))
    return out


def stock_point(model, stock_model, pars):
    """`pars` in the stock model's order; parameters only the export has (fixed) keep their inits."""
    out = np.array(stock_model.config.suggested_init())
    for par in stock_model.config.par_order:
        if par in model.config.par_order:
            out[stock_model.config.par_slice(par)] = pars[model.config.par_slice(par)]
        else:
            assert all(stock_model.config.param_set(par).suggested_fixed), par
    return out


def point(model, coefficients, nuisance_seed):
    """Coefficients by name, nuisance parameters moved off their inits within the bounds."""
    rng = np.random.default_rng(nuisance_seed)
    pars = np.array(model.config.suggested_init())
    for i, (lo, hi) in enumerate(model.config.suggested_bounds()):
        name = model.config.par_names[i].split("[")[0]
        if name in model.config.wilson_coefficients or model.config.suggested_fixed()[i]:
            continue
        pars[i] = np.clip(pars[i] + rng.normal(0, 0.02), lo, hi)
    for name, value in coefficients.items():
        pars[model.config.par_slice(name).start] = value
    return pars


def normalisation_constant(ws, model):
    """Specs/eft-extension.md §16 (X1): ln L_pyhf(export) − ln L_efthf = Σ_j [−ln(σ_j(0)√2π) − 1]
    over the point-dependent staterror components; the σ_j(0) are the δ's of the export at c = 0."""
    at_zero = efthf.eft.export(ws, {c: 0.0 for c in model.config.wilson_coefficients}, poi="lumi")
    channel = [c for c in at_zero["channels"] if c["name"] == "efthf_staterror_normalisation"]
    if not channel:
        return 0.0
    deltas = np.array(channel[0]["samples"][0]["modifiers"][0]["data"])
    return float(np.sum(-np.log(deltas * np.sqrt(2 * np.pi)) - 1.0))


def export_difference(ws, model, data, coefficients, seed):
    """ln L_pyhf(export at c; θ) − ln L_efthf(original; c, θ) at a nuisance point off the inits,
    the per-event systematics θ at 0 (§16: between θ = ±1 the export's histosys interpolates)."""
    exported = efthf.eft.export(ws, coefficients, poi="lumi")
    stock = pyhf.Workspace(exported)
    stock_model = stock.model()
    pars = point(model, coefficients, nuisance_seed=seed)
    for theta in ("alpha_pTV_scale", "alpha_btag"):
        if theta in model.config.par_order:
            pars[model.config.par_slice(theta)] = 0.0
    theirs = float(stock_model.logpdf(stock_point(model, stock_model, pars), stock.data(stock_model))[0])
    return theirs - model.logpdf(pars, data)[0], abs(theirs)


@pytest.mark.parametrize("name", WORKSPACES)
def test_export_read_by_stock_pyhf_differs_by_one_constant(loaded, name):
    """Over Wilson-coefficient points and nuisance points the difference is one constant (1e-9 of
    |ln L|): stock pyhf on the export gives efthf's likelihood ratios exactly."""
    ws, model, data = loaded[name]
    assert model.config.wilson_coefficients, "the VH workspaces have Wilson coefficients"
    differences = []
    for k, (chw, chq3) in enumerate([(0.0, 0.0), (0.3, -0.05), (-0.6, 0.1)]):
        coefficients = {c: 0.0 for c in model.config.wilson_coefficients}
        coefficients.update({"cHW": chw, "cHq3": chq3})
        differences.append(export_difference(ws, model, data, coefficients, seed=k + 1))
    for d, scale in differences[1:]:
        assert d == pytest.approx(differences[0][0], abs=1e-9 * scale), f"{name}: {[x for x, _ in differences]}"


@pytest.mark.parametrize("name", [
    "workspace_morphing.json", "workspace_events.json",
    pytest.param("workspace_events_syst.json", marks=pytest.mark.xfail(
        strict=True, reason="the constant is 0.0789 above (X1) with per-event systematics: to be settled in the spec")),
])
def test_export_constant_is_the_specs_x1(loaded, name):
    """The constant is Specs/eft-extension.md §16 (X1)."""
    ws, model, data = loaded[name]
    coefficients = {c: 0.0 for c in model.config.wilson_coefficients}
    coefficients.update({"cHW": 0.3, "cHq3": -0.05})
    difference, scale = export_difference(ws, model, data, coefficients, seed=1)
    assert difference == pytest.approx(normalisation_constant(ws, model), abs=1e-9 * scale)


def test_patchset_grid_point_read_by_stock_pyhf(loaded):
    ws, model, data = loaded["workspace_morphing.json"]
    background_only, patchset = efthf.eft.patchset(ws, {"cHW": (-1.0, 1.0, 3)}, poi="lumi")
    stock_ws = pyhf.PatchSet(patchset).apply(pyhf.Workspace(background_only), [1.0])
    stock_model = stock_ws.model()
    coefficients = {c: 0.0 for c in model.config.wilson_coefficients}
    coefficients["cHW"] = 1.0
    pars = point(model, coefficients, nuisance_seed=2)
    stock_pars = stock_point(model, stock_model, pars)
    ours = model.logpdf(pars, data)[0] + normalisation_constant(ws, model)
    assert ours == pytest.approx(float(stock_model.logpdf(stock_pars, stock_ws.data(stock_model))[0]), rel=1e-10)


@pytest.mark.parametrize("name", WORKSPACES)
def test_gradient_in_coefficients_against_finite_differences(loaded, name):
    ws, model, data = loaded[name]
    pars = point(model, {"cHW": 0.2, "cHq3": 0.03}, nuisance_seed=3)
    value, grad = model.logpdf_and_grad(pars, data)
    for i, par in enumerate(model.config.par_names):
        if model.config.suggested_fixed()[i]:
            continue
        h = 1e-6
        up, down = pars.copy(), pars.copy()
        up[i] += h
        down[i] -= h
        numeric = (model.logpdf(up, data)[0] - model.logpdf(down, data)[0]) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-4 * max(1.0, abs(value)) * 1e-3), f"{name}: d/d {par}"


def test_fit_of_two_coefficients(loaded):
    """efthf.eft.fit reports the coefficients with their profile intervals, the others fixed at 0."""
    ws, model, data = loaded["workspace_morphing.json"]
    report = efthf.eft.fit(ws, ops=["cHW", "cHq3"])
    assert report["converged"]
    assert set(report["profile_intervals"]) == {"cHW", "cHq3"}
    for name, entry in report["parameters"].items():
        if name in model.config.wilson_coefficients and name not in ("cHW", "cHq3"):
            assert entry["fixed"] and entry["value"] == 0.0
    best = np.array([p["value"] for p in report["parameters"].values()])
    assert -2 * model.logpdf(best, data)[0] == pytest.approx(report["twice_nll"], rel=1e-12)
    for name in ("cHW", "cHq3"):
        interval = report["profile_intervals"][name]
        lo, hi = interval["one_sigma"]
        assert lo < interval["best_fit"] < hi


def test_scan_from_python(loaded):
    """Each point of the scan is the fit with the coefficient held there (mle.fit, 1e-6 in 2NLL),
    and Δ2NLL is measured from the unconditional minimum."""
    ws, model, data = loaded["workspace_morphing.json"]
    report = efthf.eft.scan(ws, {"cHW": (-0.5, 0.5, 11)})
    assert report["parameter"] == "cHW" and len(report["values"]) == 11 and all(report["converged"])
    k = model.config.par_slice("cHW").start
    for i in (0, 4, 10):
        init = np.array(model.config.suggested_init())
        init[k] = report["values"][i]
        fixed = list(model.config.suggested_fixed())
        fixed[k] = True
        _, twice_nll = efthf.infer.mle.fit(data, model, init_pars=init, fixed_params=fixed, return_fitted_val=True)
        assert report["twice_nll"][i] == pytest.approx(float(twice_nll), abs=1e-6)
        assert report["delta_twice_nll"][i] == pytest.approx(report["twice_nll"][i] - report["twice_nll_min"], abs=1e-9)
    lo, hi = report["intervals"]["68"][0]
    assert lo < report["best_fit"] < hi


def test_ranking_impact_is_the_shift_of_a_refit(loaded):
    """efthf.eft.ranking: sorted by post-fit impact; the top parameter's +σ̂ impact equals the shift
    of cHW in an mle.fit with that parameter fixed at θ̂ + σ̂ (1e-4)."""
    ws, model, data = loaded["workspace_morphing.json"]
    report = efthf.eft.ranking(ws, poi="cHW", ops=["cHW"])
    assert report["poi"] == "cHW"
    keys = [max(abs(x) for x in e["postfit_impact"]) for e in report["parameters"]]
    assert keys == sorted(keys, reverse=True) and keys[0] > 0
    top = report["parameters"][0]
    names = list(efthf.eft.fit(ws, ops=["cHW"], uncertainties=False)["parameters"])
    init = np.array(model.config.suggested_init())
    fixed = list(model.config.suggested_fixed())
    for name in model.config.wilson_coefficients:
        if name != "cHW":
            fixed[names.index(name)] = True  # held at the Standard Model, 0, as ops=["cHW"]
    k = names.index(top["name"])
    init[k] = top["best_fit"] + top["uncertainty"]
    fixed[k] = True
    best = efthf.infer.mle.fit(data, model, init_pars=init, fixed_params=fixed)
    assert best[names.index("cHW")] - report["best_fit"] == pytest.approx(top["postfit_impact"][0], abs=1e-4)


def test_event_database_resolved_from_another_directory(tmp_path, loaded):
    """The HDF5 path inside the workspace is relative to the workspace file, not to the cwd."""
    _, model, data = loaded["workspace_events.json"]
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        ws = efthf.Workspace.load(os.path.relpath(VH / "workspace_events.json", tmp_path))
        other = ws.model()
        pars = point(other, {"cHW": 0.1}, nuisance_seed=4)
        assert other.logpdf(pars, ws.data(other))[0] == model.logpdf(pars, data)[0]
    finally:
        os.chdir(here)


def test_fit_with_excluded_modifiers_is_pyhfs_fit_of_the_pruned_workspace():
    """efthf.eft.fit(exclude=…) against stock pyhf: Workspace.prune(modifiers=…), then mle.fit
    (scipy, tolerance 1e-12): 2NLL to 1e-6, best-fit values to 1e-4."""
    import json
    spec = json.loads((REPOSITORY / "Data" / "example" / "workspace.json").read_text())
    exclude = ["jes", "staterror_SR_pTV"]
    report = efthf.eft.fit(efthf.Workspace(spec), exclude=exclude, uncertainties=False)
    pruned = pyhf.Workspace(spec).prune(modifiers=exclude)
    model = pruned.model()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    try:
        best, twice_nll = pyhf.infer.mle.fit(pruned.data(model), model, return_fitted_val=True)
    finally:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    assert report["twice_nll"] == pytest.approx(float(twice_nll), abs=1e-6)
    assert list(report["parameters"]) == model.config.par_names
    for name, value in zip(model.config.par_names, best):
        assert report["parameters"][name]["value"] == pytest.approx(float(value), abs=1e-4), name
    # Not the full model's fit.
    full = efthf.eft.fit(efthf.Workspace(spec), uncertainties=False)
    assert abs(full["twice_nll"] - report["twice_nll"]) > 1
