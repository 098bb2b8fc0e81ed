"""Make invalid_cases.json: small workspaces pyhf 0.7.6 REJECTS (with exception type and message), plus
a few questionable inputs it ACCEPTS (with what it then does).

Rerun (needs pyhf==0.7.6):

    python3 make_invalid_cases.py     # a few seconds

Each case is a mutation of one small base workspace (BASE below, 2 channels). The inputs are run
through the stages  workspace = pyhf.Workspace(spec) (schema validation) -> model =
ws.model(**model_kwargs) -> data = ws.data(model) -> model.logpdf(suggested_init, data), and for some
cases a further stage (fit or hypotest). The first stage that raises is recorded as `stage` with
`exception` (qualified class name) and `message` (str(e)); if no stage raises the case goes to
"accepted" with pyhf's par_order, expected data and logpdf at the inits and at a "probe" point
(every free parameter at init + 0.5). Each entry has the full spec, so a Swift
test can feed it to efthf and check that it is rejected (message texts are pyhf's, for information;
the script re-executes itself with PYTHONHASHSEED=0 because some messages print a set's members).
"""
import copy
import json
import os
import sys
import traceback

# Some pyhf messages list the members of a Python set (e.g. InvalidNameReuse's paramset types), whose
# order depends on string hashing: re-exec with a fixed PYTHONHASHSEED so the output is reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import pyhf  # noqa: E402

import _common as C  # noqa: E402

OUT = os.path.join(C.HERE, "invalid_cases.json")

