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
                the coefficient's bounds. Exit status 0 even with warnings.
                """
        )

        @OptionGroup var model: ModelOptions

        @Flag(help: "Print the summary and warnings as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Show at most this many warnings of each kind (all with --json).", valueName: "n"))
        var maxWarnings: Int = 10

        func validate() throws {
            guard maxWarnings >= 0 else { throw ValidationError("--max-warnings must be ≥ 0, not \(maxWarnings)") }
        }

        func run() throws {
            try reportingErrors {
                let ws = try model.loadWorkspace()
                let inspection = InspectTask().run(on: try LoadedModel(workspace: ws, measurement: model.measurement))
                if json {
                    print(inspection.json(file: model.workspace).serialized(.pretty))
                } else {
                    print(inspection.text(file: model.workspace, maxWarnings: maxWarnings))
                }
            }
        }
    }
}
