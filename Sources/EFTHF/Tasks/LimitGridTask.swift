import EFTJSON
import Foundation
import HistFactory
import Inference

/// CLs at a POI value and the CLs upper limit for every signal hypothesis of a pyhf patch set: an
/// exclusion grid such as the mass plane of a HEPData likelihood (pyhf's `patchset apply` followed
/// by `infer.hypotest` and `infer.intervals.upper_limits.upper_limit` per patch). Each patch is
/// applied to the background-only workspace and tested on its own, so the rows do not depend on
/// which other patches run, or where: a grid split into shards merges to the same bytes.
public struct LimitGridTask: Sendable, Equatable {
    /// The patch set file (pyhf's `patchset.json`).
    public var patchSet: String
    /// The patches to test, by name, in this order; nil: every patch in the set's order.
    public var patches: [String]?
    /// The hypotest's POI value (1: the nominal signal).
    public var poiValue: Double
    /// The CLs level of the limit (0.05 for 95 % CL).
    public var level: Double
    /// `qtilde` or `q`.
    public var testStatistic: String
    /// How the unconditional fits look for the global minimum over the POI (``MultiStart``).
    public var multistart: MultiStart.Strategy
    /// The search's budget; nil: the strategy's default.
    public var maxStarts: Int?
    /// pyhf's sha256 digest of the patch set's JSON, when it must be that file (a plan records it).
    public var patchSetDigest: String?

    /// Most patches of one grid.
    public static let maximumPatches = 100_000

    public init(patchSet: String, patches: [String]? = nil, poiValue: Double = 1, level: Double = 0.05, testStatistic: String = "qtilde",
                multistart: MultiStart.Strategy = .auto, maxStarts: Int? = nil, patchSetDigest: String? = nil) {
        self.patchSet = patchSet
        self.patches = patches
        self.poiValue = poiValue
        self.level = level
        self.testStatistic = testStatistic
        self.multistart = multistart
        self.maxStarts = maxStarts
        self.patchSetDigest = patchSetDigest
    }

    /// The patch set, checked against ``patchSetDigest``, and the patches to test, in order.
    public func selectedPatches() throws(HistFactoryError) -> (set: PatchSet, patches: [PatchSet.Patch]) {
        let set = try PatchSet(contentsOf: patchSet)
        if let patchSetDigest {
            let digest = try PatchSet.digest(set.json)
            guard digest == patchSetDigest else {
                throw HistFactoryError(.patch, "the patch set has changed since the plan was made (sha256 \(digest), the plan's \(patchSetDigest)); make the plan again", file: patchSet)
            }
        }
        let chosen: [PatchSet.Patch]
        if let patches {
            var seen = Set<String>()
            chosen = try patches.map { name throws(HistFactoryError) in
                guard seen.insert(name).inserted else { throw HistFactoryError(.patch, "the patch \(name) is named twice", file: patchSet) }
                return try set.patch(named: name)
            }
        } else {
            chosen = set.patches
        }
        guard !chosen.isEmpty else { throw HistFactoryError(.patch, "no patches to test", file: patchSet) }
        guard chosen.count <= Self.maximumPatches else {
            throw HistFactoryError(.parameter, "\(chosen.count) patches; the limit is \(Self.maximumPatches)", file: patchSet)
        }
        return (set, chosen)
    }

    /// Checks the options that do not need the model.
    public func validate() throws {
        guard poiValue.isFinite else { throw InferenceError(.invalidOptions, "the POI value must be finite, not \(poiValue)") }
        guard level > 0, level < 1 else { throw InferenceError(.invalidOptions, "the CLs level must be in (0, 1), not \(level)") }
        _ = try HypotestTask.statistic(testStatistic)
        try MultiStart.checkBudget(maxStarts)
    }

    /// Tests every chosen patch of the set against `backgroundOnly` (verified against the set's
    /// digests, as pyhf's `PatchSet.apply`). A patch whose hypotest or limit fails gets its row
    /// with the reason; the others are unaffected.
    /// - Complexity: one hypotest and one limit (≈ 10–30 hypotests) per patch.
    public func run(backgroundOnly: Workspace, measurement: String? = nil, interpolation: InterpolationSettings = .pyhfDefault,
                    range: Range<Int>? = nil, progress: ProgressHandler? = nil) throws -> LimitGridReport {
        try validate()
        let (set, chosen) = try selectedPatches()
        try set.verify(backgroundOnly)
        let range = range ?? chosen.indices
        var rows: [LimitGridReport.Row] = []
        rows.reserveCapacity(range.count)
        progress?(0, range.count)
        for (done, patch) in chosen[range].enumerated() {
            rows.append(row(patch, set: set, backgroundOnly: backgroundOnly, measurement: measurement, interpolation: interpolation))
            progress?(done + 1, range.count)
        }
        return LimitGridReport(labels: set.labels, poiValue: poiValue, level: level, testStatistic: testStatistic, rows: rows)
    }

