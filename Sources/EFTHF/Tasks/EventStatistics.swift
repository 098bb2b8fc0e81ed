import EFTJSON
import EFTModifiers
import EventDatabase
import Foundation
import HistFactory
import Morphing

/// The weight statistics of the event databases a workspace's `event_database` modifiers read
/// (the explorer's event-database table): per modifier its file and, once per file, the count,
/// range, sign and effective number of its events' weights at the Standard Model (c = 0) and, with
/// `at`, at a point in Wilson-coefficient space (``EventFile/weightStatistics(at:)``).
///
/// The statistics are of the file's raw weights `w_e(c)` over all its events (no binning, no
/// selection, before the modifier's `normalisation`, which the report gives beside them).
public struct EventStatisticsTask: Sendable, Equatable {
    /// Wilson-coefficient values; coefficients not named are 0. Nil: the SM only.
    public var at: [String: Double]?

    public init(at: [String: Double]? = nil) { self.at = at }

    /// - Throws: ``HistFactoryError`` naming the modifier whose file cannot be read, or a value of
    ///   `at` that is not finite.
    /// - Complexity: O(N·T) per distinct file and point.
    public func run(on workspace: Workspace) throws(HistFactoryError) -> EventStatisticsReport {
        if let at, let bad = at.first(where: { !$0.value.isFinite }) {
            throw HistFactoryError(.invalidValue, "the value of \(bad.key) must be finite, found \(bad.value)", path: JSONPointer(tokens: ["at", bad.key]))
        }
        let reader = SpecReader(version: workspace.version, modifiers: workspace.modifiers, baseDirectory: workspace.baseDirectory)
        var byFile: [String: (sm: WeightStatistics, point: WeightStatistics?, coefficients: [String])] = [:]
        var entries: [EventStatisticsReport.Entry] = []
        for (c, channel) in workspace.channels.enumerated() {
            for (s, sample) in channel.samples.enumerated() {
                for (k, modifier) in sample.modifiers.enumerated() {
                    guard let morphing = modifier.dependent as? MorphingModifier, let relative = morphing.source["file"]?.stringValue else { continue }
                    let pointer = JSONPointer(tokens: ["channels", "\(c)", "samples", "\(s)", "modifiers", "\(k)", "data", "file"])
                    // As the modifier resolved it when the model was built.
                    let path = reader.resolve(relative)
                    if byFile[path] == nil {
                        do throws(EventDatabaseError) {
                            let file = try EventFile(contentsOf: URL(fileURLWithPath: path))
                            let names = file.coefficientNames
                            let sm = try file.weightStatistics(at: names.map { _ in 0 })
                            let point = try at.map { at throws(EventDatabaseError) in try file.weightStatistics(at: names.map { at[$0] ?? 0 }) }
                            byFile[path] = (sm, point, names)
                        } catch {
                            throw HistFactoryError(.invalidModel, "event database \"\(modifier.name)\": \(error)", path: pointer, underlying: error)
                        }
                    }
                    let stats = byFile[path]!
                    entries.append(EventStatisticsReport.Entry(
                        channel: channel.name, sample: sample.name, modifier: modifier.name, file: relative,
                        normalisation: morphing.source["normalisation"]?.doubleValue ?? 1, coefficients: stats.coefficients,
                        standardModel: stats.sm, atPoint: stats.point))
                }
            }
        }
        return EventStatisticsReport(at: at, databases: entries)
    }
}

/// The result of an ``EventStatisticsTask``.
public struct EventStatisticsReport: Sendable, Encodable {
    public struct Entry: Sendable, Encodable {
        public let channel: String
        public let sample: String
        public let modifier: String
        /// As the workspace names it (relative to the workspace).
        public let file: String
        /// The modifier's factor n on the weights (ν = n Σ w).
        public let normalisation: Double
        /// The file's Wilson coefficients.
        public let coefficients: [String]
        public let standardModel: WeightStatistics
        public let atPoint: WeightStatistics?

        enum CodingKeys: String, CodingKey {
            case channel, sample, modifier, file, normalisation, coefficients, standardModel = "sm", atPoint = "at_point"
        }
    }

    /// The point of ``Entry/atPoint``.
    public let at: [String: Double]?
    public let databases: [Entry]

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        if let at { try c.encode(NamedValues(names: at.keys.sorted(), values: at.keys.sorted().map { at[$0]! }), forKey: AnyKey("at")) }
        try c.encode(databases, forKey: AnyKey("databases"))
    }
}
