import Foundation
import HistFactory

/// An asymptotic hypothesis test at one POI value (pyhf's `hypotest`, calctype "asymptotics").
public struct HypotestResult: Sendable, Equatable {
    public let poiValue: Double
    public let testStatistic: TestStatistic
    /// The observed statistic q and its Asimov value q_A.
    public let q: Double
    public let qAsimov: Double
    /// μ̂ of the unconditional fit to the data.
    public let muHat: Double
    public let clsObserved: Double
    public let clsbObserved: Double
    public let clbObserved: Double
    /// Expected CLs for the background-only hypothesis at −2σ … +2σ of the test statistic, in
    /// pyhf's order n = 2, 1, 0, −1, −2 (ascending CLs; index 2 is the median).
    public let clsExpected: [Double]
}

/// Observed and expected upper limits on the POI at CLs = `level`.
public struct UpperLimitResult: Sendable, Equatable {
    public let level: Double
    public let observed: Double
    /// In pyhf's order: the limits of the expected-CLs curves n = 2, 1, 0, −1, −2 (ascending;
    /// index 2 is the median expected limit).
    public let expected: [Double]
    /// Conditional fits made for the limit (the setup fits included).
    public let fits: Int
}

/// The discovery test of q0 (arXiv:1007.1727 Eq. 12; asymptotically p0 = Φ(−√q0), Eq. 53).
public struct DiscoveryResult: Sendable, Equatable {
    public let q0: Double
    public let p0: Double
    /// Z = Φ⁻¹(1 − p0) = √q0.
    public let significance: Double
    /// The expected p0 at n = 2, 1, 0, −1, −2 (pyhf's order), from Asimov data at POI = 1.
    public let p0Expected: [Double]
    /// The median expected significance √q0,A.
    public let expectedSignificance: Double
}

/// The fits behind pyhf's `AsymptoticCalculator`: the unconditional fits to the data and to
/// the Asimov data, and the conditional fits at each tested μ.
///
/// The statistic is mapped to pyhf's "−μ̂/σ" variable x (arXiv:1007.1727 Eqs. 52–66):
/// ```
/// q, q0:  x = √q − √q_A
/// q̃μ:     x = √q − √q_A          if √q ≤ √q_A
///         x = (q − q_A)/(2√q_A)   otherwise                        (Eq. 65)
/// CLs+b = Φ(−(x + √q_A)),  CLb = Φ(−x),  CLs = CLs+b / CLb
/// expected (n = 2, 1, 0, −1, −2): CLs = Φ(−(n + √q_A)) / Φ(−n)
/// ```
/// The √q_A = 0 case takes the first branch, as pyhf HEAD does (#2725).
struct AsymptoticCalculator: Sendable {
    let kind: TestStatistic
    let data: TestStatisticFits
    let asimov: TestStatisticFits

    init(model: any DifferentiableLikelihood, data observed: ModelData, options: FitOptions, kind: TestStatistic) throws(InferenceError) {
        guard kind == .q0 || kind == .qMu || kind == .qMuTilde else {
            throw InferenceError(.invalidOptions, "asymptotic CLs is defined for q0, qMu and qMuTilde, not \(kind)")
        }
        self.kind = kind
        let (problem, poi) = try model.poiProblem(observed, options)
        data = try TestStatisticFits(problem: problem, poi: poi, kind: kind)
        let asimovFit = try converged(
            problem.fixing([poi: kind.asimovPOI], searching: true).runSearch(from: data.free.values, warmStart: data.free.warmStart), "the Asimov fit")
        let asimovData = try model.asimovData(at: asimovFit.values)
        // Start the Asimov fit at θ̂̂, with the data fit's curvature.
        let warm = data.free.warmStart.map { WarmStart(indices: $0.indices, inverseHessian: $0.inverseHessian, values: asimovFit.values) }
        asimov = try TestStatisticFits(problem: problem.with(data: asimovData), poi: poi, kind: kind, start: asimovFit.values, warmStart: warm)
    }

    /// q and q_A at μ (the two conditional fits run in parallel).
    func statistics(_ mu: Double) throws(InferenceError) -> (q: Double, qA: Double) {
        let kind = kind, data = data, asimov = asimov
        let values = parallelMap(2) { k -> Result<Double, InferenceError> in
            Result { () throws(InferenceError) -> Double in try (k == 0 ? data : asimov).value(kind, mu: mu) }
        }
        return (try values[0].get(), try values[1].get())
    }

    func qAsimov(_ mu: Double) throws(InferenceError) -> Double { try asimov.value(kind, mu: mu) }

    /// x of pyhf's `teststatistic`.
    static func transformed(_ kind: TestStatistic, q: Double, qA: Double) -> Double {
        let sq = q.squareRoot(), sqA = qA.squareRoot()
        if kind == .qMuTilde && sq > sqA { return (q - qA) / (2 * sqA) }
        return sq - sqA
    }

    static let bands: [Double] = [2, 1, 0, -1, -2]

