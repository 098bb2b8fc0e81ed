#!/usr/bin/env python3
"""ROOT 6.40 reads efthf's HS3 export and gets efthf's likelihood (Specs/hs3.md, "Checked").

For each workspace: `efthf export WS --hs3`, ROOT's RooJSONFactoryWSTool imports the file, and at
random points (Wilson coefficients and nuisance parameters) ROOT's NLL differences from the first
point are compared with efthf's log-likelihood differences (`efthf eval --pars`). Then a
RooFit/Minuit2 fit of the imported model is compared with `efthf fit --json`.

Two sets of points per workspace:
  * "gamma = 1": every staterror/shapesys gamma at 1, everything else random. Here the HS3 model is
    exactly efthf's (the point-dependent MC-statistics width of a morphed sample enters only through
    (1 - gamma)^2), so the differences must agree to --tolerance relative to |ln L|.
  * "all random": the gammas random too. Exact for workspaces without point-dependent widths; for
    the others the difference is the documented one (Specs/hs3.md), printed and bounded by
    --width-tolerance.

Usage: check_hs3.py --efthf BIN WORKSPACE [WORKSPACE ...] [--points 10] [--seed 1] [--tolerance 1e-9]
Prints one summary line per workspace and "OK" at the end; exits 1 on a mismatch, 2 without ROOT.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile


def efthf(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"efthf {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def load_root():
    try:
        import ROOT  # noqa: N811
    except ImportError:
        print("ROOT is not importable (pip install root)")
        sys.exit(2)
    ROOT.gErrorIgnoreLevel = ROOT.kError
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
    return ROOT


class ImportedModel:
    """The HS3 file as ROOT imports it: the analysis's ModelConfig, its pdf, data and NLL."""

    def __init__(self, ROOT, path, hs3):
        self.ROOT = ROOT
        self.ws = ROOT.RooWorkspace("w")
        tool = ROOT.RooJSONFactoryWSTool(self.ws)
        if not tool.importJSON(path):
            raise RuntimeError(f"ROOT could not import {path}")
        analysis = hs3["analyses"][0]
        self.mc = self.ws.obj(analysis["name"])
        self.pdf = self.mc.GetPdf()
        likelihood = next(l for l in hs3["likelihoods"] if l["name"] == analysis["likelihood"])
        names = [likelihood["name"], "obsData"] + (likelihood["data"] if len(likelihood["data"]) == 1 else [])
        self.data = next((self.ws.data(n) for n in names if self.ws.data(n)), None)
        if self.data is None:
            raise RuntimeError(f"no dataset for likelihood {likelihood['name']} in ROOT's workspace")
        self.nll = self.pdf.createNLL(self.data)
        self.snapshot = {v.GetName(): (v.getVal(), v.isConstant()) for v in self.pdf.getParameters(self.data)}

    def reset(self):
        for name, (value, const) in self.snapshot.items():
            v = self.ws.var(name)
            v.setVal(value)
            v.setConstant(const)

    def set(self, values):
        for name, value in values.items():
            v = self.ws.var(name)
            if v is None:
                raise RuntimeError(f"ROOT's workspace has no parameter {name}")
            if value < v.getMin() or value > v.getMax():
                v.setRange(min(value, v.getMin()), max(value, v.getMax()))
            v.setVal(value)

    def value(self, values):
        self.reset()
        self.set(values)
        return self.nll.getVal()

    def fit(self):
        self.reset()
        RF = self.ROOT.RooFit
        result = self.pdf.fitTo(self.data, RF.Minimizer("Minuit2"), RF.Strategy(1), RF.Save(), RF.PrintLevel(-1), RF.Hesse(True))
        fitted = {}
        for p in result.floatParsFinal():
            fitted[p.GetName()] = (p.getVal(), p.getError())
        return result.status(), fitted


