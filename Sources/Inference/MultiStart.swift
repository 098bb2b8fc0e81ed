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
        guard !indices.isEmpty || multiStart.strategy == .auto else { return run(from: first, warmStart: warmStart) }
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

    /// `.auto`: the first fit, then the reflection starts of each minimum found and the
    /// nuisance-parameter starts of each new lowest one (see ``MultiStart``), the former
    /// warm-started with their minimum's curvature.
    private func runAuto(_ multiStart: MultiStart, _ indices: [Int], from first: [Double], warmStart: WarmStart?) -> FitResult {
        let firstFit = minimize(from: first, warmStart: warmStart)
        var evaluations = FitEvaluations(localFit: firstFit.evaluations.total)
        var fits = [firstFit]
        var minima: [FitResult] = firstFit.status.isConverged ? [firstFit] : []
        var probed = 0
        var pending: [SearchStart] = []
        var tried: [[Double]] = [first]
        var budget = multiStart.maxStarts
        var excluded = 0
        var untried = 0
        var unprobed = 0
        var lowest = Double.infinity
        while true {
            while probed < minima.count {
                let minimum = minima[probed]
                if !indices.isEmpty {
                    let probe = reflectionStarts(around: minimum, indices)
                    evaluations.multiStart += probe.evaluations
                    for candidate in probe.starts {
                        if candidate.promising { pending.append(candidate) } else { excluded += 1 }
                    }
                }
                // The nuisance parameters are probed around each new lowest minimum only: a start
                // near a higher one leads lower only through that one's own basin.
                if minimum.twiceNLL < lowest {
                    // The first minimum of this fit reuses the screen of the first fit on these
                    // data; a new lowest minimum (another basin) is screened afresh.
                    let reusing = lowest == .infinity
                    lowest = minimum.twiceNLL
                    let probe = nuisanceStarts(around: minimum, excluding: indices, tolerance: multiStart.degeneracyTolerance, reusingScreen: reusing)
                    evaluations.multiStart += probe.evaluations
                    unprobed = probe.unprobed
                    for candidate in probe.starts {
                        if candidate.promising { pending.append(candidate) } else { excluded += 1 }
                    }
                }
                probed += 1
            }
            // Starts that lead where a fit already went are dropped.
            pending.removeAll { candidate in
                (minima.map(\.values) + tried).contains { point in
                    candidate.key.allSatisfy { i, scale in abs(point[i] - candidate.values[i]) <= 0.25 * scale }
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
            let warm = candidate.warm ? candidate.source.warmStart.map { WarmStart(indices: $0.indices, inverseHessian: $0.inverseHessian, values: candidate.values) } : nil
            let fit = minimize(from: candidate.values, warmStart: warm)
            evaluations.multiStart += fit.evaluations.total
            fits.append(fit)
            if fit.status.isConverged && !minima.contains(where: { sameMinimum($0, fit) }) { minima.append(fit) }
        }
        let search = MinimumSearch(strategy: .auto, parameters: indices.map { model.parameterNames[$0] }, fits: fits.count, untried: untried,
                                   excluded: excluded, globalMinimumAssured: untried == 0 && unprobed == 0)
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

    /// A start of `.auto`: the reflection of `source` along one direction, or a basin of one
    /// nuisance parameter's profile.
    struct SearchStart {
        let values: [Double]
        let source: FitResult
        /// The estimated 2NLL a fit from here reaches or passes: for a reflection the source's
        /// 2NLL plus R, the Pearson distance of the yields at the start from those at `source`;
        /// for a nuisance-parameter start the profile estimate p.
        let priority: Double
        /// A lower minimum may lie there (see ``MultiStart``).
        let promising: Bool
        /// The parameters (and their scales) by which a start duplicates a fit already made.
        let key: [(Int, Double)]
        /// Whether the fit from here starts with the source's curvature: yes for a reflection
        /// (the same quadratic model), no in another basin of a nuisance parameter (across a
        /// kink or a change of curvature it misleads the minimiser).
        var warm = true
    }

    /// The reflection starts around `minimum` along each searched parameter, each pair (both
    /// signs, for up to 12 parameters) and the sign flip of all, from the quadratic model of the
    /// yields (``MultiStart``).
    ///
    /// - Complexity: 1 + 2k + k(k − 1)/2 evaluations of the expected data (k ≤ 12; 1 + 2k above).
    func reflectionStarts(around minimum: FitResult, _ indices: [Int]) -> (starts: [SearchStart], evaluations: Int) {
        let theta = minimum.values
        let k = indices.count
        var evaluations = 1
        let nu0 = model.expectedMainData(theta)
        let bins = nu0.count
        guard nu0.allSatisfy(\.isFinite) else { return ([], evaluations) }
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
        var starts: [SearchStart] = []
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
            starts.append(SearchStart(values: x, source: minimum, priority: minimum.twiceNLL + distance, promising: promising, key: Array(zip(indices, steps))))
        }
        return (starts, evaluations)
    }

    /// The nuisance-parameter starts around `minimum` (``MultiStart``, nuisance parameters): the
    /// free parameters outside `searched` whose yields are not linear in them, screened from the
    /// expected data at c ± s, c ± s/2, probed along a grid with the others profiled by one Newton
    /// step, and a start in each basin of that profile the minimum is not in. `unprobed` counts
    /// the non-linear parameters beyond ``MultiStart/maximumProbedParameters``.
    ///
    /// - Complexity: 4 evaluations of the expected data per free parameter outside `searched`,
    ///   then ≤ 13 evaluations of 2NLL with its gradient and O(n²) work per probed parameter.
    ///
    /// - Parameter reusingScreen: take the screen's verdicts from ``screen`` when the first fit on
    ///   these data has made them (and store them there when this is that fit); false: screen here.
    func nuisanceStarts(
        around minimum: FitResult, excluding searched: [Int], tolerance: Double, reusingScreen: Bool = false
    ) -> (starts: [SearchStart], evaluations: Int, unprobed: Int) {
        let theta = minimum.values
        let inits = model.suggestedInits
        var evaluations = 0
        // Parameters the yields are linear in (known from the model) need no screen.
        let candidates = freeIndices.filter { i in !searched.contains(i) && (upper[i] - lower[i]).isFinite && !model.expectedMainDataIsLinear(in: i) }
        let cached = reusingScreen ? screen.verdicts : nil
        let unscreened = candidates.filter { cached?[$0] == nil }
        var nu0: [Double] = [], w: [Double] = []
        var residual = 0.0
        if !unscreened.isEmpty {
            evaluations += 1
            nu0 = model.expectedMainData(theta)
            guard nu0.allSatisfy(\.isFinite) else { return ([], evaluations, 0) }
            w = nu0.map { 1 / max($0, 1) }
            for b in 0..<min(nu0.count, data.main.count) { residual += w[b] * (data.main[b] - nu0[b]) * (data.main[b] - nu0[b]) }
        }
        // Σ = H⁻¹ of 2NLL over the free parameters, from the fit's curvature estimate.
        let free = freeIndices
        let position = Dictionary(uniqueKeysWithValues: free.enumerated().map { ($1, $0) })
        let n = free.count
        // Parameters on a bound at the minimum stay there: Σ is conditioned on them (as for a
        // Gaussian), so that the Newton step does not count a move out of the bounds.
        let active = Set((0..<n).filter { r in
            let i = free[r], tolerance = 1e-10 * max(1, abs(theta[i]))
            return theta[i] - lower[i] <= tolerance || upper[i] - theta[i] <= tolerance
        })
        var sigma = minimum.warmStart.flatMap { $0.indices == free ? $0.inverseHessian : nil }
        if var s = sigma {
            for q in active where s[q * n + q] > 0 {
                let column = (0..<n).map { s[$0 * n + q] }, sqq = s[q * n + q]
                for r in 0..<n { for c in 0..<n { s[r * n + c] -= column[r] * column[c] / sqq } }
            }
            sigma = s
        }
        // Screen, from the yields at c ± s and c ± s/2: r_b, the departure of ν_b from the chord
        // through c ± s, gives |ν_b''| ≈ 8/3 · max|r_b| / s² (exact for a parabola). A parameter
        // is linear enough when the 2NLL it can move, E = R + 2√(R χ²_r) with R = max Σ_b w_b r_b²,
        // is within the degeneracy tolerance, or when the negative curvature its yields can bring,
        // κ = Σ_b 2|ν_b''| max|1 − n_b/ν_b| (over those points), is below half the profile's
        // curvature 1/Σ_jj at the minimum: then the profile does not turn over.
        var nonlinear: [(index: Int, centre: Double, scale: Double, ratio: Double)] = []
        var verdicts: [Int: NuisanceScreen.Verdict] = [:]
        for i in candidates {
            let scale = min(1, 0.25 * (upper[i] - lower[i]))
            let centre = min(max(inits[i], lower[i] + scale), upper[i] - scale)
            if let verdict = cached?[i] {
                if case .probe(let ratio) = verdict { nonlinear.append((i, centre, scale, ratio)) }
                continue
            }
            func yields(_ v: Double) -> [Double] {
                var x = theta
                x[i] = v
                evaluations += 1
                return model.expectedMainData(x)
            }
            let low = yields(centre - scale), high = yields(centre + scale)
            let inner = [(-0.5, yields(centre - 0.5 * scale)), (0.5, yields(centre + 0.5 * scale))]
            var departure = 0.0
            var kappa = 0.0
            for b in 0..<min(nu0.count, data.main.count) {
                var r = 0.0
                for (u, nu) in inner { r = max(r, abs(nu[b] - (low[b] + 0.5 * (u + 1) * (high[b] - low[b])))) }
                var pull = 0.0
                for nu in [nu0[b], low[b], high[b], inner[0].1[b], inner[1].1[b]] { pull = max(pull, abs(1 - data.main[b] / max(nu, 1e-9))) }
                kappa += 2 * (8.0 / 3.0) * r / (scale * scale) * pull
            }
            for (u, nu) in inner {
                var r2 = 0.0
                for b in 0..<nu0.count {
                    let chord = low[b] + 0.5 * (u + 1) * (high[b] - low[b])
                    r2 += w[b] * (nu[b] - chord) * (nu[b] - chord)
                }
                departure = max(departure, r2.isFinite ? r2 : .infinity)
            }
            let effect = departure + 2 * (departure * residual).squareRoot()
            guard !(effect <= tolerance) else {
                verdicts[i] = .linear
                continue
            }
            let a = position[i]!
            let curvature = sigma.map { $0[a * n + a] > 0 ? 1 / $0[a * n + a] : 0 } ?? 0
            let ratio = curvature > 0 ? kappa / curvature : .infinity
            if !(ratio < 0.5) {
                nonlinear.append((i, centre, scale, ratio))
                verdicts[i] = .probe(ratio: ratio)
            } else {
                verdicts[i] = .linear
            }
        }
        if reusingScreen { screen.store(verdicts) }
        nonlinear.sort { $0.ratio > $1.ratio }
        let unprobed = max(0, nonlinear.count - MultiStart.maximumProbedParameters)
        var starts: [SearchStart] = []
        var gradient = [Double](repeating: 0, count: model.parameterCount)
        for (j, centre, scale, _) in nonlinear.prefix(MultiStart.maximumProbedParameters) {
            let a = position[j]!
            // The conditional inverse Hessian of the others, C = Σ_RR − Σ_Rj Σ_jR / Σ_jj.
            var conditional: [Double] = []
            if let sigma, sigma[a * n + a] > 0 {
                conditional = sigma
                let sjj = sigma[a * n + a]
                for r in 0..<n { for c in 0..<n { conditional[r * n + c] -= sigma[r * n + a] * sigma[a * n + c] / sjj } }
            }
            var grid = [-2, -1.5, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 1.5, 2].map { min(max(centre + $0 * scale, lower[j]), upper[j]) }
            grid.append(min(max(2 * centre - theta[j], lower[j]), upper[j]))
            grid = Array(Set(grid)).filter { abs($0 - theta[j]) > 0.05 * scale }.sorted()
            // Each probe: the point, its profile estimate p and the profile's slope d along θ_j.
            var probes: [(x: Double, p: Double, d: Double, start: [Double]?)] = [(theta[j], minimum.twiceNLL, 0, nil)]
            for v in grid {
                var y = theta
                y[j] = v
                if let sigma, sigma[a * n + a] > 0 {
                    for (r, i) in free.enumerated() where i != j && !active.contains(r) {
                        y[i] = min(max(y[i] + sigma[r * n + a] / sigma[a * n + a] * (v - theta[j]), lower[i]), upper[i])
                    }
                }
                evaluations += 1
                let f = -2 * model.logLikelihoodAndGradient(y, data: data, gradient: &gradient, wanted: wanted)
                guard f.isFinite else { continue }
                let g = free.map { -2 * gradient[$0] }
                var p = f, d = g[a]
                var start = y
                if !conditional.isEmpty {
                    // δ_R = −C g_R; p = f + ½ g_R·δ_R; d = g_j + Σ_jR g_R / Σ_jj.
                    for r in 0..<n where r != a && !active.contains(r) {
                        var delta = 0.0
                        for c in 0..<n where c != a && !active.contains(c) { delta -= conditional[r * n + c] * g[c] }
                        p += 0.5 * g[r] * delta
                        d += sigma![a * n + r] * g[r] / sigma![a * n + a]
                        let i = free[r]
                        start[i] = min(max(y[i] + delta, lower[i]), upper[i])
                    }
                }
                probes.append((v, p, d, start))
            }
            probes.sort { $0.x < $1.x }
            // A basin other than the minimum's: the slope turns from − to + between neighbours
            // (the lower of the two starts), or points out of the grid at its ends.
            var basins: [(p: Double, start: [Double])] = []
            for (l, r) in zip(probes, probes.dropFirst()) where l.d < 0 && r.d > 0 {
                if let ls = l.start, let rs = r.start { basins.append(l.p <= r.p ? (l.p, ls) : (r.p, rs)) }
            }
            if let f = probes.first, f.d > 0, let s = f.start { basins.append((f.p, s)) }
            if let f = probes.last, f.d < 0, let s = f.start { basins.append((f.p, s)) }
            // Where the quadratic model does not reach the other basin (a kink, a strong
            // correlation) the slope misleads but p does not: the lowest probe on each side of θ̂_j
            // whose p is clearly (``MultiStart/profileMargin``) below the minimum's 2NLL.
            for side in [probes.filter { $0.x < theta[j] }, probes.filter { $0.x > theta[j] }] {
                if let low = side.min(by: { $0.p < $1.p }), let start = low.start, low.p < minimum.twiceNLL - MultiStart.profileMargin,
                   !basins.contains(where: { $0.start == start }) {
                    basins.append((low.p, start))
                }
            }
            for basin in basins {
                starts.append(SearchStart(values: basin.start, source: minimum, priority: basin.p,
                                          promising: basin.p < minimum.twiceNLL, key: [(j, scale)], warm: false))
            }
        }
        return (starts, evaluations, unprobed)
    }
}

/// The verdicts of `.auto`'s nuisance-parameter screen (``MultiStart``) for one model and one
/// data set, made by the first fit on them and reused by the later fits of a hypotest, a limit
/// or a toy: around their first minimum they probe the parameters it flagged and skip the others.
/// The screen depends on the data (the pulls n_b/ν_b and χ²_r), so Asimov data get their own.
/// The fits that share a screen run their first fit before any other (the test statistics'
/// unconditional fit), so the verdicts do not depend on thread timing.
final class NuisanceScreen: @unchecked Sendable {
    enum Verdict: Sendable {
        /// The profile along the parameter has one minimum: no probes.
        case linear
        /// Probe the profile; `ratio` (κ over the profile's curvature) orders the probes.
        case probe(ratio: Double)
    }

    private let lock = NSLock()
    // Guarded by `lock`; written once.
    private var stored: [Int: Verdict]? = nil

    /// The verdicts by parameter index, once the first fit has screened.
    var verdicts: [Int: Verdict]? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    /// Keeps the first fit's verdicts; later calls change nothing.
    func store(_ verdicts: [Int: Verdict]) {
        lock.lock()
        defer { lock.unlock() }
        if stored == nil { stored = verdicts }
    }
}
