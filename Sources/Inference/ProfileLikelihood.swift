import Foundation
import HistFactory

/// Standard Δ(2NLL) thresholds of profile-likelihood intervals and contours (Wilks' theorem:
/// Δ(2NLL) is asymptotically χ² with as many degrees of freedom as scanned parameters).
public enum DeltaTwiceNLL {
    /// 68.27 % (1σ) for one parameter: χ²₁ quantile 1.
    public static let oneSigma1D = 1.0
    /// 95 % for one parameter: χ²₁ quantile 3.8415.
    public static let cl95In1D = 3.841458820694124
    /// 68.27 % for two parameters: χ²₂ quantile −2 ln(1 − 0.6827) = 2.2958.
    public static let oneSigma2D = 2.295748928898636
    /// 95 % for two parameters: χ²₂ quantile −2 ln 0.05 = 5.9915.
    public static let cl95In2D = 5.991464547107979
}

/// A MINOS-like profile-likelihood interval of one parameter: where
/// `2NLL(θ_p, θ̂̂) − 2NLL(θ̂) = level`, found by root finding on the profile
/// (``DifferentiableLikelihood/profileIntervals(_:data:levels:options:bestFit:)``).
public struct ProfileInterval: Sendable, Equatable {
    public let parameter: String
    public let bestFit: Double
    public let level: Double
    /// nil when the profile stays below `level` down to the lower bound, or the search failed
    /// (``lowerFailure``).
    public let lower: Double?
    /// nil when the profile stays below `level` up to the upper bound, or the search failed
    /// (``upperFailure``).
    public let upper: Double?
    /// Why the lower end could not be found: a conditional fit that failed.
    public var lowerFailure: String? = nil
    /// Why the upper end could not be found.
    public var upperFailure: String? = nil
    /// Likelihood evaluations of the conditional fits its search made (with several levels, the
    /// fits of a lower level's search that a higher one reuses count for the lower one).
    public var evaluations = 0
    /// A conditional fit below the best fit's 2NLL (by more than 10⁻⁶): the best fit was not the
    /// global minimum, and this point (all parameters) is a start that leads lower.
    public var lowerPoint: [Double]? = nil

    public init(parameter: String, bestFit: Double, level: Double, lower: Double?, upper: Double?) {
        self.parameter = parameter
        self.bestFit = bestFit
        self.level = level
        self.lower = lower
        self.upper = upper
    }
}

/// A 1D profile-likelihood scan: the conditional fit at each value of one parameter.
public struct ProfileScan: Sendable {
    public let parameter: String
    public let values: [Double]
    /// 2NLL of the fit with the parameter held at each value.
    public let twiceNLL: [Double]
    public let statuses: [FitStatus]
    public let bestFit: FitResult

    public init(parameter: String, values: [Double], twiceNLL: [Double], statuses: [FitStatus], bestFit: FitResult) {
        self.parameter = parameter
        self.values = values
        self.twiceNLL = twiceNLL
        self.statuses = statuses
        self.bestFit = bestFit
    }

    /// How a line of `pointCount` points is split into `count` runs of warm-started fits:
    /// ⌈pointCount / count⌉ points per run, the last shorter; empty runs are left out (fewer
    /// runs than `count` when `count` does not divide evenly into the points).
    public static func runs(pointCount: Int, count: Int) -> [Range<Int>] {
        let count = min(pointCount, max(count, 1))
        guard count > 0 else { return [] }
        let perRun = (pointCount + count - 1) / count
        return stride(from: 0, to: pointCount, by: perRun).map { $0..<min($0 + perRun, pointCount) }
    }

    /// The minimum of 2NLL over the unconditional fit and the scan.
    public var minimumTwiceNLL: Double { min(bestFit.twiceNLL, twiceNLL.min() ?? .infinity) }

    /// Δ(2NLL) relative to ``minimumTwiceNLL``.
    public var deltaTwiceNLL: [Double] { twiceNLL.map { $0 - minimumTwiceNLL } }

    /// The ranges where Δ(2NLL) ≤ `level`, crossings by linear interpolation between grid points
    /// (several ranges when the profile has several minima). A range touching the end of the grid
    /// is open there: its true end is beyond the scan.
    public func intervals(level: Double = DeltaTwiceNLL.oneSigma1D) -> [ClosedRange<Double>] {
        crossings(values, deltaTwiceNLL, level: level)
    }
}

