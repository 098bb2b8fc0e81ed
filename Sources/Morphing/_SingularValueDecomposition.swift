import Foundation

/// The thin singular value decomposition `A = U Σ Vᵀ` of a small dense `m × n` matrix, `m ≥ n`, by
/// one-sided (Hestenes) Jacobi rotations.
///
/// One-sided Jacobi orthogonalises the columns of `A V` by plane rotations until every pair is
/// orthogonal to working precision (Demmel & Veselić, SIAM J. Matrix Anal. Appl. 13 (1992) 1204):
/// it computes small singular values to high relative accuracy when the columns are badly scaled,
/// which morphing matrices are (`c²` columns against `1`), and it needs no bidiagonalisation.
/// Cost O(sweeps·m·n²) with ~6–10 sweeps, ample for the ≤ 100 × 100 matrices of benchmark morphing.
internal struct _SingularValueDecomposition {
    /// Descending.
    let singularValues: [Double]
    /// `u[i][j]`, `m × n`, orthonormal columns for non-zero singular values.
    let u: [[Double]]
    /// `v[i][j]`, `n × n`, orthogonal.
    let v: [[Double]]

    init(_ a: [[Double]]) {
        let m = a.count, n = a.first?.count ?? 0
        precondition(m >= n, "one-sided Jacobi needs rows ≥ columns")
        // Column-major copies: the rotations stream down columns.
        var g = (0 ..< n).map { j in (0 ..< m).map { a[$0][j] } }
        var w = (0 ..< n).map { j in (0 ..< n).map { $0 == j ? 1.0 : 0.0 } }
        let tolerance = Double(m) * Double.ulpOfOne
        for _ in 0 ..< 80 {
            var rotated = false
            for p in 0 ..< n {
                for q in p + 1 ..< n {
                    var alpha = 0.0, beta = 0.0, gamma = 0.0
                    for i in 0 ..< m {
                        alpha += g[p][i] * g[p][i]
                        beta += g[q][i] * g[q][i]
                        gamma += g[p][i] * g[q][i]
                    }
                    guard abs(gamma) > tolerance * (alpha * beta).squareRoot(), gamma != 0 else { continue }
                    rotated = true
                    // Rutishauser's stable choice of the smaller rotation angle.
                    let zeta = (beta - alpha) / (2 * gamma)
                    let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
                    let cs = 1 / (1 + t * t).squareRoot(), sn = cs * t
                    for i in 0 ..< m {
                        let x = g[p][i], y = g[q][i]
                        g[p][i] = cs * x - sn * y
                        g[q][i] = sn * x + cs * y
                    }
                    for i in 0 ..< n {
                        let x = w[p][i], y = w[q][i]
                        w[p][i] = cs * x - sn * y
                        w[q][i] = sn * x + cs * y
                    }
                }
            }
            if !rotated { break }
        }
        let norms = g.map { column in column.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let order = (0 ..< n).sorted { norms[$0] > norms[$1] }
        singularValues = order.map { norms[$0] }
        u = (0 ..< m).map { i in order.map { j in norms[j] > 0 ? g[j][i] / norms[j] : 0 } }
        v = (0 ..< n).map { i in order.map { j in w[j][i] } }
    }
}
