import EFTJSON
import EventDatabase
import Foundation
import HistFactory
import Morphing

/// Reinterpretation of an extended workspace for another operator set: the analysis —
/// channels, binning, backgrounds, systematics, data — is kept; only the Wilson-coefficient
/// dependence of the morphing and event-database samples changes (Specs/eft-extension.md §15).
public enum Reinterpretation: Sendable {
    /// Keep only these coefficients: the others are set to 0, every term containing them is
    /// dropped, and their parameter configurations leave the measurements.
    case restrict(to: [String])
    /// A linear change of basis `c_old = M · c_new` (`matrix[i][j] = M_ij`, `from.count` rows of
    /// `to.count` entries), substituted into every monomial and expanded exactly, MC variances
    /// included (``LinearSubstitution``). Coefficients not in `from` are unchanged.
    case basisChange(from: [String], to: [String], matrix: [[Double]])
    /// Further operators from an event database of the same events (`file` names it in errors):
    /// merged into the event-database sample whose events match (``EventDatabase/addingOperators(from:tolerance:)``),
    /// or into the event-database modifier called `modifier` when given.
    case addOperators(EventDatabase, file: String, modifier: String?)

    /// Further operators from the event database at `path` (``addOperators(_:file:modifier:)``).
    public static func addingOperators(contentsOf path: String, modifier: String? = nil) throws(HistFactoryError) -> Reinterpretation {
        do {
            return .addOperators(try EventDatabase(contentsOf: URL(fileURLWithPath: path)), file: path, modifier: modifier)
        } catch {
            throw HistFactoryError(.io, "\(error)", file: path)
        }
    }

    /// A basis-change map from its JSON, `{"from": [old names], "to": [new names], "matrix": [[M_ij]]}`.
    ///
    /// - Throws: ``HistFactoryError`` naming `file`, the JSON path and the value.
    public static func basisChange(json: JSON, file: String? = nil) throws(HistFactoryError) -> Reinterpretation {
        let reader = SpecReader.pyhf
        let root = JSONPointer(tokens: [])
        do {
            let o = try reader.object(json, at: root, required: ["from", "to", "matrix"], optional: ["description"])
            func names(_ key: String) throws(HistFactoryError) -> [String] {
                try reader.array(o[key]!, at: root.appending(key), nonEmpty: true).enumerated().map { i, v throws(HistFactoryError) in
                    try reader.string(v, at: root.appending(key).appending(i))
                }
            }
            let from = try names("from"), to = try names("to")
            let rows = try reader.array(o["matrix"]!, at: root.appending("matrix"), nonEmpty: true)
            guard rows.count == from.count else {
                throw HistFactoryError(.schema, "the matrix has \(rows.count) rows but \"from\" has \(from.count) names (c_old = M · c_new: one row per old coefficient)", path: root.appending("matrix"))
            }
            var matrix: [[Double]] = []
            for (i, row) in rows.enumerated() {
                let values = try reader.numbers(row, at: root.appending("matrix").appending(i))
                guard values.count == to.count else {
                    throw HistFactoryError(.schema, "row \(i) (\(from[i])) has \(values.count) entries but \"to\" has \(to.count) names", path: root.appending("matrix").appending(i))
                }
                matrix.append(values)
            }
            return .basisChange(from: from, to: to, matrix: matrix)
        } catch let error as HistFactoryError {
            throw error.inFile(file ?? "basis map")
        } catch {
            throw HistFactoryError(.schema, "\(error)", file: file)
        }
    }
}

/// A reinterpreted workspace: its JSON and the event databases it refers to.
public struct ReinterpretedWorkspace: Sendable {
    /// A database to write beside the workspace, under `file` (its `event_database` modifiers name it so).
    public struct Database: Sendable {
        public let file: String
        public let database: EventDatabase
    }

    /// The extended workspace (`1.0.0+efthf.1`).
    public let json: JSON
    public let databases: [Database]
    /// The Wilson coefficients of the result, in order of first appearance.
    public let coefficients: [String]
    /// What was done, one line per changed or removed modifier.
    public let notes: [String]
}

