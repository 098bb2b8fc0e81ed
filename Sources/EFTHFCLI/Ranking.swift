import ArgumentParser
import EFTHF
import Foundation
import Plots

extension EFTHFCommand {
    struct Ranking: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nuisance-parameter ranking: the impact of each constrained parameter on the POI.",
            discussion: """
                After the best fit, each free constrained parameter is fixed in turn at θ̂ ± σ̂ (post-fit impact) \
                and at θ̂ ± σ₀ (pre-fit impact, σ₀ its constraint's width) and the other parameters refitted; the \
                impact is the shift of the POI (or of --poi). Parameters are ranked by their larger post-fit \
                impact, as in cabinetry's ranking and CMS Combine's impacts. 4 fits per parameter, on all cores.
                """
        )

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @Option(help: ArgumentHelp("The parameter whose shifts are ranked (default: the measurement's POI), e.g. a Wilson coefficient.", valueName: "name"))
        var poi: String?

        @Option(help: ArgumentHelp("Wilson coefficients to float (EFT workspaces); all others are fixed at the Standard Model, 0.", valueName: "op,..."))
        var ops: String?

        @Option(help: ArgumentHelp("Fix parameters at values, e.g. mu_SIG=0,alpha_JES=0.5.", valueName: "name=value,..."))
        var fix: String?

        @Option(help: ArgumentHelp("Draw the ranking as SVG (impacts with pulls) to this file.", valueName: "file.svg"))
        var plot: String?

        @Option(help: ArgumentHelp("The number of parameters in the table and the plot (the JSON has all), from 1 to 1000.", valueName: "n"))
        var top: Int = 20

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Also write the result as JSON to this file (written atomically).", valueName: "file.json"))
        var output: String?

        func validate() throws {
            guard (1...1000).contains(top) else { throw ValidationError("--top must be from 1 to 1000, not \(top)") }
        }

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = RankingTask(poi: poi, ops: ops.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                                       fix: try fix.map { text throws(HistFactoryError) in try ParameterValues(parsing: text) } ?? ParameterValues())
                // Quiet with --json: the document is the whole output.
                let report = json ? try task.run(on: loaded)
                    : try Progress.run("ranking (4 fits per parameter)") { progress in try task.run(on: loaded, progress: progress.callback) }
                if let plot { try writeAtomically(Self.plot(report, top: top), to: plot) }
                let document = report.jsonValue.serialized(.pretty)
                if let output { try writeAtomically(document, to: output) }
                if json { print(document) } else { print(Self.table(report, top: top)) }
            }
        }

        static func plot(_ report: RankingReport, top: Int) -> String {
            Plot.ranking(report.parameters.map {
                Impact(name: $0.name, pull: $0.pull, constraint: $0.constraint, postfit: ($0.postfitImpact[0], $0.postfitImpact[1]),
                       prefit: ($0.prefitImpact[0], $0.prefitImpact[1]))
            }, poi: report.poi, bestFit: report.bestFit, uncertainty: report.uncertainty, top: top)
        }

        static func table(_ report: RankingReport, top: Int) -> String {
            func f(_ x: Double?) -> String { x.map { String(format: "%+10.4g", $0) } ?? "    failed" }
            let rows = report.parameters.prefix(top)
            let width = max(9, rows.map(\.name.count).max() ?? 0)
            var lines = ["\(report.poi) = \(formatted(report.bestFit)) ± \(formatted(report.uncertainty, 4)); impacts Δ\(report.poi) of \(report.parameters.count) constrained parameters, largest first" + (report.parameters.count > top ? " (top \(top))" : ""),
                         "parameter".padding(toLength: width, withPad: " ", startingAt: 0) + "      pull   constraint    post +σ̂    post −σ̂     pre +σ₀     pre −σ₀"]
            for e in rows {
                lines.append(e.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %+9.3f %11.3f ", e.pull, e.constraint)
                             + [e.postfitImpact[0], e.postfitImpact[1], e.prefitImpact[0], e.prefitImpact[1]].map(f).joined(separator: "  "))
                for failure in e.failures ?? [] { lines.append("  \(e.name) refit failed: \(failure)") }
            }
            return lines.joined(separator: "\n")
        }
    }
}
