import EFTJSON
import EFTModifiers
import Foundation
import HistFactory
import Inference
import Morphing

/// One validator finding: its kind (for grouping and JSON) and a sentence for people.
public struct InspectionWarning: Sendable, Equatable, Codable {
    /// A kind of finding: a struct with static members, so that checks can be added.
    public struct Kind: RawRepresentable, Hashable, Sendable, Codable {
        public let rawValue: String
        /// The heading of the kind's group in `efthf inspect`'s text.
        public let heading: String

        public init(rawValue: String) {
            self.rawValue = rawValue
            heading = Kind.all.first { $0.rawValue == rawValue }?.heading ?? rawValue
        }

        init(_ rawValue: String, _ heading: String) {
            self.rawValue = rawValue
            self.heading = heading
        }

        public init(from decoder: any Decoder) throws { self.init(rawValue: try decoder.singleValueContainer().decode(String.self)) }
        public func encode(to encoder: any Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(rawValue) }
        public static func == (a: Kind, b: Kind) -> Bool { a.rawValue == b.rawValue }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

        public static let lumiDuplicate = Kind("lumi_duplicate", "normsys duplicating lumi")
        public static let fixedParameter = Kind("fixed_parameter", "parameters fixed that usually float")
        public static let inconsistentSystematic = Kind("inconsistent_systematic", "systematics present in some channels only")
        public static let nonPositiveYield = Kind("non_positive_yield", "bins with zero or negative expected yield")
        public static let largeStatError = Kind("large_mc_stat_uncertainty", "MC-statistical uncertainties above 100%")
        public static let negativeInterference = Kind("negative_interference", "negative SM + interference yields inside the coefficient bounds")
        /// Every kind, in the order of the report.
        public static let all: [Kind] = [.lumiDuplicate, .fixedParameter, .inconsistentSystematic, .nonPositiveYield, .largeStatError, .negativeInterference]
    }

    public let kind: Kind
    public let message: String
}

/// The lint of a workspace (`efthf inspect`, the explorer's summary): its structure and warnings.
public struct InspectTask: Sendable, Codable, Equatable {
    public init() {}

    public func run(on loaded: LoadedModel) -> WorkspaceInspection {
        WorkspaceInspection(workspace: loaded.workspace, model: loaded.model)
    }
}

/// The WorkspaceExplorer view of a workspace (seed 000) as data: structure and warnings.
public struct WorkspaceInspection: Sendable {
    public let workspace: Workspace
    public let model: HistFactoryModel
    public let measurement: HistFactory.Measurement
    public let warnings: [InspectionWarning]

    public init(workspace: Workspace, model: HistFactoryModel) {
        self.workspace = workspace
        self.model = model
        measurement = workspace.measurements.first { $0.name == model.measurementName } ?? workspace.measurements[0]
        warnings = Self.lumiDuplicates(workspace) + Self.fixedParameters(model, measurement) + Self.inconsistentSystematics(workspace)
            + Self.nonPositiveYields(workspace) + Self.largeStatErrors(workspace) + Self.negativeInterference(workspace, model)
    }

    // MARK: Checks

    /// A normsys named like the luminosity on a sample that has lumi, or a normsys with the same
    /// hi/lo on every sample that has lumi (the pattern of seed 000's first example).
    static func lumiDuplicates(_ ws: Workspace) -> [InspectionWarning] {
        var lumiSamples = Set<String>()
        var normsys: [String: [(key: String, hi: Double, lo: Double)]] = [:]
        var found: [InspectionWarning] = []
        for channel in ws.channels {
            for sample in channel.samples {
                let key = "\(channel.name)/\(sample.name)"
                let hasLumi = sample.modifiers.contains { $0.kind == .lumi }
                if hasLumi { lumiSamples.insert(key) }
                for m in sample.modifiers where m.kind == .normsys {
                    guard case .factors(let hi, let lo) = m.payload else { continue }
                    normsys[m.name, default: []].append((key, hi, lo))
                    let lower = m.name.lowercased()
                    if hasLumi && (lower.contains("lumi") || lower.contains("luminosity")) {
                        found.append(InspectionWarning(kind: .lumiDuplicate, message: "normsys \"\(m.name)\" (hi \(formatted(hi)), lo \(formatted(lo))) on sample \(sample.name) in \(channel.name) looks like a luminosity uncertainty, but the sample also has the lumi modifier: the luminosity would count twice"))
                    }
                }
            }
        }
        guard lumiSamples.count >= 2 else { return found }
        for (name, entries) in normsys.sorted(by: { $0.key < $1.key }) {
            let keys = Set(entries.map(\.key))
            guard lumiSamples.isSubset(of: keys), let first = entries.first,
                entries.allSatisfy({ $0.hi == first.hi && $0.lo == first.lo }),
                !found.contains(where: { $0.message.hasPrefix("normsys \"\(name)\"") })
            else { continue }
            found.append(InspectionWarning(kind: .lumiDuplicate, message: "normsys \"\(name)\" has the same hi \(formatted(first.hi)) / lo \(formatted(first.lo)) on every one of the \(lumiSamples.count) samples with lumi: it may duplicate the luminosity uncertainty"))
        }
        return found
    }

