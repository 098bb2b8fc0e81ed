import Foundation
import HistFactory
import Testing
@testable import Inference

/// Test statistics, asymptotic CLs and toys on pyhf's simple model.
struct HypothesisTestTests {
    /// pyhf 0.7.6 on simplemodels.uncorrelated_background([12, 11], [50, 52], [3, 7]), data
    /// [51, 48], μ = 1, qtilde, with tight fits (scipy tolerance 1e-12; Minuit strategy 2
    /// tolerance 1e-6 agrees to 1e-9): CLs = 0.0525155242, q_A = 3.41886916. The numbers in
    /// pyhf-semantics.md §8 (q_A = 3.41891934, CLs = 0.05251497) come from SLSQP's default
    /// tolerance and are 5e-5 off in q_A.
    @Test func simpleModelMatchesPyhfWorkedExample() throws {
        let (model, data) = try SyntheticModels.simple()
        let result = try model.hypotest(poiValue: 1, data: data)
        #expect(abs(result.q - 3.93824492) < 1e-6)
        #expect(abs(result.qAsimov - 3.41886916) < 1e-6)
        #expect(abs(result.clsObserved - 0.0525155242) < 1e-8)
        let band = [0.0026064, 0.01382064, 0.06445515, 0.2352609, 0.57304165]
        for (ours, theirs) in zip(result.clsExpected, band) { #expect(abs(ours - theirs) < 2e-8) }
        // Asimov auxiliary data are shifted to γ̂̂τ (278.62, 53.12 in pyhf).
        let asimov = try model.asimovData(poiValue: 0, data: data)
        #expect(abs(asimov.auxiliary[0] - 278.62) < 0.01 && abs(asimov.auxiliary[1] - 53.12) < 0.01)
    }

    /// With a negative POI lower bound and a deficit (μ̂ < 0), q̃μ uses the explicit μ = 0 fit of
    /// Eq. 16 and is smaller than qμ; with the bound at 0 the two coincide, as in pyhf.
    @Test func qMuTildeUsesTheZeroFitWhenMuHatIsNegative() throws {
        let (model, data) = try SyntheticModels.simple(observed: [40, 41], poiBounds: [-5, 10])
        let free = try model.fit(data)
        #expect(free.values[0] < 0)
        let atOne = try model.fit(data, fixing: "mu", at: 1)
        let atZero = try model.fit(data, fixing: "mu", at: 0)
        let qTilde = try model.testStatistic(.qMuTilde, poiValue: 1, data: data)
        let q = try model.testStatistic(.qMu, poiValue: 1, data: data)
        #expect(abs(qTilde - (atOne.twiceNLL - atZero.twiceNLL)) < 1e-8)
        #expect(abs(q - (atOne.twiceNLL - free.twiceNLL)) < 1e-8)
        #expect(qTilde < q)
        let tTilde = try model.testStatistic(.tMuTilde, poiValue: 1, data: data)
        #expect(abs(tTilde - qTilde) < 1e-8)

        let (bounded, boundedData) = try SyntheticModels.simple(observed: [40, 41], poiBounds: [0, 10])
        let boundedTilde = try bounded.testStatistic(.qMuTilde, poiValue: 1, data: boundedData)
        #expect(abs(boundedTilde - qTilde) < 1e-6)
        // q̃μ = 0 above μ̂ and q0 = 0 for a deficit.
        let belowMuHat = try model.testStatistic(.qMuTilde, poiValue: -1, data: data)
        let discovery = try model.testStatistic(.q0, poiValue: 0, data: data)
        #expect(belowMuHat == 0)
        #expect(discovery == 0)
    }

    /// The upper limit is where CLs crosses the level, observed and for each expected band.
    @Test func upperLimitSolvesCLsEqualsLevel() throws {
        let (model, data) = try SyntheticModels.simple()
        let limit = try model.upperLimit(data: data, level: 0.05)
        let atObserved = try model.hypotest(poiValue: limit.observed, data: data)
        #expect(abs(atObserved.clsObserved - 0.05) < 1e-7)
        for (k, mu) in limit.expected.enumerated() {
            let atExpected = try model.hypotest(poiValue: mu, data: data)
            #expect(abs(atExpected.clsExpected[k] - 0.05) < 1e-7)
        }
        #expect(limit.expected == limit.expected.sorted())
    }

    /// Toys are reproducible for a seed, change with the seed, and agree roughly with the
    /// asymptotic CLs (1000 toys; asymptotics are approximate at these yields).
    @Test func toysAreReproducibleAndCloseToAsymptotics() throws {
        let (model, data) = try SyntheticModels.simple()
        let first = try model.toyHypotest(poiValue: 1, data: data, toys: 400, seed: 7)
        let again = try model.toyHypotest(poiValue: 1, data: data, toys: 400, seed: 7)
        let other = try model.toyHypotest(poiValue: 1, data: data, toys: 400, seed: 8)
        #expect(first == again)
        #expect(first.signalTestStatistics != other.signalTestStatistics)
        #expect(first.failedToys == 0)
        let asymptotic = try model.hypotest(poiValue: 1, data: data)
        #expect(abs(first.q - asymptotic.q) < 1e-9)
        #expect(abs(first.clsObserved - asymptotic.clsObserved) < 0.04, "toys \(first.clsObserved) vs asymptotic \(asymptotic.clsObserved)")
        #expect(first.clsExpected == first.clsExpected.sorted())
    }

    /// Poisson and normal samplers have the right mean and variance.
    @Test(arguments: [0.5, 7.0, 30.0, 400.0])
    func poissonSamplerMoments(_ lambda: Double) {
        var rng = Xoshiro256StarStar(seed: 1, stream: 0, index: 0)
        let n = 40_000
        let draws = (0..<n).map { _ in Double(rng.poisson(lambda)) }
        let mean = draws.reduce(0, +) / Double(n)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
        #expect(abs(mean - lambda) < 5 * (lambda / Double(n)).squareRoot())
        #expect(abs(variance / lambda - 1) < 0.05)
    }
}