/// A 2D profile-likelihood scan on a grid; `twiceNLL[i][j]` is at (xValues[i], yValues[j]).
public struct ProfileScan2D: Sendable {
    public let parameters: [String]
    public let xValues: [Double]
    public let yValues: [Double]
    public let twiceNLL: [[Double]]
    public let bestFit: FitResult
    /// The points whose conditional fit failed (2NLL NaN there), with the minimiser's reason.
    public let failures: [Failure]
    /// The CPU time of the conditional fits, summed over threads (each fit timed by its thread's
    /// CPU clock); nil when not measured. A measurement for benchmarks, not part of the result.
    public var fitCPUSeconds: Double? = nil

    /// A failed conditional fit of a 2D scan: grid indices `[x][y]` and why it failed.
    public struct Failure: Sendable, Equatable {
        public let x: Int
        public let y: Int
        public let reason: String

        public init(x: Int, y: Int, reason: String) {
            self.x = x
            self.y = y
            self.reason = reason
        }
    }

    public init(parameters: [String], xValues: [Double], yValues: [Double], twiceNLL: [[Double]], bestFit: FitResult, failures: [Failure] = []) {
        self.parameters = parameters
        self.xValues = xValues
        self.yValues = yValues
        self.twiceNLL = twiceNLL
        self.bestFit = bestFit
        self.failures = failures
    }

    /// The scan from its conditional fits, `fits[x][y]`: 2NLL where a fit converged, NaN and the
    /// reason where it failed.
    public init(parameters: [String], xValues: [Double], yValues: [Double], fits: [[(twiceNLL: Double, status: FitStatus)]], bestFit: FitResult) {
        var failures: [Failure] = []
        for (i, row) in fits.enumerated() {
            for (j, fit) in row.enumerated() {
                if case .failed(let reason) = fit.status { failures.append(Failure(x: i, y: j, reason: reason)) }
            }
        }
        self.init(parameters: parameters, xValues: xValues, yValues: yValues,
                  twiceNLL: fits.map { $0.map { $0.status.isConverged ? $0.twiceNLL : .nan } }, bestFit: bestFit, failures: failures)
    }

    public var minimumTwiceNLL: Double { min(bestFit.twiceNLL, twiceNLL.joined().min() ?? .infinity) }

    /// The line segments of the contour Δ(2NLL) = `level` (marching squares with linear
    /// interpolation along cell edges), e.g. at ``DeltaTwiceNLL/oneSigma2D`` and ``DeltaTwiceNLL/cl95In2D``.
    public func contour(level: Double) -> [ContourSegment] {
        let reference = minimumTwiceNLL
        var segments: [ContourSegment] = []
        for i in 0..<(xValues.count - 1) {
            for j in 0..<(yValues.count - 1) {
                // Corners counter-clockwise: (i,j), (i+1,j), (i+1,j+1), (i,j+1).
                let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
                let f = corners.map { twiceNLL[$0.0][$0.1] - reference - level }
                var points: [SIMD2<Double>] = []
                for e in 0..<4 {
                    let (a, b) = (e, (e + 1) % 4)
                    guard (f[a] < 0) != (f[b] < 0) else { continue }
                    let t = f[a] / (f[a] - f[b])
                    let pa = SIMD2(xValues[corners[a].0], yValues[corners[a].1])
                    let pb = SIMD2(xValues[corners[b].0], yValues[corners[b].1])
                    points.append(pa + t * (pb - pa))
                }
                if points.count == 2 {
                    segments.append(ContourSegment(start: points[0], end: points[1]))
                } else if points.count == 4 {
                    // Saddle cell: pair the crossings by the sign at the centre.
                    let centre = f.reduce(0, +) / 4
                    if (centre < 0) == (f[0] < 0) {
                        segments.append(ContourSegment(start: points[0], end: points[3]))
                        segments.append(ContourSegment(start: points[1], end: points[2]))
                    } else {
                        segments.append(ContourSegment(start: points[0], end: points[1]))
                        segments.append(ContourSegment(start: points[2], end: points[3]))
                    }
                }
            }
        }
        return segments
    }
}