    /// Parameters the measurement fixes: a POI or normalisation factor (these float in a fit),
    /// or a constrained nuisance parameter (fixing it drops its uncertainty).
    static func fixedParameters(_ model: HistFactoryModel, _ measurement: HistFactory.Measurement) -> [InspectionWarning] {
        measurement.parameters.compactMap { config -> InspectionWarning? in
            guard config.fixed == true, let set = model.parameterSet(named: config.name) else { return nil }
            let kinds = set.modifierKinds.map(\.rawValue).joined(separator: "/")
            let value = set.inits.count == 1 ? " at \(formatted(set.inits[0]))" : ""
            if config.name == measurement.poi {
                return InspectionWarning(kind: .fixedParameter, message: "the POI \(config.name) is fixed\(value) in measurement \(measurement.name): nothing can be measured")
            }
            // A Wilson coefficient fixed at the Standard Model is the usual way to leave an operator out.
            if set.modifierKinds.contains(.morphing) { return nil }
            if set.modifierKinds.contains(.normfactor) || set.modifierKinds.contains(.shapefactor) {
                return InspectionWarning(kind: .fixedParameter, message: "\(kinds) \(config.name) is fixed\(value) in measurement \(measurement.name); normalisation factors usually float")
            }
            return InspectionWarning(kind: .fixedParameter, message: "\(kinds) \(config.name) is fixed\(value) in measurement \(measurement.name); its uncertainty is left out of the fit")
        }
    }

    /// A sample that appears in several channels with a modifier in only some of them
    /// (per-channel types — staterror, shapesys, shapefactor — are exempt).
    static func inconsistentSystematics(_ ws: Workspace) -> [InspectionWarning] {
        var channelsOf: [String: [String]] = [:]
        var modifierChannels: [String: [String: (kind: Modifier.Kind, channels: [String])]] = [:]
        for channel in ws.channels {
            for sample in channel.samples {
                channelsOf[sample.name, default: []].append(channel.name)
                for m in sample.modifiers where ![.staterror, .shapesys, .shapefactor].contains(m.kind) {
                    modifierChannels[sample.name, default: [:]][m.name, default: (m.kind, [])].channels.append(channel.name)
                }
            }
        }
        var found: [InspectionWarning] = []
        for (sample, channels) in channelsOf.sorted(by: { $0.key < $1.key }) where channels.count > 1 {
            for (name, entry) in (modifierChannels[sample] ?? [:]).sorted(by: { $0.key < $1.key }) where entry.channels.count < channels.count {
                let present = Set(entry.channels)
                let missing = channels.filter { !present.contains($0) }
                found.append(InspectionWarning(kind: .inconsistentSystematic, message: "sample \(sample): \(entry.kind.rawValue) \"\(name)\" is in \(list(entry.channels)) but not in \(list(missing))"))
            }
        }
        return found
    }

