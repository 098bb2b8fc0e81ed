import Foundation
import HistFactory

extension DifferentiableLikelihood {
    /// The maximum-likelihood fit: minimises 2NLL(θ) = −2 log L(θ | data) over the free parameters
    /// within their bounds (pyhf's `mle.fit`, objective `twice_nll`).
    ///
    /// With `options.multiStart` the fit looks for the global minimum (``MultiStart``); the
    /// result lists the distinct minima found and whether the global one is assured.
    ///
    /// Fixed parameters are taken out of the vector the minimiser sees. The minimiser is
    /// ``BoundedQuasiNewton`` on the analytic gradient; when it fails, the fit retries with a fresh
    /// curvature estimate, then with NLopt's LD_LBFGS, then from the suggested inits, and reports
    /// `.failed` with every reason only if all of them fail. It does not throw for a failed fit;
    /// check `status`.
    ///
    /// - Throws: ``InferenceError`` with code `.invalidOptions` for options that do not fit the model.
    /// - Complexity: O(iterations × (gradient cost + n²)); uncertainties add 2n gradient evaluations.
    public func fit(_ data: ModelData, options: FitOptions = FitOptions()) throws(InferenceError) -> FitResult {
        try options.cancellation?.check()
        let problem = try FitProblem(model: self, data: data, options: options)
        let result = try problem.runSearch()
        try options.cancellation?.check()
        return result
    }

    /// The fit with `name` held at `value` (pyhf's `fixed_poi_fit` when `name` is the POI).
    public func fit(_ data: ModelData, fixing name: String, at value: Double, options: FitOptions = FitOptions()) throws(InferenceError) -> FitResult {
        var options = options
        options.fixedValues[name] = value
        return try fit(data, options: options)
    }
}

/// A fit set up for the minimiser: start, bounds and the free-parameter map.
struct FitProblem: Sendable {
    let model: any DifferentiableLikelihood
    let data: ModelData
    let options: FitOptions
    /// Full-length start vector (fixed parameters at their values).
    let start: [Double]
    let lower: [Double]
    let upper: [Double]
    let fixed: [Bool]
    /// Model indices of the parameters the minimiser sees.
    let freeIndices: [Int]
    /// The parameters whose derivatives the fit's gradient evaluations compute: the free ones of
    /// the problem as first set up, kept by ``fixing(_:searching:)`` (a profile interval reads the
    /// slope along the parameter its sub-fits fix, ``FitResult/fullGradient``).
    let wanted: [Bool]
    /// The nuisance-parameter screen of `.auto` on these data, shared by the problems derived
    /// with ``fixing(_:searching:)`` (same model, same data) and new for ``with(data:)``.
    let screen: NuisanceScreen

    init(model: any DifferentiableLikelihood, data: ModelData, options: FitOptions) throws(InferenceError) {
        let n = model.parameterCount
        var start = options.initialValues ?? model.suggestedInits
        let bounds = options.bounds ?? model.suggestedBounds
        var fixed = options.fixed ?? model.suggestedFixed
        guard start.count == n, bounds.count == n, fixed.count == n else {
            throw InferenceError(.invalidOptions, "the model has \(n) parameters; got \(start.count) initial values, \(bounds.count) bounds, \(fixed.count) fixed flags")
        }
        for (name, value) in options.fixedValues {
            let i: Int
            do { i = try model.parameterIndex(named: name) } catch { throw InferenceError(.invalidOptions, error.message) }
            guard value.isFinite else { throw InferenceError(.invalidOptions, "the fixed value of \(name) is \(value)") }
            start[i] = value
            fixed[i] = true
        }
        let names = model.parameterNames
        for i in 0..<n where !fixed[i] && !bounds[i].contains(start[i]) {
            throw InferenceError(.invalidOptions, "the initial value \(start[i]) of \(names[i]) is outside its bounds \(bounds[i])")
        }
        let free = fixed.lazy.filter { !$0 }.count
        guard free <= Self.maximumFreeParameters else {
            throw InferenceError(.invalidOptions, "the fit has \(free) free parameters; the limit is \(Self.maximumFreeParameters), since the quasi-Newton minimiser and the Hessian hold n × n matrices (\(free) × \(free) × 8 bytes); fix or prune parameters (efthf prune)")
        }
        self.model = model
        self.data = data
        self.options = options
        self.start = start
        self.lower = bounds.map(\.lowerBound)
        self.upper = bounds.map(\.upperBound)
        self.fixed = fixed
        self.freeIndices = (0..<n).filter { !fixed[$0] }
        self.wanted = fixed.map { !$0 }
        self.screen = NuisanceScreen()
    }

