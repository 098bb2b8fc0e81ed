import Inference

extension Plot {
    /// The Δ(2NLL) curve of a 1D profile scan with the 68% and 95% lines.
    public static func scan(_ scan: ProfileScan) -> String {
        let p = scan.bestFit.parameterNames.firstIndex(of: scan.parameter)
        return Plot.scan(parameter: scan.parameter, values: scan.values, deltaTwiceNLL: scan.deltaTwiceNLL,
                         bestFit: p.map { scan.bestFit.values[$0] } ?? .nan)
    }

    /// The 68% and 95% contours of a 2D profile scan (Δ2NLL = 2.30 and 5.99) with the best fit,
    /// closed along the grid's boundary and interpolated across failed conditional fits
    /// (``closedContour(x:y:values:level:)``), failed points shaded.
    public static func contours(_ scan: ProfileScan2D, reference: (point: SIMD2<Double>, label: String)? = nil,
                                levels: [(value: Double, label: String)] = [(DeltaTwiceNLL.oneSigma2D, "68% CL"), (DeltaTwiceNLL.cl95In2D, "95% CL")]) -> String {
        let names = scan.bestFit.parameterNames
        let best = SIMD2(names.firstIndex(of: scan.parameters[0]).map { scan.bestFit.values[$0] } ?? .nan,
                         names.firstIndex(of: scan.parameters[1]).map { scan.bestFit.values[$0] } ?? .nan)
        let reference2NLL = scan.minimumTwiceNLL
        let delta = scan.twiceNLL.map { row in row.map { $0 - reference2NLL } }
        var atBoundary = false
        let lines = levels.map { level in
            let c = closedContour(x: scan.xValues, y: scan.yValues, values: delta, level: level.value)
            atBoundary = atBoundary || c.closedAtBoundary
            return ContourLine(label: level.label, segments: c.segments)
        }
        let xs = scan.xValues, ys = scan.yValues
        func halfStep(_ v: [Double], _ k: Int) -> (Double, Double) {
            let lo = k > 0 ? (v[k] - v[k - 1]) / 2 : (v.count > 1 ? (v[1] - v[0]) / 2 : 0.5)
            let hi = k + 1 < v.count ? (v[k + 1] - v[k]) / 2 : lo
            return (v[k] - lo, v[k] + hi)
        }
        var failed: [(lower: SIMD2<Double>, upper: SIMD2<Double>)] = []
        for i in xs.indices {
            for j in ys.indices where !scan.twiceNLL[i][j].isFinite {
                let (x0, x1) = halfStep(xs, i), (y0, y1) = halfStep(ys, j)
                failed.append((SIMD2(x0, y0), SIMD2(x1, y1)))
            }
        }
        // Points where the model itself is undefined (e.g. negative morphed yields) are named so.
        let outside = !scan.failures.isEmpty && scan.failures.allSatisfy { $0.reason.contains("outside the model's domain") }
        return Plot.contours(xName: scan.parameters[0], yName: scan.parameters[1],
                             xRange: (xs.min() ?? 0)...(xs.max() ?? 1), yRange: (ys.min() ?? 0)...(ys.max() ?? 1),
                             lines: lines, bestFit: best, reference: reference, failedCells: failed, closedAtBoundary: atBoundary,
                             failedLabel: outside ? "outside the model's domain" : "conditional fit failed")
    }

    /// Marching squares for `values[i][j] = level` (i along x, j along y) that closes every line.
    /// A failed point (NaN) takes the mean of its converged neighbours (repeatedly, inwards, for
    /// failed patches), so that a line crosses a failed region as it would a converged one; the
    /// plot shades those points. The grid is surrounded by a ring of points at +∞ (outside the
    /// region) placed on the grid's edge, so that a line that would leave the grid runs along its
    /// edge and each region is a closed polygon. `closedAtBoundary`: some line runs along the edge.
    ///
    /// - Complexity: O(x.count × y.count) per pass over failed patches.
    public static func closedContour(x: [Double], y: [Double], values: [[Double]], level: Double)
        -> (segments: [(start: SIMD2<Double>, end: SIMD2<Double>)], closedAtBoundary: Bool) {
        let nx = x.count, ny = y.count
        guard nx >= 1, ny >= 1, values.count == nx, values.allSatisfy({ $0.count == ny }) else { return ([], false) }
        let filled = filledFailures(values)
        // Padded coordinates: index 0 and n+1 repeat the edge values.
        func px(_ i: Int) -> Double { x[min(max(i - 1, 0), nx - 1)] }
        func py(_ j: Int) -> Double { y[min(max(j - 1, 0), ny - 1)] }
        func f(_ i: Int, _ j: Int) -> Double {
            guard i >= 1, i <= nx, j >= 1, j <= ny else { return .infinity }
            let v = filled[i - 1][j - 1] - level
            return v.isNaN ? .infinity : v
        }
        var segments: [(start: SIMD2<Double>, end: SIMD2<Double>)] = []
        var atBoundary = false
        for i in 0...nx {
            for j in 0...ny {
                let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
                let fv = corners.map { f($0.0, $0.1) }
                var points: [SIMD2<Double>] = []
                for e in 0..<4 {
                    let (a, b) = (e, (e + 1) % 4)
                    guard (fv[a] < 0) != (fv[b] < 0) else { continue }
                    // t = f_a/(f_a − f_b): 0 or 1 exactly when one end is +∞.
                    let t = fv[a].isInfinite ? 1 : fv[b].isInfinite ? 0 : fv[a] / (fv[a] - fv[b])
                    let pa = SIMD2(px(corners[a].0), py(corners[a].1)), pb = SIMD2(px(corners[b].0), py(corners[b].1))
                    points.append(pa + t * (pb - pa))
                }
                var pairs: [(Int, Int)] = []
                if points.count == 2 {
                    pairs = [(0, 1)]
                } else if points.count == 4 {
                    // Saddle cell: pair the crossings by the sign at the centre (finite corners only).
                    let finite = fv.filter(\.isFinite)
                    let centre = finite.isEmpty ? 1 : finite.reduce(0, +) / Double(finite.count)
                    pairs = (centre < 0) == (fv[0] < 0) ? [(0, 3), (1, 2)] : [(0, 1), (2, 3)]
                }
                for (a, b) in pairs where points[a] != points[b] {
                    segments.append((points[a], points[b]))
                    if i == 0 || j == 0 || i == nx || j == ny { atBoundary = true }
                }
            }
        }
        return (segments, atBoundary)
    }

    /// `values` with each NaN replaced by the mean of its finite 4-neighbours, pass after pass
    /// until none is left or a pass fills nothing (an all-NaN grid stays NaN).
    static func filledFailures(_ values: [[Double]]) -> [[Double]] {
        var v = values
        let nx = v.count, ny = v.first?.count ?? 0
        while true {
            var next = v
            var changed = false
            for i in 0..<nx {
                for j in 0..<ny where v[i][j].isNaN {
                    let neighbours = [(i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)]
                        .filter { $0.0 >= 0 && $0.0 < nx && $0.1 >= 0 && $0.1 < ny }.map { v[$0.0][$0.1] }.filter { !$0.isNaN }
                    guard !neighbours.isEmpty else { continue }
                    next[i][j] = neighbours.reduce(0, +) / Double(neighbours.count)
                    changed = true
                }
            }
            v = next
            if !changed { return v }
        }
    }
}