    /// Bins whose summed nominal yield is zero or negative (the Poisson term is then undefined
    /// or −∞ with observed events).
    static func nonPositiveYields(_ ws: Workspace) -> [InspectionWarning] {
        let observed = Dictionary(ws.observations.map { ($0.name, $0.data) }, uniquingKeysWith: { a, _ in a })
        return ws.channels.flatMap { channel -> [InspectionWarning] in
            (0..<channel.binCount).compactMap { b in
                let total = channel.samples.reduce(0) { $0 + $1.data[b] }
                guard total <= 0 else { return nil }
                let n = observed[channel.name].map { b < $0.count ? " with \(formatted($0[b])) observed" : "" } ?? ""
                return InspectionWarning(kind: .nonPositiveYield, message: "\(channel.name) bin \(b): total expected yield \(formatted(total))\(n)")
            }
        }
    }

    /// staterror: the combined relative uncertainty √(Σδ²)/Σν of the samples sharing it (pyhf's
    /// σ of the γ constraint) above 1; shapesys: a sample's δ/ν above 1.
    static func largeStatErrors(_ ws: Workspace) -> [InspectionWarning] {
        var found: [InspectionWarning] = []
        for channel in ws.channels {
            var groups: [String: (delta2: [Double], nominal: [Double])] = [:]
            var order: [String] = []
            for sample in channel.samples {
                for m in sample.modifiers {
                    guard case .uncertainties(let delta) = m.payload else { continue }
                    if m.kind == .staterror {
                        if groups[m.name] == nil { order.append(m.name) }
                        var g = groups[m.name] ?? (Array(repeating: 0, count: delta.count), Array(repeating: 0, count: delta.count))
                        for b in delta.indices where b < sample.data.count {
                            g.delta2[b] += delta[b] * delta[b]
                            g.nominal[b] += sample.data[b]
                        }
                        groups[m.name] = g
                    } else if m.kind == .shapesys {
                        for b in delta.indices where b < sample.data.count && sample.data[b] > 0 && delta[b] > sample.data[b] {
                            found.append(InspectionWarning(kind: .largeStatError, message: "\(channel.name) bin \(b): shapesys \"\(m.name)\" on \(sample.name) has δ/ν = \(formatted(delta[b] / sample.data[b], 3))"))
                        }
                    }
                }
            }
            for name in order {
                let g = groups[name]!
                for b in g.nominal.indices where g.nominal[b] > 0 {
                    let relative = g.delta2[b].squareRoot() / g.nominal[b]
                    if relative > 1 {
                        found.append(InspectionWarning(kind: .largeStatError, message: "\(channel.name) bin \(b): staterror \"\(name)\" has δ/ν = \(formatted(relative, 3)) (\(formatted(g.delta2[b].squareRoot(), 4)) on \(formatted(g.nominal[b], 4)))"))
                    }
                }
            }
        }
        return found
    }

    /// For each coefficient c_i of a morphing modifier, the SM plus interference (odd-degree)
    /// part of the yield along c_i, others at 0: `ν(0) + (ν(c) − ν(−c))/2`, exactly SM +
    /// linear term for a quadratic morphing. It is linear in c, so checking it at both bounds
    /// covers the whole range.
    static func negativeInterference(_ ws: Workspace, _ model: HistFactoryModel) -> [InspectionWarning] {
        var found: [InspectionWarning] = []
        for channel in ws.channels {
            for sample in channel.samples {
                for m in sample.modifiers {
                    guard let morphing = m.dependent as? MorphingModifier else { continue }
                    let poly = morphing.templates.yields
                    for (i, name) in morphing.coefficients.enumerated() {
                        guard let bounds = model.parameterSet(named: name)?.bounds.first else { continue }
                        for c in [bounds.lowerBound, bounds.upperBound] where c != 0 {
                            var point = [Double](repeating: 0, count: morphing.coefficients.count)
                            let zero = poly.yields(at: point)
                            point[i] = c
                            let plus = poly.yields(at: point)
                            point[i] = -c
                            let minus = poly.yields(at: point)
                            for b in 0..<poly.binCount {
                                let odd = (plus[b] - minus[b]) / 2
                                let value = morphing.form == .relative ? sample.data[b] * (1 + odd) : zero[b] + odd
                                if value < 0 {
                                    found.append(InspectionWarning(kind: .negativeInterference, message: "\(channel.name) bin \(b): sample \(sample.name), morphing \"\(m.name)\": SM + interference yield \(formatted(value, 4)) at \(name) = \(formatted(c)) (bounds [\(formatted(bounds.lowerBound)), \(formatted(bounds.upperBound))]): a linear (SM + interference) truncation would predict a negative yield there"))
                                }
                            }
                        }
                    }
                }
            }
        }
        return found
    }

