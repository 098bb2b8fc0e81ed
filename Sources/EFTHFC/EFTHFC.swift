// The C interface of efthf (include/efthf.h): opaque handles over the task layer, plain arrays
// and JSON strings. Every entry point catches every error and returns a status code with a
// message (file, JSON path, value) that the caller frees with efthf_string_free; nothing here
// re-implements a rule of the model or of the inference.
import EFTHF
import EFTJSON
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Status codes (efthf.h's `EFTHF_*`).
enum Status: Int32 {
    case ok = 0
    /// A null pointer, a wrong buffer size, an unknown task: a mistake of the caller.
    case invalidArgument = 1
    /// The workspace, a patch, an option or an event database is invalid or unreadable.
    case invalidInput = 2
    /// A fit, hypotest or limit could not be computed.
    case inference = 3
    /// Anything else.
    case `internal` = 4
}

struct CallError: Error {
    let status: Status
    let message: String
    init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// A heap copy of `text` for the caller (freed by efthf_string_free).
func cString(_ text: String) -> UnsafeMutablePointer<CChar>? { strdup(text) }

/// Runs `body`, reporting a thrown error through `error` (when not null) as its status.
func guarded(_ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ body: () throws -> Void) -> Int32 {
    error?.pointee = nil
    let status: Status
    let message: String
    do {
        try body()
        return Status.ok.rawValue
    } catch let e as CallError {
        (status, message) = (e.status, e.message)
    } catch let e as HistFactoryError {
        (status, message) = (.invalidInput, e.description)
    } catch let e as EventDatabaseError {
        (status, message) = (.invalidInput, e.description)
    } catch let e as InferenceError {
        (status, message) = (.inference, e.description)
    } catch {
        (status, message) = (.internal, "\(error)")
    }
    error?.pointee = cString(message)
    return status.rawValue
}

/// Creates a handle into `out` (NULL on failure).
func creating(_ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
              _ make: () throws -> AnyObject) -> Int32 {
    out?.pointee = nil
    return guarded(error) { try output(out, "out").pointee = retain(try make()) }
}

/// Returns a string the caller frees into `out` (NULL on failure).
func returning(_ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
               _ make: () throws -> String) -> Int32 {
    out?.pointee = nil
    return guarded(error) { try output(out, "out").pointee = cString(try make()) }
}

func string(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
    guard let p else { throw CallError(.invalidArgument, "\(what) is NULL") }
    return String(cString: p)
}

func parse(_ text: String, _ what: String) throws -> JSON {
    do { return try JSONParser.parse(text) } catch { throw HistFactoryError(.schema, "\(what) is not valid JSON: \(error)") }
}

func output<T>(_ p: UnsafeMutablePointer<T>?, _ what: String) throws -> UnsafeMutablePointer<T> {
    guard let p else { throw CallError(.invalidArgument, "\(what) is NULL") }
    return p
}

func doubles(_ p: UnsafePointer<Double>?, _ count: Int, _ what: String) throws -> [Double] {
    guard count == 0 || p != nil else { throw CallError(.invalidArgument, "\(what) is NULL") }
    guard count >= 0 else { throw CallError(.invalidArgument, "\(what): negative size") }
    return count == 0 ? [] : Array(UnsafeBufferPointer(start: p, count: count))
}

/// Writes `values` into a caller's buffer of `capacity` doubles; the sizes must agree.
func write(_ values: [Double], to out: UnsafeMutablePointer<Double>?, capacity: Int, _ what: String) throws {
    guard let out else { throw CallError(.invalidArgument, "\(what) is NULL") }
    guard capacity == values.count else {
        throw CallError(.invalidArgument, "\(what) holds \(capacity) values, \(values.count) are to be written")
    }
    values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: values.count) }
}

// MARK: - Handles

/// The objects behind the opaque handles: immutable after creation, so one handle may be used
/// from several threads at once.
final class WorkspaceBox: Sendable {
    let workspace: Workspace
    init(_ workspace: Workspace) { self.workspace = workspace }
}

final class ModelBox: Sendable {
    let loaded: LoadedModel
    init(_ loaded: LoadedModel) { self.loaded = loaded }
}

final class DataBox: Sendable {
    let data: ModelData
    init(_ data: ModelData) { self.data = data }
}

func retain(_ object: AnyObject) -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(object).toOpaque()) }
func borrow<T: AnyObject>(_ handle: OpaquePointer?, _ type: T.Type, _ what: String) throws -> T {
    guard let handle else { throw CallError(.invalidArgument, "\(what) is NULL") }
    return Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}
func release<T: AnyObject>(_ handle: OpaquePointer?, _ type: T.Type) {
    guard let handle else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).release()
}

// MARK: - Library

/// efthf's version (static storage; not to be freed).
@c public func efthf_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionText)
}

nonisolated(unsafe) let versionText: UnsafeMutablePointer<CChar> = strdup(EFTHFVersion.current)!

/// Frees a string returned by the library (NULL is ignored).
@c public func efthf_string_free(_ text: UnsafeMutablePointer<CChar>?) {
    free(text)
}

// MARK: - Workspaces

