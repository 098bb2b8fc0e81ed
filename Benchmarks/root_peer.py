"""ROOT 6.40 (RooFit, Minuit2, RooStats) as a peer of Benchmarks/run.py, on efthf's own HS3 export.

The model is `efthf export WS [--patch P] --hs3` imported by RooJSONFactoryWSTool, as
Tests/References/root/check_hs3.py does (whose ImportedModel this reuses); ROOT's NLL differs from
−ln L by a constant (Specs/hs3.md §2), so every answer carries ROOT's NLL at efthf's inits and the
runner relates the two there. Tasks (one JSON request per line, one answer per line):

  eval      NLL value per evaluation at θ_i = init_i + 0.3·sin(i + 1), every parameter moved between
            calls (a C++ loop; ROOT's gradient is numerical, so the value alone is timed); also the
            NLL with every PiecewiseInterpolation's positiveDefinite off (pyhf's histosys, which does
            not clamp a sample's interpolated yield at 0: Specs/hs3.md §2.3), which is what is checked
  fit       Minuit2 migrad (STRATEGY, tolerance 0.01, Offset(True), no hesse) from the inits: NLL at the minimum
  hypotest  RooStats AsymptoticCalculator, one-sided q̃μ (SetOneSided, SetQTilde) at μ = 1: CLs
  limit     RooStats HypoTestInverter on that calculator, CLs, 95 %, its automatic scan: upper limit
  eft       Minuit2 migrad + hesse (STRATEGY) with the named coefficients free, the others at 0
fit, hypotest, limit and eft run with positiveDefinite off as well, so that ROOT computes pyhf's model.
RooStats' fits stop by Minuit2's defaults (tolerance 0.01): on 05 its CLs differs from efthf's by
7.7e-5; with ROOT.Math.MinimizerOptions' tolerance 1e-5 and strategy 2 by 1.6e-5 (104 s of CPU
instead of 63 s), so the rest is the stopping rule. The runner keeps ROOT's defaults.
Every NLL uses RooFit's vectorised CPU backend, EvalBackend("cpu") (once called BatchMode); RooStats'
fits use Minuit2 with the same strategy and no NLL offsetting (with RooStats::UseNLLOffset(true)
HypoTestInverter's automatic scan fails on reference 02 at μ = −10 and returns 10).
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "References" / "root"))
import check_hs3  # noqa: E402

BACKEND = "cpu"  # RooFit's vectorised CPU evaluation backend (RooFit::Evaluator)
STRATEGY = int(os.environ.get("EFTHF_ROOT_STRATEGY", "1"))  # Minuit2 strategy of every ROOT fit (run.py --root-strategy)


def shifted(inits):
    return [x + 0.3 * math.sin(i + 1) for i, x in enumerate(inits)]


class Peer:
    def __init__(self, efthf_binary, cases, reference, load_workspace):
        """`load_workspace(key)`: efthf's Python Workspace of a reference case, as the efthf worker loads it."""
        self.binary = str(efthf_binary)
        self.load_workspace = load_workspace
        self.cases, self.reference = cases, reference
        self.ROOT = check_hs3.load_root()
        self.ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)
        self.ROOT.Math.MinimizerOptions.SetDefaultMinimizer("Minuit2")
        self.ROOT.Math.MinimizerOptions.SetDefaultStrategy(STRATEGY)
        self.ROOT.gInterpreter.Declare("""
            double efthf_nll_loop(RooAbsReal &nll, RooArgList &params, const std::vector<double> &a,
                                  const std::vector<double> &b, long n) {
                double sum = 0;
                for (long i = 0; i < n; ++i) {
                    const std::vector<double> &p = (i & 1) ? b : a;
                    for (size_t k = 0; k < p.size(); ++k) static_cast<RooRealVar &>(params[k]).setVal(p[k]);
                    sum += nll.getVal();
                }
                return sum;
            }""")
        self.directory = tempfile.mkdtemp(prefix="efthf-root-peer-")
        self.models = {}

    def model(self, key, workspace=None):
        """The imported model of a reference case (with its patch) or of a workspace file, with efthf's parameter order."""
        if key in self.models:
            return self.models[key]
        import efthf

        if workspace is None:
            folder, ws_file, patch_file, patch_name = self.cases[key]
            base = self.reference / "workspaces" / folder
            workspace = base / ws_file
            patch = ["--patch", str(base / patch_file) + (f":{patch_name}" if patch_name else "")] if patch_file else []
        else:
            patch = []
        path = os.path.join(self.directory, f"model-{len(self.models)}.json")
        check_hs3.efthf(self.binary, "export", str(workspace), *patch, "--hs3", "-o", path)
        with open(path) as f:
            hs3 = json.load(f)
        imported = check_hs3.ImportedModel(self.ROOT, path, hs3, backend=BACKEND)
        # efthf's parameter order and inits (the shifted point is defined on it), through the HS3 name map.
        ws = self.load_workspace(key) if key in self.cases else efthf.Workspace.load(str(workspace))
        config = ws.model().config
        names = hs3["misc"]["efthf"]["parameter_names"]
        # The same NLL with pyhf's histosys: no clamp of an interpolated sample yield at 0 (Specs/hs3.md §2.3).
        interpolations = [f for f in imported.ws.allFunctions() if f.InheritsFrom("PiecewiseInterpolation")]
        for f in interpolations:
            f.setPositiveDefinite(False)
        unclamped = imported.pdf.createNLL(imported.data, *imported.backend_options())
        for f in interpolations:
            f.setPositiveDefinite(True)
        entry = {"imported": imported, "hs3": hs3, "nll_unclamped": unclamped, "interpolations": interpolations,
                 "par_names": config.par_names, "inits": config.suggested_init(),
                 "fixed": config.suggested_fixed(), "root_names": [names[n] for n in config.par_names]}
        # Global observables: the constant means of the constraint terms, so that the Asimov data of
        # the asymptotic formulae carries the fitted nuisance parameters, as pyhf's and efthf's do.
        globs = self.ROOT.RooArgSet()
        for v in imported.ws.allVars():
            if v.isConstant() and (v.GetName().startswith("nom_") or v.GetName().startswith("nominal_")):
                globs.add(v)
        imported.mc.SetGlobalObservables(globs)
        self.models[key] = entry
        return entry

    def at(self, entry, values):
        return {root: value for root, value in zip(entry["root_names"], values)}

    def width_term(self, entry, root_values):
        """efthf's ln L minus the HS3 model's at a point (Specs/hs3.md §2.1; 0 without morphed MC statistics)."""
        hs3 = entry["hs3"]
        if not any("variance" in m for m in hs3["misc"]["efthf"].get("morphing", [])):
            return 0.0
        inverse = {root: pyhf for pyhf, root in hs3["misc"]["efthf"]["parameter_names"].items()}
        return check_hs3.width_correction(hs3, {inverse[r]: v for r, v in root_values.items() if r in inverse})

    def current(self, entry):
        return {r: entry["imported"].ws.var(r).getVal() for r in entry["root_names"]}

    def answer(self, request):
        task, key = request["task"], request["case"]
        ROOT = self.ROOT
        entry = self.model(key, request.get("workspace"))
        if task == "load":
            return {"loaded": key}
        m = entry["imported"]
        m.reset()
        nll_at_inits = m.value(self.at(entry, entry["inits"]))
        result = {"nll_at_inits": nll_at_inits, "npars": len(entry["par_names"]), "backend": BACKEND, "strategy": STRATEGY}
        if task == "eval":
            result["nll_unclamped_at_inits"] = entry["nll_unclamped"].getVal()
            point = shifted(entry["inits"])
            other = [x + 1e-9 * max(1.0, abs(x)) for x in point]
            m.set(self.at(entry, other))  # widens ranges that the points leave
            result["nll"] = m.value(self.at(entry, point))
            result["nll_unclamped"] = entry["nll_unclamped"].getVal()
            if not (math.isfinite(result["nll"]) and math.isfinite(result["nll_unclamped"])):
                # Reference 07: a staterror γ 50σ from its mean; RooGaussian's value underflows to 0 and its log is −inf.
                raise RuntimeError(f"ROOT's NLL is {result['nll']} at the benchmark point (a Gaussian constraint term far from "
                                   "its mean evaluates to 0 and its log to −inf: Specs/hs3.md §4); pyhf's and efthf's are finite")
            params = ROOT.RooArgList()
            for r in entry["root_names"]:
                params.add(m.ws.var(r))
            a, b = ROOT.std.vector["double"](point), ROOT.std.vector["double"](other)
            ROOT.efthf_nll_loop(m.nll, params, a, b, 2)
            n = 2
            while True:  # batches of at least 0.1 s of CPU
                t0 = time.process_time()
                ROOT.efthf_nll_loop(m.nll, params, a, b, n)
                cpu = time.process_time() - t0
                if cpu > 0.1:
                    break
                n *= 4
            result["cpu"] = cpu / n
            return result
        # Fits, hypotests and limits use pyhf's histosys (positiveDefinite off, Specs/hs3.md §2.3), so
        # that their 2NLL, CLs and limits are checked against the model pyhf and efthf compute; the
        # clamp's own effect is stated by the eval row. The evaluation cost is the same either way.
        for f in entry["interpolations"]:
            f.setPositiveDefinite(False)
        try:
            return self.inference(task, request, entry, result)
        finally:
            for f in entry["interpolations"]:
                f.setPositiveDefinite(True)

    def inference(self, task, request, entry, result):
        ROOT = self.ROOT
        m = entry["imported"]
        if task in ("fit", "eft"):
            m.reset()
            if task == "eft":
                ops = request["ops"].split(",")
                for c in entry["hs3"]["misc"]["efthf"]["wilson_coefficients"]:
                    v = m.ws.var(entry["hs3"]["misc"]["efthf"]["parameter_names"][c])
                    v.setVal(0.0)
                    v.setConstant(c not in ops)
            t0 = time.process_time()
            if task == "eft":
                status, _ = m.fit(reset=False, strategy=STRATEGY, hesse=True)
            else:
                # Minuit2's default tolerance stops at EDM ≈ 1e-3, 2NLL ≈ 1e-3 above the minimum (reference 01:
                # 7.5e-4): tolerance 0.01 (EDM ≈ 1e-5) so that the 2NLL check measures the model, not the stopping rule.
                if "offset_nll" not in entry:
                    entry["offset_nll"] = m.pdf.createNLL(m.data, *m.backend_options(), ROOT.RooFit.Offset(True))
                minimizer = ROOT.RooMinimizer(entry["offset_nll"])
                minimizer.setMinimizerType("Minuit2")
                minimizer.setStrategy(STRATEGY)
                minimizer.setEps(0.01)
                minimizer.setPrintLevel(-1)
                status = minimizer.migrad()
            result["cpu"] = time.process_time() - t0
            if status != 0:
                raise RuntimeError(f"Minuit2 status {status}")
            at_minimum = self.current(entry)
            result["nll"] = m.nll.getVal()
            result["width_term"] = self.width_term(entry, at_minimum) - self.width_term(entry, self.at(entry, entry["inits"]))
            return result
        if task in ("hypotest", "limit"):
            RS = ROOT.RooStats
            m.reset()
            t0 = time.process_time()
            poi = m.mc.GetParametersOfInterest().first()
            sb = m.mc.Clone()
            sb.SetName("SB")
            poi.setVal(1.0)
            sb.SetSnapshot(ROOT.RooArgSet(poi))
            bkg = m.mc.Clone()
            bkg.SetName("B")
            poi.setVal(0.0)
            bkg.SetSnapshot(ROOT.RooArgSet(poi))
            calculator = RS.AsymptoticCalculator(m.data, bkg, sb)
            calculator.SetOneSided(True)
            calculator.SetQTilde(True)
            if task == "hypotest":
                test = calculator.GetHypoTest()
                test.SetBackgroundAsAlt(True)
                result["cls"] = test.CLs()
            else:
                inverter = RS.HypoTestInverter(calculator)
                inverter.SetConfidenceLevel(0.95)
                inverter.UseCLs(True)
                inverter.SetVerbose(0)
                inverter.SetAutoScan()
                result["limit"] = inverter.GetInterval().UpperLimit()
            result["cpu"] = time.process_time() - t0
            return result
        raise ValueError(f"unknown task {task}")


def main(efthf_binary, cases, reference, load_workspace):
    # RooFit and RooStats print to the C stdout: answers go to a copy of it, everything else to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    peer = Peer(efthf_binary, cases, reference, load_workspace)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = peer.answer(request)
        except Exception as e:  # reported to the runner, which says so in the table
            answer = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), file=answers, flush=True)
