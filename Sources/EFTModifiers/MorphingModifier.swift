import EFTJSON
import HistFactory
import Morphing

/// efthf's `morphing` modifier (Specs/eft-extension.md): a sample's nominal yield as a polynomial
/// in named Wilson coefficients c,
///
/// ```
/// absolute:  ν⁰_b(c) = Σ_t T_tb m_t(c)
/// relative:  ν⁰_b(c) = n_b · (1 + Σ_t R_tb m_t(c))      (STXS form μ_b(c) = 1 + A·c + cᵀBc)
/// ```
///
/// with m_t the monomials of the terms (SM, linear, quadratic, cross, any order), given directly
/// as term templates or as templates at benchmark points that are converted by solving the
/// morphing system (Cranmer et al., ATL-PHYS-PUB-2015-047; ROOT's RooLagrangianMorphFunc).
public struct MorphingModifier: Sendable, Equatable {
    public enum Form: String, Sendable, CaseIterable {
        case absolute, relative
    }

    /// What evaluation does when a morphed yield is negative (interference makes it common).
    public enum NegativeYieldPolicy: String, Sendable, CaseIterable {
        /// The likelihood is not evaluated; the error names the bins and the point.
        case error
        /// A smooth floor: ν ↦ ε·exp((ν − ε)/ε) below ε (value and slope continuous).
        case clip
        /// No protection; the sample's yield may be negative if the bin total stays positive.
        case allow
    }

    /// The Wilson coefficients, in the order of the polynomial's variables.
    public let coefficients: [String]
    public let form: Form
    /// The term templates (for `relative`, the R_tb of the non-constant terms), truncation applied.
    public let templates: MorphingTemplates
    public let truncation: Truncation?
    public let negativeYields: NegativeYieldPolicy
    /// For the benchmark-point form: the morphing matrix's condition number.
    public let conditionNumber: Double?
    /// The JSON it was read from (equality and re-export).
    public let source: JSON
    /// For an `event_database` modifier with per-event systematics or smoothing: the per-event
    /// evaluation that replaces ``templates`` (which then hold the static projection).
    public var events: EventSampleModel? = nil

    public static func == (a: MorphingModifier, b: MorphingModifier) -> Bool { a.source == b.source }
}

extension SpecReader {
    /// A modifier's `negative_yields` (Specs/eft-extension.md §9): "error" when absent.
    func negativeYieldPolicy(_ json: JSON?, at path: JSONPointer) throws(HistFactoryError) -> MorphingModifier.NegativeYieldPolicy {
        guard let json else { return .error }
        let s = try string(json, at: path)
        guard let policy = MorphingModifier.NegativeYieldPolicy(rawValue: s) else {
            throw HistFactoryError(.schema, "negative_yields must be error, clip or allow, found \"\(s)\"", path: path)
        }
        return policy
    }

