import EFTJSON
import EFTModifiers
import Foundation
import HistFactory

/// A likelihood archive as HEPData publishes them (`.tar.gz` or `.zip`): background-only pyhf
/// workspaces (`BkgOnly.json`) and signal patch sets (`patchset.json`, a pyhf PatchSet), or
/// plain RFC 6902 patches (`patch.NAME.json`). Only the archive's `*.json` members are read
/// (see ``ArchiveReader`` for what makes an archive unsafe and the limits).
///
/// A member is a workspace when it is a JSON object with `channels`, `measurements` and
/// `observations` (pyhf's workspace schema), a patch set when it has `metadata` and `patches`
/// (pyhf's PatchSet schema), a patch when it is an array of objects with an `op`. A patch set is
/// matched to the workspace whose digest it records (pyhf's `PatchSet.verify`).
public struct HEPDataArchive: Sendable {
    public struct PatchSetMember: Sendable {
        public let member: String
        public let patchSet: PatchSet
        /// The workspace member whose digest the patch set records, if the archive holds it.
        public let workspace: String?
    }

    public let format: ArchiveFormat
    /// Entries in the archive (files, directories, headers).
    public let entries: Int
    /// Workspace members, name → document, in archive order.
    public let workspaces: [(member: String, json: JSON)]
    public let patchSets: [PatchSetMember]
    /// Plain JSON Patch members (one patch each), name → the operations.
    public let patches: [(member: String, json: JSON)]
    /// JSON members that are none of these.
    public let otherJSON: [String]

    /// Reads the archive at `path`.
    ///
    /// - Throws: ``ArchiveError``: an unreadable or unsafe archive, a JSON member that does not
    ///   parse or a patch set that is not valid (naming the member), no workspace at all.
    public init(path: String, limits: ArchiveLimits = ArchiveLimits()) throws(ArchiveError) {
        // macOS archivers add `__MACOSX/` and `._NAME` resource forks, which are not JSON.
        func isJSON(_ name: String) -> Bool {
            let last = name.split(separator: "/").last.map(String.init) ?? name
            return last.lowercased().hasSuffix(".json") && !last.hasPrefix(".") && !name.hasPrefix("__MACOSX/")
        }
        let (format, entries, members) = try ArchiveReader.read(path: path, limits: limits, select: isJSON)
        var workspaces: [(member: String, json: JSON)] = [], patches: [(member: String, json: JSON)] = []
        var sets: [(member: String, set: PatchSet)] = [], other: [String] = []
        for member in members {
            let json: JSON
            do { json = try JSONParser.parse(member.data) } catch {
                throw ArchiveError(.content, "not valid JSON: \(error)", member: member.name, underlying: error)
            }
            if case .object(let o) = json, o["channels"] != nil, o["measurements"] != nil, o["observations"] != nil {
                workspaces.append((member: member.name, json: json))
            } else if case .object(let o) = json, o["metadata"] != nil, o["patches"] != nil {
                do { sets.append((member: member.name, set: try PatchSet(json: json, file: member.name))) } catch {
                    throw ArchiveError(.content, "not a valid pyhf patch set: \(error.path.map { "at \($0.description): " } ?? "")\(error.message)", member: member.name, underlying: error)
                }
            } else if case .array(let a) = json, !a.isEmpty, a.allSatisfy({ $0["op"]?.stringValue != nil }) {
                patches.append((member: member.name, json: json))
            } else {
                other.append(member.name)
            }
        }
        guard !workspaces.isEmpty else {
            let read = members.map(\.name)
            throw ArchiveError(.content, "no pyhf workspace (a JSON object with channels, measurements and observations) among its \(read.count) JSON member(s)\(read.isEmpty ? "" : ": " + read.prefix(20).joined(separator: ", "))")
        }
        // pyhf's digest of every workspace, to pair the patch sets with theirs: only the
        // algorithms the patch sets record (hashing means serialising the whole workspace).
        let algorithms = Set(sets.flatMap { $0.set.digests.map(\.algorithm) })
        let digests: [(member: String, digests: [String: String])] = workspaces.map { ws in
            var d: [String: String] = [:]
            for algorithm in algorithms { d[algorithm] = try? PatchSet.digest(ws.json, algorithm: algorithm) }
            return (member: ws.member, digests: d)
        }
        self.format = format
        self.entries = entries
        self.workspaces = workspaces
        self.patchSets = sets.map { entry in
            let match = digests.first { candidate in entry.set.digests.allSatisfy { candidate.digests[$0.algorithm] == $0.value } }
            return PatchSetMember(member: entry.member, patchSet: entry.set, workspace: match?.member)
        }
        self.patches = patches
        self.otherJSON = other
    }

