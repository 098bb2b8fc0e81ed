import EFTJSON
import HistFactory
import Inference

/// Values for named parameters, the one rule for `--at`, `--fix`, `--pars` files and the service's
/// `fix`: a scalar by its name, one component of a vector as `name[i]` (pyhf's `par_names`), and a
/// whole vector by its name with one value for every component or one value each.
public struct ParameterValues: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public let name: String
        public let values: [Double]

        public init(name: String, values: [Double]) {
            self.name = name
            self.values = values
        }
    }

    public var entries: [Entry]

    /// Most entries one assignment may hold.
    public static let maximumEntries = 1_000_000

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Reads `name=value,name[i]=value,…`.
    public init(parsing text: String) throws(HistFactoryError) {
        var entries: [Entry] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, let value = Double(parts[1]) else {
                throw HistFactoryError(.parameter, "cannot read \"\(item)\" as name=value")
            }
            entries.append(Entry(name: parts[0], values: [value]))
            guard entries.count <= Self.maximumEntries else {
                throw HistFactoryError(.parameter, "more than \(Self.maximumEntries) parameter values")
            }
        }
        self.entries = entries
    }

    /// Reads `{name: value or [values], …}` (a `--pars` file, the service's `fix`); errors name
    /// `file` and the member's JSON path.
    public init(json: JSON, file: String? = nil, at path: JSONPointer = JSONPointer(tokens: [])) throws(HistFactoryError) {
        guard case .object(let o) = json else {
            throw HistFactoryError(.schema, "expected an object {name: value or [values]}, found \(json.kindDescription)", file: file, path: path)
        }
        guard o.count <= Self.maximumEntries else {
            throw HistFactoryError(.parameter, "more than \(Self.maximumEntries) parameter values", file: file, path: path)
        }
        var entries: [Entry] = []
        for (name, value) in o.pairs {
            if let v = value.doubleValue {
                entries.append(Entry(name: name, values: [v]))
            } else if let a = value.arrayValue, !a.isEmpty, a.allSatisfy({ $0.doubleValue != nil }) {
                entries.append(Entry(name: name, values: a.map { $0.doubleValue! }))
            } else {
                throw HistFactoryError(.schema, "expected a number or a non-empty array of numbers, found \(value.kindDescription)", file: file, path: path.appending(name))
            }
        }
        self.entries = entries
    }

    /// This assignment followed by `other` (later entries win).
    public func merged(with other: ParameterValues) -> ParameterValues {
        ParameterValues(entries + other.entries)
    }

    /// The model indices each entry sets, with the value of each.
    func resolved(in model: HistFactoryModel) throws(HistFactoryError) -> [(index: Int, value: Double)] {
        var out: [(index: Int, value: Double)] = []
        for entry in entries {
            if let v = entry.values.first(where: { !$0.isFinite }) {
                throw HistFactoryError(.invalidValue, "\(entry.name) = \(JSON.pythonRepr(v)) is not finite")
            }
            if let set = model.parameterSet(named: entry.name), !set.isScalar {
                guard entry.values.count == 1 || entry.values.count == set.count else {
                    throw HistFactoryError(.parameter, "\(entry.name) has \(set.count) components, \(entry.values.count) values given")
                }
                for i in 0..<set.count { out.append((set.offset + i, entry.values.count == 1 ? entry.values[0] : entry.values[i])) }
                continue
            }
            guard entry.values.count == 1 else { throw HistFactoryError(.parameter, "\(entry.name) is scalar, \(entry.values.count) values given") }
            out.append((try model.parameterIndex(named: entry.name), entry.values[0]))
        }
        return out
    }

    /// Sets the values in `point`.
    public func apply(to point: inout [Double], model: HistFactoryModel) throws(HistFactoryError) {
        for (i, v) in try resolved(in: model) { point[i] = v }
    }

    /// Sets the values as the fit's start and holds the parameters there.
    public func fix(in options: inout FitOptions, model: HistFactoryModel) throws(HistFactoryError) {
        guard !entries.isEmpty else { return }
        var point = options.initialValues ?? model.suggestedInits
        var fixed = options.fixed ?? model.suggestedFixed
        for (i, v) in try resolved(in: model) {
            point[i] = v
            fixed[i] = true
        }
        options.initialValues = point
        options.fixed = fixed
    }
}
