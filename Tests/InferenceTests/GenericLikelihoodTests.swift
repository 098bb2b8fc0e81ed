import EFTJSON
import Foundation
import HistFactory
import Inference
import Testing

/// A likelihood written without HistFactory: one channel, a signal scaled by μ and a background
/// with per-bin Gaussian γ_b (σ_b = δ_b/b_b),
///
/// ```
/// ν_b = μ s_b + γ_b b_b,   ln L = Σ_b [n_b ln ν_b − ν_b − ln Γ(n_b + 1)] + Σ_b [−ln(σ_b √2π) − (1 − γ_b)²/(2σ_b²)]
/// ```
///
/// which is pyhf's model of ``GenericLikelihoodTests/workspace`` (normfactor and staterror).
private struct CountingLikelihood: DifferentiableLikelihood {
    let signal: [Double]
    let background: [Double]
    let sigma: [Double]

    var parameterCount: Int { 1 + background.count }
    var parameterNames: [String] { ["mu"] + background.indices.map { "staterror_SR[\($0)]" } }
    var suggestedInits: [Double] { Array(repeating: 1, count: parameterCount) }
    var suggestedBounds: [ClosedRange<Double>] { [0...10] + background.map { _ in 1e-10...10 } }
    var suggestedFixed: [Bool] { Array(repeating: false, count: parameterCount) }
    var poiIndex: Int? { 0 }
    var measurementName: String { "counting" }
    var auxiliaryWidths: [Double?] { sigma }

    func parameterIndex(named name: String) throws(HistFactoryError) -> Int {
        guard let i = parameterNames.firstIndex(of: name) else { throw HistFactoryError(.parameter, "no parameter \(name)") }
        return i
    }

    func expectedMainData(_ p: [Double]) -> [Double] { signal.indices.map { p[0] * signal[$0] + p[1 + $0] * background[$0] } }
    func expectedAuxiliaryData(_ p: [Double]) -> [Double] { Array(p[1...]) }

    func data(main: [Double], auxiliary: [Double]?) throws(HistFactoryError) -> ModelData {
        ModelData(main: main, auxiliary: auxiliary ?? Array(repeating: 1, count: background.count), poissonAuxIndices: [])
    }

    func logLikelihood(_ p: [Double], data: ModelData) -> Double {
        var unused: [Double] = []
        return logLikelihoodAndGradient(p, data: data, gradient: &unused)
    }

    func logLikelihoodAndGradient(_ p: [Double], data: ModelData, gradient: inout [Double]) -> Double {
        let nu = expectedMainData(p)
        gradient = [Double](repeating: 0, count: parameterCount)
        var logL = 0.0
        for b in nu.indices {
            let n = data.main[b]
            logL += (n == 0 ? 0 : n * Foundation.log(nu[b])) - nu[b] - lgamma(n + 1)
            let w = (n == 0 ? 0 : n / nu[b]) - 1
            gradient[0] += w * signal[b]
            gradient[1 + b] += w * background[b]
            let r = (data.auxiliary[b] - p[1 + b]) / sigma[b]
            logL += -Foundation.log(sigma[b] * (2 * Double.pi).squareRoot()) - 0.5 * r * r
            gradient[1 + b] += r / sigma[b]
        }
        return logL
    }
}

@Suite struct GenericLikelihoodTests {
    static let signal = [6.0, 11.0, 4.5]
    static let background = [40.0, 25.0, 9.0]
    static let delta = [3.0, 2.5, 1.8]
    static let observed = [47.0, 31.0, 12.0]

