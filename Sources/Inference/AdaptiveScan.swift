import Foundation
import HistFactory

/// An adaptive 1D profile-likelihood scan: every point computed (coarse grid and refinements,
/// sorted) and the intervals at the requested levels.
public struct AdaptiveProfileScan: Sendable {
    /// All conditional fits, sorted by value; ``ProfileScan/intervals(level:)`` on it gives
    /// the same ranges as ``intervals``.
    public let scan: ProfileScan
    /// The Δ(2NLL) levels refined, e.g. 1 and 3.84.
    public let levels: [Double]
    /// Per level (same order as ``levels``): the ranges where Δ(2NLL) ≤ level, linear
    /// interpolation between the two points that bracket each end.
    public let intervals: [[ClosedRange<Double>]]
    /// The requested accuracy of the interval ends, in units of the parameter.
    public let tolerance: Double
    /// True when every interval end inside the range is bracketed by two points at most
    /// `tolerance` apart; false when `maxPoints` ran out first.
    public let isResolved: Bool

    /// The ranges at `level` (one of ``levels``), or from the points by linear interpolation otherwise.
    public func intervals(level: Double) -> [ClosedRange<Double>] {
        if let k = levels.firstIndex(of: level) { return intervals[k] }
        return scan.intervals(level: level)
    }
}

extension DifferentiableLikelihood {
    /// A 1D profile-likelihood scan that places its points where they matter: a coarse grid of
    /// `initialPoints` over `range`, then rounds of new conditional fits (in parallel, each
    /// warm-started from the nearest computed point)
    /// - in every grid cell where Δ(2NLL) crosses one of `levels`, at the linearly interpolated
    ///   crossing ± tolerance/2 (a secant search, so each crossing converges in a few rounds),
    ///   until the two points bracketing it are at most `tolerance` apart;
    /// - where the curve is not smooth, i.e. where a point deviates from the chord of its
    ///   neighbours by more than `smoothness` in Δ(2NLL) and the curve is below the highest
    ///   level + 2: the wider neighbouring cell is halved (down to `tolerance`).
    ///
    /// - Parameters:
    ///   - range: the scanned values; clipped to the parameter's bounds.
    ///   - tolerance: the accuracy of the interval ends; default 1/1000 of the range or 1/100 of
    ///     the parameter's σ at the best fit, whichever is smaller.
    ///   - maxPoints: at most this many conditional fits in all (the coarse grid included).
    ///   - progress: called from the worker threads after each conditional fit with (done, total);
    ///     the total grows as refinements are planned. Calls are serialised, `done` counts up 1, 2, ….
    /// - Throws: ``InferenceError`` when the unconditional fit fails, `parameter` is unknown or
    ///   fixed, or the range or the settings are invalid.
    public func profileScanAdaptive(
        parameter name: String, range: ClosedRange<Double>, data: ModelData, options: FitOptions = FitOptions(),
        levels: [Double] = [DeltaTwiceNLL.oneSigma1D, DeltaTwiceNLL.cl95In1D], tolerance: Double? = nil,
        initialPoints: Int = 11, maxPoints: Int = 200, smoothness: Double = 0.25,
        progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> AdaptiveProfileScan {
        let problem = try FitProblem(model: self, data: data, options: options)
        let p = try index(of: name, in: problem)
        let lo = max(range.lowerBound, problem.lower[p]), hi = min(range.upperBound, problem.upper[p])
        guard lo < hi else { throw InferenceError(.invalidOptions, "the scan range of \(name) is empty inside its bounds [\(problem.lower[p]), \(problem.upper[p])]") }
        if let tolerance, !(tolerance > 0 && tolerance.isFinite) {
            throw InferenceError(.invalidOptions, "the tolerance must be positive, got \(tolerance)")
        }
        guard initialPoints >= 3 else { throw InferenceError(.invalidOptions, "the coarse grid needs at least 3 points, got \(initialPoints)") }
        guard maxPoints >= initialPoints else { throw InferenceError(.invalidOptions, "maxPoints (\(maxPoints)) is below initialPoints (\(initialPoints))") }
        let levels = levels.sorted()
        guard let topLevel = levels.last, levels.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw InferenceError(.invalidOptions, "give at least one positive Δ2NLL level")
        }
        let best = try converged(problem.runSearch(), "the unconditional fit")
        let tol = tolerance ?? min((hi - lo) / 1000, estimatedSigma(best, p) / 100)
        let counter = ProgressCounter(total: initialPoints, progress)

        // The coarse grid, in contiguous chunks warm-started along the line.
        let grid = (0..<initialPoints).map { lo + (hi - lo) * Double($0) / Double(initialPoints - 1) }
        var points = zip(grid, scanLine(problem, best: best, points: grid.map { [p: $0] }, counter: counter)).map { ($0, $1) }

        /// Sorted converged points with Δ(2NLL).
        func curve() -> (x: [Double], y: [Double], fits: [FitResult]) {
            let good = points.filter { $0.1.status.isConverged }.sorted { $0.0 < $1.0 }
            let minimum = min(best.twiceNLL, good.map(\.1.twiceNLL).min() ?? .infinity)
            return (good.map(\.0), good.map { $0.1.twiceNLL - minimum }, good.map(\.1))
        }
        /// New values to fit this round; `unresolved` is whether some crossing is still too wide.
        func proposals() -> (values: [Double], unresolved: Bool) {
            let (x, y, _) = curve()
            var new: [Double] = []
            var unresolved = false
            func propose(_ v: Double, in a: Double, _ b: Double) {
                // Strictly inside the cell, and not on top of a point already there or proposed.
                let margin = min(tol / 4, (b - a) / 4)
                let v = min(max(v, a + margin), b - margin)
                // Also not on a point that exists (failed fits included: they are not retried).
                guard !new.contains(where: { abs($0 - v) < tol / 8 }), !points.contains(where: { abs($0.0 - v) < tol / 8 }) else { return }
                new.append(v)
            }
            guard x.count >= 2 else { return ([], false) }
            for i in 0..<(x.count - 1) {
                let (a, b) = (x[i], x[i + 1])
                for level in levels where (y[i] <= level) != (y[i + 1] <= level) {
                    guard b - a > tol else { continue }
                    unresolved = true
                    let t = (level - y[i]) / (y[i + 1] - y[i])
                    var estimate = a + t * (b - a)
                    // Better: the crossing of the parabola through the cell and its nearer neighbour
                    // (Δ2NLL is close to quadratic), when it has exactly one root in the cell.
                    let third = [i - 1, i + 2].filter { x.indices.contains($0) }
                        .min { abs(x[$0] - (a + b) / 2) < abs(x[$1] - (a + b) / 2) }
                    if let c = third, let root = parabolaCrossing([x[i], x[i + 1], x[c]], [y[i], y[i + 1], y[c]], level: level, in: a...b) {
                        estimate = root
                    }
                    if b - a <= 2 * tol {
                        propose((a + b) / 2, in: a, b)
                    } else {
                        propose(estimate - tol / 2, in: a, b)
                        propose(estimate + tol / 2, in: a, b)
                    }
                }
            }
            // Kinks: a point far off the chord of its neighbours, in the region of interest.
            if x.count >= 3 {
                for i in 1..<(x.count - 1) where min(y[i - 1], y[i], y[i + 1]) < topLevel + 2 {
                    let chord = y[i - 1] + (y[i + 1] - y[i - 1]) * (x[i] - x[i - 1]) / (x[i + 1] - x[i - 1])
                    guard abs(y[i] - chord) > smoothness else { continue }
                    let (a, b) = x[i] - x[i - 1] >= x[i + 1] - x[i] ? (x[i - 1], x[i]) : (x[i], x[i + 1])
                    guard b - a > 2 * tol else { continue }
                    propose((a + b) / 2, in: a, b)
                }
            }
            return (new, unresolved)
        }

        var resolved = false
        while true {
            let (proposed, unresolved) = proposals()
            resolved = !unresolved
            if proposed.isEmpty { break }
            let room = maxPoints - points.count
            guard room > 0 else { break }
            let values = Array(proposed.prefix(room))
            counter.plan(values.count)
            let (x, _, fits) = curve()
            let starts: [FitResult] = values.map { v in
                guard let k = x.indices.min(by: { abs(x[$0] - v) < abs(x[$1] - v) }) else { return best }
                return fits[k]
            }
            let newFits = parallelMap(values.count) { k -> FitResult in
                defer { counter.step() }
                return problem.fixing([p: values[k]]).run(from: starts[k].values, warmStart: starts[k].warmStart)
            }
            points += zip(values, newFits).map { ($0, $1) }
        }

        points.sort { $0.0 < $1.0 }
        let scan = ProfileScan(
            parameter: name, values: points.map(\.0), twiceNLL: points.map { $0.1.status.isConverged ? $0.1.twiceNLL : .nan },
            statuses: points.map(\.1.status), bestFit: best)
        return AdaptiveProfileScan(
            scan: scan, levels: levels, intervals: levels.map { scan.intervals(level: $0) }, tolerance: tol, isResolved: resolved)
    }
}

