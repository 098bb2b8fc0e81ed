import EFTJSON
import EFTModifiers
import Foundation
import HistFactory

/// efthf's version, as `efthf --version` prints it and bindings report it.
public enum EFTHFVersion {
    public static let current = "0.1.0"
}

/// How a model is built from a workspace, as pyhf's `Workspace.model(measurement_name=…,
/// patches=…, **config_kwargs)` takes it, in JSON:
///
/// ```
/// {"measurement_name": "NormalMeasurement",
///  "patches": [[{"op": "add", "path": …, "value": …}], {"metadata": …, "patch": [ … ]}],
///  "poi_name": "mu_SIG",
///  "modifier_settings": {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}}
/// ```
///
/// Patches are RFC 6902 JSON Patches, or patches of a pyhf PatchSet (objects with `patch`),
/// applied in order. `poi_name` replaces the measurement's POI; `modifier_settings` chooses the
/// interpolation codes (pyhf's defaults code4 and code4p; as in pyhf, settings that name one type
/// give the other its modifier's own default, normsys code1 or histosys code0).
public struct ModelOptions: Sendable, Equatable {
    public var measurement: String?
    public var patches: [JSON]
    public var poi: String?
    public var interpolation: InterpolationSettings

    /// Most patches one model may take.
    public static let maximumPatches = 10_000

    public init(measurement: String? = nil, patches: [JSON] = [], poi: String? = nil, interpolation: InterpolationSettings = .pyhfDefault) {
        self.measurement = measurement
        self.patches = patches
        self.poi = poi
        self.interpolation = interpolation
    }

    /// Reads the JSON form above; errors name the member's JSON path.
    public init(json: JSON) throws(HistFactoryError) {
        func bad(_ path: [String], _ message: String) -> HistFactoryError {
            HistFactoryError(.schema, "model options: \(message)", path: JSONPointer(tokens: path))
        }
        guard case .object(let o) = json else { throw bad([], "expected an object, found \(json.kindDescription)") }
        let allowed = ["measurement_name", "patches", "poi_name", "modifier_settings"]
        for key in o.keys where !allowed.contains(key) {
            throw bad([key], "unknown member \"\(key)\"; allowed: \(allowed.joined(separator: ", "))")
        }
        func optionalString(_ key: String) throws(HistFactoryError) -> String? {
            guard let v = o[key], v != .null else { return nil }
            guard let s = v.stringValue else { throw bad([key], "expected a string, found \(v.kindDescription)") }
            return s
        }
        measurement = try optionalString("measurement_name")
        poi = try optionalString("poi_name")
        patches = []
        if let p = o["patches"], p != .null {
            guard let list = p.arrayValue else { throw bad(["patches"], "expected an array of patches, found \(p.kindDescription)") }
            guard list.count <= Self.maximumPatches else { throw bad(["patches"], "\(list.count) patches; the limit is \(Self.maximumPatches)") }
            for (k, item) in list.enumerated() {
                if case .object(let patch) = item {
                    guard let ops = patch["patch"], ops.arrayValue != nil else {
                        throw bad(["patches", String(k)], "a patch object needs \"patch\": [JSON Patch operations]")
                    }
                    patches.append(ops)
                } else if item.arrayValue != nil {
                    patches.append(item)
                } else {
                    throw bad(["patches", String(k)], "expected a JSON Patch (an array) or a patch object, found \(item.kindDescription)")
                }
            }
        }
        interpolation = .pyhfDefault
        if let s = o["modifier_settings"], s != .null {
            guard case .object(let settings) = s else { throw bad(["modifier_settings"], "expected an object, found \(s.kindDescription)") }
            var pairs: [(type: String, code: String)] = []
            for (type, value) in settings.pairs {
                guard case .object(let v) = value, let name = v["interpcode"]?.stringValue, v.count == 1 else {
                    throw bad(["modifier_settings", type], "expected {\"interpcode\": \"code…\"}")
                }
                pairs.append((type, name))
            }
            // pyhf's rule: the settings replace the defaults whole; a type left out takes its modifier's own default.
            do {
                interpolation = try InterpolationSettings(modifierSettings: pairs)
            } catch {
                throw HistFactoryError(error.code, "model options: \(error.message)", path: JSONPointer(tokens: ["modifier_settings"]))
            }
        }
    }

