import EFTJSON
import HistFactory
import Morphing

/// Export to and import from HS3, the HEP Statistics Serialization Standard, in the form that
/// ROOT 6.40's `RooJSONFactoryWSTool` reads (Specs/hs3.md).
///
/// Every channel becomes a `histfactory_dist`; a sample whose nominal is a polynomial in the Wilson
/// coefficients (morphing modifiers, event-database samples at their projected templates) becomes
/// one HistFactory sample per term of its expanded polynomial, the term of degree ≥ 1 scaled by its
/// monomial through a `custom` modifier whose name is that of a `product` function of the
/// coefficients. The Wilson coefficients are free parameters of the HS3 file.
extension Workspace {
    /// The `metadata.hs3_version` efthf writes.
    public static let hs3Version = "0.2"

    /// A staterror `errors` entry that stands for 0: ROOT's RooDataHist ignores an error of exactly 0
    /// (the bin's sum of squared weights becomes its weight), while (1e−200)² is 0 in double precision.
    /// The import reads anything up to ``hs3ZeroErrorThreshold`` as 0.
    static let hs3ZeroError = 1e-200
    static let hs3ZeroErrorThreshold = 1e-150

    /// The name of the HS3 sample that carries term `monomial` of morphed sample `sample`; the SM term keeps the sample's name.
    static func hs3TermSample(_ sample: String, _ monomial: Monomial, names: [String]) -> String {
        monomial == .one ? sample : sample + "__" + hs3MonomialTag(monomial, names: names)
    }

    /// `cHq3_cHq3_cHW`: the coefficient names, each repeated by its power, in coefficient order.
    static func hs3MonomialTag(_ m: Monomial, names: [String]) -> String {
        m.factors.flatMap { Array(repeating: names[$0.coefficient], count: $0.power) }.joined(separator: "_")
    }

    /// The name of the HS3 gamma of component `k` of the per-bin parameter set `name`.
    static func hs3Gamma(_ name: String, _ k: Int) -> String { "gamma_\(name)_bin_\(k)" }

