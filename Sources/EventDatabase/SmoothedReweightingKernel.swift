import Dispatch
import Foundation
import Morphing

/// A per-event systematic of an event database used as a nuisance parameter `θ` of a template
/// (Specs/event-database.md, "Systematics as nuisance parameters").
public struct EventSystematic: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `/systematics/weights/<name>/{up,down}`: per-event weight factors.
        case weight
        /// `/systematics/shifts/<name>/<binned observable>/{up,down}`: per-event displacements.
        case shift
    }

    /// The systematic's name in the database.
    public let name: String
    public let kind: Kind

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// Reweights, varies and bins events at every evaluation, with a differentiable bin assignment,
/// and returns the template, its MC-statistical variance and their exact Jacobians in the Wilson
/// coefficients `c` and the nuisance parameters `θ` (Specs/event-database.md).
///
/// Per selected event `e`, with `n` the normalisation and `K` systematics:
///
/// ```
/// w_e(c)     = Σ_t a_et m_t(c)
/// f_e(θ)     = 1 + Σ_{k weight} I(θ_k; u_ek − 1, 1 − d_ek)             (u, d: factors at θ = ±1)
/// x_e(θ)     = x_e + Σ_{k shift} I(θ_k; Δ⁺_ek, −Δ⁻_ek)                  (Δ±: displacements at θ = ±1)
/// I(θ; δ₊, δ₋) = θδ₊ (θ > 1),  θδ₋ (θ < −1),  θ(δ₊ + δ₋)/2 + θ²(δ₊ − δ₋)/16 · (15 − 10θ² + 3θ⁴) otherwise
/// p_eb(θ)    = G_{b+1} − G_b,   G_k = F((e_k − x_e(θ))/h),   F(z) = 1/(1 + e^{−z})
/// ν_b        = n Σ_e w_e f_e p_eb,          Σw²_b = n² Σ_e (w_e f_e p_eb)²
/// ```
///
/// `I` is HistFactory's code4p (pyhf) applied per event: C¹ in θ, linear beyond |θ| = 1, equal to
/// the piecewise-linear `θΔ⁺`/`−θΔ⁻` for |θ| ≥ 1 and, for symmetric variations (δ₊ = δ₋), everywhere.
/// `F` is the logistic CDF and `h` the smoothing width (observable units): each event is spread over
/// the bins by a logistic kernel, so ν is smooth in θ and tends to the histogram as h → 0. With
/// `h = 0` the assignment is the sharp `[e_b, e_{b+1})` (then shifts have no θ-gradient; the model
/// requires h > 0 when it declares a shift). Flow: with ``Binning/Flow/foldIntoEdgeBins``,
/// `G_0 = 0` and `G_B = 1`, so `Σ_b p_eb = 1`; with ``Binning/Flow/drop`` the tails beyond the outer
/// edges are lost. Truncation: `G_k` is set to exactly 0 for `z < −40` and 1 for `z > 40` (the
/// logistic differs from these by less than `e^{−40} ≈ 4.2·10⁻¹⁸`), so only edges within `40h` of
/// an event are evaluated.
///
/// Derivatives, per event and touched bin (`W = w f`, `g(z) = F(z)(1 − F(z))`):
///
/// ```
/// ∂ν_b/∂c_i  = n Σ_e f_e p_eb Σ_t a_et ∂m_t/∂c_i
/// ∂ν_b/∂θ_k  = n Σ_e w_e p_eb ∂I_ek/∂θ_k                   (weight)
///            = n Σ_e W_e (∂p_eb/∂x)(∂I_ek/∂θ_k),  ∂p_eb/∂x = −(g(z_{b+1}) − g(z_b))/h   (shift)
/// ∂Σw²_b/∂q  = 2 n² Σ_e W_e p_eb ∂(W_e p_eb)/∂q
/// ```
///
/// Work is split over a fixed number of chunks (`DispatchQueue.concurrentPerform`) whose partial
/// sums are added in chunk order, so results do not depend on scheduling.
public struct SmoothedReweightingKernel: Sendable {
    /// The template, its variance and, when requested, their Jacobians at one point.
    public struct Evaluation: Sendable {
        /// `ν_b`.
        public let yields: [Double]
        /// `Σw²_b`, the MC-statistical variance of `ν_b`.
        public let variances: [Double]
        /// `∂ν_b/∂q_j` at `[j·B + b]` for `q = (c_1…c_C, θ_1…θ_K)`; empty unless requested.
        public let yieldJacobian: [Double]
        /// `∂Σw²_b/∂q_j`, laid out as ``yieldJacobian``; empty unless requested.
        public let varianceJacobian: [Double]
    }

