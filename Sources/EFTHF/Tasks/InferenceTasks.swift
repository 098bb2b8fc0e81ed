import EFTJSON
import EFTModifiers
import HistFactory
import Inference
import Morphing

/// Reports from progress callbacks: (done, total), called from worker threads, serialised.
public typealias ProgressHandler = @Sendable (_ done: Int, _ total: Int) -> Void

/// A maximum-likelihood fit, optionally of chosen Wilson coefficients with the others at the
/// Standard Model (`efthf fit [--ops …] [--fix …]`, the service's fit job).
public struct FitTask: Sendable, Codable, Equatable {
    /// The Wilson coefficients to float (the others are fixed at 0), with their profile-likelihood
    /// intervals; nil fits every free parameter from the inits.
    public var ops: [String]?
    /// Parameters held at values.
    public var fix: ParameterValues
    public var uncertainties: Bool
    /// Start values, bounds and fixed flags for every parameter (pyhf's `mle.fit` arguments):
    /// they replace what `ops` sets, and `fix` applies on top.
    public var overrides: ParameterOverrides
    /// How the global minimum is looked for, over `ops` (else the POI): ``MultiStart``.
    public var multistart: MultiStart.Strategy
    /// The search's budget (``MultiStart/maxStarts``, 0 … ``MultiStart/maximumStarts``); nil: the
    /// strategy's default.
    public var maxStarts: Int?
    /// Modifiers removed before the fit, with their parameters (pyhf's `Workspace.prune`):
    /// ``LoadedModel/excluding(modifiers:)``.
    public var exclude: [String]

    /// Restarts from a profile-interval fit that went below the best fit (each redoes the intervals).
    static let intervalRestarts = 2

    public init(ops: [String]? = nil, fix: ParameterValues = ParameterValues(), uncertainties: Bool = true,
                overrides: ParameterOverrides = ParameterOverrides(), multistart: MultiStart.Strategy = .auto, maxStarts: Int? = nil,
                exclude: [String] = []) {
        self.ops = ops
        self.fix = fix
        self.uncertainties = uncertainties
        self.overrides = overrides
        self.multistart = multistart
        self.maxStarts = maxStarts
        self.exclude = exclude
    }

    /// The model the task fits: `loaded` without the modifiers of ``exclude``.
    public func model(for loaded: LoadedModel) throws(HistFactoryError) -> LoadedModel {
        try loaded.excluding(modifiers: exclude)
    }

    /// The fit options the task uses on `model`.
    public func options(for model: HistFactoryModel) throws(HistFactoryError) -> FitOptions {
        try MultiStart.checkBudget(maxStarts)
        var options = FitOptions(computeUncertainties: uncertainties, multiStart: MultiStart(strategy: multistart, maxStarts: maxStarts))
        if let ops {
            options = try FitOptions.floating(operators: ops, of: model, computeUncertainties: uncertainties, strategy: multistart, maxStarts: maxStarts)
        }
        try overrides.apply(to: &options, model: model)
        try fix.fix(in: &options, model: model)
        return options
    }

    /// The fit, then with `ops` the profile-likelihood intervals. A conditional fit of an interval
    /// that ends below the best fit's 2NLL is a start that leads lower: the fit is redone from it
    /// (at most twice) and the intervals with it. Failed interval ends are reported, the rest kept.
    /// The fit; `progress` is called with (stages done, stages) after the fit and after the
    /// profile-likelihood intervals (a restart adds two stages). `cancellation` stops it
    /// (``InferenceError/Code/cancelled``).
    public func run(on given: LoadedModel, progress: ProgressHandler? = nil, cancellation: Cancellation? = nil) throws -> FitReport {
        try run(onExcluded: try model(for: given), progress: progress, cancellation: cancellation)
    }