    /// The likelihood in HS3 (Specs/hs3.md): channels as `histfactory_dist`, morphed samples split
    /// into one sample per term with a `custom` monomial modifier, the constraints, the observed data,
    /// domains and parameter points from the model's bounds, inits and fixed parameters, one
    /// likelihood and one analysis (the measurement's POI), and under `misc.efthf` what HS3 cannot
    /// express (MC variance of the morphed templates, negative-yield policies) with the names that map
    /// pyhf's parameters to the file's.
    ///
    /// - Throws: ``HistFactoryError`` for an element HS3 (as ROOT reads it) cannot carry: an
    ///   event-database sample evaluated per event, two staterror names in one channel, a channel
    ///   where the sum of the staterror samples' term templates is not positive in a bin whose SM
    ///   sum is (ROOT would freeze that γ).
    public func hs3(measurement: String? = nil, toolVersion: String? = nil) throws(HistFactoryError) -> JSON {
        let model = try HistFactoryModel(workspace: self, measurement: measurement)
        let names = wilsonCoefficients
        var rootName: [String: String] = [:]          // pyhf component name → HS3 parameter name
        var functions: [Monomial: String] = [:]
        var functionOrder: [Monomial] = []
        var distributions: [JSON] = []
        var dataList: [JSON] = []
        var morphed: [JSON] = []
        var differences: [String] = []
        let sortedChannels = channels.sorted { $0.name.unicodeScalars.lexicographicallyPrecedes($1.name.unicodeScalars) }
        guard model.channels == sortedChannels.map(\.name) else {
            throw HistFactoryError(.operation, "measurement \"\(model.measurementName)\" does not use every channel; HS3 export needs the whole workspace")
        }

        // Offsets of each channel in the per-bin sets shared across channels (staterror masks, H §5).
        var staterrorOffset: [String: [String: Int]] = [:]
        for channel in sortedChannels {
            for name in Set(channel.samples.flatMap { $0.modifiers.filter { $0.kind == .staterror }.map(\.name) }).sorted() {
                let before = sortedChannels.prefix { $0.name != channel.name }
                    .filter { c in c.samples.contains { $0.modifiers.contains { $0.kind == .staterror && $0.name == name } } }
                    .reduce(0) { $0 + $1.binCount }
                staterrorOffset[name, default: [:]][channel.name] = before
            }
        }

        for channel in sortedChannels {
            let n = channel.binCount
            let axes = JSON.array([.object(JSONObject([("name", .string("obs_x_" + channel.name)), ("min", .integer(0)), ("max", .integer(Int64(n))), ("nbins", .integer(Int64(n)))]))])
            let staterrors = Set(channel.samples.flatMap { $0.modifiers.filter { $0.kind == .staterror }.map(\.name) })
            guard staterrors.count <= 1 else {
                throw HistFactoryError(.operation, "channel \"\(channel.name)\" has \(staterrors.count) staterror names (\(staterrors.sorted().joined(separator: ", "))); HS3 HistFactory (ROOT) has one MC-statistics set per channel")
            }

            // The HS3 samples: (pyhf sample, term monomial, contents).
            var parts: [(sample: Sample, monomial: Monomial, contents: [Double])] = []
            for sample in channel.samples {
                guard Self.isMorphed(sample) else { parts.append((sample, .one, sample.data)); continue }
                for modifier in sample.modifiers {
                    if let m = modifier.dependent as? MorphingModifier, m.events != nil {
                        throw HistFactoryError(.operation, "channel \"\(channel.name)\" sample \"\(sample.name)\": event-database modifier \"\(modifier.name)\" is evaluated per event (systematics or smoothing_width); HS3 holds static templates only, so export it at points (export --at or --patchset)")
                    }
                }
                let polynomial = try samplePolynomial(sample, channel: channel.name, names: names)
                let yield = polynomial.yield
                var sm = [Double](repeating: 0, count: n)
                var terms: [(Monomial, [Double])] = []
                for t in 0 ..< yield.termCount {
                    let m = yield.monomials[t], template = yield.template(ofTerm: t)
                    if m == .one { sm = template } else if template.contains(where: { $0 != 0 }) { terms.append((m, template)) }
                }
                parts.append((sample, .one, sm))
                for (m, template) in terms.sorted(by: { $0.0 < $1.0 }) {
                    parts.append((sample, m, template))
                    if functions[m] == nil {
                        functions[m] = "efthf_" + Self.hs3MonomialTag(m, names: names)
                        functionOrder.append(m)
                    }
                }
                morphed.append(try hs3MorphedRecord(channel: channel.name, sample: sample, polynomial: polynomial, names: names))
            }

            // ROOT's staterror width is √(Σ errors²)/Σ contents over the samples that carry it; the
            // term samples add their contents, so every δ is scaled by S_b/D_b to keep σ_b(0) (H (S1)).
            var scale = [Double](repeating: 1, count: n)
            if let name = staterrors.first {
                var sumData = [Double](repeating: 0, count: n), sumContents = [Double](repeating: 0, count: n)
                for part in parts where part.sample.modifiers.contains(where: { $0.kind == .staterror }) {
                    for b in 0 ..< n {
                        sumContents[b] += part.contents[b]
                        if part.monomial == .one { sumData[b] += part.sample.data[b] }
                    }
                }
                for b in 0 ..< n where sumData[b] != sumContents[b] {
                    guard sumData[b] > 0 else { continue }
                    guard sumContents[b] > 0 else {
                        throw HistFactoryError(.operation, "channel \"\(channel.name)\" bin \(b): the staterror \"\(name)\" samples' SM sum is \(JSON.pythonRepr(sumData[b])) but the sum of all their term templates is \(JSON.pythonRepr(sumContents[b])); ROOT computes the MC-statistics width from that sum and would freeze the bin")
                    }
                    scale[b] = sumContents[b] / sumData[b]
                }
            }

            var samplesJSON: [JSON] = []
            for part in parts {
                let sample = part.sample
                let hs3Name = Self.hs3TermSample(sample.name, part.monomial, names: names)
                // r_tb = T_tb/data_b: the share of the SM-defined histosys difference that term t carries (C1).
                let ratio: [Double] = part.monomial == .one && !Self.isMorphed(sample)
                    ? [Double](repeating: 1, count: n)
                    : (0 ..< n).map { b in sample.data[b] != 0 ? part.contents[b] / sample.data[b] : (part.monomial == .one ? 1 : 0) }
                var modifiers: [JSON] = []
                if part.monomial != .one {
                    modifiers.append(.object(JSONObject([("name", .string(functions[part.monomial]!)), ("type", .string("custom"))])))
                }
                var errors: [Double]? = nil
                for modifier in sample.modifiers {
                    switch (modifier.kind, modifier.payload) {
                    case (.normfactor, _):
                        modifiers.append(.object(JSONObject([("name", .string(modifier.name)), ("type", .string("normfactor"))])))
                    case (.lumi, _):
                        modifiers.append(.object(JSONObject([("name", .string(modifier.name)), ("type", .string("normfactor")), ("constraint_name", .string(modifier.name + "Constraint"))])))
                    case (.normsys, .factors(let hi, let lo)):
                        modifiers.append(.object(JSONObject([("name", .string(modifier.name)), ("type", .string("normsys")), ("parameter", .string(modifier.name)),
                                                             ("data", .object(JSONObject([("hi", .number(hi)), ("lo", .number(lo))])))])))
                    case (.histosys, .templates(let hi, let lo)):
                        let shifted: ([Double]) -> JSON = { t in
                            .object(JSONObject([("contents", .numbers((0 ..< n).map { b in part.contents[b] + ratio[b] * (t[b] - sample.data[b]) }))]))
                        }
                        modifiers.append(.object(JSONObject([("name", .string(modifier.name)), ("type", .string("histosys")), ("parameter", .string(modifier.name)),
                                                             ("data", .object(JSONObject([("hi", shifted(hi)), ("lo", shifted(lo))])))])))
                    case (.shapesys, .uncertainties(let delta)):
                        let gammas = JSON.array((0 ..< n).map { .string(Self.hs3Gamma(modifier.name, $0)) })
                        if part.monomial == .one {
                            // Relative widths δ/ν⁰; ROOT's Poisson τ = 1/width² = (ν⁰/δ)², pyhf's τ (H §6).
                            let vals = (0 ..< n).map { b in sample.data[b] > 0 && delta[b] > 0 ? delta[b] / sample.data[b] : 0 }
                            modifiers.append(.object(JSONObject([("name", .string(modifier.name)), ("type", .string("shapesys")), ("constraint_type", .string("Poisson")),
                                                                 ("parameters", gammas), ("data", .object(JSONObject([("vals", .numbers(vals))])))])))
                        } else {
                            modifiers.append(.object(JSONObject([("name", .string(modifier.name + "__" + hs3Name)), ("type", .string("shapefactor")), ("parameters", gammas)])))
                        }
                    case (.shapefactor, _):
                        let gammas = JSON.array((0 ..< n).map { .string(Self.hs3Gamma(modifier.name, $0)) })
                        modifiers.append(.object(JSONObject([("name", .string(modifier.name + "__" + hs3Name)), ("type", .string("shapefactor")), ("parameters", gammas)])))
                    case (.staterror, .uncertainties(let delta)):
                        let offset = staterrorOffset[modifier.name]?[channel.name] ?? 0
                        modifiers.append(.object(JSONObject([("name", .string(modifier.name)), ("type", .string("staterror")),
                                                             ("parameters", .array((0 ..< n).map { .string(Self.hs3Gamma(modifier.name, offset + $0)) }))])))
                        // ROOT reads an error of 0 as "no error given" and then takes the bin's weight as its
                        // sum of squares (Poisson counts); 1e-200 squares to exactly 0.
                        errors = (0 ..< n).map { b in
                            let e = part.monomial == .one ? delta[b] * scale[b] : 0
                            return e == 0 ? Self.hs3ZeroError : e
                        }
                    default:
                        continue
                    }
                }
                var data = JSONObject([("contents", .numbers(part.contents))])
                if let errors { data["errors"] = .numbers(errors) }
                samplesJSON.append(.object(JSONObject([("name", .string(hs3Name)), ("data", .object(data)), ("modifiers", .array(modifiers))])))
            }
            var dist = JSONObject([("name", .string(channel.name)), ("type", .string("histfactory_dist")), ("axes", axes)])
            if !staterrors.isEmpty {
                // pyhf's staterror constraint is Gaussian (H §5); ROOT's default would be Poisson.
                dist["staterror"] = .object(JSONObject([("constraint_type", .string("Gauss")), ("relThreshold", .number(0))]))
            }
            dist["samples"] = .array(samplesJSON)
            distributions.append(.object(dist))
            let observed = observations.first { $0.name == channel.name }?.data ?? []
            dataList.append(.object(JSONObject([("name", .string("obsData_" + channel.name)), ("type", .string("binned")), ("axes", axes), ("contents", .numbers(observed))])))
        }

        // Parameters: domains (bounds), parameter points (inits, fixed), names.
        var domainAxes: [JSON] = []
        var pointEntries: [JSON] = []
        for set in model.parameterSets {
            for k in 0 ..< set.count {
                let pyhfName = set.parameterNames[k]
                let name = set.isScalar ? set.name : Self.hs3Gamma(set.name, k)
                rootName[pyhfName] = name
                domainAxes.append(.object(JSONObject([("name", .string(name)), ("min", .number(set.bounds[k].lowerBound)), ("max", .number(set.bounds[k].upperBound))])))
                var point = JSONObject([("name", .string(name)), ("value", .number(set.inits[k]))])
                if set.fixed[k] { point["const"] = .bool(true) }
                pointEntries.append(.object(point))
            }
            if set.modifierKinds.first == Modifier.Kind.lumi, case .normal(let sigmas) = set.constraint {
                // pyhf's lumi: Gauss(a | λ, σ) with a and σ from the measurement (H §2).
                pointEntries.append(.object(JSONObject([("name", .string("nominal_" + set.name)), ("value", .number(set.auxdata[0])), ("const", .bool(true))])))
                distributions.append(.object(JSONObject([("name", .string(set.name + "Constraint")), ("type", .string("gaussian_dist")), ("x", .string(set.name)),
                                                         ("mean", .string("nominal_" + set.name)), ("sigma", .number(sigmas[0]))])))
            }
        }

        let functionsJSON = functionOrder.map { m -> JSON in
            .object(JSONObject([("name", .string(functions[m]!)), ("type", .string("product")),
                                ("factors", .array(m.factors.flatMap { Array(repeating: JSON.string(names[$0.coefficient]), count: $0.power) }))]))
        }
        if !morphed.isEmpty {
            differences.append("MC statistics of morphed templates: HS3 carries the staterror width at the Standard Model, σ_b(0) (H (S1)), as a static Gaussian width; efthf's width σ_b(c) follows the point (Specs/eft-extension.md §8.2, (S2)). Where γ_b = 1 the likelihoods agree; elsewhere they differ by (1 − γ_b)²/2 · (1/σ_b(0)² − 1/σ_b(c)²) per bin. The exact variance polynomial is under misc.efthf.morphing[*].variance.")
            differences.append("Negative yields: HS3 holds the raw polynomial of each morphed sample (no negative_yields policy: no error, no clip); ROOT evaluates negative samples and refuses negative bin totals in its own way.")
        }
        differences.append("histosys: ROOT's PiecewiseInterpolation clamps each HS3 sample's interpolated yield at 0 (positive definite); pyhf does not. This differs only where a sample with a histosys is negative in a bin.")

        let pointJSON = JSON.array([.object(JSONObject([("name", .string("default_values")), ("parameters", .array(pointEntries))]))])
        let likelihoodName = "efthf_" + model.measurementName
        var analysis = JSONObject([("name", .string(model.measurementName)), ("likelihood", .string(likelihoodName))])
        if let poi = model.poiName { analysis["parameters_of_interest"] = .array([.string(poi)]) }
        analysis["domains"] = .array([.string("default_domain")])

        var efthf = JSONObject([
            ("format", .string("efthf HS3 export, Specs/hs3.md")),
            ("source_version", .string(version)),
            ("measurement", .string(model.measurementName)),
            ("parameter_names", .object(JSONObject(model.parameterNames.map { ($0, JSON.string(rootName[$0]!)) }))),
            ("staterror", .object(JSONObject(staterrorOffset.keys.sorted().map { ($0, JSON.array(staterrorOffset[$0]!.keys.sorted().map { JSON.string($0) })) }))),
            ("wilson_coefficients", .array(names.map { .string($0) })),
            ("differences", .array(differences.map { .string($0) })),
        ])
        if !morphed.isEmpty { efthf["morphing"] = .array(morphed) }
        if let file { efthf["workspace"] = .string(file) }
        var tool = JSONObject([("name", .string("efthf"))])
        if let toolVersion { tool["version"] = .string(toolVersion) }
        var root = JSONObject([
            ("metadata", .object(JSONObject([
                ("hs3_version", .string(Self.hs3Version)), ("packages", .array([.object(tool)])),
                ("description", .string("efthf export (Specs/hs3.md): the likelihood of \(file ?? "a workspace") (measurement \(model.measurementName)) with the Wilson coefficients free; "
                    + (morphed.isEmpty ? "exact; " : "exact where every staterror gamma of a morphed bin is 1; ")
                    + "what HS3 does not express is listed in misc.efthf.differences")),
            ]))),
            ("distributions", .array(distributions)),
        ])
        if !functionsJSON.isEmpty { root["functions"] = .array(functionsJSON) }
        root["data"] = .array(dataList)
        root["domains"] = .array([.object(JSONObject([("name", .string("default_domain")), ("type", .string("product_domain")), ("axes", .array(domainAxes))]))])
        root["parameter_points"] = pointJSON
        root["likelihoods"] = .array([.object(JSONObject([("name", .string(likelihoodName)),
                                                          ("distributions", .array(sortedChannels.map { .string($0.name) })),
                                                          ("data", .array(sortedChannels.map { .string("obsData_" + $0.name) }))]))])
        root["analyses"] = .array([.object(analysis)])
        root["misc"] = .object(JSONObject([("efthf", .object(efthf))]))
        return .object(root)
    }

