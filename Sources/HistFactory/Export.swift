import EFTJSON
import Foundation
import Morphing

/// Export of extended workspaces to plain pyhf 1.0.0 (issue 7): the workspace evaluated at one
/// point of the Wilson coefficients, and a background-only workspace with a pyhf PatchSet that adds
/// the evaluated signal samples back, one patch per grid point (the form of HEPData likelihood records).
extension Workspace {
    /// The Wilson coefficients of every morphing and event-database modifier, in order of first appearance.
    public var wilsonCoefficients: [String] {
        var names: [String] = []
        for channel in channels {
            for sample in channel.samples {
                for modifier in sample.modifiers {
                    if case .morphing(let m) = modifier.payload {
                        for c in m.coefficients where !names.contains(c) { names.append(c) }
                    }
                }
            }
        }
        return names
    }

    /// Whether a sample carries a morphing or event-database modifier.
    static func isMorphed(_ sample: Sample) -> Bool {
        sample.modifiers.contains { if case .morphing = $0.payload { true } else { false } }
    }

    /// A plain pyhf 1.0.0 workspace: every morphing and event-database sample replaced by its nominal
    /// ν̃⁰(c) at `point` (after its negative-yield policy), the morphing modifiers removed, histosys
    /// templates rescaled so that Δ becomes r·Δ with r = ν̃⁰(c)/data (Specs/eft-extension.md (C1)),
    /// shapesys δ scaled by r (τ static), and the MC-statistical uncertainty at the point carried by
    /// the sample's staterror: δ = √var(c) (V3) when the morphing modifiers carry uncertainties,
    /// else δ·r. The coefficients' parameter configs are removed from the measurements; a measurement
    /// whose POI is a coefficient needs `poi`, which (when given) replaces every measurement's POI; a
    /// `poi` that names no modifier of the workspace is added as a normfactor (a signal strength, 1 by
    /// default) to every evaluated sample.
    ///
    /// Coefficients not in `point` are 0; unknown names are an error. A negative morphed yield of a
    /// sample with the "error" policy is an error naming the bins. With `measurement`, the export
    /// keeps only that measurement (so that pyhf's default, the first, is the chosen one).
    public func evaluated(at point: [String: Double], poi: String? = nil, measurement: String? = nil) throws(HistFactoryError) -> Workspace {
        let (json, _) = try evaluatedJSON(at: point, poi: poi, measurement: measurement)
        return try Workspace(json: json)
    }