    /// ``run(on:progress:cancellation:)`` on `loaded`, a model that ``model(for:)`` already made
    /// (for a caller that also draws it: the pruning and model build are not repeated).
    public func run(onExcluded loaded: LoadedModel, progress: ProgressHandler? = nil, cancellation: Cancellation? = nil) throws -> FitReport {
        try loaded.checkingEvaluations {
            var options = try options(for: loaded.model)
            options.cancellation = cancellation
            var stages = ops == nil ? 1 : 2
            var result = try loaded.model.fit(loaded.data, options: options)
            progress?(1, stages)
            var evaluations = FitReport.Evaluations(result.evaluations)
            var intervals: [CoefficientInterval] = []
            var intervalError: String? = nil
            var restarts = 0
            while let ops, result.status.isConverged {
                // The fit stands even when an interval's conditional fits fail: the report says why.
                do {
                    intervals = try loaded.model.profileIntervals(ops, data: loaded.data, options: options, bestFit: result)
                    intervalError = nil
                } catch {
                    intervals = []
                    intervalError = (error as? InferenceError)?.message ?? "\(error)"
                }
                evaluations.profileIntervals += intervals.reduce(0) { $0 + $1.evaluations }
                progress?(stages, stages)
                guard restarts < Self.intervalRestarts, let point = intervals.lazy.compactMap(\.lowerPoint).first else { break }
                restarts += 1
                stages += 2
                options.initialValues = point
                let again = try loaded.model.fit(loaded.data, options: options)
                progress?(stages - 1, stages)
                evaluations.add(again.evaluations)
                guard again.status.isConverged, again.twiceNLL < result.twiceNLL else { break }
                result = again
            }
            try cancellation?.check()
            var report = FitReport(result, intervals: intervals, evaluations: evaluations)
            report.profileIntervalsError = intervalError
            report.goodnessOfFit = GoodnessOfFit(fit: result, loaded: loaded)
            return report
        }
    }
}

/// A fit's result as `efthf fit --json` writes it: status, 2NLL, EDM, calls, per parameter its
/// value, fixed flag and Hessian uncertainty, the correlation matrix, and for fitted Wilson
/// coefficients their ±1σ and 95 % CL profile-likelihood intervals; the minima found, whether
/// the global one is assured, and the likelihood evaluations of each stage.
public struct FitReport: Sendable, Codable {
    public struct Parameter: Sendable, Codable, Equatable {
        public let value: Double
        public let fixed: Bool
        /// σ̂ from the inverse Hessian, for free parameters when computed.
        public let uncertainty: Double?
        /// σ̂ as Minuit's HESSE reports it, through its sine transformation of bounded parameters
        /// (pyhf's `minuit_optimizer` uncertainties); differs from `uncertainty` near a bound.
        public var minuitUncertainty: Double? = nil

        enum CodingKeys: String, CodingKey {
            case value, fixed, uncertainty, minuitUncertainty = "minuit_uncertainty"
        }
    }

    /// A parameter's profile-likelihood intervals; a nil end lies beyond the parameter's bound, or
    /// its conditional fits failed (`failures` says which and why).
    public struct Interval: Sendable, Codable, Equatable {
        public let bestFit: Double
        public let oneSigma: [Double?]
        public let cl95: [Double?]
        public var failures: [String]? = nil

        enum CodingKeys: String, CodingKey {
            case bestFit = "best_fit", oneSigma = "one_sigma", cl95, failures
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(bestFit, forKey: .bestFit)
            // Both ends always, null for an open one.
            var one = c.nestedUnkeyedContainer(forKey: .oneSigma)
            for end in oneSigma { if let end { try one.encode(end) } else { try one.encodeNil() } }
            var cl = c.nestedUnkeyedContainer(forKey: .cl95)
            for end in cl95 { if let end { try cl.encode(end) } else { try cl.encodeNil() } }
            try c.encodeIfPresent(failures, forKey: .failures)
        }
    }

    /// Likelihood evaluations by stage (each is log L with its gradient, or the expected data).
    public struct Evaluations: Sendable, Codable, Equatable {
        /// The first local fit, retries included.
        public var localFit = 0
        /// The global-minimum search (structure probes and extra fits), refits from profile points included.
        public var multistart = 0
        /// The Hessian at the minimum.
        public var uncertainties = 0
        /// The conditional fits of the profile-likelihood intervals.
        public var profileIntervals = 0