    /// What the archive holds, for a picker:
    /// `{"format", "entries", "workspaces": [{"member"}], "patchsets": [{"member", "kind": "patchset"|"patch",
    /// "workspace"?, "description"?, "labels", "patches": [{"name", "values"}]}], "other_json": [names]}`.
    public var listing: JSON {
        var sets: [JSON] = patchSets.map { p in
            var o = JSONObject([("member", .string(p.member)), ("kind", .string("patchset"))])
            if let workspace = p.workspace { o["workspace"] = .string(workspace) }
            o["description"] = .string(p.patchSet.description)
            o["labels"] = .array(p.patchSet.labels.map { .string($0) })
            o["patches"] = .array(p.patchSet.patches.map { JSON.object(JSONObject([("name", .string($0.name)), ("values", .array($0.values))])) })
            return JSON.object(o)
        }
        sets += patches.map { p in
            JSON.object(JSONObject([("member", .string(p.member)), ("kind", .string("patch")), ("labels", .array([])),
                                ("patches", .array([.object(JSONObject([("name", .string(Self.patchName(p.member))), ("values", .array([]))]))]))]))
        }
        return .object(JSONObject([
            ("format", .string(format.rawValue)), ("entries", .integer(Int64(entries))),
            ("workspaces", .array(workspaces.map { JSON.object(JSONObject([("member", .string($0.member))])) })),
            ("patchsets", .array(sets)),
            ("other_json", .array(otherJSON.map { .string($0) })),
        ]))
    }

    /// A plain patch's name: its file name without the directory, `patch.` and `.json`
    /// (HEPData's `patch.sbottom_1300_205_60.json` → `sbottom_1300_205_60`).
    static func patchName(_ member: String) -> String {
        var name = member.split(separator: "/").last.map(String.init) ?? member
        if name.lowercased().hasSuffix(".json") { name.removeLast(5) }
        if name.hasPrefix("patch.") { name.removeFirst(6) }
        return name
    }

    /// The workspace to load: `workspace` (a member; by default the one the patch set was made
    /// for, or the archive's only one), with `patch` of `patchSet` (a member: a patch set, or a
    /// plain patch, whose `patch` may be omitted) applied when one is named; the document is read
    /// with efthf's modifiers but not built into a model (a background-only workspace is not one).
    ///
    /// - Throws: ``ArchiveError`` (`.content`) naming the member: an unknown member or patch, a
    ///   digest that does not match, a patch that does not apply.
    public func workspace(member: String? = nil, patchSet: String? = nil, patch: String? = nil) throws(ArchiveError) -> Workspace {
        var set: Either? = nil
        if let name = patchSet {
            if let s = patchSets.first(where: { $0.member == name }) {
                set = .set(s)
            } else if let p = patches.first(where: { $0.member == name }) {
                set = .plain(p.member, p.json)
            } else {
                throw ArchiveError(.content, "no patch set or patch member \"\(name)\"; the archive has: \((patchSets.map(\.member) + patches.map(\.member)).joined(separator: ", "))")
            }
        } else if patch != nil && patchSets.count == 1 {
            set = .set(patchSets[0])
        }
        if patch != nil && set == nil {
            throw ArchiveError(.content, "a patch is named but not its patch set (the archive has \(patchSets.count) patch sets: \(patchSets.map(\.member).joined(separator: ", ")))")
        }
        var chosen = member
        if chosen == nil, case .set(let s)? = set { chosen = s.workspace }
        if chosen == nil {
            guard workspaces.count == 1 else {
                throw ArchiveError(.content, "the archive has \(workspaces.count) workspaces (\(workspaces.map(\.member).joined(separator: ", "))): name one")
            }
            chosen = workspaces[0].member
        }
        guard let document = workspaces.first(where: { $0.member == chosen })?.json else {
            throw ArchiveError(.content, "no workspace member \"\(chosen!)\"; the archive's workspaces are: \(workspaces.map(\.member).joined(separator: ", "))")
        }
        do {
            let base = try Workspace(json: document, file: chosen, modifiers: .efthf)
            switch set {
            case nil: return base
            case .set(let s)?:
                guard let patch else {
                    let names = s.patchSet.patches.map(\.name)
                    throw ArchiveError(.content, "name one of the \(names.count) patches of the patch set (\(names.prefix(10).joined(separator: ", "))\(names.count > 10 ? ", …" : ""))",
                                       member: s.member)
                }
                do { return try s.patchSet.apply(try s.patchSet.patch(named: patch), to: base) } catch {
                    throw ArchiveError(.content, error.message, member: s.member, underlying: error)
                }
            case .plain(let name, let operations)?:
                do { return try base.applying(patch: operations, label: "patch \"\(Self.patchName(name))\"") } catch {
                    throw ArchiveError(.content, error.message, member: name, underlying: error)
                }
            }
        } catch let error as ArchiveError {
            throw error
        } catch let error as HistFactoryError {
            throw ArchiveError(.content, "not a valid workspace: \(error.path.map { "at \($0.description): " } ?? "")\(error.message)", member: chosen, underlying: error)
        } catch {
            throw ArchiveError(.content, "\(error)", member: chosen)
        }
    }

    private enum Either {
        case set(PatchSetMember)
        case plain(String, JSON)
    }
}