/// One straight piece of a contour line, in (x, y) parameter coordinates.
public struct ContourSegment: Sendable, Equatable {
    public let start: SIMD2<Double>
    public let end: SIMD2<Double>
}

extension DifferentiableLikelihood {
    /// The profile-likelihood interval of `name` at Δ(2NLL) = `level` (MINOS-like):
    /// ``profileIntervals(_:data:levels:options:bestFit:)`` with one level.
    ///
    /// - Parameter bestFit: the unconditional fit, if already done (with the same options).
    /// - Throws: ``InferenceError`` when the unconditional fit fails or `name` is unknown or fixed.
    public func profileInterval(
        _ name: String, data: ModelData, level: Double = DeltaTwiceNLL.oneSigma1D,
        options: FitOptions = FitOptions(), bestFit: FitResult? = nil
    ) throws(InferenceError) -> ProfileInterval {
        try profileIntervals(name, data: data, levels: [level], options: options, bestFit: bestFit)[0]
    }

    /// The profile-likelihood intervals of `name` at Δ(2NLL) = each of `levels` (MINOS-like): on
    /// each side of the best fit the root of `√Δ2NLL(θ_p) = √level`, Δ2NLL(θ_p) =
    /// 2NLL(θ_p, θ̂̂(θ_p)) − 2NLL_min, by safeguarded Newton steps (``ProfileEndSearch``) on
    /// conditional fits, with the slope ∂2NLL/∂θ_p at each conditional minimum (envelope theorem),
    /// to 10⁻⁶σ (in practice about 10⁻¹⁰σ). The first fit of a side is at the Hessian estimate
    /// θ̂_p ± σ√level; the levels are searched in increasing order, each from the fits of the
    /// ones before. Each fit starts from the parameters extrapolated linearly through the two
    /// nearest fits made (the best fit among them) with the last fit's curvature, the first one
    /// from the best fit by linear response; one that fails from there is redone from the best fit.
    /// A side whose conditional fit fails has no end and says why (``ProfileInterval/lowerFailure``);
    /// the other side is kept. The two sides run in parallel.
    ///
    /// - Parameter bestFit: the unconditional fit, if already done (with the same options).
    /// - Returns: one interval per level, in the order of `levels`; each counts the evaluations of
    ///   the fits its own search made.
    /// - Throws: ``InferenceError`` when the unconditional fit fails, `name` is unknown or fixed,
    ///   or a level is not positive and finite.
    public func profileIntervals(
        _ name: String, data: ModelData, levels: [Double], options: FitOptions = FitOptions(), bestFit: FitResult? = nil
    ) throws(InferenceError) -> [ProfileInterval] {
        for level in levels where !(level > 0 && level.isFinite) {
            throw InferenceError(.invalidOptions, "a profile-interval level Δ2NLL must be positive and finite, not \(level)")
        }
        let problem = try FitProblem(model: self, data: data, options: options)
        let p = try index(of: name, in: problem)
        let best: FitResult
        if let bestFit { best = bestFit } else { best = try converged(problem.runSearch(), "the unconditional fit") }
        let order = levels.indices.sorted { levels[$0] < levels[$1] }
        let sides = parallelMap(2) { side in
            profileSide(problem, p, best: best, up: side == 1, levels: order.map { levels[$0] })
        }
        var intervals: [ProfileInterval] = []
        for k in levels.indices {
            let rank = order.firstIndex(of: k)!
            let lower = sides[0][rank], upper = sides[1][rank]
            var interval = ProfileInterval(parameter: name, bestFit: best.values[p], level: levels[k], lower: lower.end, upper: upper.end)
            interval.lowerFailure = lower.failure
            interval.upperFailure = upper.failure
            interval.evaluations = lower.evaluations + upper.evaluations
            let lowest = [lower.lowest, upper.lowest].compactMap { $0 }.min { $0.twiceNLL < $1.twiceNLL }
            interval.lowerPoint = lowest?.values
            intervals.append(interval)
        }
        return intervals
    }

