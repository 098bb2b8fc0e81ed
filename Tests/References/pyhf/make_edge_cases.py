"""Make edge_cases/*.json (small synthetic HistFactory workspaces) and edge_cases_reference.json.

Rerun (needs pyhf==0.7.6, numpy, scipy; imports make_reference.random_point from
/work/shared/reference or $EFTHF_REFERENCE_DIR):

    python3 make_edge_cases.py        # a few seconds

Every workspace is schema 1.0.0 and accepted by pyhf 0.7.6 (pyhf.Workspace validates it). For each
workspace one or more "evaluations" are recorded: a (measurement, modifier_settings) pair, built as
ws.model(measurement_name=..., modifier_settings=...) (an argument left out when null). Per evaluation:
  measurement, poi, modifier_settings passed (null = pyhf defaults) and the effective interpcodes,
  par_order (name, n, paramset type, modifier types), par_names, suggested init/bounds/fixed by name,
  main_data (ws.data(model, include_auxdata=False)), auxdata (model.config.auxdata),
  and at the suggested init and at each point: pars by name, expected_main
  (model.expected_data(pars, include_auxdata=False)), expected_by_sample ({sample: main bins},
  model.main_model.expected_data(pars, return_by_sample=True)), expected_aux
  (model.expected_auxdata(pars)), logpdf (model.logpdf(pars, data)[0]), main_logpdf and
  constraint_logpdf (model.mainlogpdf / model.constraint_logpdf).
Points: 3 "random" (make_reference.random_point) then 2 "wide" (_common.wide_point: alphas in
[-2.5, 2.5], gammas [0.5, 1.5], normfactors [0, 3], lumi in bounds), drawn with
numpy.random.default_rng([SEED, case_index, measurement_index]) so evaluations of one measurement
that differ only in interpcodes share their points. Case i_interpcodes also has "grid" points
(every normsys/histosys alpha set to one value v, mu = 1). Non-finite numbers are written as strings.
"""
import copy
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pyhf  # noqa: E402

import _common as C  # noqa: E402

SEED = 20260316
OUT_DIR = os.path.join(C.HERE, "edge_cases")
OUT = os.path.join(C.HERE, "edge_cases_reference.json")
CLASS_DEFAULT_INTERP = {"normsys": "code1", "histosys": "code0"}  # used when modifier_settings omits a type
GRID = [-3.0, -2.5, -2.0, -1.5, -1.0, -0.7, -0.3, 0.0, 0.2, 0.5, 0.9, 1.0, 1.3, 2.0, 3.0]


def nf(name):
    return {"name": name, "type": "normfactor", "data": None}


def normsys(name, hi, lo):
    return {"name": name, "type": "normsys", "data": {"hi": hi, "lo": lo}}


def histosys(name, hi, lo):
    return {"name": name, "type": "histosys", "data": {"hi_data": hi, "lo_data": lo}}


def stat(name, data):
    return {"name": name, "type": "staterror", "data": data}


def shapesys(name, data):
    return {"name": name, "type": "shapesys", "data": data}


def shapefactor(name):
    return {"name": name, "type": "shapefactor", "data": None}


LUMI = {"name": "lumi", "type": "lumi", "data": None}


def sample(name, data, mods):
    return {"name": name, "data": data, "modifiers": mods}


def ws(channels, observations, measurements):
    return {"channels": channels, "observations": observations, "measurements": measurements, "version": "1.0.0"}


def meas(name, poi, parameters=()):
    return {"name": name, "config": {"poi": poi, "parameters": list(parameters)}}


def obs(name, data):
    return {"name": name, "data": data}


def chan(name, samples):
    return {"name": name, "samples": samples}


CASES = []  # (key, description, workspace, evaluations [(measurement or None, modifier_settings or None)])

