import EFTHF
import Foundation

/// What a job computes, as submitted in `POST /v1/workspaces/{id}/jobs` (Specs/service.md):
///
/// ```
/// {"kind": "export",   "at": {"cHW": 0.5}, "poi"?: "lumi"}
/// {"kind": "patchset", "grid": {"cHW": [-1, 1, 21], "cHq3": [-0.5, 0.5, 11]}, "poi"?, "skip_invalid"?: false}
/// {"kind": "fit",      "ops"?: ["cHW", "cHq3"], "fix"?: {"lumi": 1, "gamma_stat": [1, 1.02]}, "exclude"?: ["alpha_JES"], "measurement"?: "name"}
/// {"kind": "scan",     "axes": {"cHW": [-1, 1, 21]}, "fix"?: {…}, "measurement"?: "name"}
/// {"kind": "limit",    "level"?: 0.05, "scan"?: [0, 5, 21], "test_statistic"?: "qtilde", "measurement"?: "name"}
/// {"kind": "popxf",    "scale": 125, "observables"?: "samples", "wcxf"?: "SMEFT:Warsaw"}
/// {"kind": "ranking",  "poi"?: "mu", "ops"?: ["cHW"], "fix"?: {…}, "measurement"?: "name"}
/// ```
///
/// The task layer's ``ExportTask``, ``PatchSetTask``, ``FitTask``, ``ScanTask``, ``LimitTask`` and
/// ``RankingTask``: the same operations as `efthf export --at`, `efthf export --patchset --grid`,
/// `efthf fit --ops … --json`, `efthf scan --par … --json`, `efthf limit --json`,
/// `efthf export --popxf --scale GEV [--observables] [--wcxf]` and `efthf ranking --json`, with the
/// same results, grid limits and parameter rules.
public enum JobRequest: Sendable, Equatable {
    case export(point: [String: Double], poi: String?)
    case patchSet(grid: [GridAxis], poi: String?, skipInvalid: Bool)
    case fit(ops: [String]?, fix: ParameterValues, exclude: [String], measurement: String?)
    case scan(axes: [GridAxis], fix: ParameterValues, measurement: String?)
    case limit(level: Double, scan: GridAxis?, testStatistic: String, measurement: String?)
    case popxf(scale: Double, observables: POPxfOptions.Observables, wcxf: String?)
    case ranking(poi: String?, ops: [String]?, fix: ParameterValues, measurement: String?)

    /// Most grid points one patch-set job may have: each is a full workspace evaluation and a patch.
    public static let maximumGridPoints = Limits.patchSetPoints

    public var kind: String {
        switch self {
        case .export: "export"
        case .patchSet: "patchset"
        case .fit: "fit"
        case .scan: "scan"
        case .limit: "limit"
        case .popxf: "popxf"
        case .ranking: "ranking"
        }
    }

    /// The files a finished job of this kind offers for download, main result first.
    public var resultFiles: [String] {
        switch self {
        case .export: ["workspace.json"]
        case .patchSet: ["patchset.json", "BkgOnly.json", "likelihood.tar.gz"]
        case .fit: ["fit.json"]
        case .scan: ["scan.json"]
        case .limit: ["limit.json"]
        case .popxf: ["popxf.json"]
        case .ranking: ["ranking.json"]
        }
    }