    // MARK: Output

    private var observedByChannel: [String: [Double]] {
        Dictionary(workspace.observations.map { ($0.name, $0.data) }, uniquingKeysWith: { a, _ in a })
    }

    /// Modifier counts by type, e.g. "histosys×2 normsys staterror".
    private static func modifierSummary(_ modifiers: [Modifier]) -> String {
        let counts = Dictionary(grouping: modifiers, by: \.kind).mapValues(\.count)
        return counts.keys.sorted().map { counts[$0]! == 1 ? $0.rawValue : "\($0.rawValue)×\(counts[$0]!)" }.joined(separator: " ")
    }

    private var normalisationFactors: [ParameterSet] {
        model.parameterSets.filter { $0.modifierKinds.contains(.normfactor) || $0.modifierKinds.contains(.shapefactor) }
    }

    private var morphingModifiers: [(channel: String, sample: String, modifier: Modifier, morphing: MorphingModifier)] {
        workspace.channels.flatMap { c in
            c.samples.flatMap { s in
                s.modifiers.compactMap { m in
                    if let morphing = m.dependent as? MorphingModifier { return (c.name, s.name, m, morphing) }
                    return nil
                }
            }
        }
    }

    /// Parameters counted by the modifier type that defines them.
    private var parameterCounts: [(String, Int)] {
        var counts: [String: Int] = [:]
        for set in model.parameterSets { counts[set.modifierKinds.first?.rawValue ?? "?", default: 0] += set.count }
        return counts.sorted { $0.key < $1.key }
    }

    private func boundsText(_ set: ParameterSet) -> String {
        guard let b = set.bounds.first else { return "" }
        return "[\(formatted(b.lowerBound)), \(formatted(b.upperBound))]"
    }

