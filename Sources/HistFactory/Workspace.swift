import EFTJSON
import Foundation

/// A HistFactory workspace in pyhf's JSON format (schema 1.0.0): channels of samples with their
/// modifiers, the observed data, and one or more measurements.
///
/// The validated JSON is kept as read (`json`), because patches, digests and workspace operations
/// act on the JSON itself; the typed view (`channels`, `observations`, `measurements`) is what
/// models are built from.
public struct Workspace: Sendable, Equatable {
    public let json: JSON
    public let channels: [Channel]
    public let observations: [Observation]
    public let measurements: [Measurement]
    public let version: String
    /// The file it was read from, for error messages.
    public let file: String?
    /// The directory against which the relative paths inside the workspace (event databases,
    /// Specs/eft-extension.md §11) are resolved: `file`'s directory unless given explicitly, never
    /// the process's working directory. Workspaces derived from this one (patched, pruned, combined,
    /// evaluated) keep it.
    public let baseDirectory: String?

    /// Validates `json` as a workspace. `file` labels errors; relative event-database paths are
    /// resolved against `baseDirectory`, by default `file`'s directory.
    public init(json: JSON, file: String? = nil, baseDirectory: String? = nil) throws(HistFactoryError) {
        let base = baseDirectory ?? file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        do throws(HistFactoryError) {
            let root = try SpecReader().object(json, at: JSONPointer(tokens: []), required: ["channels", "measurements", "observations", "version"], optional: [])
            let version = try SpecReader().string(root["version"]!, at: JSONPointer(tokens: ["version"]))
            guard version == WorkspaceVersion.pyhf || version == WorkspaceVersion.efthfExtended else {
                throw HistFactoryError(.schema, "unsupported workspace version \"\(version)\" (expected \"\(WorkspaceVersion.pyhf)\", or \"\(WorkspaceVersion.efthfExtended)\" for efthf's EFT extension)", path: JSONPointer(tokens: ["version"]))
            }
            let reader = SpecReader(extended: version == WorkspaceVersion.efthfExtended,
                                    baseDirectory: base)
            self.version = version
            channels = try reader.channels(root["channels"]!, at: JSONPointer(tokens: ["channels"]))
            observations = try reader.observations(root["observations"]!, at: JSONPointer(tokens: ["observations"]), channels: channels)
            measurements = try reader.measurements(root["measurements"]!, at: JSONPointer(tokens: ["measurements"]))
            self.json = json
            self.file = file
            self.baseDirectory = base
        } catch {
            throw file.map { error.inFile($0) } ?? error
        }
    }

    /// Reads and validates a workspace file.
    public init(contentsOf path: String) throws(HistFactoryError) {
        try self.init(json: try loadJSON(path), file: path)
    }

    /// The measurement called `name`, or the first one when `name` is nil (pyhf's `get_measurement`).
    public func measurement(named name: String?) throws(HistFactoryError) -> Measurement {
        guard let name else { return measurements[0] }
        guard let m = measurements.first(where: { $0.name == name }) else {
            throw HistFactoryError(.parameter, "no measurement named \"\(name)\"; the workspace has: \(measurements.map(\.name).joined(separator: ", "))")
        }
        return m
    }

    /// The observed main data of `channelNames`, concatenated in that order.
    public func observedData(channels channelNames: [String]) throws(HistFactoryError) -> [Double] {
        var data: [Double] = []
        for name in channelNames {
            guard let obs = observations.first(where: { $0.name == name }) else {
                throw HistFactoryError(.invalidModel, "no observation for channel \"\(name)\"", path: JSONPointer(tokens: ["observations"]))
            }
            data += obs.data
        }
        return data
    }
}

public struct Channel: Sendable, Equatable {
    public let name: String
    public let samples: [Sample]
    public var binCount: Int { samples[0].data.count }
}

public struct Sample: Sendable, Equatable {
    public let name: String
    public let data: [Double]
    public let modifiers: [Modifier]
}

public struct Observation: Sendable, Equatable {
    public let name: String
    public let data: [Double]
}

