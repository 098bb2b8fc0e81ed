import EFTJSON
import EFTModifiers
import EventDatabase
import Foundation
import HistFactory

/// Where a model comes from: a workspace file (pyhf 1.0.0, efthf's extension or HS3), optionally a
/// patch, and a measurement. The one reading rule of the command line, the service and the
/// bindings: extended workspaces are read with ``ModifierSet/efthf``, relative paths inside them
/// against the workspace file's directory.
public struct ModelSource: Sendable, Codable, Equatable {
    /// The workspace file.
    public var workspace: String
    /// A patch applied first: `FILE:NAME` (a patch of a PatchSet) or `FILE` (a JSON Patch, or a
    /// PatchSet with one patch). A file whose name contains a colon is taken whole when it exists.
    public var patch: String?
    /// The measurement (default: the first).
    public var measurement: String?
    /// The memory budget for each event database's columns (Specs/event-database.md, "Memory
    /// budget and streaming"); nil: the environment variable `EFTHF_EVENT_MEMORY`, else the memory
    /// available. JSON: a size string such as `"4GiB"`.
    public var eventMemory: EventMemoryBudget?

    public init(workspace: String, patch: String? = nil, measurement: String? = nil, eventMemory: EventMemoryBudget? = nil) {
        self.workspace = workspace
        self.patch = patch
        self.measurement = measurement
        self.eventMemory = eventMemory
    }

    /// Whether `path` names a likelihood archive as HEPData publishes them (`.tar.gz`, `.tgz`,
    /// `.tar`, `.zip`), read with ``HEPDataArchive``.
    public static func isArchive(_ path: String) -> Bool {
        let name = path.lowercased()
        return [".tar.gz", ".tgz", ".tar", ".zip"].contains { name.hasSuffix($0) }
    }

    /// The workspace with the patch applied. From an archive (``isArchive(_:)``), `patch` is
    /// `NAME` (a patch of the archive's only patch set), `MEMBER:NAME` (a patch of the patch-set
    /// member), or `MEMBER` (a plain JSON Patch member); the workspace is the one the patch set
    /// was made for, or the archive's only one.
    public func loadWorkspace() throws(HistFactoryError) -> Workspace {
        if Self.isArchive(workspace) { return try loadFromArchive() }
        // An HS3 file (Specs/hs3.md) is read as the workspace it describes.
        let json = try loadJSON(workspace)
        var ws = json["distributions"] != nil && json["channels"] == nil
            ? try Workspace(hs3: json, file: workspace)
            : try Workspace(json: json, file: workspace, modifiers: .efthf(eventMemory: eventMemory))
        if let patch {
            var file = patch
            var name: String? = nil
            if !FileManager.default.fileExists(atPath: patch), let colon = patch.lastIndex(of: ":") {
                file = String(patch[..<colon])
                name = String(patch[patch.index(after: colon)...])
            }
            ws = try ws.applying(patchFile: file, name: name)
        }
        return ws
    }

    private func loadFromArchive() throws(HistFactoryError) -> Workspace {
        do {
            let archive = try HEPDataArchive(path: workspace)
            let members = Set(archive.patchSets.map(\.member) + archive.patches.map(\.member))
            var set: String? = nil, name: String? = patch
            if let patch {
                if members.contains(patch) {
                    (set, name) = (patch, nil)
                } else if let colon = patch.lastIndex(of: ":"), members.contains(String(patch[..<colon])) {
                    (set, name) = (String(patch[..<colon]), String(patch[patch.index(after: colon)...]))
                }
            }
            return try archive.workspace(patchSet: set, patch: name)
        } catch {
            throw HistFactoryError(error.code == .content ? .patch : .io, "\(workspace): \(error.description)")
        }
    }

    /// The workspace, its model and its observed data; `interpolation`: the interpolation codes
    /// of normsys and histosys (pyhf's `modifier_settings`, by default code4 and code4p).
    public func load(interpolation: InterpolationSettings = .pyhfDefault) throws(HistFactoryError) -> LoadedModel {
        try LoadedModel(workspace: loadWorkspace(), measurement: measurement, interpolation: interpolation)
    }
}