        public var total: Int { localFit + multistart + uncertainties + profileIntervals }

        enum CodingKeys: String, CodingKey {
            case localFit = "local_fit", multistart, uncertainties, profileIntervals = "profile_intervals", total
        }

        public init(_ e: FitEvaluations = FitEvaluations()) {
            localFit = e.localFit
            multistart = e.multiStart
            uncertainties = e.uncertainties
        }

        /// A refit's evaluations, all counted as search.
        mutating func add(_ e: FitEvaluations) { multistart += e.total }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            localFit = try c.decode(Int.self, forKey: .localFit)
            multistart = try c.decode(Int.self, forKey: .multistart)
            uncertainties = try c.decode(Int.self, forKey: .uncertainties)
            profileIntervals = try c.decode(Int.self, forKey: .profileIntervals)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(localFit, forKey: .localFit)
            try c.encode(multistart, forKey: .multistart)
            try c.encode(uncertainties, forKey: .uncertainties)
            try c.encode(profileIntervals, forKey: .profileIntervals)
            try c.encode(total, forKey: .total)
        }
    }

    /// One distinct minimum: 2NLL and the searched parameters' values.
    public struct Minimum: Sendable, Codable, Equatable {
        public let twiceNLL: Double
        public let values: NamedValues<Double>

        enum CodingKeys: String, CodingKey { case twiceNLL = "twice_nll", values }
    }

    /// How the global minimum was looked for.
    public struct Search: Sendable, Codable, Equatable {
        public let strategy: String
        /// Local fits made, the first one included.
        public let fits: Int
        /// Starts left unfitted because the budget ran out.
        public let untried: Int
        /// Structural starts left out because a minimum there cannot be lower.
        public let excluded: Int
        public let globalMinimumAssured: Bool

        enum CodingKeys: String, CodingKey {
            case strategy, fits, untried, excluded, globalMinimumAssured = "global_minimum_assured"
        }
    }

    public let status: String
    public let converged: Bool
    public let twiceNLL: Double
    public let edm: Double
    /// Evaluations of the fit (local fit, search, uncertainties); `evaluations.total` adds the intervals.
    public let functionCalls: Int
    public let parameters: NamedValues<Parameter>
    public let correlations: [[Double]]?
    /// Other minima found within tolerance of the best 2NLL.
    public let degenerateMinima: Int
    public let profileIntervals: NamedValues<Interval>?
    /// Why the profile-likelihood intervals could not be computed, when they could not.
    public var profileIntervalsError: String? = nil
    /// Every distinct minimum found, lowest first (the searched parameters' values).
    public var minima: [Minimum] = []
    /// The search for the global minimum; nil for a single local fit.
    public var search: Search? = nil
    public var evaluations = Evaluations()
    /// The saturated-model goodness of fit of the best fit.
    public var goodnessOfFit: GoodnessOfFit? = nil
    /// The fit itself (not encoded; nil in a decoded report).
    public var fit: FitResult? = nil

    enum CodingKeys: String, CodingKey {
        case status, converged, twiceNLL = "twice_nll", edm, functionCalls = "function_calls", parameters, correlations
        case degenerateMinima = "degenerate_minima", profileIntervals = "profile_intervals", profileIntervalsError = "profile_intervals_error"
        case minima, search = "multistart", evaluations, goodnessOfFit = "goodness_of_fit"
    }

    public init(_ r: FitResult, intervals: [CoefficientInterval] = [], evaluations: Evaluations? = nil) {
        status = r.status.description
        converged = r.status.isConverged
        twiceNLL = r.twiceNLL
        edm = r.edm
        functionCalls = r.functionCalls
        parameters = NamedValues(names: r.parameterNames, values: r.parameterNames.indices.map { i in
            Parameter(value: r.values[i], fixed: r.fixed[i], uncertainty: r.fixed[i] ? nil : r.uncertainties?[i],
                      minuitUncertainty: r.fixed[i] ? nil : r.minuitUncertainties?[i])
        })
        correlations = r.correlations
        degenerateMinima = r.degenerateMinima.count
        profileIntervals = intervals.isEmpty ? nil : NamedValues(names: intervals.map(\.oneSigma.parameter), values: intervals.map {
            Interval(bestFit: $0.oneSigma.bestFit, oneSigma: [$0.oneSigma.lower, $0.oneSigma.upper], cl95: [$0.cl95.lower, $0.cl95.upper],
                     failures: $0.failures.isEmpty ? nil : $0.failures)
        })
        if let s = r.search {
            search = Search(strategy: s.strategy.rawValue, fits: s.fits, untried: s.untried, excluded: s.excluded, globalMinimumAssured: s.globalMinimumAssured)
            let indices = s.parameters.compactMap { r.parameterNames.firstIndex(of: $0) }
            minima = r.localMinima.map { m in
                Minimum(twiceNLL: m.twiceNLL, values: NamedValues(names: indices.map { r.parameterNames[$0] }, values: indices.map { m.values[$0] }))
            }
        }
        self.evaluations = evaluations ?? Evaluations(r.evaluations)
        fit = r
    }
}

