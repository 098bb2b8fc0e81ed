import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a workspace and warn about common mistakes in it.",
            discussion: """
                Lists channels (bins, observed and expected events), samples with their yields and \
                modifiers, normalisation factors, parameters by type and Wilson coefficients with their \
                terms. Then checks for: a normsys that duplicates lumi, normalisation factors or nuisance \
                parameters fixed in the measurement, a systematic on a sample in some channels but not \
                in others, bins with zero or negative expected yield, MC-statistical uncertainties above \
                100%, and Wilson-coefficient terms whose SM-plus-interference yield turns negative inside \
                the coefficient's bounds. Exit status 0 even with warnings. A background-only workspace \
                given with its patch set and no patch name (--patch patchset.json) is inspected alone, the \
                set's digest checked, and the patches listed after it.
                """
        )

        @OptionGroup var model: ModelOptions

        @Flag(help: "Print the summary and warnings as JSON.")
        var json = false

        /// The largest `--max-warnings`.
        static let maximumWarnings = 1_000_000

        @Option(help: ArgumentHelp("Show at most this many warnings of each kind (all with --json), from 0 to \(maximumWarnings).", valueName: "n"))
        var maxWarnings: Int = 10

        func validate() throws {
            guard (0...Self.maximumWarnings).contains(maxWarnings) else {
                throw ValidationError("--max-warnings must be from 0 to \(Self.maximumWarnings), not \(maxWarnings)")
            }
        }

        func run() throws {
            try reportingErrors {
                // A background-only workspace with its patch set and no patch chosen: the workspace, then the patches.
                if let withPatches = try model.source.patchSetInspection() {
                    let inspection = InspectTask().run(on: withPatches.loaded)
                    if json {
                        guard case .object(var out) = inspection.json(file: model.workspace) else { preconditionFailure("an inspection is a JSON object") }
                        out["patch_set"] = withPatches.json
                        print(JSON.object(out).serialized(.pretty))
                    } else {
                        print(inspection.text(file: model.workspace, maxWarnings: maxWarnings))
                        print(Self.patchList(withPatches))
                    }
                    return
                }
                let ws = try model.loadWorkspace()
                let inspection = InspectTask().run(on: try LoadedModel(workspace: ws, measurement: model.measurement))
                if json {
                    print(inspection.json(file: model.workspace).serialized(.pretty))
                } else {
                    print(inspection.text(file: model.workspace, maxWarnings: maxWarnings))
                }
            }
        }

        /// The patches of the set, as `pyhf patchset inspect` lists them, with their label values.
        static func patchList(_ p: PatchSetInspection) -> String {
            let set = p.patchSet
            var lines = ["", "Patch set \(p.file) (digest verified against this workspace): \(set.patches.count) patches, labels \(set.labels.joined(separator: ", "))"]
            if let poi = p.poiAddedByPatches { lines.append("  the POI \(poi) is added by the patches; inspect one with --patch \(p.file):NAME") }
            let width = set.patches.map(\.name.count).max() ?? 0
            for patch in set.patches {
                lines.append("  " + patch.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + patch.values.map { $0.serialized() }.joined(separator: ", "))
            }
            return lines.joined(separator: "\n")
        }
    }
}