    /// Most free parameters of one fit: its dense n × n inverse Hessian (and the Hessian of the
    /// uncertainties) then take at most 800 MB.
    static let maximumFreeParameters = 10_000

    /// The same problem with some parameters additionally fixed (or moved) to `values`.
    /// Its fits are sub-fits (profile intervals, scan points, test statistics): they compute no
    /// uncertainties and search no other minima unless `searching` (the conditional fits of a
    /// test statistic, whose minimum over the nuisance parameters must be the global one too).
    func fixing(_ values: [Int: Double], searching: Bool = false) -> FitProblem {
        var start = self.start, fixed = self.fixed
        for (i, v) in values {
            start[i] = v
            fixed[i] = true
        }
        var options = self.options
        options.computeUncertainties = false
        if !searching { options.multiStart = nil }
        return FitProblem(model: model, data: data, options: options, start: start, lower: lower, upper: upper, fixed: fixed, wanted: wanted, screen: screen)
    }

    /// The same problem on other data (with a screen of its own: the screen depends on the data).
    func with(data: ModelData) -> FitProblem {
        FitProblem(model: model, data: data, options: options, start: start, lower: lower, upper: upper, fixed: fixed, wanted: wanted, screen: NuisanceScreen())
    }

    private init(model: any DifferentiableLikelihood, data: ModelData, options: FitOptions, start: [Double], lower: [Double], upper: [Double], fixed: [Bool],
                 wanted: [Bool], screen: NuisanceScreen) {
        self.model = model
        self.data = data
        self.options = options
        self.start = start
        self.lower = lower
        self.upper = upper
        self.fixed = fixed
        self.freeIndices = (0..<start.count).filter { !fixed[$0] }
        self.wanted = wanted
        self.screen = screen
    }

    /// 2NLL and its gradient over the free parameters, the others taken from `full`; 2NLL alone
    /// (the same doubles, ``DifferentiableLikelihood/logLikelihood(_:data:)``); `lowest` is the
    /// point evaluated with its gradient with the lowest finite 2NLL so far (the free parameters)
    /// and ∇2NLL there over all parameters (0 for those not ``wanted``).
    func withObjective<R>(
        _ body: (_ objective: ([Double], inout [Double]) -> Double, _ value: @escaping ([Double]) -> Double, _ lowest: () -> (x: [Double], gradient: [Double])?) -> R
    ) -> R {
        var full = start
        var gradient = [Double](repeating: 0, count: model.parameterCount)
        var lowest: (value: Double, x: [Double], gradient: [Double])? = nil
        let free = freeIndices
        let model = model, data = data, cancellation = options.cancellation, wanted = wanted
        return body({ x, g in
            // Cancelled: no evaluation, and a value the minimiser stops on.
            if cancellation?.isCancelled == true { return .nan }
            for (k, i) in free.enumerated() { full[i] = x[k] }
            let logL = model.logLikelihoodAndGradient(full, data: data, gradient: &gradient, wanted: wanted)
            for (k, i) in free.enumerated() { g[k] = -2 * gradient[i] }
            let f = -2 * logL
            if f.isFinite, f <= lowest?.value ?? .infinity, gradient.allSatisfy(\.isFinite) {
                lowest = (f, x, gradient.map { -2 * $0 })
            }
            return f
        }, { x in
            if cancellation?.isCancelled == true { return .nan }
            for (k, i) in free.enumerated() { full[i] = x[k] }
            return -2 * model.logLikelihood(full, data: data)
        }, { lowest.map { ($0.x, $0.gradient) } })
    }

