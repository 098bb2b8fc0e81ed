import Crypto
import EFTJSON
import Foundation

/// A pyhf PatchSet (schema `patchset.json` 1.0.0): signal hypotheses published as JSON Patches
/// against one background-only workspace, identified by name or by their label values.
public struct PatchSet: Sendable {
    public struct Patch: Sendable, Equatable {
        public let name: String
        /// One value per label of the set (a number or a string each).
        public let values: [JSON]
        /// The RFC 6902 operations.
        public let operations: JSON
    }

    public let json: JSON
    public let labels: [String]
    public let description: String
    /// Algorithm (`sha256`, `md5`) → hex digest of the background-only workspace.
    public let digests: [Digest]

    /// A digest of the background-only workspace: algorithm (`sha256`, `md5`) and hex value.
    public struct Digest: Sendable, Equatable {
        public let algorithm: String
        public let value: String
    }
    public let patches: [Patch]

    public init(json: JSON, file: String? = nil) throws(HistFactoryError) {
        do throws(HistFactoryError) {
            let r = SpecReader.pyhf
            let root = try r.object(json, at: JSONPointer(tokens: []), required: ["metadata", "patches", "version"], optional: [])
            guard root["version"] == .string("1.0.0") else {
                throw HistFactoryError(.schema, "unsupported patch set version \(root["version"]!.serialized())", path: JSONPointer(tokens: ["version"]))
            }
            let mp = JSONPointer(tokens: ["metadata"])
            let meta = try r.object(root["metadata"]!, at: mp, required: ["digests", "labels", "description", "references"], optional: [])
            let digestObject = try r.object(meta["digests"]!, at: mp.appending("digests"), required: [], optional: ["md5", "sha256"])
            guard digestObject.count > 0 else { throw HistFactoryError(.schema, "at least one digest is required", path: mp.appending("digests")) }
            var digests: [Digest] = []
            for (alg, value) in digestObject.pairs {
                digests.append(Digest(algorithm: alg, value: try r.string(value, at: mp.appending("digests").appending(alg))))
            }
            let labels = try r.array(meta["labels"]!, at: mp.appending("labels"), nonEmpty: true).enumerated().map { (i, v) throws(HistFactoryError) in
                try r.string(v, at: mp.appending("labels").appending(i))
            }
            let description = try r.string(meta["description"]!, at: mp.appending("description"))
            var patches: [Patch] = []
            for (i, item) in try r.array(root["patches"]!, at: JSONPointer(tokens: ["patches"]), nonEmpty: true).enumerated() {
                let pp = JSONPointer(tokens: ["patches", String(i)])
                let o = try r.object(item, at: pp, required: ["metadata", "patch"], optional: [])
                let pm = try r.object(o["metadata"]!, at: pp.appending("metadata"), required: ["name", "values"], optional: [])
                let name = try r.string(pm["name"]!, at: pp.appending("metadata").appending("name"))
                let values = try r.array(pm["values"]!, at: pp.appending("metadata").appending("values"), nonEmpty: false)
                guard values.count == labels.count else {
                    throw HistFactoryError(.schema, "patch \"\(name)\" has \(values.count) values for \(labels.count) labels", path: pp.appending("metadata").appending("values"))
                }
                if patches.contains(where: { $0.name == name }) {
                    throw HistFactoryError(.schema, "duplicate patch name \"\(name)\"", path: pp.appending("metadata").appending("name"))
                }
                if patches.contains(where: { $0.values == values }) {
                    throw HistFactoryError(.schema, "duplicate patch values \(JSON.array(values).serialized())", path: pp.appending("metadata").appending("values"))
                }
                guard case .array = o["patch"]! else {
                    throw HistFactoryError(.schema, "a patch must be an array of JSON Patch operations", path: pp.appending("patch"))
                }
                patches.append(Patch(name: name, values: values, operations: o["patch"]!))
            }
            self.json = json
            self.labels = labels
            self.description = description
            self.digests = digests
            self.patches = patches
        } catch {
            throw file.map { error.inFile($0) } ?? error
        }
    }

    public init(contentsOf path: String) throws(HistFactoryError) {
        try self.init(json: try loadJSON(path), file: path)
    }

