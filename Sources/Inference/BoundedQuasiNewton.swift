import Foundation

/// A box-constrained quasi-Newton minimiser driven by an analytic gradient: dense BFGS on the
/// inverse Hessian, an active set from the bounds, and a backtracking projected line search.
///
/// Why our own rather than NLopt's LD_LBFGS as the first choice: the fits need (a) an honest
/// convergence criterion in the statistician's units (the estimated distance to the minimum,
/// below), which NLopt's relative-tolerance stopping rules do not provide; (b) steps that back off
/// when 2NLL is not finite (negative yields), where NLopt's Lukšan line search gives up with a
/// generic failure; (c) the inverse-Hessian estimate at the minimum, to warm-start the next fit of
/// a scan or hypothesis test (most fits then take a handful of iterations). NLopt remains the
/// independent retry strategy (``minimizeWithNLopt``).
///
/// Per iteration, with g = ∇f and H ≈ (∇²f)⁻¹:
/// ```
/// A = { i : x_i = l_i, g_i > 0 } ∪ { i : x_i = u_i, g_i < 0 }     (active bounds)
/// F = the other variables
/// EDM = ½ g_Fᵀ H_FF g_F                                            (Minuit's estimated distance)
/// d_F = −H_FF g_F,  x(α) = clip(x + α d, l, u)
/// ```
/// A variable on a bound whose component of d points out of the box joins A for that step, so the
/// projection never cuts a short step and gᵀ(x(α) − x) = α gᵀd < 0. α starts at 1 and backtracks
/// (safeguarded quadratic interpolation) until the Armijo condition f(x(α)) ≤ f(x) + 10⁻⁴ gᵀ(x(α) − x)
/// holds; a non-finite f counts as a failed step and shrinks α tenfold. Given f alone (cheaper,
/// the same doubles), the trials after the first evaluate f only and the accepted one ∇f after:
/// a quarter of the trials of an EFT fit backtrack, mostly on rounding near the minimum. H gets the BFGS update
/// `H⁺ = (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ`, ρ = 1/(yᵀs), skipped when yᵀs ≤ 10⁻¹²|s||y|.
///
/// Convergence: EDM < `edmTolerance`. For f = 2NLL (errordef 1) EDM is the expected decrease of
/// 2NLL still to come, so the default 10⁻¹² puts every parameter within about 10⁻⁶ σ of the
/// minimum. That strictness matters for Asimov data, which are built from fitted parameters:
/// with 10⁻¹⁰, q_A of pyhf's simple model is 10⁻⁶ off; with 10⁻¹² it is 10⁻⁷ off, for a few
/// more (superlinearly convergent) iterations. Where the rounding of 2NLL is larger than that
/// (large counts), the fit also ends, converged, once EDM < 10³ × tolerance and a step gains less
/// than a tenth of its predicted EDM or needs its line search to backtrack, or after ten steps in
/// that range. A hundred steps that
/// together gain less than the current EDM end the minimisation as stalled (converged only if
/// EDM < 10³ × tolerance), so that the caller's retries take over.
struct BoundedQuasiNewton: Sendable {
    var edmTolerance = 1e-12
    var maxIterations = 20_000
    /// Armijo constant c₁ of the sufficient-decrease condition.
    var armijo = 1e-4

    struct Outcome: Sendable {
        var x: [Double]
        var value: Double
        var gradient: [Double]
        /// Row-major n×n inverse-Hessian estimate at `x`.
        var inverseHessian: [Double]
        var edm: Double
        var iterations: Int
        var evaluations: Int
        /// nil when converged.
        var failure: String?
    }

