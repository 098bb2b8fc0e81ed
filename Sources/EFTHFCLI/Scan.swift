import ArgumentParser
import EFTHF
import Foundation
import Plots

/// One scanned axis: `NAME=lo:hi:n`, n evenly spaced values from lo to hi inclusive.
struct ScanAxis: ExpressibleByArgument, Equatable {
    let name: String
    let lower: Double
    let upper: Double
    let count: Int

    init?(argument: String) {
        guard let eq = argument.lastIndex(of: "=") else { return nil }
        let parts = argument[argument.index(after: eq)...].split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let lo = Double(parts[0]), let hi = Double(parts[1]), let n = Int(parts[2]),
            lo.isFinite, hi.isFinite, lo < hi, n >= 2
        else { return nil }
        name = String(argument[..<eq])
        guard !name.isEmpty else { return nil }
        lower = lo
        upper = hi
        count = n
    }

    var values: [Double] { (0..<count).map { lower + (upper - lower) * Double($0) / Double(count - 1) } }

    static var defaultValueDescription: String { "name=lo:hi:n" }
}

extension EFTHFCommand {
    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "1D or 2D profile-likelihood scan on a grid: best fit, intervals or contours.",
            discussion: """
                Every other free parameter is profiled at each grid point; the points run on all cores. \
                One --par gives a 1D scan with the 68% and 95% CL intervals (Δ2NLL = 1 and 3.84); two give \
                a 2D scan with the 68% and 95% CL contours (Δ2NLL = 2.30 and 5.99). Intervals that touch the \
                end of the grid are marked open: widen the grid to close them. With --adaptive (1D only) the \
                n grid points are a coarse start: points are added where Δ2NLL crosses 1 and 3.84 and where the \
                curve is not smooth, until each interval end is located to --tolerance.
                """
        )

        @OptionGroup var model: ModelOptions

        @Option(name: .customLong("par"), help: ArgumentHelp("A parameter to scan: n values from lo to hi. Give once (1D) or twice (2D).", valueName: "name=lo:hi:n"))
        var axes: [ScanAxis] = []

        @Option(help: ArgumentHelp("Fix parameters at values during the scan, e.g. cHW=0,mu=1.", valueName: "name=value,..."))
        var fix: String?

        @Option(help: ArgumentHelp("Write the scan (grid, 2NLL, intervals or contours) as JSON to this file.", valueName: "file.json"))
        var output: String?

        @Option(help: ArgumentHelp("Draw the scan (Δ2NLL curve or contours) as SVG to this file.", valueName: "file.svg"))
        var plot: String?

        @Flag(help: "Print the result as JSON instead of a table.")
        var json = false

        @Flag(help: "1D only: refine the coarse grid of --par around the 68% and 95% CL interval ends and where the curve is not smooth.")
        var adaptive = false

        @Option(help: ArgumentHelp("With --adaptive: the accuracy of the interval ends (default: 1/1000 of the range or 1/100 of the σ at the best fit, the smaller).", valueName: "dx"))
        var tolerance: Double?

        @Option(help: ArgumentHelp("With --adaptive: at most this many conditional fits in all.", valueName: "n"))
        var maxPoints: Int = 200

        func validate() throws {
            guard (1...2).contains(axes.count) else { throw ValidationError("give --par once (1D scan) or twice (2D scan), not \(axes.count) times") }
            if axes.count == 2 && axes[0].name == axes[1].name { throw ValidationError("the two --par options name the same parameter \(axes[0].name)") }
            if adaptive && axes.count == 2 { throw ValidationError("--adaptive refines 1D scans only: give --par once, or drop --adaptive for a 2D grid") }
            if !adaptive && (tolerance != nil || maxPoints != 200) { throw ValidationError("--tolerance and --max-points need --adaptive") }
            if let tolerance, !(tolerance > 0 && tolerance.isFinite) { throw ValidationError("--tolerance must be positive, not \(tolerance)") }
            if adaptive && axes.count == 1 && axes[0].count < 3 { throw ValidationError("--adaptive needs a coarse grid of at least 3 points (name=lo:hi:n with n ≥ 3)") }
            if adaptive && axes.count == 1 && maxPoints < axes[0].count { throw ValidationError("--max-points (\(maxPoints)) is below the coarse grid's \(axes[0].count) points") }
        }

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model)
                var options = FitOptions()
                if let fix { try FixedParameters.apply(fix, to: &options, model: loaded.model) }
                for axis in axes { _ = try loaded.model.parameterIndex(named: axis.name) }
                let result: JSON
                if axes.count == 1 && adaptive {
                    let adaptive = try Self.scanAdaptive(loaded, axes[0], options: options, tolerance: tolerance, maxPoints: maxPoints)
                    result = Self.report(adaptive, printTable: !json)
                    if let plot { try writeAtomically(Plot.scan(adaptive.scan), to: plot) }
                } else if axes.count == 1 {
                    let scan = try Self.scan1D(loaded, axes[0], options: options)
                    result = Self.report(scan, printTable: !json)
                    if let plot { try writeAtomically(Plot.scan(scan), to: plot) }
                } else {
                    let scan = try Self.scan2D(loaded, axes[0], axes[1], options: options)
                    result = Self.report(scan, model: loaded.model, printTable: !json)
                    if let plot { try writeAtomically(Plot.contours(scan, reference: Self.standardModelPoint(scan, model: loaded.model)), to: plot) }
                }
                if json { print(result.serialized(.pretty)) }
                if let output { try writeAtomically(result.serialized(.pretty), to: output) }
            }
        }

        /// The progress shown is a bar with done/total and ETA on a terminal, lines about every 10 % in a pipe.
        static func scan1D(_ loaded: LoadedModel, _ axis: ScanAxis, options: FitOptions) throws -> ProfileScan {
            try Progress.run("scan \(axis.name) (\(axis.count) points)", total: axis.count) { progress in
                try loaded.model.profileScan(axis.name, values: axis.values, data: loaded.data, options: options, progress: progress.callback)
            }
        }

        static func scan2D(_ loaded: LoadedModel, _ x: ScanAxis, _ y: ScanAxis, options: FitOptions) throws -> ProfileScan2D {
            try Progress.run("scan \(x.name) × \(y.name) (\(x.count * y.count) points)", total: x.count * y.count) { progress in
                try loaded.model.profileScan(x.name, values: x.values, y.name, values: y.values, data: loaded.data, options: options, progress: progress.callback)
            }
        }

        /// The total of the progress display grows as refinement points are planned.
        static func scanAdaptive(_ loaded: LoadedModel, _ axis: ScanAxis, options: FitOptions, tolerance: Double?, maxPoints: Int) throws -> AdaptiveProfileScan {
            try Progress.run("adaptive scan \(axis.name) (\(axis.count) coarse points, at most \(maxPoints))", total: axis.count) { progress in
                try loaded.model.profileScanAdaptive(
                    parameter: axis.name, range: axis.lower...axis.upper, data: loaded.data, options: options, tolerance: tolerance,
                    initialPoints: axis.count, maxPoints: maxPoints, progress: progress.callback)
            }
        }

        /// The 1D report of the union of points, with the adaptive settings and whether every end was resolved.
        static func report(_ adaptive: AdaptiveProfileScan, printTable: Bool) -> JSON {
            let base = report(adaptive.scan, printTable: printTable)
            if printTable {
                print("  adaptive: \(adaptive.scan.values.count) points, interval ends located to ±\(formatted(adaptive.tolerance, 3))"
                    + (adaptive.isResolved ? "" : " — not all: --max-points ran out first"))
            }
            guard case .object(var out) = base else { return base }
            out["adaptive"] = .object(JSONObject([
                ("tolerance", .number(adaptive.tolerance)), ("points", .integer(Int64(adaptive.scan.values.count))), ("resolved", .bool(adaptive.isResolved)),
            ]))
            return .object(out)
        }

        static func report(_ scan: ProfileScan, printTable: Bool) -> JSON {
            let bestValue = scan.bestFit.parameterNames.firstIndex(of: scan.parameter).map { scan.bestFit.values[$0] } ?? .nan
            let levels: [(String, Double)] = [("68", DeltaTwiceNLL.oneSigma1D), ("95", DeltaTwiceNLL.cl95In1D)]
            // The ends of the region where the profile is known: the grid, or the first and last
            // converged points when fits failed beyond them.
            let finite = zip(scan.values, scan.twiceNLL).filter { $0.1.isFinite }.map(\.0)
            let grid = (finite.first ?? scan.values.first!)...(finite.last ?? scan.values.last!)
            let intervals = { (level: Double) in scan.intervals(level: level) }
            if printTable {
                print("Profile-likelihood scan of \(scan.parameter): \(scan.values.count) points in [\(formatted(scan.values.first!)), \(formatted(scan.values.last!))]")
                print("  best fit  \(scan.parameter) = \(formatted(bestValue))   2NLL = \(formatted(scan.bestFit.twiceNLL, 12))   (\(scan.bestFit.status))")
                for (name, level) in levels {
                    let ranges = intervals(level).map { r in
                        "[\(r.lowerBound == grid.lowerBound ? "<" : "")\(formatted(r.lowerBound, 4)), \(r.upperBound == grid.upperBound ? ">" : "")\(formatted(r.upperBound, 4))]"
                    }
                    print("  \(name)% CL (Δ2NLL < \(formatted(level, 3)))  " + (ranges.isEmpty ? "none on the grid" : ranges.joined(separator: " ∪ ")))
                }
                let failed = scan.statuses.filter { !$0.isConverged }.count
                if failed > 0 { print("  warning: \(failed) of \(scan.values.count) conditional fits failed; intervals use the converged points only") }
                print("  (< or > marks an interval end at the edge of the grid or of the converged points: the true end lies beyond)")
            }
            var out = JSONObject()
            out["parameter"] = .string(scan.parameter)
            out["best_fit"] = .number(bestValue)
            out["twice_nll_min"] = .number(scan.minimumTwiceNLL)
            out["fit_status"] = .string(scan.bestFit.status.description)
            out["values"] = .numbers(scan.values)
            out["twice_nll"] = .numbers(scan.twiceNLL)
            out["delta_twice_nll"] = .numbers(scan.deltaTwiceNLL)
            out["converged"] = .array(scan.statuses.map { .bool($0.isConverged) })
            out["intervals"] = .object(JSONObject(levels.map { name, level in
                (name, .array(intervals(level).map { .numbers([$0.lowerBound, $0.upperBound]) }))
            }))
            return .object(out)
        }

        static func report(_ scan: ProfileScan2D, model: HistFactoryModel, printTable: Bool) -> JSON {
            let names = scan.bestFit.parameterNames
            let best = scan.parameters.map { p in names.firstIndex(of: p).map { scan.bestFit.values[$0] } ?? .nan }
            let levels: [(String, Double)] = [("68", DeltaTwiceNLL.oneSigma2D), ("95", DeltaTwiceNLL.cl95In2D)]
            if printTable {
                print("Profile-likelihood scan of (\(scan.parameters[0]), \(scan.parameters[1])): \(scan.xValues.count) × \(scan.yValues.count) points")
                print("  best fit  \(scan.parameters[0]) = \(formatted(best[0])), \(scan.parameters[1]) = \(formatted(best[1]))   2NLL = \(formatted(scan.bestFit.twiceNLL, 12))   (\(scan.bestFit.status))")
                for (name, level) in levels {
                    let segments = scan.contour(level: level)
                    let points = segments.flatMap { [$0.start, $0.end] }
                    if points.isEmpty {
                        print("  \(name)% CL contour (Δ2NLL = \(formatted(level, 3))): not on the grid (the region is larger or smaller than the grid)")
                    } else {
                        let xs = points.map(\.x), ys = points.map(\.y)
                        print("  \(name)% CL contour (Δ2NLL = \(formatted(level, 3))): \(segments.count) segments, \(scan.parameters[0]) in [\(formatted(xs.min()!, 4)), \(formatted(xs.max()!, 4))], \(scan.parameters[1]) in [\(formatted(ys.min()!, 4)), \(formatted(ys.max()!, 4))]")
                    }
                }
                let failed = scan.twiceNLL.joined().filter(\.isNaN).count
                if failed > 0 { print("  warning: \(failed) conditional fits failed (2NLL = nan there); contours skip those cells") }
            }
            var out = JSONObject()
            out["parameters"] = .array(scan.parameters.map { .string($0) })
            out["best_fit"] = .numbers(best)
            out["twice_nll_min"] = .number(scan.minimumTwiceNLL)
            out["fit_status"] = .string(scan.bestFit.status.description)
            out["x_values"] = .numbers(scan.xValues)
            out["y_values"] = .numbers(scan.yValues)
            out["twice_nll"] = .array(scan.twiceNLL.map { .numbers($0) })
            out["contours"] = .object(JSONObject(levels.map { name, level in
                (name, .array(scan.contour(level: level).map { .numbers([$0.start.x, $0.start.y, $0.end.x, $0.end.y]) }))
            }))
            return .object(out)
        }

        /// The Standard Model point (both coefficients 0) when both scanned parameters are Wilson
        /// coefficients and 0 lies on the grid.
        static func standardModelPoint(_ scan: ProfileScan2D, model: HistFactoryModel) -> (point: SIMD2<Double>, label: String)? {
            let coefficients = Set(model.parameterSets.filter { $0.modifierKinds.contains(.morphing) }.map(\.name))
            guard scan.parameters.allSatisfy(coefficients.contains),
                (scan.xValues.min()!...scan.xValues.max()!).contains(0), (scan.yValues.min()!...scan.yValues.max()!).contains(0)
            else { return nil }
            return (SIMD2(0, 0), "Standard Model")
        }
    }
}

/// `--fix name=value,...` applied to fit options: values set and the parameters held.
enum FixedParameters {
    static func apply(_ text: String, to options: inout FitOptions, model: HistFactoryModel) throws(HistFactoryError) {
        var point = options.initialValues ?? model.suggestedInits
        var fixed = options.fixed ?? model.suggestedFixed
        for item in text.split(separator: ",") {
            let name = String(item.split(separator: "=").first ?? "").trimmingCharacters(in: .whitespaces)
            try ParameterAssignment.apply(text: String(item), to: &point, model: model)
            if let set = model.parameterSet(named: name) {
                for i in set.indices { fixed[i] = true }
            } else {
                fixed[try model.parameterIndex(named: name)] = true
            }
        }
        options.initialValues = point
        options.fixed = fixed
    }
}

