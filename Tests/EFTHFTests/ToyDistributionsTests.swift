import EFTHF
import Testing

/// The toy distributions of a toys report: bins and counts as numpy computes them
/// (`numpy.percentile(values, 99)`, `numpy.histogram(numpy.minimum(values, upper), numpy.linspace(0, upper, 41))`).
@Suite struct ToyDistributionsTests {
    @Test("bins from 0 to 1.05 × max(q, 99th percentiles); counts equal numpy's histogram")
    func binsAndCountsEqualNumpy() {
        let signal = [0, 0, 0, 0.1, 0.4, 0.9, 1.7, 2.5, 3.3, 8.0, 0.05]
        let background = [0.2, 1.1, 2.2, 3.0, 4.4, 5.5, 6.1, 9.9, 12.5, 0.0]
        let d = ToyDistributions(signal: signal, background: background, observed: 4.0)
        // numpy: percentile 99 = 7.530000000000002 (signal), 12.266 (background); upper = 1.05 × 12.266.
        #expect(d.edges.count == 41)
        #expect(abs(d.edges.last! - 12.8793) < 1e-12)
        var s = [Int](repeating: 0, count: 40), b = [Int](repeating: 0, count: 40)
        for (k, n) in [(0, 5), (1, 1), (2, 1), (5, 1), (7, 1), (10, 1), (24, 1)] { s[k] = n }
        for (k, n) in [(0, 2), (3, 1), (6, 1), (9, 1), (13, 1), (17, 1), (18, 1), (30, 1), (38, 1)] { b[k] = n }
        #expect(d.signal == s)
        #expect(d.background == b)
        #expect(d.overflow == [0, 0])
        #expect(d.signal.reduce(0, +) == signal.count && d.background.reduce(0, +) == background.count)
    }

    @Test("statistics beyond the last edge are counted in the last bin and reported as overflow")
    func overflowIsCountedInTheLastBin() {
        let d = ToyDistributions(signal: Array(repeating: 1.0, count: 99) + [1000], background: [0, 0, 0.5], observed: 2)
        // numpy.percentile([1] * 99 + [1000], 99) = 10.99000000000511, above q = 2.
        #expect(abs(d.edges.last! - 1.05 * 10.99000000000511) < 1e-9, "\(d.edges.last!)")
        #expect(d.signal.reduce(0, +) == 100)
        #expect(d.overflow == [1, 0])
    }
}
