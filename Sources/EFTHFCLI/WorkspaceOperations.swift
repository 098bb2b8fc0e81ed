import ArgumentParser
import EFTHF
import Foundation

/// Reads a workspace argument as pyhf's commands do: a file, or `-` for standard input (relative
/// paths inside it are then resolved against the working directory). Extended workspaces are read
/// with efthf's modifier types.
func readWorkspace(_ path: String) throws(HistFactoryError) -> Workspace {
    guard path == "-" else { return try Workspace(contentsOf: path, modifiers: .efthf) }
    let data = FileHandle.standardInput.readDataToEndOfFile()
    let json: JSON
    do { json = try JSONParser.parse(data) } catch { throw HistFactoryError(.syntax, "not valid JSON: \(error)", file: "<stdin>") }
    return try Workspace(json: json, file: "<stdin>", baseDirectory: FileManager.default.currentDirectoryPath, modifiers: .efthf)
}

/// Where a workspace operation's result goes: pyhf's `--output-file` (efthf's `-o/--output` too),
/// or standard output. The text is what pyhf's commands write, `json.dumps(indent=4, sort_keys=True)`.
struct WorkspaceOutput: ParsableArguments {
    @Option(name: [.short, .customLong("output"), .customLong("output-file")],
            help: ArgumentHelp("Write the workspace to this file (atomically) instead of standard output.", valueName: "file.json"))
    var output: String?

    func emit(_ workspace: Workspace) throws(HistFactoryError) {
        let text = workspace.json.serialized(.pythonIndented)
        if let output { try writeAtomically(text, to: output) } else { print(text) }
    }
}

