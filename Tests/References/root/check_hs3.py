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
    the others the difference is the documented one (Specs/hs3.md §2.1), which the script computes
    from the file (misc.efthf variance pairs) and adds back: the remainder must be below --tolerance.

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
    ROOT.TH1.AddDirectory(False)
    return ROOT


class ImportedModel:
    """The HS3 file as ROOT imports it: the analysis's ModelConfig, its pdf, data and NLL."""

    def __init__(self, ROOT, path, hs3, backend=None):
        """`backend`: RooFit's EvalBackend for the NLL ("cpu", "legacy", …); None keeps ROOT's default."""
        self.ROOT = ROOT
        self.backend = backend
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
        if self.data is None and isinstance(self.pdf, ROOT.RooSimultaneous):
            # ROOT imports one binned dataset per channel; the simultaneous pdf needs them in one, indexed by its
            # category: a weighted dataset with one entry per bin (at the bin's centre), as hist2workspace writes.
            if not hasattr(ROOT, "efthf_combined_data"):
                ROOT.gInterpreter.Declare("""
                    RooDataSet *efthf_combined_data(RooSimultaneous &pdf, RooArgList &observables,
                                                    const std::vector<std::string> &labels, const std::vector<RooDataHist *> &data) {
                        auto &category = const_cast<RooCategory &>(dynamic_cast<const RooCategory &>(pdf.indexCat()));
                        RooRealVar weight("weight", "weight", 1.0);
                        RooArgSet columns(observables);
                        columns.add(category);
                        columns.add(weight);
                        auto *combined = new RooDataSet("obsData", "obsData", columns, RooFit::WeightVar(weight));
                        for (size_t i = 0; i < labels.size(); ++i) {
                            category.setLabel(labels[i].c_str());
                            for (int bin = 0; bin < data[i]->numEntries(); ++bin) {
                                RooArgSet row(*data[i]->get(bin));
                                row.add(category);
                                combined->add(row, data[i]->weight());
                            }
                        }
                        return combined;
                    }""")
            labels, data = ROOT.std.vector["std::string"](), ROOT.std.vector["RooDataHist*"]()
            for channel, name in zip(likelihood["distributions"], likelihood["data"]):
                labels.push_back(channel)
                data.push_back(self.ws.data(name))
            observables = ROOT.RooArgList()
            for v in self.mc.GetObservables():
                if v.GetName() != self.pdf.indexCat().GetName():
                    observables.add(v)
            self.data = ROOT.efthf_combined_data(self.pdf, observables, labels, data)
        if self.data is None:
            raise RuntimeError(f"no dataset for likelihood {likelihood['name']} in ROOT's workspace")
        self.nll = self.pdf.createNLL(self.data, *self.backend_options())
        self.snapshot = {v.GetName(): (v.getVal(), v.isConstant()) for v in self.pdf.getParameters(self.data)}

    def backend_options(self):
        return [self.ROOT.RooFit.EvalBackend(self.backend)] if self.backend else []

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

    def fit(self, reset=True, strategy=1, hesse=True):
        """Minuit2 (migrad, then hesse) from the current values, or from the file's inits (`reset`)."""
        if reset:
            self.reset()
        RF = self.ROOT.RooFit
        # Offset: the VH NLL is ~2.6e5, and without it Minuit2's EDM stalls at ~1e-3 (status 1).
        result = self.pdf.fitTo(self.data, RF.Minimizer("Minuit2"), RF.Strategy(strategy), RF.Offset(True), RF.Save(), RF.PrintLevel(-1),
                                RF.Hesse(hesse), *self.backend_options())
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


