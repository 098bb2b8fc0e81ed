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
