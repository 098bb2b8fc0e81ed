import Foundation
import HistFactory
import Testing
@testable import Inference

/// The search for the global minimum (`MultiStart.auto`) and starts outside the domain.
@Suite struct GlobalMinimumTests {
    /// Three bins, ν_b(μ) = B_b + l_b μ + q_b μ² (one morphing sample, μ the POI in [−5, 5]) with
    /// B = [47, 11, 57], l = [2.8, −7, 5.4], q = [5.8, 5.1, 0.6] and n = [53, 31, 59]: 2NLL has its
    /// global minimum at μ ≈ −1.35 and a local one at μ ≈ +2.07, 16.8 higher.
    static func doubleMinimum() throws -> (model: HistFactoryModel, data: ModelData) {
        try SyntheticModels.load("""
        {"version": "1.0.0+efthf.1",
         "channels": [{"name": "sr", "samples": [
          {"name": "signal", "data": [47.0, 11.0, 57.0], "modifiers": [
            {"name": "signal_morphing", "type": "morphing", "data": {"coefficients": ["mu"], "form": "absolute", "terms": [
              {"powers": {}, "data": [47.0, 11.0, 57.0]},
              {"powers": {"mu": 1}, "data": [2.8, -7.0, 5.4]},
              {"powers": {"mu": 2}, "data": [5.8, 5.1, 0.6]}]}}]}]}],
         "observations": [{"name": "sr", "data": [53.0, 31.0, 59.0]}],
         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[-5.0, 5.0]]}]}}]}
        """)
    }

    /// The minimum of a one-parameter 2NLL by brute force: the lowest of 100 001 grid points on
    /// [−5, 5], then golden-section search on its two neighbouring cells (to 10⁻¹² in μ).
    static func bruteForceMinimum(_ f: (Double) -> Double) -> (mu: Double, value: Double) {
        let grid = (0...100_000).map { -5 + 10 * Double($0) / 100_000 }
        let k = grid.indices.min { f(grid[$0]) < f(grid[$1]) }!
        var a = grid[max(k - 1, 0)], b = grid[min(k + 1, grid.count - 1)]
        let ratio = (5.0.squareRoot() - 1) / 2
        while b - a > 1e-12 {
            let c = b - ratio * (b - a), d = a + ratio * (b - a)
            if f(c) < f(d) { b = d } else { a = c }
        }
        return (0.5 * (a + b), f(0.5 * (a + b)))
    }

    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    @Test func aLocalFitFromTheWrongSideEndsInTheLocalMinimum() throws {
        let (model, data) = try Self.doubleMinimum()
        let fit = try model.fit(data, options: FitOptions(initialValues: [3]))
        #expect(fit.status == .converged)
        #expect(abs(fit.values[0] - 2.07) < 0.01, "μ = \(fit.values[0])")
    }

    @Test(arguments: [-4.5, -1.35, 0.0, 1.0, 2.07, 3.0, 4.5])
    func theSearchFindsTheGlobalMinimumAndBothMinimaFromEveryStart(start: Double) throws {
        let (model, data) = try Self.doubleMinimum()
        let truth = Self.bruteForceMinimum { -2 * model.logLikelihood([$0], data: data) }
        let fit = try model.fit(data, options: FitOptions(initialValues: [start], multiStart: .auto()))
        #expect(fit.status == .converged)
        #expect(abs(fit.values[0] - truth.mu) < 1e-5, "μ̂ = \(fit.values[0]), brute force \(truth.mu)")
        #expect(abs(fit.twiceNLL - truth.value) < 1e-8)
        #expect(abs(truth.mu + 1.35) < 0.01)
        let search = try #require(fit.search)
        #expect(search.globalMinimumAssured)
        #expect(fit.evaluations.total == fit.functionCalls)
        // From the local minimum's side the search passes through it and reports it.
        if start > 1 {
            #expect(fit.localMinima.count == 2)
            #expect(fit.localMinima.map(\.values[0]).contains { abs($0 - 2.07) < 0.01 })
        }
    }