/// One of HistFactory's seven modifiers with its data.
public struct Modifier: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Comparable {
        // Declared in pyhf's `histfactory_set` order, which fixes the parameter order; efthf's
        // extension comes last, so that a 1.0.0 workspace keeps pyhf's order.
        case histosys, lumi, normfactor, normsys, shapefactor, shapesys, staterror
        /// efthf's EFT extension (workspace version 1.0.0+efthf.1).
        case morphing

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue.unicodeScalars.lexicographicallyPrecedes(b.rawValue.unicodeScalars) }
        var typeOrder: Int { Kind.allCases.firstIndex(of: self)! }
    }

    public enum Payload: Sendable, Equatable {
        case none
        /// normsys: the yield factors at α = +1 and α = −1.
        case factors(hi: Double, lo: Double)
        /// histosys: the templates at α = +1 and α = −1.
        case templates(hi: [Double], lo: [Double])
        /// shapesys, staterror: absolute uncertainties per bin.
        case uncertainties([Double])
        /// morphing: the polynomial in Wilson coefficients.
        case morphing(MorphingModifier)
    }

    public let name: String
    public let kind: Kind
    public let payload: Payload
}

public struct Measurement: Sendable, Equatable {
    public let name: String
    /// The parameter of interest; empty for a POI-less measurement.
    public let poi: String
    public let parameters: [ParameterConfig]
}

/// A measurement's override of a parameter set's defaults (`defs.json#/definitions/parameter`).
public struct ParameterConfig: Sendable, Equatable {
    public let name: String
    public var inits: [Double]?
    public var bounds: [ClosedRange<Double>]?
    public var auxdata: [Double]?
    public var factors: [Double]?
    public var sigmas: [Double]?
    public var fixed: Bool?
}

/// Reads a JSON file, turning read and syntax failures into errors that name the file.
public func loadJSON(_ path: String) throws(HistFactoryError) -> JSON {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw HistFactoryError(.io, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file", file: path)
    }
    do {
        return try JSONParser.parse(data)
    } catch {
        throw HistFactoryError(.syntax, "not valid JSON: \(error)", file: path)
    }
}

/// Strict reading of the pyhf 1.0.0 schema with a JSON path in every error.
struct SpecReader {
    /// Whether efthf's extension (the morphing and event_database modifiers) may be used.
    var extended = false
    /// The workspace file's directory, against which event-database paths are resolved.
    var baseDirectory: String? = nil

    func object(_ json: JSON, at path: JSONPointer, required: [String], optional: [String]) throws(HistFactoryError) -> JSONObject {
        guard case .object(let o) = json else {
            throw HistFactoryError(.schema, "expected an object, found \(json.kindDescription)", path: path)
        }
        for key in o.keys where !required.contains(key) && !optional.contains(key) {
            throw HistFactoryError(.schema, "unknown key \"\(key)\" (allowed: \((required + optional).joined(separator: ", ")))", path: path)
        }
        for key in required where o[key] == nil {
            throw HistFactoryError(.schema, "missing required key \"\(key)\"", path: path)
        }
        return o
    }

    func array(_ json: JSON, at path: JSONPointer, nonEmpty: Bool) throws(HistFactoryError) -> [JSON] {
        guard case .array(let a) = json else {
            throw HistFactoryError(.schema, "expected an array, found \(json.kindDescription)", path: path)
        }
        if nonEmpty && a.isEmpty { throw HistFactoryError(.schema, "expected a non-empty array", path: path) }
        return a
    }

