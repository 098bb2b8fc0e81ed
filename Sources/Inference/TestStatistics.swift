import Foundation
import HistFactory

/// The profile-likelihood-ratio test statistics of Cowan, Cranmer, Gross, Vitells,
/// "Asymptotic formulae for likelihood-based tests of new physics", arXiv:1007.1727.
///
/// With λ(μ) = L(μ, θ̂̂(μ)) / L(μ̂, θ̂) and everything in 2NLL units (2NLL = −2 ln L):
/// ```
/// tμ  = −2 ln λ(μ)                                                  (Eq. 8)
/// t̃μ  = −2 ln λ̃(μ),  λ̃ = L(μ,θ̂̂(μ)) / L(0,θ̂̂(0)) if μ̂ < 0          (Eq. 10, 11)
/// q0  = −2 ln λ(0) if μ̂ ≥ 0, else 0                                 (Eq. 12)
/// qμ  = −2 ln λ(μ) if μ̂ ≤ μ, else 0                                 (Eq. 14)
/// q̃μ  = −2 ln λ̃(μ) if μ̂ ≤ μ, else 0                                 (Eq. 16)
/// ```
/// Each is clipped at 0 (a fit converged to 10⁻¹⁰ in EDM can leave −10⁻¹² behind).
///
/// pyhf computes q̃μ with the qμ code and a POI lower bound of 0, which makes μ̂ ≥ 0 and the
/// free fit the μ = 0 fit when μ̂ would be negative. Here the μ = 0 fit of Eq. 16 is explicit,
/// so q̃μ is right also when the POI may be negative (EFT coefficients; pyhf issue 2352). With
/// the bound at 0 both agree.
///
/// Worked example (pyhf's simple model: signal [12, 11], background [50, 52] ± [3, 7], data
/// [51, 48]): q̃μ(1) = 3.93824492 and on the Asimov data q̃μ,A(1) = 3.41886916 (pyhf with tight
/// fits; its default SLSQP tolerance gives 3.41891934).
public enum TestStatistic: String, Sendable, CaseIterable {
    case q0
    case qMu
    case qMuTilde
    case tMu
    case tMuTilde

    /// The POI value at which the Asimov data of the asymptotic formulae are made: 1 for the
    /// discovery statistic q0, 0 (background only) for the upper-limit ones (pyhf's choice).
    var asimovPOI: Double { self == .q0 ? 1 : 0 }

    var usesZeroFit: Bool { self == .qMuTilde || self == .tMuTilde }
}

/// The fits a test statistic is made of, on one data set.
struct TestStatisticFits: Sendable {
    let problem: FitProblem
    let poi: Int
    /// The unconditional fit (μ̂, θ̂).
    let free: FitResult
    /// The fit at μ = 0, made when a tilde statistic needs it (μ̂ < 0).
    let zero: FitResult?

    init(problem: FitProblem, poi: Int, kind: TestStatistic, start: [Double]? = nil, warmStart: WarmStart? = nil) throws(InferenceError) {
        self.problem = problem
        self.poi = poi
        free = try converged(problem.runSearch(from: start, warmStart: warmStart), "the unconditional fit")
        if kind.usesZeroFit && free.values[poi] < 0 {
            zero = try converged(problem.fixing([poi: 0], searching: true).runSearch(from: free.values, warmStart: free.warmStart), "the fit at \(problem.model.parameterNames[poi]) = 0")
        } else {
            zero = nil
        }
    }

    var muHat: Double { free.values[poi] }

    /// The conditional fit at μ.
    func conditional(_ mu: Double) throws(InferenceError) -> FitResult {
        try converged(problem.fixing([poi: mu], searching: true).runSearch(from: free.values, warmStart: free.warmStart), "the fit at \(problem.model.parameterNames[poi]) = \(mu)")
    }

    /// The statistic at μ given the conditional fit there.
    func value(_ kind: TestStatistic, mu: Double, conditional: FitResult) -> Double {
        let muHat = self.muHat
        let reference = zero.map { $0.twiceNLL } ?? free.twiceNLL
        let t = max(0, conditional.twiceNLL - free.twiceNLL)
        switch kind {
        case .tMu: return t
        case .tMuTilde: return max(0, conditional.twiceNLL - reference)
        case .q0: return muHat < 0 ? 0 : t
        case .qMu: return muHat > mu ? 0 : t
        case .qMuTilde: return muHat > mu ? 0 : max(0, conditional.twiceNLL - reference)
        }
    }

    func value(_ kind: TestStatistic, mu: Double) throws(InferenceError) -> Double {
        // The cases where the statistic vanishes need no conditional fit.
        if (kind == .qMu || kind == .qMuTilde) && muHat > mu { return 0 }
        if kind == .q0 && muHat < 0 { return 0 }
        return value(kind, mu: mu, conditional: try conditional(mu))
    }
}

extension DifferentiableLikelihood {
    /// The value of a test statistic of arXiv:1007.1727 at POI = `poiValue` (q0 ignores it and
    /// tests 0), from the fits it is defined by (see ``TestStatistic``).
    ///
    /// - Complexity: two fits (three for q̃μ and t̃μ when μ̂ < 0).
    public func testStatistic(
        _ kind: TestStatistic, poiValue: Double, data: ModelData, options: FitOptions = FitOptions()
    ) throws(InferenceError) -> Double {
        let (problem, poi) = try poiProblem(data, options)
        let fits = try TestStatisticFits(problem: problem, poi: poi, kind: kind)
        return try fits.value(kind, mu: kind == .q0 ? 0 : poiValue)
    }

    /// Asimov data as pyhf makes them: θ̂̂ from the fit with the POI fixed at `poiValue` to the
    /// observed `data`, then main = ν(θ̂̂) and auxiliary = the expected auxiliary data at θ̂̂
    /// (θ̂̂ for Gaussian constraints, γ̂̂τ for Poisson ones).
    public func asimovData(poiValue: Double, data: ModelData, options: FitOptions = FitOptions()) throws(InferenceError) -> ModelData {
        let (problem, poi) = try poiProblem(data, options)
        let fit = try converged(problem.fixing([poi: poiValue], searching: true).runSearch(from: problem.start, warmStart: nil), "the Asimov fit")
        return try asimovData(at: fit.values)
    }

    func asimovData(at parameters: [Double]) throws(InferenceError) -> ModelData {
        do {
            return try data(main: expectedMainData(parameters), auxiliary: expectedAuxiliaryData(parameters))
        } catch {
            throw InferenceError(.failedMinimization, "the Asimov data are not valid: \(error.message)")
        }
    }

    /// The fit problem with the POI index, checking that the POI exists and is free.
    func poiProblem(_ data: ModelData, _ options: FitOptions) throws(InferenceError) -> (FitProblem, Int) {
        let problem = try FitProblem(model: self, data: data, options: options)
        guard let poi = poiIndex else {
            throw InferenceError(.invalidOptions, "the measurement \(measurementName) names no parameter of interest")
        }
        guard !problem.fixed[poi] else {
            throw InferenceError(.invalidOptions, "the parameter of interest \(parameterNames[poi]) is fixed")
        }
        return (problem, poi)
    }
}
