import HistFactory

/// How a maximum-likelihood fit is set up: start values, bounds, fixed parameters, the
/// convergence tolerance, uncertainties and multi-start.
///
/// Every vector is in the likelihood's parameter order (`DifferentiableLikelihood.parameterNames`); nil takes
/// the model's suggestions, as pyhf's `mle.fit` does.
public struct FitOptions: Sendable {
    public var initialValues: [Double]?
    public var bounds: [ClosedRange<Double>]?
    public var fixed: [Bool]?
    /// Parameters held constant at the given values, by name (`name` or `name[i]`), on top of
    /// `fixed`. The fixed-POI fits of the test statistics use this.
    public var fixedValues: [String: Double]
    /// Convergence when the estimated distance to the minimum EDM = ½ gᵀ H⁻¹ g of 2NLL is below
    /// this (pyhf's Minuit setting corresponds to 2·10⁻⁴; the default is far stricter because the
    /// exact gradient makes it cheap).
    public var edmTolerance: Double
    public var maxIterations: Int
    /// Compute the Hessian, covariance, uncertainties and correlations at the minimum.
    public var computeUncertainties: Bool
    /// Look for the global minimum from several starts (see ``MultiStart``); nil: one local fit.
    public var multiStart: MultiStart?
    /// Stops the fit when cancelled (``Cancellation``); nil: runs to the end.
    public var cancellation: Cancellation?

    public init(
        initialValues: [Double]? = nil, bounds: [ClosedRange<Double>]? = nil, fixed: [Bool]? = nil,
        fixedValues: [String: Double] = [:], edmTolerance: Double = 1e-12, maxIterations: Int = 20_000,
        computeUncertainties: Bool = false, multiStart: MultiStart? = nil, cancellation: Cancellation? = nil
    ) {
        self.initialValues = initialValues
        self.bounds = bounds
        self.fixed = fixed
        self.fixedValues = fixedValues
        self.edmTolerance = edmTolerance
        self.maxIterations = maxIterations
        self.computeUncertainties = computeUncertainties
        self.multiStart = multiStart
        self.cancellation = cancellation
    }
}

/// How a fit looks for the global minimum of a likelihood with several local minima (a yield
/// quadratic in a Wilson coefficient has two), and its budget.
///
/// - `.none`: one local fit from the initial values.
/// - `.auto`: one local fit, then starts chosen from the structure of the expected yields around
///   each minimum found, at most ``maxStarts`` further local fits. Along a direction d in the
///   searched parameters the yields are fitted by ν_b(θ̂ + t d) ≈ ν̂_b + A_b t + Q_b t² (from the
///   expected data at θ̂ ± h e_p and θ̂ + h e_p + h e_q, exact for morphing polynomials of degree 2).
///   The reflection about the vertex that keeps the yields best,
///   ```
///   t* = −Σ_b w_b A_b Q_b / Σ_b w_b Q_b²,   w_b = 1 / max(ν̂_b, 1)
///   R  = Σ_b w_b (A_b t* + Q_b t*²)²           (Pearson distance of the yields there)
///   ```
///   is a start, for d along each parameter, each pair (±) and the sign flip of all of them. A
///   start can lead to a lower minimum only if its yields fit the data better; with the Pearson
///   residual χ²_r = Σ_b w_b (n_b − ν̂_b)², Cauchy–Schwarz gives χ²(ν') − χ²_r ≥ R − 2√(R χ²_r),
///   so starts with √R > 2√χ²_r + 1 (the 1 allows for the profiled nuisance parameters and the
///   Pearson approximation) are left out. The others are fitted, most promising first, each
///   warm-started with the curvature of its minimum; every new minimum is probed in turn. The cost
///   is one local fit plus 1 + 2k + k(k − 1)/2 yield evaluations per minimum (k searched
///   parameters, pairs for k ≤ 12) plus the fits the structure calls for.
///
///   Nuisance parameters (the other free parameters): around the first and each new lowest
///   minimum, a parameter whose yields are not linear in it (histosys code0/2/4p, normsys, a
///   coefficient not searched) and can turn its profile over (the negative curvature its yields
///   can bring, from the expected data at c ± s, c ± s/2, above half the profile curvature) is
///   probed on c + s·{0, ±¼, ±½, ±1, ±1½, ±2} and its mirror, s = min(1, range/4) (the constraint's
///   ±1σ, ±2σ), the others profiled by one Newton step with the fit's covariance; a start goes to
///   each other basin of that profile estimate below the minimum (Specs/bindings.md §1.3.1). At
///   most ``maximumProbedParameters`` are probed. The conditional fits of the test statistics
///   search the same way.
/// - `.grid`: local fits from the initial values and from every point of a grid of
///   ``pointsPerParameter`` cell centres per parameter over ``ranges`` (the bounds when absent),
///   in parallel: (points)^k fits.
///
/// Distinct minima within ``degeneracyTolerance`` in 2NLL of the lowest are degenerate.
public struct MultiStart: Sendable, Equatable {
    public enum Strategy: String, Sendable, CaseIterable, Codable {
        case none, auto, grid
    }