    func string(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> String {
        guard case .string(let s) = json else {
            throw HistFactoryError(.schema, "expected a string, found \(json.kindDescription) \(json.serialized().prefix(40))", path: path)
        }
        return s
    }

    func number(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> Double {
        guard let d = json.doubleValue else {
            throw HistFactoryError(.schema, "expected a number, found \(json.kindDescription) \(json.serialized().prefix(40))", path: path)
        }
        guard d.isFinite else {
            throw HistFactoryError(.invalidValue, "non-finite number \(JSON.pythonRepr(d))", path: path)
        }
        return d
    }

    func numbers(_ json: JSON, at path: JSONPointer, nonEmpty: Bool = true) throws(HistFactoryError) -> [Double] {
        let a = try array(json, at: path, nonEmpty: nonEmpty)
        var out = [Double]()
        out.reserveCapacity(a.count)
        for (i, v) in a.enumerated() { out.append(try number(v, at: path.appending(i))) }
        return out
    }

    func nonNegative(_ values: [Double], at path: JSONPointer) throws(HistFactoryError) {
        if let i = values.firstIndex(where: { $0 < 0 }) {
            throw HistFactoryError(.invalidValue, "negative uncertainty \(JSON.pythonRepr(values[i]))", path: path.appending(i))
        }
    }

    func channels(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> [Channel] {
        var channels: [Channel] = []
        for (i, item) in try array(json, at: path, nonEmpty: true).enumerated() {
            let p = path.appending(i)
            let o = try object(item, at: p, required: ["name", "samples"], optional: [])
            let name = try string(o["name"]!, at: p.appending("name"))
            if channels.contains(where: { $0.name == name }) {
                throw HistFactoryError(.invalidModel, "duplicate channel name \"\(name)\"", path: p.appending("name"))
            }
            var samples: [Sample] = []
            for (j, s) in try array(o["samples"]!, at: p.appending("samples"), nonEmpty: true).enumerated() {
                let sample = try self.sample(s, at: p.appending("samples").appending(j))
                if samples.contains(where: { $0.name == sample.name }) {
                    throw HistFactoryError(.invalidModel, "duplicate sample name \"\(sample.name)\" in channel \"\(name)\"", path: p.appending("samples").appending(j).appending("name"))
                }
                if let first = samples.first, first.data.count != sample.data.count {
                    throw HistFactoryError(.invalidModel, "sample \"\(sample.name)\" has \(sample.data.count) bins but channel \"\(name)\" has \(first.data.count) (from sample \"\(first.name)\")", path: p.appending("samples").appending(j).appending("data"))
                }
                samples.append(sample)
            }
            channels.append(Channel(name: name, samples: samples))
        }
        return channels
    }

    func sample(_ json: JSON, at p: JSONPointer) throws(HistFactoryError) -> Sample {
        let o = try object(json, at: p, required: ["name", "data", "modifiers"], optional: [])
        let name = try string(o["name"]!, at: p.appending("name"))
        let data = try numbers(o["data"]!, at: p.appending("data"))
        var modifiers: [Modifier] = []
        for (k, m) in try array(o["modifiers"]!, at: p.appending("modifiers"), nonEmpty: false).enumerated() {
            modifiers.append(try modifier(m, at: p.appending("modifiers").appending(k), sampleData: data))
        }
        // Several morphing modifiers multiply (Specs/eft-extension.md §3.3): at most one absolute form
        // (an event_database counts as one), one negative-yield policy, no per-event systematics.
        let morphings = modifiers.compactMap { m -> MorphingModifier? in if case .morphing(let x) = m.payload { x } else { nil } }
        if morphings.count > 1 {
            if morphings.filter({ $0.form == .absolute }).count > 1 {
                throw HistFactoryError(.invalidModel, "sample \"\(name)\" has several absolute-form morphing or event_database modifiers; at most one gives its yield, the others must be relative", path: p.appending("modifiers"))
            }
            if Set(morphings.map(\.negativeYields)).count > 1 {
                throw HistFactoryError(.invalidModel, "sample \"\(name)\": its morphing modifiers declare different negative_yields policies (\(morphings.map(\.negativeYields.rawValue).joined(separator: ", "))); they must agree", path: p.appending("modifiers"))
            }
            if morphings.contains(where: { $0.events != nil }) {
                throw HistFactoryError(.invalidModel, "sample \"\(name)\": an event_database with systematics or smoothing cannot be combined with other morphing modifiers", path: p.appending("modifiers"))
            }
        }
        return Sample(name: name, data: data, modifiers: modifiers)
    }

    func modifier(_ json: JSON, at p: JSONPointer, sampleData: [Double]) throws(HistFactoryError) -> Modifier {
        let bins = sampleData.count
        let o = try object(json, at: p, required: ["name", "type", "data"], optional: [])
        let name = try string(o["name"]!, at: p.appending("name"))
        let typeName = try string(o["type"]!, at: p.appending("type"))
        if typeName == "event_database" && extended {
            // Read as the coefficient-form morphing modifier its static projection defines.
            return Modifier(name: name, kind: .morphing, payload: .morphing(try eventDatabase(o["data"]!, at: p.appending("data"), name: name, sampleData: sampleData)))
        }
        guard let kind = Modifier.Kind(rawValue: typeName), kind != .morphing || extended else {
            let known = Modifier.Kind.allCases.filter { $0 != .morphing }.map(\.rawValue).joined(separator: ", ")
            let hint = typeName == "morphing" ? "; morphing needs \"version\": \"\(WorkspaceVersion.efthfExtended)\"" : ""
            throw HistFactoryError(.schema, "unknown modifier type \"\(typeName)\" (pyhf 1.0.0 has: \(known))\(hint)", path: p.appending("type"))
        }
        let data = o["data"]!
        let dp = p.appending("data")
        func expectNull() throws(HistFactoryError) {
            guard data == .null else { throw HistFactoryError(.schema, "\(typeName) data must be null, found \(data.kindDescription)", path: dp) }
        }
        func perBin() throws(HistFactoryError) -> [Double] {
            let values = try numbers(data, at: dp)
            guard values.count == bins else {
                throw HistFactoryError(.invalidModel, "\(typeName) \"\(name)\" has \(values.count) values but the sample has \(bins) bins", path: dp)
            }
            try nonNegative(values, at: dp)
            return values
        }
        let payload: Modifier.Payload
        switch kind {
        case .normfactor, .shapefactor:
            try expectNull()
            payload = .none
        case .lumi:
            try expectNull()
            guard name == "lumi" else {
                throw HistFactoryError(.schema, "a lumi modifier must be named \"lumi\", found \"\(name)\"", path: p.appending("name"))
            }
            payload = .none
        case .normsys:
            let d = try object(data, at: dp, required: ["hi", "lo"], optional: [])
            payload = .factors(hi: try number(d["hi"]!, at: dp.appending("hi")), lo: try number(d["lo"]!, at: dp.appending("lo")))
        case .histosys:
            let d = try object(data, at: dp, required: ["hi_data", "lo_data"], optional: [])
            let hi = try numbers(d["hi_data"]!, at: dp.appending("hi_data"))
            let lo = try numbers(d["lo_data"]!, at: dp.appending("lo_data"))
            for (key, values) in [("hi_data", hi), ("lo_data", lo)] where values.count != bins {
                throw HistFactoryError(.invalidModel, "histosys \"\(name)\" \(key) has \(values.count) values but the sample has \(bins) bins", path: dp.appending(key))
            }
            payload = .templates(hi: hi, lo: lo)
        case .shapesys, .staterror:
            payload = .uncertainties(try perBin())
        case .morphing:
            payload = .morphing(try morphing(data, at: dp, name: name, sampleData: sampleData))
        }
        return Modifier(name: name, kind: kind, payload: payload)
    }

    func observations(_ json: JSON, at path: JSONPointer, channels: [Channel]) throws(HistFactoryError) -> [Observation] {
        var observations: [Observation] = []
        for (i, item) in try array(json, at: path, nonEmpty: true).enumerated() {
            let p = path.appending(i)
            let o = try object(item, at: p, required: ["name", "data"], optional: [])
            let name = try string(o["name"]!, at: p.appending("name"))
            let data = try numbers(o["data"]!, at: p.appending("data"))
            if observations.contains(where: { $0.name == name }) {
                throw HistFactoryError(.invalidModel, "duplicate observation for channel \"\(name)\"", path: p.appending("name"))
            }
            if let channel = channels.first(where: { $0.name == name }), channel.binCount != data.count {
                throw HistFactoryError(.invalidModel, "observation \"\(name)\" has \(data.count) bins but the channel has \(channel.binCount)", path: p.appending("data"))
            }
            if let k = data.firstIndex(where: { $0 < 0 }) {
                throw HistFactoryError(.invalidValue, "negative observed count \(JSON.pythonRepr(data[k]))", path: p.appending("data").appending(k))
            }
            observations.append(Observation(name: name, data: data))
        }
        for channel in channels where !observations.contains(where: { $0.name == channel.name }) {
            throw HistFactoryError(.invalidModel, "channel \"\(channel.name)\" has no observation", path: path)
        }
        return observations
    }

    func measurements(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> [Measurement] {
        var measurements: [Measurement] = []
        for (i, item) in try array(json, at: path, nonEmpty: true).enumerated() {
            let p = path.appending(i)
            let o = try object(item, at: p, required: ["name", "config"], optional: [])
            let name = try string(o["name"]!, at: p.appending("name"))
            if measurements.contains(where: { $0.name == name }) {
                throw HistFactoryError(.invalidModel, "duplicate measurement name \"\(name)\"", path: p.appending("name"))
            }
            let cp = p.appending("config")
            let config = try object(o["config"]!, at: cp, required: ["poi", "parameters"], optional: [])
            let poi = try string(config["poi"]!, at: cp.appending("poi"))
            var parameters: [ParameterConfig] = []
            for (k, par) in try array(config["parameters"]!, at: cp.appending("parameters"), nonEmpty: false).enumerated() {
                let pc = try parameter(par, at: cp.appending("parameters").appending(k))
                if parameters.contains(where: { $0.name == pc.name }) {
                    throw HistFactoryError(.invalidModel, "multiple parameter configurations for \"\(pc.name)\"", path: cp.appending("parameters").appending(k).appending("name"))
                }
                parameters.append(pc)
            }
            measurements.append(Measurement(name: name, poi: poi, parameters: parameters))
        }
        return measurements
    }

    func parameter(_ json: JSON, at p: JSONPointer) throws(HistFactoryError) -> ParameterConfig {
        let o = try object(json, at: p, required: ["name"], optional: ["inits", "bounds", "auxdata", "factors", "sigmas", "fixed"])
        var config = ParameterConfig(name: try string(o["name"]!, at: p.appending("name")))
        if let v = o["inits"] { config.inits = try numbers(v, at: p.appending("inits"), nonEmpty: false) }
        if let v = o["auxdata"] { config.auxdata = try numbers(v, at: p.appending("auxdata"), nonEmpty: false) }
        if let v = o["factors"] { config.factors = try numbers(v, at: p.appending("factors"), nonEmpty: false) }
        if let v = o["sigmas"] {
            let sigmas = try numbers(v, at: p.appending("sigmas"), nonEmpty: false)
            if let k = sigmas.firstIndex(where: { $0 <= 0 }) {
                throw HistFactoryError(.invalidValue, "sigma must be positive, found \(JSON.pythonRepr(sigmas[k]))", path: p.appending("sigmas").appending(k))
            }
            config.sigmas = sigmas
        }
        if let v = o["fixed"] {
            guard case .bool(let b) = v else { throw HistFactoryError(.schema, "expected a boolean, found \(v.kindDescription)", path: p.appending("fixed")) }
            config.fixed = b
        }
        if let v = o["bounds"] {
            var bounds: [ClosedRange<Double>] = []
            for (k, pair) in try array(v, at: p.appending("bounds"), nonEmpty: false).enumerated() {
                let bp = p.appending("bounds").appending(k)
                let values = try numbers(pair, at: bp)
                guard values.count == 2, values[0] <= values[1] else {
                    throw HistFactoryError(.schema, "a bound must be [low, high] with low ≤ high, found \(pair.serialized())", path: bp)
                }
                bounds.append(values[0]...values[1])
            }
            config.bounds = bounds
        }
        return config
    }
}

extension ParameterConfig {
    init(name: String) {
        self.name = name
    }
}
