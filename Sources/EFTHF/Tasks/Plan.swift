import EFTJSON
import EFTModifiers
import Foundation
import HistFactory
import Inference

/// A computation split into shards for a batch system (`efthf plan`, `efthf run`, `efthf merge`;
/// Specs/batch.md): a profile-likelihood scan (shards are runs of grid points, or rows of a 2D
/// grid), a toy-based CLs test (ranges of toy indices), a patch-set grid (ranges of grid points)
/// or a limit grid (ranges of the patches of a pyhf patch set, each tested for CLs and its limit).
///
/// The manifest names the model (the workspace by absolute path, with its digest), the task, the
/// shards and efthf's version, and carries its own digest. Running a shard is pure: the same
/// shard gives the same bytes, and merging the shards of a plan in order gives exactly the result
/// of the single-machine command (a 1D scan: the one of `efthf scan --runs N`, N the number of shards).
public struct Plan: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case scan, toys, patchset
        case limitGrid = "limit-grid"
    }

    /// The task of a plan.
    public enum Task: Sendable, Equatable {
        case scan(ScanTask)
        case toys(ToysTask)
        case patchSet(PatchSetTask)
        case limitGrid(LimitGridTask)

        public var kind: Kind {
            switch self {
            case .scan: .scan
            case .toys: .toys
            case .patchSet: .patchset
            case .limitGrid: .limitGrid
            }
        }

        var json: JSON {
            switch self {
            case .scan(let t): t.jsonValue
            case .toys(let t): t.jsonValue
            case .patchSet(let t): t.jsonValue
            case .limitGrid(let t): t.jsonValue
            }
        }

        static func decode(_ kind: Kind, _ json: JSON) throws(HistFactoryError) -> Task {
            let text = json.serialized()
            switch kind {
            case .scan: return .scan(try TaskCoding.decode(ScanTask.self, from: text, what: "the plan's scan task"))
            case .toys: return .toys(try TaskCoding.decode(ToysTask.self, from: text, what: "the plan's toys task"))
            case .patchset: return .patchSet(try TaskCoding.decode(PatchSetTask.self, from: text, what: "the plan's patch-set task"))
            case .limitGrid:
                let t = try TaskCoding.decode(LimitGridTask.self, from: text, what: "the plan's limit-grid task")
                guard t.patches != nil, t.patchSetDigest != nil else {
                    throw HistFactoryError(.schema, "the plan's limit-grid task names its patches and the patch set's digest")
                }
                return .limitGrid(t)
            }
        }

        /// What the shards split: grid points (a 1D scan, a patch set), rows (a 2D scan), toys or
        /// patches (a limit grid; a plan lists them by name).
        public var units: (count: Int, name: String) {
            switch self {
            case .scan(let t): t.axes.count == 1 ? (t.axes[0].count, "grid points") : (t.axes[0].count, "rows of the grid")
            case .toys(let t): (t.toys, "toys")
            case .patchSet(let t): (t.grid.reduce(1) { $0 * $1.count }, "grid points")
            case .limitGrid(let t): (t.patches?.count ?? 0, "patches")
            }
        }
    }

    /// The manifest's format (`efthf_plan`).
    public static let formatVersion: Int64 = 1

    public let task: Task
    /// The model: the workspace file by absolute path, the patch, the measurement.
    public let source: ModelSource
    /// pyhf's sha256 digest of the workspace the tasks run on (after the patch).
    public let workspaceDigest: String
    /// The version of efthf that made the plan; only the same version runs and merges it.
    public let efthfVersion: String
    /// Per shard the range of units (grid points, rows, toys, patches) it computes, consecutive from 0.
    public let shards: [Range<Int>]
    /// The interpolation codes of normsys and histosys the model is built with (`--interpcode`).
    public let interpolation: InterpolationSettings

    public var kind: Kind { task.kind }

    /// A plan of `task` on the model of `source` in at most `shards` shards (fewer when the units
    /// do not divide evenly: ⌈units / shards⌉ per shard, as ``ProfileScan/runs(pointCount:count:)``).
    /// A 1D scan's task gets `runs` = `shards`, so that the plan says which single-machine scan it
    /// reproduces. A limit grid's task gets the patch set by absolute path, its patches by name and
    /// the set's digest. Loads the model to check the task against it.
    public init(task: Task, source: ModelSource, interpolation: InterpolationSettings = .pyhfDefault, shards requested: Int) throws {
        guard (1...Limits.shards).contains(requested) else {
            throw HistFactoryError(.parameter, "the number of shards must be from 1 to \(Limits.shards), not \(requested)")
        }
        var task = task
        var patchSet: PatchSet? = nil
        switch task {
        case .scan(var t):
            guard !t.adaptive else {
                throw HistFactoryError(.parameter, "an adaptive scan refines its grid step by step and cannot be split into shards; plan a grid scan")
            }
            if t.axes.count == 1 { t.runs = requested } else { t.runs = nil }
            try t.validate()
            task = .scan(t)
        case .toys(let t): try t.validate()
        case .patchSet(let t): _ = try GridAxis.checked(t.grid, maximumPoints: Limits.patchSetPoints, what: "the patch set (--grid)")
        case .limitGrid(var t):
            try t.validate()
            t.patchSet = URL(fileURLWithPath: t.patchSet).standardizedFileURL.path
            let (set, patches) = try t.selectedPatches()
            t.patches = patches.map(\.name)
            t.patchSetDigest = try PatchSet.digest(set.json)
            patchSet = set
            task = .limitGrid(t)
        }
        // The task must survive its JSON form unchanged (a seed above 2⁶³ would not); the
        // members of `fix` come back in another order, which does not matter.
        guard try Task.decode(task.kind, task.json).json.serialized(.pythonSortedKeys) == task.json.serialized(.pythonSortedKeys) else {
            throw HistFactoryError(.parameter, "the task does not survive its JSON form (a seed must be below 2^63)")
        }
        var source = source
        source.workspace = URL(fileURLWithPath: source.workspace).standardizedFileURL.path
        if let patch = source.patch, !patch.hasPrefix("/") { source.patch = FileManager.default.currentDirectoryPath + "/" + patch }
        // A limit grid's workspace is background-only: its models are those of the patches.
        let workspace = try source.loadWorkspace()
        switch task {
        case .scan(let t):
            let loaded = try LoadedModel(workspace: workspace, measurement: source.measurement, interpolation: interpolation)
            var options = FitOptions()
            try t.fix.fix(in: &options, model: loaded.model)
            for axis in t.axes { _ = try loaded.model.parameterIndex(named: axis.name) }
        case .toys, .patchSet:
            _ = try LoadedModel(workspace: workspace, measurement: source.measurement, interpolation: interpolation)
        case .limitGrid:
            try patchSet?.verify(workspace)
        }
        self.task = task
        self.source = source
        self.interpolation = interpolation
        workspaceDigest = try PatchSet.digest(workspace.json)
        efthfVersion = EFTHFVersion.current
        shards = ProfileScan.runs(pointCount: task.units.count, count: requested)
    }

    // MARK: The manifest

    /// The manifest without its own digest.
    var body: JSONObject {
        JSONObject([
            ("efthf_plan", .integer(Self.formatVersion)),
            ("efthf_version", .string(efthfVersion)),
            ("kind", .string(kind.rawValue)),
            ("model", .object(JSONObject([
                ("workspace", .string(source.workspace)), ("patch", source.patch.map(JSON.string) ?? .null),
                ("measurement", source.measurement.map(JSON.string) ?? .null),
                ("interpcode", .string(interpolation.modifierSettings.map { "\($0.type)=\($0.code)" }.joined(separator: ","))),
            ]))),
            ("workspace_sha256", .string(workspaceDigest)),
            ("task", task.json),
            ("units", .string(task.units.name)),
            ("shards", .array(shards.map { .array([.integer(Int64($0.lowerBound)), .integer(Int64($0.upperBound))]) })),
        ])
    }

    /// The sha256 of the manifest (pyhf's digest of its JSON without `plan_sha256`): what every
    /// shard result carries, so that a result of another plan is recognised.
    public var digest: String {
        // Cannot fail: sha256 is a supported algorithm.
        try! PatchSet.digest(.object(body))
    }

    /// The manifest as written to `plan.json`.
    public var json: JSON {
        var o = body
        o["plan_sha256"] = .string(digest)
        return .object(o)
    }

    /// Reads a manifest; refuses one of another format, an edited one (its digest no longer
    /// matches) and one made by another version of efthf.
    public init(contentsOf path: String) throws(HistFactoryError) {
        let json = try loadJSON(path)
        func bad(_ message: String) -> HistFactoryError { HistFactoryError(.schema, message, file: path) }
        guard case .object(let o) = json, o["efthf_plan"]?.doubleValue == Double(Self.formatVersion) else {
            throw bad("not an efthf plan (format \(Self.formatVersion)); make one with efthf plan")
        }
        guard let version = o["efthf_version"]?.stringValue, let kindName = o["kind"]?.stringValue, let kind = Kind(rawValue: kindName),
              case .object(let model)? = o["model"], let workspace = model["workspace"]?.stringValue,
              let workspaceDigest = o["workspace_sha256"]?.stringValue, let taskJSON = o["task"],
              let shardList = o["shards"]?.arrayValue, let digest = o["plan_sha256"]?.stringValue
        else { throw bad("the plan lacks a member (efthf_version, kind, model, workspace_sha256, task, shards, plan_sha256) or has one of the wrong kind") }
        var shards: [Range<Int>] = []
        for item in shardList {
            guard let pair = item.arrayValue, pair.count == 2, let lo = pair[0].doubleValue, let hi = pair[1].doubleValue,
                  lo == lo.rounded(), hi == hi.rounded(), Int(lo) == (shards.last?.upperBound ?? 0), hi > lo else {
                throw bad("the shards must be consecutive ranges [lower, upper) from 0")
            }
            shards.append(Int(lo)..<Int(hi))
        }
        do { task = try Task.decode(kind, taskJSON) } catch { throw error.inFile(path) }
        do {
            interpolation = try model["interpcode"]?.stringValue.map { text throws(HistFactoryError) in try InterpolationSettings(parsing: text) } ?? .pyhfDefault
        } catch { throw bad("model.interpcode: \(error.message)") }
        source = ModelSource(workspace: workspace, patch: model["patch"]?.stringValue, measurement: model["measurement"]?.stringValue)
        self.workspaceDigest = workspaceDigest
        efthfVersion = version
        self.shards = shards
        guard !shards.isEmpty, shards.count <= Limits.shards, shards.last!.upperBound == task.units.count else {
            throw bad("the shards do not cover the task's \(task.units.count) \(task.units.name) in at most \(Limits.shards) shards")
        }
        guard self.digest == digest else {
            throw bad("the plan's digest does not match its contents: it was edited after efthf plan wrote it; make it again")
        }
        guard version == EFTHFVersion.current else {
            throw bad("the plan was made by efthf \(version); this is efthf \(EFTHFVersion.current): run and merge a plan with the version that made it, or make it again")
        }
    }

    // MARK: Running a shard

    /// Computes shard `index`: loads the model (checking that the workspace is still the one the
    /// plan was made for) and returns the shard's result. Pure: the same shard gives the same result.
    public func run(shard index: Int, progress: ProgressHandler? = nil) throws -> ShardResult {
        guard shards.indices.contains(index) else {
            throw HistFactoryError(.parameter, "shard (--shard): the plan has shards 0 to \(shards.count - 1), not \(index)")
        }
        let workspace = try source.loadWorkspace()
        let digest = try PatchSet.digest(workspace.json)
        guard digest == workspaceDigest else {
            throw HistFactoryError(.patch, "the workspace has changed since the plan was made (sha256 \(digest), the plan's \(workspaceDigest)); make the plan again", file: source.workspace)
        }
        func loadModel() throws(HistFactoryError) -> LoadedModel {
            try LoadedModel(workspace: workspace, measurement: source.measurement, interpolation: interpolation)
        }
        let range = shards[index]
        let result: JSON
        switch task {
        case .scan(let t):
            let loaded = try loadModel()
            var options = FitOptions()
            try t.fix.fix(in: &options, model: loaded.model)
            let fits: (bestFit: FitResult, runs: [[FitResult]])
            if t.axes.count == 1 {
                let values = t.axes[0].values
                fits = try loaded.model.conditionalFitRuns([t.axes[0].name], runs: [range.map { [values[$0]] }], data: loaded.data, options: options,
                                                           progress: progress)
            } else {
                // Whole rows, fitted as the single-machine scan fits them (ProfileScan2D's tree of starts).
                let rows = try loaded.model.conditionalFitRows(t.axes[0].name, values: t.axes[0].values, t.axes[1].name, values: t.axes[1].values,
                                                               rows: range, data: loaded.data, options: options, progress: progress)
                fits = (rows.bestFit, rows.rows)
            }
            result = .object(JSONObject([
                ("best_fit", ShardCoding.fit(fits.bestFit)),
                ("runs", .array(fits.runs.map { run in
                    .array(run.map { .object(JSONObject([("twice_nll", .number($0.twiceNLL)), ("status", ShardCoding.status($0.status))])) })
                })),
            ]))
        case .toys(let t):
            let loaded = try loadModel()
            let s = try t.statistics(on: loaded, toys: range, progress: progress)
            func list(_ values: [Double?]) -> JSON { .array(values.map { $0.map(JSON.number) ?? .null }) }
            result = .object(JSONObject([
                ("poi", .string(loaded.model.poiName ?? "")), ("q", .number(s.q)), ("signal", list(s.signal)), ("background", list(s.background)),
            ]))
        case .patchSet(let t):
            let grid = try GridAxis.checked(t.grid, maximumPoints: Limits.patchSetPoints, what: "the patch set (--grid)")
            let part = try workspace.patchSetPart(grid: grid.map(\.gridValues), points: range, poi: t.poi, measurement: t.measurement,
                                                         skippingInvalidPoints: t.skipInvalid, progress: progress)
            // The background-only workspace is the same in every shard: shard 0 carries it.
            result = .object(JSONObject([
                ("background_only", index == 0 ? part.backgroundOnly.json : .null), ("metadata", part.metadata),
                ("patches", .array(part.patches)), ("skipped", .array(part.skipped.map(JSON.numbers))),
            ]))
        case .limitGrid(let t):
            result = try t.run(backgroundOnly: workspace, measurement: source.measurement, interpolation: interpolation,
                               range: range, progress: progress).jsonValue
        }
        return ShardResult(planDigest: self.digest, workspaceDigest: workspaceDigest, efthfVersion: EFTHFVersion.current, kind: kind,
                           shard: index, range: range, result: result)
    }

    // MARK: Merging

    /// The result of the whole task from the shards' result files (any order): every
    /// shard exactly once, each of this plan. Every problem is reported at once, one line each
    /// (``PlanMergeError``), with the missing shards listed for resubmission.
    public func merge(files: [String]) throws -> MergedResult {
        var problems: [String] = []
        var byShard: [Int: (file: String, result: ShardResult)] = [:]
        for file in files {
            let r: ShardResult
            do {
                r = try ShardResult(contentsOf: file)
            } catch {
                problems.append(error.description)
                continue
            }
            if r.planDigest != digest {
                problems.append("\(file): a result of another plan (plan sha256 \(r.planDigest.prefix(12))…, this plan's \(digest.prefix(12))…); left out")
            } else if r.workspaceDigest != workspaceDigest {
                problems.append("\(file): computed on another workspace (sha256 \(r.workspaceDigest.prefix(12))…, the plan's \(workspaceDigest.prefix(12))…)")
            } else if r.efthfVersion != efthfVersion {
                problems.append("\(file): written by efthf \(r.efthfVersion), the plan by efthf \(efthfVersion)")
            } else if !shards.indices.contains(r.shard) || shards[r.shard] != r.range || r.kind != kind {
                problems.append("\(file): shard \(r.shard) (\(r.range.lowerBound)..<\(r.range.upperBound)) is not a shard of this plan")
            } else if let earlier = byShard[r.shard] {
                problems.append("\(file): shard \(r.shard) again (already given by \(earlier.file)); give each shard once")
            } else {
                byShard[r.shard] = (file, r)
            }
        }
        let missing = shards.indices.filter { byShard[$0] == nil }
        if !missing.isEmpty {
            problems.append("missing \(missing.count) of \(shards.count) shards: \(missing.map(String.init).joined(separator: ",")) (resubmit them: efthf submit PLAN --only \(missing.map(String.init).joined(separator: ",")) …)")
        }
        guard problems.isEmpty else { throw PlanMergeError(problems: problems, missingShards: missing) }
        let parts = shards.indices.map { (file: byShard[$0]!.file, result: byShard[$0]!.result.result) }
        do {
            return try merged(parts)
        } catch let error as HistFactoryError {
            throw PlanMergeError(problems: [error.description], missingShards: [])
        } catch let error as InferenceError {
            throw PlanMergeError(problems: [error.description], missingShards: [])
        }
    }

    func merged(_ parts: [(file: String, result: JSON)]) throws -> MergedResult {
        func bad(_ file: String, _ message: String) -> HistFactoryError { HistFactoryError(.schema, message, file: file) }
        switch task {
        case .scan(let t):
            var best: JSON? = nil
            var fits: [(twiceNLL: Double, status: FitStatus)] = []
            var rows: [[(twiceNLL: Double, status: FitStatus)]] = []
            for (file, r) in parts {
                guard let b = r["best_fit"], let runs = r["runs"]?.arrayValue else { throw bad(file, "a scan shard needs best_fit and runs") }
                if let best, best.serialized() != b.serialized() {
                    throw bad(file, "the shard's unconditional fit differs from shard 0's: the shards ran on different inputs or builds")
                }
                best = b
                for run in runs {
                    var row: [(Double, FitStatus)] = []
                    for point in run.arrayValue ?? [] {
                        guard let v = ShardCoding.number(point["twice_nll"]), let s = point["status"] else { throw bad(file, "a scan point needs twice_nll and status") }
                        do { row.append((v, try ShardCoding.status(s))) } catch { throw error.inFile(file) }
                    }
                    fits += row
                    rows.append(row.map { (twiceNLL: $0.0, status: $0.1) })
                }
            }
            let bestFit: FitResult
            do { bestFit = try ShardCoding.fit(best!) } catch { throw error.inFile(parts[0].file) }
            if t.axes.count == 1 {
                return .scan(ScanReport(ProfileScan(parameter: t.axes[0].name, values: t.axes[0].values, twiceNLL: fits.map(\.twiceNLL),
                                                    statuses: fits.map(\.status), bestFit: bestFit)))
            }
            return .scan(ScanReport(ProfileScan2D(parameters: t.axes.map(\.name), xValues: t.axes[0].values, yValues: t.axes[1].values,
                                                  fits: rows, bestFit: bestFit)))
        case .toys(let t):
            var statistics: [ToyTestStatistics] = []
            for ((file, r), range) in zip(parts, shards) {
                func list(_ key: String) throws(HistFactoryError) -> [Double?] {
                    guard let items = r[key]?.arrayValue, items.count == range.count else { throw bad(file, "\(key) needs one entry per toy of the shard") }
                    return items.map { $0 == .null ? nil : $0.doubleValue }
                }
                guard let q = r["q"]?.doubleValue else { throw bad(file, "a toys shard needs q") }
                statistics.append(ToyTestStatistics(toys: range, q: q, signal: try list("signal"), background: try list("background")))
            }
            let r = try ToyHypotestResult(poiValue: t.poiValue, testStatistic: try HypotestTask.statistic(t.testStatistic), statistics: statistics)
            return .toys(t.report(r, poi: parts[0].result["poi"]?.stringValue ?? ""))
        case .patchSet:
            guard let backgroundJSON = parts[0].result["background_only"], backgroundJSON != .null else {
                throw bad(parts[0].file, "shard 0 of a patch set carries the background-only workspace")
            }
            let background: Workspace
            do { background = try Workspace(json: backgroundJSON) } catch { throw error.inFile(parts[0].file) }
            var pieces: [PatchSetPart] = []
            for (file, r) in parts {
                guard let metadata = r["metadata"], let patches = r["patches"]?.arrayValue, let skipped = r["skipped"]?.arrayValue else {
                    throw bad(file, "a patch-set shard needs metadata, patches and skipped")
                }
                pieces.append(PatchSetPart(backgroundOnly: background, metadata: metadata, patches: patches,
                                           skipped: skipped.map { ($0.arrayValue ?? []).compactMap(\.doubleValue) }))
            }
            return .patchSet(try PatchSetPart.merged(pieces))
        case .limitGrid:
            var merged: LimitGridReport? = nil
            var rows: [LimitGridReport.Row] = []
            for ((file, r), range) in zip(parts, shards) {
                let part: LimitGridReport
                do { part = try TaskCoding.decode(LimitGridReport.self, from: r.serialized(), what: "the limit-grid shard") } catch { throw error.inFile(file) }
                guard part.rows.count == range.count else { throw bad(file, "a limit-grid shard needs one row per patch of its range (\(range.count)), not \(part.rows.count)") }
                if let merged, merged.labels != part.labels || merged.poiValue != part.poiValue || merged.level != part.level || merged.testStatistic != part.testStatistic {
                    throw bad(file, "the shard's labels, POI value, level or test statistic differ from shard 0's: the shards ran on different inputs or builds")
                }
                merged = merged ?? part
                rows += part.rows
            }
            return .limitGrid(LimitGridReport(labels: merged!.labels, poiValue: merged!.poiValue, level: merged!.level, testStatistic: merged!.testStatistic, rows: rows))
        }
    }
}

