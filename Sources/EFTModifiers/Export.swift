import EFTJSON
import Foundation
import HistFactory
import Morphing

/// One coordinate of a grid: a parameter and its values.
public struct GridValues: Sendable, Equatable, Codable {
    public let name: String
    public let values: [Double]

    public init(name: String, values: [Double]) {
        self.name = name
        self.values = values
    }
}

/// A background-only workspace and the pyhf PatchSet of signal hypotheses at grid points.
public struct PatchSetExport: Sendable {
    public let backgroundOnly: Workspace
    public let patchSet: PatchSet
    /// The grid points left out because the evaluation failed there (when skipping was asked for).
    public let skipped: [[Double]]
}

/// The patches of a range of a patch set's grid points, with the set's background-only workspace
/// and metadata (``Workspace/patchSetPart(grid:points:poi:measurement:skippingInvalidPoints:description:)``).
public struct PatchSetPart: Sendable {
    public let backgroundOnly: Workspace
    /// The PatchSet's `metadata` (digest, labels, description, references): the same in every part.
    public let metadata: JSON
    /// `{"metadata": {"name", "values"}, "patch": [...]}` per grid point of the range that has one.
    public let patches: [JSON]
    /// The grid points of the range left out (when skipping was asked for).
    public let skipped: [[Double]]

    public init(backgroundOnly: Workspace, metadata: JSON, patches: [JSON], skipped: [[Double]]) {
        self.backgroundOnly = backgroundOnly
        self.metadata = metadata
        self.patches = patches
        self.skipped = skipped
    }

    /// The patch set of parts of consecutive ranges, in order: their patches and skipped points
    /// joined. The parts must agree on the metadata (hence on the background-only workspace's digest).
    public static func merged(_ parts: [PatchSetPart]) throws(HistFactoryError) -> PatchSetExport {
        guard let first = parts.first else { throw HistFactoryError(.parameter, "a patch set needs at least one part") }
        var names = Set<String>()
        for (k, part) in parts.enumerated() {
            guard part.metadata == first.metadata else {
                throw HistFactoryError(.patch, "part \(k) of the patch set has other metadata (digest, labels or description) than part 0: it was made from another workspace or grid")
            }
            for patch in part.patches {
                let name = patch["metadata"]?["name"]?.stringValue ?? ""
                guard names.insert(name).inserted else {
                    throw HistFactoryError(.parameter, "two grid points share the patch name \"\(name)\"; give distinct values")
                }
            }
        }
        let set = try PatchSet(json: .object(JSONObject([
            ("metadata", first.metadata), ("patches", .array(parts.flatMap(\.patches))), ("version", .string("1.0.0")),
        ])))
        return PatchSetExport(backgroundOnly: first.backgroundOnly, patchSet: set, skipped: parts.flatMap(\.skipped))
    }
}

/// Export of extended workspaces to plain pyhf 1.0.0 (Specs/eft-extension.md §16): the workspace evaluated at one
/// point of the Wilson coefficients, and a background-only workspace with a pyhf PatchSet that adds
/// the evaluated signal samples back, one patch per grid point (the form of HEPData likelihood records).
extension Workspace {
    /// The Wilson coefficients of every morphing and event-database modifier, in order of first appearance.
    public var wilsonCoefficients: [String] {
        var names: [String] = []
        for channel in channels {
            for sample in channel.samples {
                for modifier in sample.modifiers {
                    if let m = modifier.dependent as? MorphingModifier {
                        for c in m.coefficients where !names.contains(c) { names.append(c) }
                    }
                }
            }
        }
        return names
    }

    /// Whether a sample carries a morphing or event-database modifier.
    static func isMorphed(_ sample: Sample) -> Bool {
        sample.modifiers.contains { $0.dependent is MorphingModifier }
    }

