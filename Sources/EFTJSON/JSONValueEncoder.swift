/// Encodes an `Encodable` value as a ``JSON`` value: objects keep the order in which their keys
/// were encoded (declaration order for synthesised conformances), doubles stay doubles and
/// integers integers, so that ``JSON/serialized(_:)`` writes them as Python's `json` would.
///
/// Results of efthf's tasks are `Codable`; this is how the command line and the service write them
/// with the same bytes, and Foundation's `JSONEncoder` reads and writes them too.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSON {
        let slot = Slot()
        try slot.store(value, codingPath: [])
        return slot.resolved
    }
}

/// One value under construction: a finished scalar, or the children of an object or array.
private final class Slot {
    var scalar: JSON = .null
    var object: [(String, Slot)]? = nil
    /// The position of each key in `object`, so that an object of n keys encodes in O(n).
    var keyIndex: [String: Int] = [:]
    var array: [Slot]? = nil

    var resolved: JSON {
        if let object { return .object(JSONObject(object.map { ($0.0, $0.1.resolved) })) }
        if let array { return .array(array.map(\.resolved)) }
        return scalar
    }

    func store<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
        switch value {
        case let json as JSON: scalar = json
        case let d as Double: scalar = .number(d)
        case let f as Float: scalar = .number(Double(f))
        case let s as String: scalar = .string(s)
        case let b as Bool: scalar = .bool(b)
        case let i as Int: scalar = .integer(Int64(i))
        case let i as Int64: scalar = .integer(i)
        case let i as Int32: scalar = .integer(Int64(i))
        case let u as UInt64: scalar = u <= UInt64(Int64.max) ? .integer(Int64(u)) : .number(Double(u))
        case let u as UInt: scalar = u <= UInt(Int64.max) ? .integer(Int64(u)) : .number(Double(u))
        default: try value.encode(to: SlotEncoder(slot: self, codingPath: codingPath))
        }
    }

    func child(forKey key: String) -> Slot {
        if object == nil { object = [] }
        let slot = Slot()
        if let i = keyIndex[key] {
            object![i].1 = slot
        } else {
            keyIndex[key] = object!.count
            object!.append((key, slot))
        }
        return slot
    }

    func appended() -> Slot {
        if array == nil { array = [] }
        let slot = Slot()
        array!.append(slot)
        return slot
    }
}

private struct SlotEncoder: Encoder {
    let slot: Slot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if slot.object == nil { slot.object = [] }
        return KeyedEncodingContainer(KeyedSlot<Key>(slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if slot.array == nil { slot.array = [] }
        return UnkeyedSlot(slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleSlot(slot: slot, codingPath: codingPath) }
}

private struct KeyedSlot<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { slot.child(forKey: key.stringValue).scalar = .null }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try slot.child(forKey: key.stringValue).store(value, codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        SlotEncoder(slot: slot.child(forKey: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        SlotEncoder(slot: slot.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> any Encoder { SlotEncoder(slot: slot.child(forKey: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { SlotEncoder(slot: slot.child(forKey: key.stringValue), codingPath: codingPath + [key]) }
}

private struct UnkeyedSlot: UnkeyedEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]
    var count: Int { slot.array?.count ?? 0 }

    mutating func encodeNil() throws { slot.appended().scalar = .null }
    mutating func encode<T: Encodable>(_ value: T) throws { try slot.appended().store(value, codingPath: codingPath) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        SlotEncoder(slot: slot.appended(), codingPath: codingPath).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { SlotEncoder(slot: slot.appended(), codingPath: codingPath).unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { SlotEncoder(slot: slot.appended(), codingPath: codingPath) }
}

private struct SingleSlot: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.scalar = .null }
    mutating func encode<T: Encodable>(_ value: T) throws { try slot.store(value, codingPath: codingPath) }
}

extension JSON: Codable {
    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSON] = []
            while !array.isAtEnd { items.append(try array.decode(JSON.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            self = .object(JSONObject(try object.allKeys.map { ($0.stringValue, try object.decode(JSON.self, forKey: $0)) }))
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() { self = .null }
        else if let b = try? value.decode(Bool.self) { self = .bool(b) }
        else if let i = try? value.decode(Int64.self) { self = .integer(i) }
        else if let d = try? value.decode(Double.self) { self = .number(d) }
        else { self = .string(try value.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .integer(let i): var c = encoder.singleValueContainer(); try c.encode(i)
        case .number(let d): var c = encoder.singleValueContainer(); try c.encode(d)
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .array(let a): var c = encoder.unkeyedContainer(); for item in a { try c.encode(item) }
        case .object(let o):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (k, v) in o.pairs { try c.encode(v, forKey: AnyKey(k)) }
        }
    }
}

/// A coding key for any string: objects whose keys are data (parameter names, channels).
public struct AnyKey: CodingKey, Sendable {
    public let stringValue: String
    public var intValue: Int? { nil }
    public init(_ string: String) { stringValue = string }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { stringValue = String(intValue) }
}

/// Named values that encode as one JSON object in their order, `{name: value, …}` (parameters,
/// channels): a dictionary would lose the order.
public struct NamedValues<Value: Codable & Sendable>: Codable, Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let value: Value

        public init(name: String, value: Value) {
            self.name = name
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public init(names: [String], values: [Value]) {
        entries = zip(names, values).map { Entry(name: $0, value: $1) }
    }

    public subscript(name: String) -> Value? { entries.first { $0.name == name }?.value }
    public var names: [String] { entries.map(\.name) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        entries = try c.allKeys.map { Entry(name: $0.stringValue, value: try c.decode(Value.self, forKey: $0)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        for e in entries { try c.encode(e.value, forKey: AnyKey(e.name)) }
    }
}

extension NamedValues: Equatable where Value: Equatable {}
extension NamedValues.Entry: Equatable where Value: Equatable {}
