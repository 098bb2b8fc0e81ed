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

    /// Removes modifiers (by name or type), samples, channels (with their observations) and
    /// measurements. A removed modifier name also loses its parameter configurations. Names that
    /// the workspace does not have are an error, as in pyhf.
    public func pruned(modifiers: [String] = [], modifierTypes: [String] = [], samples: [String] = [],
                       channels removeChannels: [String] = [], measurements removeMeasurements: [String] = []) throws(HistFactoryError) -> Workspace {
        let allModifiers = Set(channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.name) } })
        let allTypes = Set(channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.kind.rawValue) } })
        let allSamples = Set(channels.flatMap { $0.samples.map(\.name) })
        for (names, known, what) in [(modifiers, allModifiers, "modifier"), (modifierTypes, allTypes, "modifier type"), (samples, allSamples, "sample"),
                                     (removeChannels, Set(channels.map(\.name)), "channel"), (removeMeasurements, Set(measurements.map(\.name)), "measurement")] {
            if let unknown = names.first(where: { !known.contains($0) }) {
                throw HistFactoryError(.operation, "cannot prune \(what) \"\(unknown)\": the workspace has no such \(what)")
            }
        }
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
    /// (with their observations) and measurements.
    public func renamed(modifiers: [String: String] = [:], samples: [String: String] = [:], channels renameChannels: [String: String] = [:],
                        measurements renameMeasurements: [String: String] = [:]) throws(HistFactoryError) -> Workspace {
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

    /// Combines two workspaces (pyhf's `Workspace.combine`). Modifiers with the same name in
    /// both become one parameter. Measurements of the same name are merged when their POIs
    /// agree, their parameter configurations joined by name (conflicts are errors).
    /// `mergeChannels` (outer joins only) merges the samples of same-named channels.
    public static func combine(_ left: Workspace, _ right: Workspace, join: Join = .none, mergeChannels: Bool = false) throws(HistFactoryError) -> Workspace {
        guard left.version == right.version else {
            throw HistFactoryError(.operation, "cannot combine workspaces of versions \(left.version) and \(right.version)")
        }
        if mergeChannels && join == .none {
            throw HistFactoryError(.operation, "merging channels needs an outer join")
        }
        func joined(_ key: String, merge: ((JSONObject, JSONObject) throws(HistFactoryError) -> JSONObject)?) throws(HistFactoryError) -> [JSONObject] {
            var result = left.objects(key)
            for item in right.objects(key) {
                let name = item["name"]!.stringValue!
                guard let k = result.firstIndex(where: { $0["name"]!.stringValue! == name }) else {
                    result.append(item)
                    continue
                }
                if result[k] == item && join != .none { continue }
                if let merge, join != .none {
                    result[k] = try merge(result[k], item)
                    continue
                }
                switch join {
                case .none: throw HistFactoryError(.operation, "both workspaces have \(key.dropLast()) \"\(name)\"; choose a join other than none, or rename one")
                case .outer: throw HistFactoryError(.operation, "\(key.dropLast()) \"\(name)\" differs between the workspaces; an outer join needs identical items")
                case .leftOuter: continue
                case .rightOuter: result[k] = item
                }
            }
            return result
        }
        let channelMerge: ((JSONObject, JSONObject) throws(HistFactoryError) -> JSONObject)? = mergeChannels ? { (l: JSONObject, r: JSONObject) throws(HistFactoryError) -> JSONObject in
            var samples = l["samples"]!.arrayValue!
            for s in r["samples"]!.arrayValue! {
                if let k = samples.firstIndex(where: { $0["name"] == s["name"] }) {
                    if samples[k] == s { continue }
                    switch join {
                    case .leftOuter: continue
                    case .rightOuter: samples[k] = s
                    default: throw HistFactoryError(.operation, "sample \"\(s["name"]!.stringValue!)\" differs in channel \"\(l["name"]!.stringValue!)\"")
                    }
                } else {
                    samples.append(s)
                }
            }
            var merged = l
            merged["samples"] = .array(samples)
            return merged
        } : nil
        let measurementMerge: (JSONObject, JSONObject) throws(HistFactoryError) -> JSONObject = { l, r throws(HistFactoryError) in
            let lc = l["config"]!.objectValue!
            let rc = r["config"]!.objectValue!
            guard lc["poi"] == rc["poi"] else {
                throw HistFactoryError(.operation, "measurement \"\(l["name"]!.stringValue!)\" has POI \(lc["poi"]!.serialized()) on the left and \(rc["poi"]!.serialized()) on the right")
            }
            var parameters = lc["parameters"]!.arrayValue!
            for p in rc["parameters"]!.arrayValue! {
                if let k = parameters.firstIndex(where: { $0["name"] == p["name"] }) {
                    guard parameters[k] == p else {
                        throw HistFactoryError(.operation, "measurement \"\(l["name"]!.stringValue!)\" configures parameter \(p["name"]!.serialized()) differently in the two workspaces")
                    }
                } else {
                    parameters.append(p)
                }
            }
            var merged = l
            var config = lc
            config["parameters"] = .array(parameters)
            merged["config"] = .object(config)
            return merged
        }
        let channels = try joined("channels", merge: channelMerge)
        var observations = try joined("observations", merge: nil)
        if mergeChannels {
            // Merged channels keep the left observation unless the right one wins the join.
            observations = left.objects("observations")
            for o in right.objects("observations") {
                if let k = observations.firstIndex(where: { $0["name"] == o["name"] }) {
                    if join == .rightOuter { observations[k] = o }
                } else {
                    observations.append(o)
                }
            }
        }
        let measurements = try joined("measurements", merge: measurementMerge)
        return try make(channels: channels, observations: observations, measurements: measurements, version: left.version, baseDirectory: left.baseDirectory, modifiers: left.modifiers)
    }
}