CASES.append(("a_shared_normsys_histosys",
    "One name 'jes' is a normsys and a histosys on the same sample (signal/SR) and a normsys on another "
    "(bkg2/SR, bkg1/CR); 'jer' is a normsys on bkg1/SR and a histosys on bkg2/SR and bkg1/CR. "
    "Each name is one alpha.",
    ws([chan("SR", [sample("signal", [5.0, 3.0], [nf("mu"), normsys("jes", 1.1, 0.92), histosys("jes", [5.6, 3.1], [4.5, 2.8])]),
                    sample("bkg1", [50.0, 30.0], [normsys("jer", 1.05, 0.97)]),
                    sample("bkg2", [20.0, 10.0], [histosys("jer", [22.0, 10.5], [18.5, 9.8]), normsys("jes", 1.03, 0.98)])]),
        chan("CR", [sample("bkg1", [100.0], [normsys("jes", 1.02, 0.99), histosys("jer", [104.0], [97.0])])])],
       [obs("SR", [57, 41]), obs("CR", [103])], [meas("meas", "mu")]),
    [(None, None)]))

CASES.append(("b_zero_nominal_bins",
    "Zero-nominal and zero-uncertainty bins: staterror_SR has a bin whose nominal sum is 0 (SR bin 1) -> "
    "gamma fixed, sigma 1; staterror_CR has a bin with uncertainty 0 (CR bin 0) -> fixed; shapesys "
    "bkg_shape_SR has nominal 0 in SR bin 1 and uncertainty 0 in SR bin 2 -> fixed (tau = 1); "
    "bkg_shape_CR has uncertainty 0 in CR bin 1.",
    ws([chan("SR", [sample("signal", [1.0, 2.0, 0.0], [nf("mu")]),
                    sample("bkg", [10.0, 0.0, 5.0], [stat("staterror_SR", [1.0, 0.0, 0.5]), shapesys("bkg_shape_SR", [2.0, 1.0, 0.0])]),
                    sample("bkg2", [0.0, 0.0, 3.0], [stat("staterror_SR", [0.0, 0.0, 0.3])])]),
        chan("CR", [sample("bkg", [20.0, 8.0], [stat("staterror_CR", [0.0, 0.8]), shapesys("bkg_shape_CR", [4.0, 0.0])])])],
       [obs("SR", [12, 1, 7]), obs("CR", [22, 9])], [meas("meas", "mu")]),
    [(None, None)]))

CASES.append(("c_staterror_shared",
    "staterror_SR is carried by A and B in SR (not by C or signal); staterror_CR only by A in CR; "
    "stat_D is one staterror name on sample D in both channels (5 gammas).",
    ws([chan("SR", [sample("A", [10.0, 20.0, 5.0], [stat("staterror_SR", [1.0, 2.0, 1.0])]),
                    sample("B", [5.0, 5.0, 5.0], [stat("staterror_SR", [0.5, 1.0, 0.0])]),
                    sample("C", [30.0, 10.0, 2.0], [normsys("c_norm", 1.1, 0.9)]),
                    sample("D", [1.0, 1.0, 1.0], [stat("stat_D", [0.2, 0.3, 0.4])]),
                    sample("signal", [1.0, 2.0, 3.0], [nf("mu")])]),
        chan("CR", [sample("A", [40.0, 30.0], [stat("staterror_CR", [2.0, 3.0])]),
                    sample("B", [10.0, 10.0], []),
                    sample("D", [2.0, 2.0], [stat("stat_D", [0.5, 0.1])])])],
       [obs("SR", [48, 38, 16]), obs("CR", [55, 41])], [meas("meas", "mu")]),
    [(None, None)]))

CASES.append(("d_shapefactor_two_channels",
    "shapefactor sf_bkg on bkg in CR and SR (both 2 bins): one gamma per bin index, shared by the two "
    "channels; sf_sig only on signal in SR.",
    ws([chan("CR", [sample("bkg", [100.0, 80.0], [shapefactor("sf_bkg")]),
                    sample("other", [10.0, 10.0], [normsys("o_norm", 1.1, 0.9)])]),
        chan("SR", [sample("bkg", [10.0, 8.0], [shapefactor("sf_bkg")]),
                    sample("signal", [2.0, 4.0], [nf("mu"), shapefactor("sf_sig")])])],
       [obs("CR", [112, 85]), obs("SR", [14, 13])], [meas("meas", "mu")]),
    [(None, None)]))

