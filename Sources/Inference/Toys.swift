import Foundation
import HistFactory

/// A toy-based hypothesis test (pyhf's `ToyCalculator`).
public struct ToyHypotestResult: Sendable, Equatable {
    public let poiValue: Double
    public let testStatistic: TestStatistic
    /// The statistic on the observed data.
    public let q: Double
    /// Fractions of toys with a statistic ≥ q: CLs+b from the signal-plus-background toys, CLb
    /// from the background-only toys.
    public let clsbObserved: Double
    public let clbObserved: Double
    public let clsObserved: Double
    /// CLs at the 2.275, 15.87, 50, 84.13 and 97.72 percentiles over the background-only toys
    /// (numpy's linear percentile, pyhf's `expected_pvalues`).
    public let clsExpected: [Double]
    public let signalTestStatistics: [Double]
    public let backgroundTestStatistics: [Double]
    /// Toys dropped because a fit failed on them.
    public let failedToys: Int
}

extension DifferentiableLikelihood {
    /// Toy-based CLs at POI = `poiValue`, as pyhf's `ToyCalculator`: pseudo-data are drawn from the
    /// model at θ̂̂(μ) (signal plus background) and at θ̂̂(0) (background only; θ̂̂(1) for q0),
    /// both fitted to the observed data; main bins ~ Poisson(ν), auxiliary data ~ Gauss(θ, σ)
    /// for Gaussian constraints and ~ Poisson(γτ) for Poisson ones. The statistic is recomputed on
    /// every toy; p-values are the fractions of toys with a statistic ≥ the observed one.
    ///
    /// Toy k of each sample uses its own generator seeded from (`seed`, k), so the result does not
    /// depend on the number of threads. Toys run on all cores.
    ///
    /// - Parameter progress: called from the worker threads after each toy with the number done and
    ///   2 × `toys` (both hypotheses); calls are serialised.
    /// - Complexity: about 2 × `toys` × 2 fits.
    public func toyHypotest(
        poiValue: Double, data: ModelData, toys: Int, seed: UInt64, testStatistic: TestStatistic = .qMuTilde,
        options: FitOptions = FitOptions(), progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> ToyHypotestResult {
        guard toys > 0 else { throw InferenceError(.invalidOptions, "the number of toys must be positive, got \(toys)") }
        let statistics = try toyTestStatistics(poiValue: poiValue, data: data, toys: 0..<toys, seed: seed, testStatistic: testStatistic,
                                               options: options, progress: progress)
        return try ToyHypotestResult(poiValue: poiValue, testStatistic: testStatistic, statistics: [statistics])
    }

    /// The statistic on the observed data and on toys `toys` of both hypotheses, as
    /// ``toyHypotest(poiValue:data:toys:seed:testStatistic:options:progress:)`` computes them: toy k
    /// is the same pseudo-data whichever range it is computed in, so ranges computed apart (shards
    /// of a plan on a batch system) and joined in order give exactly the single run's statistics.
    ///
    /// - Complexity: 3 fits, then about 2 × `toys.count` × 2 fits.
    public func toyTestStatistics(
        poiValue: Double, data: ModelData, toys: Range<Int>, seed: UInt64, testStatistic: TestStatistic = .qMuTilde,
        options: FitOptions = FitOptions(), progress: (@Sendable (_ done: Int, _ total: Int) -> Void)? = nil
    ) throws(InferenceError) -> ToyTestStatistics {
        guard toys.lowerBound >= 0 else { throw InferenceError(.invalidOptions, "toy indices start at 0, not \(toys.lowerBound)") }
        let (problem, poi) = try poiProblem(data, options)
        let kind = testStatistic
        let mu = kind == .q0 ? 0 : poiValue
        let observed = try TestStatisticFits(problem: problem, poi: poi, kind: kind)
        let q = try observed.value(kind, mu: mu)
        let signalFit = try converged(problem.fixing([poi: mu]).run(from: observed.free.values, warmStart: observed.free.warmStart), "the fit at μ = \(mu)")
        let backgroundPOI = kind == .q0 ? 1.0 : 0.0
        let backgroundFit = try converged(
            problem.fixing([poi: backgroundPOI]).run(from: observed.free.values, warmStart: observed.free.warmStart), "the fit at μ = \(backgroundPOI)")
        let sampler = ToySampler(model: self)
        let model = self
        let counter = ProgressCounter(total: 2 * toys.count, progress)
        func statistics(_ generator: FitResult, stream: UInt64) -> [Double?] {
            parallelMap(toys.count) { offset -> Double? in
                defer { counter.step() }
                let k = toys.lowerBound + offset
                var rng = Xoshiro256StarStar(seed: seed, stream: stream, index: UInt64(k))
                let (main, aux) = sampler.sample(generator.values, using: &rng)
                guard let toyData = try? model.data(main: main, auxiliary: aux) else { return nil }
                let toyProblem = problem.with(data: toyData)
                // The free fit's curvature from the observed fit, its start at the generating point.
                let observedWarm = observed.free.warmStart.map {
                    WarmStart(indices: $0.indices, inverseHessian: $0.inverseHessian, values: generator.values)
                }
                guard let fits = try? TestStatisticFits(problem: toyProblem, poi: poi, kind: kind, start: generator.values, warmStart: observedWarm),
                    let value = try? fits.value(kind, mu: mu)
                else { return nil }
                return value
            }
        }
        return ToyTestStatistics(toys: toys, q: q, signal: statistics(signalFit, stream: 1), background: statistics(backgroundFit, stream: 2))
    }
}

/// The test statistic on the observed data and on a range of toys of each hypothesis (nil where a
/// fit failed on the toy).
public struct ToyTestStatistics: Sendable, Equatable {
    /// The toy indices.
    public let toys: Range<Int>
    /// The statistic on the observed data.
    public let q: Double
    /// Per toy of the range, from signal-plus-background pseudo-data.
    public let signal: [Double?]
    /// Per toy of the range, from background-only pseudo-data.
    public let background: [Double?]

