import Foundation
import Testing
@testable import Morphing
import _SeededRandom

@Suite("benchmark-point morphing")
struct BenchmarkMorphingTests {
    /// A random quadratic polynomial in `n` coefficients over `bins` bins (the coefficient form).
    static func randomTemplates(operators n: Int, bins: Int, seed: UInt64) throws -> PolynomialTemplates {
        var rng = SplitMix64(state: seed)
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: n)
        let templates = monomials.map { m in (0 ..< bins).map { _ in Double.random(in: -1 ... 1, using: &rng) * (m == .one ? 100 : 10) } }
        return try PolynomialTemplates(coefficientNames: (0 ..< n).map { "c\($0)" }, binCount: bins, monomials: monomials, templates: templates)
    }

    static func randomPoints(_ count: Int, dimension: Int, seed: UInt64) -> [[Double]] {
        var rng = SplitMix64(state: seed)
        return (0 ..< count).map { _ in (0 ..< dimension).map { _ in Double.random(in: -2 ... 2, using: &rng) } }
    }

    /// ROOT's six-operator pTV templates when available, a random set otherwise.
    static func sixOperatorTemplates() throws -> PolynomialTemplates {
        if let json = References.templates {
            return try ROOTLagrangianMorph.templates(from: json, observable: "pTV", operators: ["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"]).yields
        }
        return try randomTemplates(operators: 6, bins: 30, seed: 7)
    }

    @Test("templates at benchmark points give back the coefficient form to 1e-10 (square and least squares)",
          arguments: [28, 40, 100])
    func reproducesCoefficientForm(benchmarkCount: Int) throws {
        let truth = try Self.sixOperatorTemplates()
        let points = Self.randomPoints(benchmarkCount, dimension: 6, seed: UInt64(benchmarkCount))
        let morphing = try BenchmarkMorphing(coefficientNames: truth.coefficientNames, monomials: truth.monomials, benchmarks: points)
        #expect(morphing.isOverdetermined == (benchmarkCount > 28))
        #expect(morphing.conditionNumber > 1 && morphing.conditionNumber < 1e8)
        let rebuilt = try morphing.coefficientTemplates(benchmarkYields: points.map { truth.yields(at: $0) }).yields
        for t in 0 ..< truth.termCount {
            let a = truth.template(ofTerm: t), b = rebuilt.template(ofTerm: t)
            let scale = a.map(abs).max()!
            for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-10 * scale, "term \(truth.monomials[t]): \(x) vs \(y)") }
        }
        for c in Self.randomPoints(5, dimension: 6, seed: 99) {
            for (x, y) in zip(truth.yields(at: c), rebuilt.yields(at: c)) { #expect(abs(x - y) <= 1e-10 * max(1, abs(x))) }
        }
    }

    @Test("with as many points as terms, the weights at a benchmark are that benchmark's unit vector")
    func weightsInterpolate() throws {
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 2)
        let points = Self.randomPoints(6, dimension: 2, seed: 3)
        let morphing = try BenchmarkMorphing(coefficientNames: ["a", "b"], monomials: monomials, benchmarks: points)
        for (k, p) in points.enumerated() {
            for (j, w) in morphing.weights(at: p).enumerated() { #expect(abs(w - (j == k ? 1 : 0)) <= 1e-9) }
            #expect(abs(morphing.statisticalAmplification(at: p) - 1) <= 1e-9)
        }
    }

    @Test("the condition number is σ_max/σ_min of a known matrix")
    func conditionNumberOfKnownMatrix() throws {
        // m(c) = (1, c): points 0 and ε give M = [[1, 0], [1, ε]], whose singular values are known.
        let eps = 1e-3
        let morphing = try BenchmarkMorphing(coefficientNames: ["c"], monomials: [.one, .linear(0)], benchmarks: [[0], [eps]])
        let trace = 2 + eps * eps, det = eps
        let s1 = ((trace + (trace * trace - 4 * det * det).squareRoot()) / 2).squareRoot()
        let s2 = det / s1
        #expect(abs(morphing.conditionNumber - s1 / s2) <= 1e-9 * (s1 / s2))
    }

    @Test("too few or degenerate benchmark points are rejected")
    func rejectsSingularBases() {
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 1)
        #expect(throws: MorphingError.self) { try BenchmarkMorphing(coefficientNames: ["c"], monomials: monomials, benchmarks: [[0], [1]]) }
        #expect(throws: MorphingError.self) { try BenchmarkMorphing(coefficientNames: ["c"], monomials: monomials, benchmarks: [[0], [1], [1], [0]]) }
    }

    @Test("benchmark uncertainties propagate as Σ_k w_k(c)² σ_kb²")
    func variancePropagation() throws {
        let truth = try Self.randomTemplates(operators: 2, bins: 4, seed: 11)
        let points = Self.randomPoints(8, dimension: 2, seed: 12)
        let morphing = try BenchmarkMorphing(coefficientNames: truth.coefficientNames, monomials: truth.monomials, benchmarks: points)
        let sigma = points.indices.map { k in (0 ..< 4).map { Double(k + 1) * 0.1 + Double($0) } }
        let t = try morphing.coefficientTemplates(benchmarkYields: points.map { truth.yields(at: $0) }, benchmarkUncertainties: sigma)
        let c = [0.4, -1.3]
        let w = morphing.weights(at: c)
        let variance = try #require(t.monteCarloVariance).polynomial.yields(at: c)
        for b in 0 ..< 4 {
            let expected = w.indices.reduce(0.0) { $0 + w[$1] * w[$1] * sigma[$1][b] * sigma[$1][b] }
            #expect(abs(variance[b] - expected) <= 1e-9 * expected)
        }
    }
}