    /// Reads a job request; a 400 names the member that is missing, unknown or of the wrong kind.
    public init(json: JSON) throws(ServiceError) {
        guard case .object(let o) = json else { throw Self.bad("", "the job request must be a JSON object, found \(json.kindDescription)") }
        let kinds = "\"export\", \"patchset\", \"fit\", \"scan\", \"limit\", \"popxf\" or \"ranking\""
        guard let kind = o["kind"]?.stringValue else { throw Self.bad("/kind", "\"kind\" must be \(kinds)") }
        let allowed: [String: Set<String>] = [
            "export": ["kind", "at", "poi"], "patchset": ["kind", "grid", "poi", "skip_invalid"], "fit": ["kind", "ops", "fix", "exclude", "measurement"],
            "scan": ["kind", "axes", "fix", "measurement"], "limit": ["kind", "level", "scan", "test_statistic", "measurement"],
            "popxf": ["kind", "scale", "observables", "wcxf"],
            "ranking": ["kind", "poi", "ops", "fix", "measurement"],
        ]
        guard let keys = allowed[kind] else { throw Self.bad("/kind", "\"kind\" must be \(kinds), found \"\(kind)\"") }
        for key in o.keys where !keys.contains(key) {
            throw Self.bad("/\(key)", "unknown member \"\(key)\" for a \(kind) job; allowed: \(keys.sorted().joined(separator: ", "))")
        }
        let poi = try Self.optionalString(o["poi"], "/poi")
        switch kind {
        case "export":
            guard let at = o["at"] else { throw Self.bad("/at", "an export job needs \"at\": {coefficient: value, …}") }
            self = .export(point: try Self.numbers(at, "/at"), poi: poi)
        case "patchset":
            let axes = try Self.axes(o["grid"], "/grid", "a patchset job needs \"grid\": {coefficient: [lower, upper, count], …} with at least one coefficient")
            do {
                _ = try GridAxis.checked(axes, maximumPoints: Self.maximumGridPoints, what: "the patch set")
            } catch {
                throw Self.unacceptable("/grid", error.message)
            }
            var skip = false
            if let s = o["skip_invalid"] {
                guard let b = s.boolValue else { throw Self.bad("/skip_invalid", "must be true or false") }
                skip = b
            }
            self = .patchSet(grid: axes, poi: poi, skipInvalid: skip)
        case "scan":
            let axes = try Self.axes(o["axes"], "/axes", "a scan job needs \"axes\": {parameter: [lower, upper, count]} with one or two parameters")
            let task = ScanTask(axes: axes)
            do { try task.validate() } catch { throw Self.unacceptable("/axes", error.message) }
            self = .scan(axes: axes, fix: try Self.fix(o["fix"]), measurement: try Self.optionalString(o["measurement"], "/measurement"))
        case "popxf":
            guard let scale = o["scale"]?.doubleValue, scale.isFinite, scale > 0 else {
                throw Self.bad("/scale", "a popxf job needs \"scale\": the renormalisation scale in GeV (a positive number)")
            }
            let name = try Self.optionalString(o["observables"], "/observables") ?? "samples"
            guard let observables = POPxfOptions.Observables(rawValue: name) else {
                throw Self.bad("/observables", "must be \"samples\" or \"channels\", found \"\(name)\"")
            }
            let wcxf = try Self.optionalString(o["wcxf"], "/wcxf")
            if let text = wcxf {
                let parts = text.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw Self.bad("/wcxf", "must be \"eft:basis\" (e.g. \"SMEFT:Warsaw\"), found \"\(text)\"") }
            }
            self = .popxf(scale: scale, observables: observables, wcxf: wcxf)
        case "limit":
            var level = 0.05
            if let value = o["level"] {
                guard let x = value.doubleValue else { throw Self.bad("/level", "must be a number, found \(value.kindDescription)") }
                level = x
            }
            var scan: GridAxis? = nil
            if let value = o["scan"] {
                scan = try Self.axes(.object(JSONObject([("scan", value)])), "", "").first
            }
            let statistic = try Self.optionalString(o["test_statistic"], "/test_statistic") ?? "qtilde"
            self = .limit(level: level, scan: scan, testStatistic: statistic, measurement: try Self.optionalString(o["measurement"], "/measurement"))
        case "ranking":
            self = .ranking(poi: poi, ops: try Self.ops(o["ops"]), fix: try Self.fix(o["fix"]),
                            measurement: try Self.optionalString(o["measurement"], "/measurement"))
        default:
            self = .fit(ops: try Self.ops(o["ops"]), fix: try Self.fix(o["fix"]), exclude: try Self.modifierNames(o["exclude"], "/exclude"),
                        measurement: try Self.optionalString(o["measurement"], "/measurement"))
        }
    }

    /// The measurement the request names, if any.
    var measurement: String? {
        switch self {
        case .export, .patchSet, .popxf: nil
        case .fit(_, _, _, let m), .scan(_, _, let m), .limit(_, _, _, let m), .ranking(_, _, _, let m): m
        }
    }

    /// Checks the request against the workspace's model before it is queued, with the task
    /// layer's own checks, so that a wrong name or range is a 422 naming the member and the value
    /// now rather than a failed job later. `loaded` is the workspace's default model; a request
    /// naming another measurement is checked on that measurement's model.
    ///
    /// - Complexity: building the model when another measurement is named or a fit excludes
    ///   modifiers; otherwise a few look-ups (the limit's monotonicity check reads the morphing terms).
    func check(on loaded: LoadedModel) throws(ServiceError) {
        let workspace = loaded.workspace
        let coefficients = workspace.wilsonCoefficients
        func known(_ names: [String], _ what: String) throws(ServiceError) {
            guard !coefficients.isEmpty else {
                throw ServiceError(.unprocessableContent, "at /\(what): the workspace has no Wilson coefficients (no morphing or event-database modifier)", code: "parameter", path: "/\(what)")
            }
            for name in names where !coefficients.contains(name) {
                throw ServiceError(.unprocessableContent, "at /\(what)/\(name): unknown Wilson coefficient \"\(name)\"; the workspace has: \(coefficients.joined(separator: ", "))",
                                   code: "parameter", path: "/\(what)/\(name)")
            }
        }
        var model = loaded
        if let measurement {
            guard workspace.measurements.contains(where: { $0.name == measurement }) else {
                throw ServiceError(.unprocessableContent, "at /measurement: no measurement named \"\(measurement)\"; the workspace has: \(workspace.measurements.map(\.name).joined(separator: ", "))",
                                   code: "parameter", path: "/measurement")
            }
            do { model = try LoadedModel(workspace: workspace, measurement: measurement) } catch {
                throw ServiceError(.unprocessableContent, "at /measurement: \(error.message)", code: error.code.name, path: "/measurement")
            }
        }
        /// `fix`, entry by entry, so the error names the entry: the library's own rule (a known
        /// parameter, the right number of values).
        func checkFix(_ fix: ParameterValues) throws(ServiceError) {
            for entry in fix.entries {
                var options = FitOptions()
                do { try ParameterValues([entry]).fix(in: &options, model: model.model) } catch {
                    throw ServiceError(.unprocessableContent, "at /fix/\(entry.name): \(error.message)", code: error.code.name, path: "/fix/\(entry.name)")
                }
            }
        }
        /// The POI the exported measurements get: `poi`, or theirs when it is not a coefficient.
        func checkPOI(_ poi: String?) throws(ServiceError) {
            do { try workspace.checkExportMeasurements(poi: poi) } catch {
                throw ServiceError(.unprocessableContent, "at /poi: \(error.message)", code: error.code.name, path: "/poi")
            }
        }
        switch self {
        case .export(let point, let poi):
            try known(point.keys.sorted(), "at")
            try checkPOI(poi)
        case .patchSet(let grid, let poi, _):
            try known(grid.map(\.name), "grid")
            try checkPOI(poi)
        case .fit(let ops, let fix, let exclude, _):
            if let ops { try known(ops, "ops") }
            let task = FitTask(ops: ops, fix: fix, exclude: exclude)
            do { model = try task.model(for: model) } catch {
                throw ServiceError(.unprocessableContent, error.message, code: error.code.name, path: "/exclude")
            }
            try checkFix(fix)
            do { _ = try task.options(for: model.model) } catch {
                throw ServiceError(.unprocessableContent, error.message, code: error.code.name, path: "/")
            }
        case .scan(let axes, let fix, _):
            for axis in axes {
                do { _ = try model.model.parameterIndex(named: axis.name) } catch {
                    throw ServiceError(.unprocessableContent, "at /axes/\(axis.name): \(error.message)", code: error.code.name, path: "/axes/\(axis.name)")
                }
            }
            try checkFix(fix)
        case .popxf:
            guard !coefficients.isEmpty else {
                throw ServiceError(.unprocessableContent, "a popxf job needs Wilson coefficients; the workspace has none (no morphing or event-database modifier)", code: "parameter", path: "/kind")
            }
        case .ranking(let poi, let ops, let fix, _):
            if let ops { try known(ops, "ops") }
            try checkFix(fix)
            do { _ = try FitTask(ops: ops, fix: fix).options(for: model.model) } catch {
                throw ServiceError(.unprocessableContent, error.message, code: error.code.name, path: "/")
            }
            guard let name = poi ?? model.model.poiName else {
                throw ServiceError(.unprocessableContent, "at /poi: measurement \"\(model.model.measurementName)\" has no POI; name the parameter to rank impacts on",
                                   code: "parameter", path: "/poi")
            }
            do { _ = try model.model.parameterIndex(named: name) } catch {
                throw ServiceError(.unprocessableContent, "at /poi: \(error.message)", code: error.code.name, path: "/poi")
            }
        case .limit:
            do { try limitTask.validate(on: model) } catch let error as InferenceError {
                throw ServiceError(error)
            } catch let error as HistFactoryError {
                throw ServiceError(error)
            } catch {
                throw ServiceError(.unprocessableContent, "\(error)")
            }
        }
    }

    /// The limit job's task (nil for other kinds).
    private var limitTask: LimitTask {
        guard case .limit(let level, let scan, let statistic, _) = self else { return LimitTask() }
        return LimitTask(level: level, scan: scan?.values, testStatistic: statistic)
    }

    /// The job's result: file name → contents, in ``resultFiles`` order, and a summary for the job status.
    ///
    /// - Complexity: that of the library call: one workspace evaluation (export), one per grid
    ///   point (patch set), or a multi-start fit with profile intervals (fit).
    /// `progress` receives (done, total): conditional fits of a scan, grid points of a patch set,
    /// stages of a fit (the task layer's progress).
    /// `cancellation` stops a fit, scan, limit, ranking or patch set (``InferenceError/Code/cancelled``;
    /// a patch set between parts of about a hundredth of its grid); the single-point exports are
    /// checked for it only before they start.
    func run(on workspace: Workspace, progress: ProgressHandler? = nil, cancellation: Cancellation? = nil) throws -> (files: [(String, Data)], summary: JSON?) {
        func file(_ json: JSON) -> Data { Data((json.serialized(.pretty) + "\n").utf8) }
        try cancellation?.check()
        switch self {
        case .export(let point, let poi):
            return ([("workspace.json", file(try ExportTask(point: point, poi: poi).run(on: workspace).json))], nil)
        case .patchSet(let grid, let poi, let skipInvalid):
            let export = try PatchSetTask(grid: grid, poi: poi, skipInvalid: skipInvalid).run(on: workspace, progress: progress, cancellation: cancellation)
            let summary: JSON = .object(JSONObject([("patches", .integer(Int64(export.patchSet.patches.count))), ("skipped", .array(export.skipped.map { .numbers($0) }))]))
            // The files of `efthf export --patchset -o DIR` and of `-o likelihood.tar.gz`, in ``resultFiles`` order.
            var files = Dictionary(uniqueKeysWithValues: PatchSetTask.files(export).map { ($0.name, Data($0.text.utf8)) })
            files["likelihood.tar.gz"] = try PatchSetTask.archive(export)
            return (resultFiles.map { ($0, files[$0]!) }, summary)
        case .fit(let ops, let fix, let exclude, let measurement):
            let report = try FitTask(ops: ops, fix: fix, exclude: exclude).run(on: LoadedModel(workspace: workspace, measurement: measurement), progress: progress, cancellation: cancellation)
            return ([("fit.json", file(report.jsonValue))], nil)
        case .scan(let axes, let fix, let measurement):
            let report = try ScanTask(axes: axes, fix: fix).run(on: LoadedModel(workspace: workspace, measurement: measurement), progress: progress, cancellation: cancellation)
            return ([("scan.json", file(report.jsonValue))], nil)
        case .limit(_, _, _, let measurement):
            let report = try limitTask.run(on: LoadedModel(workspace: workspace, measurement: measurement), cancellation: cancellation)
            return ([("limit.json", file(report.jsonValue))], nil)
        case .popxf(let scale, let observables, let wcxf):
            let options = POPxfOptions(observables: observables, scale: scale, basis: wcxf.map { text in let parts = text.split(separator: ":").map(String.init); return .wcxf(eft: parts[0], basis: parts[1]) },
                                       toolVersion: EFTHFVersion.current)
            // The file records its workspace's file name; the server's own path stays private.
            let directory = workspace.file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
            let named = try Workspace(json: workspace.json, file: Storage.workspaceFileName, baseDirectory: directory, modifiers: .efthf)
            return ([("popxf.json", file(try named.popxf(options)))], nil)
        case .ranking(let poi, let ops, let fix, let measurement):
            let report = try RankingTask(poi: poi, ops: ops, fix: fix).run(on: LoadedModel(workspace: workspace, measurement: measurement), progress: progress, cancellation: cancellation)
            return ([("ranking.json", file(report.jsonValue))], nil)
        }
    }

    /// A well-formed member whose value the library refuses (a range, a grid size): 422.
    private static func unacceptable(_ path: String, _ message: String) -> ServiceError {
        ServiceError(.unprocessableContent, "at \(path): \(message)", code: "parameter", path: path)
    }

    private static func bad(_ path: String, _ message: String) -> ServiceError {
        ServiceError(.badRequest, path.isEmpty ? message : "at \(path): \(message)", code: "request", path: path.isEmpty ? "/" : path)
    }

    /// `{name: [lower, upper, count], …}` with at least one axis.
    private static func axes(_ value: JSON?, _ path: String, _ missing: String) throws(ServiceError) -> [GridAxis] {
        guard case .object(let g)? = value, g.count > 0 else { throw bad(path, missing) }
        var axes: [GridAxis] = []
        for (name, value) in g.pairs {
            let p = "\(path)/\(name)"
            guard case .array(let a) = value, a.count == 3, let lower = a[0].doubleValue, let upper = a[1].doubleValue, case .integer(let n) = a[2] else {
                throw bad(p, "expected [lower, upper, count] with lower < upper and an integer count ≥ 1")
            }
            do {
                axes.append(try GridAxis(name: name, lower: lower, upper: upper, count: Int(clamping: n)))
            } catch {
                throw unacceptable(p, error.message)
            }
        }
        return axes
    }

    private static func ops(_ value: JSON?) throws(ServiceError) -> [String]? {
        guard let value else { return nil }
        guard case .array(let a) = value, !a.isEmpty, a.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
            throw bad("/ops", "\"ops\" must be a non-empty array of coefficient names")
        }
        return a.compactMap(\.stringValue)
    }

    /// A list of distinct non-empty modifier names, at most ``Limits/excludedModifiers``: the
    /// `exclude` of a fit job and of a yields request.
    static func modifierNames(_ value: JSON?, _ path: String) throws(ServiceError) -> [String] {
        guard let value else { return [] }
        guard case .array(let a) = value, a.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
            throw bad(path, "must be an array of modifier names, found \(value.kindDescription)")
        }
        guard a.count <= Limits.excludedModifiers else { throw bad(path, "names \(a.count) modifiers; the limit is \(Limits.excludedModifiers)") }
        let names = a.compactMap(\.stringValue)
        var seen = Set<String>()
        for (i, name) in names.enumerated() where !seen.insert(name).inserted {
            throw bad("\(path)/\(i)", "\"\(name)\" given twice")
        }
        return names
    }

    private static func fix(_ value: JSON?) throws(ServiceError) -> ParameterValues {
        guard let value else { return ParameterValues() }
        do {
            return try ParameterValues(json: value, at: JSONPointer(tokens: ["fix"]))
        } catch {
            throw bad(error.path.map { "/" + $0.tokens.joined(separator: "/") } ?? "/fix", error.message)
        }
    }

    private static func optionalString(_ value: JSON?, _ path: String) throws(ServiceError) -> String? {
        guard let value else { return nil }
        guard let s = value.stringValue, !s.isEmpty else { throw bad(path, "must be a non-empty string") }
        return s
    }

    private static func numbers(_ value: JSON, _ path: String) throws(ServiceError) -> [String: Double] {
        guard case .object(let o) = value else { throw bad(path, "must be an object {name: number, …}, found \(value.kindDescription)") }
        var out: [String: Double] = [:]
        for (name, v) in o.pairs {
            guard let x = v.doubleValue, x.isFinite else { throw bad("\(path)/\(name)", "must be a finite number, found \(v.kindDescription)") }
            guard out[name] == nil else { throw bad("\(path)/\(name)", "\"\(name)\" given twice") }
            out[name] = x
        }
        return out
    }
}