/// The asymptotic CLs test of one POI value (Cowan et al., arXiv:1007.1727; pyhf's `hypotest`).
public struct HypotestTask: Sendable, Codable, Equatable {
    public var poiValue: Double
    /// `qtilde` or `q`.
    public var testStatistic: String
    /// Start values, bounds and fixed flags of the fits (pyhf's `init_pars`, `par_bounds`, `fixed_params`).
    public var overrides: ParameterOverrides
    /// How the unconditional fits look for the global minimum over the POI (``MultiStart``).
    public var multistart: MultiStart.Strategy
    /// The search's budget; nil: the strategy's default.
    public var maxStarts: Int?

    public init(poiValue: Double = 1, testStatistic: String = "qtilde", overrides: ParameterOverrides = ParameterOverrides(),
                multistart: MultiStart.Strategy = .auto, maxStarts: Int? = nil) {
        self.poiValue = poiValue
        self.testStatistic = testStatistic
        self.overrides = overrides
        self.multistart = multistart
        self.maxStarts = maxStarts
    }

    static func statistic(_ name: String) throws(InferenceError) -> TestStatistic {
        guard let s: TestStatistic = ["qtilde": .qMuTilde, "q": .qMu][name] else {
            throw InferenceError(.invalidOptions, "the test statistic must be qtilde or q, not \(name)")
        }
        return s
    }

    public func run(on loaded: LoadedModel) throws -> HypotestReport {
        try loaded.checkingEvaluations {
            guard poiValue.isFinite else { throw InferenceError(.invalidOptions, "the POI value must be finite") }
            let options = try MultiStart.options(multistart, maxStarts: maxStarts, overrides: overrides, model: loaded.model)
            let r = try loaded.model.hypotest(poiValue: poiValue, data: loaded.data, testStatistic: try Self.statistic(testStatistic), options: options)
            return HypotestReport(r, poi: loaded.model.poiName ?? "", testStatistic: testStatistic)
        }
    }
}

public struct HypotestReport: Sendable, Codable, Equatable {
    public let poi: String
    public let poiValue: Double
    public let testStatistic: String
    public let q: Double
    public let qAsimov: Double
    public let muHat: Double
    public let clsObserved: Double
    public let clsbObserved: Double
    public let clbObserved: Double
    /// CLs at the −2σ … +2σ quantiles of the background-only distribution.
    public let clsExpected: [Double]

    enum CodingKeys: String, CodingKey {
        case poi, poiValue = "poi_value", testStatistic = "test_statistic", q, qAsimov = "q_asimov", muHat = "mu_hat"
        case clsObserved = "cls_obs", clsbObserved = "clsb_obs", clbObserved = "clb_obs", clsExpected = "cls_exp"
    }