    public init(toys: Range<Int>, q: Double, signal: [Double?], background: [Double?]) {
        self.toys = toys
        self.q = q
        self.signal = signal
        self.background = background
    }
}

extension ToyHypotestResult {
    /// The p-values and CLs from the toys' statistics: `statistics` are consecutive ranges of toys
    /// from 0, in order, that agree on the observed statistic (one range for a single run; a
    /// plan's shards otherwise).
    public init(poiValue: Double, testStatistic: TestStatistic, statistics: [ToyTestStatistics]) throws(InferenceError) {
        guard let first = statistics.first else { throw InferenceError(.invalidOptions, "no toys") }
        var next = 0
        for part in statistics {
            guard part.toys.lowerBound == next, part.signal.count == part.toys.count, part.background.count == part.toys.count else {
                throw InferenceError(.invalidOptions, "the toys must be consecutive ranges from 0: toy \(next) is followed by the range \(part.toys)")
            }
            guard part.q.bitPattern == first.q.bitPattern else {
                throw InferenceError(.invalidOptions, "the ranges of toys disagree on the observed statistic (\(first.q) and \(part.q)): they were computed on different inputs")
            }
            next = part.toys.upperBound
        }
        let q = first.q
        let s = statistics.flatMap { $0.signal.compactMap { $0 } }, b = statistics.flatMap { $0.background.compactMap { $0 } }
        guard !s.isEmpty, !b.isEmpty else { throw InferenceError(.failedMinimization, "every toy fit failed") }
        func pValue(_ samples: [Double], _ value: Double) -> Double {
            Double(samples.filter { $0 >= value }.count) / Double(samples.count)
        }
        let clsb = pValue(s, q), clb = pValue(b, q)
        // CLs at each background-only toy's statistic, then its percentiles.
        let clsOverToys = b.map { t in let c = pValue(b, t); return c > 0 ? pValue(s, t) / c : 0 }.sorted()
        let percentiles = [2.27501319, 15.86552539, 50.0, 84.13447461, 97.72498681]
        let expected = percentiles.map { linearPercentile(ofSorted: clsOverToys, $0) }
        self.init(
            poiValue: poiValue, testStatistic: testStatistic, q: q, clsbObserved: clsb, clbObserved: clb,
            clsObserved: clb > 0 ? clsb / clb : .nan, clsExpected: expected, signalTestStatistics: s,
            backgroundTestStatistics: b, failedToys: 2 * next - s.count - b.count)
    }
}

/// numpy's `percentile(values, percent)` (its default, linear interpolation between the two
/// nearest ranks) of `values` sorted ascending and not empty.
public func linearPercentile(ofSorted values: [Double], _ percent: Double) -> Double {
    let position = percent / 100 * Double(values.count - 1)
    let i = Int(position.rounded(.down)), j = min(i + 1, values.count - 1)
    return values[i] + (position - Double(i)) * (values[j] - values[i])
}

/// Draws pseudo-data from the model at given parameters.
struct ToySampler: Sendable {
    let model: any DifferentiableLikelihood
    /// Per auxiliary datum: σ for a Gaussian constraint, nil for a Poisson one.
    let auxiliarySigmas: [Double?]

