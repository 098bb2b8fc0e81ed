import EFTJSON

/// pyhf's workspace operations (`pyhf/workspace.py`: `prune`, `rename`, `combine`), acting on the
/// workspace JSON and validating the result again.
extension Workspace {
    /// How `combine` treats items (channels, observations, measurements) present in both workspaces.
    public enum Join: String, Sendable, CaseIterable {
        /// Any shared name is an error.
        case none
        /// Identical items are kept once; same name with different content is an error.
        case outer
        /// The left workspace's item wins.
        case leftOuter = "left outer"
        /// The right workspace's item wins.
        case rightOuter = "right outer"
    }

    private func objects(_ key: String) -> [JSONObject] {
        json[key]!.arrayValue!.map { $0.objectValue! }
    }

    private static func make(channels: [JSONObject], observations: [JSONObject], measurements: [JSONObject], version: String, baseDirectory: String?, modifiers: ModifierSet) throws(HistFactoryError) -> Workspace {
        let json: JSON = .object(JSONObject([
            ("channels", .array(channels.map { .object($0) })),
            ("measurements", .array(measurements.map { .object($0) })),
            ("observations", .array(observations.map { .object($0) })),
            ("version", .string(version)),
        ]))
        return try Workspace(json: json, baseDirectory: baseDirectory, modifiers: modifiers)
    }