CASES.append(("d2_shapefactor_unequal_bins",
    "QUIRK, accepted by pyhf 0.7.6: shapefactor sf_bkg on bkg in CR (2 bins) and SR (3 bins). pyhf makes "
    "n = 2 parameters (bin count of the first channel in sorted order, CR); SR bins 0,1 use gamma 0,1 and "
    "SR bin 2 is left unmodified (factor 1). Arguably invalid input; here to pin what pyhf does. The model "
    "has no constraint terms (no auxdata); pyhf's model.expected_auxdata raises IndexError then, so "
    "expected_aux is recorded as [] (and constraint_logpdf, which raises too, as 0.0).",
    ws([chan("CR", [sample("bkg", [100.0, 80.0], [shapefactor("sf_bkg")])]),
        chan("SR", [sample("bkg", [10.0, 8.0, 4.0], [shapefactor("sf_bkg")]),
                    sample("signal", [1.0, 2.0, 3.0], [nf("mu")])])],
       [obs("CR", [104, 78]), obs("SR", [12, 9, 6])], [meas("meas", "mu")]),
    [(None, None)]))

CASES.append(("e_fixed_parameters",
    "Measurement config: POI mu with inits [0.5], bounds [[-1, 5]]; normfactor k_bkg inits [1.2], "
    "bounds [[0.5, 2]]; normsys syst_fixed fixed with init 0.4; normsys syst_free bounds [[-3, 3]]; "
    "staterror_SR fixed (both bins) with inits [1.05, 0.95].",
    ws([chan("SR", [sample("signal", [4.0, 6.0], [nf("mu")]),
                    sample("bkg", [40.0, 30.0], [normsys("syst_fixed", 1.1, 0.9), normsys("syst_free", 1.05, 0.94),
                                                  nf("k_bkg"), stat("staterror_SR", [2.0, 1.5])])])],
       [obs("SR", [45, 37])],
       [meas("meas", "mu", [{"name": "mu", "inits": [0.5], "bounds": [[-1.0, 5.0]]},
                            {"name": "k_bkg", "inits": [1.2], "bounds": [[0.5, 2.0]]},
                            {"name": "syst_fixed", "fixed": True, "inits": [0.4]},
                            {"name": "syst_free", "bounds": [[-3.0, 3.0]]},
                            {"name": "staterror_SR", "fixed": True, "inits": [1.05, 0.95]}])]),
    [(None, None)]))

CASES.append(("f_multiple_measurements",
    "Three measurements with different POIs and configs; the reference is recorded for each "
    "(ws.model(measurement_name=...)). meas_signal: POI mu_sig, lumi sigma 0.02. meas_ttbar: POI "
    "mu_ttbar, lumi sigma 0.05 bounds [0.5,1.5], mu_sig fixed at 0. meas_fixedlumi: POI mu_sig, lumi "
    "fixed at 1, bkg_sys fixed, mu_ttbar inits 1.1 bounds [0.8,1.5].",
    ws([chan("SR", [sample("signal", [5.0, 10.0], [nf("mu_sig"), LUMI]),
                    sample("ttbar", [50.0, 40.0], [nf("mu_ttbar"), LUMI, normsys("bkg_sys", 1.08, 0.93)])]),
        chan("CR", [sample("ttbar", [200.0], [nf("mu_ttbar"), LUMI, normsys("bkg_sys", 1.02, 0.97)])])],
       [obs("SR", [57, 52]), obs("CR", [205])],
       [meas("meas_signal", "mu_sig", [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]}]),
        meas("meas_ttbar", "mu_ttbar", [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.05], "bounds": [[0.5, 1.5]], "inits": [1.0]},
                                        {"name": "mu_sig", "fixed": True, "inits": [0.0]}]),
        meas("meas_fixedlumi", "mu_sig", [{"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0], "fixed": True},
                                          {"name": "bkg_sys", "fixed": True},
                                          {"name": "mu_ttbar", "inits": [1.1], "bounds": [[0.8, 1.5]]}])]),
    [("meas_signal", None), ("meas_ttbar", None), ("meas_fixedlumi", None)]))