    /// Minimises `objective` (value, gradient written into its second argument) over the box.
    ///
    /// - Parameters:
    ///   - inverseHessian: a starting estimate (row-major n×n); nil estimates its diagonal
    ///     by forward differences of the gradient (n gradient evaluations).
    ///   - startEvaluation: `objective` at `start` (value, gradient) when the caller has it, used
    ///     only if `start` is inside the box; it counts as the first evaluation, as if made here.
    ///   - value: the objective's value alone, when cheaper than with the gradient and equal to
    ///     `objective`'s value to the bit. A line search's trials after its first (α < 1: the first
    ///     was rejected) then evaluate the value only, and the accepted one its gradient after.
    ///     Each call of either counts as an evaluation.
    /// - Complexity: O(n²) per iteration plus one gradient evaluation per line-search trial
    ///   (with `value`: per first trial and accepted one, one value evaluation per other trial).
    func minimize(
        start: [Double], lower: [Double], upper: [Double], inverseHessian: [Double]? = nil,
        startEvaluation: (value: Double, gradient: [Double])? = nil,
        value: (([Double]) -> Double)? = nil,
        objective: ([Double], inout [Double]) -> Double
    ) -> Outcome {
        let n = start.count
        var evaluations = 0
        func finite(_ f: Double, _ g: [Double]) -> Double { f.isFinite && g.allSatisfy(\.isFinite) ? f : .infinity }
        func evaluate(_ x: [Double], _ g: inout [Double]) -> Double {
            evaluations += 1
            let f = objective(x, &g)
            return finite(f, g)
        }
        /// `value` at a backtracking trial (`.infinity` where not finite); nil without `value`.
        func evaluateValue(_ x: [Double]) -> Double? {
            guard let value else { return nil }
            evaluations += 1
            let f = value(x)
            return f.isFinite ? f : .infinity
        }
        var x = (0..<n).map { min(max(start[$0], lower[$0]), upper[$0]) }
        var g = [Double](repeating: 0, count: n)
        var f: Double
        if let known = startEvaluation, x == start, known.gradient.count == n {
            evaluations += 1
            g = known.gradient
            f = finite(known.value, g)
        } else {
            f = evaluate(x, &g)
        }
        guard f.isFinite else {
            return Outcome(
                x: x, value: f, gradient: g, inverseHessian: [], edm: .infinity, iterations: 0,
                evaluations: evaluations, failure: "2NLL or its gradient is not finite at the start point")
        }
        guard n > 0 else {
            return Outcome(x: x, value: f, gradient: g, inverseHessian: [], edm: 0, iterations: 0, evaluations: evaluations, failure: nil)
        }
        var H = inverseHessian ?? diagonalInverseHessian(x: x, g: g, lower: lower, upper: upper, evaluate: evaluate)
        var resets = 0
        var polishing = 0
        var checkpoint = f
        var iteration = 0
        var edm = Double.infinity
        var trial = [Double](repeating: 0, count: n)
        var gTrial = [Double](repeating: 0, count: n)
        var d = [Double](repeating: 0, count: n)
        var yVector = [Double](repeating: 0, count: n)
        var free = [Bool](repeating: true, count: n)
        while iteration < maxIterations {
            iteration += 1
            // Active set from the gradient, and the EDM over the free variables.
            for i in 0..<n {
                free[i] = !((x[i] <= lower[i] && g[i] > 0) || (x[i] >= upper[i] && g[i] < 0))
            }
            edm = 0.5 * quadraticForm(H, g, free, n)
            if edm < edmTolerance && edm >= 0 {
                return Outcome(x: x, value: f, gradient: g, inverseHessian: H, edm: edm, iterations: iteration, evaluations: evaluations, failure: nil)
            }
            if !(edm >= 0) {
                // Lost positive definiteness through rounding: start the curvature estimate over.
                H = diagonalInverseHessian(x: x, g: g, lower: lower, upper: upper, evaluate: evaluate)
                resets += 1
                if resets > 20 { break }
                continue
            }
            // Direction; bound variables it would push outwards are held for this step.
            var slope = 0.0
            for _ in 0..<n {
                multiply(H, g, free, n, into: &d)
                var changed = false
                for i in 0..<n where free[i] {
                    if (x[i] <= lower[i] && d[i] < 0) || (x[i] >= upper[i] && d[i] > 0) {
                        free[i] = false
                        changed = true
                    }
                }
                if !changed { break }
            }
            for i in 0..<n { slope += g[i] * d[i] }
            if !(slope < 0) {
                if edm < 1e3 * edmTolerance { break }
                H = diagonalInverseHessian(x: x, g: g, lower: lower, upper: upper, evaluate: evaluate)
                resets += 1
                if resets > 20 { break }
                continue
            }
            // Backtracking line search on the projected path.
            var alpha = 1.0
            var fTrial = Double.infinity
            var accepted = false
            var backtracked = false
            while alpha > 1e-20 {
                var decrease = 0.0
                for i in 0..<n {
                    trial[i] = min(max(x[i] + alpha * d[i], lower[i]), upper[i])
                    decrease += g[i] * (trial[i] - x[i])
                }
                // Backtracking trials mostly fail (near the minimum, on rounding), so their gradient
                // is computed only for the one accepted; an accepted value whose gradient turns out
                // not finite is a failed trial, as when both come at once.
                if alpha < 1, let valueOnly = evaluateValue(trial) {
                    fTrial = valueOnly
                    if fTrial.isFinite && fTrial <= f + armijo * decrease { fTrial = evaluate(trial, &gTrial) }
                } else {
                    fTrial = evaluate(trial, &gTrial)
                }
                if fTrial.isFinite && fTrial <= f + armijo * decrease {
                    accepted = true
                    break
                }
                backtracked = true
                if fTrial.isFinite {
                    // Minimum of the quadratic through f, the slope and fTrial, kept in [0.1α, 0.5α].
                    let denominator = 2 * (fTrial - f - alpha * slope)
                    let next = denominator > 0 ? -slope * alpha * alpha / denominator : 0.5 * alpha
                    alpha = min(max(next, 0.1 * alpha), 0.5 * alpha)
                } else {
                    alpha *= 0.1
                }
            }
            if !accepted {
                // No decrease along d: near the minimum this is rounding; elsewhere the curvature
                // estimate is bad, so start it over from the diagonal.
                if edm < 1e3 * edmTolerance { break }
                H = diagonalInverseHessian(x: x, g: g, lower: lower, upper: upper, evaluate: evaluate)
                resets += 1
                if resets > 20 { break }
                continue
            }
            // BFGS update of H with s = Δx, y = Δg.
            var sy = 0.0, ss = 0.0, yy = 0.0
            for i in 0..<n {
                let s = trial[i] - x[i], y = gTrial[i] - g[i]
                d[i] = s
                yVector[i] = y
                sy += s * y; ss += s * s; yy += y * y
            }
            let previous = f
            if sy > 1e-12 * (ss * yy).squareRoot() {
                bfgsUpdate(&H, s: d, y: yVector, sy: sy, n)
            }
            swap(&x, &trial)
            swap(&g, &gTrial)
            f = fTrial
            // Within 10³ of the tolerance, a step that gains less than a tenth of the EDM it was
            // predicted to gain, or whose full quasi-Newton step failed the Armijo test, is rounding
            // at work: with thousands of events per bin 2NLL is a sum of terms of 10⁵, whose
            // rounding (~10⁻¹¹) is above the default tolerance 10⁻¹², so the line search's tests
            // compare noise (a per-event-systematics fit spent 70 evaluations in ten such steps).
            // Iterating on would accept steps on noise until maxIterations (20 000 evaluations per
            // fit were seen). Ten such polishing steps at most.
            if edm < 1e3 * edmTolerance {
                polishing += 1
                if previous - f < 0.1 * edm || backtracked || polishing > 10 { break }
            }
            // A hundred steps that together gained less than one step's predicted EDM have stalled
            // (seen on a bound, where rounding keeps the line search accepting tiny steps: 20 000
            // iterations of 13 evaluations in a grid start of a regression workspace).
            // Stop; the caller's retries start afresh.
            if iteration % 100 == 0 {
                if checkpoint - f < edm { break }
                checkpoint = f
            }
        }
        // Out of iterations, or stalled: converged only if the distance left is negligible.
        for i in 0..<n { free[i] = !((x[i] <= lower[i] && g[i] > 0) || (x[i] >= upper[i] && g[i] < 0)) }
        edm = 0.5 * quadraticForm(H, g, free, n)
        let failure: String? =
            edm < 1e3 * edmTolerance
            ? nil
            : iteration >= maxIterations
                ? "no convergence after \(maxIterations) iterations (EDM = \(edm))"
                : "the line search cannot decrease 2NLL further although EDM = \(edm) (tolerance \(edmTolerance))"
        return Outcome(x: x, value: f, gradient: g, inverseHessian: H, edm: edm, iterations: iteration, evaluations: evaluations, failure: failure)
    }

