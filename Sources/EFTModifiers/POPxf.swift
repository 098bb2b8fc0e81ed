import EFTJSON
import HistFactory
import Morphing

/// Options of the POPxf export (``Workspace/popxf(_:)``).
///
/// POPxf ("Polynomial Observable Prediction exchange format", arXiv:2511.17348, schema
/// `https://json.schemastore.org/popxf-1.0.json`) carries observables as polynomials in model
/// parameters for global-fit tools. efthf writes the single-polynomial mode: one observable per
/// bin, `O_m(c) = Σ_k o_mk m_k(c)`, with monomial keys `"('', 'cHW')"` (names sorted, padded with
/// `''` to the polynomial degree).
public struct POPxfOptions: Sendable {
    /// What one POPxf observable is.
    public enum Observables: String, Sendable, CaseIterable {
        /// One per bin of every sample with a morphing or event-database modifier: its morphed nominal
        /// ν⁰_sb(c) (Specs/eft-extension.md (N1)), named `channel/sample/bin<b>`.
        case samples
        /// One per bin of every channel: Σ_s ν⁰_sb(c) over all samples, the unmorphed ones at their
        /// nominal `data`; named `channel/bin<b>`. All nuisance parameters at their nominal values.
        case channels
    }

    /// The `metadata.basis` of the file.
    public enum Basis: Sendable {
        /// A basis defined by WCxf, e.g. `("SMEFT", "Warsaw")`; the coefficient names must then be WCxf's.
        case wcxf(eft: String, basis: String)
        /// Any JSON describing the basis (POPxf's `custom`).
        case custom(JSON)
    }

    public var observables: Observables
    /// The renormalisation scale μ in GeV at which the coefficients are defined (POPxf `scale`).
    public var scale: Double
    /// `nil`: a custom basis, the coefficients as named in the workspace.
    public var basis: Basis?
    /// Written into `metadata.reproducibility` as the tool's version.
    public var toolVersion: String?

    public init(observables: Observables = .samples, scale: Double, basis: Basis? = nil, toolVersion: String? = nil) {
        self.observables = observables
        self.scale = scale
        self.basis = basis
        self.toolVersion = toolVersion
    }
}

extension Workspace {
    /// The POPxf `$schema` identifier efthf writes.
    public static let popxfSchema = "https://json.schemastore.org/popxf-1.0.json"