    /// One side of ``profileIntervals(_:data:levels:options:bestFit:)``: per level (ascending)
    /// the end, or why there is none, the evaluations of its search and its lowest conditional
    /// fit below the best fit's 2NLL (by more than 10⁻⁶).
    private func profileSide(
        _ problem: FitProblem, _ p: Int, best: FitResult, up: Bool, levels: [Double]
    ) -> [(end: Double?, failure: String?, evaluations: Int, lowest: FitResult?)] {
        let direction = up ? 1.0 : -1.0
        let bestValue = best.values[p]
        let sigma = estimatedSigma(best, p)
        var search = ProfileEndSearch(scale: sigma, limit: up ? problem.upper[p] - bestValue : bestValue - problem.lower[p])
        // The conditional fits made (their parameters) and the last one's curvature.
        var fitted: [(u: Double, values: [Double])] = []
        var lastWarmStart: WarmStart? = nil
        var evaluations = 0
        var lowest: FitResult? = nil
        func value(_ u: Double) -> Double { bestValue + direction * u }
        func evaluate(_ u: Double) throws(InferenceError) -> ProfileEndSearch.Point {
            let t = value(u)
            let conditional = problem.fixing([p: t])
            var fit: FitResult
            if let warm = lastWarmStart, let a = fitted.min(by: { abs($0.u - u) < abs($1.u - u) }) {
                // Linear extrapolation through the two nearest fits (the best fit at u = 0 among them).
                let b = (fitted.filter { $0.u != a.u } + [(u: 0, values: best.values)]).min { abs($0.u - u) < abs($1.u - u) }!
                var start = a.values
                let w = (u - a.u) / (a.u - b.u)
                for i in conditional.freeIndices {
                    start[i] = min(max(a.values[i] + w * (a.values[i] - b.values[i]), problem.lower[i]), problem.upper[i])
                }
                start[p] = t
                fit = conditional.run(from: start, warmStart: WarmStart(indices: warm.indices, inverseHessian: warm.inverseHessian, values: start))
                if !fit.status.isConverged {
                    let retry = conditional.run(from: best.values, warmStart: best.warmStart)
                    let calls = fit.functionCalls + retry.functionCalls
                    fit = retry
                    fit.functionCalls = calls
                }
            } else {
                fit = conditional.run(from: best.values, warmStart: best.warmStart)
            }
            evaluations += fit.functionCalls
            guard fit.status.isConverged else { throw InferenceError(.failedMinimization, "the fit at \(parameterNames[p]) = \(t): \(fit.status)") }
            if fit.twiceNLL < min(best.twiceNLL - 1e-6, lowest?.twiceNLL ?? .infinity) { lowest = fit }
            fitted.append((u, fit.values))
            if let warm = fit.warmStart { lastWarmStart = warm }
            // ∂2NLL/∂θ_p at the minimum: from the minimiser's evaluation there, else one more.
            var slope = fit.fullGradient.count == parameterCount ? fit.fullGradient[p] : .nan
            if !slope.isFinite {
                var gradient = [Double](repeating: 0, count: parameterCount)
                _ = logLikelihoodAndGradient(fit.values, data: problem.data, gradient: &gradient)
                evaluations += 1
                slope = -2 * gradient[p]
            }
            let rho = max(fit.twiceNLL - best.twiceNLL, 0).squareRoot()
            return ProfileEndSearch.Point(u: u, rho: rho, slope: rho > 0 ? direction * slope / (2 * rho) : .nan)
        }
        var results: [(end: Double?, failure: String?, evaluations: Int, lowest: FitResult?)] = []
        for level in levels {
            evaluations = 0
            lowest = nil
            do {
                let u = try search.end(level: level, guess: sigma * level.squareRoot(), evaluate: evaluate)
                results.append((u.map(value), nil, evaluations, lowest))
            } catch {
                results.append((nil, error.message, evaluations, lowest))
            }
        }
        return results
    }