    public let coefficientNames: [String]
    public let monomials: [Monomial]
    public let binning: Binning
    public let selection: Selection
    /// The nuisance parameters' systematics, in the order of the `θ` vector.
    public let systematics: [EventSystematic]
    /// `h` in the binned observable's unit; 0 for sharp bins.
    public let smoothingWidth: Double
    /// `n`, multiplying every weight.
    public let normalisation: Double
    /// The number of events kept (passing the selection), `N'`.
    public let eventCount: Int

    // Term-major: _coefficients[t·N' + e].
    internal let _coefficients: [Double]
    internal let _observable: [Double]
    /// Per systematic k: (δ₊, δ₋) of `I` per event, i.e. (u − 1, 1 − d) or (Δ⁺, −Δ⁻).
    internal let _up: [[Double]]
    internal let _down: [[Double]]
    internal let _locator: _BinLocator

    /// Memory read per event and evaluation: coefficients, observable and two columns per systematic.
    public var bytesPerEvent: Int { 8 * (monomials.count + 1 + 2 * systematics.count) }

    /// Copies the columns of the events that pass `selection` (evaluated on nominal observables).
    ///
    /// - Throws: ``EventDatabaseError`` naming the dataset for an unknown observable, systematic or
    ///   a shift that does not move the binned observable, a repeated systematic, a smoothing
    ///   width that is negative or not finite, or a normalisation that is not positive.
    /// - Complexity: O(N·(T + K)); holds ``bytesPerEvent`` bytes per selected event.
    public init(
        database: EventDatabase, binning: Binning, selection: Selection = .all, systematics: [EventSystematic],
        smoothingWidth: Double, normalisation: Double = 1
    ) throws(EventDatabaseError) {
        guard smoothingWidth.isFinite && smoothingWidth >= 0 else {
            throw EventDatabaseError(.invalidValue, "smoothing width \(smoothingWidth) of \(binning.observable) must be finite and ≥ 0")
        }
        guard normalisation.isFinite && normalisation > 0 else {
            throw EventDatabaseError(.invalidValue, "normalisation \(normalisation) must be finite and positive")
        }
        let x = database.observables[try database.observableIndex(binning.observable)].values
        let pass = try selection.mask(database)
        let kept = pass.indices.filter { pass[$0] }
        var up: [[Double]] = [], down: [[Double]] = []
        for (k, systematic) in systematics.enumerated() {
            if let j = systematics[..<k].firstIndex(of: systematic) {
                throw EventDatabaseError(.names, "systematic \(systematic.name) (\(systematic.kind.rawValue)) is declared twice (entries \(j) and \(k))")
            }
            switch systematic.kind {
            case .weight:
                guard let v = database.weightVariations.first(where: { $0.name == systematic.name }) else {
                    throw EventDatabaseError(
                        .missing, "no weight variation \(systematic.name); the database has \(database.weightVariations.map(\.name))",
                        dataset: "/systematics/weights/\(systematic.name)")
                }
                up.append(kept.map { v.up[$0] - 1 })
                down.append(kept.map { 1 - v.down[$0] })
            case .shift:
                guard let s = database.observableShifts.first(where: { $0.name == systematic.name && $0.observable == binning.observable }) else {
                    let others = database.observableShifts.filter { $0.name == systematic.name }.map(\.observable)
                    let detail = others.isEmpty
                        ? "the database has no shift \(systematic.name) (shifts: \(Array(Set(database.observableShifts.map(\.name))).sorted()))"
                        : "shift \(systematic.name) moves only \(others), not the binned observable \(binning.observable)"
                    throw EventDatabaseError(.missing, detail, dataset: "/systematics/shifts/\(systematic.name)/\(binning.observable)")
                }
                up.append(kept.map { s.up[$0] })
                down.append(kept.map { -s.down[$0] })
            }
        }
        var coefficients = [Double]()
        coefficients.reserveCapacity(kept.count * database.termCount)
        for column in database.basisCoefficients { coefficients.append(contentsOf: kept.lazy.map { column[$0] }) }
        coefficientNames = database.coefficientNames
        monomials = database.monomials
        self.binning = binning
        self.selection = selection
        self.systematics = systematics
        self.smoothingWidth = smoothingWidth
        self.normalisation = normalisation
        eventCount = kept.count
        _coefficients = coefficients
        _observable = kept.map { x[$0] }
        _up = up
        _down = down
        _locator = _BinLocator(binning)
    }