    /// The model of `workspace` under these options, with the patched workspace's observed data.
    public func load(_ workspace: Workspace) throws(HistFactoryError) -> LoadedModel {
        var ws = workspace
        for (k, patch) in patches.enumerated() {
            ws = try ws.applying(patch: patch, label: "patch \(k)")
        }
        if let poi {
            let m = try ws.measurement(named: measurement)
            guard let k = ws.measurements.firstIndex(where: { $0.name == m.name }) else { preconditionFailure("measurement(named:) returned a measurement of the workspace") }
            let op: JSON = .object(JSONObject([
                ("op", .string("add")), ("path", .string("/measurements/\(k)/config/poi")), ("value", .string(poi)),
            ]))
            ws = try ws.applying(patch: .array([op]), label: "poi_name")
        }
        return try LoadedModel(workspace: ws, measurement: measurement, interpolation: interpolation)
    }
}

/// A model's configuration, as pyhf's `model.config` exposes it: parameter names and order,
/// per parameter set its slice, inits, bounds, fixed flags and constraint; POI; channels, bins,
/// samples; auxiliary data; and efthf's Wilson coefficients.
public struct ModelConfiguration: Sendable, Codable {
    public struct ParameterSetEntry: Sendable, Codable {
        public let name: String
        public let offset: Int
        public let count: Int
        public let isScalar: Bool
        public let inits: [Double]
        public let bounds: [[Double]]
        public let fixed: [Bool]
        /// pyhf's paramset class: unconstrained, constrained_by_normal, constrained_by_poisson.
        public let constraint: String
        /// σ of a normal constraint, τ of a Poisson one.
        public let widths: [Double]?
        public let auxdata: [Double]
        public let modifierTypes: [String]

        enum CodingKeys: String, CodingKey {
            case name, offset, count, isScalar = "is_scalar", inits, bounds, fixed, constraint, widths, auxdata, modifierTypes = "modifier_types"
        }
    }

    public let measurement: String
    public let poiName: String?
    public let poiIndex: Int?
    public let parameterNames: [String]
    public let parameterOrder: [String]
    public let parameterSets: [ParameterSetEntry]
    public let suggestedInit: [Double]
    public let suggestedBounds: [[Double]]
    public let suggestedFixed: [Bool]
    public let channels: [String]
    public let channelBins: [Int]
    public let samples: [String]
    public let auxdata: [Double]
    public let wilsonCoefficients: [String]
    public let normsysInterpcode: String
    public let histosysInterpcode: String

    enum CodingKeys: String, CodingKey {
        case measurement, poiName = "poi_name", poiIndex = "poi_index", parameterNames = "par_names", parameterOrder = "par_order"
        case parameterSets = "parameter_sets", suggestedInit = "suggested_init", suggestedBounds = "suggested_bounds"
        case suggestedFixed = "suggested_fixed", channels, channelBins = "channel_nbins", samples, auxdata
        case wilsonCoefficients = "wilson_coefficients", normsysInterpcode = "normsys_interpcode", histosysInterpcode = "histosys_interpcode"
    }

    public init(_ loaded: LoadedModel) {
        let m = loaded.model
        measurement = m.measurementName
        poiName = m.poiName
        poiIndex = m.poiIndex
        parameterNames = m.parameterNames
        parameterOrder = m.parameterOrder
        parameterSets = m.parameterSets.map { s in
            let widths: [Double]? = switch s.constraint {
            case .unconstrained: nil
            case .normal(let sigmas): sigmas
            case .poisson(let factors): factors
            }
            return ParameterSetEntry(
                name: s.name, offset: s.offset, count: s.count, isScalar: s.isScalar, inits: s.inits,
                bounds: s.bounds.map { [$0.lowerBound, $0.upperBound] }, fixed: s.fixed, constraint: s.constraint.pyhfTypeName,
                widths: widths, auxdata: s.auxdata, modifierTypes: s.modifierKinds.map(\.rawValue))
        }
        suggestedInit = m.suggestedInits
        suggestedBounds = m.suggestedBounds.map { [$0.lowerBound, $0.upperBound] }
        suggestedFixed = m.suggestedFixed
        channels = m.channels
        channelBins = m.channelBinCounts
        samples = m.samples
        auxdata = m.auxiliaryData
        let morphing = Set(m.parameterSets.filter { $0.modifierKinds.contains(.morphing) }.map(\.name))
        wilsonCoefficients = loaded.workspace.wilsonCoefficients.filter { morphing.contains($0) }
        normsysInterpcode = m.interpolation.normsys.rawValue
        histosysInterpcode = m.interpolation.histosys.rawValue
    }
}

/// The tasks by name, for adapters that receive a task's name and its options as JSON (the C
/// interface, and through it the Python package): each name decodes its task with
/// ``TaskCoding`` and returns its report as JSON.
public enum TaskRunner {
    /// The task names, in the order the documentation lists them.
    public static let names = ["fit", "hypotest", "limit", "significance", "toys", "scan", "ranking", "yields", "inspect", "export", "patchset",
                               "hs3_export", "combine_scaling_export"]