def width_correction(hs3, point):
    """Σ_b (1 − γ_b)²/2 · (1/σ_b(0)² − 1/σ_b(c)²): efthf's ln L minus the HS3 model's (Specs/hs3.md §2.1),
    from the file alone: σ_b(c) of (S2) with the morphed samples' variance pairs from misc.efthf."""
    efthf = hs3["misc"]["efthf"]
    names = efthf["parameter_names"]
    defaults = {p["name"]: p["value"] for p in hs3["parameter_points"][0]["parameters"]}
    value = {pyhf: point.get(pyhf, defaults.get(root, 0.0)) for pyhf, root in names.items()}
    root_value = {root: value[pyhf] for pyhf, root in names.items()}
    factors = {f["name"]: f["factors"] for f in hs3.get("functions", [])}
    records = {(m["channel"], m["sample"]): m for m in efthf.get("morphing", []) if "variance" in m}

    def monomial(powers, c):
        return math.prod(c[name] ** k for name, k in powers.items())

    def widths(dist, c):
        samples = [s for s in dist["samples"] if any(m["type"] == "staterror" for m in s["modifiers"])]
        n = len(samples[0]["data"]["contents"])
        terms = [s for s in samples if any(m["type"] == "custom" for m in s["modifiers"])]
        bases = [s for s in samples if s not in terms]
        S = [sum(s["data"]["contents"][b] for s in samples) for b in range(n)]
        D = [sum(s["data"]["contents"][b] for s in bases) for b in range(n)]
        var, nominal = [0.0] * n, [0.0] * n
        for s in bases:
            record = records.get((dist["name"], s["name"]))
            if record is None:
                for b in range(n):
                    delta = s["data"]["errors"][b] * (D[b] / S[b] if S[b] > 0 and D[b] > 0 else 1.0)
                    var[b] += delta * delta
                    nominal[b] += s["data"]["contents"][b]
                continue
            for b in range(n):
                nominal[b] += s["data"]["contents"][b]
            for t in terms:
                if not t["name"].startswith(s["name"] + "__"):
                    continue
                f = next(m["name"] for m in t["modifiers"] if m["type"] == "custom")
                m = math.prod(c[x] for x in factors[f])
                for b in range(n):
                    nominal[b] += t["data"]["contents"][b] * m
            for pair in record["variance"]:
                m = monomial(pair["pair"][0], c) * monomial(pair["pair"][1], c)
                for b in range(n):
                    var[b] += m * pair["data"][b]
        return [math.sqrt(v) / d if d > 0 else 0.0 for v, d in zip(var, nominal)]

    coefficients = {c: value[c] for c in efthf["wilson_coefficients"]}
    zero = {c: 0.0 for c in coefficients}
    total = 0.0
    for dist in hs3["distributions"]:
        if dist.get("type") != "histfactory_dist" or "staterror" not in dist:
            continue
        if not any(records.get((dist["name"], s["name"])) for s in dist["samples"]):
            continue
        gammas = next(m["parameters"] for s in dist["samples"] for m in s["modifiers"] if m["type"] == "staterror")
        for g, s0, sc in zip(gammas, widths(dist, zero), widths(dist, coefficients)):
            if s0 > 0 and sc > 0:
                total += (1 - root_value[g]) ** 2 / 2 * (1 / s0**2 - 1 / sc**2)
    return total


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
        correction = [width_correction(hs3, p) for p in points]
        worst_abs, worst_rel, worst_corrected, largest_width = 0.0, 0.0, 0.0, 0.0
        for i in range(1, len(points)):
            d_efthf = logl[i] - logl[0]
            d_root = -(nll[i] - nll[0])
            scale = max(abs(logl[i]), abs(logl[0]))
            worst_abs = max(worst_abs, abs(d_efthf - d_root))
            worst_rel = max(worst_rel, abs(d_efthf - d_root) / scale)
            # With the documented MC-statistics width difference added back, the agreement is exact.
            worst_corrected = max(worst_corrected, abs(d_efthf - d_root - (correction[i] - correction[0])) / scale)
            largest_width = max(largest_width, abs(correction[i] - correction[0]))
        report[label] = {"max_abs": worst_abs, "max_rel_to_lnL": worst_rel,
                         "width_term_max_abs": largest_width, "max_rel_after_width_term": worst_corrected}
        if worst_corrected > args.tolerance:
            failures.append(f"{label}: NLL differences differ by {worst_corrected:.3g} relative to |ln L| after the documented width term (limit {args.tolerance:g})")
        if worst_rel > args.tolerance and largest_width == 0.0:
            failures.append(f"{label}: NLL differences differ by {worst_rel:.3g} relative (limit {args.tolerance:g})")

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