    /// A plain pyhf 1.0.0 workspace that reproduces the extended workspace's likelihood at `point`
    /// (Specs/eft-extension.md §16). Every parameter-dependent sample is evaluated by the model that
    /// the fit uses (``HistFactoryModel/dependentSamples(at:)``, per-event kernels included) with the
    /// nuisance parameters of per-event systematics at 0, and replaced by:
    /// - its nominal ν̃⁰(c) (after its negative-yield policy), the morphing and event-database modifiers removed;
    /// - its histosys templates rescaled so that Δ becomes r·Δ with r = ν̃⁰(c)/data (C1), shapesys δ scaled by r;
    /// - each per-event systematic θ_k as a histosys with hi/lo = ν̃⁰(c, θ_k = ±1) (added to a histosys
    ///   of the same name on the sample, if there is one);
    /// - its staterror δ = √var(c) of (S2) where the width follows the point, else δ·r.
    ///
    /// When some staterror width follows the point, the export carries one extra channel,
    /// `efthf_staterror_normalisation`, whose fixed staterror γ's restore the extended model's
    /// normalisation −ln σ_b(0): pyhf's log-likelihood of the export equals efthf's of this workspace
    /// at c, at every nuisance point, up to a constant that is the same for every c (§16).
    ///
    /// The coefficients' parameter configs are removed from the measurements; a measurement
    /// whose POI is a coefficient needs `poi`, which (when given) replaces every measurement's POI; a
    /// `poi` that names no modifier of the workspace is added as a normfactor (a signal strength, 1 by
    /// default) to every evaluated sample. Coefficients not in `point` are 0; unknown names are an
    /// error. A negative morphed yield of a sample with the "error" policy is an error naming the
    /// bins. With `measurement`, the export keeps only that measurement (so that pyhf's default,
    /// the first, is the chosen one).
    public func evaluated(at point: [String: Double], poi: String? = nil, measurement: String? = nil) throws(HistFactoryError) -> Workspace {
        let context = try ExportContext(self, measurement: measurement)
        let (json, _) = try evaluatedJSON(at: point, poi: poi, measurement: measurement, context: context)
        return try Workspace(json: json, baseDirectory: baseDirectory, modifiers: modifiers)
    }

    /// Checks, without evaluating anything, the measurements an export at any point would have
    /// (the rules of ``evaluated(at:poi:measurement:)``): `measurement` must exist, `poi` must not
    /// be a Wilson coefficient, and without `poi` no kept measurement's POI may be one.
    public func checkExportMeasurements(poi: String?, measurement: String? = nil) throws(HistFactoryError) {
        _ = try Self.plainMeasurements(json["measurements"], coefficients: wilsonCoefficients, poi: poi, measurement: measurement)
    }

    /// The name of the channel, sample and staterror modifier that carry the normalisation of the
    /// point-dependent staterror widths in an export (§16).
    public static let staterrorNormalisationChannel = "efthf_staterror_normalisation"

    /// The model an export evaluates, built once for every point of a grid.
    struct ExportContext {
        let model: HistFactoryModel
        let coefficients: [String]

        init(_ workspace: Workspace, measurement: String?) throws(HistFactoryError) {
            coefficients = workspace.wilsonCoefficients
            guard !coefficients.isEmpty else {
                throw HistFactoryError(.operation, "the workspace has no morphing or event-database modifier: there is nothing to evaluate")
            }
            let names = workspace.measurements.map(\.name)
            if let measurement, !names.contains(measurement) {
                throw HistFactoryError(.parameter, "no measurement \"\(measurement)\"; the workspace has: \(names.joined(separator: ", "))")
            }
            model = try HistFactoryModel(workspace: workspace, measurement: measurement)
        }

        /// The model's parameters at the point: the coefficients at their values (0 when absent), the
        /// per-event systematics at 0 or at `shift`, everything else at its init.
        func parameters(_ point: [String: Double], shift: (String, Double)? = nil) throws(HistFactoryError) -> [Double] {
            var x = model.suggestedInits
            for name in coefficients { x[try model.parameterIndex(named: name)] = point[name] ?? 0 }
            for name in model.eventSystematicParameters { x[try model.parameterIndex(named: name)] = 0 }
            if let (name, value) = shift { x[try model.parameterIndex(named: name)] = value }
            return x
        }
    }

