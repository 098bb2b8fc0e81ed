/// Bins of one observable: `[e_0, e_1), [e_1, e_2), …, [e_{B−1}, e_B)`, half-open like ROOT's `TH1`.
///
/// Events below `e_0` or at/above `e_B` are dropped (``Flow/drop``) or counted in the first and last
/// bin (``Flow/foldIntoEdgeBins``). Both the static projection and the per-event kernel locate bins
/// with the same function, so they agree event by event.
public struct Binning: Sendable, Hashable {
    public enum Flow: Sendable, Hashable {
        /// Events outside `[e_0, e_B)` are not counted.
        case drop
        /// Underflow joins the first bin and overflow the last.
        case foldIntoEdgeBins
    }

    public let observable: String
    public let edges: [Double]
    public let flow: Flow

    /// - Throws: ``EventDatabaseError`` unless there are at least two finite, strictly increasing edges.
    public init(observable: String, edges: [Double], flow: Flow = .drop) throws(EventDatabaseError) {
        guard edges.count >= 2, edges.allSatisfy(\.isFinite), zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw EventDatabaseError(.invalidValue, "bin edges of \(observable) must be ≥ 2 finite, strictly increasing values: \(edges)")
        }
        self.observable = observable
        self.edges = edges
        self.flow = flow
    }

    /// `count` equal bins on `[lower, upper)`.
    public static func uniform(observable: String, count: Int, lower: Double, upper: Double, flow: Flow = .drop) throws(EventDatabaseError) -> Binning {
        guard count >= 1 else { throw EventDatabaseError(.invalidValue, "bin count \(count) of \(observable) must be ≥ 1") }
        let width = (upper - lower) / Double(count)
        return try Binning(observable: observable, edges: (0 ... count).map { $0 == count ? upper : lower + Double($0) * width }, flow: flow)
    }

    /// The number of bins `B`.
    public var binCount: Int { edges.count - 1 }

    /// `[lo, hi)` labels, one per bin.
    public var binLabels: [String] { (0 ..< binCount).map { "[\(edges[$0]), \(edges[$0 + 1]))" } }
}

/// A selection as range cuts on observables: an event passes when `lower ≤ x < upper` for every cut.
public struct Selection: Sendable, Hashable {
    public struct Cut: Sendable, Hashable {
        public let observable: String
        public let lower: Double
        public let upper: Double

        /// `lower ≤ x < upper`; use `-.infinity` or `.infinity` for one-sided cuts.
        public init(observable: String, lower: Double = -.infinity, upper: Double = .infinity) {
            self.observable = observable
            self.lower = lower
            self.upper = upper
        }
    }

    public let cuts: [Cut]

    public init(_ cuts: [Cut] = []) { self.cuts = cuts }

    /// Every event passes.
    public static let all = Selection()

    /// Whether event `e` passes, with the database's nominal observable values.
    internal func mask(_ database: EventDatabase) throws(EventDatabaseError) -> [Bool] {
        var pass = [Bool](repeating: true, count: database.eventCount)
        for cut in cuts {
            let values = database.observables[try database.observableIndex(cut.observable)].values
            for e in 0 ..< values.count where !(values[e] >= cut.lower && values[e] < cut.upper) { pass[e] = false }
        }
        return pass
    }
}

/// Finds the bin of a value: the shared bin-location rule of the projection and the kernel.
///
/// For equal-width bins the index is computed as `⌊(x − e_0)/w⌋` and then corrected by comparing
/// with the stored edges, so it agrees exactly with a search over the edges (rounding of the
/// division can otherwise put a value that equals an edge into the neighbouring bin).
internal struct _BinLocator: Sendable {
    let edges: [Double]
    let binCount: Int
    let fold: Bool
    let lower: Double
    let upper: Double
    /// `1/w` for equal-width bins, `nil` otherwise.
    let inverseWidth: Double?

    init(_ binning: Binning) {
        self.edges = binning.edges
        binCount = binning.binCount
        fold = binning.flow == .foldIntoEdgeBins
        let edges = binning.edges, lower = edges[0], upper = edges[binning.binCount]
        self.lower = lower
        self.upper = upper
        let width = (upper - lower) / Double(binning.binCount)
        let uniform = edges.indices.allSatisfy { abs(edges[$0] - (lower + Double($0) * width)) <= 1e-12 * max(abs(upper), abs(lower)) }
        inverseWidth = uniform ? 1 / width : nil
    }

    /// The bin of `x` in `0..<binCount`, or -1 when it is dropped. `edges` is the pointer to
    /// ``edges``' storage (hot loops pass it to avoid array access overhead).
    @inline(__always)
    func bin(_ x: Double, _ edges: UnsafePointer<Double>) -> Int {
        guard x >= lower else { return fold && !x.isNaN ? 0 : -1 }
        guard x < upper else { return fold ? binCount - 1 : -1 }
        if let inverseWidth {
            var b = min(Int((x - lower) * inverseWidth), binCount - 1)
            if x < edges[b] { b -= 1 } else if x >= edges[b + 1] { b += 1 }
            return b
        }
        // Largest b with edges[b] ≤ x, given edges[0] ≤ x < edges[B].
        var lo = 0, hi = binCount
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if edges[mid] <= x { lo = mid } else { hi = mid }
        }
        return lo
    }
}