/// The result of a merged plan: what the single-machine command returns.
public enum MergedResult: Sendable {
    /// As `efthf scan` (the report; its `scan1D`/`scan2D` for the table and plot).
    case scan(ScanReport)
    /// As `efthf toys --json`.
    case toys(ToysReport)
    /// As `efthf export --patchset` (BkgOnly.json and patchset.json).
    case patchSet(PatchSetExport)
    /// As `efthf limit BkgOnly.json --patchset patchset.json --json`.
    case limitGrid(LimitGridReport)
}

/// Why shard results could not be merged: one line per problem (a result of another plan or
/// workspace or version, a shard that is not the plan's, a duplicate, the missing shards).
public struct PlanMergeError: Error, Sendable, CustomStringConvertible {
    public let problems: [String]
    /// The shards to resubmit.
    public let missingShards: [Int]

    public var description: String { problems.joined(separator: "\n") }
}

/// The result of one shard of a plan, as `efthf run` writes it.
public struct ShardResult: Sendable, Equatable {
    /// The manifest's format (`efthf_shard_result`).
    public static let formatVersion: Int64 = 1

    public let planDigest: String
    public let workspaceDigest: String
    public let efthfVersion: String
    public let kind: Plan.Kind
    public let shard: Int
    public let range: Range<Int>
    /// The shard's numbers (Specs/batch.md), read by ``Plan/merge(files:)``.
    public let result: JSON

