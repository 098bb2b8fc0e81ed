import Foundation
import HistFactory
import Testing
@testable import Inference

/// Profile-likelihood interval ends against likelihoods whose profile is known in closed form.
///
/// Every model here has a channel "A" that holds the parameter of interest alone, ν_A(θ), and a
/// channel "B" with ν_B(θ)·λ, λ a free normfactor: for every θ the profiled λ̂(θ) = n_B/ν_B(θ)
/// fits channel B exactly, so the profile is channel A's Poisson term alone,
/// ```
/// Δ2NLL(θ) = 2 [ν_A − n_A − n_A ln(ν_A/n_A)],   ν_A = n_A x,   x − 1 − ln x = level / (2 n_A)
/// ```
/// and the ends follow from the two roots x < 1 < x of that equation, while the fits profile a
/// parameter that moves strongly with θ.
@Suite struct ProfileIntervalTests {
    /// The roots x₋ < 1 < x₊ of x − 1 − ln x = y (the two branches of Lambert's W), by bisection
    /// to the last bit.
    static func roots(_ y: Double) -> (below: Double, above: Double) {
        func solve(_ lo: Double, _ hi: Double, increasing: Bool) -> Double {
            var (a, b) = (lo, hi)
            for _ in 0..<2000 {
                let m = 0.5 * (a + b)
                if m == a || m == b { break }
                let value = m - 1 - log(m) - y
                if (value > 0) == increasing { b = m } else { a = m }
            }
            return 0.5 * (a + b)
        }
        return (solve(1e-300, 1, increasing: false), solve(1, 1e6, increasing: true))
    }

    /// A counting experiment with ν_A = a·μ (a = 10, n_A = 14, μ in [μ_min, 10]) and channel B
    /// with ν_B = 20·μ·λ (n_B = 30).
    static func counting(muLower: Double = 0) throws -> (model: HistFactoryModel, data: ModelData) {
        try SyntheticModels.load("""
        {"version": "1.0.0",
         "channels": [
          {"name": "A", "samples": [{"name": "s", "data": [10.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]}]},
          {"name": "B", "samples": [{"name": "s", "data": [20.0], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": null}, {"name": "lam", "type": "normfactor", "data": null}]}]}],
         "observations": [{"name": "A", "data": [14.0]}, {"name": "B", "data": [30.0]}],
         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [
           {"name": "mu", "inits": [1.5], "bounds": [[\(muLower), 10.0]]}, {"name": "lam", "bounds": [[0.01, 100.0]]}]}}]}
        """)
    }

    /// A quadratic yield with two mirror minima, ν_A = 10 + 10c² (n_A = 15: ĉ = ±√½), and
    /// ν_B = (10 + 10c²)·λ (n_B = 40). Its profile rises to Δ2NLL(0) = 2(−5 + 15 ln 1.5) ≈ 2.164
    /// between the minima: the 1σ interval lies on one side of 0, the 95 % one spans both minima.
    static func quadratic() throws -> (model: HistFactoryModel, data: ModelData) {
        let morphing = #"{"name": "eft", "type": "morphing", "data": {"coefficients": ["c"], "form": "absolute", "terms": [{"powers": {}, "data": [10.0]}, {"powers": {"c": 2}, "data": [10.0]}]}}"#
        return try SyntheticModels.load("""
        {"version": "1.0.0+efthf.1",
         "channels": [
          {"name": "A", "samples": [{"name": "s", "data": [10.0], "modifiers": [\(morphing)]}]},
          {"name": "B", "samples": [{"name": "s", "data": [10.0], "modifiers": [\(morphing), {"name": "lam", "type": "normfactor", "data": null}]}]}],
         "observations": [{"name": "A", "data": [15.0]}, {"name": "B", "data": [40.0]}],
         "measurements": [{"name": "m", "config": {"poi": "c", "parameters": [
           {"name": "c", "inits": [0.5], "bounds": [[-3.0, 3.0]]}, {"name": "lam", "bounds": [[0.01, 100.0]]}]}}]}
        """)
    }