extension Workspace {
    /// The workspace for another operator set (``Reinterpretation``). Every event database the
    /// result refers to is in ``ReinterpretedWorkspace/databases`` (transformed or unchanged), named
    /// `<stem>_reinterpreted.h5`, so the result is self-contained once written into one directory.
    ///
    /// Morphing modifiers that change are written in the coefficient form (benchmark forms are
    /// solved first); their MC variance exactly, as per-term `uncertainty` or `variance` pairs
    /// (§15). A modifier left without Wilson coefficients (every term dropped) is removed: the
    /// sample keeps its SM `data`.
    ///
    /// `poi`, when given, becomes every measurement's POI (needed when the POI is a coefficient that
    /// the reinterpretation removes, e.g. one of a basis map's `from`).
    ///
    /// - Throws: ``HistFactoryError`` for unknown coefficient names, a `to` name that is already a
    ///   coefficient outside `from`, a wrong matrix shape, a POI that the reinterpretation removes, or
    ///   (add operators) an event database whose events match none of the workspace's.
    public func reinterpreted(_ reinterpretation: Reinterpretation, poi: String? = nil) throws(HistFactoryError) -> ReinterpretedWorkspace {
        let existing = wilsonCoefficients
        var removedConfigs = Set<String>()
        var pendingAddition: (database: EventDatabase, file: String, modifier: String?)? = nil
        switch reinterpretation {
        case .restrict(let kept):
            for name in kept where !existing.contains(name) {
                throw HistFactoryError(.parameter, "unknown Wilson coefficient \"\(name)\" in the restriction; the workspace has: \(existing.joined(separator: ", "))", file: file)
            }
            removedConfigs = Set(existing).subtracting(kept)
        case .basisChange(let from, let to, let matrix):
            for name in from where !existing.contains(name) {
                throw HistFactoryError(.parameter, "unknown Wilson coefficient \"\(name)\" in the basis map's \"from\"; the workspace has: \(existing.joined(separator: ", "))", file: file)
            }
            for name in to where existing.contains(name) && !from.contains(name) {
                throw HistFactoryError(.parameter, "the new coefficient \"\(name)\" is already a coefficient of the workspace that the map does not replace; add it to \"from\" or choose another name", file: file)
            }
            do {
                _ = try LinearSubstitution(oldNames: from, newNames: to, matrix: matrix)
            } catch {
                throw HistFactoryError(.parameter, "basis map: \(error)", file: file)
            }
            removedConfigs = Set(from)
        case .addOperators(let database, let databaseFile, let modifier):
            pendingAddition = (database, databaseFile, modifier)
        }

        guard case .object(var root) = json, case .array(var channelJSON)? = root["channels"] else {
            throw HistFactoryError(.schema, "the workspace has no channels array", file: file)
        }
        let baseDirectory = file.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        var loaded: [String: EventDatabase] = [:]
        var written: [String: (file: String, database: EventDatabase)] = [:]
        var databases: [ReinterpretedWorkspace.Database] = []
        var notes: [String] = []
        var coefficients: [String] = []
        var additionTarget: String? = nil
        var additionErrors: [String] = []

        func load(_ relative: String, at p: JSONPointer) throws(HistFactoryError) -> (path: String, database: EventDatabase) {
            let path = relative.hasPrefix("/") || baseDirectory == nil ? relative : baseDirectory! + "/" + relative
            if let db = loaded[path] { return (path, db) }
            do {
                let db = try EventDatabase(contentsOf: URL(fileURLWithPath: path))
                loaded[path] = db
                return (path, db)
            } catch {
                throw HistFactoryError(.io, "event database: \(error)", file: file, path: p.appending("file"))
            }
        }
        func outputName(for path: String, _ database: EventDatabase) -> String {
            if let w = written[path] { return w.file }
            let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            var name = stem + "_reinterpreted.h5"
            var k = 2
            while databases.contains(where: { $0.file == name }) { name = "\(stem)_reinterpreted_\(k).h5"; k += 1 }
            written[path] = (name, database)
            databases.append(.init(file: name, database: database))
            return name
        }
        func note(_ names: [String]) { for c in names where !coefficients.contains(c) { coefficients.append(c) } }

        for (ci, channel) in channels.enumerated() {
            guard case .object(var cj) = channelJSON[ci], case .array(var samplesJSON)? = cj["samples"] else { continue }
            for (si, sample) in channel.samples.enumerated() where Self.isMorphed(sample) {
                guard case .object(var sj) = samplesJSON[si], case .array(let modifiersJSON)? = sj["modifiers"] else { continue }
                var newModifiers: [JSON] = []
                for (mi, modifier) in sample.modifiers.enumerated() {
                    let p = JSONPointer(tokens: []).appending("channels").appending(ci).appending("samples").appending(si).appending("modifiers").appending(mi)
                    guard let m = modifier.dependent as? MorphingModifier, case .object(var mj) = modifiersJSON[mi] else {
                        newModifiers.append(modifiersJSON[mi])
                        continue
                    }
                    let isDatabase = mj["type"]?.stringValue == "event_database"
                    let place = "channel \"\(channel.name)\" sample \"\(sample.name)\" modifier \"\(modifier.name)\""
                    let substitution: LinearSubstitution?
                    do {
                        switch reinterpretation {
                        case .restrict(let kept):
                            substitution = try LinearSubstitution.restriction(of: m.coefficients, keeping: Set(kept))
                        case .basisChange(let from, let to, let matrix):
                            substitution = try Self.substitution(for: m.coefficients, from: from, to: to, matrix: matrix)
                        case .addOperators:
                            substitution = nil
                        }
                    } catch {
                        throw HistFactoryError(.parameter, "\(place): \(error)", file: file, path: p)
                    }

                    guard isDatabase, case .object(var dj)? = mj["data"], let relative = dj["file"]?.stringValue else {
                        // A morphing modifier.
                        guard let substitution, !substitution.isIdentity else {
                            note(m.coefficients)
                            newModifiers.append(modifiersJSON[mi])
                            continue
                        }
                        let templates: MorphingTemplates
                        do {
                            templates = try Self.pruned(try m.templates.substituting(substitution))
                        } catch {
                            throw HistFactoryError(.invalidModel, "\(place): \(error)", file: file, path: p)
                        }
                        let empty = templates.yields.coefficientNames.isEmpty
                            || (m.form == .relative && templates.yields.termCount == 0)
                            || (m.form == .absolute && templates.yields.monomials.allSatisfy { $0 == .one })
                        if empty {
                            notes.append("\(place): no Wilson coefficient left, removed (the sample keeps its SM data)")
                            continue
                        }
                        note(templates.yields.coefficientNames)
                        mj["data"] = MorphingModifier.coefficientFormJSON(templates, form: m.form, negativeYields: m.negativeYields)
                        notes.append("\(place): \(m.templates.yields.termCount) terms in \(m.coefficients.joined(separator: ",")) → \(templates.yields.termCount) terms in \(templates.yields.coefficientNames.joined(separator: ","))")
                        newModifiers.append(.object(mj))
                        continue
                    }

                    // An event-database modifier: the database is transformed (or copied) beside the result.
                    let (path, database) = try load(relative, at: p.appending("data"))
                    var result = database
                    if let substitution {
                        if written[path] == nil, !substitution.isIdentity {
                            do {
                                let basis = database.provenance.eftBasis + " (reinterpreted by efthf: \(substitution.newNames.isEmpty ? "no coefficients" : substitution.newNames.joined(separator: ", ")))"
                                result = try Self.pruned(try database.substituting(substitution, eftBasis: basis))
                            } catch {
                                throw HistFactoryError(.invalidModel, "\(place): \(error)", file: path, path: p)
                            }
                            notes.append("\(place): event database \(relative): \(database.termCount) monomials in \(database.coefficientNames.joined(separator: ",")) → \(result.termCount) in \(result.coefficientNames.joined(separator: ","))")
                        } else if let w = written[path] {
                            result = w.database
                        }
                        if result.coefficientNames.isEmpty {
                            notes.append("\(place): no Wilson coefficient left, removed (the sample keeps its SM data)")
                            continue
                        }
                    } else if case .addOperators(let added, let addedFile, let wanted) = reinterpretation {
                        if let w = written[path] {
                            result = w.database
                        } else if wanted == nil || wanted == modifier.name {
                            do {
                                result = try database.addingOperators(from: added)
                                if let target = additionTarget, target != path {
                                    throw HistFactoryError(.parameter, "the events of \(addedFile) match two event databases, \(target) and \(path); name the modifier (FILE.h5:MODIFIER)", file: addedFile)
                                }
                                additionTarget = path
                                notes.append("\(place): event database \(relative) + \(addedFile): \(database.coefficientNames.joined(separator: ",")) → \(result.coefficientNames.joined(separator: ",")), \(database.termCount) → \(result.termCount) monomials")
                            } catch let error as HistFactoryError {
                                throw error
                            } catch {
                                additionErrors.append("\(relative) (\(place)): \(error)")
                            }
                        }
                    }
                    note(result.coefficientNames)
                    dj["file"] = .string(outputName(for: path, result))
                    mj["data"] = .object(dj)
                    newModifiers.append(.object(mj))
                }
                sj["modifiers"] = .array(newModifiers)
                samplesJSON[si] = .object(sj)
            }
            cj["samples"] = .array(samplesJSON)
            channelJSON[ci] = .object(cj)
        }
        if let pendingAddition, additionTarget == nil {
            let why = additionErrors.isEmpty
                ? (pendingAddition.modifier.map { "no event-database modifier is called \"\($0)\"" } ?? "the workspace has no event-database modifier")
                : additionErrors.joined(separator: "; ")
            throw HistFactoryError(.parameter, "the events of \(pendingAddition.file) match no event database of the workspace: \(why)", file: file)
        }
        // Parameter configs of coefficients that are gone (or redefined by a basis map) leave the measurements.
        removedConfigs.formUnion(Set(existing).subtracting(coefficients))
        root["channels"] = .array(channelJSON)
        root["measurements"] = try Self.measurements(root["measurements"], removing: removedConfigs, remaining: Set(coefficients), poi: poi, file: file)
        return ReinterpretedWorkspace(json: .object(root), databases: databases, coefficients: coefficients, notes: notes)
    }