    /// diag(1/h_ii) with h_ii = ∂g_i/∂x_i by a forward (or, at the upper bound, backward) difference;
    /// a non-positive curvature gets 1.
    private func diagonalInverseHessian(
        x: [Double], g: [Double], lower: [Double], upper: [Double], evaluate: ([Double], inout [Double]) -> Double
    ) -> [Double] {
        let n = x.count
        var H = [Double](repeating: 0, count: n * n)
        var shifted = x
        var gShifted = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var h = 1e-4 * max(1, abs(x[i]))
            if x[i] + h > upper[i] { h = -h }
            if x[i] + h < lower[i] { h = (upper[i] - lower[i]) * 0.5 * (h < 0 ? -1 : 1) }
            shifted[i] = x[i] + h
            let f = evaluate(shifted, &gShifted)
            shifted[i] = x[i]
            let curvature = f.isFinite ? (gShifted[i] - g[i]) / h : 0
            H[i * n + i] = curvature > 0 && curvature.isFinite ? 1 / curvature : 1
        }
        return H
    }
}

/// vᵀ H v over the components with `mask` set.
private func quadraticForm(_ H: [Double], _ v: [Double], _ mask: [Bool], _ n: Int) -> Double {
    let active = (0..<n).filter { mask[$0] }
    var total = 0.0
    // Sound: H has n·n elements, v has n, and every index in `active` is below n.
    H.withUnsafeBufferPointer { h in
        v.withUnsafeBufferPointer { v in
            active.withUnsafeBufferPointer { active in
                for i in active {
                    let row = h.baseAddress! + i * n
                    var sum = 0.0
                    for j in active { sum += row[j] * v[j] }
                    total += v[i] * sum
                }
            }
        }
    }
    return total
}

