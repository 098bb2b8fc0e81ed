import EFTJSON
import Foundation
import HistFactory
import Inference

/// Start values, bounds and fixed flags for every parameter of the model, in its parameter order
/// (pyhf's `init_pars`, `par_bounds` and `fixed_params`); nil keeps the model's suggestion.
public struct ParameterOverrides: Sendable, Codable, Equatable {
    public var inits: [Double]?
    public var bounds: [[Double]]?
    public var fixed: [Bool]?

    public init(inits: [Double]? = nil, bounds: [[Double]]? = nil, fixed: [Bool]? = nil) {
        self.inits = inits
        self.bounds = bounds
        self.fixed = fixed
    }

    public var isEmpty: Bool { inits == nil && bounds == nil && fixed == nil }

    /// Sets the start values, bounds and fixed flags of `options`, each checked against the model.
    public func apply(to options: inout FitOptions, model: HistFactoryModel) throws(HistFactoryError) {
        let n = model.parameterCount
        func sized(_ count: Int, _ what: String) throws(HistFactoryError) {
            guard count == n else { throw HistFactoryError(.parameter, "\(what) has \(count) values, the model has \(n) parameters") }
        }
        if let inits {
            try sized(inits.count, "init_pars")
            if let k = inits.firstIndex(where: { !$0.isFinite }) {
                throw HistFactoryError(.invalidValue, "init_pars[\(k)] (\(model.parameterNames[k])) = \(JSON.pythonRepr(inits[k])) is not finite")
            }
            options.initialValues = inits
        }
        if let bounds {
            try sized(bounds.count, "par_bounds")
            var ranges: [ClosedRange<Double>] = []
            ranges.reserveCapacity(n)
            for (k, b) in bounds.enumerated() {
                guard b.count == 2, !b[0].isNaN, !b[1].isNaN, b[0] <= b[1] else {
                    throw HistFactoryError(.parameter, "par_bounds[\(k)] (\(model.parameterNames[k])) must be [lower, upper] with lower ≤ upper, found \(b.map(JSON.pythonRepr))")
                }
                ranges.append(b[0]...b[1])
            }
            options.bounds = ranges
        }
        if let fixed {
            try sized(fixed.count, "fixed_params")
            options.fixed = fixed
        }
    }
}

/// Decoding of the tasks from JSON (the C interface and the Python package send them so):
/// snake_case members, every member optional with the task's default, an unknown member an
/// error that names it. ``TaskDecodingError`` describes a failure with its JSON path.
public enum TaskCoding {
    /// Decodes a task from JSON text; `what` names the document in errors (e.g. "fit options").
    public static func decode<T: Decodable>(_ type: T.Type, from text: String, what: String) throws(HistFactoryError) -> T {
        let source = text.isEmpty ? "{}" : text
        do {
            return try JSONDecoder().decode(T.self, from: Data(source.utf8))
        } catch let error as HistFactoryError {
            throw HistFactoryError(error.code, "\(what): \(error.message)", path: error.path)
        } catch let error as DecodingError {
            throw HistFactoryError(.schema, "\(what): \(describe(error))")
        } catch {
            throw HistFactoryError(.schema, "\(what): \(error)")
        }
    }

