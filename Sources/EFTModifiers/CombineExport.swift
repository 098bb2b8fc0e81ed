import EFTJSON
import HistFactory
import Morphing

/// Combine's scaling data for a workspace's morphed samples and the pyhf workspace of their
/// Standard-Model templates (``Workspace/combineScaling(measurement:)``).
public struct CombineScalingExport: Sendable {
    /// The `scalingData` list (Specs/combine.md §2).
    public let scaling: JSON
    /// The workspace without its morphing and event-database modifiers: each morphed sample at its
    /// SM `data`, the templates Combine's datacard needs (pyhf 1.0.0).
    public let templates: Workspace
}

extension Workspace {
    /// The name of the constant SM entry of the parameter vector in an export.
    public static let combineStandardModelParameter = "efthf_SM"

    /// Every morphed sample as an entry of Combine's InterferenceModel scaling data (Specs/combine.md §2):
    /// its nominal (N1), expanded into one polynomial Σ_t T_tb m_t(c) (the product of its absolute and
    /// relative factors multiplied out, truncation applied, as the POPxf and HS3 exports do), divided
    /// by the sample's `data` y0_b, is written as vᵀ M_b v. The vector is v = (1, c_1, …, c_K, p_1, …)
    /// with p the products of two coefficients that terms of degree 3 and 4 need; each term m_t is
    /// split as a·b (a its first ⌈d/2⌉ factors) and
    ///
    /// ```
    /// M_b[a,a] += T_tb / y0_b   (a = b),        M_b[a,b] += T_tb / (2 y0_b)   (a ≠ b; s holds 2 M_ab v_a v_b)
    /// ```
    ///
    /// `parameters` are `efthf_SM[1]` (a constant), `c[init,min,max]` with the measurement's inits
    /// and bounds, and `expr::efthf_c1_c2('@0*@1', c1, c2)` for the products; rows hold the lower
    /// triangle row by row. c_1 … c_K are the coefficients the sample's polynomial uses.
    ///
    /// - Throws: ``HistFactoryError`` for what the export cannot hold: a term of degree above 4, a
    ///   bin whose `data` is 0 while a term is not, an event-database sample evaluated per event; and
    ///   when there is no morphed sample.
    public func combineScaling(measurement: String? = nil) throws(HistFactoryError) -> CombineScalingExport {
        let model = try HistFactoryModel(workspace: self, measurement: measurement)
        let names = wilsonCoefficients
        guard !names.isEmpty else {
            throw HistFactoryError(.operation, "the workspace has no morphing or event-database modifier: there is no scaling to export", file: file)
        }
        var items: [JSON] = []
        for channel in channels {
            for sample in channel.samples where Self.isMorphed(sample) {
                for modifier in sample.modifiers {
                    if let m = modifier.dependent as? MorphingModifier, m.events != nil {
                        throw HistFactoryError(.operation, "channel \"\(channel.name)\" sample \"\(sample.name)\": event-database modifier \"\(modifier.name)\" is evaluated per event (systematics or smoothing_width), so its yields are not a static polynomial; export it at points instead (export --at or --patchset)")
                    }
                }
                let yield = try samplePolynomial(sample, channel: channel.name, names: names).yield
                let bins = sample.data.count
                let terms = (0 ..< yield.termCount).filter { yield.template(ofTerm: $0).contains { $0 != 0 } }
                // v = (1, c_used…, products of two coefficients…): each term m = a·b with a the first
                // ⌈d/2⌉ of its factors, so degrees up to 4 are a quadratic form in v.
                var used: [Int] = []
                for t in terms { for f in yield.monomials[t].factors where !used.contains(f.coefficient) { used.append(f.coefficient) } }
                used.sort()
                var vector: [Monomial] = [.one] + used.map { Monomial.linear($0) }
                var halves: [(Monomial, Monomial)] = []
                for t in terms {
                    let m = yield.monomials[t]
                    guard m.degree <= 4 else {
                        throw HistFactoryError(.operation, "channel \"\(channel.name)\" sample \"\(sample.name)\": the term \(m.description(names: names)) has degree \(m.degree); the export writes degree 4 at most (a quadratic form in the coefficients and their pairwise products)")
                    }
                    let flat = m.factors.flatMap { Array(repeating: $0.coefficient, count: $0.power) }
                    let cut = (flat.count + 1) / 2
                    let a = flat[..<cut].reduce(Monomial.one) { $0 * .linear($1) }, b = flat[cut...].reduce(Monomial.one) { $0 * .linear($1) }
                    for h in [a, b] where !vector.contains(h) { vector.append(h) }
                    halves.append((a, b))
                }
                let n = vector.count
                func index(_ i: Int, _ j: Int) -> Int { let (a, b) = i >= j ? (i, j) : (j, i); return a * (a + 1) / 2 + b }
                var rows = [[Double]](repeating: [Double](repeating: 0, count: n * (n + 1) / 2), count: bins)
                for (t, (a, b)) in zip(terms, halves) {
                    let m = yield.monomials[t], template = yield.template(ofTerm: t)
                    let i = vector.firstIndex(of: a)!, j = vector.firstIndex(of: b)!
                    // s contains 2 M_ij v_i v_j for i ≠ j.
                    let weight = i == j ? 1.0 : 0.5
                    for bin in 0 ..< bins where template[bin] != 0 {
                        guard sample.data[bin] != 0 else {
                            throw HistFactoryError(.operation, "channel \"\(channel.name)\" sample \"\(sample.name)\" bin \(bin): the sample's data is 0 but its term \(m.description(names: names)) is \(JSON.pythonRepr(template[bin])); Combine scales the template, which cannot hold it")
                        }
                        rows[bin][index(i, j)] += weight * template[bin] / sample.data[bin]
                    }
                }
                for bin in 0 ..< bins where sample.data[bin] == 0 { rows[bin][0] = 1 }
                var parameters: [JSON] = [.string(Self.combineStandardModelParameter + "[1]")]
                for i in used {
                    let p = try model.parameterIndex(named: names[i])
                    let bounds = model.suggestedBounds[p]
                    parameters.append(.string("\(names[i])[\(JSON.pythonRepr(model.suggestedInits[p])),\(JSON.pythonRepr(bounds.lowerBound)),\(JSON.pythonRepr(bounds.upperBound))]"))
                }
                for m in vector.dropFirst(1 + used.count) {
                    let factors = m.factors.flatMap { Array(repeating: names[$0.coefficient], count: $0.power) }
                    let arguments = m.factors.map { names[$0.coefficient] }
                    let formula = m.factors.count == 1 ? "@0*@0" : "@0*@1"
                    parameters.append(.string("expr::efthf_\(factors.joined(separator: "_"))('\(formula)', \(arguments.joined(separator: ", ")))"))
                }
                items.append(.object(JSONObject([
                    ("channel", .string(channel.name)), ("process", .string(sample.name)),
                    ("parameters", .array(parameters)), ("scaling", .array(rows.map { .numbers($0) })),
                ])))
            }
        }
        return CombineScalingExport(scaling: .array(items), templates: try withoutMorphing())
    }