    func row(_ patch: PatchSet.Patch, set: PatchSet, backgroundOnly: Workspace, measurement: String?, interpolation: InterpolationSettings) -> LimitGridReport.Row {
        var row = LimitGridReport.Row(patch: patch.name, values: patch.values)
        // JSON has no NaN: numbers that are not all finite are left out, with the reason.
        func finite(_ values: [Double], _ what: String) throws -> [Double] {
            guard values.allSatisfy(\.isFinite) else {
                throw InferenceError(.failedMinimization, "the \(what) is not finite (\(values.map { JSON.pythonRepr($0) }.joined(separator: ", ")))")
            }
            return values
        }
        do {
            let loaded = try LoadedModel(workspace: try set.apply(patch, to: backgroundOnly), measurement: measurement, interpolation: interpolation)
            row.poi = loaded.model.poiName
            let hypotest = try HypotestTask(poiValue: poiValue, testStatistic: testStatistic, multistart: multistart, maxStarts: maxStarts).run(on: loaded)
            let cls = try finite([hypotest.clsObserved] + hypotest.clsExpected, "hypotest")
            row.clsObserved = cls[0]
            row.clsExpected = Array(cls.dropFirst())
            // The hypotest stands when the limit fails (e.g. no root within the POI's bounds).
            let limit = try LimitTask(level: level, testStatistic: testStatistic, multistart: multistart, maxStarts: maxStarts).run(on: loaded)
            let limits = try finite([limit.observed] + limit.expected, "limit")
            row.limitObserved = limits[0]
            row.limitExpected = Array(limits.dropFirst())
        } catch {
            row.error = String(describing: error)
        }
        return row
    }
}

/// Per patch of a ``LimitGridTask``: its label values, CLs at the POI value (observed, expected
/// −2σ … +2σ) and the upper limit on the POI (observed, expected −2σ … +2σ).
public struct LimitGridReport: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var patch: String
        /// The patch's label values (pyhf's `patch.values`), in the order of the set's labels.
        public var values: [JSON]
        public var poi: String?
        public var clsObserved: Double?
        public var clsExpected: [Double]?
        public var limitObserved: Double?
        public var limitExpected: [Double]?
        /// What failed (the model could not be built, a fit failed, the limit has no root within
        /// the POI's bounds); the numbers computed before the failure are kept.
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case patch, values, poi, clsObserved = "cls_obs", clsExpected = "cls_exp", limitObserved = "limit_obs", limitExpected = "limit_exp", error
        }

        init(patch: String, values: [JSON]) {
            self.patch = patch
            self.values = values
        }

        /// Whether the signal hypothesis at the POI value is excluded at the level (CLs < level).
        public func excluded(level: Double) -> Bool? { clsObserved.map { $0 < level } }
    }

    /// The patch set's labels (e.g. the masses of a SUSY grid).
    public let labels: [String]
    public let poiValue: Double
    public let level: Double
    public let testStatistic: String
    public let rows: [Row]

    enum CodingKeys: String, CodingKey {
        case labels, poiValue = "poi_value", level, testStatistic = "test_statistic", rows
    }

    public init(labels: [String], poiValue: Double, level: Double, testStatistic: String, rows: [Row]) {
        self.labels = labels
        self.poiValue = poiValue
        self.level = level
        self.testStatistic = testStatistic
        self.rows = rows
    }
}

extension LimitGridTask: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case patchSet = "patchset", patches, poiValue = "poi_value", level, testStatistic = "test_statistic", multistart,
             maxStarts = "max_starts", patchSetDigest = "patchset_sha256"
    }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(patchSet: try c.decode(String.self, forKey: .patchSet), patches: try c.decodeIfPresent([String].self, forKey: .patches),
                  poiValue: try c.value(.poiValue, default: 1), level: try c.value(.level, default: 0.05),
                  testStatistic: try c.value(.testStatistic, default: "qtilde"), multistart: try TaskCoding.strategy(c, .multistart),
                  maxStarts: try TaskCoding.budget(c, .maxStarts), patchSetDigest: try c.decodeIfPresent(String.self, forKey: .patchSetDigest))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(patchSet, forKey: .patchSet)
        try c.encodeIfPresent(patches, forKey: .patches)
        try c.encode(poiValue, forKey: .poiValue)
        try c.encode(level, forKey: .level)
        try c.encode(testStatistic, forKey: .testStatistic)
        try c.encode(multistart.rawValue, forKey: .multistart)
        try c.encodeIfPresent(maxStarts, forKey: .maxStarts)
        try c.encodeIfPresent(patchSetDigest, forKey: .patchSetDigest)
    }
}