    /// The evaluated JSON and, per channel, the indices of the morphed samples.
    func evaluatedJSON(at point: [String: Double], poi: String?, measurement: String? = nil) throws(HistFactoryError) -> (JSON, [[Int]]) {
        let coefficients = wilsonCoefficients
        guard !coefficients.isEmpty else {
            throw HistFactoryError(.operation, "the workspace has no morphing or event-database modifier: there is nothing to evaluate")
        }
        for name in point.keys.sorted() where !coefficients.contains(name) {
            throw HistFactoryError(.parameter, "unknown Wilson coefficient \"\(name)\"; the workspace has: \(coefficients.joined(separator: ", "))")
        }
        for (name, value) in point where !value.isFinite {
            throw HistFactoryError(.invalidValue, "\(name) = \(value) is not finite")
        }
        guard case .object(var root) = json, case .array(var channelJSON)? = root["channels"] else {
            throw HistFactoryError(.schema, "the workspace has no channels array")
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
                let e = try Self.evaluate(sample, at: point)
                for b in e.nominal.indices where e.policy == .error && e.nominal[b] < 0 {
                    negative.append("channel \"\(channel.name)\" sample \"\(sample.name)\" bin \(b): \(JSON.pythonRepr(e.nominal[b]))")
                }
                guard case .object(var sj) = samplesJSON[si], case .array(let modifiersJSON)? = sj["modifiers"] else { continue }
                sj["data"] = .numbers(e.nominal)
                var newModifiers: [JSON] = []
                for (mi, modifier) in sample.modifiers.enumerated() {
                    guard case .object(var mj) = modifiersJSON[mi] else { continue }
                    switch modifier.payload {
                    case .morphing:
                        continue
                    case .templates(let hi, let lo) where modifier.kind == .histosys:
                        let shift: ([Double]) -> [Double] = { t in t.indices.map { b in e.nominal[b] + e.ratio[b] * (t[b] - sample.data[b]) } }
                        mj["data"] = .object(JSONObject([("hi_data", .numbers(shift(hi))), ("lo_data", .numbers(shift(lo)))]))
                    case .uncertainties(let delta) where modifier.kind == .staterror:
                        if let variance = e.variance {
                            // Without an absolute modifier the SM data's own uncertainty is V_0 = δ² (V3).
                            let v = e.hasAbsoluteVariance ? variance : zip(variance, zip(delta, e.relativeProducts)).map { $0 + $1.0 * $1.0 * $1.1 * $1.1 }
                            mj["data"] = .numbers(v.map { max($0, 0).squareRoot() })
                        } else {
                            mj["data"] = .numbers(delta.indices.map { abs(e.ratio[$0]) * delta[$0] })
                        }
                    case .uncertainties(let delta) where modifier.kind == .shapesys:
                        mj["data"] = .numbers(delta.indices.map { abs(e.ratio[$0]) * delta[$0] })
                    default:
                        break
                    }
                    newModifiers.append(.object(mj))
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
        root["channels"] = .array(channelJSON)
        root["measurements"] = try Self.plainMeasurements(root["measurements"], coefficients: coefficients, poi: poi, measurement: measurement)
        root["version"] = .string(WorkspaceVersion.pyhf)
        return (.object(root), morphedIndices)
    }

    /// Measurements without the coefficients' parameter configs; POIs checked or replaced.
    static func plainMeasurements(_ json: JSON?, coefficients: [String], poi: String?, measurement: String? = nil) throws(HistFactoryError) -> JSON {
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
            if case .array(let parameters)? = config["parameters"] {
                config["parameters"] = .array(parameters.filter { p in
                    guard let name = p["name"]?.stringValue else { return true }
                    return !coefficients.contains(name)
                })
            }
            m["config"] = .object(config)
            out.append(.object(m))
        }
        return .array(out)
    }

    struct EvaluatedSample {
        /// ν̃⁰(c) after the negative-yield policy.
        var nominal: [Double]
        /// r = ν̃⁰/data (1 where data = 0).
        var ratio: [Double]
        /// var(c) of (V3) without the V_0 term of a missing absolute modifier; nil without uncertainties.
        var variance: [Double]?
        var hasAbsoluteVariance: Bool
        /// Π_j F_j² of the relative factors (the weight of V_0 = δ² when there is no absolute modifier).
        var relativeProducts: [Double]
        var policy: MorphingModifier.NegativeYieldPolicy
    }

    /// Specs/eft-extension.md (N1), §9 and (V3) for one sample.
    static func evaluate(_ sample: Sample, at point: [String: Double]) throws(HistFactoryError) -> EvaluatedSample {
        let bins = sample.data.count
        var factors: [[Double]] = []
        var variances: [[Double]?] = []
        var policy = MorphingModifier.NegativeYieldPolicy.error
        var absoluteIndex: Int? = nil
        for modifier in sample.modifiers {
            guard case .morphing(let m) = modifier.payload else { continue }
            policy = m.negativeYields
            let c = m.coefficients.map { point[$0] ?? 0 }
            let poly = m.templates.yields.yields(at: c)
            let v = m.templates.monteCarloVariance.map { $0.polynomial.yields(at: c) }
            if m.form == .absolute {
                guard absoluteIndex == nil else {
                    throw HistFactoryError(.invalidModel, "sample \"\(sample.name)\" has more than one absolute-form morphing modifier")
                }
                absoluteIndex = factors.count
                factors.append(poly)
            } else {
                factors.append(poly.map { 1 + $0 })
            }
            variances.append(v)
        }
        if absoluteIndex == nil {
            factors.insert(sample.data, at: 0)
            variances.insert(nil, at: 0)
        }
        let absolute = absoluteIndex ?? 0
        var raw = [Double](repeating: 1, count: bins)
        for f in factors { for b in 0..<bins { raw[b] *= f[b] } }
        var variance: [Double]? = nil
        if variances.contains(where: { $0 != nil }) {
            var v = [Double](repeating: 0, count: bins)
            for (j, vj) in variances.enumerated() {
                guard let vj else { continue }
                for b in 0..<bins {
                    var w = vj[b]
                    for (i, f) in factors.enumerated() where i != j { w *= f[b] * f[b] }
                    v[b] += w
                }
            }
            variance = v
        }
        var relativeProducts = [Double](repeating: 1, count: bins)
        for (i, f) in factors.enumerated() where i != absolute { for b in 0..<bins { relativeProducts[b] *= f[b] * f[b] } }
        var nominal = raw
        if policy == .clip {
            for b in 0..<bins {
                let epsilon = max(1e-6 * abs(sample.data[b]), 1e-9)
                if raw[b] < epsilon { nominal[b] = epsilon * exp((raw[b] - epsilon) / epsilon) }
            }
        }
        let ratio = (0..<bins).map { b in sample.data[b] != 0 ? nominal[b] / sample.data[b] : 1 }
        return EvaluatedSample(nominal: nominal, ratio: ratio, variance: variance,
                               hasAbsoluteVariance: absoluteIndex != nil && variances[absolute] != nil,
                               relativeProducts: relativeProducts, policy: policy)
    }

    /// A background-only pyhf 1.0.0 workspace (the morphed samples removed) and a pyhf PatchSet
    /// (schema 1.0.0) with one patch per point of the grid (the Cartesian product of the given
    /// values, the first coefficient varying slowest) that adds the samples evaluated at that point
    /// (``evaluated(at:poi:)``) back at their places. Labels are the grid's coefficient names.
    /// With `skippingInvalidPoints`, grid points where the evaluation fails (negative morphed yields
    /// under the "error" policy) get no patch and are returned in `skipped`; otherwise they are an error.
    public func patchSet(grid: [(name: String, values: [Double])], poi: String? = nil, measurement: String? = nil, skippingInvalidPoints: Bool = false,
                         description: String = "efthf export: EFT signal hypotheses at a grid of Wilson coefficients") throws(HistFactoryError) -> (backgroundOnly: Workspace, patchSet: PatchSet, skipped: [[Double]]) {
        guard !grid.isEmpty, grid.allSatisfy({ !$0.values.isEmpty }) else {
            throw HistFactoryError(.parameter, "the grid needs at least one coefficient with at least one value")
        }
        for (i, axis) in grid.enumerated() where grid[..<i].contains(where: { $0.name == axis.name }) {
            throw HistFactoryError(.parameter, "coefficient \"\(axis.name)\" appears twice in the grid")
        }
        // Background only: the evaluated workspace at 0 without the morphed samples.
        let (smJSON, morphed) = try evaluatedJSON(at: [:], poi: poi, measurement: measurement)
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
        let background = try Workspace(json: .object(root))

        var points: [[Double]] = [[]]
        for axis in grid { points = points.flatMap { p in axis.values.map { p + [$0] } } }
        var patches: [JSON] = []
        var names = Set<String>()
        var skipped: [[Double]] = []
        for values in points {
            var point: [String: Double] = [:]
            for (axis, v) in zip(grid, values) { point[axis.name] = v }
            let evaluated: JSON
            do {
                (evaluated, _) = try evaluatedJSON(at: point, poi: poi, measurement: measurement)
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
        let set = try PatchSet(json: .object(JSONObject([
            ("metadata", .object(metadata)), ("patches", .array(patches)), ("version", .string("1.0.0")),
        ])))
        return (background, set, skipped)
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