    /// `I(θ; δ₊, δ₋) = α₊(θ)δ₊ + α₋(θ)δ₋` (code4p is linear in δ±): returns (α₊, α₋, α₊′, α₋′).
    @inline(__always)
    static func code4pWeights(_ theta: Double) -> (Double, Double, Double, Double) {
        if theta > 1 { return (theta, 0, 1, 0) }
        if theta < -1 { return (0, theta, 0, 1) }
        let x2 = theta * theta
        let poly = 15 - 10 * x2 + 3 * x2 * x2
        let even = x2 * poly / 16
        let evenDerivative = (2 * theta * poly + x2 * (-20 * theta + 12 * x2 * theta)) / 16
        return (0.5 * theta + even, 0.5 * theta - even, 0.5 + evenDerivative, 0.5 - evenDerivative)
    }

    /// `∂m_t/∂c_i` at `c`, coefficient-major (`[i·T + t]`).
    static func monomialGradients(_ monomials: [Monomial], at c: [Double]) -> [Double] {
        let T = monomials.count, C = c.count
        var out = [Double](repeating: 0, count: C * T)
        for (t, m) in monomials.enumerated() {
            for factor in m.factors {
                var value = Double(factor.power)
                for other in m.factors {
                    let p = other.coefficient == factor.coefficient ? other.power - 1 : other.power
                    for _ in 0 ..< p { value *= c[other.coefficient] }
                }
                out[factor.coefficient * T + t] = value
            }
        }
        return out
    }

    /// The template and its variance at `(c, θ)`, with their Jacobians when `jacobian` is true.
    ///
    /// - Parameters:
    ///   - coefficients: `c`, in the order of ``coefficientNames``.
    ///   - nuisance: `θ`, one per entry of ``systematics``.
    /// - Complexity: O(N'·(T + K + touched bins·(1 + (C + K)·[jacobian]))); reads ``bytesPerEvent``
    ///   bytes per event; with h much smaller than the bins an event touches one or two bins.
    public func evaluate(coefficients: [Double], nuisance: [Double], jacobian: Bool) -> Evaluation {
        precondition(coefficients.count == coefficientNames.count, "\(coefficients.count) coefficients, expected \(coefficientNames.count)")
        precondition(nuisance.count == systematics.count, "\(nuisance.count) nuisance parameters, expected \(systematics.count)")
        let B = binning.binCount, T = monomials.count, C = coefficientNames.count, K = systematics.count, N = eventCount
        let Q = jacobian ? C + K : 0
        let stride = 2 * B + 2 * Q * B
        let chunkCount = max(1, min(32, N / 8192))
        var partials = [Double](repeating: 0, count: chunkCount * stride)
        let m = monomials.map { $0.value(at: coefficients) }
        let dm = jacobian ? Self.monomialGradients(monomials, at: coefficients) : []
        // Per systematic: (α₊, α₋, α₊′, α₋′) and whether it shifts.
        let alpha = nuisance.flatMap { theta in
            let (a, b, da, db) = Self.code4pWeights(theta)
            return [a, b, da, db]
        }
        let isShift = systematics.map { $0.kind == .shift }
        let context = _SmoothingContext(
            locator: _locator, width: smoothingWidth, binCount: B, fold: binning.flow == .foldIntoEdgeBins)

        // Soundness of the unsafe pointers: every buffer is an immutable array (of `self` or a local)
        // that outlives the synchronous `concurrentPerform`; reads stay within `0..<N` of each column
        // because the chunks partition `0..<N`; each chunk writes only its own `stride` doubles of
        // `partials`; bins touched come from `_SmoothingContext.bins`, inside `0..<B`.
        let columns = _up + _down
        withPointers(columns) { systematicColumns in
            _coefficients.withUnsafeBufferPointer { a in
                _observable.withUnsafeBufferPointer { xs in
                    partials.withUnsafeMutableBufferPointer { out in
                        let a = _SendableConstPointer(a.baseAddress), xs = _SendableConstPointer(xs.baseAddress)
                        let out = _SendablePointer(out.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                            Self.evaluateChunk(
                                a: a.pointer, x: xs.pointer, up: Array(systematicColumns[0 ..< K]), down: Array(systematicColumns[K ..< 2 * K]),
                                events: N, terms: T, coefficients: C, m: m, dm: dm, alpha: alpha, isShift: isShift, jacobian: jacobian,
                                context: context, range: chunk * N / chunkCount ..< (chunk + 1) * N / chunkCount,
                                out: out.pointer + chunk * stride)
                        }
                    }
                }
            }
        }
        var total = [Double](repeating: 0, count: stride)
        for chunk in 0 ..< chunkCount {
            for i in 0 ..< stride { total[i] += partials[chunk * stride + i] }
        }
        let n = normalisation, n2 = n * n
        return Evaluation(
            yields: total[0 ..< B].map { $0 * n },
            variances: total[B ..< 2 * B].map { $0 * n2 },
            yieldJacobian: total[2 * B ..< 2 * B + Q * B].map { $0 * n },
            varianceJacobian: total[2 * B + Q * B ..< stride].map { $0 * n2 })
    }

