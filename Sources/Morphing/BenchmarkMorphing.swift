/// Input form (b): templates at `N` benchmark points `c^(k)` turned into coefficient templates.
///
/// With `T` monomials `m_t`, the morphing matrix is `M_kt = m_t(c^(k))` (`N × T`). Benchmark
/// templates satisfy `Y_k = Σ_t M_kt C_t`, so
///
/// ```
/// C = M⁺ Y,    ν(c) = Σ_t m_t(c) C_t = Σ_k w_k(c) Y_k,    w_k(c) = Σ_t m_t(c) M⁺_tk
/// ```
///
/// where `M⁺ = V Σ⁻¹ Uᵀ` is the inverse for `N = T` and the least-squares pseudo-inverse for `N > T`
/// (then `C` minimises `Σ_k ‖Y_k − Σ_t M_kt C_t‖²` bin by bin). The weights `w_k` are those of
/// MadMiner's and ROOT's morphing. Large weights of both signs cancel; the 2-norm condition number
/// `κ(M) = σ_max/σ_min` and the per-point amplification `√Σ_k w_k(c)²` (the factor by which
/// statistical fluctuations of equally precise benchmark templates grow in the morphed yield)
/// diagnose a poor choice of benchmarks.
public struct BenchmarkMorphing: Sendable {
    public let coefficientNames: [String]
    public let monomials: [Monomial]
    /// `benchmarks[k][i] = c_i^(k)`.
    public let benchmarks: [[Double]]
    /// `M_kt = m_t(c^(k))`, `N × T`.
    public let morphingMatrix: [[Double]]
    /// The singular values of `M`, descending.
    public let singularValues: [Double]
    /// `M⁺_tk`, `T × N`.
    public let pseudoInverse: [[Double]]

    /// `κ₂(M) = σ_max / σ_min`.
    public var conditionNumber: Double { singularValues.first! / singularValues.last! }

    /// More benchmark points than terms: the templates are a least-squares fit.
    public var isOverdetermined: Bool { benchmarks.count > monomials.count }

    /// - Throws: ``MorphingError`` with code `.singularMorphingMatrix` when there are fewer points
    ///   than terms or `σ_min ≤ max(N,T)·ε·σ_max` (the points do not determine the terms), `.shape`
    ///   when a point has the wrong number of coordinates.
    /// - Complexity: O(sweeps·N·T²) for the SVD, ~10 sweeps.
    public init(coefficientNames: [String], monomials: [Monomial], benchmarks: [[Double]]) throws(MorphingError) {
        let N = benchmarks.count, T = monomials.count
        guard T > 0 else { throw MorphingError(.shape, "no monomials") }
        guard N >= T else {
            throw MorphingError(.singularMorphingMatrix, "\(N) benchmark points cannot determine \(T) terms")
        }
        for (k, point) in benchmarks.enumerated() {
            guard point.count == coefficientNames.count else {
                throw MorphingError(.shape, "benchmark \(k) has \(point.count) coordinates, expected \(coefficientNames.count)")
            }
            guard point.allSatisfy(\.isFinite) else { throw MorphingError(.invalidValue, "benchmark \(k) is not finite: \(point)") }
        }
        guard monomials.allSatisfy({ $0.largestCoefficientIndex < coefficientNames.count }) else {
            throw MorphingError(.unknownName, "a monomial refers to a coefficient beyond the \(coefficientNames.count) named")
        }
        let matrix = benchmarks.map { point in monomials.map { $0.value(at: point) } }
        let svd = _SingularValueDecomposition(matrix)
        let sigma = svd.singularValues
        guard sigma.last! > Double(max(N, T)) * Double.ulpOfOne * sigma.first! else {
            throw MorphingError(
                .singularMorphingMatrix,
                "morphing matrix is singular (σ_min/σ_max = \(sigma.last! / sigma.first!)): the \(N) benchmark points do not determine the \(T) terms"
            )
        }
        self.coefficientNames = coefficientNames
        self.monomials = monomials
        self.benchmarks = benchmarks
        morphingMatrix = matrix
        singularValues = sigma
        var inverse = (0 ..< T).map { t in
            (0 ..< N).map { k in
                var s = 0.0
                for j in 0 ..< T { s += svd.v[t][j] * svd.u[k][j] / sigma[j] }
                return s
            }
        }
        // A benchmark where one monomial alone is nonzero (the SM point for the constant term):
        // M_k· = v e_tᵀ, and M M⁻¹ = I makes row t of M⁻¹ exactly e_kᵀ / v. Written exactly, so
        // the morphed yield there is that benchmark's template to the last bit (no −1e-14 where
        // the SM template is empty); the SVD leaves rounding of order κ₂ ε in that row.
        if N == T {
            for k in 0 ..< N {
                let nonzero = (0 ..< T).filter { matrix[k][$0] != 0 }
                guard nonzero.count == 1, let t = nonzero.first else { continue }
                inverse[t] = (0 ..< N).map { $0 == k ? 1 / matrix[k][t] : 0 }
            }
        }
        pseudoInverse = inverse
    }

    /// The morphing weights `w_k(c) = Σ_t m_t(c) M⁺_tk`, one per benchmark.
    ///
    /// - Complexity: O(T·N).
    public func weights(at coefficients: [Double]) -> [Double] {
        let m = monomials.map { $0.value(at: coefficients) }
        return (0 ..< benchmarks.count).map { k in
            var s = 0.0
            for t in 0 ..< monomials.count { s += m[t] * pseudoInverse[t][k] }
            return s
        }
    }

    /// `√Σ_k w_k(c)²`: the growth of the statistical uncertainty of the morphed yield at `c`
    /// relative to one benchmark template, if all benchmarks are equally precise.
    public func statisticalAmplification(at coefficients: [Double]) -> Double {
        weights(at: coefficients).reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// Coefficient templates `C = M⁺ Y` from benchmark templates `Y_k` (`benchmarkYields[k][b]`),
    /// with the exact variance `Σ_k w_k(c)² σ_kb²` when `benchmarkUncertainties` are given.
    public func coefficientTemplates(
        benchmarkYields: [[Double]], benchmarkUncertainties: [[Double]]? = nil, binLabels: [String]? = nil
    ) throws(MorphingError) -> MorphingTemplates {
        guard benchmarkYields.count == benchmarks.count else {
            throw MorphingError(.shape, "\(benchmarkYields.count) benchmark templates for \(benchmarks.count) benchmark points")
        }
        return try MorphingTemplates.linearCombination(
            coefficientNames: coefficientNames, monomials: monomials, mixing: pseudoInverse, inputs: benchmarkYields,
            inputUncertainties: benchmarkUncertainties, binLabels: binLabels
        )
    }
}
