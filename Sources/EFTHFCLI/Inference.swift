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

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = FitTask(ops: ops.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
                                   fix: try fix.map { text throws(HistFactoryError) in try ParameterValues(parsing: text) } ?? ParameterValues())
                let report = try task.run(on: loaded)
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

        func run() throws {
            guard ["qtilde", "q"].contains(testStat) else { throw ValidationError("--test-stat must be qtilde or q, not \(testStat)") }
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let r = try HypotestTask(poiValue: poiValue, testStatistic: testStat).run(on: loaded)
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

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let r = try LimitTask(level: level).run(on: loaded)
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

    /// Wilson coefficients: best fit, ±1σ and 95% CL profile-likelihood intervals (null end: the
    /// profile stays below the level up to the bound), and their correlations.
    static func intervalTable(_ intervals: NamedValues<EFTHF.FitReport.Interval>, result: FitResult) -> String {
        func end(_ x: Double?, _ bound: String) -> String { x.map { formatted($0, 4) } ?? bound }
        let width = max(11, intervals.names.map(\.count).max() ?? 0)
        var lines = ["", "profile likelihood (Δ2NLL = 1 and 3.84):",
                     "coefficient".padding(toLength: width, withPad: " ", startingAt: 0) + "     best fit          ±1σ interval            95% CL interval"]
        for entry in intervals.entries {
            let one = entry.value.oneSigma, cl95 = entry.value.cl95
            let a = "[\(end(one[0], "bound")), \(end(one[1], "bound"))]"
            let b = "[\(end(cl95[0], "bound")), \(end(cl95[1], "bound"))]"
            lines.append(entry.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %12.5g", entry.value.bestFit)
                         + "   " + a.padding(toLength: 22, withPad: " ", startingAt: 0) + "   " + b)
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