    /// One chunk. Layout of `out`: ν (B), Σw² (B), ∂ν (Q·B), ∂Σw² (Q·B).
    private static func evaluateChunk(
        a: UnsafePointer<Double>?, x: UnsafePointer<Double>?, up: [_SendableConstPointer], down: [_SendableConstPointer],
        events N: Int, terms T: Int, coefficients C: Int, m: [Double], dm: [Double], alpha: [Double], isShift: [Bool],
        jacobian: Bool, context: _SmoothingContext, range: Range<Int>, out: UnsafeMutablePointer<Double>
    ) {
        guard let a, let x, !range.isEmpty else { return }
        let B = context.binCount, K = isShift.count, Q = jacobian ? C + K : 0
        let sums = out, squares = out + B, dSums = out + 2 * B, dSquares = out + 2 * B + Q * B
        var dW = [Double](repeating: 0, count: Q)
        var bins = [Int](repeating: 0, count: B), p = [Double](repeating: 0, count: B), dp = [Double](repeating: 0, count: B)
        var edgeScratch = [Double](repeating: 0, count: 2 * (B + 1))
        let terms = Array(0 ..< T)
        // Structurally non-zero ∂m_t/∂c_i, per coefficient.
        let termsOf: [[Int]] = jacobian ? (0 ..< C).map { i in terms.filter { dm[i * T + $0] != 0 } } : []
        for e in range {
            var w = 0.0
            for t in 0 ..< T { w += a[t * N + e] * m[t] }
            var f = 1.0, shifted = x[e]
            for k in 0 ..< K {
                let value = alpha[4 * k] * up[k].pointer![e] + alpha[4 * k + 1] * down[k].pointer![e]
                if isShift[k] { shifted += value } else { f += value }
            }
            let W = w * f
            if jacobian {
                for i in 0 ..< C {
                    var s = 0.0
                    for t in termsOf[i] { s += a[t * N + e] * dm[i * T + t] }
                    dW[i] = s * f
                }
                for k in 0 ..< K {
                    let slope = alpha[4 * k + 2] * up[k].pointer![e] + alpha[4 * k + 3] * down[k].pointer![e]
                    // Weight: ∂W/∂θ_k; shift: ∂x/∂θ_k (multiplied by W ∂p/∂x below).
                    dW[C + k] = isShift[k] ? slope : w * slope
                }
            }
            let count = edgeScratch.withUnsafeMutableBufferPointer { scratch in
                context.bins(of: shifted, bins: &bins, p: &p, dp: &dp, scratch: scratch.baseAddress!)
            }
            for j in 0 ..< count {
                let b = bins[j], pb = p[j], Wp = W * pb
                sums[b] += Wp
                squares[b] += Wp * Wp
                guard jacobian else { continue }
                for i in 0 ..< C {
                    let d = dW[i] * pb
                    dSums[i * B + b] += d
                    dSquares[i * B + b] += 2 * Wp * d
                }
                for k in 0 ..< K {
                    let d = isShift[k] ? W * dp[j] * dW[C + k] : dW[C + k] * pb
                    dSums[(C + k) * B + b] += d
                    dSquares[(C + k) * B + b] += 2 * Wp * d
                }
            }
        }
    }
}

