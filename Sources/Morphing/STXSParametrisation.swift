import EFTJSON
import Foundation

/// One Wilson coefficient of a CMS STXS→SMEFT parametrisation as `pois.yaml` declares it.
///
/// CombinedLimit (`STXStoSMEFTModel.py`) fits the parameter of interest `p`, in `[minimum, maximum]`,
/// and inserts the Wilson coefficient `c = p · 10^{-exponent}` into the scaling polynomial.
public struct STXSParameterOfInterest: Hashable, Sendable {
    public let name: String
    public let exponent: Int
    public let minimum: Double
    public let maximum: Double
    /// The nominal value of `p`.
    public let value: Double

    public init(name: String, exponent: Int, minimum: Double, maximum: Double, value: Double) {
        self.name = name
        self.exponent = exponent
        self.minimum = minimum
        self.maximum = maximum
        self.value = value
    }

    /// `10^{-exponent}`: `c = scale · p`.
    public var scale: Double { pow(10, Double(-exponent)) }
}

/// Input form (c): the relative STXS→SMEFT scaling of CMS (SMEFTsim topU3l), `prod.json`/`decay.json`:
///
/// ```
/// μ_b(c) = 1 + Σ_i A_bi c_i + Σ_i B_bii c_i² + Σ_{i<j} B_bij c_i c_j
/// ```
///
/// Keys: `A_<op>` (linear), `B_<op>_2` (square), `B_<op1>_<op2>` (cross, taken once, either order),
/// `u_<key>` (the MC uncertainty of term `<key>`); a missing key is 0. Operator names contain no `_`.
/// The same form gives partial widths `Γ_ch/Γ_ch,SM` in `decay.json` (`tot` is the total width).
public enum STXSParametrisation {
    /// The variables of the polynomial.
    public enum Variables: Sendable, Hashable {
        /// The Wilson coefficients `c_i` themselves (the JSON's coefficients as written).
        case wilsonCoefficients
        /// CombinedLimit's POIs `p_i = c_i · 10^{e_i}`: `A_i → A_i 10^{-e_i}`, `B_ij → B_ij 10^{-(e_i+e_j)}`.
        case parametersOfInterest
    }

