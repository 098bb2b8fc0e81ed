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
    /// Look for the global minimum from several starts (see ``MultiStart``).
    public var multiStart: MultiStart?

    public init(
        initialValues: [Double]? = nil, bounds: [ClosedRange<Double>]? = nil, fixed: [Bool]? = nil,
        fixedValues: [String: Double] = [:], edmTolerance: Double = 1e-12, maxIterations: Int = 20_000,
        computeUncertainties: Bool = false, multiStart: MultiStart? = nil
    ) {
        self.initialValues = initialValues
        self.bounds = bounds
        self.fixed = fixed
        self.fixedValues = fixedValues
        self.edmTolerance = edmTolerance
        self.maxIterations = maxIterations
        self.computeUncertainties = computeUncertainties
        self.multiStart = multiStart
    }
}

/// A coarse grid of starting points along named parameters, for likelihoods with several local
/// minima (a yield quadratic in a Wilson coefficient has two).
///
/// The fit runs from the initial values and from every grid point (the product of
/// `pointsPerParameter` evenly spaced values per parameter, the other parameters at their
/// initial values), on all cores, and keeps the lowest minimum. Distinct minima within
/// `degeneracyTolerance` in 2NLL of it are reported as degenerate.
public struct MultiStart: Sendable {
    public var parameters: [String]
    public var pointsPerParameter: Int
    /// The grid range per parameter; the parameter's bounds when absent.
    public var ranges: [String: ClosedRange<Double>]
    public var degeneracyTolerance: Double

    public init(
        parameters: [String], pointsPerParameter: Int = 7, ranges: [String: ClosedRange<Double>] = [:],
        degeneracyTolerance: Double = 1e-3
    ) {
        self.parameters = parameters
        self.pointsPerParameter = pointsPerParameter
        self.ranges = ranges
        self.degeneracyTolerance = degeneracyTolerance
    }
}
