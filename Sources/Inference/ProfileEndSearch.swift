import Foundation

/// The search for one end of a profile-likelihood interval, along the outward distance u ≥ 0
/// from the best fit, on the signed root of the profile
/// ```
/// ρ(u) = √max(Δ2NLL(u), 0),   dρ/du = (dΔ2NLL/du) / (2ρ)
/// ```
/// whose root ρ(u) = √level is the end. ρ is linear in u for a Gaussian likelihood (a Newton step
/// from anywhere lands on the end) and close to linear for Poisson ones. The slope dΔ2NLL/du at a
/// conditional minimum is ∂2NLL/∂θ_p there (envelope theorem: ∂2NLL/∂θ_other = 0 at the profiled
/// minimum), so each conditional fit gives ρ and its slope.
///
/// From the points known so far (ordered by u; the best fit u = 0, ρ = 0 first):
/// - a point at or above the level: the first one outward brackets the end with the point before
///   it. Newton steps from the bracket's end nearer the level; a step that leaves the bracket or
///   does not at least halve the step before last is replaced by bisection (Numerical Recipes,
///   3rd ed., §9.4, `rtsafe`);
/// - all below the level: a walk outward from the outermost point by the Newton step, at most
///   h (0.5σ at first, ×1.6 per step, as ``bracketAndSolve`` steps), or h where the profile does
///   not rise; at the parameter's bound the profile stays below the level: no end.
///
/// The first point of a side is the caller's guess (the Hessian's θ̂ ± σ√level); a later level
/// starts with the whole Newton step from the outermost point of the lower ones (its guess).
///
/// The end is returned without a further fit once the Newton step s from an evaluated point is
/// below 10⁻⁶σ, or below 10⁻³σ with the second-order error K s² (K = |ρ''| / 2ρ', ρ'' from the
/// slopes of the two nearest points) below 10⁻¹⁰σ; or when a bracket is narrower than 10⁻⁶σ.
struct ProfileEndSearch {
    /// A point of the profile: ρ and dρ/du (NaN where ρ = 0 or the slope is unknown).
    struct Point {
        var u: Double
        var rho: Double
        var slope: Double
    }

    /// Every point evaluated, the best fit (u = 0, ρ = 0) included.
    private(set) var points = [Point(u: 0, rho: 0, slope: .nan)]
    /// The scale of u: the parameter's σ.
    let scale: Double
    /// The distance from the best fit to the parameter's bound on this side.
    let limit: Double

    init(scale: Double, limit: Double) {
        self.scale = scale
        self.limit = limit
    }

    /// Most evaluations of one end before the search gives up.
    static let maximumSteps = 100

    /// u where ρ(u) = √level, nil when ρ stays below it up to ``limit``. `evaluate` is the
    /// conditional fit at u; its points are kept for later levels.
    ///
    /// - Parameter guess: where to evaluate first when no point is known beyond the best fit.
    mutating func end(level: Double, guess: Double, evaluate: (Double) throws(InferenceError) -> Point) throws(InferenceError) -> Double? {
        let target = level.squareRoot()
        let xTolerance = 1e-6 * scale
        func f(_ q: Point) -> Double { q.rho - target }
        func hasSlope(_ q: Point) -> Bool { q.slope > 0 && q.slope.isFinite }
        /// Whether the Newton step `s` from `x` lands on the root to well below the tolerance.
        func accurate(_ x: Point, _ s: Double) -> Bool {
            if abs(s) <= xTolerance { return true }
            guard abs(s) <= 1e-3 * scale else { return false }
            let others = points.filter { $0.u != x.u && $0.slope.isFinite }
            guard let y = others.min(by: { abs($0.u - x.u) < abs($1.u - x.u) }) else { return false }
            let k = abs(x.slope - y.slope) / abs(x.u - y.u) / (2 * x.slope)
            return k.isFinite && 10 * k * s * s <= 1e-4 * xTolerance
        }
        guard limit > 0 else { return nil }
        var first = true
        if points.count == 1 {
            points.append(try evaluate(min(max(guess, 0), limit)))
            first = false
        }
        var h = 0.5 * scale
        var stepBefore = Double.infinity, lastStep = Double.infinity
        for _ in 0..<Self.maximumSteps {
            let sorted = points.sorted { $0.u < $1.u }
            let next: Double
            if let i = sorted.firstIndex(where: { f($0) >= 0 }) {
                let b = sorted[i]
                if f(b) == 0 { return b.u }
                let a = sorted[i - 1]
                if b.u - a.u <= xTolerance { return a.u + (target - a.rho) * (b.u - a.u) / (b.rho - a.rho) }
                var newton: Double? = nil
                if let x = [a, b].filter(hasSlope).min(by: { abs(f($0)) < abs(f($1)) }) {
                    let s = -f(x) / x.slope
                    if x.u + s > a.u && x.u + s < b.u && abs(s) <= 0.5 * stepBefore {
                        if accurate(x, s) { return x.u + s }
                        newton = x.u + s
                    }
                }
                next = newton ?? 0.5 * (a.u + b.u)
            } else {
                let x = sorted[sorted.count - 1]
                if x.u >= limit { return nil }
                var step = h
                if hasSlope(x) {
                    let s = -f(x) / x.slope
                    if accurate(x, s) && x.u + s <= limit { return x.u + s }
                    // The first step of a level continues a lower level's end: its guess.
                    step = first ? s : min(s, h)
                }
                next = min(x.u + step, limit)
                h *= 1.6
            }
            stepBefore = lastStep
            lastStep = abs(next - (points.last?.u ?? 0))
            first = false
            points.append(try evaluate(next))
        }
        throw InferenceError(.noRoot, "no end found within \(Self.maximumSteps) conditional fits")
    }
}
