import Foundation

/// The standard normal cumulative distribution Φ(x) = ½ erfc(−x/√2).
///
/// `erfc` keeps full relative precision in the lower tail (Φ(−10) ≈ 7.6e−24), which matters for
/// CLs = CLs+b / CLb when both are tiny.
func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

/// The standard normal quantile Φ⁻¹(p), Wichura's AS 241 (PPND16, relative accuracy about 1e−16).
func normalQuantile(_ p: Double) -> Double {
    precondition(p > 0 && p < 1, "normalQuantile needs 0 < p < 1, got \(p)")
    let q = p - 0.5
    if abs(q) <= 0.425 {
        let r = 0.180625 - q * q
        let num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r + 67265.770927008700853) * r
            + 45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r
            + 133.14166789178437745) * r + 3.387132872796366608)
        let den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r + 39307.89580009271061) * r
            + 21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r
            + 42.313330701600911252) * r + 1.0)
        return q * num / den
    }
    var r = q < 0 ? p : 1 - p
    r = (-log(r)).squareRoot()
    var value: Double
    if r <= 5 {
        r -= 1.6
        value = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r + 0.24178072517745061177) * r
            + 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r
            + 4.6303378461565452959) * r + 1.42343711074968357734)
            / (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r
                + 0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0)
    } else {
        r -= 5
        value = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r
            + 0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r
            + 5.4637849111641143699) * r + 6.6579046435011037772)
            / (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
                + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0)
    }
    return q < 0 ? -value : value
}

/// Brent's method (Brent 1973, ch. 4) for a root of `f` in a bracket [a, b] with f(a)·f(b) ≤ 0.
///
/// Inverse quadratic interpolation with bisection as a safeguard; converges superlinearly on
/// smooth functions and never leaves the bracket. Stops when the bracket is narrower than
/// `2·(4ε|x| + xTolerance)`.
func brentRoot(
    _ f: (Double) throws -> Double, lower: Double, upper: Double, fLower: Double, fUpper: Double,
    xTolerance: Double, maxIterations: Int = 100
) rethrows -> Double {
    var a = lower, b = upper, fa = fLower, fb = fUpper
    if fa == 0 { return a }
    if fb == 0 { return b }
    var c = a, fc = fa, d = b - a, e = d
    for _ in 0..<maxIterations {
        if (fb > 0) == (fc > 0) { c = a; fc = fa; d = b - a; e = d }
        if abs(fc) < abs(fb) { a = b; b = c; c = a; fa = fb; fb = fc; fc = fa }
        let tol = 2 * Double.ulpOfOne * abs(b) + 0.5 * xTolerance
        let m = 0.5 * (c - b)
        if abs(m) <= tol || fb == 0 { return b }
        if abs(e) >= tol && abs(fa) > abs(fb) {
            let s = fb / fa
            var p: Double, q: Double
            if a == c {
                p = 2 * m * s; q = 1 - s
            } else {
                let qa = fa / fc, r = fb / fc
                p = s * (2 * m * qa * (qa - r) - (b - a) * (r - 1))
                q = (qa - 1) * (r - 1) * (s - 1)
            }
            if p > 0 { q = -q } else { p = -p }
            if 2 * p < min(3 * m * q - abs(tol * q), abs(e * q)) {
                e = d; d = p / q
            } else {
                d = m; e = m
            }
        } else {
            d = m; e = m
        }
        a = b; fa = fb
        b += abs(d) > tol ? d : (m > 0 ? tol : -tol)
        fb = try f(b)
    }
    return b
}

/// A root of a monotone `f` near `guess`: steps from `guess` towards the root (growing the step
/// by 1.6 each time) until the sign changes, then refines with ``brentRoot``. Returns nil when
/// `f` keeps its sign all the way to the end of `limits`.
func bracketAndSolve(
    _ f: (Double) throws -> Double, increasing: Bool, guess: Double, step: Double,
    limits: ClosedRange<Double>, xTolerance: Double
) rethrows -> Double? {
    var x0 = min(max(guess, limits.lowerBound), limits.upperBound)
    var f0 = try f(x0)
    var h = abs(step) > 0 ? abs(step) : 1
    for _ in 0..<80 {
        if f0 == 0 { return x0 }
        let goUp = (f0 < 0) == increasing
        let x1 = goUp ? min(x0 + h, limits.upperBound) : max(x0 - h, limits.lowerBound)
        if x1 == x0 { return nil }
        let f1 = try f(x1)
        if (f1 > 0) != (f0 > 0) || f1 == 0 {
            return try goUp
                ? brentRoot(f, lower: x0, upper: x1, fLower: f0, fUpper: f1, xTolerance: xTolerance)
                : brentRoot(f, lower: x1, upper: x0, fLower: f1, fUpper: f0, xTolerance: xTolerance)
        }
        x0 = x1
        f0 = f1
        h *= 1.6
    }
    return nil
}

/// The χ² survival function P(χ²_k > x) = Q(k/2, x/2) (``regularizedUpperGamma(_:_:)``).
///
/// - Returns: NaN when `degreesOfFreedom` < 1 or `x` is NaN; 1 for x ≤ 0.
public func chiSquaredSurvival(_ x: Double, degreesOfFreedom: Int) -> Double {
    guard degreesOfFreedom >= 1 else { return .nan }
    return regularizedUpperGamma(Double(degreesOfFreedom) / 2, x / 2)
}

/// The regularized upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a) (Numerical Recipes,
/// 3rd ed., §6.2: the series of P(a, x) for x < a + 1, else Lentz's continued fraction of Q(a, x),
/// each to relative 1e−15). Computing Q directly, not 1 − P, keeps full relative precision for
/// small tail probabilities.
///
/// - Returns: NaN when a ≤ 0 or x is NaN; 1 for x ≤ 0, 0 for x = +∞.
public func regularizedUpperGamma(_ a: Double, _ x: Double) -> Double {
    guard a > 0, !x.isNaN else { return .nan }
    guard x > 0 else { return 1 }
    guard x.isFinite else { return 0 }
    let logPrefactor = a * log(x) - x - lgamma(a)
    if x < a + 1 {
        var term = 1 / a, sum = term, n = a
        for _ in 0..<10_000 {
            n += 1
            term *= x / n
            sum += term
            if abs(term) < abs(sum) * 1e-15 { break }
        }
        return max(0, 1 - sum * exp(logPrefactor))
    }
    let tiny = 1e-300
    var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
    for i in 1..<10_000 {
        let an = -Double(i) * (Double(i) - a)
        b += 2
        d = an * d + b
        if abs(d) < tiny { d = tiny }
        c = b + an / c
        if abs(c) < tiny { c = tiny }
        d = 1 / d
        let delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15 { break }
    }
    return exp(logPrefactor) * h
}
