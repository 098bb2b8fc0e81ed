import ArgumentParser
import EFTHF
import Foundation

extension LoadedModel {
    init(_ options: ModelOptions, _ interpolation: InterpolationOptions) throws {
        self = try options.source.load(interpolation: interpolation.interpolation)
    }
}

/// Runs `body`, turning library errors into one line on stderr and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as HistFactoryError {
        fail(error)
    } catch let error as InferenceError {
        fail(error)
    }
}


extension MultiStart.Strategy: ExpressibleByArgument {}

/// `--multistart` and `--max-starts`, shared by the commands whose fits look for the global minimum.
struct MultiStartOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How the fit looks for the global minimum: none (one local fit), auto (one local fit, then starts chosen from the structure of the yields: reflections of quadratic coefficients about their vertex), grid (a grid of starts, 3^n or 5^n fits).", valueName: "none|auto|grid"))
    var multistart: MultiStart.Strategy = .auto

    @Option(help: ArgumentHelp("The search's budget: most extra local fits (auto; default 2n+2 for n searched parameters), most grid points (grid; default \(MultiStart.maximumStarts)). From 0 to \(MultiStart.maximumStarts).", valueName: "N"))
    var maxStarts: Int?

    func validate() throws {
        if let maxStarts, maxStarts < 0 || maxStarts > MultiStart.maximumStarts {
            throw ValidationError("--max-starts must be from 0 to \(MultiStart.maximumStarts), not \(maxStarts)")
        }
    }
}

extension EFTHFCommand {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Maximum-likelihood fit: best-fit values, Hessian uncertainties, fit status.")

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @Option(help: ArgumentHelp("Fix parameters at values, e.g. mu_SIG=0,alpha_JES=0.5.", valueName: "name=value,..."))
        var fix: String?

        @Option(help: ArgumentHelp("Wilson coefficients to float (EFT workspaces); all others are fixed at the Standard Model, 0.", valueName: "op,..."))
        var ops: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Also write the result as JSON to this file (written atomically).", valueName: "file.json"))
        var output: String?

        @Option(help: ArgumentHelp("Write SVG plots (pre-/post-fit yields per channel, pulls, correlation matrix, morphed signal at several coefficient points) into this directory.", valueName: "dir"))
        var plots: String?

        @OptionGroup var search: MultiStartOptions

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = FitTask(ops: ops.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                                   fix: try fix.map { text throws(HistFactoryError) in try ParameterValues(parsing: text) } ?? ParameterValues(),
                                   multistart: search.multistart, maxStarts: search.maxStarts)
                let stages = task.ops == nil ? 1 : 2
                let report = try Progress.run(task.ops == nil ? "fit" : "fit and profile intervals", total: stages, quiet: json) { progress in
                    try task.run(on: loaded, progress: progress.callback)
                }
                let result = report.fit!
                if let plots { try FitPlots.write(result, workspace: loaded.workspace, model: loaded.model, data: loaded.data, to: plots) }
                let document = report.jsonValue.serialized(.pretty)
                if let output { try writeAtomically(document, to: output) }
                if json {
                    print(document)
                } else {
                    print(FitTable.table(result))
                    if let intervals = report.profileIntervals { print(FitTable.intervalTable(intervals, result: result)) }
                    if let reason = report.profileIntervalsError { print("\nprofile likelihood intervals: not computed (\(reason))") }
                    print(FitTable.searchSummary(report))
                }
                if !result.status.isConverged { throw ExitCode(2) }
            }
        }
    }

    struct Hypotest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Asymptotic CLs test of one POI value (q̃μ by default), with the expected band.")

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @Option(help: "The POI value to test.")
        var poiValue: Double = 1

        @Option(help: ArgumentHelp("Test statistic: qtilde or q.", valueName: "qtilde|q"))
        var testStat: String = "qtilde"

        @Flag(help: "Print the result as JSON.")
        var json = false

        @OptionGroup var search: MultiStartOptions

        func run() throws {
            guard ["qtilde", "q"].contains(testStat) else { throw ValidationError("--test-stat must be qtilde or q, not \(testStat)") }
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = HypotestTask(poiValue: poiValue, testStatistic: testStat, multistart: search.multistart, maxStarts: search.maxStarts)
                let r = try Progress.run("hypotest", quiet: json) { _ in try task.run(on: loaded) }
                if json {
                    print(r.jsonValue.serialized(.pretty))
                } else {
                    print("POI \(r.poi.isEmpty ? "?" : r.poi) = \(formatted(poiValue)), test statistic \(testStat)")
                    print("  q = \(formatted(r.q)), q_A = \(formatted(r.qAsimov)), mu_hat = \(formatted(r.muHat))")
                    print("  CLs observed  \(formatted(r.clsObserved))   (CLs+b \(formatted(r.clsbObserved)), CLb \(formatted(r.clbObserved)))")
                    print("  CLs expected  " + zip(["-2σ", "-1σ", "median", "+1σ", "+2σ"], r.clsExpected).map { "\($0) \(formatted($1))" }.joined(separator: "   "))
                }
            }
        }
    }

    struct Limit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Asymptotic CLs upper limit on the POI, observed and expected band.")

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @Option(help: "CLs level (0.05 for 95% CL).")
        var level: Double = 0.05

        @Flag(help: "Print the result as JSON.")
        var json = false

        @OptionGroup var search: MultiStartOptions

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = LimitTask(level: level, multistart: search.multistart, maxStarts: search.maxStarts)
                let r = try Progress.run("upper limit", quiet: json) { _ in try task.run(on: loaded) }
                if json {
                    print(r.jsonValue.serialized(.pretty))
                } else {
                    print("Upper limit on \(r.poi.isEmpty ? "?" : r.poi) at CLs = \(formatted(level)) (\(formatted(100 * (1 - level), 3))% CL)")
                    print("  observed  \(formatted(r.observed))")
                    print("  expected  " + zip(["-2σ", "-1σ", "median", "+1σ", "+2σ"], r.expected).map { "\($0) \(formatted($1))" }.joined(separator: "   "))
                }
            }
        }
    }
}

