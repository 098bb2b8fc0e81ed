import Foundation
import HistFactory

extension FitProblem {
    /// ∂²(2NLL)/∂θ_i∂θ_j over the free parameters (row-major), by central differences of the
    /// analytic gradient:
    /// ```
    /// H_·j = [g(θ + h_j e_j) − g(θ − h_j e_j)] / (2 h_j),   H ← (H + Hᵀ)/2
    /// ```
    /// with h_j = 10⁻³ σ_j (σ_j² ≈ 2 H⁻¹_jj from the minimiser's estimate), so the truncation
    /// error is O((h/σ)²) ≈ 10⁻⁶ relative. Next to a bound the difference is one-sided with
    /// h_j = 10⁻⁵ σ_j (error O(h/σ)). Columns are computed in parallel.
    ///
    /// - Complexity: 2n gradient evaluations, spread over the cores.
    func hessian(at values: [Double], inverseHessianHint hint: [Double]) -> [Double] {
        let free = freeIndices
        let k = free.count
        let columns = parallelMap(k) { a -> [Double] in
            let i = free[a]
            let sigma = hint.count == k * k && hint[a * k + a] > 0 ? (2 * hint[a * k + a]).squareRoot() : max(1e-2, abs(values[i]) * 1e-2)
            var h = 1e-3 * sigma
            var x = values
            var gPlus = [Double](repeating: 0, count: model.parameterCount), gMinus = gPlus
            let canUp = values[i] + h <= upper[i], canDown = values[i] - h >= lower[i]
            if !(canUp && canDown) { h = 1e-5 * sigma }
            let up = values[i] + h <= upper[i] ? h : 0
            let down = values[i] - h >= lower[i] ? h : 0
            x[i] = values[i] + up
            _ = model.logLikelihoodAndGradient(x, data: data, gradient: &gPlus, wanted: wanted)
            x[i] = values[i] - down
            _ = model.logLikelihoodAndGradient(x, data: data, gradient: &gMinus, wanted: wanted)
            let width = up + down
            return free.map { j in width > 0 ? -2 * (gPlus[j] - gMinus[j]) / width : 0 }
        }
        var H = [Double](repeating: 0, count: k * k)
        for a in 0..<k {
            for b in 0..<k { H[a * k + b] = 0.5 * (columns[a][b] + columns[b][a]) }
        }
        return H
    }
}

/// The inverse of a symmetric positive-definite k×k matrix (row-major) by Cholesky
/// decomposition A = L Lᵀ; nil when A is not positive definite.
///
/// - Complexity: O(k³); 4·10⁷ flops for k = 328.
func choleskyInverse(_ A: [Double], _ k: Int) -> [Double]? {
    var L = [Double](repeating: 0, count: k * k)
    for j in 0..<k {
        var d = A[j * k + j]
        for m in 0..<j { d -= L[j * k + m] * L[j * k + m] }
        guard d > 0, d.isFinite else { return nil }
        let ljj = d.squareRoot()
        L[j * k + j] = ljj
        for i in (j + 1)..<max(k, j + 1) {
            var s = A[i * k + j]
            for m in 0..<j { s -= L[i * k + m] * L[j * k + m] }
            L[i * k + j] = s / ljj
        }
    }
    // L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
    var Linv = [Double](repeating: 0, count: k * k)
    for i in 0..<k {
        Linv[i * k + i] = 1 / L[i * k + i]
        for j in 0..<i {
            var s = 0.0
            for m in j..<i { s -= L[i * k + m] * Linv[m * k + j] }
            Linv[i * k + j] = s / L[i * k + i]
        }
    }
    var inverse = [Double](repeating: 0, count: k * k)
    for i in 0..<k {
        for j in 0...i {
            var s = 0.0
            for m in i..<k { s += Linv[m * k + i] * Linv[m * k + j] }
            inverse[i * k + j] = s
            inverse[j * k + i] = s
        }
    }
    return inverse
}
