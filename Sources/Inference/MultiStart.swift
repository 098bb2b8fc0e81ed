import Foundation
import HistFactory

extension FitProblem {
    /// The fit with the search for the global minimum that `options.multiStart` asks for (one
    /// local fit without it), from `initial` (the problem's start when nil), with uncertainties at
    /// the lowest minimum when the options ask for them.
    func runSearch(from initial: [Double]? = nil, warmStart: WarmStart? = nil) throws(InferenceError) -> FitResult {
        let first = initial ?? start
        guard let multiStart = options.multiStart, multiStart.strategy != .none else { return run(from: first, warmStart: warmStart) }
        guard multiStart.maxStarts >= 0, multiStart.maxStarts <= MultiStart.maximumStarts else {
            throw InferenceError(.invalidOptions, "the multi-start budget max_starts must be from 0 to \(MultiStart.maximumStarts), not \(multiStart.maxStarts)")
        }
        let indices = try searchedIndices(multiStart)
        guard !indices.isEmpty else { return run(from: first, warmStart: warmStart) }
        let result = multiStart.strategy == .grid
            ? try runGrid(multiStart, indices, from: first, warmStart: warmStart)
            : runAuto(multiStart, indices, from: first, warmStart: warmStart)
        return options.computeUncertainties ? addingUncertainties(result) : result
    }

    /// The free parameters the search varies: those named, or the POI when none are.
    private func searchedIndices(_ multiStart: MultiStart) throws(InferenceError) -> [Int] {
        guard !multiStart.parameters.isEmpty else {
            return model.poiIndex.map { fixed[$0] ? [] : [$0] } ?? []
        }
        var indices: [Int] = []
        for name in multiStart.parameters {
            let i: Int
            do { i = try model.parameterIndex(named: name) } catch { throw InferenceError(.invalidOptions, error.message) }
            if !fixed[i] && !indices.contains(i) { indices.append(i) }
        }
        return indices
    }

    /// `.grid`: the first fit and one from every grid point, in parallel.
    private func runGrid(_ multiStart: MultiStart, _ indices: [Int], from first: [Double], warmStart: WarmStart?) throws(InferenceError) -> FitResult {
        let m = max(2, multiStart.pointsPerParameter)
        var count = 1
        for _ in indices {
            let (product, overflow) = count.multipliedReportingOverflow(by: m)
            count = overflow ? .max : product
        }
        guard count <= multiStart.maxStarts else {
            throw InferenceError(.invalidOptions, "the multi-start grid has \(count == .max ? "more than \(Int.max)" : String(count)) points (\(m) per parameter over \(indices.count) parameters); the budget max_starts is \(multiStart.maxStarts)")
        }
        var grid: [[Double]] = [first]
        for i in indices {
            let name = model.parameterNames[i]
            let range = multiStart.ranges[name] ?? lower[i]...upper[i]
            guard range.lowerBound.isFinite, range.upperBound.isFinite else {
                throw InferenceError(.invalidOptions, "multi-start parameter \(name) needs a finite range, has \(range)")
            }
            // Cell centres: the grid avoids the bounds themselves.
            let values = (0..<m).map { range.lowerBound + (Double($0) + 0.5) / Double(m) * (range.upperBound - range.lowerBound) }
            grid = grid.flatMap { point in values.map { v in var p = point; p[i] = v; return p } }
        }
        let starts = [first] + grid
        let fits = parallelMap(starts.count) { k in self.minimize(from: starts[k], warmStart: k == 0 ? warmStart : nil) }
        var evaluations = FitEvaluations(localFit: fits[0].evaluations.total)
        evaluations.multiStart = fits.dropFirst().reduce(0) { $0 + $1.evaluations.total }
        let search = MinimumSearch(strategy: .grid, parameters: indices.map { model.parameterNames[$0] }, fits: fits.count, untried: 0, excluded: 0, globalMinimumAssured: true)
        return combined(fits, multiStart, evaluations: evaluations, search: search)
    }

