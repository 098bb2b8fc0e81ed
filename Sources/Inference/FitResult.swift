import Foundation
import HistFactory

/// How a fit ended.
public enum FitStatus: Sendable, Equatable, CustomStringConvertible {
    /// EDM below tolerance with every free parameter inside its bounds.
    case converged
    /// EDM (over the parameters not held by a bound) below tolerance, with these free parameters
    /// on a bound: the minimum is on the boundary of the allowed region (for instance μ̂ = 0 of
    /// q̃μ). Uncertainties of those parameters are one-sided and should be read with care.
    case convergedAtBound(parameters: [String])
    /// Every strategy (BFGS, BFGS restarted, NLopt LD_LBFGS, restart from the suggested inits)
    /// failed; the reason of each.
    case failed(reason: String)

    public var isConverged: Bool {
        if case .failed = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .converged: "converged"
        case .convergedAtBound(let names): "converged with \(names.joined(separator: ", ")) at a bound"
        case .failed(let reason): "failed: \(reason)"
        }
    }
}

/// A local minimum found by a multi-start fit.
public struct LocalMinimum: Sendable, Equatable {
    /// All parameters, in model order.
    public let values: [Double]
    public let twiceNLL: Double
}

/// Likelihood evaluations of a fit by stage (each is log L with its gradient, or the expected
/// data at one point, which costs about as much).
public struct FitEvaluations: Sendable, Equatable {
    /// The first local fit, its retries included.
    public var localFit = 0
    /// The global-minimum search: the structure probes that choose the starts and the fits from them.
    public var multiStart = 0
    /// The Hessian at the minimum (two gradients per free parameter) and its Newton step.
    public var uncertainties = 0

    public var total: Int { localFit + multiStart + uncertainties }

    public init(localFit: Int = 0, multiStart: Int = 0, uncertainties: Int = 0) {
        self.localFit = localFit
        self.multiStart = multiStart
        self.uncertainties = uncertainties
    }
}

/// How a fit looked for the global minimum (see ``MultiStart``).
public struct MinimumSearch: Sendable, Equatable {
    public let strategy: MultiStart.Strategy
    /// The parameters the search varied.
    public let parameters: [String]
    /// Local fits made, the first one included.
    public let fits: Int
    /// Starts chosen but not fitted because the budget (``MultiStart/maxStarts``) ran out.
    public let untried: Int
    /// Structural starts left out because a minimum there cannot be lower (the yield bound of
    /// ``MultiStart``).
    public let excluded: Int
    /// Every start the strategy chose was fitted. False when the budget ran out first: a lower
    /// minimum may exist.
    public let globalMinimumAssured: Bool
}

/// The result of a maximum-likelihood fit: best-fit values, 2NLL at the minimum, status and,
/// when asked for, the covariance from the Hessian.
///
/// Uncertainties follow Minuit's HESSE with errordef 1 on 2NLL:
/// ```
/// V = 2 · [∂²(2NLL)/∂θ_i∂θ_j]⁻¹   (free parameters; zero rows and columns for fixed ones)
/// σ_i = √V_ii,  ρ_ij = V_ij / (σ_i σ_j)
/// ```
public struct FitResult: Sendable {
    public let parameterNames: [String]
    public let values: [Double]
    /// −2 log L at the minimum, with every constant term (pyhf's `twice_nll`).
    public let twiceNLL: Double
    public let status: FitStatus
    /// The estimated distance to the minimum at the end, in units of 2NLL.
    public let edm: Double
    /// The parameters that were held constant.
    public let fixed: [Bool]
    /// Objective-and-gradient evaluations, summed over retries, starts and the Hessian (the total
    /// of ``evaluations``).
    public internal(set) var functionCalls: Int
    /// Row-major n×n covariance (n = parameter count), when uncertainties were computed.
    let covarianceStorage: [Double]?
    /// The errors Minuit's HESSE would report for this minimum with every parameter bounded as
    /// here (pyhf's `minuit_optimizer` uncertainties), when uncertainties were computed. They
    /// differ from ``uncertainties`` through Minuit's sine transformation of bounded parameters
    /// (see `FitProblem.minuitUncertainties`); ``uncertainties`` are the plain Hessian ones.
    public let minuitUncertainties: [Double]?
    /// Distinct local minima of a multi-start fit, lowest first (empty without multi-start).
    public internal(set) var localMinima: [LocalMinimum]
    /// The 2NLL window within which distinct minima count as degenerate.
    var degeneracyTolerance: Double
    /// The fit's final curvature estimate, reused to start related fits.
    let warmStart: WarmStart?
    /// ∇2NLL over the free parameters at the minimum, as the minimiser ended.
    var gradient: [Double] = []
    /// ∇2NLL over all parameters at ``values`` when the minimiser evaluated it there, else empty;
    /// computed for the fit problem's ``FitProblem/wanted`` parameters (its free ones and those
    /// its sub-fits fixed), 0 for the others. Along a fixed parameter it is the slope of the profile likelihood
    /// (envelope theorem, used by ``DifferentiableLikelihood/profileIntervals(_:data:levels:options:bestFit:)``).
    var fullGradient: [Double] = []
    /// Likelihood evaluations by stage; their total is ``functionCalls``.
    public internal(set) var evaluations = FitEvaluations()
    /// How the global minimum was looked for (nil for a single local fit).
    public internal(set) var search: MinimumSearch? = nil

