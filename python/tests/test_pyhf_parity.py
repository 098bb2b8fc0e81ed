"""efthf against stock pyhf 0.7.6 on the published reference workspaces: structure, suggested
values, observed and expected data, logpdf (1e-9 relative), gradients against finite differences,
and fits, hypotests and limits against pyhf's Minuit/scipy numbers (Tests/References/pyhf/fits.json,
made by make_fit_references.py with pyhf)."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from conftest import CASES, REPOSITORY, needs_reference

pyhf = pytest.importorskip("pyhf")
import efthf  # noqa: E402

NAMES = [c[0] for c in CASES]
FITS = {c["name"]: c for c in json.loads((REPOSITORY / "Tests/References/pyhf/fits.json").read_text())["cases"]}


def random_points(model, count, seed):
    """Points off the inits: free parameters moved within their bounds (gammas and normfactors
    near 1), as make_reference.py's random_point."""
    rng = np.random.default_rng(seed)
    init = np.array(model.config.suggested_init(), dtype=float)
    bounds = model.config.suggested_bounds()
    fixed = model.config.suggested_fixed()
    points = []
    for _ in range(count):
        x = init.copy()
        for i, (lo, hi) in enumerate(bounds):
            if fixed[i]:
                continue
            lo2, hi2 = max(lo, init[i] - 1.0), min(hi, init[i] + 1.0)
            if init[i] == 1.0 and lo >= 0:
                lo2, hi2 = max(lo, 0.7), min(hi, 1.3)
            x[i] = rng.uniform(lo2, hi2)
        points.append(x)
    return points


@needs_reference
@pytest.mark.parametrize("name", NAMES)
def test_structure_and_suggestions(reference_cases, name):
    mp, dp, me, de = reference_cases[name]
    assert me.config.par_names == list(mp.config.par_names)
    assert me.config.par_order == list(mp.config.par_order)
    assert me.config.npars == mp.config.npars
    assert me.config.poi_index == mp.config.poi_index and me.config.poi_name == mp.config.poi_name
    assert me.config.channels == list(mp.config.channels) and me.config.samples == list(mp.config.samples)
    assert me.config.channel_nbins == dict(mp.config.channel_nbins)
    assert me.config.suggested_init() == pytest.approx(mp.config.suggested_init(), rel=1e-15, abs=0)
    assert me.config.suggested_bounds() == [tuple(map(float, b)) for b in mp.config.suggested_bounds()]
    assert me.config.suggested_fixed() == list(mp.config.suggested_fixed())
    assert me.config.auxdata == pytest.approx(list(mp.config.auxdata), rel=1e-15, abs=0)
    assert de == pytest.approx(list(map(float, dp)), rel=0, abs=0)
    for par in mp.config.par_order:
        assert me.config.par_slice(par) == mp.config.par_slice(par)


@needs_reference
@pytest.mark.parametrize("name", NAMES)
def test_logpdf_and_expected_data(reference_cases, name):
    mp, dp, me, de = reference_cases[name]
    points = [np.array(mp.config.suggested_init(), dtype=float)] + random_points(mp, 3, seed=20261203)
    for pars in points:
        ours, theirs = me.logpdf(pars, de), mp.logpdf(pars, dp)
        assert ours.shape == (1,)
        assert ours[0] == pytest.approx(float(theirs[0]), rel=1e-9), f"{name}: logpdf {ours[0]} vs pyhf {theirs[0]}"
        expected_ours, expected_theirs = me.expected_data(pars), np.asarray(mp.expected_data(pars))
        assert expected_ours == pytest.approx(expected_theirs, rel=1e-9, abs=1e-9)
        assert me.expected_data(pars, include_auxdata=False) == pytest.approx(np.asarray(mp.expected_actualdata(pars)), rel=1e-9, abs=1e-9)


@needs_reference
@pytest.mark.parametrize("name", NAMES)
def test_gradient_against_finite_differences(reference_cases, name):
    """Central differences, step 1e-6 (relative to max(1, |p|)), on up to 25 free parameters."""
    mp, dp, me, de = reference_cases[name]
    pars = random_points(mp, 1, seed=7)[0]
    value, grad = me.logpdf_and_grad(pars, de)
    assert value == pytest.approx(float(me.logpdf(pars, de)[0]), rel=1e-14)
    free = [i for i, f in enumerate(me.config.suggested_fixed()) if not f]
    rng = np.random.default_rng(3)
    for i in rng.choice(free, size=min(25, len(free)), replace=False):
        h = 1e-6 * max(1.0, abs(pars[i]))
        up, down = pars.copy(), pars.copy()
        up[i] += h
        down[i] -= h
        numeric = (me.logpdf(up, de)[0] - me.logpdf(down, de)[0]) / (2 * h)
        scale = max(1.0, abs(value)) * 1e-9 / h  # rounding of two logpdf values of size |value|
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=10 * scale), f"{name}: d/d {me.config.par_names[i]}"


