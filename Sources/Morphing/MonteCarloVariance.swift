/// The Monte Carlo statistical variance of morphed yields as a quadratic form in the monomial values:
///
/// ```
/// var_b(c) = Σ_{t≤u} m_t(c) m_u(c) W_tub
/// ```
///
/// Three sources lead to this form:
/// - independent term templates with per-bin uncertainties `σ_tb`: `W_ttb = σ_tb²`, no cross pairs,
///   so `var_b = Σ_t (m_t σ_tb)²` (``independentTerms(coefficientNames:termMonomials:uncertainties:)``);
/// - term templates that are linear combinations `C_t = Σ_k P_tk Y_k` of independent inputs `Y_k`
///   with uncertainties `σ_kb` (benchmark points, ROOT's `A_B_NPsq2` folders): the morphed yield is
///   `Σ_k w_k Y_k` with `w_k(c) = Σ_t m_t P_tk`, so `var_b = Σ_k w_k² σ_kb²` and
///   `W_tub = (2 − δ_tu) Σ_k P_tk P_uk σ_kb²`
///   (``independentInputs(coefficientNames:termMonomials:mixing:inputUncertainties:)``);
/// - terms built from the same events (the event-database case): with per-event weights `a_et` the
///   exact variance is `Σ_e (Σ_t m_t a_et)²`, i.e. `W_tub = (2 − δ_tu) Σ_{e∈b} a_et a_eu`, sums of
///   products of the per-event coefficients; give those with ``init(coefficientNames:termMonomials:binCount:pairs:)``.
///
/// Each product `m_t m_u` is itself a monomial, so the form is expanded once into a
/// ``PolynomialTemplates`` (``polynomial``) and evaluated, with its gradient, by the same kernel. The
/// pair form is kept so that truncating the yields truncates the variance consistently.
public struct MonteCarloVariance: Sendable {
    /// A pair `(t, u)`, `t ≤ u`, of term indices with its per-bin weights `W_tub` (length `B`).
    public struct Pair: Sendable {
        public let first: Int
        public let second: Int
        public let weights: [Double]
    }

    public let coefficientNames: [String]
    /// The monomials `m_t` of the yield terms the pairs index.
    public let termMonomials: [Monomial]
    public let binCount: Int
    public let pairs: [Pair]
    /// `var_b(c)` as a polynomial in `c` (monomials `m_t m_u`, templates `W_tub` summed over equal products).
    public let polynomial: PolynomialTemplates

    /// The general quadratic form; `pairs` are `(t, u, W_tu)` with `t ≤ u` or `u ≤ t` (merged as
    /// unordered pairs; a cross pair's weight must already include both orders).
    ///
    /// - Throws: ``MorphingError`` for an out-of-range term index or a weight vector of the wrong length.
    public init(coefficientNames: [String], termMonomials: [Monomial], binCount: Int, pairs: [(Int, Int, [Double])]) throws(MorphingError) {
        var merged: [Int: Int] = [:]
        var stored: [(Int, Int, [Double])] = []
        for (a, b, weights) in pairs {
            let t = min(a, b), u = max(a, b)
            guard t >= 0 && u < termMonomials.count else {
                throw MorphingError(.shape, "variance pair (\(a), \(b)) outside 0..<\(termMonomials.count) terms")
            }
            guard weights.count == binCount else {
                throw MorphingError(.shape, "variance pair (\(a), \(b)) has \(weights.count) bins, expected \(binCount)")
            }
            let key = t * termMonomials.count + u
            if let k = merged[key] {
                for b in 0 ..< binCount { stored[k].2[b] += weights[b] }
            } else {
                merged[key] = stored.count
                stored.append((t, u, weights))
            }
        }
        self.coefficientNames = coefficientNames
        self.termMonomials = termMonomials
        self.binCount = binCount
        self.pairs = stored.map { Pair(first: $0.0, second: $0.1, weights: $0.2) }
        polynomial = try PolynomialTemplates(
            coefficientNames: coefficientNames, binCount: binCount,
            sparseTerms: stored.map { t, u, w in
                (termMonomials[t] * termMonomials[u], w.indices.compactMap { w[$0] != 0 ? ($0, w[$0]) : nil })
            },
            truncations: []
        )
    }