    /// pyhf's check before a prune or a rename: every name to remove or rename must be in the
    /// workspace (`InvalidWorkspaceOperation` in pyhf), checked in pyhf's order.
    private func checkNames(modifiers: [String], modifierTypes: [String], samples: [String], channels names: [String], measurements: [String], operation: String) throws(HistFactoryError) {
        let allModifiers = Set(channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.name) } })
        let allTypes = Set(channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.kind.rawValue) } })
        let allSamples = Set(channels.flatMap { $0.samples.map(\.name) })
        for (given, known, what) in [(modifierTypes, allTypes, "modifier type"), (modifiers, allModifiers, "modifier"), (samples, allSamples, "sample"),
                                     (names, Set(channels.map(\.name)), "channel"), (measurements, Set(self.measurements.map(\.name)), "measurement")] {
            if let unknown = given.first(where: { !known.contains($0) }) {
                let list = known.sorted()
                throw HistFactoryError(.operation, "cannot \(operation) \(what) \"\(unknown)\": the workspace has no such \(what) (it has \(list.prefix(8).joined(separator: ", "))\(list.count > 8 ? ", …" : ""))")
            }
        }
    }

    /// Removes modifiers (by name or type), samples, channels (with their observations) and
    /// measurements (pyhf's `Workspace.prune`). A removed modifier name also loses its parameter
    /// configurations. Names that the workspace does not have are an error, as in pyhf.
    ///
    /// - Complexity: O(size of the workspace JSON), plus validating the result.
    public func pruned(modifiers: [String] = [], modifierTypes: [String] = [], samples: [String] = [],
                       channels removeChannels: [String] = [], measurements removeMeasurements: [String] = []) throws(HistFactoryError) -> Workspace {
        try checkNames(modifiers: modifiers, modifierTypes: modifierTypes, samples: samples, channels: removeChannels, measurements: removeMeasurements, operation: "prune")
        let newChannels = objects("channels").filter { !removeChannels.contains($0["name"]!.stringValue!) }.map { channel in
            var c = channel
            c["samples"] = .array(channel["samples"]!.arrayValue!.compactMap { s -> JSON? in
                guard var sample = s.objectValue, !samples.contains(sample["name"]!.stringValue!) else { return nil }
                sample["modifiers"] = .array(sample["modifiers"]!.arrayValue!.filter {
                    !modifiers.contains($0["name"]!.stringValue!) && !modifierTypes.contains($0["type"]!.stringValue!)
                })
                return .object(sample)
            })
            return c
        }
        let newObservations = objects("observations").filter { !removeChannels.contains($0["name"]!.stringValue!) }
        let newMeasurements = objects("measurements").filter { !removeMeasurements.contains($0["name"]!.stringValue!) }.map { m in
            var m = m
            var config = m["config"]!.objectValue!
            config["parameters"] = .array(config["parameters"]!.arrayValue!.filter { !modifiers.contains($0["name"]!.stringValue!) })
            m["config"] = .object(config)
            return m
        }
        return try Self.make(channels: newChannels, observations: newObservations, measurements: newMeasurements, version: version, baseDirectory: baseDirectory, modifiers: self.modifiers)
    }

    /// Renames modifiers (with their parameter configurations and the POI), samples, channels
    /// (with their observations) and measurements (pyhf's `Workspace.rename`). Names that the
    /// workspace does not have are an error, as in pyhf; the result is validated again (so a
    /// rename onto an existing channel name is an error).
    ///
    /// - Complexity: O(size of the workspace JSON), plus validating the result.
    public func renamed(modifiers: [String: String] = [:], samples: [String: String] = [:], channels renameChannels: [String: String] = [:],
                        measurements renameMeasurements: [String: String] = [:]) throws(HistFactoryError) -> Workspace {
        try checkNames(modifiers: modifiers.keys.sorted(), modifierTypes: [], samples: samples.keys.sorted(), channels: renameChannels.keys.sorted(),
                       measurements: renameMeasurements.keys.sorted(), operation: "rename")
        func rename(_ o: JSONObject, _ map: [String: String]) -> JSONObject {
            var o = o
            if let name = o["name"]?.stringValue, let new = map[name] { o["name"] = .string(new) }
            return o
        }
        let newChannels = objects("channels").map { channel in
            var c = rename(channel, renameChannels)
            c["samples"] = .array(channel["samples"]!.arrayValue!.map { s in
                var sample = rename(s.objectValue!, samples)
                sample["modifiers"] = .array(sample["modifiers"]!.arrayValue!.map { .object(rename($0.objectValue!, modifiers)) })
                return .object(sample)
            })
            return c
        }
        let newObservations = objects("observations").map { rename($0, renameChannels) }
        let newMeasurements = objects("measurements").map { m in
            var m = rename(m, renameMeasurements)
            var config = m["config"]!.objectValue!
            if let poi = config["poi"]?.stringValue, let new = modifiers[poi] { config["poi"] = .string(new) }
            config["parameters"] = .array(config["parameters"]!.arrayValue!.map { .object(rename($0.objectValue!, modifiers)) })
            m["config"] = .object(config)
            return m
        }
        return try Self.make(channels: newChannels, observations: newObservations, measurements: newMeasurements, version: version, baseDirectory: baseDirectory, modifiers: self.modifiers)
    }

    /// pyhf's `_join_items`: the primary list (the right one for a right outer join) with the
    /// secondary's items added where the join allows; with `deepMergeKey`, an item whose name is
    /// already there has its `deepMergeKey` list joined (left outer: the primary's entries win).
    private static func joinItems(_ join: Join, _ left: [JSONObject], _ right: [JSONObject], deepMergeKey: String? = nil) -> [JSONObject] {
        let (primary, secondary) = join == .rightOuter ? (right, left) : (left, right)
        var joined = primary
        let keys = primary.map { $0["name"]?.stringValue ?? "" }
        for item in secondary {
            let name = item["name"]?.stringValue ?? ""
            if let k = keys.firstIndex(of: name), let deepMergeKey {
                let inner = joinItems(.leftOuter, joined[k][deepMergeKey]?.arrayValue?.compactMap(\.objectValue) ?? [],
                                      item[deepMergeKey]?.arrayValue?.compactMap(\.objectValue) ?? [])
                joined[k][deepMergeKey] = .array(inner.map { .object($0) })
            } else if join == .none || (join == .outer && !primary.contains(item)) || ((join == .leftOuter || join == .rightOuter) && !keys.contains(name)) {
                joined.append(item)
            }
        }
        return joined
    }

    /// Names that occur more than once, in order of first appearance.
    private static func repeatedNames(_ items: [JSONObject]) -> [String] {
        var counts: [String: Int] = [:], order: [String] = []
        for item in items {
            let name = item["name"]?.stringValue ?? ""
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        return order.filter { counts[$0]! > 1 }
    }

    private static func quoted(_ names: [String]) -> String {
        names.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    /// Combines two workspaces exactly as pyhf 0.7.6's `Workspace.combine` does (`workspace.py`,
    /// `_join_items` and `_join_channels/observations/measurements`):
    /// - `none`: any channel, observation or measurement name in both is an error;
    /// - `outer`: identical items are kept once, the same name with other content is an error;
    ///   measurements of the same name are merged when their POIs agree, their parameter
    ///   configurations joined (the same name configured differently is an error);
    /// - `left outer` / `right outer`: the left / right workspace's items come first and win.
    ///
    /// `mergeChannels` (outer joins only) joins the samples of same-named channels instead, the
    /// first workspace's sample winning (the right one's for a right outer join). Modifiers with
    /// the same name in both become one parameter. The result is validated again.
    ///
    /// - Complexity: O(n·m) in the numbers of items of each kind, plus validating the result.
    public static func combine(_ left: Workspace, _ right: Workspace, join: Join = .none, mergeChannels: Bool = false) throws(HistFactoryError) -> Workspace {
        if mergeChannels && join == .none {
            throw HistFactoryError(.operation, "channels can be merged with the outer, left outer or right outer joins only, not with join none")
        }
        guard left.version == right.version else {
            throw HistFactoryError(.operation, "workspaces of different versions cannot be combined: \(left.version) and \(right.version)")
        }
        let joins = Join.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        func check(_ kind: String, _ l: [JSONObject], _ r: [JSONObject], _ joined: [JSONObject]) throws(HistFactoryError) {
            if join == .none {
                let common = l.compactMap { $0["name"]?.stringValue }.filter { name in r.contains { $0["name"]?.stringValue == name } }
                if !common.isEmpty {
                    throw HistFactoryError(.operation, "both workspaces have \(kind) \(quoted(common)); rename one (efthf rename) or choose another join (\(joins))")
                }
            } else if join == .outer {
                let repeated = repeatedNames(joined)
                if !repeated.isEmpty {
                    throw HistFactoryError(.operation, "\(kind) \(quoted(repeated)) differ between the workspaces; an outer join needs identical items of the same name (or choose \"left outer\" or \"right outer\")")
                }
            }
        }
        let (lc, rc) = (left.objects("channels"), right.objects("channels"))
        let channels = joinItems(join, lc, rc, deepMergeKey: mergeChannels ? "samples" : nil)
        try check("channels", lc, rc, channels)
        let (lo, ro) = (left.objects("observations"), right.objects("observations"))
        let observations = joinItems(join, lo, ro)
        try check("observations", lo, ro, observations)
        let (lm, rm) = (left.objects("measurements"), right.objects("measurements"))
        var measurements = joinItems(join, lm, rm)
        try check("measurements", lm, rm, measurements)
        if join == .outer {
            var groups: [(name: String, items: [JSONObject])] = []
            for m in measurements {
                let name = m["name"]?.stringValue ?? ""
                if let k = groups.firstIndex(where: { $0.name == name }) { groups[k].items.append(m) } else { groups.append((name, [m])) }
            }
            let conflicting = groups.filter { g in Set(g.items.map { $0["config"]?["poi"]?.serialized() ?? "" }).count > 1 }.map(\.name)
            if !conflicting.isEmpty {
                throw HistFactoryError(.operation, "measurements \(quoted(conflicting)) have different POIs in the two workspaces")
            }
            measurements = try groups.map { g throws(HistFactoryError) -> JSONObject in
                guard g.items.count > 1 else { return g.items[0] }
                let parameters = g.items.map { $0["config"]?["parameters"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
                let joined = joinItems(.outer, parameters[0], parameters.dropFirst().flatMap { $0 })
                let repeated = repeatedNames(joined)
                if !repeated.isEmpty {
                    throw HistFactoryError(.operation, "measurement \"\(g.name)\" configures parameters \(quoted(repeated)) differently in the two workspaces")
                }
                return JSONObject([
                    ("name", .string(g.name)),
                    ("config", .object(JSONObject([("poi", g.items[0]["config"]?["poi"] ?? .null), ("parameters", .array(joined.map { .object($0) }))]))),
                ])
            }
        }
        return try make(channels: channels, observations: observations, measurements: measurements, version: left.version, baseDirectory: left.baseDirectory, modifiers: left.modifiers)
    }

    /// The workspace sorted as pyhf's `Workspace.sorted`: channels, samples, observations,
    /// measurements and parameter configurations by name, modifiers by (name, type); names compare
    /// by Unicode code point, as Python's do, and equal keys keep their order.
    ///
    /// - Complexity: O(n log n) in the number of items of each list.
    public func sorted() throws(HistFactoryError) -> Workspace {
        func key(_ o: JSONObject, _ field: String) -> String { o[field]?.stringValue ?? "" }
        func sortedBy(_ items: [JSONObject], _ fields: [String]) -> [JSONObject] {
            items.enumerated().sorted { a, b in
                for field in fields {
                    let x = key(a.element, field), y = key(b.element, field)
                    if x != y { return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) }
                }
                return a.offset < b.offset
            }.map(\.element)
        }
        func array(_ items: [JSONObject]) -> JSON { .array(items.map { .object($0) }) }
        let newChannels = sortedBy(objects("channels"), ["name"]).map { channel -> JSONObject in
            var c = channel
            c["samples"] = array(sortedBy(channel["samples"]!.arrayValue!.map { $0.objectValue! }, ["name"]).map { sample in
                var s = sample
                s["modifiers"] = array(sortedBy(sample["modifiers"]!.arrayValue!.map { $0.objectValue! }, ["name", "type"]))
                return s
            })
            return c
        }
        let newMeasurements = sortedBy(objects("measurements"), ["name"]).map { m -> JSONObject in
            var m = m
            var config = m["config"]!.objectValue!
            config["parameters"] = array(sortedBy(config["parameters"]!.arrayValue!.map { $0.objectValue! }, ["name"]))
            m["config"] = .object(config)
            return m
        }
        return try Self.make(channels: newChannels, observations: sortedBy(objects("observations"), ["name"]), measurements: newMeasurements,
                             version: version, baseDirectory: baseDirectory, modifiers: modifiers)
    }

    /// pyhf's `utils.digest(workspace, algorithm)`: the hex hash of the workspace's JSON as
    /// `json.dumps(sort_keys=True, ensure_ascii=False)` writes it (what a PatchSet's digests are).
    /// Algorithms: md5, sha1, sha256, sha384, sha512.
    public func digest(algorithm: String = "sha256") throws(HistFactoryError) -> String {
        try PatchSet.digest(json, algorithm: algorithm)
    }
}
