"""The spey backend (``spey.get_backend("efthf")``) against spey's own pyhf backend (spey-pyhf on
stock pyhf 0.7.6): every method spey calls for a full likelihood, on the same inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REFERENCE_DIR, REPOSITORY, needs_reference

spey = pytest.importorskip("spey")
pytest.importorskip("spey_pyhf")
pyhf = pytest.importorskip("pyhf")

from efthf.exceptions import EFTHFError  # noqa: E402
from efthf.spey_backend import EFTHFBackend  # noqa: E402

# spey's pyhf-backend docstring example (spey_pyhf.interface.FullStatisticalModel).
BACKGROUND_ONLY = {
    "channels": [{"name": "singlechannel", "samples": [{"name": "background", "data": [50.0, 52.0], "modifiers": [
        {"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}]}]}],
    "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
    "measurements": [{"name": "Measurement", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}
SIGNAL = [{"op": "add", "path": "/channels/0/samples/1", "value": {
    "name": "signal", "data": [12.0, 11.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}}]

EXPECTATIONS = [spey.ExpectationType.observed, spey.ExpectationType.apriori, spey.ExpectationType.aposteriori]


def reference_case():
    """ATLAS SUSY-2018-31 sbottom RegionA (reference workspace 05, 64 parameters): BkgOnly and
    its signal patch, a JSON Patch as SModelS hands it to spey."""
    folder = REFERENCE_DIR / "workspaces" / "05_atlas_susy2018_31_sbottom_RegionA"
    background = json.loads((folder / "BkgOnly.json").read_text())
    return background, json.loads((folder / "patch.sbottom_1300_205_60.json").read_text())


def pair(background, signal):
    pyhf_model = spey.get_backend("pyhf")(analysis="test", background_only_model=background, signal_patch=signal, xsection=1.0)
    efthf_model = spey.get_backend("efthf")(analysis="test", background_only_model=background, signal_patch=signal, xsection=1.0)
    return pyhf_model, efthf_model


def cases():
    yield pytest.param(BACKGROUND_ONLY, SIGNAL, id="spey-docstring")
    if REFERENCE_DIR is not None:
        yield pytest.param(*reference_case(), id="05_sbottom_RegionA")


def test_registered_by_entry_point():
    assert "efthf" in spey.AvailableBackends()
    wrapper = spey.get_backend("efthf")
    model = wrapper(analysis="a", background_only_model=BACKGROUND_ONLY, signal_patch=SIGNAL)
    assert isinstance(model.backend, EFTHFBackend) and isinstance(model.backend, spey.BackendBase)
    assert model.backend_type == "efthf" and model.is_alive
    assert model.is_asymptotic_calculator_available and model.is_toy_calculator_available and model.is_chi_square_calculator_available


@pytest.mark.parametrize("background, signal", list(cases()))
def test_configuration_as_the_pyhf_backend(background, signal):
    a, b = pair(background, signal)
    for negative in (True, False):
        ca, cb = a.backend.config(allow_negative_signal=negative), b.backend.config(allow_negative_signal=negative)
        assert cb.poi_index == ca.poi_index and cb.parameter_names == ca.parameter_names
        assert cb.suggested_init == pytest.approx(ca.suggested_init, rel=1e-12)
        assert cb.suggested_fixed == ca.suggested_fixed
        # spey's pyhf backend computes μ_min from float32 sums of the patch's yields.
        assert np.array(cb.suggested_bounds) == pytest.approx(np.array(ca.suggested_bounds, dtype=float), rel=1e-6)
        assert cb.minimum_poi == pytest.approx(float(ca.minimum_poi), rel=1e-6)


@pytest.mark.parametrize("background, signal", list(cases()))
@pytest.mark.parametrize("expected", EXPECTATIONS, ids=lambda e: e.name)
def test_likelihood_and_data_as_the_pyhf_backend(background, signal, expected):
    a, b = pair(background, signal)
    init = np.array(a.backend.config().suggested_init, dtype=float)
    rng = np.random.default_rng(3)
    for _ in range(3):
        pars = init + rng.uniform(-0.3, 0.3, size=init.size)
        logpdf_a = a.backend.get_logpdf_func(expected=expected)(pars)
        assert b.backend.get_logpdf_func(expected=expected)(pars) == pytest.approx(float(logpdf_a), rel=1e-9)
        value, gradient = b.backend.get_objective_function(expected=expected, do_grad=True)(pars)
        assert value == pytest.approx(-2.0 * float(logpdf_a), rel=1e-9)
        # The gradient of −2 ln L against central differences of pyhf's.
        objective = a.backend.get_objective_function(expected=expected, do_grad=False)
        h = 1e-6
        numeric = [(float(objective(pars + h * e)) - float(objective(pars - h * e))) / (2 * h) for e in np.eye(pars.size)]
        assert gradient == pytest.approx(numeric, rel=1e-5, abs=1e-5)
        assert b.backend.expected_data(pars) == pytest.approx(list(a.backend.expected_data(pars)), rel=1e-10)


def test_asymptotic_cls_limits_and_fits_as_the_pyhf_backend():
    a, b = pair(BACKGROUND_ONLY, SIGNAL)
    for expected in EXPECTATIONS:
        assert b.exclusion_confidence_level(expected=expected) == pytest.approx(a.exclusion_confidence_level(expected=expected), rel=1e-5)
        assert b.poi_upper_limit(expected=expected) == pytest.approx(a.poi_upper_limit(expected=expected), rel=1e-4)
        assert b.likelihood(poi_test=0.5, expected=expected) == pytest.approx(a.likelihood(poi_test=0.5, expected=expected), rel=1e-7)
        muhat_a, nll_a = a.maximize_likelihood(expected=expected)
        muhat_b, nll_b = b.maximize_likelihood(expected=expected)
        assert nll_b == pytest.approx(nll_a, rel=1e-7, abs=1e-7)
        assert muhat_b == pytest.approx(muhat_a, abs=1e-3)
    assert b.chi2(poi_test=1.0) == pytest.approx(a.chi2(poi_test=1.0), rel=1e-6)
    assert b.exclusion_confidence_level(calculator="chi_square") == pytest.approx(a.exclusion_confidence_level(calculator="chi_square"), rel=1e-5)


def test_hessian_against_second_differences_of_pyhf():
    _, b = pair(BACKGROUND_ONLY, SIGNAL)
    model = pyhf.Workspace(BACKGROUND_ONLY).model(patches=[SIGNAL])
    data = np.array(pyhf.Workspace(BACKGROUND_ONLY).data(model))
    pars = np.array([0.8, 1.05, 0.9])

    def logpdf(p):
        return float(model.logpdf(p, data)[0])

    h = 1e-4
    numeric = np.empty((3, 3))
    for i, ei in enumerate(np.eye(3) * h):
        for j, ej in enumerate(np.eye(3) * h):
            numeric[i, j] = (logpdf(pars + ei + ej) - logpdf(pars + ei - ej) - logpdf(pars - ei + ej) + logpdf(pars - ei - ej)) / (4 * h * h)
    hessian = b.backend.get_hessian_logpdf_func()(pars)
    assert hessian == pytest.approx(numeric, rel=1e-5, abs=1e-4)
    assert float(b.sigma_mu_from_hessian(poi_test=1.0)) > 0


def test_sampler_has_the_moments_of_pyhfs():
    a, b = pair(BACKGROUND_ONLY, SIGNAL)
    pars = np.array([1.0, 1.1, 0.8])
    n = 40_000
    np.random.seed(7)
    ours = b.backend.get_sampler(pars)(n)
    theirs = np.asarray(a.backend.get_sampler(pars)(n))
    assert ours.shape == theirs.shape == (n, 4)
    assert b.backend.get_sampler(pars)(5, include_auxiliary=False).shape == (5, 2)
    expected = np.array(b.backend.expected_data(pars))
    # Means within 5 standard errors of the expected data, variances as Poisson (all four data are Poisson here).
    for column in range(4):
        assert abs(ours[:, column].mean() - expected[column]) < 5 * np.sqrt(expected[column] / n)
        assert ours[:, column].var() == pytest.approx(theirs[:, column].var(), rel=0.05)


def test_sampler_normal_constraints_have_their_widths():
    background = {
        "channels": [{"name": "c", "samples": [{"name": "b", "data": [100.0], "modifiers": [
            {"name": "syst", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            {"name": "stat", "type": "staterror", "data": [5.0]}]}]}],
        "observations": [{"name": "c", "data": [105.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    signal = [{"op": "add", "path": "/channels/0/samples/1", "value": {
        "name": "s", "data": [10.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}}]
    _, b = pair(background, signal)
    names = b.backend.config().parameter_names
    pars = np.array([{"mu": 1.0, "syst": 0.5, "stat[0]": 1.02}[n] for n in names])
    np.random.seed(11)
    samples = b.backend.get_sampler(pars)(40_000)
    # Auxiliary data: staterror (σ = 5/100) then syst (σ = 1), in pyhf's auxdata order.
    model = pyhf.Workspace(background).model(patches=[signal])
    order = [p for p in model.config.par_order if model.config.param_set(p).constrained]
    sigma = {"stat": 0.05, "syst": 1.0}
    centre = {"stat": 1.02, "syst": 0.5}
    for k, name in enumerate(order):
        column = samples[:, 1 + k]
        assert column.mean() == pytest.approx(centre[name], abs=5 * sigma[name] / np.sqrt(40_000))
        assert column.std() == pytest.approx(sigma[name], rel=0.02)


def test_eft_workspace_by_path():
    workspace = REPOSITORY / "Data" / "vh" / "workspace_morphing.json"
    model = spey.get_backend("efthf")(analysis="vh", background_only_model=str(workspace))
    import efthf

    ws = efthf.Workspace.load(workspace)
    m = ws.model()
    pars = np.array(m.config.suggested_init())
    assert model.backend.get_logpdf_func()(pars) == pytest.approx(float(m.logpdf(pars, ws.data(m))[0]), rel=1e-12)
    assert 0.0 <= float(model.exclusion_confidence_level()[0]) <= 1.0


def test_bad_inputs_raise_with_their_value(tmp_path):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(EFTHFError, match="nowhere.json"):
        EFTHFBackend(background_only_model=str(missing))
    bad_patch = [{"op": "add", "path": "/channels/7/samples/1", "value": {"name": "s", "data": [1.0], "modifiers": []}}]
    with pytest.raises(EFTHFError, match="/channels/7"):
        EFTHFBackend(background_only_model=BACKGROUND_ONLY, signal_patch=bad_patch)
    no_poi = json.loads(json.dumps(BACKGROUND_ONLY))
    no_poi["measurements"][0]["config"]["poi"] = ""
    with pytest.raises(EFTHFError, match="no parameter of interest"):
        EFTHFBackend(background_only_model=no_poi)
    _, b = pair(BACKGROUND_ONLY, SIGNAL)
    with pytest.raises(EFTHFError, match=r"shape \(3,\)"):
        b.backend.get_logpdf_func(data=[1.0, 2.0, 3.0])


@needs_reference
def test_published_workspace_cls_and_fit_as_the_pyhf_backend():
    """Reference workspace 05 (64 parameters): observed and a-priori CLs and the best fit (spey's
    pyhf backend fits without gradients, so its upper limits are left to the small model)."""
    a, b = pair(*reference_case())
    for expected in (spey.ExpectationType.observed, spey.ExpectationType.apriori):
        assert b.exclusion_confidence_level(expected=expected) == pytest.approx(a.exclusion_confidence_level(expected=expected), rel=1e-4)
    muhat_a, nll_a = a.maximize_likelihood()
    muhat_b, nll_b = b.maximize_likelihood()
    assert nll_b == pytest.approx(nll_a, rel=1e-6)
    assert muhat_b == pytest.approx(muhat_a, abs=1e-3)