CASES.append(("g_lumi_config",
    "lumi on signal and bkg1 in SR and bkg1 in CR (not on the data-driven bkg2), with config auxdata "
    "[1.01], sigmas [0.035], bounds [[0.8, 1.2]], inits [0.98]; normsys xsec_bkg1 on bkg1 in both "
    "channels and on bkg2.",
    ws([chan("SR", [sample("signal", [3.0, 4.0], [LUMI, nf("mu")]),
                    sample("bkg1", [20.0, 25.0], [LUMI, normsys("xsec_bkg1", 1.1, 0.85)]),
                    sample("bkg2", [10.0, 5.0], [normsys("xsec_bkg1", 1.04, 0.97)])]),
        chan("CR", [sample("bkg1", [80.0], [LUMI, normsys("xsec_bkg1", 1.1, 0.85)])])],
       [obs("SR", [36, 33]), obs("CR", [83])],
       [meas("meas", "mu", [{"name": "lumi", "auxdata": [1.01], "sigmas": [0.035], "bounds": [[0.8, 1.2]], "inits": [0.98]}])]),
    [(None, None)]))

CASES.append(("h_continuous_data",
    "Non-integer observed counts (continuous Poisson via lgamma) and zero observed counts (SR bin 2, CR bin 1).",
    ws([chan("SR", [sample("signal", [2.0, 3.0, 1.0], [nf("mu")]),
                    sample("bkg", [10.5, 6.2, 0.8], [stat("staterror_SR", [1.1, 0.9, 0.3])])]),
        chan("CR", [sample("bkg", [30.0, 4.0], [normsys("bkg_norm", 1.1, 0.9)])])],
       [obs("SR", [12.7, 8.25, 0.0]), obs("CR", [31.4, 0])], [meas("meas", "mu")]),
    [(None, None)]))