    init(_ r: HypotestResult, poi: String, testStatistic: String) {
        self.poi = poi
        poiValue = r.poiValue
        self.testStatistic = testStatistic
        q = r.q
        qAsimov = r.qAsimov
        muHat = r.muHat
        clsObserved = r.clsObserved
        clsbObserved = r.clsbObserved
        clbObserved = r.clbObserved
        clsExpected = r.clsExpected
    }
}

/// The asymptotic CLs upper limit on the POI, observed and expected band: by root finding on
/// CLs(μ) (pyhf's `upper_limit` with `scan=None`), or, given a `scan`, by linear interpolation of
/// CLs between the hypotests at the scan's POI values (pyhf's `linear_grid_scan`:
/// `numpy.interp(level, CLs[::-1], scan[::-1])` for the observed and each expected curve).
public struct LimitTask: Sendable, Codable, Equatable {
    /// The CLs level (0.05 for 95 % CL).
    public var level: Double
    /// POI values to test and interpolate between, increasing; nil finds the roots.
    public var scan: [Double]?
    /// Without `scan`: after finding the roots, also test this many POI values evenly from 0 to
    /// 1.25 × the largest of the observed and expected limits, for the CLs curves of a Brazil plot
    /// (``LimitReport/scan``); the limits stay the roots. Nil: no such scan.
    public var bandPoints: Int?
    /// `qtilde` or `q`.
    public var testStatistic: String
    /// Start values, bounds and fixed flags of the fits.
    public var overrides: ParameterOverrides
    /// How the unconditional fits look for the global minimum over the POI (``MultiStart``).
    public var multistart: MultiStart.Strategy
    /// The search's budget; nil: the strategy's default.
    public var maxStarts: Int?

    /// Most POI values of one scan.
    public static let maximumScanPoints = 10_000

    public init(level: Double = 0.05, scan: [Double]? = nil, bandPoints: Int? = nil, testStatistic: String = "qtilde",
                overrides: ParameterOverrides = ParameterOverrides(), multistart: MultiStart.Strategy = .auto, maxStarts: Int? = nil) {
        self.level = level
        self.scan = scan
        self.bandPoints = bandPoints
        self.testStatistic = testStatistic
        self.overrides = overrides
        self.multistart = multistart
        self.maxStarts = maxStarts
    }

    /// Checks the task against the model before anything is computed: the level, the test
    /// statistic, the scan's size, a POI that exists and enters the yields monotonically, the
    /// fit options. `run` does the same checks.
    public func validate(on loaded: LoadedModel) throws {
        guard level > 0, level < 1 else { throw InferenceError(.invalidOptions, "the CLs level must be in (0, 1), not \(level)") }
        _ = try HypotestTask.statistic(testStatistic)
        if let scan, scan.count > Self.maximumScanPoints {
            throw InferenceError(.invalidOptions, "the scan has \(scan.count) POI values; the limit is \(Self.maximumScanPoints)")
        }
        guard loaded.model.poiName != nil else {
            throw InferenceError(.invalidOptions, "the measurement has no POI (its config.poi is empty); a CLs upper limit needs one")
        }
        try Self.checkMonotonicPOI(loaded)
        _ = try MultiStart.options(multistart, maxStarts: maxStarts, overrides: overrides, model: loaded.model)
    }