    /// What HS3 cannot hold about one morphed sample: its policy and the exact MC variance of its
    /// expanded polynomial as pairs of its terms (Specs/eft-extension.md §15, "variance").
    func hs3MorphedRecord(channel: String, sample: Sample, polynomial: SamplePolynomial, names: [String]) throws(HistFactoryError) -> JSON {
        let morphing = sample.modifiers.compactMap { $0.dependent as? MorphingModifier }
        var record = JSONObject([("channel", .string(channel)), ("sample", .string(sample.name)),
                                 ("modifier", .string(sample.modifiers.first { $0.dependent is MorphingModifier }!.name)),
                                 ("negative_yields", .string(morphing.first?.negativeYields.rawValue ?? "error"))])
        let hasVariance = morphing.contains { $0.templates.monteCarloVariance != nil }
        if hasVariance, let variance = polynomial.variance {
            // Only the terms the export writes (the SM term and the non-zero templates) can be named.
            let terms = (0 ..< polynomial.yield.termCount).filter { t in
                polynomial.yield.monomials[t] == .one || polynomial.yield.template(ofTerm: t).contains { $0 != 0 }
            }.map { polynomial.yield.monomials[$0] }
            var pairs: [JSON] = []
            for v in 0 ..< variance.termCount {
                let target = variance.monomials[v], w = variance.template(ofTerm: v)
                guard w.contains(where: { $0 != 0 }) else { continue }
                var found: (Monomial, Monomial)? = nil
                search: for (i, a) in terms.enumerated() {
                    for b in terms[i...] where a * b == target { found = (a, b); break search }
                }
                guard let (a, b) = found else {
                    throw HistFactoryError(.operation, "channel \"\(channel)\" sample \"\(sample.name)\": the MC-variance monomial \(target.description(names: names)) is not a product of two yield terms, so it cannot be written as variance pairs")
                }
                pairs.append(.object(JSONObject([("pair", .array([hs3Powers(a, names: names), hs3Powers(b, names: names)])), ("data", .numbers(w))])))
            }
            record["variance"] = .array(pairs)
        }
        return .object(record)
    }