/// The differentiable bin assignment of ``SmoothedReweightingKernel`` for one value.
internal struct _SmoothingContext: Sendable {
    let locator: _BinLocator
    let width: Double
    let binCount: Int
    let fold: Bool

    /// The logistic CDF `F(z)` and density `F(z)(1 − F(z))`, 0/1 and 0 beyond |z| > 40.
    @inline(__always)
    static func logistic(_ z: Double) -> (Double, Double) {
        if z < -40 { return (0, 0) }
        if z > 40 { return (1, 0) }
        let e = Foundation.exp(-z)
        let F = 1 / (1 + e)
        return (F, e * F * F)
    }

    /// Writes the bins with a non-zero share `p_b` of a value `x`, with `∂p_b/∂x`; returns their number.
    /// `scratch` holds `2(B + 1)` doubles.
    @inline(__always)
    func bins(of x: Double, bins: inout [Int], p: inout [Double], dp: inout [Double], scratch: UnsafeMutablePointer<Double>) -> Int {
        let B = binCount
        guard width > 0 else {
            let b = locator.edges.withUnsafeBufferPointer { locator.bin(x, $0.baseAddress!) }
            guard b >= 0 else { return 0 }
            bins[0] = b
            p[0] = 1
            dp[0] = 0
            return 1
        }
        let edges = locator.edges
        // Candidate edges [lo, hi): those within 41h of x (G is exactly 0 below, 1 above).
        let lo = Self.count(edges, below: x - 41 * width, inclusive: false)
        let hi = Self.count(edges, below: x + 41 * width, inclusive: true)
        var first = max(0, lo - 1), last = min(B - 1, hi - 1)
        if fold {
            first = min(first, B - 1)
            last = max(last, 0)
        }
        guard first <= last else { return 0 }
        // G_k and g_k for k in first ... last + 1.
        let G = scratch, g = scratch + (B + 1)
        for k in first ... last + 1 {
            if fold && k == 0 {
                (G[k], g[k]) = (0, 0)
            } else if fold && k == B {
                (G[k], g[k]) = (1, 0)
            } else if k < lo {
                (G[k], g[k]) = (0, 0)
            } else if k >= hi {
                (G[k], g[k]) = (1, 0)
            } else {
                (G[k], g[k]) = Self.logistic((edges[k] - x) / width)
            }
        }
        var n = 0
        for b in first ... last {
            let share = G[b + 1] - G[b]
            let slope = -(g[b + 1] - g[b]) / width
            guard share != 0 || slope != 0 else { continue }
            bins[n] = b
            p[n] = share
            dp[n] = slope
            n += 1
        }
        return n
    }

    /// The number of edges `< value` (or `≤ value` when `inclusive`).
    @inline(__always)
    static func count(_ edges: [Double], below value: Double, inclusive: Bool) -> Int {
        var lo = 0, hi = edges.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if edges[mid] < value || (inclusive && edges[mid] == value) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// Calls `body` with stable base pointers of `arrays` (each empty array gives a nil pointer).
///
/// Sound because each pointer is taken inside the nested `withUnsafeBufferPointer` of its array,
/// and `body` runs inside all of them.
private func withPointers<R>(_ arrays: [[Double]], _ body: ([_SendableConstPointer]) -> R) -> R {
    func nest(_ i: Int, _ collected: [_SendableConstPointer]) -> R {
        guard i < arrays.count else { return body(collected) }
        return arrays[i].withUnsafeBufferPointer { nest(i + 1, collected + [_SendableConstPointer($0.baseAddress)]) }
    }
    return nest(0, [])
}
