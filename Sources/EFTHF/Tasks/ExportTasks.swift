import EFTJSON
import EFTModifiers
import HistFactory

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
                             maximumPoints: Limits.patchSetPoints, what: "the patch set")
    }

    public func run(on workspace: Workspace) throws(HistFactoryError) -> PatchSetExport {
        let grid = try GridAxis.checked(grid, maximumPoints: Limits.patchSetPoints, what: "the patch set")
        return try workspace.patchSet(grid: grid.map(\.gridValues), poi: poi, measurement: measurement, skippingInvalidPoints: skipInvalid)
    }
}

/// Each sample's expected yields per channel at a point, with the observed data: what the yield
/// plots and the explorer draw, from the likelihood's own evaluation.
public struct YieldsTask: Sendable, Codable, Equatable {
    /// The point; parameters not named keep their suggested inits.
    public var at: ParameterValues

    public init(at: ParameterValues = ParameterValues()) {
        self.at = at
    }

    public func run(on loaded: LoadedModel) throws(HistFactoryError) -> YieldsReport {
        var point = loaded.model.suggestedInits
        try at.apply(to: &point, model: loaded.model)
        return YieldsReport(model: loaded.model, data: loaded.data, at: point)
    }
}

public struct YieldsReport: Sendable, Codable, Equatable {
    public struct Channel: Sendable, Codable, Equatable {
        public let name: String
        public let observed: [Double]
        public let total: [Double]
        /// The samples defined in the channel, in model order.
        public let samples: NamedValues<[Double]>
    }

    public let channels: [Channel]

    public init(model: HistFactoryModel, data: ModelData, at point: [Double]) {
        let bySample = model.expectedSampleData(point)
        let total = model.expectedMainData(point)
        var offset = 0
        channels = zip(model.channels, model.channelBinCounts).map { name, n in
            defer { offset += n }
            let samples = bySample.filter { $0.channel == name }
            return Channel(name: name, observed: Array(data.main[offset..<offset + n]), total: Array(total[offset..<offset + n]),
                           samples: NamedValues(names: samples.map(\.sample), values: samples.map(\.yields)))
        }
    }
}
