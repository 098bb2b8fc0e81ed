"""Event databases imported from Python (efthf.eft.import_lhe) and used in a workspace: the
per-event coefficients of four events whose weights are quadratic in one coefficient are
recovered, so the morphed yields equal Σ_e (a0 + a1 c + a2 c²) per bin."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import efthf
from efthf.exceptions import InvalidSpecification

TRUTH = [[1.0, 0.5, 0.25], [2.0, -0.4, 0.1], [0.7, 0.0, 0.3], [1.5, 0.9, 0.05]]
POINTS = {"sm": [0.0], "p1": [1.0], "m2": [-2.0]}
PROVENANCE = dict(generator="efthf test", basis="one coefficient", normalisation="per event", weight_unit="events")


def lhe_text():
    text = "<LesHouchesEvents version=\"3.0\">\n<header>\n<initrwgt>\n<weightgroup name='rw'>\n"
    for wid, (c,) in POINTS.items():
        text += f"<weight id='{wid}'> set cX {c} </weight>\n"
    text += "</weightgroup>\n</initrwgt>\n</header>\n<init>\n2212 2212 6.5e3 6.5e3 0 0 247000 247000 -4 1\n1.0 0.01 1.0 1\n</init>\n"
    for e, a in enumerate(TRUTH):
        px, py = 10.0 * (e + 1), 5.0
        text += f"<event>\n3 1 {a[0]} 100. 0.0078 0.118\n2 -1 0 0 0 0 0 0 500 500 0 0. 9.\n"
        text += f"-11 1 0 0 0 0 {px} {py} 20 {math.sqrt(px * px + py * py + 400)} 0 0. 9.\n"
        text += f"12 1 0 0 0 0 {-px} {-py} 30 {math.sqrt(px * px + py * py + 900)} 0 0. 9.\n<rwgt>\n"
        for wid, (c,) in POINTS.items():
            text += f"<wgt id='{wid}'> {a[0] + a[1] * c + a[2] * c * c} </wgt>\n"
        text += "</rwgt>\n</event>\n"
    return text + "</LesHouchesEvents>\n"


def test_import_lhe_and_fit_on_it(tmp_path):
    (tmp_path / "events.lhe").write_text(lhe_text())
    report = efthf.eft.import_lhe(tmp_path / "events.lhe", ["cX"], POINTS, tmp_path / "events.h5",
                                  observables=["pTe=pt:11"], **PROVENANCE)
    assert report["events"] == 4 and report["terms"] == 3 and report["coefficients"] == ["cX"]
    assert report["observables"] == ["pTe [GeV]"]
    edges = [0.0, 20.0, 40.0, 60.0]
    pt = [math.hypot(10.0 * (e + 1), 5.0) for e in range(4)]
    bins = [int(np.searchsorted(edges, x, side="right") - 1) for x in pt]

    def truth(c):
        out = np.zeros(3)
        for b, a in zip(bins, TRUTH):
            out[b] += a[0] + a[1] * c + a[2] * c * c
        return out

    spec = {
        "channels": [{"name": "SR", "samples": [
            {"name": "signal", "data": list(truth(0.0)), "modifiers": [
                {"name": "events", "type": "event_database", "data": {"file": "events.h5", "observable": "pTe", "edges": edges}}]},
            {"name": "bkg", "data": [5.0, 5.0, 5.0], "modifiers": []},
        ]}],
        "observations": [{"name": "SR", "data": [7.0, 9.0, 7.0]}],
        "measurements": [{"name": "m", "config": {"poi": "cX", "parameters": [{"name": "cX", "inits": [0.0], "bounds": [[-3.0, 3.0]]}]}}],
        "version": "1.0.0+efthf.1",
    }
    ws = efthf.Workspace(json.dumps(spec), base_directory=tmp_path)
    model = ws.model()
    assert model.config.wilson_coefficients == ["cX"]
    for c in (-1.5, 0.0, 0.7, 2.0):
        pars = np.array(model.config.suggested_init())
        pars[model.config.par_slice("cX")] = c
        assert model.expected_data(pars, include_auxdata=False) == pytest.approx(truth(c) + 5.0, rel=1e-9)
    report = efthf.eft.fit(ws, ops=["cX"])
    assert report["converged"]


def test_import_errors_name_the_problem(tmp_path):
    (tmp_path / "events.lhe").write_text(lhe_text())
    with pytest.raises(InvalidSpecification, match="nosuch"):
        efthf.eft.import_lhe(tmp_path / "events.lhe", ["cX"], {"nosuch": [0.0]}, tmp_path / "bad.h5", **PROVENANCE)
    assert not (tmp_path / "bad.h5").exists()
    with pytest.raises(InvalidSpecification, match="weight scale must be positive"):
        efthf.eft.import_lhe(tmp_path / "events.lhe", ["cX"], POINTS, tmp_path / "bad.h5", weight_scale=-1, **PROVENANCE)
    with pytest.raises(InvalidSpecification, match="no_such.lhe"):
        efthf.eft.import_lhe(tmp_path / "no_such.lhe", ["cX"], POINTS, tmp_path / "bad.h5", **PROVENANCE)