    /// The evaluated JSON and, per channel, the indices of the morphed samples.
    func evaluatedJSON(at point: [String: Double], poi: String?, measurement: String? = nil, context: ExportContext) throws(HistFactoryError) -> (JSON, [[Int]]) {
        let coefficients = context.coefficients
        for name in point.keys.sorted() where !coefficients.contains(name) {
            throw HistFactoryError(.parameter, "unknown Wilson coefficient \"\(name)\"; the workspace has: \(coefficients.joined(separator: ", "))")
        }
        for (name, value) in point where !value.isFinite {
            throw HistFactoryError(.invalidValue, "\(name) = \(value) is not finite")
        }
        guard case .object(var root) = json, case .array(var channelJSON)? = root["channels"], case .array(var observationJSON)? = root["observations"] else {
            throw HistFactoryError(.schema, "the workspace has no channels or observations array")
        }
        let model = context.model
        let x = try context.parameters(point)
        let samples = try model.dependentSamples(at: x)
        func lookup(_ list: [DependentSampleEvaluation], _ channel: String, _ sample: String) -> DependentSampleEvaluation? {
            list.first { $0.channel == channel && $0.sample == sample }
        }
        // ν̃⁰(c, θ_k = ±1) of every sample with per-event systematics.
        var shifted: [String: (up: [DependentSampleEvaluation], down: [DependentSampleEvaluation])] = [:]
        for name in model.eventSystematicParameters {
            shifted[name] = (try model.dependentSamples(at: try context.parameters(point, shift: (name, 1))),
                             try model.dependentSamples(at: try context.parameters(point, shift: (name, -1))))
        }
        var negative: [String] = []
        var morphedIndices: [[Int]] = []
        // A POI that names no modifier becomes a normfactor (signal strength) on every evaluated sample.
        let existing = Set(channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.name) } })
        let signalStrength = poi.flatMap { existing.contains($0) || coefficients.contains($0) ? nil : $0 }
        for (ci, channel) in channels.enumerated() {
            guard case .object(var cj) = channelJSON[ci], case .array(var samplesJSON)? = cj["samples"] else { continue }
            var morphed: [Int] = []
            for (si, sample) in channel.samples.enumerated() where Self.isMorphed(sample) {
                morphed.append(si)
                guard let e = lookup(samples, channel.name, sample.name) else {
                    throw HistFactoryError(.operation, "channel \"\(channel.name)\" sample \"\(sample.name)\" is not in measurement \"\(model.measurementName)\"'s model")
                }
                for b in e.rejectedBins {
                    negative.append("channel \"\(channel.name)\" sample \"\(sample.name)\" bin \(b): \(JSON.pythonRepr(e.raw[b]))")
                }
                guard case .object(var sj) = samplesJSON[si], case .array(let modifiersJSON)? = sj["modifiers"] else { continue }
                sj["data"] = .numbers(e.nominal)
                // Per-event systematics as ν̃⁰(c, ±1) − ν̃⁰(c, 0), added to a histosys of the same name.
                var eventDeltas: [String: (up: [Double], down: [Double])] = [:]
                for name in model.eventSystematicParameters(channel: channel.name, sample: sample.name) {
                    guard let pair = shifted[name], let up = lookup(pair.up, channel.name, sample.name), let down = lookup(pair.down, channel.name, sample.name) else { continue }
                    eventDeltas[name] = (zip(up.nominal, e.nominal).map { $0 - $1 }, zip(down.nominal, e.nominal).map { $0 - $1 })
                }
                var newModifiers: [JSON] = []
                for (mi, modifier) in sample.modifiers.enumerated() {
                    guard case .object(var mj) = modifiersJSON[mi] else { continue }
                    switch modifier.payload {
                    case .dependent:
                        continue
                    case .templates(let hi, let lo) where modifier.kind == .histosys:
                        let added = eventDeltas.removeValue(forKey: modifier.name)
                        let shift: ([Double], [Double]?) -> [Double] = { t, d in
                            t.indices.map { b in e.nominal[b] + e.ratio[b] * (t[b] - sample.data[b]) + (d?[b] ?? 0) }
                        }
                        mj["data"] = .object(JSONObject([("hi_data", .numbers(shift(hi, added?.up))), ("lo_data", .numbers(shift(lo, added?.down)))]))
                    case .uncertainties(let delta) where modifier.kind == .staterror:
                        mj["data"] = .numbers(delta.indices.map { b in e.staterrorVariance[b].map { max($0, 0).squareRoot() } ?? abs(e.ratio[b]) * delta[b] })
                    case .uncertainties(let delta) where modifier.kind == .shapesys:
                        mj["data"] = .numbers(delta.indices.map { abs(e.ratio[$0]) * delta[$0] })
                    default:
                        break
                    }
                    newModifiers.append(.object(mj))
                }
                for name in model.eventSystematicParameters(channel: channel.name, sample: sample.name) {
                    guard let d = eventDeltas[name] else { continue }
                    newModifiers.append(.object(JSONObject([
                        ("name", .string(name)), ("type", .string("histosys")),
                        ("data", .object(JSONObject([("hi_data", .numbers(zip(e.nominal, d.up).map { $0 + $1 })),
                                                     ("lo_data", .numbers(zip(e.nominal, d.down).map { $0 + $1 }))]))),
                    ])))
                }
                if let signalStrength {
                    newModifiers.append(.object(JSONObject([("name", .string(signalStrength)), ("type", .string("normfactor")), ("data", .null)])))
                }
                sj["modifiers"] = .array(newModifiers)
                samplesJSON[si] = .object(sj)
            }
            morphedIndices.append(morphed)
            cj["samples"] = .array(samplesJSON)
            channelJSON[ci] = .object(cj)
        }
        if !negative.isEmpty {
            let at = coefficients.map { "\($0)=\(JSON.pythonRepr(point[$0] ?? 0))" }.joined(separator: ", ")
            throw HistFactoryError(.invalidValue, "negative morphed yield at \(at): \(negative.prefix(10).joined(separator: "; "))\(negative.count > 10 ? "; …" : "")")
        }
        // The normalisation of point-dependent staterror widths (§16): one bin per component,
        // n = ν = 1, a fixed staterror of width σ_b(0)²/σ_b(c).
        let widths = model.dynamicStaterrorWidths(from: samples)
        let normalisation = Self.staterrorNormalisationChannel
        if !widths.isEmpty {
            if channels.contains(where: { $0.name == normalisation }) || existing.contains(normalisation) {
                throw HistFactoryError(.invalidModel, "the workspace already uses the name \"\(normalisation)\", which the export needs for the staterror normalisation")
            }
            if let k = widths.firstIndex(where: { !($0.sigma > 0 && $0.sigma.isFinite) }) {
                throw HistFactoryError(.invalidValue, "the staterror width of \(widths[k].parameter) is \(JSON.pythonRepr(widths[k].sigma)) at this point")
            }
            let ones = [Double](repeating: 1, count: widths.count)
            let modifier = JSONObject([("name", .string(normalisation)), ("type", .string("staterror")),
                                       ("data", .numbers(widths.map { $0.sigmaAtStandardModel * $0.sigmaAtStandardModel / $0.sigma }))])
            let sample = JSONObject([("name", .string(normalisation)), ("data", .numbers(ones)), ("modifiers", .array([.object(modifier)]))])
            channelJSON.append(.object(JSONObject([("name", .string(normalisation)), ("samples", .array([.object(sample)]))])))
            observationJSON.append(.object(JSONObject([("name", .string(normalisation)), ("data", .numbers(ones))])))
        }
        root["channels"] = .array(channelJSON)
        root["observations"] = .array(observationJSON)
        root["measurements"] = try Self.plainMeasurements(root["measurements"], coefficients: coefficients, poi: poi, measurement: measurement,
                                                          fixed: widths.isEmpty ? [] : [normalisation])
        root["version"] = .string(WorkspaceVersion.pyhf)
        return (.object(root), morphedIndices)
    }

    /// Measurements without the coefficients' parameter configs, `fixed` added as fixed; POIs checked or replaced.
    static func plainMeasurements(_ json: JSON?, coefficients: [String], poi: String?, measurement: String? = nil, fixed: [String] = []) throws(HistFactoryError) -> JSON {
        guard case .array(var list)? = json else { throw HistFactoryError(.schema, "the workspace has no measurements array") }
        if let measurement {
            let names = list.compactMap { $0["name"]?.stringValue }
            guard let chosen = list.first(where: { $0["name"]?.stringValue == measurement }) else {
                throw HistFactoryError(.parameter, "no measurement \"\(measurement)\"; the workspace has: \(names.joined(separator: ", "))")
            }
            list = [chosen]
        }
        if let poi, coefficients.contains(poi) {
            throw HistFactoryError(.parameter, "the POI \"\(poi)\" is a Wilson coefficient, which the export fixes; choose another POI")
        }
        var out: [JSON] = []
        for item in list {
            guard case .object(var m) = item, case .object(var config)? = m["config"] else { out.append(item); continue }
            if let poi {
                config["poi"] = .string(poi)
            } else if case .string(let p)? = config["poi"], coefficients.contains(p) {
                let name = m["name"]?.stringValue ?? "?"
                throw HistFactoryError(.parameter, "the POI of measurement \"\(name)\" is the Wilson coefficient \"\(p)\", which the export fixes; choose another POI (--poi)")
            }
            let fixedConfigs = fixed.map { JSON.object(JSONObject([("name", .string($0)), ("fixed", .bool(true))])) }
            if case .array(let parameters)? = config["parameters"] {
                config["parameters"] = .array(parameters.filter { p in
                    guard let name = p["name"]?.stringValue else { return true }
                    return !coefficients.contains(name)
                } + fixedConfigs)
            } else if !fixedConfigs.isEmpty {
                config["parameters"] = .array(fixedConfigs)
            }
            m["config"] = .object(config)
            out.append(.object(m))
        }
        return .array(out)
    }

    /// A background-only pyhf 1.0.0 workspace (the morphed samples removed) and a pyhf PatchSet
    /// (schema 1.0.0) with one patch per point of the grid (the Cartesian product of the given
    /// values, the first coefficient varying slowest) that adds the samples evaluated at that point
    /// (``evaluated(at:poi:)``) back at their places. Labels are the grid's coefficient names.
    /// With `skippingInvalidPoints`, grid points where the evaluation fails (negative morphed yields
    /// under the "error" policy) get no patch and are returned in `skipped`; otherwise they are an error.
    public func patchSet(grid: [GridValues], poi: String? = nil, measurement: String? = nil, skippingInvalidPoints: Bool = false,
                         description: String = "efthf export: EFT signal hypotheses at a grid of Wilson coefficients",
                         progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil) throws(HistFactoryError) -> PatchSetExport {
        let count = grid.reduce(1) { $0 * $1.values.count }
        return try PatchSetPart.merged([
            patchSetPart(grid: grid, points: 0..<count, poi: poi, measurement: measurement, skippingInvalidPoints: skippingInvalidPoints, description: description,
                         progress: progress)
        ])
    }

    /// The part of ``patchSet(grid:poi:measurement:skippingInvalidPoints:description:)`` at the
    /// grid points `points` (indices into the Cartesian product, the first coefficient varying
    /// slowest): the background-only workspace, the set's metadata and the patches of those points.
    /// Parts of consecutive ranges, merged in order (``PatchSetPart/merged(_:)``), are exactly the
    /// patch set of the whole grid; a plan's shards on a batch system compute them apart.
    /// `progress` is called after each point with (points done, points in `range`).
    public func patchSetPart(grid: [GridValues], points range: Range<Int>, poi: String? = nil, measurement: String? = nil, skippingInvalidPoints: Bool = false,
                             description: String = "efthf export: EFT signal hypotheses at a grid of Wilson coefficients",
                             progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil) throws(HistFactoryError) -> PatchSetPart {
        guard !grid.isEmpty, grid.allSatisfy({ !$0.values.isEmpty }) else {
            throw HistFactoryError(.parameter, "the grid needs at least one coefficient with at least one value")
        }
        for (i, axis) in grid.enumerated() where grid[..<i].contains(where: { $0.name == axis.name }) {
            throw HistFactoryError(.parameter, "coefficient \"\(axis.name)\" appears twice in the grid")
        }
        // Background only: the evaluated workspace at 0 without the morphed samples.
        let context = try ExportContext(self, measurement: measurement)
        let (smJSON, morphed) = try evaluatedJSON(at: [:], poi: poi, measurement: measurement, context: context)
        guard case .object(var root) = smJSON, case .array(var channelJSON)? = root["channels"] else {
            throw HistFactoryError(.schema, "the workspace has no channels array")
        }
        for (ci, indices) in morphed.enumerated() where !indices.isEmpty {
            guard case .object(var cj) = channelJSON[ci], case .array(let samples)? = cj["samples"] else { continue }
            let kept = samples.enumerated().filter { !indices.contains($0.offset) }.map(\.element)
            guard !kept.isEmpty else {
                throw HistFactoryError(.operation, "channel \"\(channels[ci].name)\" has only morphed samples; a background-only workspace needs at least one sample per channel")
            }
            cj["samples"] = .array(kept)
            channelJSON[ci] = .object(cj)
        }
        root["channels"] = .array(channelJSON)
        let background = try Workspace(json: .object(root), baseDirectory: baseDirectory)

        var points: [[Double]] = [[]]
        for axis in grid { points = points.flatMap { p in axis.values.map { p + [$0] } } }
        guard range.lowerBound >= 0, range.upperBound <= points.count else {
            throw HistFactoryError(.parameter, "grid points \(range.lowerBound)..<\(range.upperBound) are outside the grid's \(points.count)")
        }
        var patches: [JSON] = []
        var names = Set<String>()
        var skipped: [[Double]] = []
        for (k, values) in points[range].enumerated() {
            defer { progress?(k + 1, range.count) }
            var point: [String: Double] = [:]
            for (axis, v) in zip(grid, values) { point[axis.name] = v }
            let evaluated: JSON
            do {
                (evaluated, _) = try evaluatedJSON(at: point, poi: poi, measurement: measurement, context: context)
            } catch where skippingInvalidPoints && error.code == .invalidValue {
                skipped.append(values)
                continue
            }
            guard case .array(let evaluatedChannels)? = evaluated["channels"] else { continue }
            var operations: [JSON] = []
            for (ci, indices) in morphed.enumerated() {
                guard case .array(let samples)? = evaluatedChannels[ci]["samples"] else { continue }
                // Ascending original indices: each add lands at its final place.
                for si in indices {
                    operations.append(.object(JSONObject([("op", .string("add")), ("path", .string("/channels/\(ci)/samples/\(si)")), ("value", samples[si])])))
                }
            }
            // The staterror normalisation channel (last) takes the point's widths (§16).
            if evaluatedChannels.count > channels.count, let widths = evaluatedChannels[channels.count]["samples"]?.arrayValue?.first?["modifiers"]?.arrayValue?.first?["data"] {
                operations.append(.object(JSONObject([("op", .string("replace")), ("path", .string("/channels/\(channels.count)/samples/0/modifiers/0/data")), ("value", widths)])))
            }
            let name = Self.patchName(grid.map(\.name), values)
            guard names.insert(name).inserted else {
                throw HistFactoryError(.parameter, "two grid points share the patch name \"\(name)\"; give distinct values")
            }
            patches.append(.object(JSONObject([
                ("metadata", .object(JSONObject([("name", .string(name)), ("values", .numbers(values))]))),
                ("patch", .array(operations)),
            ])))
        }
        let metadata = JSONObject([
            ("digests", .object(JSONObject([("sha256", .string(try PatchSet.digest(background.json)))]))),
            ("labels", .array(grid.map { .string($0.name) })),
            ("description", .string(description)),
            ("references", .object(JSONObject([("hepdata", .string("ins0000000"))]))),
        ])
        return PatchSetPart(backgroundOnly: background, metadata: .object(metadata), patches: patches, skipped: skipped)
    }

    /// "cHW_0p5_cHq3_m0p1": names and values, `-` → `m`, `.` → `p`, anything else outside [A-Za-z0-9_] → `_`.
    static func patchName(_ names: [String], _ values: [Double]) -> String {
        func clean(_ s: String) -> String {
            String(s.map { c -> Character in
                if c == "-" { return "m" }
                if c == "." { return "p" }
                if c == "+" { return "_" }
                return (c.isASCII && (c.isLetter || c.isNumber)) || c == "_" ? c : "_"
            })
        }
        return zip(names, values).map { n, v in
            let text = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : JSON.pythonRepr(v)
            return clean(n) + "_" + clean(text)
        }.joined(separator: "_")
    }

    /// `count` evenly spaced values from `lower` to `upper` (both included), rounded to 12 significant digits.
    public static func gridValues(from lower: Double, to upper: Double, count: Int) -> [Double] {
        guard count > 1 else { return [lower] }
        return (0..<count).map { i in
            let v = i == count - 1 ? upper : lower + Double(i) * (upper - lower) / Double(count - 1)
            return Double(String(format: "%.12g", v)) ?? v
        }
    }
}