    /// The workspace's EFT predictions as a POPxf file (single-polynomial mode).
    ///
    /// Each observable is a polynomial in the Wilson coefficients, expanded exactly from the
    /// workspace's modifiers: a sample's morphed nominal is (N1)
    ///
    /// ```
    /// ν⁰_sb(c) = A_sb(c) · Π_j μ_j,sb(c)        (A the absolute polynomial, or data_sb; μ_j = 1 + Σ_t R_tb m_t)
    /// ```
    ///
    /// multiplied out, so its degree is the sum of the factors' degrees (at most 5 in POPxf 1.0). The
    /// negative-yield policy (`clip`) is not a polynomial and is not applied.
    ///
    /// MC statistics: when an observable's variance is Σ_k m_k(c)² σ_k² (independent term
    /// templates, the coefficient form with per-term `uncertainty`, summed over samples for
    /// channels), the σ_k are written as `data.observable_uncertainties.MC_stats`, exactly. In every
    /// case with MC information the exact variance polynomial var(c) of (V1)–(V3) (correlated terms
    /// of benchmark and event-database samples included; for channels plus the static δ² of the
    /// other samples' staterror) is written to `metadata.misc.efthf.mc_variance` with keys of
    /// twice the degree.
    ///
    /// - Throws: ``HistFactoryError`` when the workspace has no Wilson coefficient, a coefficient
    ///   name contains a quote or backslash (not representable in a monomial key), the degree exceeds
    ///   5, or the scale is not a positive finite number.
    public func popxf(_ options: POPxfOptions) throws(HistFactoryError) -> JSON {
        let names = wilsonCoefficients
        guard !names.isEmpty else {
            throw HistFactoryError(.operation, "the workspace has no morphing or event-database modifier: there is no polynomial to export", file: file)
        }
        for name in names where name.contains("'") || name.contains("\\") {
            throw HistFactoryError(.parameter, "the Wilson coefficient \"\(name)\" contains a quote or backslash, which a POPxf monomial key cannot hold", file: file)
        }
        guard options.scale.isFinite && options.scale > 0 else {
            throw HistFactoryError(.invalidValue, "the POPxf scale must be a positive number of GeV, found \(options.scale)")
        }

        var observableNames: [String] = []
        var yields: [PolynomialTemplates] = []
        var variances: [PolynomialTemplates?] = []
        var sigma2: [[Monomial: [Double]]?] = []
        for channel in channels {
            var parts: [SamplePolynomial] = []
            for sample in channel.samples {
                // A sample evaluated per event (per-event systematics or smoothing) has yields that the
                // static templates do not reproduce; POPxf would carry the wrong polynomial.
                for modifier in sample.modifiers {
                    if let m = modifier.dependent as? MorphingModifier, m.events != nil {
                        throw HistFactoryError(
                            .operation, "channel \"\(channel.name)\" sample \"\(sample.name)\": event-database modifier \"\(modifier.name)\" is evaluated per event (systematics or smoothing_width), so its yields are not the static polynomial POPxf carries; export it at points instead (export --at or --patchset)")
                    }
                }
                let part = try samplePolynomial(sample, channel: channel.name, names: names)
                if options.observables == .samples {
                    guard Self.isMorphed(sample) else { continue }
                    observableNames += (0 ..< sample.data.count).map { "\(channel.name)/\(sample.name)/bin\($0)" }
                    yields.append(part.yield)
                    variances.append(part.variance)
                    sigma2.append(part.termVariances)
                } else {
                    parts.append(part)
                }
            }
            if options.observables == .channels {
                let sum = try Self.combined(parts, names: names, bins: channel.binCount, channel: channel.name)
                observableNames += (0 ..< channel.binCount).map { "\(channel.name)/bin\($0)" }
                yields.append(sum.yield)
                variances.append(sum.variance)
                sigma2.append(sum.termVariances)
            }
        }

        let degree = max(1, yields.map(\.maximumDegree).max() ?? 1)
        guard degree <= 5 else {
            throw HistFactoryError(.operation, "the polynomials have degree \(degree); POPxf 1.0 allows at most 5", file: file)
        }
        let central = Self.keyedColumns(yields.map { p in (p.monomials, (0 ..< p.termCount).map { p.template(ofTerm: $0) }, p.binCount) }, names: names, degree: degree)

        var data = JSONObject([("observable_central", central)])
        let hasMC = variances.contains { $0 != nil }
        if hasMC, sigma2.allSatisfy({ $0 != nil }) {
            let blocks = zip(yields, sigma2).map { p, s -> ([Monomial], [[Double]], Int) in
                let terms = s!.keys.sorted()
                return (terms, terms.map { s![$0]!.map { max($0, 0).squareRoot() } }, p.binCount)
            }
            data["observable_uncertainties"] = .object(JSONObject([("MC_stats", Self.keyedColumns(blocks, names: names, degree: degree))]))
        }

        var efthf = JSONObject([
            ("observables", .string(options.observables.rawValue)),
            ("definition", .string(options.observables == .samples
                ? "per bin of every morphed sample: its morphed nominal ν⁰_sb(c) (Specs/eft-extension.md (N1)), before the negative-yield policy, all nuisance parameters nominal"
                : "per channel bin: Σ over samples of the morphed nominal ν⁰_sb(c) (N1), unmorphed samples at their data, all nuisance parameters nominal")),
        ])
        if let file { efthf["workspace"] = .string(file) }
        if hasMC {
            let blocks = zip(yields, variances).map { p, v -> ([Monomial], [[Double]], Int) in
                guard let v else { return ([], [], p.binCount) }
                return (v.monomials, (0 ..< v.termCount).map { v.template(ofTerm: $0) }, v.binCount)
            }
            let varianceDegree = max(1, variances.compactMap { $0?.maximumDegree }.max() ?? 1)
            efthf["mc_variance"] = .object(JSONObject([
                ("description", .string("MC-statistical variance var(c) of each observable (Specs/eft-extension.md (V1)-(V3)), exact, as a polynomial with POPxf monomial keys; σ = √var")),
                ("polynomial_degree", .integer(Int64(varianceDegree))),
                ("terms", Self.keyedColumns(blocks, names: names, degree: varianceDegree)),
            ]))
        }

        let basis: JSON
        switch options.basis {
        case .wcxf(let eft, let b)?:
            basis = .object(JSONObject([("wcxf", .object(JSONObject([("eft", .string(eft)), ("basis", .string(b))])))]))
        case .custom(let json)?:
            basis = .object(JSONObject([("custom", json)]))
        case nil:
            basis = .object(JSONObject([("custom", .object(JSONObject([
                ("description", .string("Wilson coefficients as named in the efthf workspace (Specs/eft-extension.md §7)")),
            ])))]))
        }
        var tool = JSONObject([("name", .string("efthf"))])
        if let v = options.toolVersion { tool["version"] = .string(v) }
        let metadata = JSONObject([
            ("observable_names", .array(observableNames.map { .string($0) })),
            ("parameters", .array(names.map { .string($0) })),
            ("basis", basis),
            ("scale", .number(options.scale)),
            ("polynomial_degree", .integer(Int64(degree))),
            ("reproducibility", .array([.object(JSONObject([
                ("description", .string("polynomials expanded exactly from the morphing and event-database modifiers of an efthf extended workspace (version \(version))")),
                ("tool", .object(tool)),
            ]))])),
            ("misc", .object(JSONObject([("efthf", .object(efthf))]))),
        ])
        return .object(JSONObject([
            ("$schema", .string(Self.popxfSchema)), ("metadata", .object(metadata)), ("data", .object(data)),
        ]))
    }