    func twiceNLL(_ full: [Double]) -> Double { -2 * model.logLikelihood(full, data: data) }

    /// One local fit from `initial`, with retries, and its uncertainties when the options ask for
    /// them.
    func run(from initial: [Double], warmStart: WarmStart?) -> FitResult {
        let fit = minimize(from: initial, warmStart: warmStart)
        return options.computeUncertainties ? addingUncertainties(fit) : fit
    }

    /// Whether the options' ``Cancellation`` is cancelled: fits not yet started are skipped.
    var isCancelled: Bool { options.cancellation?.isCancelled == true }

    /// The result of a fit skipped because the computation was cancelled.
    func cancelled(at values: [Double]) -> FitResult {
        FitResult(parameterNames: model.parameterNames, values: values, twiceNLL: .nan, status: .failed(reason: "cancelled"),
                  edm: .infinity, fixed: fixed, functionCalls: 0, covarianceStorage: nil, minuitUncertainties: nil,
                  localMinima: [], degeneracyTolerance: 0, warmStart: nil, evaluations: FitEvaluations())
    }

    /// One local fit from `initial` (no uncertainties), with retries. A start outside the domain
    /// (2NLL not finite) is first moved into it (``domainStart(near:)``); when that fails the
    /// status says why.
    func minimize(from initial: [Double], warmStart: WarmStart?) -> FitResult {
        let free = freeIndices
        var startFull = initial
        for i in 0..<start.count where fixed[i] { startFull[i] = start[i] }
        if isCancelled { return cancelled(at: startFull) }
        var inverseHessian: [Double]? = nil
        if let warm = warmStart, let conditioned = warm.conditioned(on: startFull, freeIndices: free) {
            startFull = conditioned.start
            for i in 0..<start.count where fixed[i] { startFull[i] = start[i] }
            inverseHessian = conditioned.inverseHessian
        }
        var calls = 0
        let lo = free.map { lower[$0] }, hi = free.map { upper[$0] }
        var minimizer = BoundedQuasiNewton()
        minimizer.edmTolerance = options.edmTolerance
        minimizer.maxIterations = options.maxIterations
        var reasons: [String] = []
        var best: BoundedQuasiNewton.Outcome? = nil
        func consider(_ outcome: BoundedQuasiNewton.Outcome, _ label: String) {
            calls += outcome.evaluations
            if let failure = outcome.failure { reasons.append("\(label): \(failure)") }
            guard let current = best else { best = outcome; return }
            let ok = outcome.failure == nil, currentOK = current.failure == nil
            // A converged outcome beats a failed one; otherwise the lower 2NLL wins.
            if ok != currentOK ? ok : outcome.value < current.value { best = outcome }
        }
        var fullGradient: [Double] = []
        var outsideDomain: String? = nil
        withObjective { objective, value, lowest in
            defer {
                if let lowest = lowest(), let outcome = best, lowest.x == outcome.x { fullGradient = lowest.gradient }
            }
            var x0 = free.map { startFull[$0] }
            // The domain check of the start is the minimiser's first evaluation, with the gradient
            // (for a start inside the box, where the minimiser does not move it): one evaluation
            // rather than a value-only one and then one with the gradient at the same point.
            var known: (value: Double, gradient: [Double])? = nil
            let startValue: Double
            if (0..<free.count).allSatisfy({ lo[$0] <= x0[$0] && x0[$0] <= hi[$0] }) {
                var g0 = [Double](repeating: 0, count: free.count)
                startValue = objective(x0, &g0)
                known = (startValue, g0)
            } else {
                startValue = twiceNLL(startFull)
            }
            if !startValue.isFinite {
                calls += 1
                let moved = domainStart(near: startFull)
                calls += moved.evaluations
                guard let point = moved.start else {
                    outsideDomain = moved.reason
                    return
                }
                startFull = point
                inverseHessian = nil
                x0 = free.map { startFull[$0] }
                known = nil
            }
            consider(minimizer.minimize(start: x0, lower: lo, upper: hi, inverseHessian: inverseHessian, startEvaluation: known, value: value, objective: objective), "BFGS")
            if best!.failure == nil { return }
            // Retry 1: a fresh diagonal curvature estimate from the best point, a stricter line search.
            var strict = minimizer
            strict.armijo = 1e-6
            strict.maxIterations = 4 * minimizer.maxIterations
            let from = best!.value.isFinite ? best!.x : x0
            consider(strict.minimize(start: from, lower: lo, upper: hi, value: value, objective: objective), "BFGS restarted")
            if best!.failure == nil { return }
            // Retry 2: an independent algorithm, NLopt LD_LBFGS, checked by BFGS from its answer.
            let nlopt = minimizeWithNLopt(start: best!.value.isFinite ? best!.x : x0, lower: lo, upper: hi, maxEvaluations: 100 * minimizer.maxIterations, objective: objective)
            calls += nlopt.evaluations
            if let error = nlopt.error { reasons.append("NLopt LD_LBFGS: \(error)") }
            if nlopt.value.isFinite {
                consider(strict.minimize(start: nlopt.x, lower: lo, upper: hi, value: value, objective: objective), "BFGS after NLopt")
                if best!.failure == nil { return }
            }
            // Retry 3: the suggested inits.
            let inits = model.suggestedInits
            let x1 = free.map { min(max(inits[$0], lower[$0]), upper[$0]) }
            if x1 != x0 {
                consider(strict.minimize(start: x1, lower: lo, upper: hi, value: value, objective: objective), "BFGS from the suggested inits")
            }
        }
        if let reason = outsideDomain {
            return FitResult(
                parameterNames: model.parameterNames, values: startFull, twiceNLL: .nan, status: .failed(reason: reason),
                edm: .infinity, fixed: fixed, functionCalls: calls, covarianceStorage: nil, minuitUncertainties: nil,
                localMinima: [], degeneracyTolerance: 0, warmStart: nil, evaluations: FitEvaluations(localFit: calls))
        }
        let outcome = best!
        var values = startFull
        for (k, i) in free.enumerated() { values[i] = outcome.x[k] }
        let names = model.parameterNames
        let status: FitStatus
        if outcome.failure != nil {
            status = .failed(reason: reasons.joined(separator: "; "))
        } else {
            let atBound = free.filter { i in
                let tolerance = 1e-10 * max(1, abs(values[i]))
                return values[i] - lower[i] <= tolerance || upper[i] - values[i] <= tolerance
            }
            status = atBound.isEmpty ? .converged : .convergedAtBound(parameters: atBound.map { names[$0] })
        }
        let warm = outcome.inverseHessian.isEmpty ? nil : WarmStart(indices: free, inverseHessian: outcome.inverseHessian, values: values)
        return FitResult(
            parameterNames: names, values: values, twiceNLL: outcome.value, status: status, edm: outcome.edm, fixed: fixed,
            functionCalls: calls, covarianceStorage: nil, minuitUncertainties: nil, localMinima: [], degeneracyTolerance: 0,
            warmStart: warm, gradient: outcome.gradient, fullGradient: fullGradient, evaluations: FitEvaluations(localFit: calls))
    }