/// The one point in `cell` where the parabola through three points equals `level`, or nil.
func parabolaCrossing(_ x: [Double], _ y: [Double], level: Double, in cell: ClosedRange<Double>) -> Double? {
    // Newton form about x0, in u = x − x0.
    let d1 = (y[1] - y[0]) / (x[1] - x[0])
    let d2 = ((y[2] - y[1]) / (x[2] - x[1]) - d1) / (x[2] - x[0])
    let u1 = x[1] - x[0]
    // y0 + d1 u + d2 u (u − u1) = level  →  d2 u² + (d1 − d2 u1) u + (y0 − level) = 0
    let a = d2, b = d1 - d2 * u1, c = y[0] - level
    guard a.isFinite, b.isFinite, c.isFinite else { return nil }
    var roots: [Double] = []
    if abs(a) * (cell.upperBound - cell.lowerBound) < 1e-12 * abs(b) {
        if b != 0 { roots = [-c / b] }
    } else {
        let disc = b * b - 4 * a * c
        guard disc >= 0 else { return nil }
        // Stable form of the quadratic formula.
        let q = -0.5 * (b + (b >= 0 ? 1 : -1) * disc.squareRoot())
        roots = [q / a] + (q != 0 ? [c / q] : [])
    }
    let inside = roots.map { $0 + x[0] }.filter { cell.contains($0) }
    return inside.count == 1 ? inside[0] : nil
}
