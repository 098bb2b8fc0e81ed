import ArgumentParser
import EFTHF
import Foundation
import Plots

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

        @OptionGroup var interpolation: InterpolationOptions

        @Option(name: .customLong("par"), help: ArgumentHelp("A parameter to scan: n values from lo to hi. Give once (1D) or twice (2D).", valueName: "name=lo:hi:n"))
        var par: [String] = []

        /// The `--par` axes (``GridAxis/init(parsing:)``; `validate()` has reported bad ones).
        var axes: [GridAxis] { (try? parsedAxes()) ?? [] }

        func parsedAxes() throws(HistFactoryError) -> [GridAxis] {
            try par.map { text throws(HistFactoryError) in try GridAxis(parsing: text) }
        }

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

        @Option(help: ArgumentHelp("1D grid: split the line into this many runs of warm-started fits (default: one per core). Fixed, the result is the same on every machine, and the same as a plan of as many shards.", valueName: "n"))
        var runs: Int?

        var task: ScanTask {
            get throws {
                ScanTask(axes: axes, fix: try fix.map { text throws(HistFactoryError) in try ParameterValues(parsing: text) } ?? ParameterValues(),
                         adaptive: adaptive, tolerance: tolerance, maxPoints: maxPoints, runs: runs)
            }
        }

        /// The options' grammar in their own words; then the task's rules (``ScanTask/validate()``).
        func validate() throws {
            do { _ = try parsedAxes() } catch { throw ValidationError("--par name=lo:hi:n: \(error.message)") }
            guard (1...2).contains(axes.count) else { throw ValidationError("give --par once (1D scan) or twice (2D scan), not \(axes.count) times") }
            if axes.count == 2 && axes[0].name == axes[1].name { throw ValidationError("the two --par options name the same parameter \(axes[0].name)") }
            if adaptive && axes.count == 2 { throw ValidationError("--adaptive refines 1D scans only: give --par once, or drop --adaptive for a 2D grid") }
            if !adaptive && (tolerance != nil || maxPoints != 200) { throw ValidationError("--tolerance and --max-points need --adaptive") }
            if let tolerance, !(tolerance > 0 && tolerance.isFinite) { throw ValidationError("--tolerance must be positive, not \(tolerance)") }
            if runs != nil && (adaptive || axes.count != 1) { throw ValidationError("--runs is for 1D grid scans (one --par, without --adaptive)") }
            if adaptive && axes[0].count < 3 { throw ValidationError("--adaptive needs a coarse grid of at least 3 points (name=lo:hi:n with n ≥ 3)") }
            if adaptive && maxPoints < axes[0].count { throw ValidationError("--max-points (\(maxPoints)) is below the coarse grid's \(axes[0].count) points") }
            do { try task.validate() } catch let error as HistFactoryError { throw ValidationError(error.message) }
        }

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let task = try self.task
                let label = adaptive ? "adaptive scan \(axes[0].name) (\(axes[0].count) coarse points, at most \(maxPoints))"
                    : "scan \(axes.map(\.name).joined(separator: " × ")) (\(task.pointCount) points)"
                let report = try Progress.run(label, total: task.pointCount, quiet: json) { progress in try task.run(on: loaded, progress: progress.callback) }
                if let scan = report.scan1D {
                    if !json { Self.printTable(scan, adaptive: report.profile?.adaptive) }
                    if let plot { try writeAtomically(Plot.scan(scan), to: plot) }
                } else if let scan = report.scan2D {
                    if !json { Self.printTable(scan) }
                    if let plot { try writeAtomically(Plot.contours(scan, reference: Self.standardModelPoint(scan, model: loaded.model)), to: plot) }
                }
                let document = report.jsonValue.serialized(.pretty)
                if json { print(document) }
                if let output { try writeAtomically(document, to: output) }
            }
        }

        /// The 1D table: best fit, the 68 % and 95 % CL intervals, failed fits.
        static func printTable(_ scan: ProfileScan, adaptive: ScanReport.Profile.Adaptive?) {
            let bestValue = scan.bestFit.parameterNames.firstIndex(of: scan.parameter).map { scan.bestFit.values[$0] } ?? .nan
            let levels: [(String, Double)] = [("68", DeltaTwiceNLL.oneSigma1D), ("95", DeltaTwiceNLL.cl95In1D)]
            // The ends of the region where the profile is known: the grid, or the first and last
            // converged points when fits failed beyond them.
            let finite = zip(scan.values, scan.twiceNLL).filter { $0.1.isFinite }.map(\.0)
            let grid = (finite.first ?? scan.values.first!)...(finite.last ?? scan.values.last!)
            let intervals = { (level: Double) in scan.intervals(level: level) }
            do {
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
            if let adaptive {
                print("  adaptive: \(adaptive.points) points, interval ends located to ±\(formatted(adaptive.tolerance, 3))"
                    + (adaptive.resolved ? "" : " — not all: --max-points ran out first"))
            }
        }

        /// The 2D table: best fit, the extent of the 68 % and 95 % CL contours, failed fits.
        static func printTable(_ scan: ProfileScan2D) {
            let names = scan.bestFit.parameterNames
            let best = scan.parameters.map { p in names.firstIndex(of: p).map { scan.bestFit.values[$0] } ?? .nan }
            let levels: [(String, Double)] = [("68", DeltaTwiceNLL.oneSigma2D), ("95", DeltaTwiceNLL.cl95In2D)]
            do {
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
                if failed > 0 {
                    print("  warning: \(failed) conditional fits failed (2NLL = nan there); contours skip those cells")
                    if let first = scan.failures.first {
                        print("  e.g. at (\(scan.parameters.joined(separator: ", "))) = (\(formatted(scan.xValues[first.x])), \(formatted(scan.yValues[first.y]))): \(first.reason)")
                        print("  (every failed point and its reason: the report's \"failures\", efthf scan --json or --output)")
                    }
                }
                if let seconds = scan.fitCPUSeconds {
                    print("  \(scan.xValues.count * scan.yValues.count) conditional fits: \(formatted(seconds, 3)) s CPU in the fits")
                }
            }
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
