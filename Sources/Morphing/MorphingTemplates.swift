/// A morphed sample's input, ready for a likelihood: the yield polynomial, optionally its Monte Carlo
/// statistical variance, and bin labels.
public struct MorphingTemplates: Sendable {
    /// `ν_b(c)`.
    public let yields: PolynomialTemplates
    /// `var_b(c)` of the yields, when the inputs carried uncertainties.
    public let monteCarloVariance: MonteCarloVariance?
    /// A label per bin (STXS bin names, or ROOT bin ranges like `[0, 20)`), when known.
    public let binLabels: [String]?

    public init(yields: PolynomialTemplates, monteCarloVariance: MonteCarloVariance? = nil, binLabels: [String]? = nil) throws(MorphingError) {
        if let monteCarloVariance {
            guard monteCarloVariance.termMonomials == yields.monomials, monteCarloVariance.binCount == yields.binCount,
                monteCarloVariance.coefficientNames == yields.coefficientNames
            else { throw MorphingError(.shape, "the variance form does not index the yields' terms, bins and coefficients") }
        }
        if let binLabels, binLabels.count != yields.binCount {
            throw MorphingError(.shape, "\(binLabels.count) bin labels for \(yields.binCount) bins")
        }
        self.yields = yields
        self.monteCarloVariance = monteCarloVariance
        self.binLabels = binLabels
    }

    /// The coefficient templates `C_t = Σ_k P_tk Y_k` of inputs `Y_k` (benchmark templates, ROOT
    /// folders), with the exact variance when the inputs are independent samples with uncertainties.
    ///
    /// - Parameters:
    ///   - mixing: `mixing[t][k] = P_tk`, `T × K`.
    ///   - inputs: `inputs[k][b] = Y_kb`, `K × B`.
    ///   - inputUncertainties: `σ_kb`, `K × B`, or `nil`.
    /// - Complexity: O(T·K·B), plus O(T²·K·B) for the variance.
    public static func linearCombination(
        coefficientNames: [String], monomials: [Monomial], mixing: [[Double]], inputs: [[Double]],
        inputUncertainties: [[Double]]? = nil, binLabels: [String]? = nil
    ) throws(MorphingError) -> MorphingTemplates {
        let T = monomials.count, K = inputs.count
        guard mixing.count == T, mixing.allSatisfy({ $0.count == K }) else {
            throw MorphingError(.shape, "mixing matrix must be \(T)×\(K) (terms × inputs)")
        }
        let B = inputs.first?.count ?? 0
        guard inputs.allSatisfy({ $0.count == B }) else { throw MorphingError(.shape, "inputs have different bin counts") }
        var templates = [[Double]](repeating: [Double](repeating: 0, count: B), count: T)
        for t in 0 ..< T {
            for k in 0 ..< K where mixing[t][k] != 0 {
                for b in 0 ..< B { templates[t][b] += mixing[t][k] * inputs[k][b] }
            }
        }
        let yields = try PolynomialTemplates(coefficientNames: coefficientNames, binCount: B, monomials: monomials, templates: templates)
        let variance = try inputUncertainties.map { sigma throws(MorphingError) in
            try MonteCarloVariance.independentInputs(coefficientNames: coefficientNames, termMonomials: yields.monomials, mixing: mixing, inputUncertainties: sigma)
        }
        return try MorphingTemplates(yields: yields, monteCarloVariance: variance, binLabels: binLabels)
    }

    /// Keeps the terms `truncation` accepts in the yields and the variance, and records it.
    public func truncated(_ truncation: Truncation) -> MorphingTemplates {
        let y = yields.truncated(truncation)
        // Cannot throw: both parts are restricted to the same terms.
        return try! MorphingTemplates(yields: y, monteCarloVariance: monteCarloVariance?.restricted(to: truncation.keeps), binLabels: binLabels)
    }
}
