import Dispatch
import Morphing

/// Reweights and bins events at every evaluation, for binnings that move with a nuisance parameter
/// (an observable-scale systematic shifts events across bin edges, so no static projection exists).
///
/// Per event and evaluation:
///
/// ```
/// w_e(c) = Σ_t a_et m_t(c),    x_e(θ) = x_e + θ Δ⁺_e (θ ≥ 0) or x_e − θ Δ⁻_e (θ < 0),
/// ν_b += w_e,    Σw²_b += w_e²    for b = bin(x_e(θ))
/// ```
///
/// The pass is bound by memory bandwidth: `8(T + 2)` bytes per event (`8(T + 1)` at `θ = 0`) against
/// `T` multiply-adds and a bin lookup. The kernel therefore keeps only the selected events, in
/// contiguous term-major columns (one per monomial, as in the file), and computes weights a block
/// at a time so that each column is streamed sequentially. Work is split over a fixed number of
/// chunks with their own histograms (`DispatchQueue.concurrentPerform`, one thread per core),
/// added in chunk order, so results do not depend on scheduling.
///
/// The histogram is piecewise constant in `θ`: its derivative in `θ` is zero between the values
/// where an event crosses an edge. Fits that profile `θ` need a smoothed or interpolated response;
/// this type provides the exact histogram at each `θ`.
public struct EventReweightingKernel: Sendable {
    public let coefficientNames: [String]
    public let monomials: [Monomial]
    public let binning: Binning
    /// The systematic whose observable shift is applied, if any.
    public let shiftName: String?
    /// The number of events kept (passing the selection), `N'`.
    public let eventCount: Int

    // Term-major: _coefficients[t·N' + e].
    internal let _coefficients: [Double]
    internal let _observable: [Double]
    internal let _shiftUp: [Double]
    internal let _shiftDown: [Double]
    internal let _locator: _BinLocator

    /// Memory the kernel reads per event: the coefficient columns, the observable, and the shift.
    public var bytesPerEvent: Int { 8 * (monomials.count + 1 + (shiftName == nil ? 0 : 1)) }

    /// Copies the columns of the events that pass `selection` (evaluated on nominal observables).
    ///
    /// - Parameter shift: the name of an ``EventDatabase/ObservableShift`` of `binning.observable`.
    /// - Throws: ``EventDatabaseError`` for an unknown observable or shift.
    /// - Complexity: O(N·T); holds `bytesPerEvent` bytes per selected event.
    public init(database: EventDatabase, binning: Binning, selection: Selection = .all, shift: String? = nil) throws(EventDatabaseError) {
        let x = database.observables[try database.observableIndex(binning.observable)].values
        let pass = try selection.mask(database)
        let kept = pass.indices.filter { pass[$0] }
        let n = kept.count
        var shiftColumns: ([Double], [Double]) = ([], [])
        if let shift {
            guard let s = database.observableShifts.first(where: { $0.name == shift && $0.observable == binning.observable }) else {
                throw EventDatabaseError(
                    .names, "no shift \(shift) of observable \(binning.observable); shifts are \(database.observableShifts.map { "\($0.name)/\($0.observable)" })",
                    dataset: "/systematics/shifts/\(shift)/\(binning.observable)")
            }
            shiftColumns = (kept.map { s.up[$0] }, kept.map { s.down[$0] })
        }
        var coefficients = [Double]()
        coefficients.reserveCapacity(n * database.termCount)
        for column in database.basisCoefficients { coefficients.append(contentsOf: kept.lazy.map { column[$0] }) }
        coefficientNames = database.coefficientNames
        monomials = database.monomials
        self.binning = binning
        shiftName = shift
        eventCount = n
        _coefficients = coefficients
        _observable = kept.map { x[$0] }
        (_shiftUp, _shiftDown) = shiftColumns
        _locator = _BinLocator(binning)
    }

