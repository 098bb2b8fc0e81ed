import Foundation
import EFTJSON
import EFTModifiers
import HistFactory
import Inference

/// An extended workspace as plain pyhf 1.0.0 at one point of the Wilson coefficients
/// (`efthf export --at`, the service's export job; Specs/eft-extension.md §16).
public struct ExportTask: Sendable, Codable, Equatable {
    /// Coefficient values; coefficients not named are 0.
    public var point: [String: Double]
    /// A POI for the exported measurements (needed when the POI is a Wilson coefficient).
    public var poi: String?
    /// Keep only this measurement.
    public var measurement: String?

    public init(point: [String: Double], poi: String? = nil, measurement: String? = nil) {
        self.point = point
        self.poi = poi
        self.measurement = measurement
    }

    /// Reads `name=value,…` as a point; a name given twice is an error.
    public static func point(parsing text: String) throws(HistFactoryError) -> [String: Double] {
        var point: [String: Double] = [:]
        for entry in try ParameterValues(parsing: text).entries {
            guard point[entry.name] == nil else { throw HistFactoryError(.parameter, "\"\(entry.name)\" given twice") }
            point[entry.name] = entry.values[0]
        }
        return point
    }

    public func run(on workspace: Workspace) throws(HistFactoryError) -> Workspace {
        try workspace.evaluated(at: point, poi: poi, measurement: measurement)
    }
}

/// The whole likelihood in HS3 as ROOT 6.40 reads it, the Wilson coefficients free
/// (`efthf export --hs3`; Specs/hs3.md).
public struct HS3ExportTask: Sendable, Codable, Equatable {
    /// Export this measurement (default: the first).
    public var measurement: String?

    public init(measurement: String? = nil) {
        self.measurement = measurement
    }

    public func run(on workspace: Workspace) throws(HistFactoryError) -> JSON {
        try workspace.hs3(measurement: measurement, toolVersion: EFTHFVersion.current)
    }
}

/// An HS3 file read back as a workspace (`efthf import hs3`; Specs/hs3.md, "Import").
public struct HS3ImportTask: Sendable, Codable, Equatable {
    public var path: String

    public init(path: String) {
        self.path = path
    }

    public func run() throws(HistFactoryError) -> Workspace {
        try Workspace(hs3: try loadJSON(path), file: path)
    }
}

/// A background-only workspace and a pyhf PatchSet with one patch per grid point
/// (`efthf export --patchset --grid`, the service's patchset job).
public struct PatchSetTask: Sendable, Codable, Equatable {
    public var grid: [GridAxis]
    public var poi: String?
    public var measurement: String?
    /// Leave out points where the evaluation fails (negative morphed yields) instead of stopping.
    public var skipInvalid: Bool

    public init(grid: [GridAxis], poi: String? = nil, measurement: String? = nil, skipInvalid: Bool = false) {
        self.grid = grid
        self.poi = poi
        self.measurement = measurement
        self.skipInvalid = skipInvalid
    }

    /// Reads `name=lower:upper:count,…`.
    public static func grid(parsing text: String) throws(HistFactoryError) -> [GridAxis] {
        try GridAxis.checked(text.split(separator: ",").map { item throws(HistFactoryError) in try GridAxis(parsing: String(item)) },
                             maximumPoints: Limits.patchSetPoints, what: "the patch set (--grid)")
    }

    /// The grid, checked against ``Limits/patchSetPoints``.
    private func checkedGrid() throws(HistFactoryError) -> [GridValues] {
        try GridAxis.checked(grid, maximumPoints: Limits.patchSetPoints, what: "the patch set (--grid)").map(\.gridValues)
    }

    /// The patch set; `progress` is called after each grid point with (done, total).
    public func run(on workspace: Workspace, progress: ProgressHandler? = nil) throws(HistFactoryError) -> PatchSetExport {
        try workspace.patchSet(grid: try checkedGrid(), poi: poi, measurement: measurement, skippingInvalidPoints: skipInvalid, progress: progress)
    }

    /// The member names and texts of a patch-set export, as the directory and the archive hold them:
    /// `BkgOnly.json` and `patchset.json`, pretty-printed with a final newline.
    public static func files(_ export: PatchSetExport) -> [(name: String, text: String)] {
        [("BkgOnly.json", export.backgroundOnly.json.serialized(.pretty) + "\n"), ("patchset.json", export.patchSet.json.serialized(.pretty) + "\n")]
    }

