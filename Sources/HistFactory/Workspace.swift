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
    /// The modifier types it was read with; workspaces derived from this one are read with them too.
    public let modifiers: ModifierSet

    /// Validates `json` as a workspace whose modifiers are pyhf's or those of `modifiers`. `file`
    /// labels errors; relative paths inside modifiers are resolved against `baseDirectory`, by
    /// default `file`'s directory.
    public init(json: JSON, file: String? = nil, baseDirectory: String? = nil, modifiers: ModifierSet = .pyhf) throws(HistFactoryError) {
        let base = baseDirectory ?? file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        do throws(HistFactoryError) {
            let root = try SpecReader.pyhf.object(json, at: JSONPointer(tokens: []), required: ["channels", "measurements", "observations", "version"], optional: [])
            let version = try SpecReader.pyhf.string(root["version"]!, at: JSONPointer(tokens: ["version"]))
            guard modifiers.versions.contains(version) else {
                let hint = version.hasPrefix("1.0.0+efthf") && modifiers.extensions.isEmpty
                    ? "; efthf's EFT extension is read with ModifierSet.efthf (module EFTModifiers)" : ""
                throw HistFactoryError(.schema, "unsupported workspace version \"\(version)\" (expected \(modifiers.versions.map { "\"\($0)\"" }.joined(separator: " or ")))\(hint)", path: JSONPointer(tokens: ["version"]))
            }
            let reader = SpecReader(version: version, modifiers: modifiers, baseDirectory: base)
            self.version = version
            self.modifiers = modifiers
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
    public init(contentsOf path: String, modifiers: ModifierSet = .pyhf) throws(HistFactoryError) {
        try self.init(json: try loadJSON(path), file: path, modifiers: modifiers)
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
        let byName = Dictionary(observations.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for name in channelNames {
            guard let obs = byName[name] else {
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

/// A modifier of a sample: one of pyhf's seven, or of a type an extension registers (``ModifierType``).
public struct Modifier: Sendable, Equatable {
    /// A modifier type's name, which orders and labels its parameters. pyhf's seven are static
    /// members; an extension declares its own (`Modifier.Kind(rawValue: "morphing")`).
    public struct Kind: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let histosys = Kind(rawValue: "histosys")
        public static let lumi = Kind(rawValue: "lumi")
        public static let normfactor = Kind(rawValue: "normfactor")
        public static let normsys = Kind(rawValue: "normsys")
        public static let shapefactor = Kind(rawValue: "shapefactor")
        public static let shapesys = Kind(rawValue: "shapesys")
        public static let staterror = Kind(rawValue: "staterror")

        /// pyhf's modifiers in its `histfactory_set` order, which fixes the parameter order.
        public static let pyhf: [Kind] = [.histosys, .lumi, .normfactor, .normsys, .shapefactor, .shapesys, .staterror]

        /// Whether the kind is one of pyhf's seven.
        public var isPyhf: Bool { Kind.pyhf.contains(self) }

        /// The order of parameter sets by kind: pyhf's seven in its order, then other kinds by name,
        /// so that a pyhf workspace keeps pyhf's `par_order`.
        static func modelOrder(_ kinds: some Sequence<Kind>) -> [Kind] {
            let present = Set(kinds)
            return pyhf.filter(present.contains) + present.filter { !$0.isPyhf }.sorted()
        }

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue.unicodeScalars.lexicographicallyPrecedes(b.rawValue.unicodeScalars) }
        public var description: String { rawValue }
    }

    public enum Payload: Sendable, Equatable {
        case none
        /// normsys: the yield factors at α = +1 and α = −1.
        case factors(hi: Double, lo: Double)
        /// histosys: the templates at α = +1 and α = −1.
        case templates(hi: [Double], lo: [Double])
        /// shapesys, staterror: absolute uncertainties per bin.
        case uncertainties([Double])
        /// A modifier of an extension type that makes the sample's nominal depend on parameters.
        case dependent(any ParameterDependentModifier)

        public static func == (a: Payload, b: Payload) -> Bool {
            switch (a, b) {
            case (.none, .none): true
            case let (.factors(h1, l1), .factors(h2, l2)): h1 == h2 && l1 == l2
            case let (.templates(h1, l1), .templates(h2, l2)): h1 == h2 && l1 == l2
            case let (.uncertainties(u1), .uncertainties(u2)): u1 == u2
            case let (.dependent(d1), .dependent(d2)): d1.source == d2.source
            default: false
            }
        }
    }

    public let name: String
    public let kind: Kind
    public let payload: Payload

    public init(name: String, kind: Kind, payload: Payload) {
        self.name = name
        self.kind = kind
        self.payload = payload
    }

    /// The parameter-dependent modifier, for an extension type.
    public var dependent: (any ParameterDependentModifier)? {
        if case .dependent(let d) = payload { d } else { nil }
    }
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
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let reason = !exists ? "no such file" : isDirectory.boolValue ? "is a directory, not a JSON file" : access(path, R_OK) != 0 ? "cannot read the file: \(String(cString: strerror(errno)))" : "cannot read the file"
        throw HistFactoryError(.io, reason, file: path)
    }
    do {
        return try JSONParser.parse(data)
    } catch {
        throw HistFactoryError(.syntax, "not valid JSON: \(error)", file: path)
    }
}

/// Strict reading of the pyhf 1.0.0 schema with a JSON path in every error; extension modifier
/// types read their `data` with its helpers.
public struct SpecReader: Sendable {
    /// The workspace's `version`.
    public let version: String
    /// The modifier types beyond pyhf's that the workspace may use.
    public let modifiers: ModifierSet
    /// The directory against which relative paths inside modifiers are resolved.
    public let baseDirectory: String?

    public init(version: String, modifiers: ModifierSet, baseDirectory: String?) {
        self.version = version
        self.modifiers = modifiers
        self.baseDirectory = baseDirectory
    }

    /// A reader of pyhf 1.0.0 without extensions.
    public static let pyhf = SpecReader(version: "1.0.0", modifiers: .pyhf, baseDirectory: nil)

    /// `path` resolved against ``baseDirectory`` unless absolute.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") || baseDirectory == nil ? path : baseDirectory! + "/" + path
    }

    public func object(_ json: JSON, at path: JSONPointer, required: [String], optional: [String]) throws(HistFactoryError) -> JSONObject {
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

    public func array(_ json: JSON, at path: JSONPointer, nonEmpty: Bool) throws(HistFactoryError) -> [JSON] {
        guard case .array(let a) = json else {
            throw HistFactoryError(.schema, "expected an array, found \(json.kindDescription)", path: path)
        }
        if nonEmpty && a.isEmpty { throw HistFactoryError(.schema, "expected a non-empty array", path: path) }
        return a
    }

    public func string(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> String {
        guard case .string(let s) = json else {
            throw HistFactoryError(.schema, "expected a string, found \(json.kindDescription) \(json.serialized().prefix(40))", path: path)
        }
        return s
    }

    public func number(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> Double {
        guard let d = json.doubleValue else {
            throw HistFactoryError(.schema, "expected a number, found \(json.kindDescription) \(json.serialized().prefix(40))", path: path)
        }
        guard d.isFinite else {
            throw HistFactoryError(.invalidValue, "non-finite number \(JSON.pythonRepr(d))", path: path)
        }
        return d
    }

    public func numbers(_ json: JSON, at path: JSONPointer, nonEmpty: Bool = true) throws(HistFactoryError) -> [Double] {
        let a = try array(json, at: path, nonEmpty: nonEmpty)
        var out = [Double]()
        out.reserveCapacity(a.count)
        for (i, v) in a.enumerated() { out.append(try number(v, at: path.appending(i))) }
        return out
    }

    public func nonNegative(_ values: [Double], at path: JSONPointer) throws(HistFactoryError) {
        if let i = values.firstIndex(where: { $0 < 0 }) {
            throw HistFactoryError(.invalidValue, "negative uncertainty \(JSON.pythonRepr(values[i]))", path: path.appending(i))
        }
    }

    func channels(_ json: JSON, at path: JSONPointer) throws(HistFactoryError) -> [Channel] {
        var channels: [Channel] = []
        var names = Set<String>()
        for (i, item) in try array(json, at: path, nonEmpty: true).enumerated() {
            let p = path.appending(i)
            let o = try object(item, at: p, required: ["name", "samples"], optional: [])
            let name = try string(o["name"]!, at: p.appending("name"))
            guard names.insert(name).inserted else {
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
        // Several parameter-dependent modifiers of one sample: the first one's type says whether they go together.
        let dependents = modifiers.compactMap(\.dependent)
        if dependents.count > 1 {
            try dependents[0].checkCombination(dependents, sample: name, at: p.appending("modifiers"))
        }
        return Sample(name: name, data: data, modifiers: modifiers)
    }

    func modifier(_ json: JSON, at p: JSONPointer, sampleData: [Double]) throws(HistFactoryError) -> Modifier {
        let bins = sampleData.count
        let o = try object(json, at: p, required: ["name", "type", "data"], optional: [])
        let name = try string(o["name"]!, at: p.appending("name"))
        let typeName = try string(o["type"]!, at: p.appending("type"))
        if let type = modifiers.extensions.first(where: { $0.typeName == typeName }), type.workspaceVersion == version {
            let dependent = try type.read(o["data"]!, at: p.appending("data"), name: name, sampleData: sampleData, reader: self)
            return Modifier(name: name, kind: type.kind, payload: .dependent(dependent))
        }
        guard let kind = Modifier.Kind.pyhf.first(where: { $0.rawValue == typeName }) else {
            let known = Modifier.Kind.pyhf.map(\.rawValue).joined(separator: ", ")
            let hint = modifiers.extensions.first(where: { $0.typeName == typeName }).map { "; \($0.typeName) needs \"version\": \"\($0.workspaceVersion)\"" }
                ?? (["morphing", "event_database"].contains(typeName) ? "; efthf's \(typeName) is read with ModifierSet.efthf (module EFTModifiers) from a workspace of version 1.0.0+efthf.1" : "")
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
        default:
            preconditionFailure("\(kind) is not one of pyhf's modifiers")
        }
        return Modifier(name: name, kind: kind, payload: payload)
    }

    func observations(_ json: JSON, at path: JSONPointer, channels: [Channel]) throws(HistFactoryError) -> [Observation] {
        var observations: [Observation] = []
        var names = Set<String>()
        let channelByName = Dictionary(channels.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (i, item) in try array(json, at: path, nonEmpty: true).enumerated() {
            let p = path.appending(i)
            let o = try object(item, at: p, required: ["name", "data"], optional: [])
            let name = try string(o["name"]!, at: p.appending("name"))
            let data = try numbers(o["data"]!, at: p.appending("data"))
            guard names.insert(name).inserted else {
                throw HistFactoryError(.invalidModel, "duplicate observation for channel \"\(name)\"", path: p.appending("name"))
            }
            if let channel = channelByName[name], channel.binCount != data.count {
                throw HistFactoryError(.invalidModel, "observation \"\(name)\" has \(data.count) bins but the channel has \(channel.binCount)", path: p.appending("data"))
            }
            if let k = data.firstIndex(where: { $0 < 0 }) {
                throw HistFactoryError(.invalidValue, "negative observed count \(JSON.pythonRepr(data[k]))", path: p.appending("data").appending(k))
            }
            observations.append(Observation(name: name, data: data))
        }
        for channel in channels where !names.contains(channel.name) {
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
            var parameterNames = Set<String>()
            for (k, par) in try array(config["parameters"]!, at: cp.appending("parameters"), nonEmpty: false).enumerated() {
                let pc = try parameter(par, at: cp.appending("parameters").appending(k))
                guard parameterNames.insert(pc.name).inserted else {
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