    func hypotest(_ mu: Double) throws(InferenceError) -> HypotestResult {
        let (q, qA) = try statistics(mu)
        return Self.result(kind: kind, mu: mu, q: q, qA: qA, muHat: data.muHat)
    }

    static func result(kind: TestStatistic, mu: Double, q: Double, qA: Double, muHat: Double) -> HypotestResult {
        let x = transformed(kind, q: q, qA: qA)
        let sqA = qA.squareRoot()
        let clsb = normalCDF(-(x + sqA)), clb = normalCDF(-x)
        let expected = bands.map { n in normalCDF(-(n + sqA)) / normalCDF(-n) }
        return HypotestResult(
            poiValue: mu, testStatistic: kind, q: q, qAsimov: qA, muHat: muHat,
            clsObserved: clsb / clb, clsbObserved: clsb, clbObserved: clb, clsExpected: expected)
    }
}

extension DifferentiableLikelihood {
    /// The asymptotic CLs test of POI = `poiValue` (pyhf's `hypotest(..., calctype="asymptotics",
    /// return_expected_set=True)`): five fits (free and conditional on the data, the Asimov fit,
    /// free and conditional on the Asimov data), plus μ = 0 fits for q̃μ when μ̂ < 0.
    ///
    /// Worked example (pyhf's simple model, μ = 1, q̃μ, tight fits): CLs = 0.05251552, expected
    /// [0.0026064, 0.01382064, 0.06445515, 0.2352609, 0.57304165].
    ///
    /// - Parameter testStatistic: `.qMuTilde` (pyhf's default "qtilde") or `.qMu`.
    public func hypotest(
        poiValue: Double, data: ModelData, testStatistic: TestStatistic = .qMuTilde, options: FitOptions = FitOptions()
    ) throws(InferenceError) -> HypotestResult {
        guard testStatistic != .q0 else {
            throw InferenceError(.invalidOptions, "use discoverySignificance(data:) for q0")
        }
        let calculator = try AsymptoticCalculator(model: self, data: data, options: options, kind: testStatistic)
        return try calculator.hypotest(poiValue)
    }

    /// The discovery significance from q0 (arXiv:1007.1727 Eq. 12), asymptotically, with the
    /// expected p0 band from Asimov data at POI = 1 (pyhf's `hypotest(0, test_stat="q0")`).
    public func discoverySignificance(data: ModelData, options: FitOptions = FitOptions()) throws(InferenceError) -> DiscoveryResult {
        let calculator = try AsymptoticCalculator(model: self, data: data, options: options, kind: .q0)
        let (q0, q0A) = try calculator.statistics(0)
        let result = AsymptoticCalculator.result(kind: .q0, mu: 0, q: q0, qA: q0A, muHat: calculator.data.muHat)
        let expected = AsymptoticCalculator.bands.map { n in normalCDF(-(n + q0A.squareRoot())) }
        let p0 = result.clsbObserved
        return DiscoveryResult(
            q0: q0, p0: p0, significance: p0 < 1 ? -normalQuantile(p0) : -.infinity,
            p0Expected: expected, expectedSignificance: q0A.squareRoot())
    }