    /// The pyhf 1.0.0 workspace without morphing and event-database modifiers and without the
    /// Wilson coefficients' parameter configurations.
    func withoutMorphing() throws(HistFactoryError) -> Workspace {
        guard case .object(var root) = json else { throw HistFactoryError(.schema, "the workspace is not a JSON object", file: file) }
        let coefficients = Set(wilsonCoefficients)
        root["channels"] = .array((root["channels"]?.arrayValue ?? []).map { channel in
            guard case .object(var c) = channel else { return channel }
            c["samples"] = .array((c["samples"]?.arrayValue ?? []).map { sample in
                guard case .object(var s) = sample else { return sample }
                s["modifiers"] = .array((s["modifiers"]?.arrayValue ?? []).filter { m in
                    let type = m["type"]?.stringValue
                    return type != "morphing" && type != "event_database"
                })
                return .object(s)
            })
            return .object(c)
        })
        root["measurements"] = .array((root["measurements"]?.arrayValue ?? []).map { measurement in
            guard case .object(var m) = measurement, case .object(var config)? = m["config"] else { return measurement }
            config["parameters"] = .array((config["parameters"]?.arrayValue ?? []).filter { !coefficients.contains($0["name"]?.stringValue ?? "") })
            m["config"] = .object(config)
            return .object(m)
        })
        root["version"] = .string("1.0.0")
        return try Workspace(json: .object(root), file: nil, baseDirectory: baseDirectory, modifiers: modifiers)
    }
}

/// Which entries of an EFT2Obs / CMS STXS→SMEFT table (`prod.json`) scale a sample: one entry per
/// bin of the sample, or one entry for all its bins.
public struct STXSAssignment: Sendable, Codable, Equatable {
    public var channel: String
    public var sample: String
    public var entries: [String]

    public init(channel: String, sample: String, entries: [String]) {
        self.channel = channel
        self.sample = sample
        self.entries = entries
    }
}