extension EFTHFCommand {
    /// pyhf's `pyhf prune` (`Workspace.prune`).
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove channels, samples, modifiers (by name or type) and measurements from a workspace (as pyhf prune).",
            discussion: """
                A removed channel also loses its observation, a removed modifier name its parameter \
                configurations in every measurement. Every name must be in the workspace. The result is \
                validated again and written as pyhf writes it (sorted keys, 4-space indentation).
                """)

        @Argument(help: ArgumentHelp("The workspace (pyhf JSON, or an efthf extended one); - reads standard input.", valueName: "workspace"))
        var workspace: String

        @Option(name: [.short, .long], help: ArgumentHelp("A channel to remove (repeat the option for more).", valueName: "channel"))
        var channel: [String] = []

        @Option(name: [.short, .long], help: ArgumentHelp("A sample to remove, in every channel.", valueName: "sample"))
        var sample: [String] = []

        @Option(name: [.short, .long], help: ArgumentHelp("A modifier to remove by name, with its parameter configurations.", valueName: "modifier"))
        var modifier: [String] = []

        @Option(name: [.customShort("t"), .long], help: ArgumentHelp("Remove every modifier of this type (normsys, histosys, shapesys, staterror, lumi, normfactor, shapefactor, morphing, event_database).", valueName: "type"))
        var modifierType: [String] = []

        @Option(help: ArgumentHelp("A measurement to remove.", valueName: "measurement"))
        var measurement: [String] = []

        @OptionGroup var output: WorkspaceOutput

        func run() throws {
            try reportingErrors {
                let ws = try readWorkspace(workspace)
                do throws(HistFactoryError) {
                    try output.emit(try ws.pruned(modifiers: modifier, modifierTypes: modifierType, samples: sample, channels: channel, measurements: measurement))
                } catch { throw error.inFile(workspace) }
            }
        }
    }

    /// pyhf's `pyhf rename` (`Workspace.rename`).
    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename channels, samples, modifiers and measurements of a workspace (as pyhf rename).",
            discussion: """
                Each option takes the old and the new name (-c SR SR_new); repeat it for more. A renamed \
                channel renames its observation; a renamed modifier renames its parameter configurations \
                and, when it is the POI, the POI. Every old name must be in the workspace.
                """)

        @Argument(help: ArgumentHelp("The workspace (pyhf JSON, or an efthf extended one); - reads standard input.", valueName: "workspace"))
        var workspace: String

        @Option(name: [.short, .long], parsing: .upToNextOption, help: ArgumentHelp("Rename a channel: the old name, then the new one.", valueName: "old> <new"))
        var channel: [String] = []

        @Option(name: [.short, .long], parsing: .upToNextOption, help: ArgumentHelp("Rename a sample: the old name, then the new one.", valueName: "old> <new"))
        var sample: [String] = []

        @Option(name: [.short, .long], parsing: .upToNextOption, help: ArgumentHelp("Rename a modifier: the old name, then the new one.", valueName: "old> <new"))
        var modifier: [String] = []

        @Option(parsing: .upToNextOption, help: ArgumentHelp("Rename a measurement: the old name, then the new one.", valueName: "old> <new"))
        var measurement: [String] = []

        @OptionGroup var output: WorkspaceOutput

        /// The `old new` pairs of one option as a mapping.
        static func mapping(_ values: [String], option: String) throws -> [String: String] {
            guard values.count.isMultiple(of: 2) else {
                throw ValidationError("\(option) takes pairs of names, OLD NEW; found \(values.count) name\(values.count == 1 ? "" : "s"): \(values.joined(separator: " "))")
            }
            var map: [String: String] = [:]
            for k in stride(from: 0, to: values.count, by: 2) {
                guard map[values[k]] == nil else { throw ValidationError("\(option) renames \"\(values[k])\" twice") }
                map[values[k]] = values[k + 1]
            }
            return map
        }

        func validate() throws {
            for (values, option) in [(channel, "--channel"), (sample, "--sample"), (modifier, "--modifier"), (measurement, "--measurement")] {
                _ = try Self.mapping(values, option: option)
            }
        }

        func run() throws {
            let maps = try [(channel, "--channel"), (sample, "--sample"), (modifier, "--modifier"), (measurement, "--measurement")].map { try Self.mapping($0.0, option: $0.1) }
            try reportingErrors {
                let ws = try readWorkspace(workspace)
                do throws(HistFactoryError) {
                    try output.emit(try ws.renamed(modifiers: maps[2], samples: maps[1], channels: maps[0], measurements: maps[3]))
                } catch { throw error.inFile(workspace) }
            }
        }
    }

    /// pyhf's `pyhf combine` (`Workspace.combine`).
    struct Combine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine two workspaces into one (as pyhf combine).",
            discussion: """
                Channels, observations and measurements of both, joined by name. --join none: any name in \
                both is an error; outer: identical items are kept once, measurements of the same name \
                merged when their POIs agree; left outer / right outer: that workspace's item wins. \
                Modifiers of the same name in both become one parameter (e.g. lumi).
                """)

        @Argument(help: ArgumentHelp("The first workspace; - reads standard input.", valueName: "workspace-one"))
        var workspaceOne: String

        @Argument(help: ArgumentHelp("The second workspace.", valueName: "workspace-two"))
        var workspaceTwo: String

        @Option(name: [.short, .long], help: ArgumentHelp("The join: none, outer, \"left outer\" or \"right outer\".", valueName: "join"))
        var join: Workspace.Join = .none

        @Flag(inversion: .prefixedNo, help: "Merge the samples of channels of the same name (outer joins only).")
        var mergeChannels = false

        @OptionGroup var output: WorkspaceOutput

        func validate() throws {
            if mergeChannels && join == .none { throw ValidationError("--merge-channels needs --join outer, \"left outer\" or \"right outer\"") }
            if workspaceOne == "-" && workspaceTwo == "-" { throw ValidationError("only one of the two workspaces can be read from standard input (-)") }
        }

        func run() throws {
            try reportingErrors {
                try output.emit(try Workspace.combine(try readWorkspace(workspaceOne), try readWorkspace(workspaceTwo), join: join, mergeChannels: mergeChannels))
            }
        }
    }

    /// pyhf's `pyhf sort` (`Workspace.sorted`).
    struct Sort: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sort a workspace's channels, samples, modifiers, observations, measurements and parameter configurations by name (as pyhf sort).")

        @Argument(help: ArgumentHelp("The workspace; - reads standard input.", valueName: "workspace"))
        var workspace: String

        @OptionGroup var output: WorkspaceOutput

        func run() throws {
            try reportingErrors {
                try output.emit(try readWorkspace(workspace).sorted())
            }
        }
    }

    /// pyhf's `pyhf digest` (`utils.digest`).
    struct Digest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a workspace's digest, the hash a PatchSet records for its background-only workspace (as pyhf digest).",
            discussion: "The hash of the workspace's JSON as Python writes it with sorted keys; plain text prints ALGORITHM:HEX per line.")

        @Argument(help: ArgumentHelp("The workspace; - reads standard input.", valueName: "workspace"))
        var workspace: String

        @Option(name: [.short, .long], help: ArgumentHelp("The hashing algorithm: md5, sha1, sha256, sha384 or sha512 (repeat the option for several).", valueName: "algorithm"))
        var algorithm: [String] = ["sha256"]

        @Flag(name: [.customShort("j"), .long], help: "Print the digests as a JSON object {algorithm: hex}.")
        var json = false

        @Flag(name: [.customShort("p"), .long], help: "Print ALGORITHM:HEX lines (the default).")
        var plaintext = false

        func validate() throws {
            if json && plaintext { throw ValidationError("give either --json or --plaintext, not both") }
            if let bad = algorithm.first(where: { !PatchSet.digestAlgorithms.contains($0) }) {
                throw ValidationError("unsupported digest algorithm \"\(bad)\"; efthf computes \(PatchSet.digestAlgorithms.joined(separator: ", "))")
            }
        }

        func run() throws {
            try reportingErrors {
                let ws = try readWorkspace(workspace)
                var digests: [(String, String)] = []
                for a in algorithm where !digests.contains(where: { $0.0 == a }) { digests.append((a, try ws.digest(algorithm: a))) }
                if json {
                    print(JSON.object(JSONObject(digests.map { ($0.0, JSON.string($0.1)) })).serialized(.pythonIndented))
                } else {
                    print(digests.map { "\($0.0):\($0.1)" }.joined(separator: "\n"))
                }
            }
        }
    }
}

extension Workspace.Join: ExpressibleByArgument {}
