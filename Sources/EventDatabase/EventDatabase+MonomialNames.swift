import Foundation
import Morphing

extension EventDatabase {
    /// The name of a monomial in files: `SM` for the constant term, otherwise factors `name` or
    /// `name^power` joined by `*` in coefficient order, e.g. `cHW`, `cHW^2`, `cHq3*cHW`.
    public static func name(of monomial: Monomial, coefficientNames: [String]) -> String {
        monomial == .one ? "SM" : monomial.description(names: coefficientNames)
    }

    /// The monomial named `text` (``name(of:coefficientNames:)``; factors in any order, `1` also
    /// accepted for the SM term, a coefficient repeated across factors has its powers added).
    ///
    /// - Throws: ``EventDatabaseError`` with code `.names` for an unknown coefficient or a malformed power.
    public static func monomial(named text: String, coefficientNames: [String], file: String? = nil, dataset: String? = nil) throws(EventDatabaseError) -> Monomial {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "SM" || trimmed == "1" { return .one }
        var powers: [Int: Int] = [:]
        for factor in trimmed.split(separator: "*", omittingEmptySubsequences: false) {
            let parts = factor.split(separator: "^", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count <= 2, let i = coefficientNames.firstIndex(of: parts[0]) else {
                throw EventDatabaseError(.names, "monomial \"\(text)\": unknown Wilson coefficient \"\(parts[0])\"; coefficients are \(coefficientNames)", file: file, dataset: dataset)
            }
            let power = parts.count == 2 ? Int(parts[1]) : 1
            guard let power, power >= 1 else {
                throw EventDatabaseError(.names, "monomial \"\(text)\": power \"\(parts[1])\" is not a positive integer", file: file, dataset: dataset)
            }
            powers[i, default: 0] += power
        }
        return Monomial(powers: powers)
    }
}