BASE = {
    "channels": [
        {"name": "SR", "samples": [
            {"name": "signal", "data": [5.0, 10.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "bkg", "data": [50.0, 60.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                {"name": "staterror_SR", "type": "staterror", "data": [3.0, 4.0]}]}]},
        {"name": "CR", "samples": [
            {"name": "bkg", "data": [100.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                {"name": "staterror_CR", "type": "staterror", "data": [5.0]}]}]},
    ],
    "observations": [{"name": "SR", "data": [55, 70]}, {"name": "CR", "data": [102]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


def base():
    return copy.deepcopy(BASE)


def ch(s, name):
    return next(c for c in s["channels"] if c["name"] == name)


def smp(s, chan, name):
    return next(x for x in ch(s, chan)["samples"] if x["name"] == name)


def params(s):
    return s["measurements"][0]["config"]["parameters"]


CASES = []


def case(key, description, model_kwargs=None, extra=None):
    def deco(fn):
        CASES.append((key, description, fn, model_kwargs or {}, extra))
        return fn
    return deco


@case("staterror_mask_mismatch", "staterror 'stat_shared' on bkg in SR and CR but on signal only in SR (signal is "
      "also in CR): samples sharing a staterror name must have identical masks (assert in staterror builder)")
def _(s):
    smp(s, "SR", "bkg")["modifiers"].append({"name": "stat_shared", "type": "staterror", "data": [1.0, 1.0]})
    smp(s, "SR", "signal")["modifiers"].append({"name": "stat_shared", "type": "staterror", "data": [0.5, 0.5]})
    smp(s, "CR", "bkg")["modifiers"].append({"name": "stat_shared", "type": "staterror", "data": [2.0]})
    ch(s, "CR")["samples"].append({"name": "signal", "data": [1.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]})
    return s


@case("lumi_without_config", "a lumi modifier but no 'lumi' entry in the measurement parameters")
def _(s):
    smp(s, "SR", "signal")["modifiers"].append({"name": "lumi", "type": "lumi", "data": None})
    return s


@case("shapesys_name_reused_same_channel", "one shapesys name on two samples of one channel (shapesys is not shared)")
def _(s):
    smp(s, "SR", "signal")["modifiers"].append({"name": "shared_shape", "type": "shapesys", "data": [1.0, 1.0]})
    smp(s, "SR", "bkg")["modifiers"].append({"name": "shared_shape", "type": "shapesys", "data": [5.0, 6.0]})
    return s


@case("shapesys_name_reused_two_channels", "one shapesys name on bkg in SR and in CR")
def _(s):
    smp(s, "SR", "bkg")["modifiers"].append({"name": "bkg_shape", "type": "shapesys", "data": [5.0, 6.0]})
    smp(s, "CR", "bkg")["modifiers"].append({"name": "bkg_shape", "type": "shapesys", "data": [10.0]})
    return s


@case("normfactor_normsys_same_name", "name 'mu' is a normfactor on signal and a normsys on bkg")
def _(s):
    smp(s, "SR", "bkg")["modifiers"].append({"name": "mu", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}})
    return s


@case("staterror_shapesys_same_name", "name 'staterror_SR' is a staterror on bkg and a shapesys on signal")
def _(s):
    smp(s, "SR", "signal")["modifiers"].append({"name": "staterror_SR", "type": "shapesys", "data": [1.0, 1.0]})
    return s


@case("histosys_staterror_same_name", "name 'bkg_norm' is a normsys on bkg and a staterror on signal")
def _(s):
    smp(s, "SR", "signal")["modifiers"].append({"name": "bkg_norm", "type": "staterror", "data": [1.0, 1.0]})
    return s


@case("poi_not_in_model", "measurement POI 'mu_missing' is no parameter of the model")
def _(s):
    s["measurements"][0]["config"]["poi"] = "mu_missing"
    return s


@case("poi_not_scalar", "POI is a 2-bin shapefactor")
def _(s):
    smp(s, "SR", "signal")["modifiers"] = [{"name": "sf_sig", "type": "shapefactor", "data": None}]
    s["measurements"][0]["config"]["poi"] = "sf_sig"
    return s


@case("bin_count_mismatch_in_channel", "in SR, signal has 3 bins and bkg 2 (signal listed first)")
def _(s):
    smp(s, "SR", "signal")["data"] = [5.0, 10.0, 2.0]
    return s


@case("bin_count_mismatch_in_channel_second_sample", "in SR, signal has 2 bins and bkg 3 (bkg listed second)")
def _(s):
    b = smp(s, "SR", "bkg")
    b["data"] = [50.0, 60.0, 20.0]
    b["modifiers"][1]["data"] = [3.0, 4.0, 2.0]
    return s


@case("observation_bin_count_mismatch", "observation for SR has 1 bin, the channel 2")
def _(s):
    s["observations"][0]["data"] = [55]
    return s


@case("missing_observation", "no observation for channel CR")
def _(s):
    s["observations"] = [o for o in s["observations"] if o["name"] != "CR"]
    return s


@case("histosys_length_mismatch", "histosys hi_data/lo_data have 3 entries for a 2-bin sample")
def _(s):
    smp(s, "SR", "bkg")["modifiers"].append({"name": "jes", "type": "histosys",
                                             "data": {"hi_data": [52.0, 63.0, 1.0], "lo_data": [48.0, 58.0, 1.0]}})
    return s


@case("staterror_length_mismatch", "staterror data has 3 entries for a 2-bin sample")
def _(s):
    smp(s, "SR", "bkg")["modifiers"][1]["data"] = [3.0, 4.0, 1.0]
    return s


@case("shapesys_length_mismatch", "shapesys data has 1 entry for a 2-bin sample")
def _(s):
    smp(s, "SR", "bkg")["modifiers"].append({"name": "bkg_shape", "type": "shapesys", "data": [5.0]})
    return s


@case("wrong_version", "version '1.0.1'")
def _(s):
    s["version"] = "1.0.1"
    return s


@case("lumi_wrong_name", "a lumi modifier named 'luminosity' (schema requires the name 'lumi')")
def _(s):
    smp(s, "SR", "signal")["modifiers"].append({"name": "luminosity", "type": "lumi", "data": None})
    params(s).append({"name": "luminosity", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]})
    return s


@case("normsys_missing_lo", "normsys data without 'lo'")
def _(s):
    smp(s, "SR", "bkg")["modifiers"][0]["data"] = {"hi": 1.1}
    return s


@case("modifier_extra_key", "a modifier with an extra key 'comment'")
def _(s):
    smp(s, "SR", "signal")["modifiers"][0]["comment"] = "not allowed"
    return s


@case("unknown_modifier_type", "modifier type 'normfactorx'")
def _(s):
    smp(s, "SR", "signal")["modifiers"][0]["type"] = "normfactorx"
    return s


@case("no_channels", "empty channels list")
def _(s):
    s["channels"] = []
    return s


@case("param_config_wrong_length", "measurement config gives mu two inits")
def _(s):
    params(s).append({"name": "mu", "inits": [1.0, 2.0]})
    return s


@case("auxdata_on_normfactor", "measurement config sets auxdata for the normfactor mu (quirk: message says 'expected 9')")
def _(s):
    params(s).append({"name": "mu", "auxdata": [1.0]})
    return s


@case("sigmas_on_normsys", "measurement config sets sigmas for the normsys bkg_norm")
def _(s):
    params(s).append({"name": "bkg_norm", "sigmas": [2.0]})
    return s


@case("duplicate_param_config", "two measurement parameter entries for mu")
def _(s):
    params(s).extend([{"name": "mu", "bounds": [[0.0, 5.0]]}, {"name": "mu", "inits": [0.5]}])
    return s


@case("measurement_name_not_found", "ws.model(measurement_name='nope')", model_kwargs={"measurement_name": "nope"})
def _(s):
    return s


@case("bad_interpcode", "modifier_settings normsys interpcode 'code0' (normsys accepts code1/code4)",
      model_kwargs={"modifier_settings": {"normsys": {"interpcode": "code0"}, "histosys": {"interpcode": "code4p"}}})
def _(s):
    return s


@case("init_outside_bounds", "measurement config mu inits [6] with bounds [[0, 5]]: the model builds, the fit refuses",
      extra="fit")
def _(s):
    params(s).append({"name": "mu", "inits": [6.0], "bounds": [[0.0, 5.0]]})
    return s


@case("poi_fixed", "the POI mu is fixed in the measurement config: the model builds, hypotest refuses", extra="hypotest")
def _(s):
    params(s).append({"name": "mu", "fixed": True})
    return s


# ---- questionable inputs (pyhf 0.7.6 accepts most of these) ----
@case("param_config_unknown_name", "measurement config for 'not_a_parameter' (silently ignored)")
def _(s):
    params(s).append({"name": "not_a_parameter", "inits": [3.0], "bounds": [[0.0, 5.0]]})
    return s


@case("duplicate_sample_names", "two samples named 'bkg' in SR (HEAD rejects these explicitly, #2396)")
def _(s):
    ch(s, "SR")["samples"].append({"name": "bkg", "data": [1.0, 2.0], "modifiers": []})
    return s


@case("duplicate_channel_names", "two channels named 'CR' (HEAD rejects these explicitly, #2396)")
def _(s):
    s["channels"].append({"name": "CR", "samples": [{"name": "bkg", "data": [7.0], "modifiers": []}]})
    return s


@case("duplicate_modifier_in_sample", "the same (name, type) normsys twice on one sample, different data (HEAD rejects, #2396)")
def _(s):
    smp(s, "SR", "bkg")["modifiers"].append({"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.2, "lo": 0.8}})
    return s


@case("extra_observation", "an observation for a channel 'VR' that does not exist")
def _(s):
    s["observations"].append({"name": "VR", "data": [3]})
    return s


@case("empty_poi", "measurement POI ''")
def _(s):
    s["measurements"][0]["config"]["poi"] = ""
    return s


@case("negative_nominal", "bkg nominal -5 in SR bin 1: model builds, logpdf is NaN (no clipping by default)")
def _(s):
    smp(s, "SR", "bkg")["data"] = [50.0, -5.0]
    smp(s, "SR", "signal")["data"] = [1.0, 1.0]
    return s


@case("lumi_config_without_lumi_modifier", "a lumi entry in the measurement config but no lumi modifier")
def _(s):
    params(s).append({"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "bounds": [[0.9, 1.1]], "inits": [1.0]})
    return s


def qualname(e):
    t = type(e)
    return f"{t.__module__}.{t.__qualname__}"


def run(key, desc, fn, model_kwargs, extra):
    spec = fn(base())
    entry = {"key": key, "description": desc, "model_kwargs": model_kwargs, "spec": spec}
    stage = "workspace"
    try:
        ws = pyhf.Workspace(copy.deepcopy(spec))
        stage = "model"
        model = ws.model(**copy.deepcopy(model_kwargs))
        stage = "data"
        data = ws.data(model)
        stage = "logpdf"
        init = model.config.suggested_init()
        lp = model.logpdf(init, data)
        if extra == "fit":
            stage = "fit"
            pyhf.infer.mle.fit(data, model)
        elif extra == "hypotest":
            stage = "hypotest"
            pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde")
    except Exception as e:
        entry.update({"rejected": True, "stage": stage, "exception": qualname(e), "message": str(e),
                      "where": traceback.extract_tb(e.__traceback__)[-1].filename.split("site-packages/")[-1]
                      + ":" + str(traceback.extract_tb(e.__traceback__)[-1].lineno)})
        return entry
    entry.update({
        "rejected": False,
        "poi": model.config.poi_name,
        "par_order": C.par_order_info(model),
        "par_names": list(model.config.par_names),
        "channels": list(model.config.channels),
        "channel_nbins": {c: int(n) for c, n in model.config.channel_nbins.items()},
        "samples": list(model.config.samples),
        "suggested_init": C.by_name(model, init),
        "main_data": C.floats(ws.data(model, include_auxdata=False)),
        "auxdata": C.floats(model.config.auxdata),
        "expected_main_at_init": C.floats(model.expected_data(init, include_auxdata=False)),
        "logpdf_at_init": float(np.asarray(lp).ravel()[0]),
    })
    # a probe point: every free parameter moved by +0.5 from its init (shows e.g. what a duplicated modifier does)
    probe = np.array(init, dtype=float) + 0.5 * ~np.asarray(model.config.suggested_fixed(), dtype=bool)
    entry["probe"] = {"pars": C.by_name(model, probe),
                      "expected_main": C.floats(model.expected_data(probe, include_auxdata=False)),
                      "logpdf": float(model.logpdf(probe, data)[0])}
    return entry


def main():
    pyhf.set_backend("numpy")
    out = {"description": "workspaces pyhf 0.7.6 rejects (and questionable ones it accepts); see make_invalid_cases.py",
           "versions": C.versions(), "base_spec": BASE, "rejected": [], "accepted": []}
    for key, desc, fn, kw, extra in CASES:
        e = run(key, desc, fn, kw, extra)
        (out["rejected"] if e["rejected"] else out["accepted"]).append(e)
        msg = f"{e['stage']}: {e['exception']}: {e['message'][:150]!r}" if e["rejected"] else \
            f"ACCEPTED par_order={[p['name'] for p in e['par_order']]} logpdf={e['logpdf_at_init']}"
        print(f"{key}: {msg}", file=sys.stderr)
    C.write_json_atomic(OUT, out, indent=2, compact=True)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes): {len(out['rejected'])} rejected, {len(out['accepted'])} accepted",
          file=sys.stderr)


if __name__ == "__main__":
    main()