    func morphing(_ data: JSON, at p: JSONPointer, name: String, sampleData: [Double]) throws(HistFactoryError) -> MorphingModifier {
        let o = try object(data, at: p, required: ["coefficients", "form"], optional: ["terms", "benchmarks", "variance", "truncation", "negative_yields"])
        let coefficientList = try array(o["coefficients"]!, at: p.appending("coefficients"), nonEmpty: true)
        var coefficients: [String] = []
        for (i, c) in coefficientList.enumerated() {
            let s = try string(c, at: p.appending("coefficients").appending(i))
            if coefficients.contains(s) { throw HistFactoryError(.schema, "coefficient \"\(s)\" listed twice", path: p.appending("coefficients").appending(i)) }
            coefficients.append(s)
        }
        let formName = try string(o["form"]!, at: p.appending("form"))
        guard let form = MorphingModifier.Form(rawValue: formName) else {
            throw HistFactoryError(.schema, "form must be \"absolute\" or \"relative\", found \"\(formName)\"", path: p.appending("form"))
        }
        let policy = try negativeYieldPolicy(o["negative_yields"], at: p.appending("negative_yields"))
        let bins = sampleData.count
        func monomial(_ json: JSON, at mp: JSONPointer) throws(HistFactoryError) -> Monomial {
            let powers = try object(json, at: mp, required: [], optional: coefficients)
            var exponents = [Int: Int]()
            for (coef, value) in powers.pairs {
                // JSON Schema's integer: 2 and 2.0 alike.
                guard let power = value.doubleValue, power == power.rounded(), power >= 1, power <= 16 else {
                    throw HistFactoryError(.schema, "a power must be an integer from 1 to 16, found \(value.serialized())", path: mp.appending(coef))
                }
                exponents[coefficients.firstIndex(of: coef)!] = Int(power)
            }
            return Monomial(powers: exponents)
        }
        func perBin(_ json: JSON, at bp: JSONPointer, uncertainty: Bool) throws(HistFactoryError) -> [Double] {
            let values = try numbers(json, at: bp)
            guard values.count == bins else {
                throw HistFactoryError(.invalidModel, "morphing \"\(name)\" has \(values.count) values but the sample has \(bins) bins", path: bp)
            }
            if uncertainty { try nonNegative(values, at: bp) }
            return values
        }

        var templates: MorphingTemplates
        var conditionNumber: Double? = nil
        switch (o["terms"], o["benchmarks"]) {
        case (let terms?, nil):
            let tp = p.appending("terms")
            var monomials: [Monomial] = []
            var yields: [[Double]] = []
            var uncertainties: [[Double]] = []
            for (k, term) in try array(terms, at: tp, nonEmpty: true).enumerated() {
                let ep = tp.appending(k)
                let t = try object(term, at: ep, required: ["powers", "data"], optional: ["uncertainty"])
                let m = try monomial(t["powers"]!, at: ep.appending("powers"))
                if monomials.contains(m) { throw HistFactoryError(.schema, "the term \(m.description(names: coefficients)) appears twice", path: ep.appending("powers")) }
                if form == .relative && m == .one {
                    throw HistFactoryError(.schema, "the relative form has no constant term (its 1 is implicit)", path: ep.appending("powers"))
                }
                monomials.append(m)
                yields.append(try perBin(t["data"]!, at: ep.appending("data"), uncertainty: false))
                if let u = t["uncertainty"] { uncertainties.append(try perBin(u, at: ep.appending("uncertainty"), uncertainty: true)) }
            }
            if !uncertainties.isEmpty && uncertainties.count != monomials.count {
                throw HistFactoryError(.schema, "give an uncertainty for every term or for none", path: tp)
            }
            // The general variance form Σ_{t≤u} m_t m_u W_tub (correlated terms), by pairs of terms.
            var pairs: [(Int, Int, [Double])] = []
            if let v = o["variance"] {
                let vp = p.appending("variance")
                guard uncertainties.isEmpty else {
                    throw HistFactoryError(.schema, "give per-term \"uncertainty\" or \"variance\", not both", path: vp)
                }
                var seen = Set<[Int]>()
                for (k, entry) in try array(v, at: vp, nonEmpty: false).enumerated() {
                    let ep = vp.appending(k)
                    let e = try object(entry, at: ep, required: ["pair", "data"], optional: [])
                    let pairJSON = try array(e["pair"]!, at: ep.appending("pair"), nonEmpty: true)
                    guard pairJSON.count == 2 else {
                        throw HistFactoryError(.schema, "a variance pair names exactly two terms, found \(pairJSON.count)", path: ep.appending("pair"))
                    }
                    var indices: [Int] = []
                    for i in 0 ..< 2 {
                        let m = try monomial(pairJSON[i], at: ep.appending("pair").appending(i))
                        guard let t = monomials.firstIndex(of: m) else {
                            throw HistFactoryError(.invalidModel, "the variance pair names \(m.description(names: coefficients)), which is not a term", path: ep.appending("pair").appending(i))
                        }
                        indices.append(t)
                    }
                    guard seen.insert(indices.sorted()).inserted else {
                        throw HistFactoryError(.schema, "the variance pair appears twice", path: ep.appending("pair"))
                    }
                    pairs.append((indices[0], indices[1], try perBin(e["data"]!, at: ep.appending("data"), uncertainty: false)))
                }
            }
            do {
                let polynomial = try PolynomialTemplates(coefficientNames: coefficients, binCount: bins, monomials: monomials, templates: yields)
                let variance = o["variance"] != nil
                    ? try MonteCarloVariance(coefficientNames: coefficients, termMonomials: monomials, binCount: bins, pairs: pairs)
                    : uncertainties.isEmpty ? nil : try MonteCarloVariance.independentTerms(coefficientNames: coefficients, termMonomials: monomials, uncertainties: uncertainties)
                templates = try MorphingTemplates(yields: polynomial, monteCarloVariance: variance)
            } catch {
                throw HistFactoryError(.invalidModel, "morphing \"\(name)\": \(error)", path: tp)
            }
        case (nil, let benchmarks?):
            let bp = p.appending("benchmarks")
            if o["variance"] != nil {
                throw HistFactoryError(.schema, "\"variance\" belongs to the coefficient form (terms); benchmark points carry \"uncertainty\"", path: p.appending("variance"))
            }
            let b = try object(benchmarks, at: bp, required: ["monomials", "points"], optional: [])
            var monomials: [Monomial] = []
            for (k, m) in try array(b["monomials"]!, at: bp.appending("monomials"), nonEmpty: true).enumerated() {
                let monomial = try monomial(m, at: bp.appending("monomials").appending(k))
                if form == .relative && monomial == .one {
                    throw HistFactoryError(.schema, "the relative form has no constant term (its 1 is implicit)", path: bp.appending("monomials").appending(k))
                }
                monomials.append(monomial)
            }
            var points: [[Double]] = []
            var yields: [[Double]] = []
            var uncertainties: [[Double]] = []
            for (k, point) in try array(b["points"]!, at: bp.appending("points"), nonEmpty: true).enumerated() {
                let pp = bp.appending("points").appending(k)
                let pt = try object(point, at: pp, required: ["values", "data"], optional: ["uncertainty"])
                let values = try object(pt["values"]!, at: pp.appending("values"), required: [], optional: coefficients)
                var c = [Double](repeating: 0, count: coefficients.count)
                for (name, v) in values.pairs { c[coefficients.firstIndex(of: name)!] = try number(v, at: pp.appending("values").appending(name)) }
                points.append(c)
                // Relative form: the points give μ, and M·R = μ − 1 is solved.
                let pointData = try perBin(pt["data"]!, at: pp.appending("data"), uncertainty: false)
                yields.append(form == .relative ? pointData.map { $0 - 1 } : pointData)
                if let u = pt["uncertainty"] { uncertainties.append(try perBin(u, at: pp.appending("uncertainty"), uncertainty: true)) }
            }
            if !uncertainties.isEmpty && uncertainties.count != points.count {
                throw HistFactoryError(.schema, "give an uncertainty for every benchmark point or for none", path: bp.appending("points"))
            }
            do {
                let morphing = try BenchmarkMorphing(coefficientNames: coefficients, monomials: monomials, benchmarks: points)
                conditionNumber = morphing.conditionNumber
                templates = try morphing.coefficientTemplates(benchmarkYields: yields, benchmarkUncertainties: uncertainties.isEmpty ? nil : uncertainties)
            } catch {
                throw HistFactoryError(.invalidModel, "morphing \"\(name)\": \(error)", path: bp)
            }
        default:
            throw HistFactoryError(.schema, "give exactly one of \"terms\" and \"benchmarks\"", path: p)
        }

        var truncation: Truncation? = nil
        if let t = o["truncation"] {
            let tp = p.appending("truncation")
            switch t {
            case .string("linear"): truncation = .linear
            case .string("quadratic"): truncation = .quadratic
            case .object:
                let to = try object(t, at: tp, required: ["terms"], optional: [])
                var keep = Set<Monomial>()
                for (k, m) in try array(to["terms"]!, at: tp.appending("terms"), nonEmpty: true).enumerated() {
                    keep.insert(try monomial(m, at: tp.appending("terms").appending(k)))
                }
                truncation = .only(keep)
            default:
                throw HistFactoryError(.schema, "truncation must be \"linear\", \"quadratic\" or {\"terms\": [...]}", path: tp)
            }
            templates = templates.truncated(truncation!)
        }

        if form == .absolute {
            // The sample's own data must be the morphed yield at c = 0 (the SM), so that the
            // workspace is self-consistent and standard modifiers see the right nominal.
            let sm = templates.yields.yields(at: Array(repeating: 0, count: coefficients.count))
            for b in 0..<bins where abs(sm[b] - sampleData[b]) > 1e-9 * max(1, abs(sampleData[b])) {
                throw HistFactoryError(.invalidModel, "the sample's data (\(JSON.pythonRepr(sampleData[b])) in bin \(b)) differs from the morphed SM yield \(JSON.pythonRepr(sm[b]))", path: p)
            }
        }
        return MorphingModifier(coefficients: coefficients, form: form, templates: templates, truncation: truncation,
                                negativeYields: policy, conditionNumber: conditionNumber, source: data)
    }
}

