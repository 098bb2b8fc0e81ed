/// Per-bin coefficient templates of a polynomial in the Wilson coefficients:
///
/// ```
/// ν_b(c) = Σ_t m_t(c) C_tb,        m_t(c) = Π_i c_i^{p_ti}
/// ```
///
/// for a sparse list of monomials `m_t` (SM, linear, square, cross, any higher degree) and their
/// templates `C_t = (C_t0, …, C_t(B-1))`. This is input form (a) of the morphing modifier; the
/// benchmark-point form (``BenchmarkMorphing``) and the STXS relative form (``STXSParametrisation``)
/// are turned into it.
///
/// Storage is per term: a template with at least half of its bins non-zero is kept as a dense
/// column (the product loop vectorises), a sparser one as (bin, value) pairs (the 64-bin, 57-operator
/// CMS STXS set fills 4.7% of its dense table). The value is immutable and `Sendable`; evaluation
/// writes into caller-provided buffers and allocates nothing on the heap.
public struct PolynomialTemplates: Sendable {
    /// The names of the Wilson coefficients; the coefficient vector `c` of every evaluation is in this order.
    public let coefficientNames: [String]
    /// The number of bins `B`.
    public let binCount: Int
    /// The monomials `m_t`, one per term, all distinct, in the order given.
    public let monomials: [Monomial]
    /// The truncations applied so far, in order (empty: none). A recorded property of the workspace.
    public internal(set) var truncations: [Truncation]

    // Flattened monomial structure: term t has factors _factorOffsets[t]..<_factorOffsets[t+1].
    internal let _factorOffsets: [Int]
    internal let _factorCoefficients: [Int]
    internal let _factorPowers: [Int]
    // Dense terms: _denseValues[j*B + b] is C_(_denseTerms[j]) b.
    internal let _denseTerms: [Int]
    internal let _denseValues: [Double]
    // Sparse terms: entries _sparseOffsets[j]..<_sparseOffsets[j+1] of _sparseBins/_sparseValues.
    internal let _sparseTerms: [Int]
    internal let _sparseOffsets: [Int]
    internal let _sparseBins: [Int]
    internal let _sparseValues: [Double]
    internal let _kernel: _EvaluationKernel

    /// The number of terms `T`.
    public var termCount: Int { monomials.count }

    /// The number of Wilson coefficients.
    public var coefficientCount: Int { coefficientNames.count }

    /// The number of stored (term, bin) coefficients: `T·B` when every template is dense.
    public var storedCoefficientCount: Int { _denseValues.count + _sparseValues.count }

    /// The highest degree of any term (0 for an SM-only set).
    public var maximumDegree: Int { monomials.map(\.degree).max() ?? 0 }

    /// Templates given densely, `templates[t][b] = C_tb` for `monomials[t]`.
    ///
    /// Repeated monomials are merged by adding their templates.
    /// - Throws: ``MorphingError`` when a template has the wrong length, a value is not finite, or a
    ///   monomial refers to a coefficient index outside `coefficientNames`.
    public init(coefficientNames: [String], binCount: Int, monomials: [Monomial], templates: [[Double]]) throws(MorphingError) {
        guard monomials.count == templates.count else {
            throw MorphingError(.shape, "\(monomials.count) monomials but \(templates.count) templates")
        }
        var terms: [(Monomial, [(Int, Double)])] = []
        for (t, template) in templates.enumerated() {
            guard template.count == binCount else {
                throw MorphingError(.shape, "template of term \(monomials[t].description(names: coefficientNames)) has \(template.count) bins, expected \(binCount)")
            }
            terms.append((monomials[t], template.indices.compactMap { template[$0] != 0 ? ($0, template[$0]) : nil }))
        }
        try self.init(coefficientNames: coefficientNames, binCount: binCount, sparseTerms: terms, truncations: [])
    }

    /// Templates given as (term, bin, value) entries; entries for the same term and bin are added.
    ///
    /// A term listed with no non-zero entry is kept (it evaluates to zero).
    public init(coefficientNames: [String], binCount: Int, entries: [(monomial: Monomial, bin: Int, value: Double)]) throws(MorphingError) {
        var order: [Monomial: Int] = [:]
        var terms: [(Monomial, [(Int, Double)])] = []
        for entry in entries {
            let t: Int
            if let known = order[entry.monomial] { t = known } else {
                t = terms.count
                order[entry.monomial] = t
                terms.append((entry.monomial, []))
            }
            terms[t].1.append((entry.bin, entry.value))
        }
        try self.init(coefficientNames: coefficientNames, binCount: binCount, sparseTerms: terms, truncations: [])
    }

