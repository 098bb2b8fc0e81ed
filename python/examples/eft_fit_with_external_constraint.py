#!/usr/bin/env python3
"""A global fitter's use of efthf: the VH morphing likelihood plus an external Gaussian constraint
on one Wilson coefficient, minimised with iminuit on efthf's exact gradient.

    python eft_fit_with_external_constraint.py --constraint cHW=0:0.1

Minimises −2 ln L_efthf(pars) + ((c − c0)/σ)² with the constrained coefficient c free, the other
Wilson coefficients at 0 (the Standard Model) and the nuisance parameters free within their
suggested bounds (those the workspace fixes stay fixed); prints the coefficient without and with
the constraint, and checks the unconstrained minimum against efthf.eft.fit (exit status 1 if the
2NLL differ by more than 1e-6).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from iminuit import Minuit

import efthf

WORKSPACE = Path(__file__).resolve().parents[2] / "Data" / "vh" / "workspace_morphing.json"


def minimise(model, data, coefficient, constraint=None):
    """Minuit on −2 ln L (+ the Gaussian term when constraint = (mean, sigma) is given)."""
    cfg = model.config
    k = cfg.par_names.index(coefficient)
    cache = {}

    def value_and_grad(p):  # one library call gives both; Minuit asks for them separately
        key = np.asarray(p, dtype=float).tobytes()
        if key not in cache:
            cache.clear()
            f, g = model.nll_and_grad(p, data)
            if constraint is not None:
                mean, sigma = constraint
                f += ((p[k] - mean) / sigma) ** 2
                g[k] += 2.0 * (p[k] - mean) / sigma ** 2
            cache[key] = (f, g)
        return cache[key]

    m = Minuit(lambda p: value_and_grad(p)[0], cfg.suggested_init(), grad=lambda p: value_and_grad(p)[1],
               name=cfg.par_names)
    m.errordef = Minuit.LEAST_SQUARES  # the objective is 2NLL: Δ = 1 at ±1σ
    m.limits = cfg.suggested_bounds()
    m.fixed = cfg.suggested_fixed()
    for name in cfg.wilson_coefficients:  # the others held at the Standard Model
        m.values[name], m.fixed[name] = 0.0, name != coefficient
    m.strategy, m.tol = 1, 1e-6
    m.migrad()
    m.hesse()
    if not m.valid:
        sys.exit(f"Minuit did not converge:\n{m.fmin}")
    return m


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--constraint", default="cHW=0:0.1", help="NAME=MEAN:SIGMA (default cHW=0:0.1)")
    parser.add_argument("--workspace", type=Path, default=WORKSPACE)
    args = parser.parse_args()
    name, _, spec = args.constraint.partition("=")
    mean, sigma = map(float, spec.split(":"))

    ws = efthf.Workspace.load(args.workspace)
    model = ws.model()
    data = ws.data(model)
    coefficients = model.config.wilson_coefficients
    print(f"Wilson coefficients: {', '.join(coefficients)}")
    if name not in coefficients:
        sys.exit(f"--constraint: {name!r} is not a Wilson coefficient of {args.workspace.name}")

    free = minimise(model, data, name)
    constrained = minimise(model, data, name, constraint=(mean, sigma))
    print(f"\nExternal constraint: {name} ~ Gauss({mean:g}, {sigma:g})\n")
    print("| coefficient | without: value | HESSE error | with constraint: value | HESSE error |")
    print("|---|---|---|---|---|")
    print(f"| {name} | {free.values[name]:.6f} | {free.errors[name]:.6f} "
          f"| {constrained.values[name]:.6f} | {constrained.errors[name]:.6f} |")
    print(f"\n2NLL at the minimum: {free.fval:.9f} without, {constrained.fval:.9f} with the constraint")

    report = efthf.eft.fit(ws, ops=[name])
    ours, theirs = free.fval, report["twice_nll"]
    print(f"efthf.eft.fit: 2NLL {theirs:.9f}, {name} = {report['parameters'][name]['value']:.6f} "
          f"± {report['parameters'][name]['uncertainty']:.6f}; iminuit − efthf = {ours - theirs:.2e}")
    if not abs(ours - theirs) <= 1e-6:
        sys.exit(f"FAIL: the unconstrained iminuit minimum differs from efthf.eft.fit's by {ours - theirs:.3e} in 2NLL")
    print("OK: iminuit and efthf.eft.fit agree within 1e-6 in 2NLL")


if __name__ == "__main__":
    main()