    func hs3Powers(_ m: Monomial, names: [String]) -> JSON {
        .object(JSONObject(m.factors.map { (names[$0.coefficient], JSON.integer(Int64($0.power))) }))
    }
}

extension Workspace {
    /// The workspace an HS3 file describes (Specs/hs3.md, "Import"): what efthf's ``hs3(measurement:toolVersion:)``
    /// writes, and HistFactory HS3 files of the same shape (one `histfactory_dist` per channel, the
    /// modifier types of pyhf, `custom` modifiers naming `product` functions of free parameters).
    ///
    /// Samples with a `custom` monomial modifier are the terms of a morphed sample: the HS3 sample
    /// `S__<tag>` is term `<tag>` of sample `S`, and they are gathered into one absolute-form
    /// `morphing` modifier on `S` whose SM term is `S`'s contents; the MC variance and negative-yield
    /// policy come from `misc.efthf.morphing` when present (else the morphed sample has no MC variance
    /// of its own and the policy is "error"). staterror δ are recovered from the `errors` by undoing
    /// the export's scaling (√Σδ²/Σdata = √Σerrors²/Σcontents per bin). Parameter names are mapped back
    /// with `misc.efthf.parameter_names` (else `gamma_<name>_bin_<k>` is component k of `name`).
    ///
    /// - Throws: ``HistFactoryError`` for an element outside that shape, naming it.
    public init(hs3 json: JSON, file: String? = nil) throws(HistFactoryError) {
        func fail(_ message: String) -> HistFactoryError { HistFactoryError(.schema, "HS3: " + message, file: file) }
        guard case .object(let root) = json, case .array(let distributions)? = root["distributions"] else { throw fail("no distributions array") }
        let efthf = root["misc"]?["efthf"]?.objectValue
        // HS3 parameter name → pyhf component name.
        var pyhfName: [String: String] = [:]
        if let map = efthf?["parameter_names"]?.objectValue { for (k, v) in map.pairs { if let v = v.stringValue { pyhfName[v] = k } } }
        func setName(ofGamma gamma: String) -> String {
            if let p = pyhfName[gamma], let open = p.firstIndex(of: "[") { return String(p[..<open]) }
            if gamma.hasPrefix("gamma_"), let r = gamma.range(of: "_bin_", options: .backwards) { return String(gamma[gamma.index(gamma.startIndex, offsetBy: 6) ..< r.lowerBound]) }
            return gamma
        }
        // ROOT's own files (Specs/hs3.md §3.1): channels are `model_<channel>`, a normsys/histosys
        // `X` acts on the parameter `alpha_X`, and there is one analysis per data set.
        let writtenByROOT = root["metadata"]?["packages"]?.arrayValue?.contains { $0["name"]?.stringValue == "ROOT" } ?? false
        for dist in distributions where dist["type"]?.stringValue == "histfactory_dist" {
            for s in dist["samples"]?.arrayValue ?? [] {
                for m in s["modifiers"]?.arrayValue ?? [] {
                    guard let type = m["type"]?.stringValue, type == "normsys" || type == "histosys",
                          let name = m["name"]?.stringValue, let parameter = m["parameter"]?.stringValue,
                          parameter == "alpha_" + name, pyhfName[parameter] == nil else { continue }
                    pyhfName[parameter] = name
                }
            }
        }
        func scalarName(_ name: String) -> String { pyhfName[name] ?? name }
        func channelName(_ name: String) -> String {
            writtenByROOT && name.hasPrefix("model_") && name.count > 6 ? String(name.dropFirst(6)) : name
        }
        // The analysis of the observed data (ROOT writes one for asimovData too), else the first.
        let analyses = root["analyses"]?.arrayValue ?? []
        let analysis = analyses.first { $0["name"]?.stringValue?.contains("obsData") ?? false } ?? analyses.first
        let likelihoods = root["likelihoods"]?.arrayValue ?? []
        let likelihood = likelihoods.first { $0["name"]?.stringValue == analysis?["likelihood"]?.stringValue } ?? likelihoods.first
        // Parameters fixed by the file: ROOT makes a staterror γ constant below its relative threshold.
        var constant = Set<String>()
        for p in root["parameter_points"]?.arrayValue?.first?["parameters"]?.arrayValue ?? [] where p["const"]?.boolValue == true {
            if let name = p["name"]?.stringValue { constant.insert(name) }
        }

        var monomials: [String: [(String, Int)]] = [:]
        // HS3 names of the scalar parameters that the functions and modifiers use.
        var referenced = Set<String>()
        for f in root["functions"]?.arrayValue ?? [] {
            guard let name = f["name"]?.stringValue else { continue }
            guard f["type"]?.stringValue == "product", let factors = f["factors"]?.arrayValue?.compactMap(\.stringValue) else {
                throw fail("function \"\(name)\" is not a product of parameters (only those are read as monomials)")
            }
            var powers: [(String, Int)] = []
            referenced.formUnion(factors)
            for c in factors.map(scalarName) {
                if let i = powers.firstIndex(where: { $0.0 == c }) { powers[i].1 += 1 } else { powers.append((c, 1)) }
            }
            monomials[name] = powers
        }
        var gaussians: [String: JSONObject] = [:]
        for d in distributions where d["type"]?.stringValue == "gaussian_dist" {
            if let o = d.objectValue, let name = o["name"]?.stringValue { gaussians[name] = o }
        }
        var values: [String: (value: Double, const: Bool)] = [:]
        for p in root["parameter_points"]?.arrayValue?.first?["parameters"]?.arrayValue ?? [] {
            if let name = p["name"]?.stringValue, let v = p["value"]?.doubleValue { values[name] = (v, p["const"]?.boolValue ?? false) }
        }
        var records: [String: JSONObject] = [:]
        for r in efthf?["morphing"]?.arrayValue ?? [] {
            if let o = r.objectValue, let c = o["channel"]?.stringValue, let s = o["sample"]?.stringValue { records[c + "/" + s] = o }
        }

        var lumi: (name: String, aux: Double, sigma: Double)? = nil
        var channelsJSON: [JSON] = []
        var channelNames: [String] = []
        var distributionNames: [String] = []
        var anyMorphing = false
        for dist in distributions where dist["type"]?.stringValue == "histfactory_dist" {
            guard let distName = dist["name"]?.stringValue, let samples = dist["samples"]?.arrayValue else { throw fail("a histfactory_dist without name or samples") }
            let channel = channelName(distName)
            distributionNames.append(distName)
            channelNames.append(channel)
            struct HS3Sample { var name: String; var contents: [Double]; var errors: [Double]?; var modifiers: [JSON]; var function: String? }
            var list: [HS3Sample] = []
            for s in samples {
                guard let name = s["name"]?.stringValue, let contents = s["data"]?["contents"]?.arrayValue?.compactMap(\.doubleValue) else {
                    throw fail("channel \"\(channel)\": a sample without name or data.contents")
                }
                let modifiers = s["modifiers"]?.arrayValue ?? []
                let custom = modifiers.filter { $0["type"]?.stringValue == "custom" }.compactMap { $0["name"]?.stringValue }
                guard custom.count <= 1 else { throw fail("channel \"\(channel)\" sample \"\(name)\": more than one custom modifier") }
                if let f = custom.first, monomials[f] == nil { throw fail("channel \"\(channel)\" sample \"\(name)\": custom modifier \"\(f)\" names no product function") }
                list.append(HS3Sample(name: name, contents: contents, errors: s["data"]?["errors"]?.arrayValue?.compactMap(\.doubleValue), modifiers: modifiers, function: custom.first))
            }
            let n = list.first?.contents.count ?? 0
            // The base of a term sample: `S__<tag>` → `S` when S is a sample of the channel.
            func base(of s: HS3Sample) -> String {
                guard let f = s.function, let powers = monomials[f] else { return s.name }
                let tag = powers.flatMap { Array(repeating: $0.0, count: $0.1) }.joined(separator: "_")
                let suffix = "__" + tag
                if s.name.hasSuffix(suffix) {
                    let b = String(s.name.dropLast(suffix.count))
                    if list.contains(where: { $0.name == b && $0.function == nil }) { return b }
                }
                return s.name
            }
            // Undo the export's staterror scaling: errors = δ·S_b/D_b.
            let carries: (HS3Sample) -> Bool = { s in s.modifiers.contains { $0["type"]?.stringValue == "staterror" } }
            var scale = [Double](repeating: 1, count: n)
            var sumContents = [Double](repeating: 0, count: n), sumBase = [Double](repeating: 0, count: n)
            for s in list where carries(s) {
                for b in 0 ..< n { sumContents[b] += s.contents[b]; if s.function == nil { sumBase[b] += s.contents[b] } }
            }
            for b in 0 ..< n where sumBase[b] > 0 && sumContents[b] > 0 && sumBase[b] != sumContents[b] { scale[b] = sumContents[b] / sumBase[b] }
            // The staterror constraint: the channel's `staterror.constraint_type` (what ROOT reads),
            // else the modifiers' (what ROOT writes), else ROOT's default, Poisson. A Poisson staterror
            // carried by one sample is pyhf's shapesys exactly (τ_b = 1/σ_b², H §6); carried by several
            // it has no pyhf form and is read as pyhf's Gaussian staterror of the same width σ_b.
            let staterrorCarriers = list.filter { s in s.function == nil && carries(s) }
            let staterrorType = dist["staterror"]?["constraint_type"]?.stringValue
                ?? staterrorCarriers.lazy.compactMap { s in s.modifiers.first { $0["type"]?.stringValue == "staterror" }?["constraint_type"]?.stringValue }.first
                ?? "Poisson"
            guard staterrorType == "Gauss" || staterrorType == "Gaussian" || staterrorType == "Poisson" else {
                throw fail("channel \"\(channel)\": staterror constraint_type \"\(staterrorType)\" is neither Gauss nor Poisson")
            }
            let poissonShapesys = staterrorType == "Poisson" && staterrorCarriers.count == 1

            var samplesJSON: [JSON] = []
            var baseNames: [String] = []
            for s in list where s.function == nil || base(of: s) == s.name {
                if !baseNames.contains(s.name) { baseNames.append(s.name) }
            }
            for name in baseNames {
                let baseSample = list.first { $0.name == name && $0.function == nil }
                let terms = list.filter { $0.function != nil && base(of: $0) == name }
                let own = baseSample ?? terms[0]
                // A term sample repeats its SM sample's modifiers (shapesys/shapefactor as shapefactors on
                // the same γ's); anything else would be a different model, which this reader does not build.
                func signature(_ s: HS3Sample) -> [String] {
                    s.modifiers.compactMap { m -> String? in
                        guard let type = m["type"]?.stringValue, type != "custom" else { return nil }
                        if type == "shapesys" || type == "shapefactor" { return "gamma:" + (m["parameters"]?.serialized() ?? "") }
                        return type + ":" + (m["parameter"]?.stringValue ?? m["name"]?.stringValue ?? "")
                    }.sorted()
                }
                for t in terms where baseSample != nil && signature(t) != signature(own) {
                    throw fail("channel \"\(channel)\" sample \"\(t.name)\": a term of \"\(name)\" whose modifiers differ from \"\(name)\"'s (\(signature(t).joined(separator: ", ")) vs \(signature(own).joined(separator: ", ")))")
                }
                let contents = baseSample?.contents ?? [Double](repeating: 0, count: n)
                var modifiers: [JSON] = []
                for m in own.modifiers {
                    guard let type = m["type"]?.stringValue else { continue }
                    let mname = m["name"]?.stringValue ?? m["parameter"]?.stringValue ?? ""
                    if ["normfactor", "normsys", "histosys"].contains(type) { referenced.insert(m["parameter"]?.stringValue ?? mname) }
                    let parameter = scalarName(m["parameter"]?.stringValue ?? mname)
                    switch type {
                    case "custom":
                        continue
                    case "normfactor":
                        if let c = m["constraint_name"]?.stringValue {
                            let x = gaussians[c]?["x"]?.stringValue ?? ""
                            guard let g = gaussians[c], x == (m["parameter"]?.stringValue ?? mname), let sigma = g["sigma"]?.doubleValue else {
                                throw fail("channel \"\(channel)\" sample \"\(name)\": normfactor \"\(mname)\" names constraint \"\(c)\", which is not a gaussian_dist on its parameter (pyhf's lumi)")
                            }
                            let meanName = g["mean"]?.stringValue ?? ""
                            let aux = g["mean"]?.doubleValue ?? values[meanName]?.value ?? 1
                            // pyhf's lumi modifier is always named "lumi" (ROOT's is "Lumi").
                            if pyhfName[x] == nil && x != "lumi" { pyhfName[x] = "lumi" }
                            if let lumi, lumi.name != scalarName(x) {
                                throw fail("channel \"\(channel)\" sample \"\(name)\": a second luminosity parameter \"\(x)\" (pyhf has one lumi, \"\(lumi.name)\")")
                            }
                            lumi = (scalarName(x), aux, sigma)
                            modifiers.append(.object(JSONObject([("name", .string("lumi")), ("type", .string("lumi")), ("data", .null)])))
                        } else {
                            modifiers.append(.object(JSONObject([("name", .string(scalarName(mname))), ("type", .string("normfactor")), ("data", .null)])))
                        }
                    case "normsys":
                        // ROOT 6.40 writes FlexibleInterpVar's code 5 (6th-order polynomial, exponential
                        // extrapolation), which is pyhf's code4; no field is ROOT's reader's default, the same.
                        if let code = m["interpolation"], code.doubleValue != 5 {
                            throw fail("channel \"\(channel)\" sample \"\(name)\": normsys \"\(mname)\" has interpolation \(code.serialized()); only 5 (pyhf's code4) is read")
                        }
                        guard let hi = m["data"]?["hi"]?.doubleValue, let lo = m["data"]?["lo"]?.doubleValue else { throw fail("normsys \"\(mname)\" without data.hi/lo") }
                        modifiers.append(.object(JSONObject([("name", .string(parameter)), ("type", .string("normsys")), ("data", .object(JSONObject([("hi", .number(hi)), ("lo", .number(lo))])))])))
                    case "histosys":
                        // PiecewiseInterpolation code 4 (the default) is pyhf's code4p.
                        if let code = m["interpolation"], code.doubleValue != 4 {
                            throw fail("channel \"\(channel)\" sample \"\(name)\": histosys \"\(mname)\" has interpolation \(code.serialized()); only 4 (pyhf's code4p) is read")
                        }
                        guard let hi = m["data"]?["hi"]?["contents"]?.arrayValue?.compactMap(\.doubleValue),
                              let lo = m["data"]?["lo"]?["contents"]?.arrayValue?.compactMap(\.doubleValue) else { throw fail("histosys \"\(mname)\" without data.hi/lo.contents") }
                        // On a morphed sample the SM sample's templates are the pyhf ones (C1).
                        modifiers.append(.object(JSONObject([("name", .string(parameter)), ("type", .string("histosys")),
                                                             ("data", .object(JSONObject([("hi_data", .numbers(hi)), ("lo_data", .numbers(lo))])))])))
                    case "shapesys":
                        if let type = m["constraint_type"]?.stringValue, type != "Poisson" {
                            throw fail("channel \"\(channel)\" sample \"\(name)\": shapesys \"\(mname)\" has constraint_type \"\(type)\"; pyhf's shapesys is Poisson-constrained")
                        }
                        guard let vals = m["data"]?["vals"]?.arrayValue?.compactMap(\.doubleValue), vals.count == n else { throw fail("shapesys \"\(mname)\" without data.vals") }
                        let gammas = m["parameters"]?.arrayValue?.compactMap(\.stringValue) ?? []
                        let set = gammas.first.map(setName(ofGamma:)) ?? mname
                        modifiers.append(.object(JSONObject([("name", .string(set)), ("type", .string("shapesys")), ("data", .numbers((0 ..< n).map { vals[$0] * contents[$0] }))])))
                    case "shapefactor":
                        let gammas = m["parameters"]?.arrayValue?.compactMap(\.stringValue) ?? []
                        let set = gammas.first.map(setName(ofGamma:)) ?? mname
                        modifiers.append(.object(JSONObject([("name", .string(set)), ("type", .string("shapefactor")), ("data", .null)])))
                    case "staterror":
                        let gammas = m["parameters"]?.arrayValue?.compactMap(\.stringValue) ?? []
                        let set = gammas.first.map(setName(ofGamma:)) ?? "staterror_" + channel
                        let errors = baseSample?.errors ?? [Double](repeating: 0, count: n)
                        guard errors.count == n else { throw fail("channel \"\(channel)\" sample \"\(name)\": staterror needs data.errors") }
                        // A γ the file holds constant (ROOT: relative error below its threshold) is pyhf's
                        // frozen component, δ = 0 (H §5).
                        let delta = (0 ..< n).map { b in
                            abs(errors[b]) <= Self.hs3ZeroErrorThreshold || (b < gammas.count && constant.contains(gammas[b])) ? 0 : errors[b] / scale[b]
                        }
                        modifiers.append(.object(JSONObject([("name", .string(set)), ("type", .string(poissonShapesys ? "shapesys" : "staterror")), ("data", .numbers(delta))])))
                    default:
                        throw fail("channel \"\(channel)\" sample \"\(name)\": modifier \"\(mname)\" of type \"\(type)\" is not read")
                    }
                }
                if !terms.isEmpty {
                    anyMorphing = true
                    let record = records[channel + "/" + name]
                    var coefficients: [String] = []
                    var termsJSON: [JSON] = [.object(JSONObject([("powers", .object(JSONObject())), ("data", .numbers(contents))]))]
                    for t in terms {
                        let powers = monomials[t.function!]!
                        for (c, _) in powers where !coefficients.contains(c) { coefficients.append(c) }
                        termsJSON.append(.object(JSONObject([("powers", .object(JSONObject(powers.map { ($0.0, JSON.integer(Int64($0.1))) }))), ("data", .numbers(t.contents))])))
                    }
                    var data = JSONObject([("coefficients", .array(coefficients.map { .string($0) })), ("form", .string("absolute")), ("terms", .array(termsJSON))])
                    if let v = record?["variance"] { data["variance"] = v }
                    data["negative_yields"] = record?["negative_yields"] ?? .string("error")
                    modifiers.insert(.object(JSONObject([("name", record?["modifier"] ?? .string("efthf_morphing")), ("type", .string("morphing")), ("data", .object(data))])), at: 0)
                }
                samplesJSON.append(.object(JSONObject([("name", .string(name)), ("data", .numbers(contents)), ("modifiers", .array(modifiers))])))
            }
            channelsJSON.append(.object(JSONObject([("name", .string(channel)), ("samples", .array(samplesJSON))])))
        }

        // Observations: the likelihood pairs distributions with data.
        var dataByName: [String: [Double]] = [:]
        for d in root["data"]?.arrayValue ?? [] {
            if let name = d["name"]?.stringValue, let c = d["contents"]?.arrayValue?.compactMap(\.doubleValue) { dataByName[name] = c }
        }
        let likelihoodDistributions = likelihood?["distributions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let likelihoodData = likelihood?["data"]?.arrayValue?.compactMap(\.stringValue) ?? []
        var observations: [JSON] = []
        for (channel, distName) in zip(channelNames, distributionNames) {
            guard let i = likelihoodDistributions.firstIndex(of: distName), i < likelihoodData.count, let d = dataByName[likelihoodData[i]] else {
                throw fail("the likelihood gives no data for channel \"\(channel)\"")
            }
            observations.append(.object(JSONObject([("name", .string(channel)), ("data", .numbers(d))])))
        }

        // Measurement: the analysis's POI, scalar parameters' bounds, inits and fixed flags.
        let measurementName = efthf?["measurement"]?.stringValue ?? analysis?["name"]?.stringValue ?? "measurement"
        let poi = analysis?["parameters_of_interest"]?.arrayValue?.first?.stringValue.map(scalarName) ?? ""
        var parameters: [JSON] = []
        var lumiWritten = false
        // The analysis's domains (ROOT: nuisance parameters, global observables, POIs), else the first;
        // only parameters of the model are configured (not global observables or observables).
        let domainNames = analysis?["domains"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let allDomains = root["domains"]?.arrayValue ?? []
        let domains = domainNames.isEmpty ? Array(allDomains.prefix(1)) : allDomains.filter { domainNames.contains($0["name"]?.stringValue ?? "") }
        var configured = Set<String>()
        for axis in domains.flatMap({ $0["axes"]?.arrayValue ?? [] }) {
            guard let hs3Name = axis["name"]?.stringValue, let lower = axis["min"]?.doubleValue, let upper = axis["max"]?.doubleValue else { continue }
            guard referenced.contains(hs3Name), configured.insert(hs3Name).inserted else { continue }
            let name = scalarName(hs3Name)
            if name.contains("[") || (pyhfName[hs3Name] == nil && hs3Name.hasPrefix("gamma_") && hs3Name.contains("_bin_")) { continue }
            var config = JSONObject([("name", .string(name)), ("bounds", .array([.numbers([lower, upper])]))])
            if let v = values[hs3Name] {
                config["inits"] = .numbers([v.value])
                if v.const { config["fixed"] = .bool(true) }
            }
            if let lumi, name == lumi.name {
                config["auxdata"] = .numbers([lumi.aux])
                config["sigmas"] = .numbers([lumi.sigma])
                lumiWritten = true
            }
            parameters.append(.object(config))
        }
        if let lumi, !lumiWritten {
            parameters.append(.object(JSONObject([("name", .string(lumi.name)), ("auxdata", .numbers([lumi.aux])), ("sigmas", .numbers([lumi.sigma]))])))
        }
        let measurement = JSONObject([("name", .string(measurementName)), ("config", .object(JSONObject([("poi", .string(poi)), ("parameters", .array(parameters))])))])
        let workspace = JSONObject([
            ("channels", .array(channelsJSON)), ("observations", .array(observations)), ("measurements", .array([.object(measurement)])),
            ("version", .string(anyMorphing ? WorkspaceVersion.efthfExtended : WorkspaceVersion.pyhf)),
        ])
        try self.init(json: .object(workspace), file: file, modifiers: .efthf)
    }
}