    /// The POPxf monomial key of `m`: its factors' names, each repeated by its power, sorted as
    /// Python's `sort()` (by Unicode scalar), padded in front with `''` to `degree` entries:
    /// `('', 'cHW')`, `('cHW', 'cHq3')`; a one-entry tuple keeps its comma, `('cHW',)`.
    public static func popxfKey(_ m: Monomial, names: [String], degree: Int) -> String {
        let factors = m.factors.flatMap { f in Array(repeating: names[f.coefficient], count: f.power) }
            .sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        let entries = Array(repeating: "", count: max(0, degree - factors.count)) + factors
        return "(" + entries.map { "'\($0)'" }.joined(separator: ", ") + (entries.count == 1 ? ",)" : ")")
    }

    /// `{key: [value per observable]}` over consecutive blocks of observables (each block: its
    /// monomials, their per-bin columns and its bin count); monomials absent from a block give 0.
    static func keyedColumns(_ blocks: [([Monomial], [[Double]], Int)], names: [String], degree: Int) -> JSON {
        let total = blocks.reduce(0) { $0 + $1.2 }
        var rows: [Monomial: [Double]] = [:]
        var offset = 0
        for (monomials, columns, bins) in blocks {
            for (m, column) in zip(monomials, columns) {
                var row = rows.removeValue(forKey: m) ?? [Double](repeating: 0, count: total)
                for b in 0 ..< bins { row[offset + b] += column[b] }
                rows[m] = row
            }
            offset += bins
        }
        return .object(JSONObject(rows.keys.sorted().map { (popxfKey($0, names: names, degree: degree), .numbers(rows[$0]!)) }))
    }

    /// A sample's nominal and MC variance as polynomials over `names`.
    struct SamplePolynomial {
        var yield: PolynomialTemplates
        /// var(c) of (V3), or the static δ² of a staterror; nil without MC information.
        var variance: PolynomialTemplates?
        /// σ_k² per monomial when var = Σ_k m_k² σ_k² exactly; nil when not of that form or without MC information.
        var termVariances: [Monomial: [Double]]?
    }