    /// Parses `pois.yaml`: a mapping of operator names to mappings with `exponent`, `val`, `min`, `max`.
    ///
    /// Only that YAML subset is read (block mappings two levels deep, plain scalars, `#` comments,
    /// `---`); anything else is a ``MorphingError`` with the line number.
    public static func parametersOfInterest(yaml text: String) throws(MorphingError) -> [STXSParameterOfInterest] {
        var result: [STXSParameterOfInterest] = []
        var name: String?
        var fields: [String: String] = [:]
        func flush(_ line: Int) throws(MorphingError) {
            guard let current = name else { return }
            guard let e = fields["exponent"].flatMap({ Int($0) }),
                let lo = fields["min"].flatMap({ Double($0) }), let hi = fields["max"].flatMap({ Double($0) }),
                let v = fields["val"].flatMap({ Double($0) })
            else {
                throw MorphingError(.format, "\(current) needs integer exponent and numeric val, min, max", context: "pois.yaml line \(line)")
            }
            result.append(STXSParameterOfInterest(name: current, exponent: e, minimum: lo, maximum: hi, value: v))
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (n, raw) in lines.enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "---" { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw MorphingError(.format, "expected 'key: value', got \(trimmed)", context: "pois.yaml line \(n + 1)")
            }
            let key = String(trimmed[..<colon]).trimmingCharacters(in: .whitespaces)
            let value = String(trimmed[trimmed.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            if !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                guard value.isEmpty else {
                    throw MorphingError(.format, "top-level key \(key) must open a mapping", context: "pois.yaml line \(n + 1)")
                }
                try flush(n + 1)
                name = key
                fields = [:]
            } else {
                guard name != nil else { throw MorphingError(.format, "indented key before any operator", context: "pois.yaml line \(n + 1)") }
                fields[key] = value
            }
        }
        try flush(lines.count)
        return result
    }

    /// The scalings of every entry (bin or channel) of `json`, in its key order, over the operators
    /// `parameters` (e.g. all 57 of `pois.yaml`, whether or not an entry uses them).
    ///
    /// - Throws: ``MorphingError`` naming the entry and key for an unknown operator, a malformed key
    ///   or a non-numeric value.
    public static func relativeScalings(
        json: JSON, parameters: [STXSParameterOfInterest], variables: Variables = .wilsonCoefficients,
        includeUncertainties: Bool = true, context: String = "STXS parametrisation"
    ) throws(MorphingError) -> MorphingTemplates {
        guard let entries = json.objectValue else { throw MorphingError(.format, "expected an object of bins", context: context) }
        let names = parameters.map(\.name)
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        let binCount = entries.count

        var termOf: [Monomial: Int] = [.one: 0]
        var monomials: [Monomial] = [.one]
        var values: [[Double]] = [[Double](repeating: 1, count: binCount)]
        var sigmas: [[Double]] = [[Double](repeating: 0, count: binCount)]
        func term(_ key: Substring, entry: String) throws(MorphingError) -> Int {
            let parts = key.split(separator: "_", omittingEmptySubsequences: false)
            func op(_ s: Substring) throws(MorphingError) -> Int {
                guard let i = index[String(s)] else {
                    throw MorphingError(.unknownName, "key \(key) names operator \(s), not among the \(names.count) parameters", context: "\(context), \(entry)")
                }
                return i
            }
            let monomial: Monomial
            switch (parts.first, parts.count) {
            case ("A", 2): monomial = .linear(try op(parts[1]))
            case ("B", 3) where parts[2] == "2": monomial = .square(try op(parts[1]))
            case ("B", 3): monomial = .product(try op(parts[1]), try op(parts[2]))
            default: throw MorphingError(.format, "key \(key) is not A_<op>, B_<op>_2, B_<op1>_<op2> or u_<key>", context: "\(context), \(entry)")
            }
            if let t = termOf[monomial] { return t }
            termOf[monomial] = monomials.count
            monomials.append(monomial)
            values.append([Double](repeating: 0, count: binCount))
            sigmas.append([Double](repeating: 0, count: binCount))
            return monomials.count - 1
        }
        for (b, (entry, terms)) in entries.pairs.enumerated() {
            guard let terms = terms.objectValue else { throw MorphingError(.format, "expected an object of terms", context: "\(context), \(entry)") }
            for (key, value) in terms.pairs {
                guard let x = value.doubleValue, x.isFinite else {
                    throw MorphingError(.invalidValue, "\(key) = \(value.serialized()) is not a finite number", context: "\(context), \(entry)")
                }
                if key.hasPrefix("u_") {
                    guard x >= 0 else { throw MorphingError(.invalidValue, "\(key) = \(x) is negative", context: "\(context), \(entry)") }
                    sigmas[try term(key.dropFirst(2), entry: entry)][b] = x
                } else {
                    values[try term(Substring(key), entry: entry)][b] += x
                }
            }
        }
        var yields = try PolynomialTemplates(coefficientNames: names, binCount: binCount, monomials: monomials, templates: values)
        var variance = try includeUncertainties
            ? MonteCarloVariance.independentTerms(coefficientNames: names, termMonomials: monomials, uncertainties: sigmas) : nil
        if variables == .parametersOfInterest {
            let scales = parameters.map(\.scale)
            yields = try yields.substitutingScaledVariables(scales: scales)
            if let v = variance {
                variance = try MonteCarloVariance(
                    coefficientNames: names, termMonomials: monomials, binCount: binCount,
                    pairs: v.pairs.map { p in
                        let s = (monomials[p.first] * monomials[p.second]).value(at: scales)
                        return (p.first, p.second, p.weights.map { $0 * s })
                    }
                )
            }
        }
        return try MorphingTemplates(yields: yields, monteCarloVariance: variance, binLabels: entries.keys)
    }
}