    /// Fills `sumOfWeights[b] = ν_b(c, θ)` and, when given, `sumOfSquaredWeights[b] = Σw²_b(c, θ)`.
    ///
    /// - Parameters:
    ///   - coefficients: `c`, in the order of ``coefficientNames``.
    ///   - shift: `θ` of the systematic named ``shiftName`` (ignored when there is none).
    /// - Complexity: O(N'·T); reads ``bytesPerEvent`` bytes per event once, allocates
    ///   `2B` doubles per chunk.
    public func fill(
        at coefficients: [Double], shift theta: Double = 0,
        sumOfWeights: UnsafeMutableBufferPointer<Double>, sumOfSquaredWeights: UnsafeMutableBufferPointer<Double>? = nil
    ) {
        precondition(coefficients.count == coefficientNames.count, "\(coefficients.count) coefficients, expected \(coefficientNames.count)")
        let B = binning.binCount
        precondition(sumOfWeights.count == B && (sumOfSquaredWeights?.count ?? B) == B, "histogram buffers must have \(B) bins")
        let T = monomials.count, N = eventCount
        let m = monomials.map { $0.value(at: coefficients) }
        let useShift = shiftName != nil && theta != 0
        let factor = theta >= 0 ? theta : -theta
        let chunkCount = max(1, min(32, N / 16384))
        var partials = [Double](repeating: 0, count: chunkCount * 2 * B)
        let locator = _locator

        // Soundness of the unsafe pointers below: every buffer is an immutable stored array of
        // `self` (or a local) that outlives the synchronous `concurrentPerform`; reads stay within
        // `0..<N` of each column because chunks partition `0..<N`; each chunk writes only its own
        // `2B` doubles of `partials`; bin indices from `_BinLocator` are in `0..<B` or -1 (skipped).
        _coefficients.withUnsafeBufferPointer { a in
            _observable.withUnsafeBufferPointer { xs in
                (theta >= 0 ? _shiftUp : _shiftDown).withUnsafeBufferPointer { delta in
                    locator.edges.withUnsafeBufferPointer { edges in
                        m.withUnsafeBufferPointer { mv in
                            partials.withUnsafeMutableBufferPointer { out in
                                let a = _SendableConstPointer(a.baseAddress), xs = _SendableConstPointer(xs.baseAddress)
                                let delta = _SendableConstPointer(delta.baseAddress), edges = _SendableConstPointer(edges.baseAddress)
                                let mv = _SendableConstPointer(mv.baseAddress), out = _SendablePointer(out.baseAddress!)
                                DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                                    Self.fillChunk(
                                        a: a.pointer!, terms: T, events: N, m: mv.pointer!, x: xs.pointer, delta: useShift ? delta.pointer : nil,
                                        factor: factor, locator: locator, edges: edges.pointer!,
                                        range: chunk * N / chunkCount ..< (chunk + 1) * N / chunkCount,
                                        sums: out.pointer + chunk * 2 * B, squares: out.pointer + chunk * 2 * B + B)
                                }
                            }
                        }
                    }
                }
            }
        }
        for b in 0 ..< B {
            var s = 0.0, s2 = 0.0
            for chunk in 0 ..< chunkCount {
                s += partials[chunk * 2 * B + b]
                s2 += partials[chunk * 2 * B + B + b]
            }
            sumOfWeights[b] = s
            sumOfSquaredWeights?[b] = s2
        }
    }

    /// The histogram at `(c, θ)` (allocating convenience of ``fill(at:shift:sumOfWeights:sumOfSquaredWeights:)``).
    public func histogram(at coefficients: [Double], shift theta: Double = 0) -> (sumOfWeights: [Double], sumOfSquaredWeights: [Double]) {
        var s = [Double](repeating: 0, count: binning.binCount), s2 = s
        s.withUnsafeMutableBufferPointer { sb in
            s2.withUnsafeMutableBufferPointer { fill(at: coefficients, shift: theta, sumOfWeights: sb, sumOfSquaredWeights: $0) }
        }
        return (s, s2)
    }

    /// One chunk: weights a block at a time (each column read sequentially, the inner loops
    /// vectorise), then bin lookup and fill from the block.
    @inline(__always)
    private static func fillChunk(
        a: UnsafePointer<Double>, terms T: Int, events N: Int, m: UnsafePointer<Double>, x: UnsafePointer<Double>?,
        delta: UnsafePointer<Double>?, factor: Double, locator: _BinLocator, edges: UnsafePointer<Double>,
        range: Range<Int>, sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>
    ) {
        guard let x, !range.isEmpty else { return }
        let blockSize = 4096
        withUnsafeTemporaryAllocation(of: Double.self, capacity: blockSize) { block in
            let w = block.baseAddress!
            var start = range.lowerBound
            while start < range.upperBound {
                let n = min(blockSize, range.upperBound - start)
                let m0 = m[0], a0 = a + start
                for i in 0 ..< n { w[i] = a0[i] * m0 }
                // Four columns per sweep over `w`: a quarter of the loads and stores of `w`. The
                // left-to-right additions round exactly as the sequential `Σ_t a_et m_t`.
                var t = 1
                while t + 4 <= T {
                    let m1 = m[t], m2 = m[t + 1], m3 = m[t + 2], m4 = m[t + 3]
                    let a1 = a + t * N + start, a2 = a1 + N, a3 = a2 + N, a4 = a3 + N
                    for i in 0 ..< n { w[i] = w[i] + a1[i] * m1 + a2[i] * m2 + a3[i] * m3 + a4[i] * m4 }
                    t += 4
                }
                while t < T {
                    let mt = m[t], at = a + t * N + start
                    for i in 0 ..< n { w[i] += at[i] * mt }
                    t += 1
                }
                let xb = x + start
                if let delta {
                    let db = delta + start
                    for i in 0 ..< n {
                        let b = locator.bin(xb[i] + factor * db[i], edges)
                        if b >= 0 {
                            sums[b] += w[i]
                            squares[b] += w[i] * w[i]
                        }
                    }
                } else {
                    for i in 0 ..< n {
                        let b = locator.bin(xb[i], edges)
                        if b >= 0 {
                            sums[b] += w[i]
                            squares[b] += w[i] * w[i]
                        }
                    }
                }
                start += n
            }
        }
    }
}

internal struct _SendableConstPointer: @unchecked Sendable {
    let pointer: UnsafePointer<Double>?
    init(_ pointer: UnsafePointer<Double>?) { self.pointer = pointer }
}
