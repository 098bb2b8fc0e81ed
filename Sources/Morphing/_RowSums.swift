/// The row sums of a sparse matrix against a gathered vector,
///
/// ```
/// out[target_r] = Σ_k a[index_rk] v_rk,
/// ```
///
/// each row summed from +0 in its stored order, so the result is bit for bit that of the plain
/// sequential loop over the row.
///
/// Rows are sorted by length and two neighbours of equal length form a pair that runs in the two
/// lanes of a `SIMD2<Double>`: one step gathers two `a` values and does one multiply and one add for
/// both rows, and the two gather indices come with one load. Pairs of one length form a run, so the
/// inner loop has the same trip count for every pair of a run and its exit is predicted; for rows of
/// a few entries that matters more than the arithmetic. A row left without a partner of its length
/// is summed alone.
///
/// The buffers are written once, in `init`, and freed by the owner's `deinit` through
/// ``deallocate()``; the owner is what makes them safe to share (see `_EvaluationKernel`).
internal struct _RowSums {
    let runCount: Int
    /// Run `r` has `runPairs[r]` pairs of `runSteps[r]` steps each.
    let runSteps: UnsafeMutablePointer<Int>
    let runPairs: UnsafeMutablePointer<Int>
    /// The two targets of pair `p` at `2p`, `2p + 1`.
    let pairTargets: UnsafeMutablePointer<Int>
    /// The two gather indices of step `k` at `2k`, `2k + 1`.
    let pairIndices: UnsafeMutablePointer<Int32>
    let pairValues: UnsafeMutablePointer<SIMD2<Double>>
    let singleCount: Int
    let singleTargets: UnsafeMutablePointer<Int>
    let singleOffsets: UnsafeMutablePointer<Int>
    let singleIndices: UnsafeMutablePointer<Int32>
    let singleValues: UnsafeMutablePointer<Double>

    /// `rows`: each a target and its (gather index, value) entries in summation order.
    init(rows: [(target: Int, entries: [(index: Int32, value: Double)])]) {
        let sorted = rows.enumerated().sorted { ($0.element.entries.count, $0.offset) < ($1.element.entries.count, $1.offset) }.map(\.element)
        var pairs: [(Int, Int)] = [], singles: [Int] = [], runs: [(steps: Int, pairs: Int)] = []
        var r = 0
        while r < sorted.count {
            let n = sorted[r].entries.count
            if r + 1 < sorted.count && sorted[r + 1].entries.count == n {
                pairs.append((r, r + 1))
                if runs.last?.steps == n { runs[runs.count - 1].pairs += 1 } else { runs.append((n, 1)) }
                r += 2
            } else {
                singles.append(r)
                r += 1
            }
        }
        runCount = runs.count
        runSteps = _allocateCopy(runs.map(\.steps))
        runPairs = _allocateCopy(runs.map(\.pairs))
        pairTargets = _allocateCopy(pairs.flatMap { [sorted[$0.0].target, sorted[$0.1].target] })
        pairIndices = _allocateCopy(pairs.flatMap { zip(sorted[$0.0].entries, sorted[$0.1].entries).flatMap { [$0.index, $1.index] } })
        pairValues = _allocateCopy(pairs.flatMap { zip(sorted[$0.0].entries, sorted[$0.1].entries).map { SIMD2($0.value, $1.value) } })
        singleCount = singles.count
        singleTargets = _allocateCopy(singles.map { sorted[$0].target })
        singleOffsets = _allocateCopy(singles.reduce(into: [0]) { $0.append($0.last! + sorted[$1].entries.count) })
        singleIndices = _allocateCopy(singles.flatMap { sorted[$0].entries.map(\.index) })
        singleValues = _allocateCopy(singles.flatMap { sorted[$0].entries.map(\.value) })
    }

    func deallocate() {
        runSteps.deallocate()
        runPairs.deallocate()
        pairTargets.deallocate()
        pairIndices.deallocate()
        pairValues.deallocate()
        singleTargets.deallocate()
        singleOffsets.deallocate()
        singleIndices.deallocate()
        singleValues.deallocate()
    }

    /// Writes every row's sum to `out[target]`. `a` must hold every index of the rows.
    @inline(__always)
    func sum(_ a: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let indices = pairIndices, values = pairValues, targets = pairTargets
        /// The products of step `k` for both rows of its pair.
        @inline(__always) func product(_ k: Int) -> SIMD2<Double> {
            let (i0, i1) = _indexPair(indices + 2 &* k)
            return SIMD2(a[i0], a[i1]) * values[k]
        }
        var k = 0, p = 0
        for r in 0 ..< runCount {
            let n = runSteps[r], end = p &+ runPairs[r]
            while p < end {
                var s = SIMD2<Double>()
                let stop = k &+ n
                while k < stop {
                    s += product(k)
                    k &+= 1
                }
                out[targets[2 &* p]] = s.x
                out[targets[2 &* p &+ 1]] = s.y
                p &+= 1
            }
        }
        let singleOffsets = singleOffsets, singleIndices = singleIndices, singleValues = singleValues, singleTargets = singleTargets
        k = 0
        for r in 0 ..< singleCount {
            let end = singleOffsets[r + 1]
            var s = 0.0
            while k < end {
                s += a[Int(singleIndices[k])] * singleValues[k]
                k &+= 1
            }
            out[singleTargets[r]] = s
        }
    }
}

/// A new buffer holding a copy of `array` (at least one element of capacity); the caller frees it.
internal func _allocateCopy<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
    let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
    _ = UnsafeMutableBufferPointer(start: pointer, count: array.count).initialize(from: array)
    return pointer
}

/// The non-negative 32-bit indices `pointer[0]` and `pointer[1]`, read with one 64-bit load: the
/// gather loops are bound by their loads, and this takes one per two indices.
@inline(__always)
internal func _indexPair(_ pointer: UnsafePointer<Int32>) -> (Int, Int) {
    let bits = UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self)
    #if _endian(big)
    return (Int(truncatingIfNeeded: bits >> 32), Int(truncatingIfNeeded: bits & 0xFFFF_FFFF))
    #else
    return (Int(truncatingIfNeeded: bits & 0xFFFF_FFFF), Int(truncatingIfNeeded: bits >> 32))
    #endif
}