    /// The substitution of one modifier's coefficients `names` under the global map: the names not
    /// in `from` stay (identity), those in `from` become `to` through their rows of M.
    static func substitution(for names: [String], from: [String], to: [String], matrix: [[Double]]) throws(MorphingError) -> LinearSubstitution? {
        guard names.contains(where: { from.contains($0) }) else { return nil }
        let kept = names.filter { !from.contains($0) }
        let newNames = kept + to
        let rows: [[Double]] = names.map { name in
            if let i = from.firstIndex(of: name) { return kept.map { _ in 0.0 } + matrix[i] }
            return newNames.map { $0 == name ? 1.0 : 0.0 }
        }
        return try LinearSubstitution(oldNames: names, newNames: newNames, matrix: rows)
    }

    /// Drops coefficients that occur in no term (a map column that no monomial reaches).
    static func pruned(_ t: MorphingTemplates) throws(MorphingError) -> MorphingTemplates {
        let used = Set(t.yields.monomials.flatMap { $0.factors.map(\.coefficient) })
        guard used.count < t.yields.coefficientCount else { return t }
        let names = t.yields.coefficientNames
        return try t.substituting(try LinearSubstitution.restriction(of: names, keeping: Set(used.map { names[$0] })))
    }

    static func pruned(_ d: EventDatabase) throws(EventDatabaseError) -> EventDatabase {
        let used = Set(d.monomials.flatMap { $0.factors.map(\.coefficient) })
        guard used.count < d.coefficientNames.count else { return d }
        let names = d.coefficientNames
        do {
            return try d.substituting(try LinearSubstitution.restriction(of: names, keeping: Set(used.map { names[$0] })))
        } catch let error as EventDatabaseError {
            throw error
        } catch {
            throw EventDatabaseError(.names, "\(error)", dataset: "/wilson_coefficients")
        }
    }