    /// `var_b = Σ_t (m_t σ_tb)²` for independent term templates; `uncertainties[t][b] = σ_tb ≥ 0`.
    public static func independentTerms(coefficientNames: [String], termMonomials: [Monomial], uncertainties: [[Double]]) throws(MorphingError) -> MonteCarloVariance {
        guard uncertainties.count == termMonomials.count else {
            throw MorphingError(.shape, "\(uncertainties.count) uncertainty templates for \(termMonomials.count) terms")
        }
        let binCount = uncertainties.first?.count ?? 0
        var pairs: [(Int, Int, [Double])] = []
        for (t, sigma) in uncertainties.enumerated() {
            guard sigma.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
                throw MorphingError(.invalidValue, "term \(termMonomials[t].description(names: coefficientNames)): uncertainties must be finite and ≥ 0")
            }
            if sigma.contains(where: { $0 != 0 }) { pairs.append((t, t, sigma.map { $0 * $0 })) }
        }
        return try MonteCarloVariance(coefficientNames: coefficientNames, termMonomials: termMonomials, binCount: binCount, pairs: pairs)
    }

    /// The variance of `C_t = Σ_k P_tk Y_k` for independent inputs `Y_k` with uncertainties
    /// `σ_kb` (`mixing[t][k] = P_tk`, `inputUncertainties[k][b] = σ_kb`):
    /// `W_tub = (2 − δ_tu) Σ_k P_tk P_uk σ_kb²`.
    ///
    /// - Complexity: O(T²·K·B) at worst; zero mixing entries are skipped.
    public static func independentInputs(coefficientNames: [String], termMonomials: [Monomial], mixing: [[Double]], inputUncertainties: [[Double]]) throws(MorphingError) -> MonteCarloVariance {
        let T = termMonomials.count, K = inputUncertainties.count
        guard mixing.count == T, mixing.allSatisfy({ $0.count == K }) else {
            throw MorphingError(.shape, "mixing matrix must be \(T)×\(K) (terms × inputs)")
        }
        let binCount = inputUncertainties.first?.count ?? 0
        guard inputUncertainties.allSatisfy({ $0.count == binCount && $0.allSatisfy { $0 >= 0 && $0.isFinite } }) else {
            throw MorphingError(.invalidValue, "input uncertainties must be finite, ≥ 0 and have \(binCount) bins each")
        }
        let variances = inputUncertainties.map { $0.map { $0 * $0 } }
        var pairs: [(Int, Int, [Double])] = []
        for t in 0 ..< T {
            for u in t ..< T {
                var w = [Double](repeating: 0, count: binCount)
                var any = false
                for k in 0 ..< K where mixing[t][k] != 0 && mixing[u][k] != 0 {
                    let factor = (t == u ? 1 : 2) * mixing[t][k] * mixing[u][k]
                    for b in 0 ..< binCount { w[b] += factor * variances[k][b] }
                    any = true
                }
                if any && w.contains(where: { $0 != 0 }) { pairs.append((t, u, w)) }
            }
        }
        return try MonteCarloVariance(coefficientNames: coefficientNames, termMonomials: termMonomials, binCount: binCount, pairs: pairs)
    }

    /// The variance of the yields restricted to the terms `keeps` accepts (pairs with a dropped
    /// term go), re-indexed to the surviving terms in order.
    public func restricted(to keeps: (Monomial) -> Bool) -> MonteCarloVariance {
        var newIndex = [Int?](repeating: nil, count: termMonomials.count)
        var kept: [Monomial] = []
        for (t, m) in termMonomials.enumerated() where keeps(m) {
            newIndex[t] = kept.count
            kept.append(m)
        }
        let newPairs = pairs.compactMap { p -> (Int, Int, [Double])? in
            guard let t = newIndex[p.first], let u = newIndex[p.second] else { return nil }
            return (t, u, p.weights)
        }
        // Cannot throw: indices and lengths are those of a valid form.
        return try! MonteCarloVariance(coefficientNames: coefficientNames, termMonomials: kept, binCount: binCount, pairs: newPairs)
    }

    /// `var_b(c)` and optionally `∂var_b/∂c_i` (coefficient-major), as ``PolynomialTemplates/evaluate(at:yields:jacobian:)``.
    ///
    /// - Complexity: that of ``polynomial``'s evaluation.
    public func evaluate(at coefficients: UnsafeBufferPointer<Double>, variances: UnsafeMutableBufferPointer<Double>, jacobian: UnsafeMutableBufferPointer<Double>? = nil) {
        polynomial.evaluate(at: coefficients, yields: variances, jacobian: jacobian)
    }
}