    @Test("the ends of a profiled counting experiment are the analytic ones to 1e-8")
    func countingEndsAreAnalytic() throws {
        let (model, data) = try Self.counting()
        let best = try model.fit(data, options: FitOptions(computeUncertainties: true))
        #expect(abs(best.values[try model.parameterIndex(named: "mu")] - 1.4) < 1e-7)
        let levels = [DeltaTwiceNLL.oneSigma1D, DeltaTwiceNLL.cl95In1D, 9]
        let intervals = try model.profileIntervals("mu", data: data, levels: levels, bestFit: best)
        for (level, interval) in zip(levels, intervals) {
            let x = Self.roots(level / 28)
            let lower = try #require(interval.lower), upper = try #require(interval.upper)
            #expect(abs(lower - 1.4 * x.below) < 1e-8, "level \(level): lower \(lower), analytic \(1.4 * x.below)")
            #expect(abs(upper - 1.4 * x.above) < 1e-8, "level \(level): upper \(upper), analytic \(1.4 * x.above)")
            #expect(interval.lowerFailure == nil && interval.upperFailure == nil && interval.lowerPoint == nil)
        }
        // One level alone gives the same ends (its search starts from the Hessian, not a lower level).
        let alone = try model.profileInterval("mu", data: data, level: DeltaTwiceNLL.cl95In1D, bestFit: best)
        #expect(abs(alone.lower! - intervals[1].lower!) < 1e-9 && abs(alone.upper! - intervals[1].upper!) < 1e-9)
        // A few conditional fits per end, not the dozens of a bracketing search.
        let evaluations = intervals.map(\.evaluations)
        #expect(evaluations.allSatisfy { $0 > 0 && $0 < 150 }, "\(evaluations)")
    }

    @Test("an end beyond the bound is absent and the other end is kept")
    func anEndBeyondTheBoundIsAbsent() throws {
        // μ ≥ 1.2: the 1σ lower end 1.4·x₋(1/28) ≈ 1.06 lies below the bound.
        let (model, data) = try Self.counting(muLower: 1.2)
        let interval = try model.profileInterval("mu", data: data)
        #expect(interval.lower == nil && interval.lowerFailure == nil)
        let upper = try #require(interval.upper)
        #expect(abs(upper - 1.4 * Self.roots(1.0 / 28).above) < 1e-8)
    }

    @Test("a non-monotonic profile: the 95 % interval crosses the barrier between two minima")
    func aNonMonotonicProfile() throws {
        let (model, data) = try Self.quadratic()
        let best = try model.fit(data, options: FitOptions(computeUncertainties: true))
        let c = best.values[try model.parameterIndex(named: "c")]
        #expect(abs(abs(c) - 0.5.squareRoot()) < 1e-7)
        let sign = c > 0 ? 1.0 : -1.0
        let intervals = try model.profileIntervals("c", data: data, levels: [DeltaTwiceNLL.oneSigma1D, DeltaTwiceNLL.cl95In1D], bestFit: best)
        // c where ν_A = 15x: c² = (15x − 10)/10.
        func coefficient(_ x: Double) -> Double { ((15 * x - 10) / 10).squareRoot() }
        let one = Self.roots(1.0 / 30), cl95 = Self.roots(DeltaTwiceNLL.cl95In1D / 30)
        // 1σ: both ends on the best fit's side of 0 (Δ2NLL(0) ≈ 2.16 > 1).
        let expectedOne = [sign * coefficient(one.below), sign * coefficient(one.above)].sorted()
        let expected95 = [-coefficient(cl95.above), coefficient(cl95.above)]
        for (interval, expected) in zip(intervals, [expectedOne, expected95]) {
            let lower = try #require(interval.lower), upper = try #require(interval.upper)
            #expect(abs(lower - expected[0]) < 1e-8, "level \(interval.level): lower \(lower), analytic \(expected[0])")
            #expect(abs(upper - expected[1]) < 1e-8, "level \(interval.level): upper \(upper), analytic \(expected[1])")
        }
    }

    @Test("the end search on a Gaussian profile takes one evaluation per level and side")
    func gaussianProfileTakesOneStep() throws {
        // ρ(u) = u/σ with σ = 0.3 (a guess 5 % off), slope 1/σ.
        var search = ProfileEndSearch(scale: 0.3, limit: 10)
        var evaluations = 0
        let evaluate = { (u: Double) throws(InferenceError) -> ProfileEndSearch.Point in
            evaluations += 1
            return ProfileEndSearch.Point(u: u, rho: u / 0.3, slope: 1 / 0.3)
        }
        let one = try #require(try search.end(level: 1, guess: 0.315, evaluate: evaluate))
        #expect(abs(one - 0.3) < 1e-15)
        #expect(evaluations == 2)
        let two = try #require(try search.end(level: 4, guess: 0.6, evaluate: evaluate))
        #expect(abs(two - 0.6) < 1e-15)
        #expect(evaluations == 3)
        // Below the level up to the bound: no end.
        var bounded = ProfileEndSearch(scale: 0.3, limit: 0.5)
        #expect(try bounded.end(level: 9, guess: 0.9, evaluate: evaluate) == nil)
    }
}