    /// `.auto`: the first fit, then the reflection starts of each minimum found (see ``MultiStart``).
    private func runAuto(_ multiStart: MultiStart, _ indices: [Int], from first: [Double], warmStart: WarmStart?) -> FitResult {
        let firstFit = minimize(from: first, warmStart: warmStart)
        var evaluations = FitEvaluations(localFit: firstFit.evaluations.total)
        var fits = [firstFit]
        var minima: [FitResult] = firstFit.status.isConverged ? [firstFit] : []
        var probed = 0
        var pending: [ReflectionStart] = []
        var tried: [[Double]] = [first]
        var budget = multiStart.maxStarts
        var excluded = 0
        var untried = 0
        var scales: [Double] = []
        while true {
            while probed < minima.count {
                let probe = reflectionStarts(around: minima[probed], indices)
                evaluations.multiStart += probe.evaluations
                if scales.isEmpty { scales = probe.scales }
                for candidate in probe.starts {
                    if candidate.promising { pending.append(candidate) } else { excluded += 1 }
                }
                probed += 1
            }
            // Starts that lead where a fit already went are dropped.
            pending.removeAll { candidate in
                (minima.map(\.values) + tried).contains { point in
                    zip(indices, scales).allSatisfy { i, scale in abs(point[i] - candidate.values[i]) <= 0.25 * scale }
                }
            }
            guard let next = pending.indices.min(by: { pending[$0].priority < pending[$1].priority }) else { break }
            guard budget > 0 else {
                untried = pending.count
                break
            }
            let candidate = pending.remove(at: next)
            budget -= 1
            tried.append(candidate.values)
            let warm = candidate.source.warmStart.map { WarmStart(indices: $0.indices, inverseHessian: $0.inverseHessian, values: candidate.values) }
            let fit = minimize(from: candidate.values, warmStart: warm)
            evaluations.multiStart += fit.evaluations.total
            fits.append(fit)
            if fit.status.isConverged && !minima.contains(where: { sameMinimum($0, fit) }) { minima.append(fit) }
        }
        let search = MinimumSearch(strategy: .auto, parameters: indices.map { model.parameterNames[$0] }, fits: fits.count, untried: untried, excluded: excluded, globalMinimumAssured: untried == 0)
        return combined(fits, multiStart, evaluations: evaluations, search: search)
    }

    /// The lowest converged fit (the lowest 2NLL if none converged) with the distinct minima.
    private func combined(_ fits: [FitResult], _ multiStart: MultiStart, evaluations: FitEvaluations, search: MinimumSearch) -> FitResult {
        let converged = fits.filter(\.status.isConverged).sorted { $0.twiceNLL < $1.twiceNLL }
        let best = converged.first ?? fits.min { !($0.twiceNLL >= $1.twiceNLL) }!
        var distinct: [FitResult] = []
        for candidate in converged where !distinct.contains(where: { sameMinimum($0, candidate) }) {
            distinct.append(candidate)
        }
        var result = best
        result.localMinima = distinct.map { LocalMinimum(values: $0.values, twiceNLL: $0.twiceNLL) }
        result.degeneracyTolerance = multiStart.degeneracyTolerance
        result.evaluations = evaluations
        result.functionCalls = evaluations.total
        result.search = search
        return result
    }

    /// Two minima are the same when every free parameter agrees to 10⁻³·max(1, |θ|).
    func sameMinimum(_ a: FitResult, _ b: FitResult) -> Bool {
        freeIndices.allSatisfy { i in
            let tolerance = 1e-3 * max(1, abs(a.values[i]), abs(b.values[i]))
            return abs(a.values[i] - b.values[i]) <= tolerance
        }
    }

    /// A start of `.auto`: the reflection of `source` along one direction.
    struct ReflectionStart {
        let values: [Double]
        let source: FitResult
        /// R, the Pearson distance of the yields at the start from those at `source`.
        let distance: Double
        /// √R ≤ 2√χ²_r + 1: a lower minimum may lie there.
        let promising: Bool
        var priority: Double { source.twiceNLL + distance }
    }