    /// The patch called `name`.
    public func patch(named name: String) throws(HistFactoryError) -> Patch {
        guard let patch = patches.first(where: { $0.name == name }) else {
            let names = patches.prefix(10).map(\.name).joined(separator: ", ")
            throw HistFactoryError(.patch, "no patch named \"\(name)\" in the patch set (\(patches.count) patches: \(names)\(patches.count > 10 ? ", …" : ""))")
        }
        return patch
    }

    /// The patch whose label values are `values` (numbers compare by value).
    public func patch(values: [JSON]) throws(HistFactoryError) -> Patch {
        func same(_ a: JSON, _ b: JSON) -> Bool {
            if let x = a.doubleValue, let y = b.doubleValue { return x == y }
            return a == b
        }
        guard let patch = patches.first(where: { $0.values.count == values.count && zip($0.values, values).allSatisfy(same) }) else {
            throw HistFactoryError(.patch, "no patch with values \(JSON.array(values).serialized()) for labels \(labels)")
        }
        return patch
    }

    /// Checks that `workspace` is the one this set was made for (pyhf's `PatchSet.verify`).
    public func verify(_ workspace: Workspace) throws(HistFactoryError) {
        for digest in digests {
            let algorithm = digest.algorithm, expected = digest.value
            let actual = try Self.digest(workspace.json, algorithm: algorithm)
            guard actual == expected else {
                throw HistFactoryError(.patch, "the workspace's \(algorithm) digest \(actual) differs from the patch set's \(expected): this patch set was made for another workspace")
            }
        }
    }

    /// Verifies `workspace` and applies `patch` to it (pyhf's `PatchSet.apply`).
    public func apply(_ patch: Patch, to workspace: Workspace) throws(HistFactoryError) -> Workspace {
        try verify(workspace)
        return try workspace.applying(patch: patch.operations, label: "patch \"\(patch.name)\"")
    }

    /// The algorithms ``digest(_:algorithm:)`` computes.
    public static let digestAlgorithms = ["md5", "sha1", "sha256", "sha384", "sha512"]

    /// pyhf's `utils.digest`: the hash of `json.dumps(obj, sort_keys=True, ensure_ascii=False)`.
    public static func digest(_ json: JSON, algorithm: String = "sha256") throws(HistFactoryError) -> String {
        let bytes = Data(json.serialized(.pythonSortedKeys).utf8)
        switch algorithm {
        case "sha256": return SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        case "md5": return Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        case "sha1": return Insecure.SHA1.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        case "sha384": return SHA384.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        case "sha512": return SHA512.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        default: throw HistFactoryError(.patch, "unsupported digest algorithm \"\(algorithm)\"; efthf computes \(Self.digestAlgorithms.joined(separator: ", "))")
        }
    }
}

extension Workspace {
    /// The workspace with an RFC 6902 patch applied to its JSON, validated again.
    public func applying(patch: JSON, label: String = "patch") throws(HistFactoryError) -> Workspace {
        let patched: JSON
        do {
            patched = try json.applyingPatch(patch)
        } catch {
            throw HistFactoryError(.patch, "\(label) does not apply: \(error)")
        }
        do {
            return try Workspace(json: patched, baseDirectory: baseDirectory, modifiers: modifiers)
        } catch {
            throw HistFactoryError(error.code, "after \(label): \(error.message)", path: error.path)
        }
    }

    /// Applies a patch file: a PatchSet (choosing `name`, or its only patch) or a plain JSON Patch.
    public func applying(patchFile path: String, name: String?) throws(HistFactoryError) -> Workspace {
        let json = try loadJSON(path)
        if case .object(let o) = json, o["patches"] != nil {
            let set = try PatchSet(json: json, file: path)
            let patch: PatchSet.Patch
            if let name {
                patch = try set.patch(named: name)
            } else if set.patches.count == 1 {
                patch = set.patches[0]
            } else {
                throw HistFactoryError(.patch, "the patch set has \(set.patches.count) patches; choose one as \(path):NAME (for example \(set.patches[0].name))", file: path)
            }
            do { return try set.apply(patch, to: self) } catch { throw error.inFile(path) }
        }
        if name != nil {
            throw HistFactoryError(.patch, "a plain JSON Patch has no named patches", file: path)
        }
        do { return try applying(patch: json, label: "patch") } catch { throw error.inFile(path) }
    }
}
