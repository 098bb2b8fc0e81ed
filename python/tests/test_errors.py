"""Bad input raises one Python exception whose message names the file, the JSON path and the
value; nothing crashes or returns a silent NaN for a wrong call."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import efthf
from efthf.exceptions import FailedMinimization, InvalidArgument, InvalidSpecification

SIMPLE = {
    "channels": [{"name": "SR", "samples": [
        {"name": "signal", "data": [5.0, 3.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "bkg", "data": [50.0, 40.0], "modifiers": [{"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]},
    ]}],
    "observations": [{"name": "SR", "data": [52.0, 45.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(InvalidSpecification, match="nope.json"):
        efthf.Workspace.load(path)


def test_invalid_json_names_the_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"channels": [')
    with pytest.raises(InvalidSpecification, match="broken.json"):
        efthf.Workspace.load(path)


def test_schema_error_names_json_path_and_value():
    spec = json.loads(json.dumps(SIMPLE))
    spec["channels"][0]["samples"][1]["modifiers"][0]["data"]["hi"] = "high"
    with pytest.raises(InvalidSpecification, match=r"/channels/0/samples/1/modifiers/0/data/hi") as info:
        efthf.Workspace(spec)
    assert "high" in str(info.value) or "string" in str(info.value)


def test_unknown_measurement_and_bad_modifier_settings():
    ws = efthf.Workspace(SIMPLE)
    with pytest.raises(InvalidSpecification, match="nosuch"):
        ws.model(measurement_name="nosuch")
    with pytest.raises(InvalidSpecification, match=r"code9.*modifier_settings|modifier_settings.*code9"):
        ws.model(modifier_settings={"normsys": {"interpcode": "code9"}})
    with pytest.raises(InvalidSpecification, match="normsys takes code1, code4, not \"code0\""):
        ws.model(modifier_settings={"normsys": {"interpcode": "code0"}})
    with pytest.raises(InvalidArgument, match="frobnicate"):
        ws.model(frobnicate=True)


def test_patch_that_does_not_apply_names_it():
    ws = efthf.Workspace(SIMPLE)
    with pytest.raises(InvalidSpecification, match="patch 0"):
        ws.model(patches=[[{"op": "remove", "path": "/channels/7"}]])


def test_wrong_sizes_are_argument_errors():
    ws = efthf.Workspace(SIMPLE)
    model = ws.model()
    data = ws.data(model)
    with pytest.raises(InvalidArgument, match="pars has 1 values, the model has 2"):
        model.logpdf([1.0], data)
    with pytest.raises(InvalidArgument, match="data has 5 values; the model has 2 main bins and 1 auxiliary"):
        model.logpdf([1.0, 0.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(InvalidArgument, match="one-dimensional"):
        model.logpdf(np.ones((2, 2)), data)
    with pytest.raises(InvalidSpecification, match="not finite"):
        model.logpdf([1.0, 0.0], [np.nan, 1.0, 0.0])


def test_unknown_task_options_are_refused():
    model = efthf.Workspace(SIMPLE).model()
    with pytest.raises(InvalidSpecification, match=r"unknown member \"colour\""):
        model.run("fit", {"colour": "red"})
    with pytest.raises(InvalidSpecification, match="unknown task \"dance\""):
        model.run("dance")
    with pytest.raises(InvalidSpecification, match=r"/poi_value.*a number|a number"):
        model.run("hypotest", {"poi_value": "one"})
    with pytest.raises(InvalidSpecification, match="init_pars has 3 values"):
        efthf.infer.mle.fit(efthf.Workspace(SIMPLE).data(model), model, init_pars=[1, 0, 0])
    with pytest.raises(InvalidSpecification, match=r"par_bounds\[0\]"):
        efthf.infer.mle.fit(efthf.Workspace(SIMPLE).data(model), model, par_bounds=[(2, 1), (-5, 5)])
    with pytest.raises(InvalidArgument, match="tolerence"):
        efthf.infer.mle.fit(efthf.Workspace(SIMPLE).data(model), model, tolerence=1)


def test_unknown_fixed_parameter_names_it():
    model = efthf.Workspace(SIMPLE).model()
    with pytest.raises(InvalidSpecification, match="no parameter \"lumi\""):
        model.run("fit", {"fix": {"lumi": 1.0}})


def test_limit_without_crossing_is_an_inference_error():
    """CLs stays above 5 % for a tiny signal: an exception, not a silent bound value."""
    spec = json.loads(json.dumps(SIMPLE))
    spec["channels"][0]["samples"][0]["data"] = [1e-6, 1e-6]
    ws = efthf.Workspace(spec)
    model = ws.model()
    with pytest.raises(FailedMinimization, match="CLs stays above"):
        efthf.infer.intervals.upper_limits.upper_limit(ws.data(model), model)


def test_out_of_domain_point_is_nan_not_a_crash():
    """As pyhf: a negative expected rate gives NaN, and the call itself succeeds."""
    ws = efthf.Workspace(SIMPLE)
    model = ws.model()
    value = model.logpdf([-100.0, 0.0], ws.data(model))[0]
    assert np.isnan(value)


def test_event_file_cut_short_after_loading_raises_naming_it(tmp_path, monkeypatch):
    """An event database streamed from its file (EFTHF_EVENT_MEMORY below its columns) whose file is
    cut short after the model was built: logpdf raises naming the file, not a NaN
    (Specs/event-database.md, "Memory budget and streaming")."""
    vh = Path(__file__).resolve().parents[2] / "Data" / "vh"
    for name in ("workspace_events_syst.json", "vh_smeft_events.h5"):
        shutil.copy(vh / name, tmp_path / name)
    monkeypatch.setenv("EFTHF_EVENT_MEMORY", "200KiB")
    ws = efthf.Workspace.load(tmp_path / "workspace_events_syst.json")
    model = ws.model()
    data = ws.data(model)
    pars = np.array(model.config.suggested_init())
    assert np.isfinite(model.logpdf(pars, data)[0])
    events = tmp_path / "vh_smeft_events.h5"
    os.truncate(events, events.stat().st_size // 10)
    pars[model.config.par_slice("cHW")] = 0.2  # a point the kernel has not kept
    with pytest.raises(InvalidSpecification, match="vh_smeft_events.h5"):
        model.logpdf(pars, data)