    /// Whether `path` names an archive (`.tar.gz` or `.tgz`) rather than a directory.
    public static func isArchivePath(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".tar.gz") || lower.hasSuffix(".tgz")
    }

    /// The export as a HEPData-style `.tar.gz` with the two members of ``files(_:)``
    /// (``ArchiveWriter``), which `efthf fit ARCHIVE --patch NAME`, `tar` and Python's `tarfile` read.
    public static func archive(_ export: PatchSetExport, modified: Date = Date()) throws(ArchiveError) -> Data {
        try ArchiveWriter.tarGz(files(export).map { (name: $0.name, data: Data($0.text.utf8)) }, modified: modified)
    }

    /// The grid points between two looks at a cancellation: about a hundredth of the grid, so that
    /// the background-only workspace each part evaluates again adds about 1 % of the points' work.
    public static func pointsPerPart(_ count: Int) -> Int { max(1, (count + 99) / 100) }

    /// The same patch set, stopping with ``InferenceError/Code/cancelled`` once `cancellation` is set:
    /// it is computed in parts of consecutive grid points (``pointsPerPart(_:)``) and checked between
    /// them (without a cancellation, in one part). The merged parts are exactly
    /// ``run(on:progress:)``'s patch set (``PatchSetPart/merged(_:)``).
    public func run(on workspace: Workspace, progress: ProgressHandler? = nil, cancellation: Cancellation?) throws -> PatchSetExport {
        let grid = try checkedGrid()
        let count = grid.reduce(1) { $0 * $1.values.count }
        let step = cancellation == nil ? max(count, 1) : Self.pointsPerPart(count)
        var parts: [PatchSetPart] = []
        for start in stride(from: 0, to: count, by: step) {
            try cancellation?.check()
            var partProgress: ProgressHandler?
            if let progress { partProgress = { done, _ in progress(start + done, count) } }
            parts.append(try workspace.patchSetPart(grid: grid, points: start..<min(start + step, count), poi: poi, measurement: measurement,
                                                    skippingInvalidPoints: skipInvalid, progress: partProgress))
        }
        return try PatchSetPart.merged(parts)
    }
}

/// Each sample's expected yields per channel at a point, with the observed data: what the yield
/// plots and the explorer draw, from the likelihood's own evaluation; optionally the ±1σ band of
/// each channel's total.
public struct YieldsTask: Sendable, Codable, Equatable {
    /// The point; parameters not named keep their suggested inits.
    public var at: ParameterValues
    /// Which parameter uncertainties make the band of the totals (nil: no band). Not part of the
    /// task's JSON options (`TaskRunner`), only of the Swift API and the service's yields request.
    public var band: Band?
    /// Modifiers removed first, as a fit with ``FitTask/exclude`` removes them: the yields of the
    /// model that fit used.
    public var exclude: [String]

    /// The covariance C of the parameters that the band propagates.
    public enum Band: Sendable, Equatable {
        /// Every free constrained parameter with its constraint width σ₀ (``ParameterTable``),
        /// uncorrelated: the pre-fit band.
        case constraints
        /// The covariance of the parameters named (`name` or `name[i]`), e.g. a fit's
        /// `C_ij = ρ_ij σ̂_i σ̂_j`: the post-fit band.
        case covariance(parameters: [String], matrix: [[Double]])
    }

    public init(at: ParameterValues = ParameterValues(), band: Band? = nil, exclude: [String] = []) {
        self.at = at
        self.band = band
        self.exclude = exclude
    }

    public func run(on given: LoadedModel) throws(HistFactoryError) -> YieldsReport {
        let loaded = try given.excluding(modifiers: exclude)
        var point = loaded.model.suggestedInits
        try at.apply(to: &point, model: loaded.model)
        let sigma = try band.map { b throws(HistFactoryError) in try Self.totalUncertainty(b, model: loaded.model, at: point) }
        let report = YieldsReport(model: loaded.model, data: loaded.data, at: point, totalUncertainty: sigma, binning: YieldsReport.binEdges(loaded.workspace))
        // An event file that could no longer be read (`HistFactoryModel.evaluationFailure`) made NaN yields.
        if let failure = loaded.model.evaluationFailure { throw HistFactoryError(.io, "\(failure)") }
        return report
    }