    static func pointer(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "/" : path.map { "/" + ($0.intValue.map(String.init) ?? $0.stringValue) }.joined()
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let c): "at \(pointer(c.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let c): "at \(pointer(c.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let c): "at \(pointer(c.codingPath)): missing member \"\(key.stringValue)\""
        case .dataCorrupted(let c):
            c.codingPath.isEmpty ? "not valid JSON (\(c.underlyingError.map { "\($0)" } ?? c.debugDescription))"
                : "at \(pointer(c.codingPath)): \(c.debugDescription)"
        @unknown default: "\(error)"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Int.Type, is UInt64.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [Double].Type: "an array of numbers"
        default: "\(type)"
        }
    }

    /// `"none"`, `"auto"` (the default) or `"grid"`.
    static func strategy<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> MultiStart.Strategy {
        guard let name = try c.decodeIfPresent(String.self, forKey: key) else { return .auto }
        guard let strategy = MultiStart.Strategy(rawValue: name) else {
            throw HistFactoryError(.schema, "at \(pointer(c.codingPath + [key])): the multi-start strategy must be none, auto or grid, not \"\(name)\"")
        }
        return strategy
    }

    /// A multi-start budget from 0 to ``MultiStart/maximumStarts``; nil when absent.
    static func budget<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> Int? {
        guard let n = try c.decodeIfPresent(Int.self, forKey: key) else { return nil }
        guard n >= 0, n <= MultiStart.maximumStarts else {
            throw HistFactoryError(.parameter, "at \(pointer(c.codingPath + [key])): max_starts must be from 0 to \(MultiStart.maximumStarts), not \(n)")
        }
        return n
    }

    /// Refuses members of the decoder's object that are not in `Keys`.
    static func rejectUnknown<Keys: CodingKey & CaseIterable>(_ decoder: any Decoder, _ keys: Keys.Type) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(Keys.allCases.map(\.stringValue))
        if let unknown = c.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw HistFactoryError(
                .schema, "at \(pointer(decoder.codingPath + [unknown])): unknown member \"\(unknown.stringValue)\"; allowed: \(known.sorted().joined(separator: ", "))")
        }
    }
}

extension KeyedDecodingContainer {
    func value<T: Decodable>(_ key: Key, default value: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? value
    }
}

extension ParameterValues {
    /// `{name: value or [values], …}`, the same form as a `--pars` file. Names of one JSON object
    /// are distinct, so the entries' order (which a `Decoder` does not keep) does not matter.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        var entries: [Entry] = []
        for key in c.allKeys {
            if let v = try? c.decode(Double.self, forKey: key) {
                entries.append(Entry(name: key.stringValue, values: [v]))
            } else {
                let values = try c.decode([Double].self, forKey: key)
                guard !values.isEmpty else {
                    throw HistFactoryError(.schema, "at \(TaskCoding.pointer(decoder.codingPath + [key])): expected a number or a non-empty array of numbers")
                }
                entries.append(Entry(name: key.stringValue, values: values))
            }
        }
        guard entries.count <= Self.maximumEntries else { throw HistFactoryError(.parameter, "more than \(Self.maximumEntries) parameter values") }
        self.init(entries)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        for e in entries {
            if e.values.count == 1 { try c.encode(e.values[0], forKey: AnyKey(e.name)) } else { try c.encode(e.values, forKey: AnyKey(e.name)) }
        }
    }
}

extension GridAxis {
    enum CodingKeys: String, CodingKey, CaseIterable { case name, lower, upper, count }

    /// `{"name": …, "lower": …, "upper": …, "count": …}`, checked as ``init(name:lower:upper:count:)``.
    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(name: c.decode(String.self, forKey: .name), lower: c.decode(Double.self, forKey: .lower),
                      upper: c.decode(Double.self, forKey: .upper), count: c.decode(Int.self, forKey: .count))
    }
}

extension FitTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case ops, fix, uncertainties, overrides, multistart, maxStarts = "max_starts", exclude }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(ops: try c.decodeIfPresent([String].self, forKey: .ops), fix: try c.value(.fix, default: ParameterValues()),
                  uncertainties: try c.value(.uncertainties, default: true), overrides: try c.value(.overrides, default: ParameterOverrides()),
                  multistart: try TaskCoding.strategy(c, .multistart), maxStarts: try TaskCoding.budget(c, .maxStarts),
                  exclude: try c.value(.exclude, default: []))
    }
}

extension HypotestTask {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case poiValue = "poi_value", testStatistic = "test_statistic", overrides, multistart, maxStarts = "max_starts"
    }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(poiValue: try c.value(.poiValue, default: 1), testStatistic: try c.value(.testStatistic, default: "qtilde"),
                  overrides: try c.value(.overrides, default: ParameterOverrides()),
                  multistart: try TaskCoding.strategy(c, .multistart), maxStarts: try TaskCoding.budget(c, .maxStarts))
    }
}