    /// The summary and warnings for people, at most `maxWarnings` of each kind.
    public func text(file: String, maxWarnings: Int) -> String {
        var out: [String] = []
        let observed = observedByChannel
        out.append("Workspace \(file) (version \(workspace.version))")
        out.append("Measurement \(measurement.name), POI \(measurement.poi.isEmpty ? "none" : measurement.poi)"
            + (workspace.measurements.count > 1 ? "   (also: \(workspace.measurements.map(\.name).filter { $0 != measurement.name }.joined(separator: ", ")))" : ""))
        out.append("")
        out.append("Channels (\(workspace.channels.count)):")
        let width = max(12, workspace.channels.map(\.name.count).max() ?? 0)
        out.append("  " + "channel".padding(toLength: width, withPad: " ", startingAt: 0) + "  bins      observed      expected  samples")
        for c in workspace.channels {
            let obs = observed[c.name]?.reduce(0, +)
            let expected = c.samples.reduce(0) { $0 + $1.data.reduce(0, +) }
            out.append("  " + c.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + pad(String(c.binCount), 4) + "  " + pad(obs.map { formatted($0) } ?? "-", 12) + "  " + pad(formatted(expected), 12) + "  \(c.samples.count)")
        }
        out.append("")
        out.append("Samples per channel (nominal yield; modifiers by type):")
        for c in workspace.channels {
            out.append("  \(c.name)")
            let sw = max(10, c.samples.map(\.name.count).max() ?? 0)
            for s in c.samples {
                out.append("    " + s.name.padding(toLength: sw, withPad: " ", startingAt: 0) + "  " + pad(formatted(s.data.reduce(0, +)), 12) + "  " + Self.modifierSummary(s.modifiers))
            }
        }
        out.append("")
        let nf = normalisationFactors
        out.append("Normalisation factors (\(nf.count)):")
        let nfWidth = nf.map { $0.name.count + ($0.isScalar ? 0 : 2 + String($0.count).count) }.max() ?? 0
        for set in nf {
            let state = set.fixed.allSatisfy { $0 } ? "fixed at \(set.inits.map { formatted($0) }.joined(separator: ", "))" : "floating"
            let poi = set.name == measurement.poi ? "  (POI)" : ""
            out.append("  " + "\(set.name)\(set.isScalar ? "" : "[\(set.count)]")".padding(toLength: nfWidth, withPad: " ", startingAt: 0) + "  \(state)  init \(formatted(set.inits[0]))  bounds \(boundsText(set))\(poi)")
        }
        if nf.isEmpty { out.append("  none") }
        out.append("")
        let fixedCount = model.suggestedFixed.filter { $0 }.count
        out.append("Parameters: \(model.parameterCount) in \(model.parameterSets.count) sets, \(fixedCount) fixed; by type: " + parameterCounts.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        let morphings = morphingModifiers
        if !morphings.isEmpty {
            out.append("")
            let coefficients = model.parameterSets.filter { $0.modifierKinds.contains(.morphing) }
            out.append("Wilson coefficients (\(coefficients.count)): " + coefficients.map { "\($0.name) \(boundsText($0))\($0.fixed.allSatisfy { $0 } ? " fixed" : "")" }.joined(separator: ", "))
            for entry in morphings {
                let poly = entry.morphing.templates.yields
                let terms = poly.monomials.map { $0.description(names: poly.coefficientNames) }
                if let file = entry.morphing.source["file"]?.stringValue {
                    // An event_database modifier, read through its static projection.
                    let observable = entry.morphing.source["observable"]?.stringValue ?? "?"
                    let edges = entry.morphing.source["edges"]?.arrayValue?.compactMap(\.doubleValue) ?? []
                    out.append("  \(entry.channel)/\(entry.sample): event database \"\(entry.modifier.name)\" \(file), \(observable) in \(max(edges.count - 1, 0)) bins [\(edges.first.map { formatted($0) } ?? "?"), \(edges.last.map { formatted($0) } ?? "?")], \(poly.termCount) coefficient sums, degree \(poly.maximumDegree), exact per-point MC variance")
                    // Per-event systematics and smoothing: the sample is reweighted and binned in each
                    // evaluation (Specs/event-database.md), not read through these sums.
                    let systematics = (entry.morphing.source["systematics"]?.arrayValue ?? []).map { s in
                        "\(s["name"]?.stringValue ?? "?") (\(s["type"]?.stringValue == "shift" ? "shifts \(observable)" : "reweights"); \(s["parameter"]?.stringValue ?? "?"))"
                    }
                    let width = entry.morphing.source["smoothing_width"]?.doubleValue ?? 0
                    if !systematics.isEmpty || width > 0 {
                        out.append("    evaluated per event in every fit step: " + (systematics.isEmpty ? "" : "systematics " + systematics.joined(separator: ", ") + (width > 0 ? "; " : ""))
                            + (width > 0 ? "bin edges smoothed over \(formatted(width)) (in \(observable))" : ""))
                    }
                } else {
                    out.append("  \(entry.channel)/\(entry.sample): morphing \"\(entry.modifier.name)\" (\(entry.morphing.form.rawValue), \(poly.termCount) terms, degree \(poly.maximumDegree)): " + terms.joined(separator: ", "))
                }
            }
        }
        out.append("")
        if warnings.isEmpty {
            out.append("No warnings.")
        } else {
            out.append("Warnings (\(warnings.count)):")
            for kind in InspectionWarning.Kind.all {
                let group = warnings.filter { $0.kind == kind }
                guard !group.isEmpty else { continue }
                out.append("  \(kind.heading) (\(group.count)):")
                for w in group.prefix(maxWarnings) { out.append("    - \(w.message)") }
                if group.count > maxWarnings { out.append("    … \(group.count - maxWarnings) more (all with --json or --max-warnings \(group.count))") }
            }
        }
        return out.joined(separator: "\n")
    }

    /// The summary and warnings as the JSON document of `efthf inspect --json`.
    public func json(file: String) -> JSON { report(file: file).jsonValue }

    /// The summary and warnings as data (`efthf inspect --json`).
    public func report(file: String) -> InspectionReport {
        let observed = observedByChannel
        return InspectionReport(
            workspace: file, version: workspace.version, measurement: measurement.name, poi: measurement.poi.isEmpty ? nil : measurement.poi,
            channels: workspace.channels.map { c in
                InspectionReport.Channel(name: c.name, bins: c.binCount, observed: observed[c.name], samples: c.samples.map { s in
                    let groups = Dictionary(grouping: s.modifiers, by: \.kind).sorted { $0.key < $1.key }
                    return InspectionReport.Sample(name: s.name, yield: s.data.reduce(0, +),
                                                   modifiers: NamedValues(names: groups.map(\.key.rawValue), values: groups.map { $0.value.map(\.name) }))
                })
            },
            normalisationFactors: normalisationFactors.map { set in
                InspectionReport.NormalisationFactor(name: set.name, fixed: set.fixed.allSatisfy { $0 }, initial: set.inits,
                                                     bounds: set.bounds.map { [$0.lowerBound, $0.upperBound] })
            },
            parameters: InspectionReport.Parameters(count: model.parameterCount, fixed: model.suggestedFixed.filter { $0 }.count,
                                                    byType: NamedValues(names: parameterCounts.map(\.0), values: parameterCounts.map(\.1))),
            wilsonCoefficients: morphingModifiers.map { entry in
                let poly = entry.morphing.templates.yields
                return InspectionReport.MorphingEntry(
                    channel: entry.channel, sample: entry.sample, modifier: entry.modifier.name, form: entry.morphing.form.rawValue,
                    eventDatabase: entry.morphing.source["file"]?.stringValue, coefficients: entry.morphing.coefficients,
                    terms: poly.monomials.map { $0.description(names: poly.coefficientNames) })
            },
            warnings: warnings)
    }
}

/// `efthf inspect --json`: the workspace's structure (channels with observed counts, samples with
/// their yields and modifiers by type, normalisation factors, parameter counts, the morphed samples'
/// coefficients and terms) and the lint's warnings.
public struct InspectionReport: Sendable, Codable {
    public struct Channel: Sendable, Codable {
        public let name: String
        public let bins: Int
        public let observed: [Double]?
        public let samples: [Sample]

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.encode(name, forKey: AnyKey("name"))
            try c.encode(bins, forKey: AnyKey("bins"))
            if let observed { try c.encode(observed, forKey: AnyKey("observed")) } else { try c.encodeNil(forKey: AnyKey("observed")) }
            try c.encode(samples, forKey: AnyKey("samples"))
        }
    }