    /// `fit` with the covariance from the Hessian at its minimum (2 gradient evaluations per free
    /// parameter), after one Newton step with that Hessian (kept only if 2NLL drops).
    func addingUncertainties(_ fit: FitResult) -> FitResult {
        guard fit.status.isConverged, fit.covarianceStorage == nil else { return fit }
        let free = freeIndices
        var status = fit.status
        var values = fit.values
        var minimum = fit.twiceNLL
        var calls = 0
        var warm = fit.warmStart
        var covariance: [Double]? = nil
        var minuitErrors: [Double]? = nil
        let gradient = fit.gradient.count == free.count ? fit.gradient : [Double](repeating: 0, count: free.count)
        let hessian = self.hessian(at: values, inverseHessianHint: warm?.indices == free ? warm!.inverseHessian : [])
        calls += 2 * free.count
        if let inverse = choleskyInverse(hessian, free.count) {
            if case .converged = status {
                var polished = values
                for (a, i) in free.enumerated() {
                    var step = 0.0
                    for b in 0..<free.count { step -= inverse[a * free.count + b] * gradient[b] }
                    polished[i] = min(max(values[i] + step, lower[i]), upper[i])
                }
                let f = twiceNLL(polished)
                calls += 1
                if f.isFinite && f < minimum {
                    values = polished
                    minimum = f
                }
            }
            let n = values.count
            var v = [Double](repeating: 0, count: n * n)
            for (a, i) in free.enumerated() {
                for (b, j) in free.enumerated() { v[i * n + j] = 2 * inverse[a * free.count + b] }
            }
            covariance = v
            minuitErrors = minuitUncertainties(hessian: hessian, gradient: gradient, values: values)
            warm = WarmStart(indices: free, inverseHessian: inverse, values: values)
        } else {
            status = .failed(reason: "the Hessian of 2NLL at the minimum is not positive definite")
        }
        var evaluations = fit.evaluations
        evaluations.uncertainties += calls
        return FitResult(
            parameterNames: fit.parameterNames, values: values, twiceNLL: minimum, status: status, edm: fit.edm, fixed: fit.fixed,
            functionCalls: evaluations.total, covarianceStorage: covariance, minuitUncertainties: minuitErrors,
            localMinima: fit.localMinima, degeneracyTolerance: fit.degeneracyTolerance, warmStart: warm, gradient: gradient,
            evaluations: evaluations, search: fit.search)
    }

