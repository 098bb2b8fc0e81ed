import ArgumentParser
import EFTHF
import Foundation
import Plots

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

        @Option(help: ArgumentHelp("Remove modifiers and their parameters before the fit (as pyhf prune), e.g. alpha_JES,staterror_SR; repeatable.", valueName: "modifier,..."))
        var exclude: [String] = []

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Also write the result as JSON to this file (written atomically).", valueName: "file.json"))
        var output: String?

        @Option(help: ArgumentHelp("Write SVG plots (pre-/post-fit yields per channel with uncertainty bands and data/prediction ratio, pulls, correlation matrix, morphed signal at several coefficient points) into this directory.", valueName: "dir"))
        var plots: String?

        @Flag(help: "With --plots: logarithmic y axes on the yields plots.")
        var logY = false

        @OptionGroup var search: MultiStartOptions

        func validate() throws {
            if logY && plots == nil { throw ValidationError("--log-y draws the yields plots of --plots: give --plots DIR") }
        }

        func run() throws {
            try reportingErrors {
                let task = FitTask(ops: ops.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                                   fix: try fix.map { text throws(HistFactoryError) in try ParameterValues(parsing: text) } ?? ParameterValues(),
                                   multistart: search.multistart, maxStarts: search.maxStarts,
                                   exclude: exclude.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
                // The model without the excluded modifiers, built once for the fit and its plots.
                let fitted = try task.model(for: try LoadedModel(model, interpolation))
                let stages = task.ops == nil ? 1 : 2
                let report = try Progress.run(task.ops == nil ? "fit" : "fit and profile intervals", total: stages, quiet: json) { progress in
                    try task.run(onExcluded: fitted, progress: progress.callback)
                }
                let result = report.fit!
                if let plots { try FitPlots.write(result, loaded: fitted, logY: logY, to: plots) }
                let document = report.jsonValue.serialized(.pretty)
                if let output { try writeAtomically(document, to: output) }
                if json {
                    print(document)
                } else {
                    print(FitTable.table(result))
                    if let intervals = report.profileIntervals { print(FitTable.intervalTable(intervals, result: result)) }
                    if let reason = report.profileIntervalsError { print("\nprofile likelihood intervals: not computed (\(reason))") }
                    if let g = report.goodnessOfFit { print(FitTable.goodnessOfFit(g)) }
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

        @Option(parsing: .unconditional, help: "The POI value to test (may be negative: --poi-value -0.5).")
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

        @Option(parsing: .unconditional, help: ArgumentHelp("Test n POI values from lo to hi and interpolate the limits between them (pyhf's linear grid scan) instead of finding the roots.", valueName: "lo:hi:n"))
        var scan: String?

        @Option(help: ArgumentHelp("Draw the CLs scan as SVG (Brazil plot: observed CLs, expected ±1σ and ±2σ bands, the level, the limits). Without --scan, 41 POI values from 0 to 1.25 × the largest limit are tested after the roots are found.", valueName: "file.svg"))
        var plot: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        @OptionGroup var search: MultiStartOptions

        @OptionGroup var grid: LimitGridOptions

        /// The `--scan` values (``GridAxis``'s rule; `validate()` has reported a bad one).
        func scanValues() throws(HistFactoryError) -> [Double]? {
            try scan.map { text throws(HistFactoryError) in try GridAxis(parsing: "poi=" + text).values }
        }

        func validate() throws {
            if grid.patchset != nil && (scan != nil || plot != nil) {
                throw ValidationError("--scan and --plot are for one model's limit, not for a grid of patches (--patchset)")
            }
            do { _ = try scanValues() } catch {
                throw ValidationError("--scan \(scan ?? ""): " + error.message.replacingOccurrences(of: "name=", with: "").replacingOccurrences(of: "poi: ", with: "")
                    .replacingOccurrences(of: "\"poi=", with: "\""))
            }
            if let n = try? scanValues()?.count, n > LimitTask.maximumScanPoints {
                throw ValidationError("--scan has \(n) POI values; the limit is \(LimitTask.maximumScanPoints)")
            }
        }

        func run() throws {
            try reportingErrors {
                if var task = try grid.task {
                    task.level = level
                    task.multistart = search.multistart
                    task.maxStarts = search.maxStarts
                    let workspace = try model.loadWorkspace()
                    // The task reads the patch set and reports the number of patches as the total.
                    let report = try Progress.run("limit grid (patches)", quiet: json) { progress in
                        try task.run(backgroundOnly: workspace, measurement: model.measurement, interpolation: interpolation.interpolation, progress: progress.callback)
                    }
                    if json { print(report.jsonValue.serialized(.pretty)) } else { Self.printTable(report) }
                    return
                }
                let loaded = try LoadedModel(model, interpolation)
                let values = try scanValues()
                let task = LimitTask(level: level, scan: values, bandPoints: plot != nil && values == nil ? 41 : nil,
                                     multistart: search.multistart, maxStarts: search.maxStarts)
                let r = try Progress.run("upper limit", quiet: json) { _ in try task.run(on: loaded) }
                if let plot, let points = r.scan {
                    try writeAtomically(Plot.brazil(points.map { CLsPoint(poi: $0.poiValue, observed: $0.clsObserved, expected: $0.clsExpected) },
                                                    poi: r.poi, level: level, observedLimit: r.observed, expectedLimits: r.expected), to: plot)
                }
                if json {
                    print(r.jsonValue.serialized(.pretty))
                } else {
                    print("Upper limit on \(r.poi.isEmpty ? "?" : r.poi) at CLs = \(formatted(level)) (\(formatted(100 * (1 - level), 3))% CL)")
                    print("  observed  \(formatted(r.observed))")
                    print("  expected  " + zip(["-2σ", "-1σ", "median", "+1σ", "+2σ"], r.expected).map { "\($0) \(formatted($1))" }.joined(separator: "   "))
                }
            }
        }

        /// The limit grid as a table: per patch its labels, CLs at the POI value (observed,
        /// expected median), whether it is excluded, and the upper limits.
        static func printTable(_ r: LimitGridReport) {
            let cl = formatted(100 * (1 - r.level), 3)
            print("CLs at POI = \(formatted(r.poiValue)) and \(cl)% CL upper limits on the POI for \(r.rows.count) patches (\(r.testStatistic))")
            let nameWidth = max(5, r.rows.map(\.patch.count).max() ?? 0)
            let labels = r.labels.map { $0.count < 10 ? $0.padding(toLength: 10, withPad: " ", startingAt: 0) : $0 }
            print("patch".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + labels.joined(separator: " ")
                  + "   CLs obs    CLs exp   excluded   limit obs  limit exp (-1σ, median, +1σ)")
            for row in r.rows {
                var line = row.patch.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                line += zip(row.values, labels).map { value, label in
                    (value.doubleValue.map { formatted($0) } ?? value.stringValue ?? value.serialized()).padding(toLength: label.count, withPad: " ", startingAt: 0)
                }.joined(separator: " ")
                func cell(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
                if let obs = row.clsObserved, let exp = row.clsExpected {
                    line += "   " + cell(formatted(obs, 4), 9) + "  " + cell(formatted(exp[2], 4), 9) + "  " + cell(obs < r.level ? "yes" : "no", 8)
                }
                if let limit = row.limitObserved, let band = row.limitExpected {
                    line += "   " + cell(formatted(limit, 4), 9) + "  " + [band[1], band[2], band[3]].map { formatted($0, 4) }.joined(separator: ", ")
                }
                if let error = row.error { line += "   failed: \(error)" }
                print(line)
            }
            let excluded = r.rows.filter { $0.excluded(level: r.level) == true }.count
            let failed = r.rows.filter { $0.error != nil }.count
            print("\(excluded) of \(r.rows.count) patches excluded at \(cl)% CL (CLs < \(formatted(r.level)))" + (failed > 0 ? "; \(failed) with a failure (the reason on its row)" : ""))
        }
    }
}

/// The options of `efthf limit` and `efthf plan limit-grid` for a grid of signal hypotheses.
struct LimitGridOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A pyhf patch set of signal hypotheses for the (background-only) workspace: test every patch (CLs at --poi-value and the upper limit).", valueName: "patchset.json"))
    var patchset: String?

    @Option(help: ArgumentHelp("With --patchset: only these patches, in this order.", valueName: "name,..."))
    var patches: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --patchset: the POI value of each patch's hypotest.", valueName: "value"))
    var poiValue: Double = 1

    func validate() throws {
        if patchset == nil && (patches != nil || poiValue != 1) { throw ValidationError("--patches and --poi-value need --patchset") }
        guard poiValue.isFinite else { throw ValidationError("--poi-value must be finite, not \(poiValue)") }
    }

    /// The grid's task, nil without --patchset.
    var task: LimitGridTask? {
        get throws {
            guard let patchset else { return nil }
            let names = patches.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
            if let names, names.contains(where: \.isEmpty) { throw ValidationError("--patches takes names separated by commas, not \"\(patches!)\"") }
            return LimitGridTask(patchSet: patchset, patches: names, poiValue: poiValue)
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

    /// The saturated-model goodness of fit in one line.
    static func goodnessOfFit(_ g: GoodnessOfFit) -> String {
        "\ngoodness of fit (saturated model): −2 ln λ = \(formatted(g.twiceDeltaNLL, 6)), ndf = \(g.degreesOfFreedom), p = "
            + (g.pValue.isNaN ? "n/a (ndf < 1)" : formatted(g.pValue, 4))
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