    /// The reflection starts around `minimum` along each searched parameter, each pair (both
    /// signs, for up to 12 parameters) and the sign flip of all, from the quadratic model of the
    /// yields (``MultiStart``); `scales` are the probe steps h_p, in `indices` order.
    ///
    /// - Complexity: 1 + 2k + k(k − 1)/2 evaluations of the expected data (k ≤ 12; 1 + 2k above).
    func reflectionStarts(around minimum: FitResult, _ indices: [Int]) -> (starts: [ReflectionStart], evaluations: Int, scales: [Double]) {
        let theta = minimum.values
        let k = indices.count
        var evaluations = 1
        let nu0 = model.expectedMainData(theta)
        let bins = nu0.count
        guard nu0.allSatisfy(\.isFinite) else { return ([], evaluations, []) }
        let w = nu0.map { 1 / max($0, 1) }
        var residual = 0.0
        for b in 0..<min(bins, data.main.count) { residual += w[b] * (data.main[b] - nu0[b]) * (data.main[b] - nu0[b]) }
        // Steps: σ from the fit's curvature, at least 10⁻³ of the value, at most a quarter of the range.
        var steps = [Double](repeating: 0, count: k)
        for (a, i) in indices.enumerated() {
            var h = max(estimatedSigma(minimum, i), 1e-3 * max(1, abs(theta[i])))
            if upper[i] - lower[i] < .infinity { h = min(h, 0.25 * (upper[i] - lower[i])) }
            steps[a] = h
        }
        // The signed step that stays in bounds; the second probe is at −step or 2·step.
        func yields(_ shifts: [(Int, Double)]) -> [Double] {
            var x = theta
            for (i, t) in shifts { x[i] += t }
            evaluations += 1
            return model.expectedMainData(x)
        }
        var linear = [[Double]](repeating: [], count: k), quadratic = linear
        var signedStep = [Double](repeating: 0, count: k)
        for (a, i) in indices.enumerated() {
            let h = steps[a]
            let (t1, t2): (Double, Double)
            if theta[i] + h <= upper[i] && theta[i] - h >= lower[i] { (t1, t2) = (h, -h) }
            else if theta[i] + 2 * h <= upper[i] { (t1, t2) = (h, 2 * h) }
            else { (t1, t2) = (-h, -2 * h) }
            signedStep[a] = t1
            let y1 = yields([(i, t1)]), y2 = yields([(i, t2)])
            // ν(t) = ν̂ + a t + q t² through (t1, y1), (t2, y2).
            let det = t1 * t2 * (t2 - t1)
            linear[a] = (0..<bins).map { b in ((y1[b] - nu0[b]) * t2 * t2 - (y2[b] - nu0[b]) * t1 * t1) / det }
            quadratic[a] = (0..<bins).map { b in ((y2[b] - nu0[b]) * t1 - (y1[b] - nu0[b]) * t2) / det }
        }
        // Cross terms Q_pq from one more point per pair.
        var cross: [[[Double]]] = Array(repeating: Array(repeating: [], count: k), count: k)
        let withPairs = k <= 12
        if withPairs {
            for a in 0..<k {
                for c in (a + 1)..<max(k, a + 1) {
                    let ta = signedStep[a], tc = signedStep[c]
                    let y = yields([(indices[a], ta), (indices[c], tc)])
                    cross[a][c] = (0..<bins).map { b in
                        (y[b] - nu0[b] - linear[a][b] * ta - quadratic[a][b] * ta * ta - linear[c][b] * tc - quadratic[c][b] * tc * tc) / (ta * tc)
                    }
                }
            }
        }
        // Along δ: Δν_b = Σ a δ + Σ q δ² + Σ Q δδ (the quadratic model).
        func change(_ delta: [Double]) -> [Double] {
            (0..<bins).map { b in
                var s = 0.0
                for a in 0..<k where delta[a] != 0 {
                    s += linear[a][b] * delta[a] + quadratic[a][b] * delta[a] * delta[a]
                    if withPairs { for c in (a + 1)..<max(k, a + 1) where delta[c] != 0 { s += cross[a][c][b] * delta[a] * delta[c] } }
                }
                return s
            }
        }
        var directions: [[Double]] = []
        for a in 0..<k { var d = [Double](repeating: 0, count: k); d[a] = steps[a]; directions.append(d) }
        if withPairs {
            for a in 0..<k {
                for c in (a + 1)..<max(k, a + 1) {
                    for sign in [1.0, -1.0] {
                        var d = [Double](repeating: 0, count: k)
                        d[a] = steps[a]
                        d[c] = sign * steps[c]
                        directions.append(d)
                    }
                }
            }
        }
        let flip = indices.map { -theta[$0] }
        if k > 1 && flip.contains(where: { $0 != 0 }) { directions.append(flip) }
        var starts: [ReflectionStart] = []
        for d in directions {
            // Linear and quadratic parts along d: change(t d) = t·L + t²·Q.
            let plus = change(d), minus = change(d.map { -$0 })
            var numerator = 0.0, denominator = 0.0
            for b in 0..<bins {
                let l = 0.5 * (plus[b] - minus[b]), q = 0.5 * (plus[b] + minus[b])
                numerator += w[b] * l * q
                denominator += w[b] * q * q
            }
            guard denominator > 0, denominator.isFinite else { continue }
            let t = -numerator / denominator
            var delta = d.map { t * $0 }
            var x = theta
            for (a, i) in indices.enumerated() {
                x[i] = min(max(theta[i] + delta[a], lower[i]), upper[i])
                delta[a] = x[i] - theta[i]
            }
            // The same minimum again (a direction without a vertex on the far side).
            guard zip(delta, steps).contains(where: { abs($0) > 0.5 * $1 }) else { continue }
            let distance = zip(change(delta), w).reduce(0) { $0 + $1.1 * $1.0 * $1.0 }
            guard distance.isFinite else { continue }
            let promising = distance.squareRoot() <= 2 * residual.squareRoot() + 1
            starts.append(ReflectionStart(values: x, source: minimum, distance: distance, promising: promising))
        }
        return (starts, evaluations, steps)
    }
}