    public struct Sample: Sendable, Codable {
        public let name: String
        /// Σ_b data_b.
        public let yield: Double
        /// Modifier names by type.
        public let modifiers: NamedValues<[String]>
    }

    public struct NormalisationFactor: Sendable, Codable {
        public let name: String
        public let fixed: Bool
        public let initial: [Double]
        public let bounds: [[Double]]

        enum CodingKeys: String, CodingKey { case name, fixed, initial = "init", bounds }
    }

    /// The parameter count, the fixed ones, and the count by defining modifier type
    /// (`by_type_histosys`, …).
    public struct Parameters: Sendable, Codable {
        public let count: Int
        public let fixed: Int
        public let byType: NamedValues<Int>

        public init(count: Int, fixed: Int, byType: NamedValues<Int>) {
            self.count = count
            self.fixed = fixed
            self.byType = byType
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            count = try c.decode(Int.self, forKey: AnyKey("count"))
            fixed = try c.decode(Int.self, forKey: AnyKey("fixed"))
            byType = NamedValues(try c.allKeys.filter { $0.stringValue.hasPrefix("by_type_") }.map {
                NamedValues<Int>.Entry(name: String($0.stringValue.dropFirst(8)), value: try c.decode(Int.self, forKey: $0))
            })
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.encode(count, forKey: AnyKey("count"))
            try c.encode(fixed, forKey: AnyKey("fixed"))
            for e in byType.entries { try c.encode(e.value, forKey: AnyKey("by_type_" + e.name)) }
        }
    }

    public struct MorphingEntry: Sendable, Codable {
        public let channel: String
        public let sample: String
        public let modifier: String
        public let form: String
        /// The event database's file, for an event-database modifier.
        public let eventDatabase: String?
        public let coefficients: [String]
        public let terms: [String]

