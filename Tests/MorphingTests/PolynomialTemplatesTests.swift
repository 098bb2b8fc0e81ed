import Foundation
import Testing
@testable import Morphing
import _SeededRandom

@Suite("monomials, evaluation, gradients, truncation")
struct PolynomialTemplatesTests {
    @Test("graded order and the full quadratic basis of n operators has (n+1)(n+2)/2 terms", arguments: [0, 1, 3, 6, 57])
    func quadraticBasis(n: Int) {
        let basis = Monomial.all(upToDegree: 2, coefficientCount: n)
        #expect(basis.count == (n + 1) * (n + 2) / 2)
        #expect(basis.first == .one)
        #expect(Set(basis).count == basis.count)
        #expect(basis == basis.sorted())
    }

    @Test("product adds exponents; value and description")
    func monomialAlgebra() {
        let m = Monomial.product(0, 2) * .square(2)
        #expect(m == Monomial(exponents: [1, 0, 3]))
        #expect(m.degree == 4)
        #expect(m.value(at: [2, 5, -1]) == -2)
        #expect(m.description(names: ["a", "b", "c"]) == "a*c^3")
        #expect(Monomial.one.description == "1")
    }

    /// A sparse polynomial with terms up to degree 4 and dense and sparse columns.
    static func mixedTemplates() throws -> PolynomialTemplates {
        var rng = SplitMix64(state: 42)
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 4) + [Monomial(exponents: [3, 0, 1, 0]), Monomial(exponents: [0, 2, 0, 2])]
        var entries: [(monomial: Monomial, bin: Int, value: Double)] = []
        for (t, m) in monomials.enumerated() {
            for b in 0 ..< 12 where t % 3 == 0 || (b + t) % 5 == 0 {
                entries.append((m, b, Double.random(in: -1 ... 1, using: &rng)))
            }
        }
        return try PolynomialTemplates(coefficientNames: ["a", "b", "c", "d"], binCount: 12, entries: entries)
    }

    @Test("the Jacobian equals central finite differences", arguments: [[0.0, 0, 0, 0], [0.3, -1.2, 0.7, 2.1], [-1.5, 0.2, 0, -0.4]])
    func jacobianMatchesFiniteDifferences(c: [Double]) throws {
        let p = try Self.mixedTemplates()
        let (_, jacobian) = p.yieldsAndJacobian(at: c)
        let numeric = finiteDifferenceJacobian(p.yields(at:), at: c)
        for (a, n) in zip(jacobian, numeric) { #expect(abs(a - n) <= 1e-7 * max(1, abs(n)), "\(a) vs \(n)") }
    }

    @Test("the vector-Jacobian product equals Jᵀw")
    func pullbackMatchesJacobian() throws {
        let p = try Self.mixedTemplates()
        let c = [0.3, -1.2, 0.7, 2.1]
        let w = (0 ..< 12).map { Double($0) - 5.5 }
        let (_, jacobian) = p.yieldsAndJacobian(at: c)
        var g = [Double](repeating: 1, count: 4)
        c.withUnsafeBufferPointer { cb in
            w.withUnsafeBufferPointer { wb in
                g.withUnsafeMutableBufferPointer { p.accumulateVectorJacobianProduct(at: cb, cotangent: wb, into: $0) }
            }
        }
        for i in 0 ..< 4 {
            let expected = 1 + (0 ..< 12).reduce(0.0) { $0 + w[$1] * jacobian[i * 12 + $1] }
            #expect(abs(g[i] - expected) <= 1e-12 * max(1, abs(expected)))
        }
    }

    /// Sparse templates whose Jacobian elements and template sums have many different numbers of
    /// contributions: 40 bins, 7 coefficients, every monomial up to degree 2 and c0³, c1²c3, c0c2c4,
    /// c5⁴, each non-zero in a pseudo-random fraction 1/2 … 1/7 of the bins; every fifth term is a
    /// dense column with zeros.
    static func irregularTemplates() throws -> PolynomialTemplates {
        var rng = SplitMix64(state: 11)
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 7)
            + [Monomial(exponents: [3, 0, 0, 0, 0, 0, 0]), Monomial(exponents: [0, 2, 0, 1, 0, 0, 0]),
               Monomial(exponents: [1, 0, 1, 0, 1, 0, 0]), Monomial(exponents: [0, 0, 0, 0, 0, 4, 0])]
        var entries: [(monomial: Monomial, bin: Int, value: Double)] = []
        for (t, m) in monomials.enumerated() {
            for b in 0 ..< 40 {
                let value = Double.random(in: -1 ... 1, using: &rng)
                let kept = t % 5 == 0 ? b % 7 != 0 : rng.next() % UInt64(2 + t % 6) == 0
                if kept { entries.append((m, b, value)) }
            }
        }
        return try PolynomialTemplates(coefficientNames: (0 ..< 7).map { "c\($0)" }, binCount: 40, entries: entries)
    }

    /// The yields, the coefficient-major Jacobian and `g + Jᵀw`, summed term by term from the
    /// monomials' analytic derivatives, each with `Σ |contribution|`, which bounds the effect of the
    /// summation order: at most `n ε Σ|·|` for `n` contributions.
    static func termByTerm(_ p: PolynomialTemplates, at c: [Double], cotangent w: [Double], gradient g: [Double])
        -> (yields: [Double], yieldScale: [Double], jacobian: [Double], jacobianScale: [Double], gradient: [Double], gradientScale: [Double]) {
        let B = p.binCount, C = p.coefficientCount
        var y = [Double](repeating: 0, count: B), yScale = y
        var jacobian = [Double](repeating: 0, count: C * B), jacobianScale = jacobian
        var gradient = g, gradientScale = g.map(abs)
        for (t, monomial) in p.monomials.enumerated() {
            let template = p.template(ofTerm: t), m = monomial.value(at: c)
            for b in 0 ..< B {
                y[b] += m * template[b]
                yScale[b] += abs(m * template[b])
            }
            for f in monomial.factors {
                var derivative = Double(f.power) * integerPower(c[f.coefficient], f.power - 1)
                for other in monomial.factors where other.coefficient != f.coefficient { derivative *= integerPower(c[other.coefficient], other.power) }
                for b in 0 ..< B {
                    let contribution = derivative * template[b]
                    jacobian[f.coefficient * B + b] += contribution
                    jacobianScale[f.coefficient * B + b] += abs(contribution)
                    gradient[f.coefficient] += w[b] * contribution
                    gradientScale[f.coefficient] += abs(w[b] * contribution)
                }
            }
        }
        return (y, yScale, jacobian, jacobianScale, gradient, gradientScale)
    }

    @Test("yields, Jacobian and vector–Jacobian product equal the term-by-term analytic sums to n·ε",
          arguments: ["mixed", "irregular", "dense", "STXS"])
    func kernelMatchesTermByTermSums(_ kind: String) throws {
        let p: PolynomialTemplates
        switch kind {
        case "mixed": p = try Self.mixedTemplates()
        case "irregular": p = try Self.irregularTemplates()
        case "dense": p = try BenchmarkMorphingTests.randomTemplates(operators: 6, bins: 30, seed: 3)
        default:
            guard References.sharedAvailable else { return }
            p = try STXSTests.load("prod.json").yields
        }
        let C = p.coefficientCount
        var rng = SplitMix64(state: 5)
        let random = (0 ..< C).map { _ in Double.random(in: -2 ... 2, using: &rng) }
        let points = [[Double](repeating: 0, count: C), random, random.indices.map { $0 % 3 == 1 ? 0 : random[$0] }]
        let w = (0 ..< p.binCount).map { _ in Double.random(in: -1 ... 1, using: &rng) }
        let g0 = (0 ..< C).map { _ in Double.random(in: -1 ... 1, using: &rng) }
        for c in points {
            let (y, jacobian) = p.yieldsAndJacobian(at: c)
            var g = g0
            c.withUnsafeBufferPointer { cb in
                w.withUnsafeBufferPointer { wb in
                    g.withUnsafeMutableBufferPointer { p.accumulateVectorJacobianProduct(at: cb, cotangent: wb, into: $0) }
                }
            }
            let reference = Self.termByTerm(p, at: c, cotangent: w, gradient: g0)
            // n ≤ 2T contributions per entry (each s_t·∂m_t and each w_b C_tb once): 2T·ε·Σ|·| bounds the difference.
            let tolerance = 2 * Double(p.termCount + p.binCount) * Double.ulpOfOne
            for b in 0 ..< p.binCount { #expect(abs(y[b] - reference.yields[b]) <= tolerance * reference.yieldScale[b], "\(kind) y[\(b)]") }
            for e in jacobian.indices {
                #expect(abs(jacobian[e] - reference.jacobian[e]) <= tolerance * reference.jacobianScale[e], "\(kind) J[\(e)]: \(jacobian[e]) vs \(reference.jacobian[e])")
            }
            for i in 0 ..< C { #expect(abs(g[i] - reference.gradient[i]) <= tolerance * reference.gradientScale[i], "\(kind) g[\(i)]: \(g[i]) vs \(reference.gradient[i])") }
        }
    }

    @Test("the yields are Σ_t m_t C_tb computed term by term")
    func yieldsAreTheSum() throws {
        let p = try Self.mixedTemplates()
        let c = [0.3, -1.2, 0.7, 2.1]
        let m = p.monomialValues(at: c)
        let y = p.yields(at: c)
        for b in 0 ..< 12 {
            let expected = (0 ..< p.termCount).reduce(0.0) { $0 + m[$1] * p.template(ofTerm: $1)[b] }
            #expect(abs(y[b] - expected) <= 1e-13 * max(1, abs(expected)))
        }
    }

    @Test("variance gradients (independent and general quadratic forms) equal finite differences")
    func varianceGradients() throws {
        let p = try Self.mixedTemplates()
        let sigma = (0 ..< p.termCount).map { t in (0 ..< 12).map { 0.01 * Double((t * 7 + $0) % 11) } }
        let independent = try MonteCarloVariance.independentTerms(coefficientNames: p.coefficientNames, termMonomials: p.monomials, uncertainties: sigma)
        let c = [0.3, -1.2, 0.7, 2.1]
        let m = p.monomialValues(at: c)
        let v = independent.polynomial.yields(at: c)
        for b in 0 ..< 12 {
            let expected = (0 ..< p.termCount).reduce(0.0) { $0 + (m[$1] * sigma[$1][b]) * (m[$1] * sigma[$1][b]) }
            #expect(abs(v[b] - expected) <= 1e-12 * expected)
        }
        let general = try MonteCarloVariance(coefficientNames: p.coefficientNames, termMonomials: p.monomials, binCount: 12,
                                             pairs: [(0, 3, [Double](repeating: 0.5, count: 12)), (4, 4, sigma[4]), (2, 16, sigma[2])])
        for form in [independent, general] {
            let (_, jacobian) = form.polynomial.yieldsAndJacobian(at: c)
            let numeric = finiteDifferenceJacobian(form.polynomial.yields(at:), at: c)
            for (a, n) in zip(jacobian, numeric) { #expect(abs(a - n) <= 1e-7 * max(1, abs(n))) }
        }
    }

    @Test("truncation keeps the right terms and is recorded", arguments: [
        (Truncation.linear, 5), (Truncation.quadratic, 15), (Truncation.order(inverseLambdaPower: 8), 17),
        (Truncation.excluding([.square(1), .product(0, 3)]), 15), (Truncation.only([.one, .linear(2)]), 2),
    ])
    func truncation(_ truncation: Truncation, keptTerms: Int) throws {
        let p = try Self.mixedTemplates()
        let t = p.truncated(truncation)
        #expect(t.termCount == keptTerms)
        #expect(t.truncations == [truncation])
        #expect(t.monomials.allSatisfy(truncation.keeps))
        let c = [0.3, -1.2, 0.7, 2.1]
        let y = t.yields(at: c), m = p.monomialValues(at: c)
        for b in 0 ..< 12 {
            let expected = (0 ..< p.termCount).filter { truncation.keeps(p.monomials[$0]) }.reduce(0.0) { $0 + m[$1] * p.template(ofTerm: $1)[b] }
            #expect(abs(y[b] - expected) <= 1e-13 * max(1, abs(expected)))
        }
    }

    @Test("ROOT six-operator and STXS Jacobians equal finite differences")
    func referenceJacobians() throws {
        guard let json = References.templates else { return }
        let root = try ROOTLagrangianMorph.templates(from: json, observable: "pTV", operators: ["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"])
        let c = [0.5, -0.3, 1.2, -1.7, 0.9, 0.1]
        for p in [root.yields, try #require(root.monteCarloVariance).polynomial] {
            let (_, jacobian) = p.yieldsAndJacobian(at: c)
            let numeric = finiteDifferenceJacobian(p.yields(at:), at: c)
            let scale = numeric.map(abs).max()!
            for (a, n) in zip(jacobian, numeric) { #expect(abs(a - n) <= 1e-8 * scale) }
        }
        let prod = try STXSTests.load("prod.json", .parametersOfInterest)
        let pois = try STXSTests.parameters()
        let p = pois.map { 0.1 * ($0.minimum + 0.37 * ($0.maximum - $0.minimum)) }
        let (_, jacobian) = prod.yields.yieldsAndJacobian(at: p)
        let numeric = finiteDifferenceJacobian(prod.yields.yields(at:), at: p, step: 1e-4)
        for (a, n) in zip(jacobian, numeric) { #expect(abs(a - n) <= 1e-7 * max(1, abs(n)), "\(a) vs \(n)") }
    }
}