def random_points(hs3, count, rng, gammas_random):
    """Points as {pyhf name: value}: coefficients in ±0.1 of the domain's width around 0 (VH stays
    positive there), normsys/histosys alphas in [-1.5, 1.5], normfactors and lumi in ±20 %/±2σ,
    gammas at 1 or in [0.9, 1.1]; constant parameters keep their values."""
    names = hs3["misc"]["efthf"]["parameter_names"]
    coefficients = set(hs3["misc"]["efthf"]["wilson_coefficients"])
    axes = {a["name"]: a for a in hs3["domains"][0]["axes"]}
    defaults = {p["name"]: p for p in hs3["parameter_points"][0]["parameters"]}
    points = []
    for _ in range(count):
        point = {}
        for pyhf, root in names.items():
            d = defaults.get(root, {})
            if d.get("const"):
                continue
            lo, hi = axes[root]["min"], axes[root]["max"]
            init = d.get("value", 0.0)
            if pyhf in coefficients:
                value = rng.uniform(-0.05, 0.05) * min(hi - lo, 2.0)
            elif root.startswith("gamma_"):
                value = rng.uniform(0.9, 1.1) if gammas_random else 1.0
            elif init == 0.0:
                value = rng.uniform(-1.5, 1.5)
            else:
                value = init * rng.uniform(0.8, 1.2)
            point[pyhf] = min(max(value, lo), hi)
        points.append(point)
    return points


def efthf_logl(binary, workspace, point, directory):
    path = os.path.join(directory, "point.json")
    with open(path, "w") as f:
        json.dump(point, f)
    return json.loads(efthf(binary, "eval", workspace, "--pars", path))["logpdf"]


def check(binary, ROOT, workspace, args, rng, directory):
    model_path = os.path.join(directory, "model.json")
    efthf(binary, "export", workspace, "--hs3", "-o", model_path)
    with open(model_path) as f:
        hs3 = json.load(f)
    names = hs3["misc"]["efthf"]["parameter_names"]
    model = ImportedModel(ROOT, model_path, hs3)
    report = {"workspace": workspace}
    failures = []
    for label, gammas_random in (("gamma=1", False), ("all random", True)):
        points = random_points(hs3, args.points, rng, gammas_random)
        logl = [efthf_logl(binary, workspace, p, directory) for p in points]
        nll = [model.value({names[k]: v for k, v in p.items()}) for p in points]
        worst_abs, worst_rel = 0.0, 0.0
        for i in range(1, len(points)):
            d_efthf = logl[i] - logl[0]
            d_root = -(nll[i] - nll[0])
            diff = abs(d_efthf - d_root)
            worst_abs = max(worst_abs, diff)
            worst_rel = max(worst_rel, diff / max(abs(logl[i]), abs(logl[0])))
        report[label] = {"max_abs": worst_abs, "max_rel_to_lnL": worst_rel}
        exact = not gammas_random or not hs3["misc"]["efthf"].get("morphing") or not any("variance" in m for m in hs3["misc"]["efthf"]["morphing"])
        limit = args.tolerance if exact else args.width_tolerance
        if worst_rel > limit:
            failures.append(f"{label}: NLL differences differ by {worst_rel:.3g} relative (limit {limit:g})")

    # Best fit: ROOT/Minuit2 on the imported model against efthf's fit, within efthf's uncertainties.
    fit = json.loads(efthf(binary, "fit", workspace, "--json"))
    pars = fit["parameters"]
    if isinstance(pars, dict) and "names" in pars:
        pars = dict(zip(pars["names"], pars["values"]))
    status, fitted = model.fit()
    worst_pull = 0.0
    compared = 0
    for pyhf, entry in pars.items():
        if entry.get("fixed") or entry.get("uncertainty") is None:
            continue
        root = names.get(pyhf)
        if root not in fitted:
            continue
        pull = abs(fitted[root][0] - entry["value"]) / entry["uncertainty"]
        worst_pull = max(worst_pull, pull)
        compared += 1
    report["fit"] = {"root_status": status, "parameters_compared": compared, "max_pull": worst_pull}
    if status != 0:
        failures.append(f"ROOT's fit status {status}")
    if worst_pull > args.pull_tolerance:
        failures.append(f"ROOT's best fit is {worst_pull:.3g} efthf uncertainties from efthf's")
    print(json.dumps(report))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspaces", nargs="+")
    parser.add_argument("--efthf", required=True, help="the efthf binary")
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=1e-9, help="relative to |ln L|, where the export is exact")
    parser.add_argument("--width-tolerance", type=float, default=1e-3, help="relative to |ln L|, where the MC-statistics width follows the point")
    parser.add_argument("--pull-tolerance", type=float, default=1.0, help="|ROOT − efthf| best fit in efthf's σ")
    args = parser.parse_args()
    ROOT = load_root()
    rng = random.Random(args.seed)
    failures = []
    with tempfile.TemporaryDirectory() as directory:
        for workspace in args.workspaces:
            failures += [f"{workspace}: {f}" for f in check(args.efthf, ROOT, workspace, args, rng, directory)]
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
