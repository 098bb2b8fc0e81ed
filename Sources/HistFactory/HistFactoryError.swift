import EFTJSON

/// Why a workspace, patch or model was rejected: what, where (file and JSON path) and the value.
///
/// A struct with an open `Code` rather than an enum, so that new kinds of failure can be added
/// without breaking callers that switch over them.
public struct HistFactoryError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        /// Not JSON at all, or truncated.
        public static let syntax = Code(name: "syntax")
        /// A JSON value of the wrong kind, an unknown key, a missing key.
        public static let schema = Code(name: "schema")
        /// Valid JSON and schema, but the model it describes is inconsistent.
        public static let invalidModel = Code(name: "invalid model")
        /// A parameter name reused with incompatible requirements.
        public static let invalidNameReuse = Code(name: "invalid name reuse")
        /// A NaN, an infinity, or a negative uncertainty.
        public static let invalidValue = Code(name: "invalid value")
        /// A patch or patch set that does not apply.
        public static let patch = Code(name: "patch")
        /// A workspace operation (combine, prune, rename) that cannot be carried out.
        public static let operation = Code(name: "workspace operation")
        /// A parameter name or value given by the user that the model does not have.
        public static let parameter = Code(name: "parameter")
        /// The file could not be read.
        public static let io = Code(name: "i/o")
    }

    public let code: Code
    public let message: String
    /// The file the offending value came from, when known.
    public var file: String?
    /// The JSON Pointer of the offending value inside `file`, when known.
    public var path: JSONPointer?

    /// The error this one reports (an event database's, a morphing system's), when there is one.
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, file: String? = nil, path: JSONPointer? = nil, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.path = path
        self.underlying = underlying
    }

    /// The file and JSON path, as every efthf error reports its place.
    public var location: ErrorLocation {
        get { ErrorLocation(file: file, jsonPath: path) }
        set { file = newValue.file; path = newValue.jsonPath }
    }

    public var description: String {
        var location = ""
        if let file { location += file }
        if let path {
            location += (location.isEmpty ? "" : " ") + "at \(path.description.isEmpty ? "/" : path.description)"
        }
        return location.isEmpty ? message : "\(location): \(message)"
    }

    /// The same error, attributed to `file` if it had no file yet.
    public func inFile(_ file: String) -> HistFactoryError {
        var copy = self
        if copy.file == nil { copy.file = file }
        return copy
    }
}