    /// The linearised ±1σ of every bin's total expected yield ν_b:
    ///
    /// ```
    /// σ_b² = Σ_ij J_bi C_ij J_bj,   J_bi = ∂ν_b/∂θ_i
    /// ```
    ///
    /// with J the model's analytic Jacobian (``HistFactoryModel/expectedMainDataJacobian(_:)``, the
    /// likelihood's own backward pass). Linear propagation: an asymmetric or strongly non-linear
    /// response is not captured.
    ///
    /// - Complexity: one forward and one backward pass of the model per bin, then O(bins · k²).
    public static func totalUncertainty(_ band: Band, model: HistFactoryModel, at point: [Double]) throws(HistFactoryError) -> [Double] {
        let indices: [Int], covariance: [[Double]]
        switch band {
        case .constraints:
            let table = ParameterTable(model: model).parameters
            let chosen = table.indices.filter { !table[$0].fixed && (table[$0].width ?? 0) > 0 }
            indices = chosen
            covariance = chosen.indices.map { a in chosen.indices.map { b in a == b ? table[chosen[a]].width! * table[chosen[a]].width! : 0 } }
        case .covariance(let names, let matrix):
            guard matrix.count == names.count, matrix.allSatisfy({ $0.count == names.count }) else {
                throw HistFactoryError(.parameter, "the covariance must be \(names.count)×\(names.count) for \(names.count) parameters")
            }
            guard matrix.allSatisfy({ $0.allSatisfy(\.isFinite) }) else { throw HistFactoryError(.invalidValue, "the covariance has a non-finite entry") }
            var found: [Int] = []
            for name in names { found.append(try model.parameterIndex(named: name)) }
            indices = found
            covariance = matrix
        }
        let jacobian = model.expectedMainDataJacobian(point)
        return jacobian.map { row in
            let j = indices.map { row[$0] }
            var variance = 0.0
            for a in j.indices where j[a] != 0 {
                for c in j.indices where j[c] != 0 { variance += j[a] * covariance[a][c] * j[c] }
            }
            return max(variance, 0).squareRoot()
        }
    }
}

public struct YieldsReport: Sendable, Codable, Equatable {
    public struct Channel: Sendable, Codable, Equatable {
        public let name: String
        public let observed: [Double]
        public let total: [Double]
        /// The samples defined in the channel, in model order.
        public let samples: NamedValues<[Double]>
        /// The ±1σ of `total` per bin when a band was asked for (``YieldsTask/band``).
        public var totalUncertainty: [Double]? = nil
        /// The observable of ``binEdges``.
        public var observable: String? = nil
        /// bins + 1 edges from an event-database modifier of the channel (Specs/event-database.md);
        /// nil when the workspace does not say (a pyhf workspace has no bin edges).
        public var binEdges: [Double]? = nil

        enum CodingKeys: String, CodingKey {
            case name, observed, total, samples, totalUncertainty = "total_uncertainty", observable, binEdges = "bin_edges"
        }
    }

    public let channels: [Channel]

    /// `binning`: per channel name, the observable and edges (``YieldsReport/binEdges(_:)``); used
    /// where the number of edges fits the channel's bins.
    public init(model: HistFactoryModel, data: ModelData, at point: [Double], totalUncertainty: [Double]? = nil,
                binning: [String: (observable: String, edges: [Double])] = [:]) {
        let bySample = model.expectedSampleData(point)
        let total = model.expectedMainData(point)
        var offset = 0
        channels = zip(model.channels, model.channelBinCounts).map { name, n in
            defer { offset += n }
            let samples = bySample.filter { $0.channel == name }
            let edges = binning[name].flatMap { $0.edges.count == n + 1 ? $0 : nil }
            return Channel(name: name, observed: Array(data.main[offset..<offset + n]), total: Array(total[offset..<offset + n]),
                           samples: NamedValues(names: samples.map(\.sample), values: samples.map(\.yields)),
                           totalUncertainty: totalUncertainty.map { Array($0[offset..<offset + n]) },
                           observable: edges?.observable, binEdges: edges?.edges)
        }
    }
}
