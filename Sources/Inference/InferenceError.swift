/// Why an inference task could not be carried out: what was wrong and the value involved.
///
/// A struct with an open `Code`, so that new kinds of failure can be added without breaking
/// callers that switch over them (the pattern of `HistFactoryError`).
public struct InferenceError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        /// Options that do not fit the model: wrong lengths, an init outside its bounds, an
        /// unknown or fixed parameter of interest.
        public static let invalidOptions = Code(name: "invalid options")
        /// A fit that failed after every retry (pyhf's `FailedMinimization`).
        public static let failedMinimization = Code(name: "failed minimization")
        /// A root (upper limit, interval end) that is not inside the parameter's bounds.
        public static let noRoot = Code(name: "no root")
        /// The caller cancelled the computation (``Cancellation``).
        public static let cancelled = Code(name: "cancelled")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
