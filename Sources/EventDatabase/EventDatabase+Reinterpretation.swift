import Morphing

/// Reinterpretation of an event database for another operator set (Specs/eft-extension.md §15): the same events with
/// their per-event coefficients transformed or extended. Observables and systematics are kept.
extension EventDatabase {
    /// The events in the new coefficients of `substitution` (`c_old = M c_new`, whose old names
    /// must be ``coefficientNames``): with the expansion `m_t(M c_new) = Σ_k S_tk m'_k(c_new)`,
    ///
    /// ```
    /// a'_ek = Σ_t a_et S_tk,        so   w_e(c_old = M c_new) = Σ_k a'_ek m'_k(c_new)   exactly.
    /// ```
    ///
    /// The nominal weights are recomputed at c_new = 0 (the SM), the reference point of the result.
    /// `eftBasis` replaces the provenance's basis description when given.
    ///
    /// - Complexity: O(N·T·s) for s terms per expansion.
    public func substituting(_ substitution: LinearSubstitution, eftBasis: String? = nil) throws(EventDatabaseError) -> EventDatabase {
        guard substitution.oldNames == coefficientNames else {
            throw EventDatabaseError(.names, "the substitution's old coefficients (\(substitution.oldNames)) are not the database's \(coefficientNames)", dataset: "/wilson_coefficients")
        }
        let (newMonomials, entries) = substitution.expansionMatrix(of: monomials)
        var columns = [[Double]](repeating: [Double](repeating: 0, count: eventCount), count: newMonomials.count)
        for t in 0 ..< termCount {
            let a = basisCoefficients[t]
            for (k, s) in entries[t] {
                for e in 0 ..< eventCount { columns[k][e] += s * a[e] }
            }
        }
        var provenance = self.provenance
        if let eftBasis { provenance.eftBasis = eftBasis }
        return try EventDatabase(provenance: provenance, coefficientNames: substitution.newNames, monomials: newMonomials.isEmpty ? [.one] : newMonomials,
                                 basisCoefficients: newMonomials.isEmpty ? [[Double](repeating: 0, count: eventCount)] : columns,
                                 observables: observables, weightVariations: weightVariations, observableShifts: observableShifts)
    }

    /// Whether `other` holds the same events: the same count, the same SM weights `w_e(0)` and the
    /// same values of every observable both have, each within `tolerance` relative,
    /// `|x − y| ≤ tolerance · max(|x|, |y|)` (exact zeros must match exactly).
    ///
    /// - Throws: ``EventDatabaseError`` naming the dataset, the event and both values at the first difference.
    public func checkSameEvents(as other: EventDatabase, tolerance: Double = 1e-6) throws(EventDatabaseError) {
        guard other.eventCount == eventCount else {
            throw EventDatabaseError(.shape, "\(other.eventCount) events, but the database it extends has \(eventCount)", dataset: "/")
        }
        func close(_ x: Double, _ y: Double) -> Bool { abs(x - y) <= tolerance * max(abs(x), abs(y)) }
        let zero = [Double](repeating: 0, count: coefficientNames.count)
        let otherZero = [Double](repeating: 0, count: other.coefficientNames.count)
        for e in 0 ..< eventCount {
            let w = weight(ofEvent: e, at: zero), v = other.weight(ofEvent: e, at: otherZero)
            guard close(w, v) else {
                throw EventDatabaseError(.invalidValue, "event \(e): SM weight \(v), but the database it extends has \(w)", dataset: "/coefficients/SM")
            }
        }
        for observable in observables {
            guard let theirs = other.observables.first(where: { $0.name == observable.name }) else { continue }
            for e in 0 ..< eventCount where !close(observable.values[e], theirs.values[e]) {
                throw EventDatabaseError(.invalidValue, "event \(e): \(observable.name) = \(theirs.values[e]), but the database it extends has \(observable.values[e])", dataset: "/observables/\(observable.name)")
            }
        }
    }

    /// The events with the monomials of `other` (the same events, ``checkSameEvents(as:tolerance:)``,
    /// with coefficients for further operators) merged in: the coefficient list is this one's
    /// followed by `other`'s new names; a monomial present in both must have the same per-event
    /// coefficients within `tolerance` (the SM term always is shared), else it is a conflict.
    /// Observables of `other` that this database lacks are added. Provenance and systematics are this one's.
    ///
    /// - Throws: ``EventDatabaseError`` for different events or a conflicting shared monomial (naming it, the event and both values).
    public func addingOperators(from other: EventDatabase, tolerance: Double = 1e-6) throws(EventDatabaseError) -> EventDatabase {
        try checkSameEvents(as: other, tolerance: tolerance)
        let names = coefficientNames + other.coefficientNames.filter { !coefficientNames.contains($0) }
        let reindex = other.coefficientNames.map { names.firstIndex(of: $0)! }
        var monomials = self.monomials
        var columns = basisCoefficients
        var index: [Monomial: Int] = [:]
        for (t, m) in monomials.enumerated() { index[m] = t }
        for (u, m) in other.monomials.enumerated() {
            let mapped = Monomial(powers: Dictionary(uniqueKeysWithValues: m.factors.map { (reindex[$0.coefficient], $0.power) }))
            let theirs = other.basisCoefficients[u]
            if let t = index[mapped] {
                let ours = columns[t]
                for e in 0 ..< eventCount where abs(ours[e] - theirs[e]) > tolerance * max(abs(ours[e]), abs(theirs[e])) {
                    let name = Self.name(of: mapped, coefficientNames: names)
                    throw EventDatabaseError(.invalidValue, "conflicting shared monomial \(name): event \(e) has \(theirs[e]), but the database it extends has \(ours[e])", dataset: "/coefficients/\(name)")
                }
            } else {
                index[mapped] = monomials.count
                monomials.append(mapped)
                columns.append(theirs)
            }
        }
        let known = Set(observables.map(\.name))
        return try EventDatabase(provenance: provenance, coefficientNames: names, monomials: monomials, basisCoefficients: columns,
                                 observables: observables + other.observables.filter { !known.contains($0.name) },
                                 weightVariations: weightVariations, observableShifts: observableShifts)
    }
}