extension MorphingModifier {
    /// The `data` object of a coefficient-form `morphing` modifier for `templates` (the inverse of
    /// reading one): `{"coefficients", "form", "terms": [{"powers", "data", "uncertainty"?}]}`.
    public static func coefficientFormJSON(_ templates: PolynomialTemplates, form: Form = .absolute, uncertainties: [[Double]]? = nil,
                                           negativeYields: NegativeYieldPolicy = .error) -> JSON {
        let names = templates.coefficientNames
        let terms: [JSON] = templates.monomials.enumerated().map { t, monomial in
            var term = JSONObject()
            term["powers"] = .object(JSONObject(monomial.factors.map { (names[$0.coefficient], JSON.integer(Int64($0.power))) }))
            term["data"] = .numbers(templates.template(ofTerm: t))
            if let uncertainties { term["uncertainty"] = .numbers(uncertainties[t]) }
            return .object(term)
        }
        return .object(JSONObject([
            ("coefficients", .array(names.map { .string($0) })), ("form", .string(form.rawValue)),
            ("terms", .array(terms)), ("negative_yields", .string(negativeYields.rawValue)),
        ]))
    }
}

extension MorphingModifier {
    /// The `data` object of a coefficient-form modifier that carries `templates` exactly: the terms,
    /// and the MC variance as per-term `uncertainty` (σ_tb = √W_ttb) when its form has no cross
    /// pairs, else as `variance` pairs `{"pair": [powers_t, powers_u], "data": W_tub}`
    /// (Specs/eft-extension.md §15). A degree-cut truncation is recorded; the templates are already truncated.
    public static func coefficientFormJSON(_ templates: MorphingTemplates, form: Form, negativeYields: NegativeYieldPolicy) -> JSON {
        let y = templates.yields
        let names = y.coefficientNames
        func powers(_ m: Monomial) -> JSON {
            .object(JSONObject(m.factors.map { (names[$0.coefficient], JSON.integer(Int64($0.power))) }))
        }
        let variance = templates.monteCarloVariance
        let diagonal = variance.map { $0.pairs.allSatisfy { $0.first == $0.second } } ?? false
        var sigma: [Int: [Double]] = [:]
        if diagonal { for p in variance!.pairs { sigma[p.first] = p.weights.map { max($0, 0).squareRoot() } } }
        let terms: [JSON] = y.monomials.enumerated().map { t, monomial in
            var term = JSONObject([("powers", powers(monomial)), ("data", .numbers(y.template(ofTerm: t)))])
            if diagonal { term["uncertainty"] = .numbers(sigma[t] ?? [Double](repeating: 0, count: y.binCount)) }
            return .object(term)
        }
        var data = JSONObject([("coefficients", .array(names.map { .string($0) })), ("form", .string(form.rawValue)), ("terms", .array(terms))])
        if let variance, !diagonal {
            data["variance"] = .array(variance.pairs.map { p in
                .object(JSONObject([("pair", .array([powers(y.monomials[p.first]), powers(y.monomials[p.second])])), ("data", .numbers(p.weights))]))
            })
        }
        if let cut = y.truncations.compactMap(\.maximumDegree).min(), cut == 1 || cut == 2 {
            data["truncation"] = .string(cut == 1 ? "linear" : "quadratic")
        }
        data["negative_yields"] = .string(negativeYields.rawValue)
        return .object(data)
    }
}

