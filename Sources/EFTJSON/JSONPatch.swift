import Foundation

/// A failure to resolve a JSON Pointer or to apply a JSON Patch operation.
public struct JSONPatchError: Error, Sendable, CustomStringConvertible {
    /// Index of the failing operation in the patch, when applying a patch.
    public let operationIndex: Int?
    public let message: String

    public var description: String {
        if let operationIndex { "JSON Patch operation \(operationIndex): \(message)" } else { message }
    }
}

/// An RFC 6901 JSON Pointer such as `/channels/0/samples/1`.
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    public let tokens: [String]

    public init(tokens: [String]) {
        self.tokens = tokens
    }

    /// Parses `""` (the whole document) or `/a/b~1c/0`.
    public init(_ text: String) throws(JSONPatchError) {
        if text.isEmpty {
            tokens = []
            return
        }
        guard text.first == "/" else {
            throw JSONPatchError(operationIndex: nil, message: "JSON Pointer \"\(text)\" must start with '/'")
        }
        tokens = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    public var description: String {
        tokens.isEmpty ? "" : tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined()
    }

    /// A pointer one level deeper.
    public func appending(_ token: String) -> JSONPointer { JSONPointer(tokens: tokens + [token]) }
    public func appending(_ index: Int) -> JSONPointer { appending(String(index)) }
}

extension JSON {
    /// The value at `pointer`, or `nil` when it does not resolve.
    public func value(at pointer: JSONPointer) -> JSON? {
        var node = self
        for token in pointer.tokens {
            switch node {
            case .object(let o):
                guard let next = o[token] else { return nil }
                node = next
            case .array(let a):
                guard let i = Int(token), i >= 0, i < a.count, String(i) == token else { return nil }
                node = a[i]
            default:
                return nil
            }
        }
        return node
    }

    private enum Edit {
        case add(JSON)
        case replace(JSON)
        case remove
    }

    /// Applies `edit` at `tokens[depth...]`, returning the removed/replaced value.
    private mutating func edit(_ tokens: ArraySlice<String>, _ edit: Edit) throws(JSONPatchError) -> JSON? {
        guard let token = tokens.first else {
            let old = self
            switch edit {
            case .add(let v), .replace(let v): self = v
            case .remove: throw JSONPatchError(operationIndex: nil, message: "cannot remove the whole document")
            }
            return old
        }
        let rest = tokens.dropFirst()
        switch self {
        case .object(var o):
            if rest.isEmpty {
                let old = o[token]
                switch edit {
                case .add(let v): o[token] = v
                case .replace(let v):
                    guard old != nil else { throw JSONPatchError(operationIndex: nil, message: "no member \"\(token)\" to replace") }
                    o[token] = v
                case .remove:
                    guard old != nil else { throw JSONPatchError(operationIndex: nil, message: "no member \"\(token)\" to remove") }
                    o[token] = nil
                }
                self = .object(o)
                return old
            }
            guard var child = o[token] else { throw JSONPatchError(operationIndex: nil, message: "path member \"\(token)\" does not exist") }
            self = .null  // release the parent's reference so the child is edited in place
            let old = try child.edit(rest, edit)
            o[token] = child
            self = .object(o)
            return old
        case .array(var a):
            let index: Int
            if token == "-" {
                index = a.count
            } else if let i = Int(token), i >= 0, String(i) == token {
                index = i
            } else {
                throw JSONPatchError(operationIndex: nil, message: "\"\(token)\" is not an array index")
            }
            if rest.isEmpty {
                switch edit {
                case .add(let v):
                    guard index <= a.count else { throw JSONPatchError(operationIndex: nil, message: "index \(index) is past the end of an array of \(a.count)") }
                    a.insert(v, at: index)
                    self = .array(a)
                    return nil
                case .replace(let v):
                    guard index < a.count else { throw JSONPatchError(operationIndex: nil, message: "index \(index) out of range (array of \(a.count))") }
                    let old = a[index]
                    a[index] = v
                    self = .array(a)
                    return old
                case .remove:
                    guard index < a.count else { throw JSONPatchError(operationIndex: nil, message: "index \(index) out of range (array of \(a.count))") }
                    let old = a.remove(at: index)
                    self = .array(a)
                    return old
                }
            }
            guard index < a.count else { throw JSONPatchError(operationIndex: nil, message: "index \(index) out of range (array of \(a.count))") }
            var child = a[index]
            self = .null
            a[index] = .null
            let old = try child.edit(rest, edit)
            a[index] = child
            self = .array(a)
            return old
        default:
            throw JSONPatchError(operationIndex: nil, message: "cannot descend into \(kindDescription) at \"\(token)\"")
        }
    }

    /// Applies an RFC 6902 JSON Patch (an array of operations) and returns the patched document.
    /// The original is untouched if any operation fails.
    public func applyingPatch(_ patch: JSON) throws(JSONPatchError) -> JSON {
        guard case .array(let operations) = patch else {
            throw JSONPatchError(operationIndex: nil, message: "a JSON Patch must be an array of operations, found \(patch.kindDescription)")
        }
        var doc = self
        for (n, operation) in operations.enumerated() {
            func fail(_ message: String) -> JSONPatchError { JSONPatchError(operationIndex: n, message: message) }
            guard case .object(let op) = operation, let kind = op["op"]?.stringValue else {
                throw fail("an operation must be an object with a string \"op\"")
            }
            guard let pathText = op["path"]?.stringValue else { throw fail("missing string \"path\"") }
            let path: JSONPointer
            do { path = try JSONPointer(pathText) } catch { throw fail(error.message) }
            func from() throws(JSONPatchError) -> JSONPointer {
                guard let text = op["from"]?.stringValue else { throw fail("\(kind) needs a string \"from\"") }
                do { return try JSONPointer(text) } catch { throw fail(error.message) }
            }
            func value() throws(JSONPatchError) -> JSON {
                guard let v = op["value"] else { throw fail("\(kind) needs a \"value\"") }
                return v
            }
            do throws(JSONPatchError) {
                switch kind {
                case "add": _ = try doc.edit(path.tokens[...], .add(try value()))
                case "remove": _ = try doc.edit(path.tokens[...], .remove)
                case "replace": _ = try doc.edit(path.tokens[...], .replace(try value()))
                case "move":
                    let source = try from()
                    if path.tokens.starts(with: source.tokens) && path.tokens.count > source.tokens.count {
                        throw fail("cannot move \"\(source)\" into its own child \"\(path)\"")
                    }
                    guard let moved = try doc.edit(source.tokens[...], .remove) else { throw fail("nothing at \"\(source)\"") }
                    _ = try doc.edit(path.tokens[...], .add(moved))
                case "copy":
                    let source = try from()
                    guard let copied = doc.value(at: source) else { throw fail("nothing at \"\(source)\" to copy") }
                    _ = try doc.edit(path.tokens[...], .add(copied))
                case "test":
                    let expected = try value()
                    guard doc.value(at: path) == expected else { throw fail("test failed at \"\(path)\"") }
                default:
                    throw fail("unknown op \"\(kind)\"")
                }
            } catch {
                throw error.operationIndex == nil ? fail("\(kind) at \"\(path)\": \(error.message)") : error
            }
        }
        return doc
    }
}