    /// Measurements without the configs of `removing`; a POI among them that is not `remaining` is an error.
    static func measurements(_ json: JSON?, removing: Set<String>, remaining: Set<String>, poi newPOI: String?, file: String?) throws(HistFactoryError) -> JSON {
        guard case .array(let list)? = json else { throw HistFactoryError(.schema, "the workspace has no measurements array", file: file) }
        var out: [JSON] = []
        for (k, item) in list.enumerated() {
            guard case .object(var m) = item, case .object(var config)? = m["config"] else { out.append(item); continue }
            if let newPOI { config["poi"] = .string(newPOI) }
            if case .string(let poi)? = config["poi"], removing.contains(poi), !remaining.contains(poi) {
                throw HistFactoryError(.parameter, "the POI \"\(poi)\" of measurement \"\(m["name"]?.stringValue ?? "?")\" is a Wilson coefficient that the reinterpretation removes; give another POI (--poi)",
                                       file: file, path: JSONPointer(tokens: []).appending("measurements").appending(k).appending("config").appending("poi"))
            }
            if case .array(let parameters)? = config["parameters"] {
                config["parameters"] = .array(parameters.filter { p in !(p["name"]?.stringValue.map(removing.contains) ?? false) })
            }
            m["config"] = .object(config)
            out.append(.object(m))
        }
        return .array(out)
    }
}
