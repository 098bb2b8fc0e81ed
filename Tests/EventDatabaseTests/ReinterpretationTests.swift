import Foundation
import Morphing
import Testing
import EventDatabase

/// Reinterpretation of event databases (issue 7): per-event substitution and merging of operators.
@Suite struct EventDatabaseReinterpretationTests {
    static func database(events: Int, names: [String], monomials: [Monomial], seed: Double) throws -> EventDatabase {
        let columns = monomials.indices.map { t in (0 ..< events).map { e in t == 0 ? 1 + 0.1 * Double(e % 7) : sin(seed + Double(3 * e + t)) } }
        return try EventDatabase(provenance: .init(generator: "test", eftBasis: "test", lambda: 1000, normalisation: "test", weightUnit: "events"),
                                 coefficientNames: names, monomials: monomials, basisCoefficients: columns,
                                 observables: [.init(name: "x", unit: "", values: (0 ..< events).map { Double($0) })])
    }

    /// w'_e(c_new) = w_e(M c_new) for every event, to 1e-13 relative to Σ|a m|.
    @Test func substitutionKeepsEveryEventWeight() throws {
        let db = try Self.database(events: 50, names: ["a", "b"], monomials: Monomial.all(upToDegree: 2, coefficientCount: 2), seed: 0.3)
        let m = [[0.5, 2.0, -1.0], [1.5, 0.0, 0.25]]
        let s = try LinearSubstitution(oldNames: ["a", "b"], newNames: ["p", "q", "r"], matrix: m)
        let new = try db.substituting(s)
        for c in [[0.3, -0.2, 0.7], [-1.1, 0.4, 0.05]] {
            let old = m.map { row in zip(row, c).reduce(0) { $0 + $1.0 * $1.1 } }
            for e in 0 ..< db.eventCount {
                #expect(abs(new.weight(ofEvent: e, at: c) - db.weight(ofEvent: e, at: old)) <= 1e-13 * (1 + abs(db.weight(ofEvent: e, at: old))))
            }
        }
    }

    @Test func mergingChecksTheEvents() throws {
        let one = [Monomial.one, .linear(0), .square(0)]
        let a = try Self.database(events: 20, names: ["a"], monomials: one, seed: 0.1)
        let b = try Self.database(events: 20, names: ["b"], monomials: one, seed: 0.9)
        let merged = try a.addingOperators(from: b)
        #expect(merged.coefficientNames == ["a", "b"])
        #expect(merged.termCount == 5)
        #expect(merged.weight(ofEvent: 3, at: [0, 0.5]) == b.weight(ofEvent: 3, at: [0.5]))
        let short = try Self.database(events: 19, names: ["b"], monomials: one, seed: 0.9)
        #expect { try a.addingOperators(from: short) } throws: { e in "\(e)".contains("19 events") && "\(e)".contains("20") }
        let clash = try Self.database(events: 20, names: ["a"], monomials: one, seed: 0.5)
        #expect { try a.addingOperators(from: clash) } throws: { e in "\(e)".contains("conflicting shared monomial a") }
    }
}