/// d_F = −H_FF v_F, zero elsewhere.
private func multiply(_ H: [Double], _ v: [Double], _ mask: [Bool], _ n: Int, into d: inout [Double]) {
    let active = (0..<n).filter { mask[$0] }
    for i in 0..<n { d[i] = 0 }
    // Sound: as in quadraticForm; d has n elements.
    H.withUnsafeBufferPointer { h in
        v.withUnsafeBufferPointer { v in
            active.withUnsafeBufferPointer { active in
                d.withUnsafeMutableBufferPointer { d in
                    for i in active {
                        let row = h.baseAddress! + i * n
                        var sum = 0.0
                        for j in active { sum += row[j] * v[j] }
                        d[i] = -sum
                    }
                }
            }
        }
    }
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, expanded as
/// H + ρ²(yᵀHy) s sᵀ + ρ s sᵀ − ρ (Hy sᵀ + s (Hy)ᵀ).
private func bfgsUpdate(_ H: inout [Double], s: [Double], y: [Double], sy: Double, _ n: Int) {
    let rho = 1 / sy
    var hy = [Double](repeating: 0, count: n)
    var yHy = 0.0
    // Sound: H has n·n elements; s, y and hy have n.
    H.withUnsafeBufferPointer { h in
        y.withUnsafeBufferPointer { y in
            for i in 0..<n {
                let row = h.baseAddress! + i * n
                var sum = 0.0
                for j in 0..<n { sum += row[j] * y[j] }
                hy[i] = sum
                yHy += y[i] * sum
            }
        }
    }
    let c = rho * rho * yHy + rho
    H.withUnsafeMutableBufferPointer { h in
        s.withUnsafeBufferPointer { s in
            hy.withUnsafeBufferPointer { hy in
                for i in 0..<n {
                    let row = h.baseAddress! + i * n
                    let a = c * s[i] - rho * hy[i], b = rho * s[i]
                    for j in 0..<n { row[j] += a * s[j] - b * hy[j] }
                }
            }
        }
    }
}