    /// Runs the task `name` with `options` (its JSON; empty for the defaults) on `loaded`.
    public static func run(_ name: String, options: String, on loaded: LoadedModel, progress: ProgressHandler? = nil) throws -> JSON {
        let what = "\(name) options"
        switch name {
        case "fit": return try TaskCoding.decode(FitTask.self, from: options, what: what).run(on: loaded).jsonValue
        case "hypotest": return try TaskCoding.decode(HypotestTask.self, from: options, what: what).run(on: loaded).jsonValue
        case "limit": return try TaskCoding.decode(LimitTask.self, from: options, what: what).run(on: loaded).jsonValue
        case "significance": return try TaskCoding.decode(SignificanceTask.self, from: options, what: what).run(on: loaded).jsonValue
        case "toys": return try TaskCoding.decode(ToysTask.self, from: options, what: what).run(on: loaded, progress: progress).jsonValue
        case "scan": return try TaskCoding.decode(ScanTask.self, from: options, what: what).run(on: loaded, progress: progress).jsonValue
        case "ranking": return try TaskCoding.decode(RankingTask.self, from: options, what: what).run(on: loaded, progress: progress).jsonValue
        case "yields": return try TaskCoding.decode(YieldsTask.self, from: options, what: what).run(on: loaded).jsonValue
        case "inspect":
            _ = try TaskCoding.decode(InspectTask.self, from: options, what: what)
            return InspectTask().run(on: loaded).report(file: loaded.workspace.file ?? "").jsonValue
        case "export":
            return try TaskCoding.decode(ExportTask.self, from: options, what: what).run(on: loaded.workspace).json
        case "patchset":
            let export = try TaskCoding.decode(PatchSetTask.self, from: options, what: what).run(on: loaded.workspace)
            return .object(JSONObject([
                ("background_only", export.backgroundOnly.json), ("patchset", export.patchSet.json),
                ("skipped", .array(export.skipped.map { .array($0.map { JSON.number($0) }) })),
            ]))
        case "hs3_export":
            return try TaskCoding.decode(HS3ExportTask.self, from: options, what: what).run(on: loaded.workspace)
        case "combine_scaling_export":
            let export = try TaskCoding.decode(CombineScalingExportTask.self, from: options, what: what).run(on: loaded.workspace)
            return .object(JSONObject([("scaling", export.scaling), ("workspace", export.templates.json)]))
        default:
            throw HistFactoryError(.parameter, "unknown task \"\(name)\"; the tasks are: \(names.joined(separator: ", "))")
        }
    }
}

extension TaskRunner {
    /// The tasks that change a workspace without building its model (the model may need what they
    /// add, e.g. a POI that is a Wilson coefficient): imports of CMS Combine scaling data and of
    /// EFT2Obs tables as morphing modifiers. Each returns the new workspace's JSON.
    public static let workspaceNames = ["combine_scaling_import", "eft2obs_import"]

    /// Runs the workspace task `name` with `options` (its JSON) on `workspace`.
    public static func run(_ name: String, options: String, on workspace: Workspace) throws -> JSON {
        let what = "\(name) options"
        switch name {
        case "combine_scaling_import": return try TaskCoding.decode(CombineScalingImportTask.self, from: options, what: what).run(on: workspace).json
        case "eft2obs_import": return try TaskCoding.decode(EFT2ObsImportTask.self, from: options, what: what).run(on: workspace).json
        default:
            throw HistFactoryError(.parameter, "unknown workspace task \"\(name)\"; these are: \(workspaceNames.joined(separator: ", "))")
        }
    }

    /// The tasks that need no model: imports of generator output into event databases, and an HS3
    /// file read as a workspace.
    public static let standaloneNames = ["import_lhe", "import_madminer", "hs3_import"]

    /// Runs the model-less task `name` with `options` (its JSON).
    public static func run(_ name: String, options: String) throws -> JSON {
        let what = "\(name) options"
        switch name {
        case "import_lhe": return try TaskCoding.decode(LHEImportTask.self, from: options, what: what).run().jsonValue
        case "import_madminer": return try TaskCoding.decode(MadMinerImportTask.self, from: options, what: what).run().jsonValue
        case "hs3_import": return try TaskCoding.decode(HS3ImportTask.self, from: options, what: what).run().json
        default:
            throw HistFactoryError(.parameter, "unknown task \"\(name)\" without a model; these are: \(standaloneNames.joined(separator: ", "))")
        }
    }
}

extension InspectTask {
    /// `{}`: the inspection has no options.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let key = c.allKeys.first { throw HistFactoryError(.schema, "at /\(key.stringValue): the inspection takes no options") }
        self.init()
    }
}
