import Foundation
import HistFactory
import Testing
@testable import Inference

/// Fits and asymptotic CLs against pyhf 0.7.6 on the eight reference workspaces
/// (../shared/reference/reference-values.json, made by make_reference.py) and against Minuit's
/// HESSE, pyhf's hypotests at μ = 0.5, q0 and upper limits (Tests/References/pyhf/fits.json).
///
/// `swift test` runs in debug mode in CI; the largest workspaces (06–08, 126–328 parameters) take
/// about a second each there, so every case is tested.
@Suite(.enabled(if: ReferenceFiles.available, Comment(rawValue: ReferenceFiles.missingMessage)))
struct ReferenceWorkspaceTests {
    static let names = ReferenceFiles.cases.map(\.name)

    /// Best-fit 2NLL never above pyhf's (the lower of SLSQP and Minuit, both run tightly) by more
    /// than 1e-6; parameters within 1e-4 absolute of pyhf's best fit. Where pyhf's best fit came
    /// from Minuit (EDM goal 2e-6 there) the parameters are compared to 1e-4 in units of their
    /// σ·√(EDM-equivalent) instead: a parameter along a flat direction is not well defined to 1e-4.
    @Test(arguments: names)
    func bestFitMatchesPyhf(_ name: String) throws {
        let reference = try #require(ReferenceFiles.referenceValues[name]?["bestfit"] as? [String: Any])
        let (model, data) = try ReferenceFiles.load(name)
        let fit = try model.fit(data)
        #expect(fit.status.isConverged, "\(fit.status)")
        let referenceTwiceNLL = double(reference["twice_nll"])
        #expect(fit.twiceNLL <= referenceTwiceNLL + 1e-6, "2NLL \(fit.twiceNLL) vs pyhf \(referenceTwiceNLL)")
        let expected = ReferenceFiles.flatten(reference["pars"] as! [String: Any], model: model)
        let fromScipy = (reference["optimizer"] as? String) == "scipy_optimizer"
        let withErrors = fromScipy ? nil : try model.fit(data, options: FitOptions(computeUncertainties: true)).uncertainties
        for (i, name) in model.parameterNames.enumerated() {
            let difference = abs(fit.values[i] - expected[i])
            // Minuit's answer is only as good as its EDM: allow 1e-2 σ there.
            let tolerance = fromScipy ? 1e-4 : max(1e-4, 1e-2 * (withErrors?[i] ?? 0))
            #expect(difference <= tolerance, "\(name): \(fit.values[i]) vs pyhf \(expected[i])")
        }
    }

    /// Observed CLs and the expected band of the q̃μ test at μ = 1 within 1e-4 absolute.
    @Test(arguments: names)
    func hypotestAtOneMatchesPyhf(_ name: String) throws {
        let reference = try #require(ReferenceFiles.referenceValues[name]?["hypotest_mu1_qtilde"] as? [String: Any])
        let (model, data) = try ReferenceFiles.load(name)
        let result = try model.hypotest(poiValue: 1, data: data)
        #expect(abs(result.clsObserved - double(reference["cls_obs"])) < 1e-4, "CLs \(result.clsObserved) vs \(double(reference["cls_obs"]))")
        for (ours, theirs) in zip(result.clsExpected, doubles(reference["cls_exp"])) {
            #expect(abs(ours - theirs) < 1e-4, "expected CLs \(ours) vs \(theirs)")
        }
    }

    static let fitCases = names.filter { ReferenceFiles.fits[$0]?["fit"] != nil }

    /// Hessian uncertainties within 1 % of Minuit's HESSE (pyhf, strategy 2). Minuit reports
    /// errors of bounded parameters through its sine transformation, so the comparison is with
    /// `minuitUncertainties` (the same Hessian mapped as Minuit maps it); the plain σ = √V_ii
    /// differ from HESSE by up to 3 % on 01 and 05 and by 2× on 04, whose POI sits on its bound
    /// (checked independently against a finite-difference Hessian of pyhf's logpdf: 0.6442 and
    /// 0.7648 for 01's POI and 04's totalError, as here). Correlations within 0.01 where no
    /// parameter is on a bound.
    @Test(arguments: fitCases)
    func uncertaintiesMatchMinuitHesse(_ name: String) throws {
        let reference = try #require(ReferenceFiles.fits[name]?["fit"] as? [String: Any])
        let (model, data) = try ReferenceFiles.load(name)
        let fit = try model.fit(data, options: FitOptions(computeUncertainties: true))
        let sigmas = try #require(fit.minuitUncertainties)
        let hesse = ReferenceFiles.flatten(reference["uncertainties"] as! [String: Any], model: model)
        for (i, parameter) in model.parameterNames.enumerated() where !fit.fixed[i] {
            #expect(abs(sigmas[i] / hesse[i] - 1) < 0.01, "\(parameter): σ = \(sigmas[i]) vs HESSE \(hesse[i])")
        }
        guard fit.status == .converged else { return }
        let correlations = try #require(fit.correlations)
        let referenceCorrelations = (reference["correlations"] as! [Any]).map(doubles)
        let free = model.parameterNames.indices.filter { !fit.fixed[$0] }
        for i in free {
            for j in free where i != j {
                #expect(abs(correlations[i][j] - referenceCorrelations[i][j]) < 0.01, "ρ(\(i), \(j))")
            }
        }
    }