/// Reads a workspace from JSON text; `base_directory` resolves relative event-database paths
/// (NULL: the current directory).
@c public func efthf_workspace_from_json(
    _ json: UnsafePointer<CChar>?, _ baseDirectory: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    creating(out, error) {
        let text = try string(json, "json")
        let parsed = try parse(text, "the workspace")
        let base = baseDirectory.map { String(cString: $0) }
        return WorkspaceBox(try Workspace(json: parsed, baseDirectory: base, modifiers: .efthf))
    }
}

/// Reads a workspace file (relative event-database paths resolve against its directory).
@c public func efthf_workspace_from_file(
    _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    creating(out, error) {
        return WorkspaceBox(try Workspace(contentsOf: try string(path, "path"), modifiers: .efthf))
    }
}

@c public func efthf_workspace_free(_ workspace: OpaquePointer?) { release(workspace, WorkspaceBox.self) }

/// The workspace as JSON (pyhf 1.0.0 or efthf's extension), compact.
@c public func efthf_workspace_json(
    _ workspace: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    returning(out, error) {
        let ws = try borrow(workspace, WorkspaceBox.self, "workspace").workspace
        return ws.json.serialized()
    }
}

/// Builds the model of one measurement. `options` (JSON, NULL for none):
/// `{"measurement_name", "patches": [JSON Patch or {"patch": JSON Patch, …}], "poi_name",
/// "modifier_settings": {"normsys": {"interpcode"}, "histosys": {"interpcode"}}}` as pyhf's
/// `Workspace.model(...)`.
@c public func efthf_workspace_model(
    _ workspace: OpaquePointer?, _ options: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    creating(out, error) {
        let ws = try borrow(workspace, WorkspaceBox.self, "workspace").workspace
        let text = options.map { String(cString: $0) } ?? ""
        let request = text.isEmpty ? ModelOptions() : try ModelOptions(json: try parse(text, "the model options"))
        return ModelBox(try request.load(ws))
    }
}

// MARK: - Models

@c public func efthf_model_free(_ model: OpaquePointer?) { release(model, ModelBox.self) }

/// The model's configuration as JSON: parameter names (pyhf's `par_names`), `par_order`,
/// per parameter set its slice, inits, bounds, fixed flags and constraint; the POI; channels and
/// their bins; samples; auxiliary data; Wilson coefficients.
@c public func efthf_model_config(
    _ model: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    returning(out, error) {
        let loaded = try borrow(model, ModelBox.self, "model").loaded
        return ModelConfiguration(loaded).jsonValue.serialized()
    }
}

/// The number of parameters (0 for a NULL model).
@c public func efthf_model_npars(_ model: OpaquePointer?) -> Int {
    (try? borrow(model, ModelBox.self, "model").loaded.model.parameterCount) ?? 0
}

/// The number of main-data bins (0 for a NULL model).
@c public func efthf_model_nmain(_ model: OpaquePointer?) -> Int {
    (try? borrow(model, ModelBox.self, "model").loaded.model.mainBinCount) ?? 0
}

/// The number of auxiliary data (0 for a NULL model).
@c public func efthf_model_naux(_ model: OpaquePointer?) -> Int {
    (try? borrow(model, ModelBox.self, "model").loaded.model.auxiliaryData.count) ?? 0
}

/// The workspace's observed data for the model (pyhf's `Workspace.data(model, include_auxdata)`):
/// main bins in channel order, then with `include_auxdata` the auxiliary data; `capacity` must be
/// nmain (+ naux).
@c public func efthf_model_observed_data(
    _ model: OpaquePointer?, _ includeAuxdata: Int32, _ out: UnsafeMutablePointer<Double>?, _ capacity: Int,
    _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    guarded(error) {
        let loaded = try borrow(model, ModelBox.self, "model").loaded
        try write(loaded.data.main + (includeAuxdata != 0 ? loaded.data.auxiliary : []), to: out, capacity: capacity, "out")
    }
}

/// The expected data at `pars` (pyhf's `Model.expected_data(pars, include_auxdata)`).
@c public func efthf_model_expected_data(
    _ model: OpaquePointer?, _ pars: UnsafePointer<Double>?, _ npars: Int, _ includeAuxdata: Int32,
    _ out: UnsafeMutablePointer<Double>?, _ capacity: Int, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    guarded(error) {
        let m = try borrow(model, ModelBox.self, "model").loaded.model
        let p = try parameters(pars, npars, m)
        try write(m.expectedMainData(p) + (includeAuxdata != 0 ? m.expectedAuxiliaryData(p) : []), to: out, capacity: capacity, "out")
    }
}

func parameters(_ pars: UnsafePointer<Double>?, _ npars: Int, _ model: HistFactoryModel) throws -> [Double] {
    guard npars == model.parameterCount else {
        throw CallError(.invalidArgument, "pars has \(npars) values, the model has \(model.parameterCount) parameters")
    }
    return try doubles(pars, npars, "pars")
}

// MARK: - Data