/// Fit results as a table for people.
enum FitTable {
    static func table(_ r: FitResult) -> String {
        var lines = ["status: \(r.status)    2NLL = \(formatted(r.twiceNLL, 12))    EDM = \(formatted(r.edm, 3))    calls = \(r.functionCalls)"]
        let width = max(9, r.parameterNames.map(\.count).max() ?? 0)
        lines.append("parameter".padding(toLength: width, withPad: " ", startingAt: 0) + "        value     uncertainty")
        for (i, name) in r.parameterNames.enumerated() {
            let error = r.fixed[i] ? "fixed" : r.uncertainties.map { formatted($0[i], 4) } ?? "n/a"
            lines.append(name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %12.6g", r.values[i]) + "   ± " + error)
        }
        if !r.degenerateMinima.isEmpty {
            lines.append("degenerate minima: \(r.degenerateMinima.count) other minima within tolerance of the best 2NLL")
        }
        return lines.joined(separator: "\n")
    }

    /// The minima found, whether the global one is assured, and the evaluations of each stage.
    static func searchSummary(_ report: EFTHF.FitReport) -> String {
        var lines = [""]
        if let s = report.search {
            lines.append("multistart \(s.strategy): \(s.fits) local fit\(s.fits == 1 ? "" : "s"), \(report.minima.count) distinct minim\(report.minima.count == 1 ? "um" : "a")"
                         + (s.excluded > 0 ? ", \(s.excluded) starts excluded (a minimum there cannot be lower)" : "")
                         + (s.globalMinimumAssured ? "" : "; GLOBAL MINIMUM NOT ASSURED: the budget ran out with \(s.untried) starts left (raise --max-starts)"))
            if report.minima.count > 1 {
                for m in report.minima {
                    lines.append("  2NLL = \(formatted(m.twiceNLL, 12))  (Δ = \(formatted(m.twiceNLL - report.twiceNLL, 4)))  "
                                 + m.values.entries.map { "\($0.name) = \(formatted($0.value, 6))" }.joined(separator: ", "))
                }
            }
        }
        let e = report.evaluations
        lines.append("likelihood evaluations: local fit \(e.localFit), multistart \(e.multistart), uncertainties \(e.uncertainties), profile intervals \(e.profileIntervals); total \(e.total)")
        return lines.joined(separator: "\n")
    }

    /// Wilson coefficients: best fit, ±1σ and 95% CL profile-likelihood intervals (null end: the
    /// profile stays below the level up to the bound), and their correlations.
    static func intervalTable(_ intervals: NamedValues<EFTHF.FitReport.Interval>, result: FitResult) -> String {
        func end(_ x: Double?, _ bound: String) -> String { x.map { formatted($0, 4) } ?? bound }
        let width = max(11, intervals.names.map(\.count).max() ?? 0)
        var lines = ["", "profile likelihood (Δ2NLL = 1 and 3.84):",
                     "coefficient".padding(toLength: width, withPad: " ", startingAt: 0) + "     best fit          ±1σ interval            95% CL interval"]
        for entry in intervals.entries {
            let one = entry.value.oneSigma, cl95 = entry.value.cl95
            // An end without a value lies beyond the bound, unless its search failed.
            func open(_ label: String) -> String { (entry.value.failures ?? []).contains { $0.hasPrefix(label + ":") } ? "failed" : "bound" }
            let a = "[\(end(one[0], open("one_sigma lower"))), \(end(one[1], open("one_sigma upper")))]"
            let b = "[\(end(cl95[0], open("cl95 lower"))), \(end(cl95[1], open("cl95 upper")))]"
            lines.append(entry.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %12.5g", entry.value.bestFit)
                         + "   " + a.padding(toLength: 22, withPad: " ", startingAt: 0) + "   " + b)
            for failure in entry.value.failures ?? [] { lines.append("  \(entry.name) \(failure)") }
        }
        let names = intervals.names
        if names.count > 1, let c = result.correlations {
            let idx = names.compactMap { result.parameterNames.firstIndex(of: $0) }
            lines.append("correlations: " + (0..<idx.count).flatMap { i in (i + 1..<idx.count).map { j in
                "\(names[i])–\(names[j]) \(formatted(c[idx[i]][idx[j]], 3))" } }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}