    internal init(coefficientNames: [String], binCount: Int, sparseTerms: [(Monomial, [(Int, Double)])], truncations: [Truncation]) throws(MorphingError) {
        guard binCount >= 0 else { throw MorphingError(.shape, "negative bin count \(binCount)") }
        // The evaluation kernel indexes bins and terms with 32 bits.
        guard binCount <= Int(Int32.max), sparseTerms.count <= Int(Int32.max) else {
            throw MorphingError(.shape, "\(binCount) bins and \(sparseTerms.count) terms: at most \(Int32.max) of each")
        }
        // Merge repeated monomials and repeated bins, keeping first-occurrence order.
        var order: [Monomial: Int] = [:]
        var merged: [(Monomial, [Double])] = []
        for (monomial, entries) in sparseTerms {
            guard monomial.largestCoefficientIndex < coefficientNames.count else {
                throw MorphingError(.unknownName, "term \(monomial) refers to coefficient \(monomial.largestCoefficientIndex), but only \(coefficientNames.count) are named")
            }
            let t: Int
            if let known = order[monomial] { t = known } else {
                t = merged.count
                order[monomial] = t
                merged.append((monomial, [Double](repeating: 0, count: binCount)))
            }
            for (bin, value) in entries {
                guard bin >= 0 && bin < binCount else {
                    throw MorphingError(.shape, "term \(monomial.description(names: coefficientNames)): bin \(bin) outside 0..<\(binCount)")
                }
                guard value.isFinite else {
                    throw MorphingError(.invalidValue, "term \(monomial.description(names: coefficientNames)), bin \(bin): value \(value) is not finite")
                }
                merged[t].1[bin] += value
            }
        }
        self.coefficientNames = coefficientNames
        self.binCount = binCount
        self.monomials = merged.map(\.0)
        self.truncations = truncations

        var factorOffsets = [0], factorCoefficients: [Int] = [], factorPowers: [Int] = []
        var denseTerms: [Int] = [], denseValues: [Double] = []
        var sparseTerms: [Int] = [], sparseOffsets = [0], sparseBins: [Int] = [], sparseValues: [Double] = []
        for (t, (monomial, column)) in merged.enumerated() {
            for f in monomial.factors {
                factorCoefficients.append(f.coefficient)
                factorPowers.append(f.power)
            }
            factorOffsets.append(factorCoefficients.count)
            let nonZero = column.indices.filter { column[$0] != 0 }
            if 2 * nonZero.count >= binCount && binCount > 0 {
                denseTerms.append(t)
                denseValues.append(contentsOf: column)
            } else {
                sparseTerms.append(t)
                sparseBins.append(contentsOf: nonZero)
                sparseValues.append(contentsOf: nonZero.map { column[$0] })
                sparseOffsets.append(sparseBins.count)
            }
        }
        _factorOffsets = factorOffsets
        _factorCoefficients = factorCoefficients
        _factorPowers = factorPowers
        _denseTerms = denseTerms
        _denseValues = denseValues
        _sparseTerms = sparseTerms
        _sparseOffsets = sparseOffsets
        _sparseBins = sparseBins
        _sparseValues = sparseValues
        _kernel = _EvaluationKernel(
            binCount: binCount, coefficientCount: coefficientNames.count,
            factorOffsets: factorOffsets, factorCoefficients: factorCoefficients, factorPowers: factorPowers,
            denseTerms: denseTerms, denseValues: denseValues,
            sparseTerms: sparseTerms, sparseOffsets: sparseOffsets, sparseBins: sparseBins, sparseValues: sparseValues
        )
    }

    /// The index of `monomial` among the terms, if present.
    ///
    /// - Complexity: O(T).
    public func termIndex(of monomial: Monomial) -> Int? { monomials.firstIndex(of: monomial) }

    /// The dense template `C_t` of term `t`.
    ///
    /// - Complexity: O(B + T).
    public func template(ofTerm t: Int) -> [Double] {
        precondition(t >= 0 && t < termCount, "term index \(t) outside 0..<\(termCount)")
        if let j = _denseTerms.firstIndex(of: t) {
            return Array(_denseValues[j * binCount ..< (j + 1) * binCount])
        }
        var column = [Double](repeating: 0, count: binCount)
        let j = _sparseTerms.firstIndex(of: t)!
        for k in _sparseOffsets[j] ..< _sparseOffsets[j + 1] { column[_sparseBins[k]] = _sparseValues[k] }
        return column
    }

    /// The template of `monomial`, or `nil` when the polynomial has no such term.
    public func template(of monomial: Monomial) -> [Double]? { termIndex(of: monomial).map { template(ofTerm: $0) } }

    /// All templates as (monomial, non-zero (bin, value) entries), in term order.
    internal var _sparseColumns: [(Monomial, [(Int, Double)])] {
        monomials.indices.map { t in
            let column = template(ofTerm: t)
            return (monomials[t], column.indices.compactMap { column[$0] != 0 ? ($0, column[$0]) : nil })
        }
    }

    /// The polynomial in scaled variables `p_i = c_i / s_i`, i.e. `c_i = s_i p_i` substituted:
    ///
    /// ```
    /// C'_tb = C_tb Π_i s_i^{p_ti}
    /// ```
    ///
    /// CombinedLimit's STXS→SMEFT model fits `p_i = c_i · 10^{e_i}`, so `s_i = 10^{-e_i}`.
    /// `names` renames the variables (default: unchanged).
    public func substitutingScaledVariables(scales: [Double], names: [String]? = nil) throws(MorphingError) -> PolynomialTemplates {
        guard scales.count == coefficientCount else {
            throw MorphingError(.shape, "\(scales.count) scales for \(coefficientCount) coefficients")
        }
        guard scales.allSatisfy({ $0.isFinite }) else { throw MorphingError(.invalidValue, "non-finite scale in \(scales)") }
        let newNames = names ?? coefficientNames
        guard newNames.count == coefficientCount else {
            throw MorphingError(.shape, "\(newNames.count) names for \(coefficientCount) coefficients")
        }
        let columns = _sparseColumns.map { monomial, entries in
            let factor = monomial.value(at: scales)
            return (monomial, entries.map { ($0.0, $0.1 * factor) })
        }
        return try PolynomialTemplates(coefficientNames: newNames, binCount: binCount, sparseTerms: columns, truncations: truncations)
    }

    /// The terms that `truncation` keeps, with the truncation recorded in ``truncations``.
    ///
    /// - Complexity: O(T·B).
    public func truncated(_ truncation: Truncation) -> PolynomialTemplates {
        let kept = _sparseColumns.filter { truncation.keeps($0.0) }
        // Cannot throw: the kept terms passed the same checks when self was built.
        return try! PolynomialTemplates(coefficientNames: coefficientNames, binCount: binCount, sparseTerms: kept, truncations: truncations + [truncation])
    }
}