    /// q̃μ (arXiv:1007.1727 Eq. 16) at μ = 3.2: μ̂ < 0, so q̃ = 2NLL(3.2) − 2NLL(0); q̃_A the
    /// same on the Asimov data ν(0); CLs from Eq. 65 as pyhf maps it. Computed here by brute force.
    @Test(arguments: [-4.5, -1.35, 0.0, 2.07, 3.0, 4.5])
    func hypotestGivesTheTextbookQTildeAndCLsFromEveryStart(start: Double) throws {
        let (model, data) = try Self.doubleMinimum()
        let mu = 3.2
        let f = { (x: Double) in -2 * model.logLikelihood([x], data: data) }
        let truth = Self.bruteForceMinimum(f)
        #expect(truth.mu < 0)
        let q = f(mu) - f(0)
        let asimov = try model.data(main: model.expectedMainData([0]), auxiliary: nil)
        let fA = { (x: Double) in -2 * model.logLikelihood([x], data: asimov) }
        #expect(abs(Self.bruteForceMinimum(fA).mu) < 1e-6)
        let qA = fA(mu) - fA(0)
        let x = q.squareRoot() <= qA.squareRoot() ? q.squareRoot() - qA.squareRoot() : (q - qA) / (2 * qA.squareRoot())
        let cls = Self.normalCDF(-(x + qA.squareRoot())) / Self.normalCDF(-x)

        let r = try model.hypotest(poiValue: mu, data: data, options: FitOptions(initialValues: [start], multiStart: .auto()))
        #expect(abs(r.muHat - truth.mu) < 1e-5)
        #expect(abs(r.q - q) < 1e-7, "q̃ = \(r.q), textbook \(q)")
        #expect(abs(r.qAsimov - qA) < 1e-7)
        #expect(abs(r.clsObserved - cls) < 1e-7 * cls, "CLs = \(r.clsObserved), textbook \(cls)")
    }