    /// A point inside the domain (2NLL finite) near `x`, a start outside it (a bin with ν = 0 and
    /// n > 0, negative yields). Tries, at steps of 1 %, 10 % and 50 % of each free parameter's
    /// scale (half its range when finite, else max(1, |x_i|)), every free parameter moved alone
    /// up and down, then all together, and keeps the lowest finite 2NLL of the first step size that
    /// gives one; then the suggested inits. Without one, `reason` names the bins that make 2NLL
    /// infinite at `x`.
    ///
    /// - Complexity: at most 3·(2k + 2) + 1 evaluations of 2NLL for k free parameters.
    func domainStart(near x: [Double]) -> (start: [Double]?, evaluations: Int, reason: String) {
        var evaluations = 0
        let free = freeIndices
        for fraction in [0.01, 0.1, 0.5] {
            var candidates: [[Double]] = []
            func moved(_ shift: (Int) -> Double) -> [Double] {
                var y = x
                for i in free {
                    let scale = lower[i].isFinite && upper[i].isFinite ? 0.5 * (upper[i] - lower[i]) : max(1, abs(x[i]))
                    y[i] = min(max(x[i] + shift(i) * fraction * scale, lower[i]), upper[i])
                }
                return y
            }
            for i in free {
                candidates.append(moved { $0 == i ? 1 : 0 })
                candidates.append(moved { $0 == i ? -1 : 0 })
            }
            candidates.append(moved { _ in 1 })
            candidates.append(moved { _ in -1 })
            var best: (point: [Double], value: Double)? = nil
            for c in candidates where c != x {
                let f = twiceNLL(c)
                evaluations += 1
                if f.isFinite, f < best?.value ?? .infinity { best = (c, f) }
            }
            if let best { return (best.point, evaluations, "") }
        }
        var inits = model.suggestedInits
        for i in 0..<inits.count where fixed[i] { inits[i] = start[i] }
        evaluations += 1
        if inits != x, twiceNLL(inits).isFinite { return (inits, evaluations, "") }
        return (nil, evaluations, outsideDomainReason(x))
    }