    public var json: JSON {
        .object(JSONObject([
            ("efthf_shard_result", .integer(Self.formatVersion)),
            ("plan_sha256", .string(planDigest)), ("workspace_sha256", .string(workspaceDigest)),
            ("efthf_version", .string(efthfVersion)), ("kind", .string(kind.rawValue)),
            ("shard", .integer(Int64(shard))), ("range", .array([.integer(Int64(range.lowerBound)), .integer(Int64(range.upperBound))])),
            ("result", result),
        ]))
    }

    /// The file's bytes: compact JSON (exact numbers, `NaN` as Python writes it) and a newline.
    public var text: String { json.serialized() + "\n" }

    public init(planDigest: String, workspaceDigest: String, efthfVersion: String, kind: Plan.Kind, shard: Int, range: Range<Int>, result: JSON) {
        self.planDigest = planDigest
        self.workspaceDigest = workspaceDigest
        self.efthfVersion = efthfVersion
        self.kind = kind
        self.shard = shard
        self.range = range
        self.result = result
    }

    /// Reads a result file; one that is not a shard result is refused with what it is not.
    public init(contentsOf path: String) throws(HistFactoryError) {
        let json: JSON
        do {
            json = try loadJSON(path)
        } catch {
            throw error.code == .syntax ? HistFactoryError(.syntax, "not an efthf shard result: \(error.message)", file: path) : error
        }
        guard case .object(let o) = json, o["efthf_shard_result"]?.doubleValue == Double(Self.formatVersion),
              let plan = o["plan_sha256"]?.stringValue, let workspace = o["workspace_sha256"]?.stringValue,
              let version = o["efthf_version"]?.stringValue, let kind = o["kind"]?.stringValue.flatMap(Plan.Kind.init(rawValue:)),
              let shard = o["shard"]?.doubleValue, let range = o["range"]?.arrayValue, range.count == 2,
              let lo = range[0].doubleValue, let hi = range[1].doubleValue, let result = o["result"],
              shard == shard.rounded(), lo == lo.rounded(), hi == hi.rounded(), abs(shard) < 1e9, abs(lo) < 1e12, hi >= lo, hi < 1e12
        else { throw HistFactoryError(.schema, "not an efthf shard result (efthf run writes them)", file: path) }
        self.init(planDigest: plan, workspaceDigest: workspace, efthfVersion: version, kind: kind, shard: Int(shard),
                  range: Int(lo)..<Int(hi), result: result)
    }
}

