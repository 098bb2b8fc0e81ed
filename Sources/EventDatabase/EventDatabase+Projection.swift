import Dispatch
import Morphing

/// The static-binning projection of an event database: templates and their exact MC variance.
public struct EventProjection: Sendable {
    /// `ν_b(c) = Σ_t m_t(c) S_tb` with `S_tb = Σ_{e∈b} a_et`, and the variance form with
    /// `W_tub = (2 − δ_tu) Σ_{e∈b} a_et a_eu`.
    public let templates: MorphingTemplates
    public let binning: Binning
    public let selection: Selection
    /// Events that pass the selection and land in a bin.
    public let binnedEventCount: Int
    /// Of those, the events with a negative nominal weight.
    public let negativeWeightEventCount: Int
}

extension EventDatabase {
    /// Projects the events once onto a static binning.
    ///
    /// Reweighting and binning every event at `c` gives, in bin `b`,
    ///
    /// ```
    /// ν_b(c)   = Σ_{e∈b} w_e(c)  = Σ_t m_t(c) S_tb,               S_tb  = Σ_{e∈b} a_et
    /// Σw²_b(c) = Σ_{e∈b} w_e(c)² = Σ_{t≤u} m_t(c) m_u(c) W_tub,   W_tub = (2 − δ_tu) Σ_{e∈b} a_et a_eu
    /// ```
    ///
    /// so after this pass an evaluation costs O(B·T) for the yields and O(B·T²) for the variance,
    /// like histogram morphing, and both are exact at every `c` up to rounding: no per-bin
    /// averaging of efficiency or acceptance is involved. The Σw² is the MC-statistical variance of
    /// the reweighted template; it is small only where the weights do not cancel, so a point far from
    /// the generation point shows its larger uncertainty.
    ///
    /// Rounding: the sums are accumulated in Double per chunk of events and the chunks added in a
    /// fixed order, so the result does not depend on the number of threads. Where `ν_b(c)` is a
    /// cancellation of large terms, its relative accuracy is that of `Σ_t |m_t S_tb|`.
    ///
    /// - Throws: ``EventDatabaseError`` for an unknown observable in the binning or selection.
    /// - Complexity: O(N·T²/2) multiply-adds; reads `8(T + 1 + cuts)` bytes per event once.
    public func projection(binning: Binning, selection: Selection = .all) throws(EventDatabaseError) -> EventProjection {
        var columns = [observables[try observableIndex(binning.observable)].values]
        for cut in selection.cuts { columns.append(observables[try observableIndex(cut.observable)].values) }
        columns.append(nominalWeights)
        columns += basisCoefficients
        return try Self.project(
            source: _ColumnSource(memory: columns), eventCount: eventCount, cutCount: selection.cuts.count, hasSign: true,
            coefficientNames: coefficientNames, monomials: monomials, binning: binning, selection: selection)
    }