    /// Why 2NLL is not finite at `x`: the main bins with ν ≤ 0 (or not finite) and n > 0, the
    /// bins with negative ν, or else the constraint terms.
    func outsideDomainReason(_ x: [Double]) -> String {
        let nu = model.expectedMainData(x)
        var empty: [String] = [], negative: [String] = [], nonFinite: [String] = []
        for (b, v) in nu.enumerated() {
            let n = b < data.main.count ? data.main[b] : 0
            if !v.isFinite { nonFinite.append("\(b) (ν = \(v))") }
            else if v < 0 { negative.append("\(b) (ν = \(v), n = \(n))") }
            else if v == 0 && n > 0 { empty.append("\(b) (n = \(n))") }
        }
        func list(_ bins: [String]) -> String { bins.prefix(8).joined(separator: ", ") + (bins.count > 8 ? ", … (\(bins.count) bins)" : "") }
        var parts: [String] = []
        if !empty.isEmpty { parts.append("main bins with ν = 0 and n > 0: \(list(empty))") }
        if !negative.isEmpty { parts.append("main bins with negative ν: \(list(negative))") }
        if !nonFinite.isEmpty { parts.append("main bins with ν not finite: \(list(nonFinite))") }
        if let problem = model.domainProblem(x) { parts.insert("outside the model's domain: \(problem)", at: 0) }
        if parts.isEmpty { parts.append("the constraint terms are not finite") }
        return "2NLL is not finite at the start and at every point tried around it (steps of 1 %, 10 %, 50 % of each free parameter's range, the suggested inits): " + parts.joined(separator: "; ")
    }
}

extension FitProblem {
    /// The errors Minuit's HESSE reports for the same minimum when every parameter has limits
    /// (as pyhf passes them), from our Hessian. Minuit works in internal coordinates
    /// ```
    /// θ = a + (b − a)/2 · (sin u + 1)            (double limits [a, b])
    /// ∂²F/∂u_i∂u_j = J_i J_j H_ij + δ_ij g_i θ''_i,   J = (b − a)/2 cos u,  θ'' = −(b − a)/2 sin u
    /// σ_u = √(2 (∂²F/∂u²)⁻¹_ii)                   (errordef 1 on F = 2NLL)
    /// σ_θ = ½ (|θ(u + σ_u) − θ(u)| + |θ(u − σ_u) − θ(u)|)   (MnUserTransformation::Int2extError;
    ///                                                       |θ(u + σ_u) − θ(u)| → b − a if σ_u > 1)
    /// ```
    /// so its errors differ from √V_ii where the sine is curved over ±σ_u (a few per cent for a
    /// POI with bounds [0, 3], 0.7 % for a nuisance parameter with [−5, 5]), and a parameter on a
    /// limit (J = 0) decouples: the others get their errors conditional on it.
    func minuitUncertainties(hessian H: [Double], gradient g: [Double], values: [Double]) -> [Double]? {
        let free = freeIndices
        let k = free.count
        var u = [Double](repeating: 0, count: k), J = u, second = u
        for (a, i) in free.enumerated() {
            let lo = lower[i], hi = upper[i]
            guard lo.isFinite, hi.isFinite else { return nil }
            let half = 0.5 * (hi - lo)
            u[a] = asin(min(max((values[i] - lo) / half - 1, -1), 1))
            J[a] = half * cos(u[a])
            second[a] = -half * sin(u[a])
        }
        var hessianU = [Double](repeating: 0, count: k * k)
        for a in 0..<k {
            for b in 0..<k { hessianU[a * k + b] = J[a] * J[b] * H[a * k + b] }
            hessianU[a * k + a] += g[a] * second[a]
        }
        guard let inverse = choleskyInverse(hessianU, k) else { return nil }
        var errors = [Double](repeating: 0, count: values.count)
        for (a, i) in free.enumerated() {
            let lo = lower[i], hi = upper[i]
            func external(_ v: Double) -> Double { lo + 0.5 * (hi - lo) * (sin(v) + 1) }
            let sigma = (2 * inverse[a * k + a]).squareRoot()
            let centre = external(u[a])
            let up = sigma > 1 ? hi - lo : external(u[a] + sigma) - centre
            let down = external(u[a] - sigma) - centre
            errors[i] = 0.5 * (abs(up) + abs(down))
        }
        return errors
    }
}