extension MorphingModifier {
    /// Several morphing modifiers of one sample as one polynomial (Specs/eft-extension.md §3.3,
    /// §8.2): with factors F_0 = the absolute polynomial (if any) and F_j = μ_j = 1 + R_j,
    ///
    /// ```
    /// ν⁰(c) = Π_j F_j(c)                      (N1; relative only: μ = Π_j μ_j, R = μ − 1)
    /// var(c) = Σ_j V_j(c) · Π_{i≠j} F_i(c)²    (V3, first-order propagation of independent factors)
    /// ```
    ///
    /// expanded exactly over the union of the modifiers' coefficients (first-appearance order).
    /// Each factor's truncation was applied when it was read; the product is not truncated again.
    ///
    /// - Throws: ``HistFactoryError`` when the product would store more than 4·10⁶ coefficients.
    static func product(_ factors: [MorphingModifier], modifierNames: [String], binCount: Int, sample: String) throws(HistFactoryError)
        -> (coefficients: [String], relative: Bool, yields: PolynomialTemplates, variance: PolynomialTemplates?) {
        var names: [String] = []
        for f in factors { for c in f.coefficients where !names.contains(c) { names.append(c) } }
        let ones = [Double](repeating: 1, count: binCount)
        do throws(MorphingError) {
            // F_j over the union of coefficients: absolute polynomials as they are, relative ones as 1 + R.
            var polynomials: [PolynomialTemplates] = []
            var variances: [PolynomialTemplates?] = []
            for f in factors {
                let p = try f.templates.yields.embedded(in: names)
                if f.form == .absolute {
                    polynomials.append(p)
                } else {
                    var entries: [(monomial: Monomial, bin: Int, value: Double)] = (0 ..< binCount).map { (.one, $0, 1) }
                    for t in 0 ..< p.termCount {
                        for (b, v) in p.template(ofTerm: t).enumerated() where v != 0 { entries.append((p.monomials[t], b, v)) }
                    }
                    polynomials.append(try PolynomialTemplates(coefficientNames: names, binCount: binCount, entries: entries))
                }
                variances.append(try f.templates.monteCarloVariance.map { v throws(MorphingError) in try v.polynomial.embedded(in: names) })
            }
            func product(_ ps: [PolynomialTemplates]) throws(MorphingError) -> PolynomialTemplates {
                var result = try PolynomialTemplates(coefficientNames: names, binCount: binCount, monomials: [.one], templates: [ones])
                for p in ps {
                    result = try result.multiplied(by: p)
                    guard result.storedCoefficientCount <= 4_000_000 else {
                        throw MorphingError(.shape, "the product of the morphing modifiers would store more than 4·10⁶ coefficients")
                    }
                }
                return result
            }
            let yields = try product(polynomials)
            var variance: PolynomialTemplates? = nil
            for (j, v) in variances.enumerated() {
                guard let v else { continue }
                let others = polynomials.indices.filter { $0 != j }.map { polynomials[$0] }
                let term = try product([v] + others + others)
                variance = try variance.map { sum throws(MorphingError) in try PolynomialTemplates.sum([sum, term], coefficientNames: names, binCount: binCount) } ?? term
            }
            let relative = factors.allSatisfy { $0.form == .relative }
            guard relative else { return (names, false, yields, variance) }
            // μ = Π μ_j has constant term exactly 1 (a product of 1s); the relative form keeps R = μ − 1.
            let kept = yields.monomials.indices.filter { yields.monomials[$0] != .one }
            let r = try PolynomialTemplates(coefficientNames: names, binCount: binCount, monomials: kept.map { yields.monomials[$0] },
                                            templates: kept.map { yields.template(ofTerm: $0) })
            return (names, true, r, variance)
        } catch {
            throw HistFactoryError(.invalidModel, "sample \"\(sample)\": morphing modifiers \(modifierNames.joined(separator: " × ")): \(error)")
        }
    }
}
