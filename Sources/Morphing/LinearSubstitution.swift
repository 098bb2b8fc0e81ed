/// A linear change of the Wilson-coefficient variables, `c_old = M · c_new`:
///
/// ```
/// c_old,i = Σ_j M_ij c_new,j            (M is K_old × K_new)
/// ```
///
/// Substituting it into a polynomial `Σ_t C_tb m_t(c_old)` gives again a polynomial in `c_new`,
/// expanded exactly: each monomial `m_t(c_old) = Π_i c_old,i^{p_ti}` becomes
/// `Π_i (Σ_j M_ij c_new,j)^{p_ti} = Σ_k S_tk m'_k(c_new)` (multinomial expansion), so
///
/// ```
/// C'_kb = Σ_t C_tb S_tk
/// ```
///
/// A homogeneous map keeps degrees: a degree-d monomial expands into degree-d monomials only, so
/// the SM term stays the SM term and linear/quadratic truncations keep their meaning. Two special
/// cases: restricting to a subset of the coefficients (the others set to 0: their rows of M are
/// zero, every term containing them vanishes) and renaming (M a permutation).
public struct LinearSubstitution: Sendable, Equatable {
    /// One non-zero entry `M_ij` of a row.
    public struct Entry: Sendable, Equatable {
        public let newIndex: Int
        public let weight: Double
    }

    /// The old coefficient names (the rows of M).
    public let oldNames: [String]
    /// The new coefficient names (the columns of M).
    public let newNames: [String]
    /// `rows[i]`: the non-zero `M_ij` of old coefficient `i`; empty when `c_old,i = 0`.
    public let rows: [[Entry]]

    /// From a dense `matrix[i][j] = M_ij` (`oldNames.count` rows of `newNames.count` entries).
    ///
    /// - Throws: ``MorphingError`` when the shape is wrong, an entry is not finite, or names repeat.
    public init(oldNames: [String], newNames: [String], matrix: [[Double]]) throws(MorphingError) {
        try Self.checkNames(oldNames, "old")
        try Self.checkNames(newNames, "new")
        guard matrix.count == oldNames.count else {
            throw MorphingError(.shape, "the matrix has \(matrix.count) rows but there are \(oldNames.count) old coefficients (\(oldNames.joined(separator: ", ")))")
        }
        var rows: [[Entry]] = []
        for (i, row) in matrix.enumerated() {
            guard row.count == newNames.count else {
                throw MorphingError(.shape, "row \(i) (\(oldNames[i])) has \(row.count) entries but there are \(newNames.count) new coefficients (\(newNames.joined(separator: ", ")))")
            }
            if let j = row.firstIndex(where: { !$0.isFinite }) {
                throw MorphingError(.invalidValue, "entry [\(i)][\(j)] = \(row[j]) is not finite")
            }
            rows.append(row.indices.compactMap { row[$0] != 0 ? Entry(newIndex: $0, weight: row[$0]) : nil })
        }
        self.oldNames = oldNames
        self.newNames = newNames
        self.rows = rows
    }

    /// `c_old,i = c_new,i` for the kept coefficients, `0` for the others; the new names are the
    /// kept ones in their old order.
    public static func restriction(of names: [String], keeping kept: Set<String>) throws(MorphingError) -> LinearSubstitution {
        let newNames = names.filter { kept.contains($0) }
        let matrix = names.map { name in newNames.map { $0 == name ? 1.0 : 0.0 } }
        return try LinearSubstitution(oldNames: names, newNames: newNames, matrix: matrix)
    }

    private static func checkNames(_ names: [String], _ which: String) throws(MorphingError) {
        var seen = Set<String>()
        for name in names {
            guard !name.isEmpty else { throw MorphingError(.invalidValue, "an empty \(which) coefficient name") }
            guard seen.insert(name).inserted else { throw MorphingError(.invalidValue, "the \(which) coefficient \(name) is listed twice") }
        }
    }

    /// Whether `M` is the identity on equal names (every old coefficient maps to the new one of the same name).
    public var isIdentity: Bool {
        oldNames == newNames && rows.enumerated().allSatisfy { i, row in row == [Entry(newIndex: i, weight: 1)] }
    }

