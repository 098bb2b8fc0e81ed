#!/usr/bin/env python3
"""Independent reference for the smoothed per-event kernel on the bundled VH event database.

Evaluates the formulae of Specs/event-database.md ("Systematics as nuisance parameters", Formulae)
directly with NumPy on Data/vh/vh_smeft_events.h5 (read with h5py), in extended precision
(np.longdouble, 64-bit mantissa on x86-64), at every edge and without the 40h truncation:

    w_e = Σ_t a_et m_t(c),  f_e = 1 + I(θ_btag; u_e − 1, 1 − d_e),  x_e = x_e + I(θ_shift; Δ⁺_e, −Δ⁻_e)
    p_eb = F((e_{b+1} − x_e)/h) − F((e_b − x_e)/h)   (flow "fold": G_0 = 0, G_B = 1),  F(z) = 1/(1 + e^{−z})
    ν_b = n Σ_e w_e f_e p_eb,  Σw²_b = n² Σ_e (w_e f_e p_eb)²

and their analytic Jacobians in q = (c, θ_shift, θ_btag), which are checked here against central
differences of ν and Σw² themselves (five-point, relative 1e-7). Writes, per case, the values, the
Jacobians and their scales Σ_e |term| (the bound of a sum's rounding) to event_kernel_reference.json
beside this script; Tests/EventDatabaseTests/SmoothedReweightingKernelTests.swift compares the kernel
with them to 1e-12 of those scales.

    python3 Specs/examples/event_kernel_reference.py
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
DATABASE = HERE.parent.parent / "Data" / "vh" / "vh_smeft_events.h5"
EDGES = [0, 60, 100, 140, 200, 260, 340, 440, 600]  # Data/vh/workspace_events_syst.json
L = np.longdouble

# flow, h, c (cHq3, cHl3, cHDD, cHbox, cHW, cll1), θ (pTV_scale shift, btag weight), normalisation
CASES = [
    ("drop", 2.0, [-0.05, 0, 0, 0, 0.3, 0], [0.4, -0.7], 1.0),  # the benchmark's and a fit's point
    ("drop", 2.0, [0.11, -0.23, 0.31, -0.4, 0.52, -0.17], [1.6, -1.3], 1.0),  # every term, θ beyond ±1
    ("fold", 25.0, [-0.3, 0.2, 0.15, 0.35, -0.45, 0.05], [-0.8, 1.2], 0.7),  # every edge within 40h: long ratio chains
]


def code4p(theta, up, down):
    """I(θ; δ₊, δ₋) and ∂I/∂θ (pyhf code4p per event, Specs/event-database.md)."""
    theta = L(theta)
    if theta > 1:
        return theta * up, up
    if theta < -1:
        return theta * down, down
    t2 = theta * theta
    value = theta * (up + down) / 2 + t2 * (up - down) / 16 * (15 - 10 * t2 + 3 * t2 * t2)
    slope = (up + down) / 2 + (up - down) / 16 * (30 * theta - 40 * t2 * theta + 18 * t2 * t2 * theta)
    return value, slope


def load():
    with h5py.File(DATABASE, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["monomials"][:]]
        exponents = f["monomial_exponents"][:]
        a = np.array([f["coefficients"][n][:] for n in names], dtype=L)  # (T, N)
        x = f["observables/pTV"][:].astype(L)
        shift_up = f["systematics/shifts/pTV_scale/pTV/up"][:].astype(L)
        shift_down = f["systematics/shifts/pTV_scale/pTV/down"][:].astype(L)
        btag_up = f["systematics/weights/btag/up"][:].astype(L)
        btag_down = f["systematics/weights/btag/down"][:].astype(L)
    return exponents, a, x, (shift_up, -shift_down), (btag_up - 1, 1 - btag_down)


def evaluate(data, flow, h, c, theta, n):
    """ν, Σw² and their per-event terms' absolute sums; with the analytic Jacobians (q-major)."""
    exponents, a, x0, (sp, sm), (wp, wm) = data
    c = np.array(c, dtype=L)
    C = len(c)
    m = np.array([np.prod([c[i] ** int(p) for i, p in enumerate(row)]) for row in exponents], dtype=L)
    dm = np.zeros((C, len(m)), dtype=L)
    for t, row in enumerate(exponents):
        for i, p in enumerate(row):
            if p > 0:
                dm[i, t] = p * np.prod([c[k] ** int(row[k] - (k == i)) for k in range(C)])
    w = m @ a
    dw = dm @ a  # (C, N)
    shift, dshift = code4p(theta[0], sp, sm)
    weight, dweight = code4p(theta[1], wp, wm)
    f = 1 + weight
    x = x0 + shift
    W = w * f
    edges = np.array(EDGES, dtype=L)
    B = len(edges) - 1
    z = (edges[:, None] - x[None, :]) / L(h)  # (B + 1, N)
    G = 1 / (1 + np.exp(-z))
    g = G * (1 - G)
    if flow == "fold":
        G[0], G[B], g[0], g[B] = 0, 1, 0, 0
    p = G[1:] - G[:-1]  # (B, N)
    dpdx = -(g[1:] - g[:-1]) / L(h)
    Wp = W[None, :] * p
    # ∂(W p)/∂q per event: c_i: ∂w/∂c_i f p; shift: W ∂p/∂x ∂I/∂θ; weight: w ∂I/∂θ p.
    d = [dw[i][None, :] * f[None, :] * p for i in range(C)]
    d.append(W[None, :] * dpdx * dshift[None, :])
    d.append((w * dweight)[None, :] * p)
    n = L(n)
    out = {
        "nu": n * Wp.sum(axis=1), "nu_scale": n * np.abs(Wp).sum(axis=1),
        "sumw2": n * n * (Wp * Wp).sum(axis=1),
        "jacobian_nu": [n * dq.sum(axis=1) for dq in d], "jacobian_nu_scale": [n * np.abs(dq).sum(axis=1) for dq in d],
        "jacobian_sumw2": [2 * n * n * (Wp * dq).sum(axis=1) for dq in d],
        "jacobian_sumw2_scale": [2 * n * n * np.abs(Wp * dq).sum(axis=1) for dq in d],
    }
    return out