    /// The projection's pass over `source`, whose columns are: the binned observable, the `cutCount`
    /// cut observables, when `hasSign` the nominal weights (only their sign is used), then the `T`
    /// coefficients. Each accumulator receives its events in event order whatever the pieces, so
    /// streamed and in-memory columns give the same result bit for bit.
    static func project(
        source: _ColumnSource, eventCount N: Int, cutCount: Int, hasSign: Bool, coefficientNames: [String], monomials: [Monomial],
        binning: Binning, selection: Selection
    ) throws(EventDatabaseError) -> EventProjection {
        let T = monomials.count, B = binning.binCount
        let pairCount = T * (T + 1) / 2
        let locator = _BinLocator(binning)
        let chunkCount = max(1, min(16, N / 4096))
        // Per chunk: S (T·B), then W (pairCount·B), then [binned, negative] counts.
        let stride = (T + pairCount) * B + 2
        var partials = [Double](repeating: 0, count: chunkCount * stride)
        let cuts = selection.cuts
        let signColumn = hasSign ? 1 + cutCount : -1, firstCoefficient = 1 + cutCount + (hasSign ? 1 : 0)
        let errors = _ChunkErrors()

        partials.withUnsafeMutableBufferPointer { out in
            let output = _SendablePointer(out.baseAddress!)
            locator.edges.withUnsafeBufferPointer { edgeBuffer in
                let edges = _SendablePointer(UnsafeMutablePointer(mutating: edgeBuffer.baseAddress!))
                DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                    // Each chunk writes only its own `stride` doubles of `partials`: no sharing.
                    let sums = output.pointer + chunk * stride
                    let pairs = sums + T * B
                    let start = chunk * N / chunkCount, end = (chunk + 1) * N / chunkCount
                    let blockSize = 2048
                    var events = [Int](repeating: 0, count: blockSize)
                    var bins = [Int](repeating: 0, count: blockSize)
                    do throws(EventDatabaseError) {
                        // Sound: `column[j]` holds the `count` events of the piece (``_ColumnSource``);
                        // `events[k] < count`; bins from `_BinLocator` are in `0..<B`.
                        try source.forEachPiece(of: start ..< end) { _, count, column throws(EventDatabaseError) in
                            let x = column[0]
                            var blockStart = 0
                            while blockStart < count {
                                let blockEnd = min(blockStart + blockSize, count)
                                var n = 0
                                events: for e in blockStart ..< blockEnd {
                                    for c in 0 ..< cutCount {
                                        let v = column[1 + c][e]
                                        if !(v >= cuts[c].lower && v < cuts[c].upper) { continue events }
                                    }
                                    let b = locator.bin(x[e], edges.pointer)
                                    if b >= 0 {
                                        events[n] = e
                                        bins[n] = b
                                        n += 1
                                        if signColumn >= 0 && column[signColumn][e] < 0 { sums[stride - 1] += 1 }
                                    }
                                }
                                sums[stride - 2] += Double(n)
                                var p = 0
                                for t in 0 ..< T {
                                    let a = column[firstCoefficient + t]
                                    for k in 0 ..< n { sums[t * B + bins[k]] += a[events[k]] }
                                    for u in t ..< T {
                                        let b = column[firstCoefficient + u]
                                        let w = pairs + p * B
                                        for k in 0 ..< n { w[bins[k]] += a[events[k]] * b[events[k]] }
                                        p += 1
                                    }
                                }
                                blockStart = blockEnd
                            }
                        }
                    } catch {
                        errors.record(error, chunk: chunk)
                    }
                }
            }
        }
        if let error = errors.first { throw error }

        var S = [[Double]](repeating: [Double](repeating: 0, count: B), count: T)
        var W = [[Double]](repeating: [Double](repeating: 0, count: B), count: pairCount)
        var binned = 0.0, negative = 0.0
        for chunk in 0 ..< chunkCount {
            let base = chunk * stride
            for t in 0 ..< T { for b in 0 ..< B { S[t][b] += partials[base + t * B + b] } }
            for p in 0 ..< pairCount { for b in 0 ..< B { W[p][b] += partials[base + (T + p) * B + b] } }
            binned += partials[base + stride - 2]
            negative += partials[base + stride - 1]
        }
        var pairList: [(Int, Int, [Double])] = []
        var p = 0
        for t in 0 ..< T {
            for u in t ..< T {
                pairList.append((t, u, t == u ? W[p] : W[p].map { 2 * $0 }))
                p += 1
            }
        }
        do throws(MorphingError) {
            let yields = try PolynomialTemplates(coefficientNames: coefficientNames, binCount: B, monomials: monomials, templates: S)
            let variance = try MonteCarloVariance(coefficientNames: coefficientNames, termMonomials: yields.monomials, binCount: B, pairs: pairList)
            let templates = try MorphingTemplates(yields: yields, monteCarloVariance: variance, binLabels: binning.binLabels)
            return EventProjection(
                templates: templates, binning: binning, selection: selection,
                binnedEventCount: Int(binned), negativeWeightEventCount: Int(negative))
        } catch {
            // The sums are finite sums of finite columns with the database's own (valid) monomials.
            throw EventDatabaseError(.invalidValue, "projection onto \(binning.observable) failed: \(error)")
        }
    }
}

/// A raw pointer handed to `concurrentPerform` workers that write disjoint ranges of it.
internal struct _SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Double>
    init(_ pointer: UnsafeMutablePointer<Double>) { self.pointer = pointer }
}
