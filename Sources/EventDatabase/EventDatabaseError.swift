import EFTJSON
/// Why an event database could not be read, written, validated or projected: what was wrong, in
/// which file and dataset, with the offending value.
///
/// A struct with an open `Code` rather than an enum (the pattern of `MorphingError`), so that kinds
/// of failure can be added without breaking callers that switch over them.
public struct EventDatabaseError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        /// A required dataset, group or attribute is absent.
        public static let missing = Code(name: "missing")
        /// A dataset has the wrong rank or length (e.g. not one entry per event).
        public static let shape = Code(name: "shape")
        /// A dataset or attribute has the wrong HDF5 type (integer where float64 is required, not a string…).
        public static let wrongType = Code(name: "wrong type")
        /// A NaN or an infinity, or a value outside its allowed range.
        public static let invalidValue = Code(name: "invalid value")
        /// Coefficient, monomial, observable or systematic names that are unknown, repeated or inconsistent.
        public static let names = Code(name: "names")
        /// The file is not an event database (wrong format tag or version), or text input is malformed.
        public static let format = Code(name: "format")
        /// The operating system or HDF5 failed to create, open, read, write or rename.
        public static let io = Code(name: "I/O")
        /// The columns do not fit the memory budget or the memory available, even streamed.
        public static let memory = Code(name: "memory")
    }

    public let code: Code
    public let message: String
    /// The file concerned, when there is one.
    public var file: String?
    /// The HDF5 path of the dataset, group or attribute owner concerned (e.g. `/coefficients/cHW^2`).
    public var dataset: String?

    public init(_ code: Code, _ message: String, file: String? = nil, dataset: String? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.dataset = dataset
    }

    /// The file and dataset, as every efthf error reports its place.
    public var location: ErrorLocation {
        get { ErrorLocation(file: file, dataset: dataset) }
        set { file = newValue.file; dataset = newValue.dataset }
    }

    /// `file:/dataset: message`, omitting what is unknown.
    public var description: String {
        let place = [file, dataset].compactMap { $0 }.joined(separator: ":")
        return place.isEmpty ? message : "\(place): \(message)"
    }
}