@needs_reference
@pytest.mark.parametrize("name", ["01_pyhf_example", "02_cms_combine2pyhf_one-bin-stat-full", "03_atlas_susy2018_14_comb",
                                  "04_atlas_susy2018_22_simplified_MB-SSd", "05_atlas_susy2018_31_sbottom_RegionA"])
def test_fit_against_pyhf_minuit(reference_cases, name):
    """The best fit, 2NLL and HESSE uncertainties of pyhf's Minuit fit (strategy 2, tolerance 1e-4;
    efthf converges far tighter, so 2NLL may only be lower)."""
    _, _, me, de = reference_cases[name]
    ref = FITS[name]["fit"]
    (values, twice_nll) = efthf.infer.mle.fit(de, me, return_uncertainties=True, return_fitted_val=True)
    assert float(twice_nll) <= ref["twice_nll"] + 1e-6
    assert float(twice_nll) == pytest.approx(ref["twice_nll"], abs=1e-3)
    for par, expected_values in ref["bestfit"].items():
        expected_values = expected_values if isinstance(expected_values, list) else [expected_values]
        sigmas = ref["uncertainties"][par]
        sigmas = sigmas if isinstance(sigmas, list) else [sigmas]
        for i, expected, sigma in zip(range(me.config.par_slice(par).start, me.config.par_slice(par).stop), expected_values, sigmas):
            assert values[i, 0] == pytest.approx(expected, abs=max(1e-4, 1e-2 * sigma)), me.config.par_names[i]
            if sigma > 0:
                assert values[i, 1] == pytest.approx(sigma, rel=0.01), me.config.par_names[i]
    direct = efthf.infer.mle.fit(de, me)
    assert direct == pytest.approx(values[:, 0], abs=1e-5)  # the same minimum, without the Hessian step


@needs_reference
@pytest.mark.parametrize("name", ["01_pyhf_example", "02_cms_combine2pyhf_one-bin-stat-full", "03_atlas_susy2018_14_comb",
                                  "04_atlas_susy2018_22_simplified_MB-SSd", "05_atlas_susy2018_31_sbottom_RegionA"])
def test_hypotest_against_pyhf(reference_cases, name):
    _, _, me, de = reference_cases[name]
    for key, mu in (("hypotest_qtilde_mu1", 1.0), ("hypotest_qtilde_mu0.5", 0.5)):
        ref = FITS[name][key]
        cls, tails, band = efthf.infer.hypotest(mu, de, me, test_stat="qtilde", return_tail_probs=True, return_expected_set=True)
        assert float(cls) == pytest.approx(ref["cls_obs"], abs=1e-4)
        assert [float(t) for t in tails] == pytest.approx([ref["tail_probs"]["clsb_obs"], ref["tail_probs"]["clb_obs"]], abs=1e-4)
        assert [float(b) for b in band] == pytest.approx(ref["cls_exp"], abs=1e-4)
    ref = FITS[name]["discovery_q0"]
    p0, band = efthf.infer.hypotest(0.0, de, me, test_stat="q0", return_expected_set=True)
    assert float(p0) == pytest.approx(ref["p0_obs"], abs=1e-4)
    assert [float(b) for b in band] == pytest.approx(ref["p0_exp"], abs=1e-4)


@needs_reference
@pytest.mark.parametrize("name", ["01_pyhf_example", "02_cms_combine2pyhf_one-bin-stat-full", "03_atlas_susy2018_14_comb",
                                  "04_atlas_susy2018_22_simplified_MB-SSd"])