    /// σ_i = √V_ii (0 for fixed parameters), when uncertainties were computed.
    public var uncertainties: [Double]? {
        covarianceStorage.map { v in (0..<values.count).map { max(v[$0 * values.count + $0], 0).squareRoot() } }
    }

    /// The covariance matrix V (n×n, model order), when uncertainties were computed.
    public var covariance: [[Double]]? {
        let n = values.count
        return covarianceStorage.map { v in (0..<n).map { i in Array(v[(i * n)..<((i + 1) * n)]) } }
    }

    /// The correlation matrix ρ_ij; rows and columns of fixed parameters are zero, diagonal
    /// included, as pyhf's Minuit reports them.
    public var correlations: [[Double]]? {
        let n = values.count
        return covarianceStorage.map { v in
            (0..<n).map { i in
                (0..<n).map { j in
                    let d = (v[i * n + i] * v[j * n + j]).squareRoot()
                    return d > 0 ? v[i * n + j] / d : 0
                }
            }
        }
    }

    /// Local minima other than the best one within the degeneracy tolerance in 2NLL (the best
    /// one first when there are any). Empty when the minimum is unique or multi-start was off.
    public var degenerateMinima: [LocalMinimum] {
        let close = localMinima.filter { $0.twiceNLL - twiceNLL <= degeneracyTolerance }
        return close.count > 1 ? close : []
    }

    /// The best-fit value of `name` (a scalar set's name or `name[i]`).
    public func value(of name: String) throws(InferenceError) -> Double {
        guard let i = parameterNames.firstIndex(of: name) else {
            throw InferenceError(.invalidOptions, "the fit has no parameter \"\(name)\"")
        }
        return values[i]
    }
}

/// The inverse-Hessian estimate of 2NLL over a set of free parameters, at a minimum.
struct WarmStart: Sendable {
    /// Model indices of the free parameters, ascending.
    let indices: [Int]
    /// Row-major inverse Hessian over `indices`.
    let inverseHessian: [Double]
    /// The full parameter vector at the minimum.
    let values: [Double]

    /// The start point and curvature for a fit whose free set is `newIndices` and whose other
    /// parameters are at `target`: parameters newly fixed are conditioned on, one at a time,
    /// as for a Gaussian with covariance H:
    /// ```
    /// x_j ← x_j + H_jp / H_pp · (v_p − x_p),   H_jk ← H_jk − H_jp H_pk / H_pp
    /// ```
    /// With H the inverse Hessian of 2NLL at the minimum, x is the linear prediction of the
    /// conditional minimum (the minimum of the quadratic model of 2NLL at fixed θ_p) and H the
    /// quadratic model's inverse Hessian over the remaining parameters (the Schur complement),
    /// symmetric and positive definite when H is. nil when the new free set is not a subset of
    /// this one.
    func conditioned(on target: [Double], freeIndices newIndices: [Int]) -> (start: [Double], inverseHessian: [Double])? {
        var position = [Int: Int]()
        for (k, i) in indices.enumerated() { position[i] = k }
        guard newIndices.allSatisfy({ position[$0] != nil }) else { return nil }
        let keep = Set(newIndices)
        var H = inverseHessian
        let m = indices.count
        var x = values
        for (kp, p) in indices.enumerated() where !keep.contains(p) {
            let hpp = H[kp * m + kp]
            let delta = target[p] - x[p]
            x[p] = target[p]
            guard hpp > 0 else { continue }
            // Every parameter still free moves, the ones fixed next included: their conditional
            // mean is where the next conditioning starts from (those done have H_jp = 0 by now).
            for (kj, j) in indices.enumerated() where j != p {
                x[j] += H[kj * m + kp] / hpp * delta
            }
            // Row p as it was: the update sets it to zero, and every row needs the old one.
            let pivotRow = Array(H[kp * m ..< (kp + 1) * m])
            for kj in 0..<m {
                let hjp = H[kj * m + kp]
                guard hjp != 0 else { continue }
                for kk in 0..<m { H[kj * m + kk] -= hjp * pivotRow[kk] / hpp }
            }
        }
        let k = newIndices.count
        var reduced = [Double](repeating: 0, count: k * k)
        let map = newIndices.map { position[$0]! }
        for a in 0..<k { for b in 0..<k { reduced[a * k + b] = H[map[a] * m + map[b]] } }
        for (i, v) in target.enumerated() where !keep.contains(i) { x[i] = v }
        return (x, reduced)
    }
}

extension FitResult {
    /// A result known by its summary only, e.g. read back from a file a batch job wrote: no
    /// covariance, no local minima, no warm start.
    public init(parameterNames: [String], values: [Double], twiceNLL: Double, status: FitStatus, edm: Double, fixed: [Bool], functionCalls: Int) {
        self.init(parameterNames: parameterNames, values: values, twiceNLL: twiceNLL, status: status, edm: edm, fixed: fixed,
                  functionCalls: functionCalls, covarianceStorage: nil, minuitUncertainties: nil, localMinima: [], degeneracyTolerance: 0, warmStart: nil)
    }
}