    static var workspace: JSON {
        .object(JSONObject([
            ("channels", .array([.object(JSONObject([("name", .string("SR")), ("samples", .array([
                .object(JSONObject([("name", .string("signal")), ("data", .numbers(signal)),
                                    ("modifiers", .array([.object(JSONObject([("name", .string("mu")), ("type", .string("normfactor")), ("data", .null)]))]))])),
                .object(JSONObject([("name", .string("background")), ("data", .numbers(background)),
                                    ("modifiers", .array([.object(JSONObject([("name", .string("staterror_SR")), ("type", .string("staterror")), ("data", .numbers(delta))]))]))])),
            ]))]))])),
            ("observations", .array([.object(JSONObject([("name", .string("SR")), ("data", .numbers(observed))]))])),
            ("measurements", .array([.object(JSONObject([("name", .string("m")), ("config", .object(JSONObject([("poi", .string("mu")), ("parameters", .array([]))])))]))])),
            ("version", .string("1.0.0")),
        ]))
    }

    /// Inference on a likelihood that is not a HistFactoryModel gives the HistFactory model's
    /// numbers: the same fit, q̃μ test, upper limit and toys (same seed).
    @Test("fits, tests, limits and toys run on any DifferentiableLikelihood and agree with the HistFactory model of the same likelihood")
    func inferenceIsGeneric() throws {
        let ws = try Workspace(json: Self.workspace)
        let hf = try HistFactoryModel(workspace: ws)
        let hfData = try hf.observedData(from: ws)
        let hand = CountingLikelihood(signal: Self.signal, background: Self.background, sigma: zip(Self.delta, Self.background).map { $0 / $1 })
        let handData = try hand.data(main: Self.observed, auxiliary: nil)
        #expect(hf.parameterNames == hand.parameterNames)
        for p in [[1.0, 1, 1, 1], [0.4, 1.05, 0.93, 1.1], [2.5, 0.9, 1.2, 0.8]] {
            var g1: [Double] = [], g2: [Double] = []
            let a = hf.logLikelihoodAndGradient(p, data: hfData, gradient: &g1), b = hand.logLikelihoodAndGradient(p, data: handData, gradient: &g2)
            #expect(abs(a - b) <= 1e-12 * abs(a), "log L at \(p): \(a) vs \(b)")
            for i in p.indices { #expect(abs(g1[i] - g2[i]) <= 1e-10 * max(1, abs(g1[i]))) }
        }
        let fitA = try hf.fit(hfData, options: FitOptions(computeUncertainties: true))
        let fitB = try hand.fit(handData, options: FitOptions(computeUncertainties: true))
        #expect(fitA.status.isConverged && fitB.status.isConverged)
        #expect(abs(fitA.twiceNLL - fitB.twiceNLL) <= 1e-9 * abs(fitA.twiceNLL))
        for i in fitA.values.indices {
            #expect(abs(fitA.values[i] - fitB.values[i]) <= 1e-6, "\(hf.parameterNames[i])")
            #expect(abs(fitA.uncertainties![i] - fitB.uncertainties![i]) <= 1e-5 * fitA.uncertainties![i])
        }
        let testA = try hf.hypotest(poiValue: 1.2, data: hfData), testB = try hand.hypotest(poiValue: 1.2, data: handData)
        #expect(abs(testA.clsObserved - testB.clsObserved) <= 1e-7)
        for (x, y) in zip(testA.clsExpected, testB.clsExpected) { #expect(abs(x - y) <= 1e-7) }
        let limitA = try hf.upperLimit(data: hfData), limitB = try hand.upperLimit(data: handData)
        #expect(abs(limitA.observed - limitB.observed) <= 1e-5 * limitA.observed)
        let toysA = try hf.toyHypotest(poiValue: 1.2, data: hfData, toys: 200, seed: 7)
        let toysB = try hand.toyHypotest(poiValue: 1.2, data: handData, toys: 200, seed: 7)
        #expect(abs(toysA.clsObserved - toysB.clsObserved) <= 0.02, "\(toysA.clsObserved) vs \(toysB.clsObserved)")
        let scan = try hand.profileScan("mu", values: [0, 0.5, 1, 1.5, 2, 2.5, 3], data: handData)
        #expect(scan.statuses.allSatisfy { $0.isConverged })
        #expect(abs(scan.bestFit.twiceNLL - fitB.twiceNLL) <= 1e-9 * abs(fitB.twiceNLL))
    }
}
