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
/// `2NLL(θ_p, θ̂̂) − 2NLL(θ̂) = level`, found by root finding on the profile.
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
    /// Likelihood evaluations of the conditional fits.
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
    /// The profile-likelihood interval of `name` at Δ(2NLL) = `level` (MINOS-like): on each side of
    /// the best fit, Brent's method on `2NLL(θ_p, θ̂̂(θ_p)) − 2NLL_min − level`, bracketed from the
    /// Hessian estimate θ̂_p ± σ√level, to 10⁻⁶σ. Each evaluation is a conditional fit warm-started
    /// by linear response from the best fit. A side whose conditional fit fails has no end and says
    /// why (``ProfileInterval/lowerFailure``); the other side is kept.
    ///
    /// - Parameter bestFit: the unconditional fit, if already done (with the same options).
    /// - Throws: ``InferenceError`` when the unconditional fit fails or `name` is unknown or fixed.
    public func profileInterval(
        _ name: String, data: ModelData, level: Double = DeltaTwiceNLL.oneSigma1D,
        options: FitOptions = FitOptions(), bestFit: FitResult? = nil
    ) throws(InferenceError) -> ProfileInterval {
        let problem = try FitProblem(model: self, data: data, options: options)
        let p = try index(of: name, in: problem)
        let best: FitResult
        if let bestFit { best = bestFit } else { best = try converged(problem.runSearch(), "the unconditional fit") }
        let sigma = estimatedSigma(best, p)
        let target = best.twiceNLL + level
        let bestValue = best.values[p]
        var evaluations = 0
        var lowest: FitResult? = nil
        func side(_ up: Bool) -> (end: Double?, failure: String?) {
            let limits = up ? bestValue...problem.upper[p] : problem.lower[p]...bestValue
            guard limits.lowerBound < limits.upperBound else { return (nil, nil) }
            do {
                let end = try bracketAndSolve({ t in
                    let fit = problem.fixing([p: t]).run(from: best.values, warmStart: best.warmStart)
                    evaluations += fit.functionCalls
                    guard fit.status.isConverged else { throw InferenceError(.failedMinimization, "the fit at \(name) = \(t): \(fit.status)") }
                    if fit.twiceNLL < min(best.twiceNLL - 1e-6, lowest?.twiceNLL ?? .infinity) { lowest = fit }
                    return fit.twiceNLL - target
                }, increasing: up, guess: bestValue + (up ? 1 : -1) * sigma * level.squareRoot(), step: 0.5 * sigma,
                limits: limits, xTolerance: 1e-6 * sigma)
                return (end, nil)
            } catch let error as InferenceError {
                return (nil, error.message)
            } catch {
                return (nil, "\(error)")
            }
        }
        let (lower, lowerFailure) = side(false)
        let (upper, upperFailure) = side(true)
        var interval = ProfileInterval(parameter: name, bestFit: bestValue, level: level, lower: lower, upper: upper)
        interval.lowerFailure = lowerFailure
        interval.upperFailure = upperFailure
        interval.evaluations = evaluations
        interval.lowerPoint = lowest?.values
        return interval
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

    /// The profile likelihood on the grid `xValues × yValues` of two parameters: one run of
    /// conditional fits per row (x fixed, y increasing), warm-started from the unconditional fit,
    /// rows in parallel. Rows do not depend on each other, so the result does not depend on the
    /// number of cores.
    ///
    /// - Parameter progress: called from the worker threads after each conditional fit with the
    ///   number of fits done and `xValues.count × yValues.count`; calls are serialised.
    public func profileScan(
        _ x: String, values xValues: [Double], _ y: String, values yValues: [Double], data: ModelData,
        options: FitOptions = FitOptions(), progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> ProfileScan2D {
        let problem = try FitProblem(model: self, data: data, options: options)
        let px = try index(of: x, in: problem), py = try index(of: y, in: problem)
        let best = try converged(problem.runSearch(), "the unconditional fit")
        let counter = ProgressCounter(total: xValues.count * yValues.count, progress)
        let rows = parallelMap(xValues.count) { i in
            fitRun(problem, best: best, points: yValues.map { [px: xValues[i], py: $0] }, counter: counter).map { (twiceNLL: $0.twiceNLL, status: $0.status) }
        }
        return ProfileScan2D(parameters: [x, y], xValues: xValues, yValues: yValues, fits: rows, bestFit: best)
    }

    /// The pieces a scan is made of, for a scan run piecewise (one shard of a plan on a batch
    /// system): the unconditional fit, and for each run of points (values of `parameters`, one
    /// array per point) the conditional fits, the first warm-started from the unconditional fit
    /// and each later one from the last converged fit of its run, as ``profileScan(_:values:data:options:runs:progress:)``
    /// does for a run of a 1D scan and the 2D scan for a row. Runs in parallel.
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
            let fit = problem.fixing(fixedValues).run(from: previous.values, warmStart: previous.warmStart)
            if fit.status.isConverged { previous = fit }
            counter?.step()
            return fit
        }
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