extension Workspace {
    /// The workspace with an EFT2Obs linear/quadratic coefficient table (`prod.json`:
    /// `{entry: {"A_<op>", "B_<op>_2", "B_<op1>_<op2>", "u_<key>"}}`, read by
    /// ``STXSParametrisation/relativeScalings(json:parameters:variables:includeUncertainties:context:)``)
    /// applied to samples as relative-form `morphing` modifiers named `modifierName`:
    ///
    /// ```
    /// μ_b(c) = 1 + Σ_i A_{e_b,i} c_i + Σ_{i≤j} B_{e_b,ij} c_i c_j,    σ of each term from its u_ key
    /// ```
    ///
    /// with e_b the table entry of bin b (Specs/eft-extension.md §13.C is such a modifier). With
    /// `coefficients`, only terms in those operators are kept (the others are 0).
    ///
    /// - Throws: ``HistFactoryError`` naming the table file and entry: an entry not in the table, an
    ///   entry count that is neither 1 nor the sample's bin count, an unknown channel or sample, a
    ///   malformed key or value, a selected coefficient that no selected entry uses.
    public func addingSTXSScaling(table: JSON, file: String? = nil, assignments: [STXSAssignment], coefficients: [String]? = nil,
                                  modifierName: String = "stxs_scaling", includeUncertainties: Bool = true) throws(HistFactoryError) -> Workspace {
        guard case .object(let entries) = table else {
            throw HistFactoryError(.schema, "expected an object of entries {\"<entry>\": {\"A_<op>\": …}}", file: file, path: JSONPointer(tokens: []))
        }
        var selected: [String] = []
        var operators: [String] = []
        for a in assignments {
            guard !a.entries.isEmpty else { throw HistFactoryError(.parameter, "channel \"\(a.channel)\" sample \"\(a.sample)\": no table entry given") }
            for e in a.entries {
                guard let terms = entries[e] else {
                    throw HistFactoryError(.invalidModel, "the table has no entry \"\(e)\" (for channel \"\(a.channel)\" sample \"\(a.sample)\"); it has \(entries.count) entries, e.g. \(entries.keys.prefix(3).map { "\"\($0)\"" }.joined(separator: ", "))", file: file, path: JSONPointer(tokens: [e]))
                }
                if !selected.contains(e) { selected.append(e) }
                for key in terms.objectValue?.keys ?? [] {
                    let parts = (key.hasPrefix("u_") ? String(key.dropFirst(2)) : key).split(separator: "_").map(String.init)
                    let ops = parts.count == 2 ? [parts[1]] : parts.count == 3 ? (parts[2] == "2" ? [parts[1]] : [parts[1], parts[2]]) : []
                    for op in ops where !operators.contains(op) { operators.append(op) }
                }
            }
        }
        let keep = coefficients ?? operators
        for c in keep where !operators.contains(c) {
            throw HistFactoryError(.parameter, "coefficient \"\(c)\" appears in none of the selected table entries (\(selected.joined(separator: ", ")))", file: file)
        }
        // The kept coefficients first, in the order given.
        operators = keep + operators.filter { !keep.contains($0) }
        let templates: MorphingTemplates
        do {
            templates = try STXSParametrisation.relativeScalings(
                json: .object(JSONObject(selected.map { ($0, entries[$0]!) })),
                parameters: operators.map { STXSParameterOfInterest(name: $0, exponent: 0, minimum: -1, maximum: 1, value: 0) },
                variables: .wilsonCoefficients, includeUncertainties: includeUncertainties, context: file ?? "table")
        } catch {
            throw HistFactoryError(.invalidModel, "\(error)", file: file, underlying: error)
        }
        let y = templates.yields
        var sigma: [Int: [Double]] = [:]
        for p in templates.monteCarloVariance?.pairs ?? [] where p.first == p.second { sigma[p.first] = p.weights.map { max($0, 0).squareRoot() } }
        var added: [(channel: String, sample: String, modifier: JSON)] = []
        for a in assignments {
            let (c, s) = try locate(channel: a.channel, sample: a.sample, file: nil, channelPath: nil, samplePath: nil)
            let bins = channels[c].samples[s].data.count
            guard a.entries.count == 1 || a.entries.count == bins else {
                throw HistFactoryError(.parameter, "channel \"\(a.channel)\" sample \"\(a.sample)\" has \(bins) bins; give 1 table entry or \(bins), found \(a.entries.count)")
            }
            let column = (0 ..< bins).map { selected.firstIndex(of: a.entries[a.entries.count == 1 ? 0 : $0])! }
            let kept = (0 ..< y.termCount).filter { t in
                let m = y.monomials[t]
                guard m != .one, m.factors.allSatisfy({ keep.contains(operators[$0.coefficient]) }) else { return false }
                return column.contains { y.template(ofTerm: t)[$0] != 0 || (sigma[t]?[$0] ?? 0) != 0 }
            }
            guard !kept.isEmpty else {
                throw HistFactoryError(.invalidModel, "channel \"\(a.channel)\" sample \"\(a.sample)\": the entries \(a.entries.joined(separator: ", ")) have no term in \(keep.joined(separator: ", "))", file: file)
            }
            do {
                let full = try PolynomialTemplates(coefficientNames: operators, binCount: bins, monomials: kept.map { y.monomials[$0] },
                                                   templates: kept.map { t in column.map { y.template(ofTerm: t)[$0] } })
                let p = try full.terms(Array(0 ..< kept.count))
                let uncertainties = includeUncertainties && !sigma.isEmpty ? kept.map { t in column.map { sigma[t]?[$0] ?? 0 } } : nil
                added.append((a.channel, a.sample, .object(JSONObject([
                    ("name", .string(modifierName)), ("type", .string("morphing")),
                    ("data", MorphingModifier.coefficientFormJSON(p, form: .relative, uncertainties: uncertainties)),
                ]))))
            } catch {
                throw HistFactoryError(.invalidModel, "channel \"\(a.channel)\" sample \"\(a.sample)\": \(error)", file: file, underlying: error)
            }
        }
        return try adding(added, parameterConfigs: [], file: file)
    }
}
