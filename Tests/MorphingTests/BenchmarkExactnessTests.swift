import Foundation
import Testing
@testable import Morphing

/// Benchmark inversion is exact where the algebra says it is: with as many benchmarks as terms and
/// the Standard Model among them, the morphed yield at c = 0 is the SM template itself.
@Suite("benchmark-point morphing: exact Standard Model")
struct BenchmarkExactnessTests {
    /// Two coefficients, the six quadratic monomials, benchmarks at 0, ±1 on each axis and (1, 1);
    /// the SM template has empty bins (0 and 2) where the other benchmarks have events.
    static let points: [[Double]] = [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1]]
    static let yields: [[Double]] = [
        [0, 3.7, 0, 12.1],
        [0.31, 5.2, 1.7, 14.9],
        [0.47, 2.9, 0.23, 9.8],
        [0.13, 4.4, 2.9, 13.3],
        [0.91, 3.1, 0.77, 11.7],
        [1.37, 6.6, 3.1, 18.2],
    ]

    @Test("the morphed yield at the SM benchmark is the SM template exactly, zeros included")
    func standardModelIsExact() throws {
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 2)
        let morphing = try BenchmarkMorphing(coefficientNames: ["a", "b"], monomials: monomials, benchmarks: Self.points)
        let templates = try morphing.coefficientTemplates(benchmarkYields: Self.yields).yields
        #expect(templates.yields(at: [0, 0]) == Self.yields[0])
        // The SM weights are the unit vector: the other benchmarks do not enter at c = 0.
        #expect(morphing.weights(at: [0, 0]) == [1, 0, 0, 0, 0, 0])
        // The other benchmarks are reproduced to rounding.
        for (point, expected) in zip(Self.points, Self.yields).dropFirst() {
            for (a, b) in zip(templates.yields(at: point), expected) { #expect(abs(a - b) <= 1e-12 * max(1, abs(b))) }
        }
    }
}