def test_upper_limits_against_pyhf(reference_cases, name):
    """toms748 (pyhf's rtol 1e-4, so 5e-4 relative) and the linear-grid interpolation (1e-4)."""
    _, _, me, de = reference_cases[name]
    ref = FITS[name]["upper_limit"]
    observed, expected = efthf.infer.intervals.upper_limits.upper_limit(de, me)
    assert float(observed) == pytest.approx(ref["obs_limit"], rel=5e-4)
    assert list(expected) == pytest.approx(ref["exp_limits"], rel=5e-4)
    grid = ref.get("linear_grid")
    if grid:
        observed, expected, (scan, results) = efthf.infer.intervals.upper_limits.upper_limit(
            de, me, np.array(grid["scan"]), level=0.05, return_results=True)
        assert float(observed) == pytest.approx(grid["obs_limit"], rel=1e-4)
        assert list(expected) == pytest.approx(grid["exp_limits"], rel=1e-4)
        assert [float(r[0]) for r in results] == pytest.approx([p["cls_obs"] for p in grid["scan_points"]], abs=1e-4)


@needs_reference
def test_concurrent_evaluations_agree(reference_cases):
    """One model evaluated from 8 threads at once (the GIL is released in the library)."""
    mp, dp, me, de = reference_cases["05_atlas_susy2018_31_sbottom_RegionA"]
    points = random_points(mp, 16, seed=11)
    serial = [me.logpdf_and_grad(p, de) for p in points]
    results = [None] * len(points)

    def work(k):
        for j in range(k, len(points), 8):
            results[j] = me.logpdf_and_grad(points[j], de)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (v1, g1), (v2, g2) in zip(serial, results):
        assert v1 == v2 and np.array_equal(g1, g2)


@needs_reference
@pytest.mark.parametrize("codes", [("code1", "code0"), ("code4", "code2"), ("code1", "code4p")])
def test_modifier_settings_as_pyhf(codes):
    """Interpolation codes chosen as pyhf's modifier_settings give pyhf's logpdf."""
    normsys, histosys = codes
    settings = {"normsys": {"interpcode": normsys}, "histosys": {"interpcode": histosys}}
    from conftest import REFERENCE_DIR
    folder = REFERENCE_DIR / "workspaces/04_atlas_susy2018_22_simplified_MB-SSd"
    patchset = pyhf.PatchSet(json.loads((folder / "patchset_SYNTHETIC.json").read_text()))
    spec = dict(patchset.apply(pyhf.Workspace(json.loads((folder / "BkgOnly.json").read_text())), "synthetic_signal"))
    mp = pyhf.Workspace(spec).model(modifier_settings=settings)
    ws = efthf.Workspace(spec)
    me = ws.model(modifier_settings=settings)
    assert me.config.modifier_settings == settings
    data = ws.data(me)
    for pars in random_points(mp, 3, seed=5):
        pars = np.where(np.array(mp.config.suggested_fixed()), pars, pars * 1.5 - 0.5 * np.array(mp.config.suggested_init()))
        pars = np.clip(pars, [b[0] for b in mp.config.suggested_bounds()], [b[1] for b in mp.config.suggested_bounds()])
        assert me.logpdf(pars, data)[0] == pytest.approx(float(mp.logpdf(pars, data)[0]), rel=1e-9)


def test_pyhf_readme_snippet_runs_with_changed_import():
    """pyhf's README example, verbatim except for the import, gives pyhf's numbers."""
    snippet = '''
import {lib} as pyhf
pyhf.set_backend("numpy")
model = pyhf.simplemodels.uncorrelated_background(
    signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0]
)
data = [51, 48] + model.config.auxdata
test_mu = 1.0
CLs_obs, CLs_exp = pyhf.infer.hypotest(
    test_mu, data, model, test_stat="qtilde", return_expected=True
)
import numpy as np
poi_values = np.linspace(0.1, 5, 50)
obs_limit, exp_limits, (scan, results) = pyhf.infer.intervals.upper_limits.upper_limit(
    data, model, poi_values, level=0.05, return_results=True
)
bestfit = pyhf.infer.mle.fit(data, model)
'''
    out = {}
    for lib in ("pyhf", "efthf"):
        scope: dict = {}
        exec(snippet.format(lib=lib), scope)
        out[lib] = scope
    a, b = out["efthf"], out["pyhf"]
    assert float(a["CLs_obs"]) == pytest.approx(float(b["CLs_obs"]), abs=1e-5)
    assert float(a["CLs_exp"]) == pytest.approx(float(b["CLs_exp"]), abs=1e-5)
    assert float(a["obs_limit"]) == pytest.approx(float(b["obs_limit"]), rel=1e-4)
    assert list(a["exp_limits"]) == pytest.approx([float(x) for x in b["exp_limits"]], rel=1e-4)
    assert list(a["bestfit"]) == pytest.approx([float(x) for x in b["bestfit"]], abs=1e-4)