def check_jacobian(data, flow, h, c, theta, n, result):
    """The analytic Jacobians against five-point central differences of ν and Σw² (relative 1e-7)."""
    q = list(c) + list(theta)
    C = len(c)
    for j in range(len(q)):
        step = 1e-3 * max(1.0, abs(q[j]))
        values = []
        for k in (-2, -1, 1, 2):
            shifted = list(q)
            shifted[j] += k * step
            values.append(evaluate(data, flow, h, shifted[:C], shifted[C:], n))
        for key in ("nu", "sumw2"):
            numeric = (values[0][key] - 8 * values[1][key] + 8 * values[2][key] - values[3][key]) / (12 * L(step))
            analytic = result["jacobian_" + key][j]
            scale = np.maximum(np.abs(analytic), np.max(np.abs(analytic)) * 1e-3 + 1e-12)
            worst = float(np.max(np.abs(numeric - analytic) / scale))
            assert worst < 1e-7, f"{flow} h={h}: ∂{key}/∂q_{j} analytic vs differences: relative {worst:.2e}"


def main():
    data = load()
    cases = []
    for flow, h, c, theta, n in CASES:
        result = evaluate(data, flow, h, c, theta, n)
        check_jacobian(data, flow, h, c, theta, n, result)
        plain = lambda v: [float(y) for y in v]  # noqa: E731
        cases.append({
            "flow": flow, "smoothing_width": h, "c": c, "theta": theta, "normalisation": n,
            **{k: plain(v) for k, v in result.items() if not k.startswith("jacobian")},
            **{k: [plain(row) for row in v] for k, v in result.items() if k.startswith("jacobian")},
        })
    document = {
        "description": "Smoothed per-event kernel of Specs/event-database.md on Data/vh/vh_smeft_events.h5, "
                       "evaluated by Specs/examples/event_kernel_reference.py (NumPy, long double, every edge, no truncation)",
        "file": "Data/vh/vh_smeft_events.h5", "observable": "pTV", "edges": EDGES,
        "systematics": [{"name": "pTV_scale", "type": "shift"}, {"name": "btag", "type": "weight"}],
        "parameters": "c (the file's wilson_coefficients order), then θ (systematics order)",
        "cases": cases,
    }
    path = HERE / "event_kernel_reference.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