        enum CodingKeys: String, CodingKey { case channel, sample, modifier, form, eventDatabase = "event_database", coefficients, terms }
    }

    public let workspace: String
    public let version: String
    public let measurement: String
    public let poi: String?
    public let channels: [Channel]
    public let normalisationFactors: [NormalisationFactor]
    public let parameters: Parameters
    public let wilsonCoefficients: [MorphingEntry]
    public let warnings: [InspectionWarning]

    enum CodingKeys: String, CodingKey {
        case workspace, version, measurement, poi, channels, normalisationFactors = "normalisation_factors", parameters
        case wilsonCoefficients = "wilson_coefficients", warnings
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(workspace, forKey: .workspace)
        try c.encode(version, forKey: .version)
        try c.encode(measurement, forKey: .measurement)
        if let poi { try c.encode(poi, forKey: .poi) } else { try c.encodeNil(forKey: .poi) }
        try c.encode(channels, forKey: .channels)
        try c.encode(normalisationFactors, forKey: .normalisationFactors)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(wilsonCoefficients, forKey: .wilsonCoefficients)
        try c.encode(warnings, forKey: .warnings)
    }
}

private func list(_ names: [String]) -> String {
    names.count <= 4 ? names.joined(separator: ", ") : names.prefix(3).joined(separator: ", ") + " and \(names.count - 3) more"
}

/// `text` right-aligned in `width` columns.
private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

/// A background-only workspace given with the patch set made for it and no patch chosen
/// (`efthf inspect BkgOnly.json --patch patchset.json`): the set, verified against the workspace
/// (pyhf's `PatchSet.verify`), and the model of the workspace alone, for ``InspectTask``. The
/// measurement's POI, which only the patches add, is then left out of that model.
public struct PatchSetInspection: Sendable {
    /// The patch set file.
    public let file: String
    public let patchSet: PatchSet
    /// The background-only workspace's model (and observed data).
    public let loaded: LoadedModel
    /// The measurement's POI when it is not a parameter of the background-only workspace.
    public let poiAddedByPatches: String?

    /// The set's summary as `efthf patchset inspect --json` prints it, with the file.
    public var json: JSON {
        .object(JSONObject([
            ("file", .string(file)), ("description", .string(patchSet.description)),
            ("labels", .array(patchSet.labels.map { .string($0) })),
            ("digests", .object(JSONObject(patchSet.digests.map { ($0.algorithm, .string($0.value)) }))),
            ("poi_added_by_patches", poiAddedByPatches.map { JSON.string($0) } ?? .null),
            ("patches", .array(patchSet.patches.map { .object(JSONObject([("name", .string($0.name)), ("values", .array($0.values))])) })),
        ]))
    }
}

extension ModelSource {
    /// When ``patch`` names a pyhf PatchSet with more than one patch and no `:NAME`: the set,
    /// verified against the workspace, and the workspace's own model; nil for any other source
    /// (which ``load()`` reads as usual).
    public func patchSetInspection() throws(HistFactoryError) -> PatchSetInspection? {
        guard let patch, FileManager.default.fileExists(atPath: patch) else { return nil }
        let json = try loadJSON(patch)
        guard case .object(let o) = json, o["patches"] != nil else { return nil }
        let set = try PatchSet(json: json, file: patch)
        guard set.patches.count > 1 else { return nil }
        var ws = try Workspace(contentsOf: workspace, modifiers: .efthf)
        do { try set.verify(ws) } catch { throw error.inFile(patch) }
        let m = try ws.measurement(named: measurement)
        let parameters = Set(ws.channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.name) } })
        var added: String? = nil
        if !m.poi.isEmpty && !parameters.contains(m.poi), let k = ws.measurements.firstIndex(where: { $0.name == m.name }) {
            // An empty POI is a model without one; the workspace itself is unchanged.
            added = m.poi
            ws = try ws.applying(patch: .array([.object(JSONObject([("op", .string("replace")), ("path", .string("/measurements/\(k)/config/poi")), ("value", .string(""))]))]),
                                 label: "the background-only POI")
        }
        return PatchSetInspection(file: patch, patchSet: set, loaded: try LoadedModel(workspace: ws, measurement: measurement), poiAddedByPatches: added)
    }
}