    /// Upper limits on the POI at CLs = `level` (asymptotic; q̃μ by default), observed and for the
    /// five expected-CLs curves.
    ///
    /// The expected limits need only the Asimov fits: CLs_exp(n) = Φ(−(n + √q_A))/Φ(−n) = α is
    /// solved for √q_A, `s_n = −n − Φ⁻¹(α Φ(−n))`, and then √q_A(μ) = s_n by Brent's method
    /// (√q_A grows about linearly in μ, so the bracket from the first evaluation is tight). The
    /// observed limit is Brent's method on CLs_obs(μ) − α. The six root finds run in parallel;
    /// the tolerance on μ is 10⁻⁶ relative (pyhf's toms748 uses 10⁻⁴).
    ///
    /// - Throws: ``InferenceError`` `.noRoot` when CLs stays above `level` up to the POI's upper bound.
    public func upperLimit(
        data: ModelData, level: Double = 0.05, testStatistic: TestStatistic = .qMuTilde, options: FitOptions = FitOptions()
    ) throws(InferenceError) -> UpperLimitResult {
        guard level > 0 && level < 1 else { throw InferenceError(.invalidOptions, "the CLs level must be in (0, 1), got \(level)") }
        guard testStatistic == .qMuTilde || testStatistic == .qMu else {
            throw InferenceError(.invalidOptions, "upper limits use qMuTilde or qMu, not \(testStatistic)")
        }
        let calculator = try AsymptoticCalculator(model: self, data: data, options: options, kind: testStatistic)
        let poi = calculator.data.poi
        let bounds = calculator.data.problem.lower[poi]...calculator.data.problem.upper[poi]
        let searchRange = max(bounds.lowerBound, 0, calculator.asimov.muHat)...bounds.upperBound
        // σ_A from q_A at a reference point: q_A ≈ (μ/σ_A)².
        let reference = min(max(1, searchRange.lowerBound + 1e-3), bounds.upperBound)
        let qRef = try calculator.qAsimov(reference)
        let sigmaA = qRef > 0 ? (reference - searchRange.lowerBound) / qRef.squareRoot() : 1
        let targets = AsymptoticCalculator.bands.map { n in -n - normalQuantile(level * normalCDF(-n)) }
        let fitCount = Counter()
        let kind = testStatistic
        let roots = parallelMap(6) { task -> Result<Double, InferenceError> in
            Result { () throws(InferenceError) -> Double in
                let guess = searchRange.lowerBound + (task < 5 ? targets[task] : targets[2]) * sigmaA
                let f: (Double) throws -> Double
                if task < 5 {
                    f = { mu in
                        fitCount.add(1)
                        return try calculator.qAsimov(mu).squareRoot() - targets[task]
                    }
                } else {
                    f = { mu in
                        fitCount.add(2)
                        let (q, qA) = try calculator.statistics(mu)
                        return AsymptoticCalculator.result(kind: kind, mu: mu, q: q, qA: qA, muHat: calculator.data.muHat).clsObserved - level
                    }
                }
                let root: Double?
                do {
                    root = try bracketAndSolve(
                        f, increasing: task < 5, guess: guess, step: 0.1 * max(guess - searchRange.lowerBound, sigmaA),
                        limits: searchRange, xTolerance: 1e-6 * max(abs(guess), sigmaA))
                } catch let error as InferenceError {
                    throw error
                } catch {
                    throw InferenceError(.failedMinimization, "\(error)")
                }
                guard let root else {
                    throw InferenceError(.noRoot, "CLs stays above \(level) for the POI in \(searchRange)\(task < 5 ? " (expected band \(AsymptoticCalculator.bands[task]))" : " (observed)")")
                }
                return root
            }
        }
        let values = try roots.map { r throws(InferenceError) in try r.get() }
        return UpperLimitResult(level: level, observed: values[5], expected: Array(values[0..<5]), fits: fitCount.value + 5)
    }
}

/// A thread-safe tally.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    // Sound: every access goes through the lock.
    func add(_ k: Int) { lock.lock(); count += k; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// An upper limit read off hypotests on a grid of POI values, with the hypotests.
public struct GridUpperLimitResult: Sendable, Equatable {
    public let limit: UpperLimitResult
    /// The hypotest at each POI value of the grid, in its order.
    public let hypotests: [HypotestResult]
}

extension DifferentiableLikelihood {
    /// The upper limits at CLs = `level` by linear interpolation between hypotests at the POI
    /// values `scan` (pyhf 0.7's `upper_limits.linear_grid_scan`: for the observed and each of the
    /// five expected curves, `numpy.interp(level, CLs[::-1], scan[::-1])`, so the value at the end
    /// of the grid when CLs does not cross `level` inside it). The hypotests run in parallel.
    public func upperLimit(
        data: ModelData, scan: [Double], level: Double = 0.05, testStatistic: TestStatistic = .qMuTilde, options: FitOptions = FitOptions()
    ) throws(InferenceError) -> GridUpperLimitResult {
        guard level > 0 && level < 1 else { throw InferenceError(.invalidOptions, "the CLs level must be in (0, 1), got \(level)") }
        guard !scan.isEmpty else { throw InferenceError(.invalidOptions, "the scan has no POI values") }
        if let k = scan.firstIndex(where: { !$0.isFinite }) { throw InferenceError(.invalidOptions, "scan[\(k)] = \(scan[k]) is not finite") }
        let calculator = try AsymptoticCalculator(model: self, data: data, options: options, kind: testStatistic)
        let hypotests = try parallelMap(scan.count) { k in
            Result { () throws(InferenceError) in try calculator.hypotest(scan[k]) }
        }.map { r throws(InferenceError) in try r.get() }
        let curves = [hypotests.map(\.clsObserved)] + (0..<5).map { n in hypotests.map { $0.clsExpected[n] } }
        let limits = curves.map { cls in linearInterpolation(level, xs: Array(cls.reversed()), ys: Array(scan.reversed())) }
        return GridUpperLimitResult(
            limit: UpperLimitResult(level: level, observed: limits[0], expected: Array(limits[1...]), fits: 4 * scan.count),
            hypotests: hypotests)
    }
}

/// `numpy.interp(x, xs, ys)` for increasing `xs`: ys[0] at or below xs[0], the last ys at or
/// above the last xs, linear between the two neighbours of x (found by bisection) otherwise.
func linearInterpolation(_ x: Double, xs: [Double], ys: [Double]) -> Double {
    guard let first = xs.first, let last = xs.last else { return .nan }
    if x <= first { return ys[0] }
    if x >= last { return ys[ys.count - 1] }
    var lo = 0, hi = xs.count - 1
    while hi - lo > 1 {
        let mid = (lo + hi) / 2
        if xs[mid] <= x { lo = mid } else { hi = mid }
    }
    return (ys[hi] - ys[lo]) / (xs[hi] - xs[lo]) * (x - xs[lo]) + ys[lo]
}