    /// The limit; `cancellation` stops it (``InferenceError/Code/cancelled``).
    public func run(on loaded: LoadedModel, cancellation: Cancellation? = nil) throws -> LimitReport {
        try loaded.checkingEvaluations {
            try validate(on: loaded)
            var options = try MultiStart.options(multistart, maxStarts: maxStarts, overrides: overrides, model: loaded.model)
            options.cancellation = cancellation
            let statistic = try HypotestTask.statistic(testStatistic)
            let poi = loaded.model.poiName ?? ""
            if let bandPoints, scan != nil || !(2...Self.maximumScanPoints).contains(bandPoints) {
                throw InferenceError(.invalidOptions, scan != nil ? "band_points applies without a scan (a scan already gives the CLs curves)"
                                     : "band_points must be from 2 to \(Self.maximumScanPoints), not \(bandPoints)")
            }
            guard let scan else {
                let r = try loaded.model.upperLimit(data: loaded.data, level: level, testStatistic: statistic, options: options)
                var report = LimitReport(poi: poi, level: level, observed: r.observed, expected: r.expected)
                if let bandPoints {
                    let top = 1.25 * ([r.observed] + r.expected).filter(\.isFinite).reduce(0, max)
                    guard top > 0 else { throw InferenceError(.noRoot, "the limits (\(r.observed), \(r.expected)) leave no positive range to scan for the CLs band") }
                    let values = Workspace.gridValues(from: 0, to: top, count: bandPoints)
                    let g = try loaded.model.upperLimit(data: loaded.data, scan: values, level: level, testStatistic: statistic, options: options)
                    report.scan = g.hypotests.map { HypotestReport($0, poi: poi, testStatistic: testStatistic) }
                }
                return report
            }
            let r = try loaded.model.upperLimit(data: loaded.data, scan: scan, level: level, testStatistic: statistic, options: options)
            return LimitReport(poi: poi, level: level, observed: r.limit.observed, expected: r.limit.expected,
                               scan: r.hypotests.map { HypotestReport($0, poi: poi, testStatistic: testStatistic) })
        }
    }
}

extension LimitTask {
    /// The first term of the workspace in which `coefficient` has a power above 1:
    /// (channel, sample, term), or nil when every morphing and event-database modifier is at most
    /// linear in it.
    public static func higherPowerTerm(of coefficient: String, in workspace: Workspace) -> (channel: String, sample: String, term: String)? {
        for channel in workspace.channels {
            for sample in channel.samples {
                for modifier in sample.modifiers {
                    guard let morphing = modifier.dependent as? MorphingModifier, let i = morphing.coefficients.firstIndex(of: coefficient) else { continue }
                    let poly = morphing.templates.yields
                    if let term = poly.monomials.first(where: { $0.exponent(of: i) > 1 }) {
                        return (channel.name, sample.name, term.description(names: poly.coefficientNames))
                    }
                }
            }
        }
        return nil
    }

    /// A CLs upper limit assumes that the signal grows with the POI, so that excluding μ excludes
    /// every larger value (arXiv:1007.1727 §3.6). A Wilson coefficient with a quadratic (or higher)
    /// term does not: the yield at c and at −c can be the same, and the one-sided limit would
    /// silently ignore the negative side. Such a POI is refused, with the commands that give its
    /// two-sided profile-likelihood interval instead.
    static func checkMonotonicPOI(_ loaded: LoadedModel) throws {
        guard let poi = loaded.model.poiName, let found = higherPowerTerm(of: poi, in: loaded.workspace) else { return }
        throw InferenceError(.invalidOptions,
            "the POI \(poi) is a Wilson coefficient that enters the yields non-linearly (term \(found.term) of sample \(found.sample) in channel \(found.channel)), so a one-sided CLs upper limit does not apply; for its two-sided interval use efthf fit --ops \(poi) (profile-likelihood 68% and 95% CL intervals) or efthf scan --par \(poi)=LO:HI:N")
    }
}

public struct LimitReport: Sendable, Codable, Equatable {
    public let poi: String
    public let level: Double
    public let observed: Double
    /// The expected limits at −2σ … +2σ.
    public let expected: [Double]
    /// With a scan: the hypotest at each of its POI values.
    public var scan: [HypotestReport]? = nil
}

/// The asymptotic discovery test: q0 = −2 ln λ(0) for μ̂ ≥ 0, else 0 (arXiv:1007.1727 Eq. 12).
public struct SignificanceTask: Sendable, Codable, Equatable {
    /// Start values, bounds and fixed flags of the fits.
    public var overrides: ParameterOverrides

    public init(overrides: ParameterOverrides = ParameterOverrides()) {
        self.overrides = overrides
    }