    func samplePolynomial(_ sample: Sample, channel: String, names: [String]) throws(HistFactoryError) -> SamplePolynomial {
        let bins = sample.data.count
        func constant(_ values: [Double]) throws(MorphingError) -> PolynomialTemplates {
            try PolynomialTemplates(coefficientNames: names, binCount: bins, monomials: [.one], templates: [values])
        }
        let delta: [Double]? = sample.modifiers.lazy.compactMap { m -> [Double]? in
            if m.kind == .staterror, case .uncertainties(let d) = m.payload { return d }
            return nil
        }.first
        do {
            var factors: [PolynomialTemplates] = []
            var factorVariances: [PolynomialTemplates?] = []
            var absolute: MorphingModifier? = nil
            for modifier in sample.modifiers {
                guard let m = modifier.dependent as? MorphingModifier else { continue }
                let y = try m.templates.yields.embedded(in: names)
                let v = try m.templates.monteCarloVariance.map { v throws(MorphingError) in try v.polynomial.embedded(in: names) }
                if m.form == .absolute {
                    absolute = m
                    factors.insert(y, at: 0)
                    factorVariances.insert(v, at: 0)
                } else {
                    factors.append(try PolynomialTemplates.sum([try constant([Double](repeating: 1, count: bins)), y], coefficientNames: names, binCount: bins))
                    factorVariances.append(v)
                }
            }
            guard !factors.isEmpty else {
                let variance = try delta.map { d throws(MorphingError) in try constant(d.map { $0 * $0 }) }
                return SamplePolynomial(yield: try constant(sample.data), variance: variance,
                                        termVariances: delta.map { d in [.one: d.map { $0 * $0 }] })
            }
            let anyVariance = factorVariances.contains { $0 != nil }
            if absolute == nil {
                factors.insert(try constant(sample.data), at: 0)
                // (V3): without an absolute modifier V_0 = δ² of the staterror.
                factorVariances.insert(try anyVariance ? delta.map { d throws(MorphingError) in try constant(d.map { $0 * $0 }) } : nil, at: 0)
            }
            var yield = factors[0]
            for f in factors.dropFirst() { yield = try yield.multiplied(by: f) }
            guard anyVariance else {
                let variance = try delta.map { d throws(MorphingError) in try constant(d.map { $0 * $0 }) }
                return SamplePolynomial(yield: yield, variance: variance, termVariances: delta.map { d in [.one: d.map { $0 * $0 }] })
            }
            var terms: [PolynomialTemplates] = []
            for (j, vj) in factorVariances.enumerated() {
                guard var term = vj else { continue }
                for (i, f) in factors.enumerated() where i != j { term = try term.multiplied(by: try f.multiplied(by: f)) }
                terms.append(term)
            }
            let variance = try PolynomialTemplates.sum(terms, coefficientNames: names, binCount: bins)
            // Σ_k m_k² σ_k² exactly: one absolute factor whose variance form has no cross pairs.
            var termVariances: [Monomial: [Double]]? = nil
            if factors.count == 1, let a = absolute, let form = a.templates.monteCarloVariance, form.pairs.allSatisfy({ $0.first == $0.second }) {
                let monomials = try a.templates.yields.embedded(in: names).monomials
                var s: [Monomial: [Double]] = [:]
                for p in form.pairs { s[monomials[p.first]] = p.weights }
                termVariances = s
            }
            return SamplePolynomial(yield: yield, variance: variance, termVariances: termVariances)
        } catch {
            throw HistFactoryError(.invalidModel, "channel \"\(channel)\" sample \"\(sample.name)\": \(error)", file: file)
        }
    }

    /// A channel's sum over its samples; variances add (independent samples).
    static func combined(_ parts: [SamplePolynomial], names: [String], bins: Int, channel: String) throws(HistFactoryError) -> SamplePolynomial {
        do {
            let yield = try PolynomialTemplates.sum(parts.map(\.yield), coefficientNames: names, binCount: bins)
            let vs = parts.compactMap(\.variance)
            let variance = vs.isEmpty ? nil : try PolynomialTemplates.sum(vs, coefficientNames: names, binCount: bins)
            var termVariances: [Monomial: [Double]]? = variance == nil ? nil : [:]
            for part in parts where part.variance != nil {
                guard let s = part.termVariances, termVariances != nil else { termVariances = nil; break }
                for (m, w) in s { termVariances![m] = zip(termVariances![m] ?? [Double](repeating: 0, count: bins), w).map { $0 + $1 } }
            }
            return SamplePolynomial(yield: yield, variance: variance, termVariances: termVariances)
        } catch {
            throw HistFactoryError(.invalidModel, "channel \"\(channel)\": \(error)")
        }
    }
}