/// Data for the likelihood: main bins then auxiliary data, `count` = nmain + naux (pyhf's
/// `Model.logpdf` data), or the main bins only with the model's nominal auxiliary data.
@c public func efthf_data_create(
    _ model: OpaquePointer?, _ values: UnsafePointer<Double>?, _ count: Int,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    creating(out, error) {
        let m = try borrow(model, ModelBox.self, "model").loaded.model
        let all = try doubles(values, count, "data")
        let nmain = m.mainBinCount, naux = m.auxiliaryData.count
        guard count == nmain + naux || count == nmain else {
            throw CallError(.invalidArgument, "data has \(count) values; the model has \(nmain) main bins and \(naux) auxiliary data (\(nmain + naux) in all)")
        }
        return DataBox(try m.data(main: Array(all[..<nmain]), auxiliary: count == nmain ? nil : Array(all[nmain...])))
    }
}

@c public func efthf_data_free(_ data: OpaquePointer?) { release(data, DataBox.self) }

/// ln L(pars | data) (pyhf's `Model.logpdf`), and with a non-NULL `gradient` (npars doubles) its
/// exact gradient. A point outside the model's domain gives NaN or −∞, as pyhf.
@c public func efthf_model_logpdf(
    _ model: OpaquePointer?, _ pars: UnsafePointer<Double>?, _ npars: Int, _ data: OpaquePointer?,
    _ value: UnsafeMutablePointer<Double>?, _ gradient: UnsafeMutablePointer<Double>?,
    _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    guarded(error) {
        let m = try borrow(model, ModelBox.self, "model").loaded.model
        let d = try borrow(data, DataBox.self, "data").data
        let value = try output(value, "value")
        let p = try parameters(pars, npars, m)
        if let gradient {
            var g = [Double](repeating: 0, count: npars)
            value.pointee = m.logLikelihoodAndGradient(p, data: d, gradient: &g)
            try write(g, to: gradient, capacity: npars, "gradient")
        } else {
            value.pointee = m.logLikelihood(p, data: d)
        }
        // A NaN for want of input (an event file that can no longer be read) is an error, not a value.
        if let failure = m.evaluationFailure { throw failure }
    }
}

// MARK: - Tasks

/// Runs a task of the task layer on the model, with `data` (NULL: the observed data), and returns
/// its report as JSON. `task` is one of fit, hypotest, limit, significance, toys, scan, ranking,
/// yields, inspect, export, patchset, hs3_export, combine_scaling_export; `options` is the task's JSON (NULL or "" for its defaults).
@c public func efthf_model_run(
    _ model: OpaquePointer?, _ data: OpaquePointer?, _ task: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    returning(out, error) {
        var loaded = try borrow(model, ModelBox.self, "model").loaded
        if data != nil { loaded = loaded.replacingData(try borrow(data, DataBox.self, "data").data) }
        return try TaskRunner.run(try string(task, "task"), options: options.map { String(cString: $0) } ?? "", on: loaded).serialized()
    }
}

/// Runs a task that changes the workspace without building its model (combine_scaling_import,
/// eft2obs_import) and returns the new workspace's JSON.
@c public func efthf_workspace_run(
    _ workspace: OpaquePointer?, _ task: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    returning(out, error) {
        let ws = try borrow(workspace, WorkspaceBox.self, "workspace").workspace
        return try TaskRunner.run(try string(task, "task"), options: options.map { String(cString: $0) } ?? "", on: ws).serialized()
    }
}

/// Runs a task that needs no model (import_lhe, import_madminer, hs3_import) and returns its report as JSON.
@c public func efthf_run(
    _ task: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    returning(out, error) {
        try TaskRunner.run(try string(task, "task"), options: options.map { String(cString: $0) } ?? "").serialized()
    }
}

// MARK: - Patches

/// The workspace with an RFC 6902 JSON Patch applied (`patch`: JSON text of the operations).
@c public func efthf_workspace_patched(
    _ workspace: OpaquePointer?, _ patch: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    creating(out, error) {
        let ws = try borrow(workspace, WorkspaceBox.self, "workspace").workspace
        return WorkspaceBox(try ws.applying(patch: try parse(try string(patch, "patch"), "the patch")))
    }
}

/// The workspace with one patch of a pyhf PatchSet applied (pyhf's `PatchSet.apply`): the patch
/// set's digests are verified against the workspace first; `name` chooses the patch (NULL: the
/// only one).
@c public func efthf_workspace_apply_patchset(
    _ workspace: OpaquePointer?, _ patchSet: UnsafePointer<CChar>?, _ name: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    creating(out, error) {
        let ws = try borrow(workspace, WorkspaceBox.self, "workspace").workspace
        let set = try PatchSet(json: try parse(try string(patchSet, "patch_set"), "the patch set"))
        let patch: PatchSet.Patch
        if let name {
            patch = try set.patch(named: String(cString: name))
        } else {
            guard set.patches.count == 1 else {
                throw HistFactoryError(.patch, "the patch set has \(set.patches.count) patches; name one (for example \(set.patches[0].name))")
            }
            patch = set.patches[0]
        }
        return WorkspaceBox(try set.apply(patch, to: ws))
    }
}