INTERP_SETTINGS = [
    None,  # pyhf Model defaults: normsys code4, histosys code4p
    {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
    {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code2"}},
    {"histosys": {"interpcode": "code2"}},  # partial dict: normsys falls back to its class default code1
]
CASES.append(("i_interpcodes",
    "One model under several interpolation settings: defaults (code4/code4p), code1/code0, code4/code2 and "
    "a partial dict {'histosys': code2} (modifier_settings replaces the whole default dict, so normsys "
    "uses its class default code1). Includes a one-sided normsys (lo = 1) and a histosys whose up and "
    "down variations go the same way in some bins. v0.7.6 code2 quirk (semantics §3) is what pyhf gives.",
    ws([chan("SR", [sample("signal", [3.0, 5.0, 2.0], [nf("mu"), normsys("sig_theory", 1.15, 0.8),
                                                       histosys("jes", [3.3, 5.2, 2.4], [2.6, 4.9, 1.7])]),
                    sample("bkg", [40.0, 30.0, 12.0], [normsys("bkg_norm", 1.2, 0.9), normsys("onesided", 1.08, 1.0),
                                                        histosys("jes", [42.0, 33.0, 12.5], [39.0, 28.0, 11.0]),
                                                        histosys("shape_bkg", [44.0, 30.0, 10.0], [37.0, 31.0, 13.0])])])],
       [obs("SR", [45, 36, 15])], [meas("meas", "mu")]),
    [(None, s) for s in INTERP_SETTINGS]))

CASES.append(("j_sorting",
    "Channels, samples, observations, modifiers and measurement parameters given unsorted. pyhf sorts by "
    "Python string order (code points): 'CR_ttbar' < 'SR10' < 'SR2'; 'Wjets' < '_fakes' < 'signal' < 'ttbar'; "
    "'JES' < 'Mu_tt' < 'aa_norm' < 'mu_sig' < 'zz_norm'.",
    ws([chan("SR2", [sample("ttbar", [20.0, 15.0], [normsys("zz_norm", 1.1, 0.9), nf("Mu_tt"), histosys("JES", [21.0, 16.0], [19.0, 14.5])]),
                     sample("signal", [3.0, 5.0], [nf("mu_sig"), normsys("aa_norm", 1.05, 0.96)]),
                     sample("_fakes", [4.0, 2.0], [stat("staterror_SR2", [1.0, 0.5])]),
                     sample("Wjets", [8.0, 6.0], [stat("staterror_SR2", [0.8, 0.6]), normsys("aa_norm", 1.2, 0.85)])]),
        chan("CR_ttbar", [sample("ttbar", [150.0], [nf("Mu_tt"), normsys("zz_norm", 1.03, 0.98)]),
                          sample("Wjets", [30.0], [shapesys("wj_shape_CR", [3.0])])]),
        chan("SR10", [sample("signal", [1.0, 2.0, 4.0], [normsys("aa_norm", 1.02, 0.99), nf("mu_sig")]),
                      sample("ttbar", [10.0, 5.0, 1.0], [histosys("JES", [10.5, 5.5, 1.2], [9.0, 4.8, 0.9]), nf("Mu_tt")])])],
       [obs("SR10", [12, 8, 6]), obs("SR2", [36, 29]), obs("CR_ttbar", [178])],
       [meas("meas", "mu_sig", [{"name": "zz_norm", "bounds": [[-4.0, 4.0]]},
                                {"name": "Mu_tt", "inits": [1.1], "bounds": [[0.0, 5.0]]}])]),
    [(None, None)]))

CASES.append(("k_shapesys_two",
    "shapesys shape_A_CR on bkgA in CR (uncertainty 0 in CR bin 1 -> gamma fixed, tau 1) and shape_B_SR on "
    "bkgB in SR (uncertainty 0 in SR bin 1); bkgA/bkgB also appear without shapesys in the other channel.",
    ws([chan("CR", [sample("bkgA", [50.0, 20.0], [shapesys("shape_A_CR", [5.0, 0.0])]),
                    sample("bkgB", [10.0, 10.0], [])]),
        chan("SR", [sample("bkgB", [8.0, 6.0, 2.0], [shapesys("shape_B_SR", [0.8, 0.0, 0.5])]),
                    sample("bkgA", [4.0, 3.0, 1.0], []),
                    sample("signal", [1.0, 2.0, 2.0], [nf("mu")])])],
       [obs("CR", [62, 31]), obs("SR", [14, 10, 5])], [meas("meas", "mu")]),
    [(None, None)]))


def effective_interp(settings):
    s = settings if settings is not None else {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
    return {t: s.get(t, {}).get("interpcode", CLASS_DEFAULT_INTERP[t]) for t in ("normsys", "histosys")}


def point(model, data, x, kind, **extra):
    by_sample = np.asarray(model.main_model.expected_data(x, return_by_sample=True))
    nmain = model.config.nmaindata
    d = np.asarray(data, dtype=float)
    out = {"kind": kind}
    out.update(extra)
    out.update({
        "pars": C.by_name(model, x),
        "expected_main": C.floats(model.expected_data(x, include_auxdata=False)),
        "expected_by_sample": {s: C.floats(by_sample[i]) for i, s in enumerate(model.config.samples)},
        # pyhf 0.7.6's Model.expected_auxdata raises IndexError for a model without constraint terms
        "expected_aux": C.floats(model.expected_auxdata(x)) if model.config.nauxdata else [],
        "logpdf": float(model.logpdf(x, data)[0]),
        "main_logpdf": float(np.asarray(model.mainlogpdf(d[:nmain], x)).ravel()[0]),
        # (same IndexError for constraint_logpdf without constraints: recorded as 0.0, the empty sum)
        "constraint_logpdf": (float(np.asarray(model.constraint_logpdf(d[nmain:], x)).ravel()[0])
                              if model.config.nauxdata else 0.0),
    })
    return out


def evaluate(mr, case_idx, key, spec, meas_name, settings):
    w = pyhf.Workspace(copy.deepcopy(spec))
    kw = {}
    if meas_name is not None:
        kw["measurement_name"] = meas_name
    if settings is not None:
        kw["modifier_settings"] = copy.deepcopy(settings)
    model = w.model(**kw)
    data = w.data(model)
    measurement = w.get_measurement(measurement_name=meas_name) if meas_name else w.get_measurement()
    meas_idx = [m["name"] for m in spec["measurements"]].index(measurement["name"])
    ev = {
        "measurement": measurement["name"],
        "poi": model.config.poi_name,
        "modifier_settings": settings,
        "interpcodes": effective_interp(settings),
        "channels": list(model.config.channels),
        "channel_nbins": {c: int(n) for c, n in model.config.channel_nbins.items()},
        "samples": list(model.config.samples),
        "par_order": C.par_order_info(model),
        "par_names": list(model.config.par_names),
    }
    ev.update(C.suggested_by_name(model))
    ev.update({"main_data": C.floats(w.data(model, include_auxdata=False)),
               "auxdata": C.floats(model.config.auxdata)})
    init = np.array(model.config.suggested_init(), dtype=float)
    ev["at_init"] = point(model, data, init, "init")
    rng = np.random.default_rng([SEED, case_idx, meas_idx])
    pts = [point(model, data, mr.random_point(model, rng), "random") for _ in range(3)]
    pts += [point(model, data, C.wide_point(model, rng), "wide") for _ in range(2)]
    if key == "i_interpcodes":
        types = C.par_types(model)
        for v in GRID:
            x = init.copy()
            for p in model.config.par_order:
                if set(types[p]) & {"normsys", "histosys"}:
                    x[model.config.par_slice(p)] = v
            pts.append(point(model, data, x, "grid", alpha=v))
    ev["points"] = pts
    return ev


def main():
    pyhf.set_backend("numpy")
    mr = C.load_make_reference()
    os.makedirs(OUT_DIR, exist_ok=True)
    ref = {"description": "pyhf references for the synthetic edge-case workspaces in edge_cases/; see make_edge_cases.py",
           "versions": C.versions(), "seed": SEED,
           "rng": "numpy.random.default_rng([seed, case_index, measurement_index]); 3 random_point then 2 wide_point",
           "logpdf": "model.logpdf(pars, data)[0], full, all constants", "cases": []}
    for case_idx, (key, desc, spec, evals) in enumerate(CASES):
        pyhf.Workspace(spec)  # schema validation (raises if invalid)
        path = os.path.join(OUT_DIR, f"{key}.json")
        C.write_json_atomic(path, spec, indent=2, compact=True)
        entry = {"key": key, "case_index": case_idx, "workspace": f"edge_cases/{key}.json", "description": desc,
                 "evaluations": []}
        for meas_name, settings in evals:
            try:
                entry["evaluations"].append(evaluate(mr, case_idx, key, spec, meas_name, settings))
            except Exception as e:  # keep going, record pyhf's complaint
                entry["evaluations"].append({"measurement": meas_name, "modifier_settings": settings,
                                             "error": f"{type(e).__name__}: {e}"})
        ref["cases"].append(entry)
        print(f"{key}: {len(entry['evaluations'])} evaluation(s)"
              + "".join(f"; ERROR {e['error']}" for e in entry["evaluations"] if "error" in e), file=sys.stderr)
    C.write_json_atomic(OUT, ref, indent=1)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes) and {len(CASES)} workspaces in {OUT_DIR}", file=sys.stderr)


if __name__ == "__main__":
    main()