    /// The profile likelihood along `name` at each of `values`: conditional fits, the grid split
    /// into contiguous runs (``ProfileScan/runs(pointCount:count:)``), each run's first fit
    /// warm-started from the unconditional fit and every later one from its converged neighbour.
    ///
    /// The fits converge to a tolerance, so 2NLL at a point depends (within that tolerance) on the
    /// run it belongs to: the same `runs` gives the same doubles on any machine; the default, one
    /// run per core, gives the same doubles on machines with the same number of cores.
    ///
    /// - Parameter runs: the number of runs (default: the number of cores); they run in parallel.
    /// - Parameter progress: called from the worker threads after each conditional fit with the
    ///   number of fits done and `values.count`; calls are serialised and `done` counts up 1…total.
    /// - Complexity: one conditional fit per value, about values.count / cores fits of wall time.
    public func profileScan(
        _ name: String, values: [Double], data: ModelData, options: FitOptions = FitOptions(), runs: Int? = nil,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> ProfileScan {
        if let runs, runs < 1 { throw InferenceError(.invalidOptions, "a scan needs at least one run of fits, not \(runs)") }
        let problem = try FitProblem(model: self, data: data, options: options)
        let p = try index(of: name, in: problem)
        let best = try converged(problem.runSearch(), "the unconditional fit")
        let counter = ProgressCounter(total: values.count, progress)
        let fits = scanLine(problem, best: best, points: values.map { [p: $0] }, runs: runs ?? inferenceConcurrency, counter: counter)
        return ProfileScan(parameter: name, values: values, twiceNLL: fits.map(\.twiceNLL), statuses: fits.map(\.status), bestFit: best)
    }

    /// The profile likelihood on the grid `xValues × yValues` of two parameters, every conditional
    /// fit started from a neighbour's minimum (``conditionalFitRows(_:values:_:values:rows:data:options:threads:progress:)``).
    /// The order is fixed by the grid and the unconditional fit alone, so the result does not
    /// depend on the number of cores or on which thread ran a fit: the same bytes on any machine.
    ///
    /// - Parameter progress: called from the worker threads after each conditional fit with the
    ///   number of fits done and `xValues.count × yValues.count`; calls are serialised.
    /// - Complexity: one conditional fit per grid point (a second one where the first fails),
    ///   about (nx·ny)/cores fits of wall time.
    public func profileScan(
        _ x: String, values xValues: [Double], _ y: String, values yValues: [Double], data: ModelData,
        options: FitOptions = FitOptions(), progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> ProfileScan2D {
        try profileScan(x, values: xValues, y, values: yValues, data: data, options: options, threads: inferenceConcurrency, progress: progress)
    }

    /// ``profileScan(_:values:_:values:data:options:progress:)`` on at most `threads` threads.
    func profileScan(
        _ x: String, values xValues: [Double], _ y: String, values yValues: [Double], data: ModelData,
        options: FitOptions, threads: Int, progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> ProfileScan2D {
        let scan = try conditionalFitRows(x, values: xValues, y, values: yValues, rows: 0..<xValues.count, data: data, options: options,
                                          threads: threads, progress: progress)
        var result = ProfileScan2D(parameters: [x, y], xValues: xValues, yValues: yValues,
                                   fits: scan.rows.map { $0.map { (twiceNLL: $0.twiceNLL, status: $0.status) } }, bestFit: scan.bestFit)
        result.fitCPUSeconds = scan.fitCPUSeconds
        return result
    }

    /// The conditional fits of the rows `rows` (values of x) of a 2D scan on `xValues × yValues`,
    /// as the whole scan makes them, for a scan run piecewise (a shard of a plan holds whole rows).
    ///
    /// The fits form a tree rooted at the seed, the grid point (i₀, j₀) nearest the unconditional
    /// fit (x̂, ŷ), which starts from that fit:
    /// ```
    /// (i, j₀) ← (i ∓ 1, j₀)   the seed's column, outward from i₀ along x
    /// (i, j)  ← (i, j ∓ 1)    every row, outward from the column along y
    /// ```
    /// Each fit starts from the minimum of the nearest converged point back along its branch (its
    /// neighbour unless that one failed); a fit that fails from there is redone from the
    /// unconditional fit, and the lower converged minimum is kept. A branch is a run of
    /// neighbouring points, so each fit starts a grid step away from a minimum: the column's two
    /// halves in parallel, then the 2·nx half-rows spread over the threads. Every start is fixed
    /// by the tree, not by which thread ran first, so the fits do not depend on the thread count;
    /// a piece recomputes the column points between i₀ and its rows (at most nx extra fits).
    ///
    /// - Parameter threads: at most this many threads (default: one per core).
    /// - Returns: the unconditional fit; per row in `rows` the fits at (x_i, y_j), j = 0..<ny; the
    ///   CPU time the conditional fits took (threads' CPU clocks, summed; a measurement, not part
    ///   of the result).
    /// - Complexity: ny·rows.count conditional fits plus those of the column between i₀ and the rows.
    public func conditionalFitRows(
        _ x: String, values xValues: [Double], _ y: String, values yValues: [Double], rows: Range<Int>, data: ModelData,
        options: FitOptions = FitOptions(), threads: Int? = nil,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> (bestFit: FitResult, rows: [[FitResult]], fitCPUSeconds: Double) {
        let threads = threads ?? inferenceConcurrency
        guard !xValues.isEmpty, !yValues.isEmpty, rows.lowerBound >= 0, rows.upperBound <= xValues.count, !rows.isEmpty else {
            throw InferenceError(.invalidOptions, "the rows \(rows) are not within the grid's \(xValues.count) × \(yValues.count) points")
        }
        let problem = try FitProblem(model: self, data: data, options: options)
        let px = try index(of: x, in: problem), py = try index(of: y, in: problem)
        guard px != py else { throw InferenceError(.invalidOptions, "a scanned parameter is named twice: \(x)") }
        let best = try converged(problem.runSearch(), "the unconditional fit")
        func nearest(_ values: [Double], _ v: Double) -> Int { values.indices.min { abs(values[$0] - v) < abs(values[$1] - v) }! }
        let i0 = nearest(xValues, best.values[px]), j0 = nearest(yValues, best.values[py])
        let columnRange = min(rows.lowerBound, i0)...max(rows.upperBound - 1, i0)
        let ny = yValues.count
        let counter = ProgressCounter(total: columnRange.count + rows.count * (ny - 1), progress)
        let clock = CPUClock()
        @Sendable func point(_ i: Int, _ j: Int) -> [Int: Double] { [px: xValues[i], py: yValues[j]] }
        let seed = scanFit(problem, at: point(i0, j0), from: best, best: best, clock: clock)
        counter.step()
        // The column, in two branches outward from the seed.
        let branches = [Array(stride(from: i0 + 1, through: columnRange.upperBound, by: 1)), Array(stride(from: i0 - 1, through: columnRange.lowerBound, by: -1))]
        let columnFits = parallelMap(2, threads: threads) { b in
            scanBranch(problem, points: branches[b].map { point($0, j0) }, from: seed, best: best, clock: clock, counter: counter)
        }
        var fitsOfColumn: [Int: FitResult] = [i0: seed]
        for (b, branch) in branches.enumerated() { for (i, fit) in zip(branch, columnFits[b]) { fitsOfColumn[i] = fit } }
        let column = fitsOfColumn
        // The start of each half-row: the column's point, or its nearest converged one back towards the seed.
        @Sendable func start(_ i: Int) -> FitResult {
            var k = i
            while !column[k]!.status.isConverged && k != i0 { k += k > i0 ? -1 : 1 }
            return column[k]!.status.isConverged ? column[k]! : best
        }
        let halves = Array(rows).flatMap { i in [(i, Array((j0 + 1)..<ny)), (i, Array(stride(from: j0 - 1, through: 0, by: -1)))] }
        let rowFits = parallelMap(halves.count, threads: threads) { h in
            let (i, js) = halves[h]
            return scanBranch(problem, points: js.map { point(i, $0) }, from: start(i), best: best, clock: clock, counter: counter)
        }
        var result = rows.map { i in [FitResult?](repeating: nil, count: ny).with(j0, column[i]!) }
        for ((i, js), fits) in zip(halves, rowFits) {
            for (j, fit) in zip(js, fits) { result[i - rows.lowerBound][j] = fit }
        }
        return (best, result.map { $0.map { $0! } }, clock.seconds)
    }

    /// The pieces a 1D scan is made of, for a scan run piecewise (one shard of a plan on a batch
    /// system): the unconditional fit, and for each run of points (values of `parameters`, one
    /// array per point) the conditional fits, the first warm-started from the unconditional fit
    /// and each later one from the last converged fit of its run, as ``profileScan(_:values:data:options:runs:progress:)``
    /// does for a run. Runs in parallel.
    ///
    /// - Complexity: one fit plus one conditional fit per point.
    public func conditionalFitRuns(
        _ parameters: [String], runs: [[[Double]]], data: ModelData, options: FitOptions = FitOptions(),
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> (bestFit: FitResult, runs: [[FitResult]]) {
        let problem = try FitProblem(model: self, data: data, options: options)
        var found: [Int] = []
        for name in parameters { found.append(try index(of: name, in: problem)) }
        let indices = found
        guard Set(indices).count == indices.count else { throw InferenceError(.invalidOptions, "a scanned parameter is named twice: \(parameters)") }
        for run in runs {
            guard run.allSatisfy({ $0.count == indices.count }) else {
                throw InferenceError(.invalidOptions, "every point needs one value per scanned parameter (\(parameters.count))")
            }
        }
        let best = try converged(problem.run(from: problem.start, warmStart: nil), "the unconditional fit")
        let counter = ProgressCounter(total: runs.reduce(0) { $0 + $1.count }, progress)
        let fits = parallelMap(runs.count) { r in
            fitRun(problem, best: best, points: runs[r].map { Dictionary(uniqueKeysWithValues: zip(indices, $0)) }, counter: counter)
        }
        return (best, fits)
    }

    func index(of name: String, in problem: FitProblem) throws(InferenceError) -> Int {
        let p: Int
        do { p = try parameterIndex(named: name) } catch { throw InferenceError(.invalidOptions, error.message) }
        guard !problem.fixed[p] else { throw InferenceError(.invalidOptions, "\(name) is fixed; it cannot be profiled") }
        return p
    }

    /// The fits at `points` (parameter index → value), in `runs` contiguous runs (``ProfileScan/runs(pointCount:count:)``) in parallel.
    func scanLine(_ problem: FitProblem, best: FitResult, points: [[Int: Double]], runs: Int = inferenceConcurrency, counter: ProgressCounter? = nil) -> [FitResult] {
        let ranges = ProfileScan.runs(pointCount: points.count, count: runs)
        return parallelMap(ranges.count) { c in
            fitRun(problem, best: best, points: Array(points[ranges[c]]), counter: counter)
        }.flatMap { $0 }
    }

    /// Conditional fits at `points` in order, the first started from `best`, each later one from
    /// the last converged fit.
    func fitRun(_ problem: FitProblem, best: FitResult, points: [[Int: Double]], counter: ProgressCounter? = nil) -> [FitResult] {
        var previous = best
        return points.map { fixedValues in
            let fit = problem.isCancelled ? problem.cancelled(at: previous.values)
                : problem.fixing(fixedValues).run(from: previous.values, warmStart: previous.warmStart)
            if fit.status.isConverged { previous = fit }
            counter?.step()
            return fit
        }
    }
}

extension DifferentiableLikelihood {
    /// Conditional fits at `points` in order, each from the last converged one (the first from
    /// `from`, or `best` if `from` failed), through ``scanFit(_:at:from:best:clock:)``.
    func scanBranch(_ problem: FitProblem, points: [[Int: Double]], from: FitResult, best: FitResult, clock: CPUClock, counter: ProgressCounter) -> [FitResult] {
        var previous = from.status.isConverged ? from : best
        return points.map { fixedValues in
            let fit = scanFit(problem, at: fixedValues, from: previous, best: best, clock: clock)
            if fit.status.isConverged { previous = fit }
            counter.step()
            return fit
        }
    }

    /// The conditional fit at `fixedValues` of a scan, from `from`'s minimum; when that fails and
    /// `from` is not the unconditional fit `best`, again from `best`: a neighbour's minimum can sit
    /// where the yields at this point are negative or the minimiser is led astray, the global
    /// minimum rarely does. The converged fit with the lower 2NLL wins (``FitProblem/better(_:_:)``),
    /// evaluations of both counted.
    func scanFit(_ problem: FitProblem, at fixedValues: [Int: Double], from: FitResult, best: FitResult, clock: CPUClock) -> FitResult {
        if problem.isCancelled { return problem.cancelled(at: from.values) }
        return clock.measure { () -> FitResult in
            let conditional = problem.fixing(fixedValues)
            let fit = conditional.run(from: from.values, warmStart: from.warmStart)
            guard !fit.status.isConverged, from.values != best.values else { return fit }
            let retry = conditional.run(from: best.values, warmStart: best.warmStart)
            var kept = FitProblem.better(fit, retry) ? fit : retry
            kept.functionCalls = fit.functionCalls + retry.functionCalls
            kept.evaluations = FitEvaluations(localFit: fit.evaluations.total + retry.evaluations.total)
            return kept
        }
    }
}

extension FitProblem {
    /// Whether `a` is the better of two fits of one problem: converged beats failed, then the lower 2NLL.
    static func better(_ a: FitResult, _ b: FitResult) -> Bool {
        a.status.isConverged != b.status.isConverged ? a.status.isConverged : !(b.twiceNLL < a.twiceNLL)
    }
}

/// The CPU time of work on several threads, each piece timed by its thread's CPU clock
/// (`CLOCK_THREAD_CPUTIME_ID`) and summed: the cost of the work itself, without the time threads
/// spend waiting or spinning around it.
final class CPUClock: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`.
    private var total = 0.0

    /// `body`'s result; its thread's CPU time is added to ``seconds``.
    func measure<T>(_ body: () -> T) -> T {
        let start = Self.threadSeconds()
        let result = body()
        let spent = Self.threadSeconds() - start
        lock.lock()
        total += spent
        lock.unlock()
        return result
    }

    var seconds: Double {
        lock.lock()
        defer { lock.unlock() }
        return total
    }

    static func threadSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
    }
}

private extension Array {
    func with(_ index: Int, _ element: Element) -> Array {
        var copy = self
        copy[index] = element
        return copy
    }
}

/// The parameter's σ from the covariance if known, else from the minimiser's curvature estimate.
func estimatedSigma(_ fit: FitResult, _ p: Int) -> Double {
    if let u = fit.uncertainties, u[p] > 0 { return u[p] }
    if let warm = fit.warmStart, let k = warm.indices.firstIndex(of: p) {
        let h = warm.inverseHessian[k * warm.indices.count + k]
        if h > 0 { return (2 * h).squareRoot() }
    }
    return 1
}

func converged(_ fit: FitResult, _ what: String) throws(InferenceError) -> FitResult {
    guard fit.status.isConverged else { throw InferenceError(.failedMinimization, "\(what): \(fit.status)") }
    return fit
}

/// Ranges of x where y ≤ level, with linear interpolation at the crossings.
func crossings(_ xAll: [Double], _ yAll: [Double], level: Double) -> [ClosedRange<Double>] {
    // Failed conditional fits (non-finite 2NLL) are left out: the intervals use the converged points.
    let kept = xAll.indices.filter { yAll[$0].isFinite }
    let x = kept.map { xAll[$0] }, y = kept.map { yAll[$0] }
    guard !x.isEmpty else { return [] }
    var ranges: [ClosedRange<Double>] = []
    var start: Double? = nil
    for i in x.indices {
        let inside = y[i] <= level
        if inside, start == nil {
            start = i == 0 ? x[0] : x[i - 1] + (level - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1])
        } else if !inside, let s = start {
            let end = x[i - 1] + (level - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1])
            ranges.append(s...end)
            start = nil
        }
    }
    if let s = start { ranges.append(s...x[x.count - 1]) }
    return ranges
}

/// A thread-safe count of finished work items, reported to a progress callback. The callback is
/// called under the lock, so calls never overlap and `done` arrives in increasing order 1, 2, ….
final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`.
    private var done = 0
    private var total: Int
    private let callback: (@Sendable (Int, Int) -> Void)?

    init(total: Int, _ callback: (@Sendable (Int, Int) -> Void)?) {
        self.total = total
        self.callback = callback
    }

    /// One more item done.
    func step() {
        guard let callback else { return }
        lock.lock()
        defer { lock.unlock() }
        done += 1
        callback(done, max(total, done))
    }

    /// `k` more items planned (the total grows, e.g. as an adaptive scan adds points).
    func plan(_ k: Int) {
        lock.lock()
        defer { lock.unlock() }
        total += k
    }
}