/// A workspace with the model of one measurement and its observed data: what every task runs on.
public struct LoadedModel: Sendable {
    public let workspace: Workspace
    public let model: HistFactoryModel
    public let data: ModelData

    /// `interpolation`: the interpolation codes of normsys and histosys (pyhf's `modifier_settings`).
    public init(workspace: Workspace, measurement: String? = nil, interpolation: InterpolationSettings = .pyhfDefault) throws(HistFactoryError) {
        self.workspace = workspace
        model = try HistFactoryModel(workspace: workspace, measurement: measurement, interpolation: interpolation)
        data = try model.observedData(from: workspace)
    }

    /// A model of `workspace` built with `model`'s settings, with `data` in place of the observed data.
    public init(workspace: Workspace, model: HistFactoryModel, data: ModelData) {
        self.workspace = workspace
        self.model = model
        self.data = data
    }

    /// The same model with other data (pseudo-data, Asimov data, a caller's data).
    public func replacingData(_ data: ModelData) -> LoadedModel {
        LoadedModel(workspace: workspace, model: model, data: data)
    }

    /// `body`'s result, unless an evaluation of the model returned NaN for want of its input (an
    /// event file that could no longer be read: `HistFactoryModel.evaluationFailure`): then that
    /// error, whatever `body` returned or threw, since fits on such NaNs say nothing about the model.
    /// A model that failed before is not run again.
    public func checkingEvaluations<T>(_ body: () throws -> T) throws -> T {
        if let failure = model.evaluationFailure { throw failure }
        let result: T
        do {
            result = try body()
        } catch {
            if let failure = model.evaluationFailure { throw failure }
            throw error
        }
        if let failure = model.evaluationFailure { throw failure }
        return result
    }

    /// The model without the modifiers named `modifiers` and their parameters (pyhf's
    /// `Workspace.prune(modifiers=…)`), with the same measurement, interpolation codes and data:
    /// the main data as they are, the auxiliary data of the parameters kept. The parameter of
    /// interest cannot be removed; an unknown name is an error naming it; at most
    /// ``Limits/excludedModifiers`` names.
    ///
    /// - Complexity: pruning the workspace JSON and building the model again.
    public func excluding(modifiers: [String]) throws(HistFactoryError) -> LoadedModel {
        guard modifiers.count <= Limits.excludedModifiers else {
            throw HistFactoryError(.operation, "exclude names \(modifiers.count) modifiers; the limit is \(Limits.excludedModifiers)", path: JSONPointer(tokens: ["exclude"]))
        }
        guard !modifiers.isEmpty else { return self }
        if let poi = model.poiName, modifiers.contains(poi) {
            throw HistFactoryError(.operation, "cannot exclude \"\(poi)\": it is the parameter of interest of measurement \"\(model.measurementName)\"", path: JSONPointer(tokens: ["exclude"]))
        }
        let pruned: Workspace
        do { pruned = try workspace.pruned(modifiers: modifiers) } catch {
            throw HistFactoryError(error.code, "exclude: \(error.message)", path: JSONPointer(tokens: ["exclude"]))
        }
        let reduced = try HistFactoryModel(workspace: pruned, measurement: model.measurementName, interpolation: model.interpolation)
        // Auxiliary data by parameter set: the offsets of the constrained sets in both models.
        var auxiliaryOf: [String: ArraySlice<Double>] = [:]
        var at = 0
        for set in model.parameterSets where set.isConstrained {
            auxiliaryOf[set.name] = data.auxiliary[at..<(at + set.count)]
            at += set.count
        }
        let auxiliary = reduced.parameterSets.filter(\.isConstrained).flatMap { auxiliaryOf[$0.name].map(Array.init) ?? $0.auxdata }
        return LoadedModel(workspace: pruned, model: reduced, data: try reduced.data(main: data.main, auxiliary: auxiliary))
    }
}
