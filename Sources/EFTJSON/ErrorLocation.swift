/// Where an input error was found: the file, the JSON Pointer inside it (RFC 6901) and the HDF5
/// dataset, each when known. Every efthf error type (workspace, event database) reports its place
/// as one of these.
public struct ErrorLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String?
    public var jsonPath: JSONPointer?
    /// The HDF5 path of a dataset, group or attribute owner (e.g. `/coefficients/cHW^2`).
    public var dataset: String?

    public init(file: String? = nil, jsonPath: JSONPointer? = nil, dataset: String? = nil) {
        self.file = file
        self.jsonPath = jsonPath
        self.dataset = dataset
    }

    public var isEmpty: Bool { file == nil && jsonPath == nil && dataset == nil }

    /// `file at /json/path, dataset /d`, omitting what is unknown.
    public var description: String {
        var parts: [String] = []
        var head = file ?? ""
        if let jsonPath { head += (head.isEmpty ? "" : " ") + "at \(jsonPath.description.isEmpty ? "/" : jsonPath.description)" }
        if !head.isEmpty { parts.append(head) }
        if let dataset { parts.append("dataset \(dataset)") }
        return parts.joined(separator: ", ")
    }
}