extension LimitTask {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case level, scan, bandPoints = "band_points", testStatistic = "test_statistic", overrides, multistart, maxStarts = "max_starts"
    }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(level: try c.value(.level, default: 0.05), scan: try c.decodeIfPresent([Double].self, forKey: .scan),
                  bandPoints: try c.decodeIfPresent(Int.self, forKey: .bandPoints),
                  testStatistic: try c.value(.testStatistic, default: "qtilde"), overrides: try c.value(.overrides, default: ParameterOverrides()),
                  multistart: try TaskCoding.strategy(c, .multistart), maxStarts: try TaskCoding.budget(c, .maxStarts))
    }
}

extension RankingTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case poi, ops, fix }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(poi: try c.decodeIfPresent(String.self, forKey: .poi), ops: try c.decodeIfPresent([String].self, forKey: .ops),
                  fix: try c.value(.fix, default: ParameterValues()))
    }
}

extension SignificanceTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case overrides }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(overrides: try c.value(.overrides, default: ParameterOverrides()))
    }
}

extension ToysTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case poiValue = "poi_value", toys, seed, testStatistic = "test_statistic" }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(poiValue: try c.value(.poiValue, default: 1), toys: try c.value(.toys, default: 1000), seed: try c.value(.seed, default: 0),
                  testStatistic: try c.value(.testStatistic, default: "qtilde"))
    }
}

extension ScanTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case axes, fix, adaptive, tolerance, maxPoints = "max_points", runs }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(axes: try c.decode([GridAxis].self, forKey: .axes), fix: try c.value(.fix, default: ParameterValues()),
                  adaptive: try c.value(.adaptive, default: false), tolerance: try c.decodeIfPresent(Double.self, forKey: .tolerance),
                  maxPoints: try c.value(.maxPoints, default: 200), runs: try c.decodeIfPresent(Int.self, forKey: .runs))
    }
}

extension YieldsTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case at, exclude }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(at: try c.value(.at, default: ParameterValues()), exclude: try c.value(.exclude, default: []))
    }
}

extension ExportTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case point, poi, measurement }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(point: try c.value(.point, default: [:]), poi: try c.decodeIfPresent(String.self, forKey: .poi),
                  measurement: try c.decodeIfPresent(String.self, forKey: .measurement))
    }
}

extension PatchSetTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case grid, poi, measurement, skipInvalid = "skip_invalid" }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(grid: try c.decode([GridAxis].self, forKey: .grid), poi: try c.decodeIfPresent(String.self, forKey: .poi),
                  measurement: try c.decodeIfPresent(String.self, forKey: .measurement), skipInvalid: try c.value(.skipInvalid, default: false))
    }
}

extension HS3ExportTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case measurement }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(measurement: try c.decodeIfPresent(String.self, forKey: .measurement))
    }
}

extension HS3ImportTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case path }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try c.decode(String.self, forKey: .path))
    }
}

extension CombineScalingExportTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case measurement }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(measurement: try c.decodeIfPresent(String.self, forKey: .measurement))
    }
}

extension CombineScalingImportTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case scaling, modifier }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(scaling: try c.decode(String.self, forKey: .scaling), modifier: try c.value(.modifier, default: "combine_scaling"))
    }
}

extension EFT2ObsImportTask {
    enum CodingKeys: String, CodingKey, CaseIterable { case table, assignments, coefficients, modifier, uncertainties }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(table: try c.decode(String.self, forKey: .table), assignments: try c.decode([STXSAssignment].self, forKey: .assignments),
                  coefficients: try c.decodeIfPresent([String].self, forKey: .coefficients), modifier: try c.value(.modifier, default: "stxs_scaling"),
                  uncertainties: try c.value(.uncertainties, default: true))
    }
}