    public func run(on loaded: LoadedModel) throws -> SignificanceReport {
        try loaded.checkingEvaluations {
            guard let poi = loaded.model.poiName else {
                throw InferenceError(.invalidOptions, "measurement \"\(loaded.model.measurementName)\" has no POI; a discovery test needs one")
            }
            let options = try MultiStart.options(.auto, maxStarts: nil, overrides: overrides, model: loaded.model)
            let r = try loaded.model.discoverySignificance(data: loaded.data, options: options)
            return SignificanceReport(poi: poi, q0: r.q0, p0: r.p0, significance: r.significance, p0Expected: r.p0Expected,
                                      expectedSignificance: r.expectedSignificance)
        }
    }
}

public struct SignificanceReport: Sendable, Codable, Equatable {
    public let poi: String
    public let q0: Double
    public let p0: Double
    /// Z = √q0.
    public let significance: Double
    /// p0 at −2σ … +2σ of the Asimov (POI = 1) expectation.
    public let p0Expected: [Double]
    public let expectedSignificance: Double

    enum CodingKeys: String, CodingKey {
        case poi, q0, p0, significance, p0Expected = "p0_expected", expectedSignificance = "expected_significance"
    }
}

/// The toy-based CLs test of one POI value; the result depends only on the seed and the number of toys.
public struct ToysTask: Sendable, Codable, Equatable {
    public var poiValue: Double
    public var toys: Int
    public var seed: UInt64
    public var testStatistic: String

    public init(poiValue: Double = 1, toys: Int = 1000, seed: UInt64 = 0, testStatistic: String = "qtilde") {
        self.poiValue = poiValue
        self.toys = toys
        self.seed = seed
        self.testStatistic = testStatistic
    }

    /// Checks the number of toys, the POI value and the test statistic.
    public func validate() throws(InferenceError) {
        guard toys > 0, toys <= Limits.toys else { throw InferenceError(.invalidOptions, "the number of toys must be from 1 to \(Limits.toys), not \(toys)") }
        guard poiValue.isFinite else { throw InferenceError(.invalidOptions, "the POI value must be finite") }
        _ = try HypotestTask.statistic(testStatistic)
    }

    public func run(on loaded: LoadedModel, progress: ProgressHandler? = nil) throws -> ToysReport {
        try loaded.checkingEvaluations {
            try validate()
            let r = try loaded.model.toyHypotest(poiValue: poiValue, data: loaded.data, toys: toys, seed: seed,
                                                 testStatistic: try HypotestTask.statistic(testStatistic), progress: progress)
            return report(r, poi: loaded.model.poiName ?? "")
        }
    }

    /// The statistics of toys `range` (a shard of a plan; ``DifferentiableLikelihood/toyTestStatistics(poiValue:data:toys:seed:testStatistic:options:progress:)``).
    public func statistics(on loaded: LoadedModel, toys range: Range<Int>, progress: ProgressHandler? = nil) throws -> ToyTestStatistics {
        try loaded.checkingEvaluations {
            try validate()
            guard range.lowerBound >= 0, range.upperBound <= toys else { throw InferenceError(.invalidOptions, "toys \(range) are outside 0..<\(toys)") }
            return try loaded.model.toyTestStatistics(poiValue: poiValue, data: loaded.data, toys: range, seed: seed,
                                                      testStatistic: try HypotestTask.statistic(testStatistic), progress: progress)
        }
    }

    /// The report of a toy test made with this task.
    public func report(_ r: ToyHypotestResult, poi: String) -> ToysReport {
        ToysReport(poi: poi, poiValue: poiValue, testStatistic: testStatistic, ntoys: toys, seed: seed, q: r.q,
                   clsObserved: r.clsObserved, clsbObserved: r.clsbObserved, clbObserved: r.clbObserved, clsExpected: r.clsExpected,
                   failedToys: r.failedToys,
                   distributions: ToyDistributions(signal: r.signalTestStatistics, background: r.backgroundTestStatistics, observed: r.q))
    }
}

