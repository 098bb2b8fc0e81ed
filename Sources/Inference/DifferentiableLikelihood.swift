import HistFactory

/// What Inference needs of a likelihood: named parameters with inits, bounds and fixed flags, an
/// optional parameter of interest, log L(θ | data) with its gradient, and the expected data that
/// Asimov data sets and toys are made from (main bins ~ Poisson(ν_b); auxiliary data ~ Gauss(a, σ)
/// where ``auxiliaryWidths`` gives σ, else ~ Poisson).
///
/// ``HistFactoryModel`` is one; any other likelihood of counts with Gaussian and Poisson
/// constraints (a combination, a global fit's external term) can be fitted, scanned and tested by
/// the same code.
public protocol DifferentiableLikelihood: Sendable {
    var parameterCount: Int { get }
    /// pyhf's `par_names`: vectors expanded as `name[i]`.
    var parameterNames: [String] { get }
    var suggestedInits: [Double] { get }
    var suggestedBounds: [ClosedRange<Double>] { get }
    var suggestedFixed: [Bool] { get }
    var poiIndex: Int? { get }
    /// What error messages call the likelihood (a measurement's name).
    var measurementName: String { get }
    /// The index of a parameter by name (`name` or `name[i]`).
    func parameterIndex(named name: String) throws(HistFactoryError) -> Int
    func logLikelihood(_ parameters: [Double], data: ModelData) -> Double
    /// log L and ∂ log L/∂θ_i for every parameter (fixed ones included) into `gradient`.
    func logLikelihoodAndGradient(_ parameters: [Double], data: ModelData, gradient: inout [Double]) -> Double
    /// log L and ∂ log L/∂θ_i for the parameters with `wanted[i]` (one entry per parameter) into
    /// `gradient`: those entries are the doubles of the full gradient, the others are 0 (not
    /// computed). A fit wants its free parameters (and keeps wanting them in its sub-fits, whose
    /// slope along a parameter they fix is read by the profile intervals). The default computes
    /// the full gradient; a likelihood where some derivatives are costly computes the wanted ones only.
    func logLikelihoodAndGradient(_ parameters: [Double], data: ModelData, gradient: inout [Double], wanted: [Bool]) -> Double
    /// The expected main-bin counts ν_b(θ).
    func expectedMainData(_ parameters: [Double]) -> [Double]
    /// The expected auxiliary data at θ (θ for Gaussian constraints, γτ for Poisson ones).
    func expectedAuxiliaryData(_ parameters: [Double]) -> [Double]
    /// Per auxiliary datum: σ of its Gaussian constraint, nil for a Poisson one.
    var auxiliaryWidths: [Double?] { get }
    /// Main and auxiliary data checked against the likelihood's sizes.
    func data(main: [Double], auxiliary: [Double]?) throws(HistFactoryError) -> ModelData
    /// Why θ lies outside the likelihood's domain in its own terms (e.g. negative morphed yields),
    /// or nil; fit failures quote it.
    func domainProblem(_ parameters: [Double]) -> String?
    /// Whether every expected main count is affine in parameter `i` with the others held, known
    /// from the likelihood's structure; false when not known. The global-minimum search does not
    /// screen such parameters (their profile has one minimum).
    func expectedMainDataIsLinear(in i: Int) -> Bool
}

extension DifferentiableLikelihood {
    public func logLikelihoodAndGradient(_ parameters: [Double], data: ModelData, gradient: inout [Double], wanted: [Bool]) -> Double {
        let logL = logLikelihoodAndGradient(parameters, data: data, gradient: &gradient)
        for i in gradient.indices where !wanted[i] { gradient[i] = 0 }
        return logL
    }

    public func domainProblem(_ parameters: [Double]) -> String? { nil }
    public func expectedMainDataIsLinear(in i: Int) -> Bool { false }
}

extension HistFactoryModel: DifferentiableLikelihood {
    /// ``HistFactoryModel/evaluationProblem(_:)`` in words.
    public func domainProblem(_ parameters: [Double]) -> String? {
        evaluationProblem(parameters).map { "\($0)" }
    }

    /// σ of each Gaussian constraint's auxiliary datum, nil for Poisson ones, in auxiliary order.
    public var auxiliaryWidths: [Double?] {
        var sigmas: [Double?] = []
        for set in parameterSets {
            switch set.constraint {
            case .unconstrained: break
            case .normal(let s): sigmas += s.map { Optional($0) }
            case .poisson(let f): sigmas += f.map { _ in nil }
            }
        }
        return sigmas
    }
}
