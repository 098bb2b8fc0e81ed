import EFTJSON
import EFTModifiers
import HistFactory

/// One axis of a grid of points: `count` evenly spaced values from `lower` to `upper`, both
/// included (``Workspace/gridValues(from:to:count:)``: the ends exact, the values between rounded
/// to 12 significant digits). The one grid rule of scans, patch sets and the service.
public struct GridAxis: Sendable, Codable, Equatable {
    public let name: String
    public let lower: Double
    public let upper: Double
    public let count: Int

    /// Most values on one axis.
    public static let maximumCount = 1_000_000

    public init(name: String, lower: Double, upper: Double, count: Int) throws(HistFactoryError) {
        guard !name.isEmpty else { throw HistFactoryError(.parameter, "a grid axis needs a parameter name") }
        guard lower.isFinite, upper.isFinite else {
            throw HistFactoryError(.parameter, "\(name): the range [\(JSON.pythonRepr(lower)), \(JSON.pythonRepr(upper))] is not finite")
        }
        guard count >= 1, count <= Self.maximumCount else {
            throw HistFactoryError(.parameter, "\(name): the count must be from 1 to \(Self.maximumCount), found \(count)")
        }
        guard count == 1 || lower < upper else {
            throw HistFactoryError(.parameter, "\(name): the lower end \(JSON.pythonRepr(lower)) must be below the upper end \(JSON.pythonRepr(upper))")
        }
        self.name = name
        self.lower = lower
        self.upper = upper
        self.count = count
    }

    /// Reads `name=lower:upper:count`.
    public init(parsing text: String) throws(HistFactoryError) {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        let range = parts.count == 2 ? parts[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init) : []
        guard parts.count == 2, range.count == 3, let lo = Double(range[0]), let hi = Double(range[1]), let n = Int(range[2]) else {
            throw HistFactoryError(.parameter, "expected name=lower:upper:count, found \"\(text)\"")
        }
        try self.init(name: parts[0], lower: lo, upper: hi, count: n)
    }

    public var values: [Double] { Workspace.gridValues(from: lower, to: upper, count: count) }

    /// Axes of one grid: distinct names, at most `maximumPoints` points in all (`what` names the
    /// grid in the error, e.g. "the patch set").
    public static func checked(_ axes: [GridAxis], maximumPoints: Int, what: String) throws(HistFactoryError) -> [GridAxis] {
        guard !axes.isEmpty else { throw HistFactoryError(.parameter, "\(what) needs at least one grid axis") }
        var points = 1
        for (k, axis) in axes.enumerated() {
            if axes[..<k].contains(where: { $0.name == axis.name }) {
                throw HistFactoryError(.parameter, "\"\(axis.name)\" appears twice in the grid")
            }
            let (product, overflow) = points.multipliedReportingOverflow(by: axis.count)
            points = overflow ? .max : product
        }
        guard points <= maximumPoints else {
            throw HistFactoryError(.parameter, "\(what): the grid has \(points == .max ? "more than \(Int.max)" : String(points)) points (\(axes.map { "\($0.name): \($0.count)" }.joined(separator: " × "))); the limit is \(maximumPoints)")
        }
        return axes
    }
}

/// The limits on the sizes a user chooses.
public enum Limits {
    /// Grid points of one patch set (each is a workspace evaluation and a patch).
    public static let patchSetPoints = 10_000
    /// Conditional fits of one profile-likelihood scan.
    public static let scanPoints = 250_000
    /// Toys per hypothesis.
    public static let toys = 10_000_000
    /// Shards of one plan (``Plan``): a Slurm job array's indices 0…999 fit under Slurm's default
    /// `MaxArraySize` (1001).
    public static let shards = 1000
    /// Shards run at a time by the local engine (`efthf submit --engine local --jobs`).
    public static let localJobs = 256
    /// CPUs per batch job (`--cpus`).
    public static let cpusPerJob = 1024
    /// Memory per batch job in MiB (`--mem`): 16 TiB.
    public static let memoryMiBPerJob = 16 * 1024 * 1024
    /// Wall time per batch job in seconds (`--time`): 365 days.
    public static let secondsPerJob = 365 * 86400
    /// HTCondor reruns of a failed job (`--retries`).
    public static let retries = 100
    /// Modifiers one fit may exclude (`efthf fit --exclude`, a fit job's `exclude`).
    public static let excludedModifiers = 10_000
}

extension GridAxis {
    /// The axis as explicit values.
    public var gridValues: GridValues { GridValues(name: name, values: values) }
}