/// The toys' test statistics as histograms on common bins: what a plot of the toy distributions
/// shows, and what shards of a toy plan sum to (their merge gives the same bins and counts).
///
/// Bins: ``binCount`` equal bins from 0 to 1.05 × the largest of q_obs and the 99th percentiles
/// (numpy's linear percentile) of the two samples; the last bin also holds the statistics beyond
/// it (their number is ``overflow``). Statistics are ≥ 0 (q̃μ, qμ), so no underflow.
public struct ToyDistributions: Sendable, Codable, Equatable {
    public static let binCount = 40

    /// ``binCount`` + 1 bin edges.
    public let edges: [Double]
    /// Signal-plus-background toys per bin.
    public let signal: [Int]
    /// Background-only toys per bin.
    public let background: [Int]
    /// Toys beyond the last edge, counted in the last bin: (signal, background).
    public let overflow: [Int]

    public init(signal: [Double], background: [Double], observed q: Double) {
        let top = [q, Self.percentile99(signal), Self.percentile99(background)].filter(\.isFinite).max() ?? 0
        let upper = top > 0 ? 1.05 * top : 1
        edges = (0...Self.binCount).map { upper * Double($0) / Double(Self.binCount) }
        func counts(_ values: [Double]) -> (bins: [Int], overflow: Int) {
            var bins = [Int](repeating: 0, count: Self.binCount)
            var beyond = 0
            for v in values where v.isFinite {
                let k = Int((max(v, 0) / upper * Double(Self.binCount)).rounded(.down))
                if k >= Self.binCount { beyond += 1 }
                bins[min(k, Self.binCount - 1)] += 1
            }
            return (bins, beyond)
        }
        let s = counts(signal), b = counts(background)
        self.signal = s.bins
        self.background = b.bins
        overflow = [s.overflow, b.overflow]
    }

    /// numpy's `percentile(values, 99)` of the finite values; NaN for none.
    static func percentile99(_ values: [Double]) -> Double {
        let sorted = values.filter(\.isFinite).sorted()
        return sorted.isEmpty ? .nan : linearPercentile(ofSorted: sorted, 99)
    }
}

public struct ToysReport: Sendable, Codable, Equatable {
    public let poi: String
    public let poiValue: Double
    public let testStatistic: String
    public let ntoys: Int
    public let seed: UInt64
    public let q: Double
    public let clsObserved: Double
    public let clsbObserved: Double
    public let clbObserved: Double
    public let clsExpected: [Double]
    /// Toys dropped because a fit failed on them.
    public let failedToys: Int
    /// The test statistics of the toys as histograms (``ToyDistributions``).
    public let distributions: ToyDistributions

    enum CodingKeys: String, CodingKey {
        case poi, poiValue = "poi_value", testStatistic = "test_statistic", ntoys, seed, q
        case clsObserved = "cls_obs", clsbObserved = "clsb_obs", clbObserved = "clb_obs", clsExpected = "cls_exp", failedToys = "failed_toys"
        case distributions
    }
}

extension MultiStart {
    /// Refuses a budget outside 0 … ``maximumStarts``, naming the option.
    static func checkBudget(_ maxStarts: Int?) throws(HistFactoryError) {
        if let maxStarts, maxStarts < 0 || maxStarts > maximumStarts {
            throw HistFactoryError(.parameter, "max_starts (--max-starts) must be from 0 to \(maximumStarts), not \(maxStarts)")
        }
    }

    /// The options of a hypothesis test's fits: `overrides`, and the search over the POI.
    static func options(_ strategy: Strategy, maxStarts: Int?, overrides: ParameterOverrides, model: HistFactoryModel) throws(HistFactoryError) -> FitOptions {
        try checkBudget(maxStarts)
        var options = FitOptions(multiStart: MultiStart(strategy: strategy, maxStarts: maxStarts))
        try overrides.apply(to: &options, model: model)
        return options
    }
}

extension Encodable {
    /// The value as a ``JSON`` document (``JSONValueEncoder``).
    public var jsonValue: JSON {
        // Cannot fail: the task reports encode numbers, strings, arrays and objects only.
        try! JSONValueEncoder().encode(self)
    }
}