/// The JSON forms of fit results and statuses inside shard results.
enum ShardCoding {
    static func status(_ s: FitStatus) -> JSON {
        switch s {
        case .converged: .object(JSONObject([("kind", "converged")]))
        case .convergedAtBound(let names): .object(JSONObject([("kind", "converged_at_bound"), ("parameters", .array(names.map(JSON.string)))]))
        case .failed(let reason): .object(JSONObject([("kind", "failed"), ("reason", .string(reason))]))
        }
    }

    static func status(_ json: JSON) throws(HistFactoryError) -> FitStatus {
        switch json["kind"]?.stringValue {
        case "converged": return .converged
        case "converged_at_bound": return .convergedAtBound(parameters: (json["parameters"]?.arrayValue ?? []).compactMap(\.stringValue))
        case "failed": return .failed(reason: json["reason"]?.stringValue ?? "")
        default: throw HistFactoryError(.schema, "a fit status is {\"kind\": \"converged\" | \"converged_at_bound\" | \"failed\", …}")
        }
    }

    static func fit(_ r: FitResult) -> JSON {
        .object(JSONObject([
            ("parameter_names", .array(r.parameterNames.map(JSON.string))), ("values", .numbers(r.values)),
            ("twice_nll", .number(r.twiceNLL)), ("status", status(r.status)), ("edm", .number(r.edm)),
            ("fixed", .array(r.fixed.map(JSON.bool))), ("function_calls", .integer(Int64(r.functionCalls))),
        ]))
    }

    /// A number that may be non-finite: JSON writes those as `null` (RFC 8259 has no NaN), read back as NaN.
    static func number(_ json: JSON?) -> Double? {
        guard let json else { return nil }
        return json == .null ? .nan : json.doubleValue
    }

    static func fit(_ json: JSON) throws(HistFactoryError) -> FitResult {
        guard let names = json["parameter_names"]?.arrayValue?.compactMap(\.stringValue),
              let values = json["values"]?.arrayValue?.compactMap({ number($0) }),
              let twiceNLL = number(json["twice_nll"]), let s = json["status"], let edm = number(json["edm"]),
              let fixed = json["fixed"]?.arrayValue?.compactMap(\.boolValue), let calls = json["function_calls"]?.doubleValue,
              values.count == names.count, fixed.count == names.count
        else { throw HistFactoryError(.schema, "a fit needs parameter_names, values, twice_nll, status, edm, fixed and function_calls") }
        return FitResult(parameterNames: names, values: values, twiceNLL: twiceNLL, status: try status(s), edm: edm, fixed: fixed, functionCalls: Int(calls))
    }
}
