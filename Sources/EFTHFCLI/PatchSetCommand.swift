import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    /// pyhf's `pyhf patchset inspect|extract|apply|verify`.
    struct PatchSetCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "patchset",
            abstract: "Inspect a pyhf PatchSet, extract one patch, apply one to its background-only workspace, or verify its digests.",
            subcommands: [Inspect.self, Extract.self, Apply.self, Verify.self]
        )

        struct Inspect: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The patch set's description, labels, digests and patches (name and label values).")

            @Argument(help: ArgumentHelp("A pyhf PatchSet file.", valueName: "patchset.json"))
            var patchSet: String

            @Flag(help: "Print the summary as JSON.")
            var json = false

            func run() throws {
                try reportingErrors {
                    let set = try PatchSet(contentsOf: patchSet)
                    if json {
                        let out = JSON.object(JSONObject([
                            ("description", .string(set.description)), ("labels", .array(set.labels.map { .string($0) })),
                            ("digests", .object(JSONObject(set.digests.map { ($0.algorithm, .string($0.value)) }))),
                            ("patches", .array(set.patches.map { .object(JSONObject([("name", .string($0.name)), ("values", .array($0.values))])) })),
                        ]))
                        print(out.serialized(.pretty))
                        return
                    }
                    print("description: \(set.description)")
                    print("labels:      \(set.labels.joined(separator: ", "))")
                    for d in set.digests { print("digest:      \(d.algorithm) \(d.value)") }
                    print("patches (\(set.patches.count)):")
                    for p in set.patches { print("  - \(p.name) (\(p.values.map { $0.serialized() }.joined(separator: ", ")))") }
                }
            }
        }

        /// One patch of a patch set, and where the result goes.
        struct PatchChoice: ParsableArguments {
            @Argument(help: ArgumentHelp("A pyhf PatchSet file.", valueName: "patchset.json"))
            var patchSet: String

            @Option(help: "The patch's name.")
            var name: String

            @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Write to this file (atomically) instead of standard output.", valueName: "file.json"))
            var output: String?

            func emit(_ json: JSON) throws {
                let text = json.serialized(.pretty)
                if let output { try writeAtomically(text, to: output) } else { print(text) }
            }
        }

        struct Extract: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Write one patch's JSON Patch operations (RFC 6902).")

            @OptionGroup var choice: PatchChoice

            func run() throws {
                try reportingErrors {
                    try choice.emit(try PatchSet(contentsOf: choice.patchSet).patch(named: choice.name).operations)
                }
            }
        }

        struct Apply: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Apply one patch to the background-only workspace it was made for (its digest is checked) and write the result.")

            @Argument(help: ArgumentHelp("The background-only workspace.", valueName: "BkgOnly.json"))
            var workspace: String

            @OptionGroup var choice: PatchChoice

            func run() throws {
                try reportingErrors {
                    try choice.emit(try ModelSource(workspace: workspace, patch: choice.patchSet + ":" + choice.name).loadWorkspace().json)
                }
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check that a patch set was made for a background-only workspace: its digests against the workspace's (as pyhf patchset verify).",
                discussion: "Prints \"All good.\" and exits 0 when every digest of the set matches; otherwise one line naming the algorithm and both digests, exit status 1.")

            @Argument(help: ArgumentHelp("The background-only workspace.", valueName: "BkgOnly.json"))
            var workspace: String

            @Argument(help: ArgumentHelp("A pyhf PatchSet file.", valueName: "patchset.json"))
            var patchSet: String

            func run() throws {
                try reportingErrors {
                    let set = try PatchSet(contentsOf: patchSet)
                    let ws = try readWorkspace(workspace)
                    do throws(HistFactoryError) { try set.verify(ws) } catch { throw error.inFile(patchSet) }
                    print("All good.")
                }
            }
        }
    }
}