    init(model: any DifferentiableLikelihood) {
        self.model = model
        auxiliarySigmas = model.auxiliaryWidths
    }

    func sample(_ parameters: [Double], using rng: inout Xoshiro256StarStar) -> (main: [Double], auxiliary: [Double]) {
        let main = model.expectedMainData(parameters).map { Double(rng.poisson(max($0, 0))) }
        let expectedAux = model.expectedAuxiliaryData(parameters)
        let aux = expectedAux.indices.map { i -> Double in
            if i < auxiliarySigmas.count, let sigma = auxiliarySigmas[i] {
                return expectedAux[i] + sigma * rng.normal()
            }
            return Double(rng.poisson(max(expectedAux[i], 0)))
        }
        return (main, aux)
    }
}

/// xoshiro256** (Blackman & Vigna 2018), seeded through SplitMix64 from (seed, stream, index) so
/// that every toy has an independent, reproducible stream.
struct Xoshiro256StarStar: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64, stream: UInt64, index: UInt64) {
        var x = seed ^ (stream &* 0x9E37_79B9_7F4A_7C15) ^ (index &* 0xD1B5_4A32_D192_ED03)
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in (0, 1): 53 random bits, never 0.
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) * 0x1p-53 }

    /// Standard normal by Box–Muller (one of the pair, for a fixed number of draws per call).
    mutating func normal() -> Double {
        let u = uniform(), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Poisson(λ): inversion by sequential search for λ < 10, Hörmann's PTRS (transformed
    /// rejection with squeeze, 1993) above.
    mutating func poisson(_ lambda: Double) -> Int {
        if lambda <= 0 { return 0 }
        if lambda < 10 {
            var k = 0
            var p = exp(-lambda)
            var cumulative = p
            let u = uniform()
            while u > cumulative && k < 1000 {
                k += 1
                p *= lambda / Double(k)
                cumulative += p
            }
            return k
        }
        let slam = lambda.squareRoot(), logLambda = log(lambda)
        let b = 0.931 + 2.53 * slam
        let a = -0.059 + 0.02483 * b
        let invAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = uniform() - 0.5, v = uniform()
            let us = 0.5 - abs(u)
            let k = ((2 * a / us + b) * u + lambda + 0.43).rounded(.down)
            if us >= 0.07 && v <= vr { return Int(k) }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(invAlpha) - log(a / (us * us) + b) <= -lambda + k * logLambda - lgamma(k + 1) {
                return Int(k)
            }
        }
    }
}
