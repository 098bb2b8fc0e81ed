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

    /// One column per monomial, `_columns[t][e]`: the database's own arrays (shared, not copied)
    /// when every event is kept; with cuts, the selected events' values.
    internal let _columns: [[Double]]
    internal let _observable: [Double]
    internal let _shiftUp: [Double]
    internal let _shiftDown: [Double]
    internal let _locator: _BinLocator

    /// Memory the kernel reads per event: the coefficient columns, the observable, and the shift.
    public var bytesPerEvent: Int { 8 * (monomials.count + 1 + (shiftName == nil ? 0 : 1)) }

    /// Uses the database's columns (shared, not copied) or, with cuts, copies those of the events
    /// that pass `selection` (evaluated on nominal observables).
    ///
    /// - Parameter shift: the name of an ``EventDatabase/ObservableShift`` of `binning.observable`.
    /// - Throws: ``EventDatabaseError`` for an unknown observable or shift.
    /// - Complexity: O(N·T) with cuts, holding `bytesPerEvent` bytes per selected event; O(N) without.
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
            shiftColumns = selection.cuts.isEmpty ? (s.up, s.down) : (kept.map { s.up[$0] }, kept.map { s.down[$0] })
        }
        let all = selection.cuts.isEmpty
        coefficientNames = database.coefficientNames
        monomials = database.monomials
        self.binning = binning
        shiftName = shift
        eventCount = n
        _columns = all ? database.basisCoefficients : database.basisCoefficients.map { column in kept.map { column[$0] } }
        _observable = all ? x : kept.map { x[$0] }
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
        guard N > 0 else {
            for b in 0 ..< B { sumOfWeights[b] = 0; sumOfSquaredWeights?[b] = 0 }
            return
        }
        let m = monomials.map { $0.value(at: coefficients) }
        let useShift = shiftName != nil && theta != 0
        let factor = theta >= 0 ? theta : -theta
        let chunkCount = max(1, min(32, N / 16384))
        var partials = [Double](repeating: 0, count: chunkCount * 2 * B)
        let locator = _locator

        // Soundness of the unsafe pointers below: every buffer is an immutable stored array of
        // `self` (or a local) that outlives the synchronous `concurrentPerform`; reads stay within
        // `0..<N` of each column because chunks partition `0..<N` (every column, of `_columns` through
        // the table of their base pointers `a`, has N > 0 values); each chunk writes only its own
        // `2B` doubles of `partials`; bin indices from `_BinLocator` are in `0..<B` or -1 (skipped).
        _withPointers(_columns) { bases in
          bases.map { $0! }.withUnsafeBufferPointer { a in
            _observable.withUnsafeBufferPointer { xs in
                (theta >= 0 ? _shiftUp : _shiftDown).withUnsafeBufferPointer { delta in
                    locator.edges.withUnsafeBufferPointer { edges in
                        m.withUnsafeBufferPointer { mv in
                            partials.withUnsafeMutableBufferPointer { out in
                                let a = _SendablePointerTable(a.baseAddress!), xs = _SendableConstPointer(xs.baseAddress)
                                let delta = _SendableConstPointer(delta.baseAddress), edges = _SendableConstPointer(edges.baseAddress)
                                let mv = _SendableConstPointer(mv.baseAddress), out = _SendablePointer(out.baseAddress!)
                                DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                                    Self.fillChunk(
                                        a: a.pointer, terms: T, events: N, m: mv.pointer!, x: xs.pointer, delta: useShift ? delta.pointer : nil,
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

    /// One chunk, a block of events at a time: the weights of the block from all but the last `f`
    /// columns in sweeps over contiguous segments (they vectorise; four columns per sweep, a quarter
    /// of the loads and stores of the block's weights), then one event-by-event loop that adds the
    /// last `f ≤ 4` columns, locates the bin and fills it, so that those columns' loads overlap the
    /// scattered updates instead of leaving the memory idle while the histogram is filled.
    /// Every weight is summed in the order t = 0, 1, …, T − 1, so it rounds exactly as the
    /// sequential `Σ_t a_et m_t`.
    @inline(__always)
    private static func fillChunk(
        a: UnsafePointer<UnsafePointer<Double>>, terms T: Int, events N: Int, m: UnsafePointer<Double>, x: UnsafePointer<Double>?,
        delta: UnsafePointer<Double>?, factor: Double, locator: _BinLocator, edges: UnsafePointer<Double>,
        range: Range<Int>, sums: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>
    ) {
        guard let x, !range.isEmpty else { return }
        // T = 1 + 4k + f with 1 ≤ f ≤ 4 (f = 0 for T = 1): no single-column sweeps.
        let f = T == 1 ? 0 : (T - 2) % 4 + 1
        let blockSize = 4096
        withUnsafeTemporaryAllocation(of: Double.self, capacity: blockSize) { block in
            let w = block.baseAddress!
            var start = range.lowerBound
            while start < range.upperBound {
                let n = min(blockSize, range.upperBound - start)
                let m0 = m[0], a0 = a[0] + start
                for i in 0 ..< n { w[i] = a0[i] * m0 }
                var t = 1
                while t + 4 <= T - f {
                    let m1 = m[t], m2 = m[t + 1], m3 = m[t + 2], m4 = m[t + 3]
                    let a1 = a[t] + start, a2 = a[t + 1] + start, a3 = a[t + 2] + start, a4 = a[t + 3] + start
                    for i in 0 ..< n { w[i] = w[i] + a1[i] * m1 + a2[i] * m2 + a3[i] * m3 + a4[i] * m4 }
                    t += 4
                }
                // The last f columns (when f < 4 the unused ones repeat the first and are never read).
                let c1 = a[f > 0 ? t : 0] + start, c2 = a[f > 1 ? t + 1 : 0] + start, c3 = a[f > 2 ? t + 2 : 0] + start, c4 = a[f > 3 ? t + 3 : 0] + start
                let f1 = f > 0 ? m[t] : 0, f2 = f > 1 ? m[t + 1] : 0, f3 = f > 2 ? m[t + 2] : 0, f4 = f > 3 ? m[t + 3] : 0
                let xb = x + start, db = delta.map { $0 + start }

                /// The fused loop for a bin lookup `binOf(i)` of event `start + i`.
                @inline(__always)
                func fill(_ binOf: (Int) -> Int) {
                    for i in 0 ..< n {
                        var wi = w[i]
                        switch f {
                        case 4: wi = wi + c1[i] * f1 + c2[i] * f2 + c3[i] * f3 + c4[i] * f4
                        case 3: wi = wi + c1[i] * f1 + c2[i] * f2 + c3[i] * f3
                        case 2: wi = wi + c1[i] * f1 + c2[i] * f2
                        case 1: wi += c1[i] * f1
                        default: break
                        }
                        let b = binOf(i)
                        if b >= 0 {
                            sums[b] += wi
                            squares[b] += wi * wi
                        }
                    }
                }
                // Specialised for the common equal-width bins without flow folding; the same
                // arithmetic as `_BinLocator.bin`, so the same bin for every value.
                if let inverseWidth = locator.inverseWidth, !locator.fold {
                    let lower = locator.lower, upper = locator.upper, last = locator.binCount - 1
                    @inline(__always)
                    func uniformBin(_ v: Double) -> Int {
                        guard v >= lower && v < upper else { return -1 }
                        var b = min(Int((v - lower) * inverseWidth), last)
                        if v < edges[b] { b -= 1 } else if v >= edges[b + 1] { b += 1 }
                        return b
                    }
                    if let db { fill { uniformBin(xb[$0] + factor * db[$0]) } } else { fill { uniformBin(xb[$0]) } }
                } else {
                    if let db { fill { locator.bin(xb[$0] + factor * db[$0], edges) } } else { fill { locator.bin(xb[$0], edges) } }
                }
                start += n
            }
        }
    }
}

/// The base pointers of a kernel's columns, handed to `concurrentPerform` workers that only read.
internal struct _SendablePointerTable: @unchecked Sendable {
    let pointer: UnsafePointer<UnsafePointer<Double>>
    init(_ pointer: UnsafePointer<UnsafePointer<Double>>) { self.pointer = pointer }
}

internal struct _SendableConstPointer: @unchecked Sendable {
    let pointer: UnsafePointer<Double>?
    init(_ pointer: UnsafePointer<Double>?) { self.pointer = pointer }
}