    /// The Hessian from central differences of the analytic gradient agrees with second
    /// differences of 2NLL itself (no gradient involved) to 1e-4 relative on the diagonal.
    @Test func hessianAgreesWithSecondDifferencesOfTheLikelihood() throws {
        let (model, data) = try ReferenceFiles.load("05_atlas_susy2018_31_sbottom_RegionA")
        let fit = try model.fit(data, options: FitOptions(computeUncertainties: true))
        let problem = try FitProblem(model: model, data: data, options: FitOptions())
        let hessian = problem.hessian(at: fit.values, inverseHessianHint: [])
        let k = problem.freeIndices.count
        for (a, i) in problem.freeIndices.enumerated() where a % 7 == 0 {
            let h = 1e-4
            var x = fit.values
            func f(_ shift: Double) -> Double { x[i] = fit.values[i] + shift; return problem.twiceNLL(x) }
            let second = (f(h) - 2 * f(0) + f(-h)) / (h * h)
            #expect(abs(hessian[a * k + a] / second - 1) < 1e-4, "\(model.parameterNames[i])")
        }
    }

    static let hypotestCases = names.filter { ReferenceFiles.fits[$0]?["hypotest_qtilde_mu0.5"] != nil }

    /// q̃μ at μ = 0.5 and the discovery test q0 (p0 and its expected band) within 1e-4.
    @Test(arguments: hypotestCases)
    func hypotestAtHalfAndDiscoveryMatchPyhf(_ name: String) throws {
        let references = try #require(ReferenceFiles.fits[name])
        let (model, data) = try ReferenceFiles.load(name)
        if let half = references["hypotest_qtilde_mu0.5"] as? [String: Any], half["cls_obs"] != nil {
            let result = try model.hypotest(poiValue: 0.5, data: data)
            #expect(abs(result.clsObserved - double(half["cls_obs"])) < 1e-4)
            for (ours, theirs) in zip(result.clsExpected, doubles(half["cls_exp"])) { #expect(abs(ours - theirs) < 1e-4) }
        }
        if let discovery = references["discovery_q0"] as? [String: Any], discovery["p0_obs"] != nil {
            let result = try model.discoverySignificance(data: data)
            #expect(abs(result.p0 - double(discovery["p0_obs"])) < 1e-4, "p0 \(result.p0) vs \(double(discovery["p0_obs"]))")
            for (ours, theirs) in zip(result.p0Expected, doubles(discovery["p0_exp"])) { #expect(abs(ours - theirs) < 1e-4) }
            #expect(abs(result.significance - result.q0.squareRoot()) < 1e-6)
        }
    }

    static let limitCases = names.filter { (ReferenceFiles.fits[$0]?["upper_limit"] as? [String: Any])?["obs_limit"] != nil }

    /// Observed and expected upper limits within 5e-4 relative of pyhf's toms748 scan (whose own
    /// tolerance is 1e-4 relative).
    @Test(arguments: limitCases)
    func upperLimitsMatchPyhf(_ name: String) throws {
        let reference = try #require(ReferenceFiles.fits[name]?["upper_limit"] as? [String: Any])
        let (model, data) = try ReferenceFiles.load(name)
        let limit = try model.upperLimit(data: data)
        let observed = double(reference["obs_limit"])
        #expect(abs(limit.observed / observed - 1) < 5e-4, "observed \(limit.observed) vs \(observed)")
        for (ours, theirs) in zip(limit.expected, doubles(reference["exp_limits"])) {
            #expect(abs(ours / theirs - 1) < 5e-4, "expected \(ours) vs \(theirs)")
        }
        // The limit is where CLs = 0.05.
        let check = try model.hypotest(poiValue: limit.observed, data: data)
        #expect(abs(check.clsObserved - 0.05) < 1e-6)
    }
}
