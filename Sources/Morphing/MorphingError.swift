/// Why morphing templates, benchmark points or a parametrisation were rejected: what, where, the value.
///
/// A struct with an open `Code` rather than an enum, so that new kinds of failure can be added
/// without breaking callers that switch over them (the pattern of `HistFactoryError`).
public struct MorphingError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        /// Arrays of inconsistent lengths (bins, terms, coefficients, benchmark points).
        public static let shape = Code(name: "shape")
        /// A NaN, an infinity, a negative uncertainty or exponent.
        public static let invalidValue = Code(name: "invalid value")
        /// A coefficient, folder, term key or observable that does not exist.
        public static let unknownName = Code(name: "unknown name")
        /// The benchmark points do not determine the terms (too few, or a singular morphing matrix).
        public static let singularMorphingMatrix = Code(name: "singular morphing matrix")
        /// Input text that does not follow the expected format (JSON layout, YAML subset).
        public static let format = Code(name: "format")
    }

    public let code: Code
    public let message: String
    /// Where the offending value was found: a file, a JSON key path, a folder name.
    public var context: String?

    public init(_ code: Code, _ message: String, context: String? = nil) {
        self.code = code
        self.message = message
        self.context = context
    }

    public var description: String {
        if let context { "\(context): \(message)" } else { message }
    }
}
