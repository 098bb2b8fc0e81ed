"""Writes workspace_events.json: workspace_morphing.json with the VH signal's 28 morphing terms
replaced by a reference to the event database vh_smeft_events.h5, binned in pTV with the same
edges. efthf builds the same templates from the events (per-bin coefficient sums) and the exact
per-point MC variance Σw²(c) from per-bin sums of coefficient products.

    python3 Data/vh/make_workspace_events.py
"""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))
EDGES = [0, 60, 100, 140, 200, 260, 340, 440, 600]  # as Data/generator/main.swift's workspaceEdges

ws = json.load(open(os.path.join(HERE, "workspace_morphing.json")))
for channel in ws["channels"]:
    for sample in channel["samples"]:
        sample["modifiers"] = [
            {"name": "vh_events", "type": "event_database",
             "data": {"file": "vh_smeft_events.h5", "observable": "pTV", "edges": EDGES, "negative_yields": "error"}}
            if m["type"] == "morphing" else m
            for m in sample["modifiers"]
        ]
tmp = os.path.join(HERE, "workspace_events.json.tmp")
with open(tmp, "w") as f:
    json.dump(ws, f, indent=1)
os.replace(tmp, os.path.join(HERE, "workspace_events.json"))

# workspace_events_syst.json: the same signal with two of the database's per-event systematics as
# nuisance parameters (Specs/event-database.md, "Systematics as nuisance parameters"): the pTV
# scale (an observable shift of the binned pTV, ±1%) and the b-tagging weight variation, with a
# logistic bin assignment of width SMOOTHING_GEV. The sample's data are the smoothed SM yields,
# computed here independently of efthf (numpy): p_eb = F((e_{b+1} − x)/h) − F((e_b − x)/h),
# F(z) = 1/(1 + exp(−z)), F = 0 (1) exactly below z = −40 (above z = 40).
SMOOTHING_GEV = 2.0
try:
    import h5py
    import numpy as np
except ImportError:  # pragma: no cover
    raise SystemExit("workspace_events_syst.json needs h5py and numpy")

with h5py.File(os.path.join(HERE, "vh_smeft_events.h5"), "r") as f:
    x = f["observables/pTV"][...]
    sm = f["coefficients/SM"][...]


def logistic(z):
    F = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
    return np.where(z < -40, 0.0, np.where(z > 40, 1.0, F))


G = np.stack([logistic((edge - x) / SMOOTHING_GEV) for edge in EDGES])  # (B + 1, N)
smoothed = [float(v) for v in ((G[1:] - G[:-1]) * sm).sum(axis=1)]

ws = json.load(open(os.path.join(HERE, "workspace_events.json")))
for channel in ws["channels"]:
    for sample in channel["samples"]:
        for m in sample["modifiers"]:
            if m["type"] == "event_database":
                m["data"]["systematics"] = [
                    {"name": "pTV_scale", "type": "shift", "parameter": "alpha_pTV_scale"},
                    {"name": "btag", "type": "weight", "parameter": "alpha_btag"},
                ]
                m["data"]["smoothing_width"] = SMOOTHING_GEV
                sample["data"] = smoothed
tmp = os.path.join(HERE, "workspace_events_syst.json.tmp")
with open(tmp, "w") as f:
    json.dump(ws, f, indent=1)
os.replace(tmp, os.path.join(HERE, "workspace_events_syst.json"))