    /// Ten Wilson coefficients with linear, quadratic and neighbour cross terms in 20 bins, a
    /// background with a normsys, Asimov data at an injected point: the saturated minimum, global.
    static func tenOperators() throws -> (model: HistFactoryModel, data: ModelData, injected: [Double]) {
        let k = 10, bins = 20
        let names = (1...k).map { "c\($0)" }
        let injected = [0.8, -0.6, 1.2, -1.0, 0.5, -1.5, 0.9, -0.4, 1.1, -0.7]
        // Uniform in [0, 1), a fixed hash of (term kind, operator, bin): full-rank templates.
        func u(_ kind: Int, _ i: Int, _ b: Int) -> Double {
            let x = sin(Double(7919 * kind + 131 * i + 17 * b + 1) * 12.9898) * 43758.5453
            return x - x.rounded(.down)
        }
        func linear(_ i: Int, _ b: Int) -> Double { 4 * (2 * u(1, i, b) - 1) }
        func quadratic(_ i: Int, _ b: Int) -> Double { 0.5 + 0.5 * u(2, i, b) }
        func cross(_ i: Int, _ b: Int) -> Double { 0.3 * (2 * u(3, i, b) - 1) }
        let sm = (0..<bins).map { 40 + 3 * Double($0) }
        let background = (0..<bins).map { 100 + 10 * Double($0) }
        var terms = [#"{"powers": {}, "data": \#(sm)}"#]
        for i in 0..<k {
            terms.append(#"{"powers": {"\#(names[i])": 1}, "data": \#((0..<bins).map { linear(i, $0) })}"#)
            terms.append(#"{"powers": {"\#(names[i])": 2}, "data": \#((0..<bins).map { quadratic(i, $0) })}"#)
            if i + 1 < k {
                terms.append(#"{"powers": {"\#(names[i])": 1, "\#(names[i + 1])": 1}, "data": \#((0..<bins).map { cross(i, $0) })}"#)
            }
        }
        let observed = (0..<bins).map { b -> Double in
            var nu = background[b] + sm[b]
            for i in 0..<k {
                nu += linear(i, b) * injected[i] + quadratic(i, b) * injected[i] * injected[i]
                if i + 1 < k { nu += cross(i, b) * injected[i] * injected[i + 1] }
            }
            return nu
        }
        let (model, data) = try SyntheticModels.load("""
        {"version": "1.0.0+efthf.1",
         "channels": [{"name": "sr", "samples": [
          {"name": "background", "data": \(background), "modifiers": [{"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]},
          {"name": "signal", "data": \(sm), "modifiers": [
            {"name": "signal_morphing", "type": "morphing", "data": {"coefficients": \(names), "form": "absolute", "terms": [\(terms.joined(separator: ", "))]}}]}]}],
         "observations": [{"name": "sr", "data": \(observed)}],
         "measurements": [{"name": "m", "config": {"poi": "c1", "parameters": []}}]}
        """)
        return (model, data, injected)
    }

    @Test func aTenOperatorSearchCostsAtMostFiveLocalFitsAndFindsTheInjectedMinimum() throws {
        let (model, data, injected) = try Self.tenOperators()
        let names = (1...10).map { "c\($0)" }
        let local = try model.fit(data, options: FitOptions(computeUncertainties: true))
        let fit = try model.fit(data, options: FitOptions(computeUncertainties: true, multiStart: .auto(parameters: names)))
        #expect(fit.status == .converged)
        for (name, value) in zip(names, injected) {
            let fitted = try fit.value(of: name)
            #expect(abs(fitted - value) < 1e-4, "\(name) = \(fitted), injected \(value)")
        }
        #expect(abs(try fit.value(of: "bkg_norm")) < 1e-4)
        let ratio = Double(fit.evaluations.total) / Double(local.evaluations.total)
        print("ten operators: one local fit \(local.evaluations.total) evaluations; with the search \(fit.evaluations.total) (local fit \(fit.evaluations.localFit), multistart \(fit.evaluations.multiStart), uncertainties \(fit.evaluations.uncertainties); \(fit.search?.fits ?? 0) fits), ratio \(ratio)")
        #expect(ratio <= 5, "\(fit.evaluations.total) evaluations with the search, \(local.evaluations.total) for one local fit")
        #expect(fit.search?.globalMinimumAssured == true)
    }

    @Test func aBudgetOfZeroStartsSaysTheGlobalMinimumIsNotAssured() throws {
        let (model, data) = try Self.doubleMinimum()
        let fit = try model.fit(data, options: FitOptions(initialValues: [3], multiStart: .auto(maxStarts: 0)))
        let search = try #require(fit.search)
        #expect(!search.globalMinimumAssured)
        #expect(search.untried > 0)
        #expect(search.fits == 1)
        #expect(abs(fit.values[0] - 2.07) < 0.01)
    }

    @Test func aBudgetBeyondTheLimitIsRefused() throws {
        let (model, data) = try Self.doubleMinimum()
        #expect(throws: InferenceError.self) {
            try model.fit(data, options: FitOptions(multiStart: .auto(maxStarts: MultiStart.maximumStarts + 1)))
        }
        // A grid larger than its budget is refused before any fit.
        #expect(throws: InferenceError.self) {
            try model.fit(data, options: FitOptions(multiStart: MultiStart(strategy: .grid, parameters: ["mu"], maxStarts: 4, pointsPerParameter: 5)))
        }
    }

    /// A pure-EFT bin (no SM yield, ν = c² · 4) with 5 observed events: at c = 0 the bin has
    /// ν = 0 and n > 0, so 2NLL = +∞ at the start.
    static func emptyAtTheStandardModel() throws -> (model: HistFactoryModel, data: ModelData) {
        try SyntheticModels.load("""
        {"version": "1.0.0+efthf.1",
         "channels": [{"name": "sr", "samples": [
          {"name": "background", "data": [20.0, 0.0], "modifiers": []},
          {"name": "eft", "data": [0.0, 0.0], "modifiers": [
            {"name": "eft_morphing", "type": "morphing", "data": {"coefficients": ["c"], "form": "absolute", "terms": [
              {"powers": {"c": 1}, "data": [1.0, 0.0]},
              {"powers": {"c": 2}, "data": [2.0, 4.0]}]}}]}]}],
         "observations": [{"name": "sr", "data": [22.0, 5.0]}],
         "measurements": [{"name": "m", "config": {"poi": "c", "parameters": []}}]}
        """)
    }

    @Test func aStartOutsideTheDomainMovesIntoItAndGivesTheResult() throws {
        let (model, data) = try Self.emptyAtTheStandardModel()
        #expect(!model.logLikelihood([0], data: data).isFinite)
        let fit = try model.fit(data, options: FitOptions(multiStart: .auto()))
        #expect(fit.status.isConverged)
        let truth = Self.bruteForceMinimum { -2 * model.logLikelihood([$0], data: data) }
        #expect(abs(fit.twiceNLL - truth.value) < 1e-8, "2NLL = \(fit.twiceNLL), brute force \(truth.value) at c = \(truth.mu)")
        // Without the search the fit still moves into the domain and converges.
        #expect(try model.fit(data).status.isConverged)
    }

    @Test func aStartThatCannotBeMovedIntoTheDomainSaysWhy() throws {
        let (model, data) = try Self.emptyAtTheStandardModel()
        // c fixed at 0: nothing can move, and bin 1 has ν = 0 with n = 5.
        let fit = try model.fit(data, options: FitOptions(fixedValues: ["c": 0]))
        guard case .failed(let reason) = fit.status else {
            Issue.record("expected a failed fit, got \(fit.status)")
            return
        }
        #expect(reason.contains("main bins with ν = 0 and n > 0: 1 (n = 5.0)"), "\(reason)")
    }
}