    public var strategy: Strategy
    /// The parameters the search varies; empty: the parameter of interest.
    public var parameters: [String]
    /// The budget: most local fits beyond the first (`.auto`), most grid points (`.grid`).
    public var maxStarts: Int
    public var pointsPerParameter: Int
    /// The grid range per parameter; the parameter's bounds when absent.
    public var ranges: [String: ClosedRange<Double>]
    public var degeneracyTolerance: Double

    /// The largest budget a user may choose.
    public static let maximumStarts = 10_000

    /// Most nuisance parameters `.auto` probes around a minimum (the most non-linear first).
    public static let maximumProbedParameters = 16

    /// How far (in 2NLL) below the minimum a nuisance-parameter profile estimate must lie to be
    /// a start without a basin of its own: one Newton step of the other parameters is only an
    /// estimate, and on real workspaces it undershoots by up to a few tenths.
    static let profileMargin = 0.5

    /// `.auto`'s budget for k searched parameters, 2k + 2: every parameter's reflection and its
    /// return, with room for one more.
    public static func defaultMaxStarts(parameterCount k: Int) -> Int { 2 * max(k, 1) + 2 }

    /// A grid search (`.grid`) over `parameters`.
    public init(
        parameters: [String], pointsPerParameter: Int = 7, ranges: [String: ClosedRange<Double>] = [:],
        degeneracyTolerance: Double = 1e-3
    ) {
        self.init(strategy: .grid, parameters: parameters, maxStarts: Self.maximumStarts, pointsPerParameter: pointsPerParameter,
                  ranges: ranges, degeneracyTolerance: degeneracyTolerance)
    }

    /// - Parameter maxStarts: nil: ``defaultMaxStarts(parameterCount:)`` for `.auto`,
    ///   ``maximumStarts`` for `.grid`.
    public init(
        strategy: Strategy, parameters: [String] = [], maxStarts: Int? = nil, pointsPerParameter: Int = 3,
        ranges: [String: ClosedRange<Double>] = [:], degeneracyTolerance: Double = 1e-3
    ) {
        self.strategy = strategy
        self.parameters = parameters
        self.maxStarts = maxStarts ?? (strategy == .grid ? Self.maximumStarts : Self.defaultMaxStarts(parameterCount: parameters.count))
        self.pointsPerParameter = pointsPerParameter
        self.ranges = ranges
        self.degeneracyTolerance = degeneracyTolerance
    }

    /// The structural search (`.auto`) over `parameters` (empty: the POI).
    public static func auto(parameters: [String] = [], maxStarts: Int? = nil) -> MultiStart {
        MultiStart(strategy: .auto, parameters: parameters, maxStarts: maxStarts)
    }
}
