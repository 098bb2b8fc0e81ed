import ArgumentParser
import EFTHF
import Foundation
import Plots

extension EFTHFCommand {
    struct Toys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Toy-based CLs test of one POI value, with the expected band from background-only toys.",
            discussion: """
                Pseudo-data are drawn from the model fitted to the observed data at POI = value (signal plus \
                background) and at POI = 0 (background only); p-values are fractions of toys. The result \
                depends only on --seed and --ntoys, not on the number of cores.
                """
        )

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @OptionGroup var toys: ToyOptions

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Draw the test statistic's distributions over the toys of both hypotheses, with the observed value.", valueName: "file.svg"))
        var plot: String?

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = toys.task
                let r = try Progress.run("toys (2 × \(toys.ntoys))", total: 2 * toys.ntoys, quiet: json) { progress in try task.run(on: loaded, progress: progress.callback) }
                if let plot { try writeAtomically(Self.plot(r), to: plot) }
                if json {
                    print(r.jsonValue.serialized(.pretty))
                } else {
                    print("POI \(r.poi.isEmpty ? "?" : r.poi) = \(formatted(toys.poiValue)), test statistic \(toys.testStat), \(toys.ntoys) toys per hypothesis, seed \(toys.seed)")
                    print("  q = \(formatted(r.q))")
                    print("  CLs observed  \(formatted(r.clsObserved))   (CLs+b \(formatted(r.clsbObserved)), CLb \(formatted(r.clbObserved)))")
                    print("  CLs expected  " + zip(["-2σ", "-1σ", "median", "+1σ", "+2σ"], r.clsExpected).map { "\($0) \(formatted($1))" }.joined(separator: "   "))
                    if r.failedToys > 0 { print("  warning: \(r.failedToys) toys dropped because a fit failed on them") }
                }
            }
        }

        /// The toy distributions of a report (``ToyDistributions``) as an SVG plot.
        static func plot(_ r: ToysReport) -> String {
            let d = r.distributions
            return Plot.toyDistributions(statistic: r.testStatistic == "qtilde" ? "q̃μ" : "qμ", poi: r.poi.isEmpty ? "POI" : r.poi, poiValue: r.poiValue,
                                         edges: d.edges, signal: d.signal, background: d.background, observed: r.q,
                                         clsb: r.clsbObserved, clb: r.clbObserved, cls: r.clsObserved)
        }
    }
}

/// The toy test's options, shared by `efthf toys` and `efthf plan toys`.
struct ToyOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "The POI value to test (may be negative: --poi-value -0.5).")
    var poiValue: Double = 1

    @Option(help: "Toys per hypothesis (signal plus background, and background only).")
    var ntoys: Int = 1000

    @Option(help: "Seed of the pseudo-random generator.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Test statistic: qtilde or q.", valueName: "qtilde|q"))
    var testStat: String = "qtilde"

    func validate() throws {
        guard ntoys > 0, ntoys <= Limits.toys else { throw ValidationError("--ntoys must be from 1 to \(Limits.toys), not \(ntoys)") }
        guard poiValue.isFinite else { throw ValidationError("--poi-value must be finite") }
        guard ["qtilde", "q"].contains(testStat) else { throw ValidationError("--test-stat must be qtilde or q, not \(testStat)") }
    }

    var task: ToysTask { ToysTask(poiValue: poiValue, toys: ntoys, seed: seed, testStatistic: testStat) }
}