    /// `m(M c_new)` expanded: the new monomials with their non-zero coefficients `S_tk`, in graded order.
    ///
    /// - Complexity: O(number of terms of the expansion × degree); a degree-d monomial in a row of
    ///   n entries has at most C(n+d−1, d) terms.
    public func expansion(of monomial: Monomial) -> [(monomial: Monomial, coefficient: Double)] {
        var result: [Monomial: Double] = [.one: 1]
        for factor in monomial.factors {
            let row = rows[factor.coefficient]
            for _ in 0 ..< factor.power {
                var next: [Monomial: Double] = [:]
                for (m, a) in result {
                    for entry in row { next[m * .linear(entry.newIndex), default: 0] += a * entry.weight }
                }
                result = next
            }
        }
        return result.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The expansion matrix `S` for a list of old monomials: the new monomials (first appearance
    /// over the old terms in order) and `S[t]` as (new term index, S_tk) entries.
    public func expansionMatrix(of monomials: [Monomial]) -> (newMonomials: [Monomial], entries: [[(term: Int, coefficient: Double)]]) {
        var index: [Monomial: Int] = [:]
        var newMonomials: [Monomial] = []
        var entries: [[(term: Int, coefficient: Double)]] = []
        for m in monomials {
            entries.append(expansion(of: m).map { e in
                if let k = index[e.monomial] { return (k, e.coefficient) }
                index[e.monomial] = newMonomials.count
                newMonomials.append(e.monomial)
                return (newMonomials.count - 1, e.coefficient)
            })
        }
        return (newMonomials, entries)
    }
}

extension PolynomialTemplates {
    /// The polynomial in the new variables of `substitution` (whose old names must be
    /// ``coefficientNames``): `C'_kb = Σ_t C_tb S_tk`. Terms that vanish identically (every `S_tk`
    /// zero, e.g. a dropped coefficient) are gone; recorded truncations are kept when they are
    /// degree cuts (which a homogeneous linear map preserves) and dropped when they select terms.
    ///
    /// - Complexity: O(T·B·s) for s terms per expansion.
    public func substituting(_ substitution: LinearSubstitution) throws(MorphingError) -> PolynomialTemplates {
        guard substitution.oldNames == coefficientNames else {
            throw MorphingError(.unknownName, "the substitution's old coefficients (\(substitution.oldNames.joined(separator: ", "))) are not the polynomial's (\(coefficientNames.joined(separator: ", ")))")
        }
        let (newMonomials, entries) = substitution.expansionMatrix(of: monomials)
        var columns = [[Double]](repeating: [Double](repeating: 0, count: binCount), count: newMonomials.count)
        for t in 0 ..< termCount {
            let column = template(ofTerm: t)
            for (k, s) in entries[t] {
                for b in 0 ..< binCount { columns[k][b] += s * column[b] }
            }
        }
        let kept = truncations.filter { $0.selection == .all }
        return try PolynomialTemplates(coefficientNames: substitution.newNames, binCount: binCount,
                                       sparseTerms: zip(newMonomials, columns).map { m, c in (m, c.indices.compactMap { c[$0] != 0 ? ($0, c[$0]) : nil }) },
                                       truncations: kept)
    }

    /// The per-bin product `(Σ_t A_tb m_t)(Σ_u B_ub m_u) = Σ_{t,u} A_tb B_ub (m_t m_u)` of two
    /// polynomials in the same coefficients and bins, expanded.
    ///
    /// - Complexity: O(T_A·T_B·B).
    public func multiplied(by other: PolynomialTemplates) throws(MorphingError) -> PolynomialTemplates {
        guard other.coefficientNames == coefficientNames, other.binCount == binCount else {
            throw MorphingError(.shape, "cannot multiply polynomials in different coefficients or bins")
        }
        var entries: [(monomial: Monomial, bin: Int, value: Double)] = []
        let b = (0 ..< other.termCount).map { other.template(ofTerm: $0) }
        for t in 0 ..< termCount {
            let a = template(ofTerm: t)
            for u in 0 ..< other.termCount {
                let m = monomials[t] * other.monomials[u]
                for bin in 0 ..< binCount where a[bin] != 0 && b[u][bin] != 0 { entries.append((m, bin, a[bin] * b[u][bin])) }
            }
        }
        return try PolynomialTemplates(coefficientNames: coefficientNames, binCount: binCount, entries: entries)
    }

    /// The same polynomial over `names` (a superset of ``coefficientNames``, in any order): the
    /// monomials re-indexed, so that polynomials of different modifiers can be added and multiplied.
    public func embedded(in names: [String]) throws(MorphingError) -> PolynomialTemplates {
        var map: [Int] = []
        for name in coefficientNames {
            guard let j = names.firstIndex(of: name) else {
                throw MorphingError(.unknownName, "coefficient \(name) is not among \(names.joined(separator: ", "))")
            }
            map.append(j)
        }
        let columns = _sparseColumns.map { m, e in
            (Monomial(powers: Dictionary(uniqueKeysWithValues: m.factors.map { (map[$0.coefficient], $0.power) })), e)
        }
        return try PolynomialTemplates(coefficientNames: names, binCount: binCount, sparseTerms: columns, truncations: truncations)
    }

    /// `Σ` of several polynomials in the same coefficients and bins (terms merged by monomial).
    public static func sum(_ terms: [PolynomialTemplates], coefficientNames: [String], binCount: Int) throws(MorphingError) -> PolynomialTemplates {
        var columns: [(Monomial, [(Int, Double)])] = []
        for p in terms {
            guard p.coefficientNames == coefficientNames, p.binCount == binCount else {
                throw MorphingError(.shape, "cannot add polynomials in different coefficients or bins")
            }
            columns += p._sparseColumns
        }
        return try PolynomialTemplates(coefficientNames: coefficientNames, binCount: binCount, sparseTerms: columns, truncations: [])
    }
}

extension MonteCarloVariance {
    /// The variance form under `substitution`, exact. With `G_tu` the symmetric Gram form
    /// (`G_tt = W_tt`, `G_tu = G_ut = W_tu/2`), `var = Σ_{t,u} m_t m_u G_tu`; substituting
    /// `m_t = Σ_k S_tk m'_k` gives
    ///
    /// ```
    /// G' = Sᵀ G S,     W'_kk = G'_kk,   W'_kl = 2 G'_kl (k < l)
    /// ```
    ///
    /// For event databases this is the same as transforming the per-event coefficients
    /// `a'_ek = Σ_t a_et S_tk` and recomputing `Σ_e a'_ek a'_el`. `newTermMonomials` must be the
    /// terms of the substituted yields (``PolynomialTemplates/substituting(_:)``).
    ///
    /// - Complexity: O(P·s²·B) for P pairs and s terms per expansion.
    public func substituting(_ substitution: LinearSubstitution, newTermMonomials: [Monomial]) throws(MorphingError) -> MonteCarloVariance {
        guard substitution.oldNames == coefficientNames else {
            throw MorphingError(.unknownName, "the substitution's old coefficients are not the variance's (\(coefficientNames.joined(separator: ", ")))")
        }
        var index: [Monomial: Int] = [:]
        for (k, m) in newTermMonomials.enumerated() { index[m] = k }
        let expansions = try termMonomials.map { m throws(MorphingError) -> [(Int, Double)] in
            try substitution.expansion(of: m).map { e throws(MorphingError) in
                guard let k = index[e.monomial] else {
                    throw MorphingError(.shape, "the expansion term \(e.monomial.description(names: substitution.newNames)) is not a term of the substituted yields")
                }
                return (k, e.coefficient)
            }
        }
        var accumulated: [Int: [Double]] = [:]
        let K = newTermMonomials.count
        for pair in pairs {
            // Both orders of a cross pair: G_tu + G_ut = W_tu.
            let half = pair.first == pair.second ? 1.0 : 0.5
            for (k, sk) in expansions[pair.first] {
                for (l, sl) in expansions[pair.second] {
                    let orders: [(Int, Int)] = pair.first == pair.second ? [(k, l)] : [(k, l), (l, k)]
                    for (p, q) in orders {
                        // Accumulate G'_pq into the unordered pair (min, max): W'_pq = G'_pq + G'_qp.
                        let key = min(p, q) * K + max(p, q)
                        let factor = half * sk * sl
                        var w = accumulated.removeValue(forKey: key) ?? [Double](repeating: 0, count: binCount)
                        for b in 0 ..< binCount { w[b] += factor * pair.weights[b] }
                        accumulated[key] = w
                    }
                }
            }
        }
        let newPairs = accumulated.keys.sorted().map { key in (key / K, key % K, accumulated[key]!) }
        return try MonteCarloVariance(coefficientNames: substitution.newNames, termMonomials: newTermMonomials, binCount: binCount, pairs: newPairs)
    }
}

extension MorphingTemplates {
    /// Yields and variance under `substitution` (``PolynomialTemplates/substituting(_:)``,
    /// ``MonteCarloVariance/substituting(_:newTermMonomials:)``); bin labels kept.
    public func substituting(_ substitution: LinearSubstitution) throws(MorphingError) -> MorphingTemplates {
        let y = try yields.substituting(substitution)
        let v = try monteCarloVariance.map { v throws(MorphingError) in try v.substituting(substitution, newTermMonomials: y.monomials) }
        return try MorphingTemplates(yields: y, monteCarloVariance: v, binLabels: binLabels)
    }
}
