import EFTJSON
import HistFactory
import Inference

/// A profile-likelihood scan on a grid of one or two parameters, every other free parameter
/// profiled at each point (`efthf scan`). One axis gives the 68 % and 95 % CL intervals
/// (Δ2NLL = 1, 3.84), two give the contours (Δ2NLL = 2.30, 5.99). With `adaptive` (one axis) the
/// axis is a coarse start refined where Δ2NLL crosses the levels and where the curve is not smooth.
public struct ScanTask: Sendable, Codable, Equatable {
    public var axes: [GridAxis]
    public var fix: ParameterValues
    public var adaptive: Bool
    /// With `adaptive`: the accuracy of the interval ends (default: 1/1000 of the range or 1/100
    /// of the σ at the best fit, the smaller).
    public var tolerance: Double?
    /// With `adaptive`: at most this many conditional fits.
    public var maxPoints: Int
    /// A 1D grid scan: the number of contiguous runs of warm-started fits the line is split into
    /// (``ProfileScan/runs(pointCount:count:)``); nil: one per core. Fixing it makes the result
    /// the same on every machine, and the same as a plan of as many shards (``Plan``).
    public var runs: Int?

    public init(axes: [GridAxis], fix: ParameterValues = ParameterValues(), adaptive: Bool = false, tolerance: Double? = nil, maxPoints: Int = 200,
                runs: Int? = nil) {
        self.axes = axes
        self.fix = fix
        self.adaptive = adaptive
        self.tolerance = tolerance
        self.maxPoints = maxPoints
        self.runs = runs
    }

    /// The conditional fits the scan starts with.
    public var pointCount: Int { axes.reduce(1) { $0 * $1.count } }

    /// Checks the task's shape (one or two axes, the adaptive settings, the size limit).
    public func validate() throws(HistFactoryError) {
        guard (1...2).contains(axes.count) else {
            throw HistFactoryError(.parameter, "a scan has one axis (1D) or two (2D), not \(axes.count)")
        }
        _ = try GridAxis.checked(axes, maximumPoints: adaptive ? maxPoints : Limits.scanPoints, what: "the scan (--par)")
        if let axis = axes.first(where: { $0.count < 2 }) {
            throw HistFactoryError(.parameter, "\(axis.name): a scan axis needs at least 2 points")
        }
        if adaptive {
            guard axes.count == 1 else { throw HistFactoryError(.parameter, "adaptive refinement is for 1D scans only") }
            guard axes[0].count >= 3 else { throw HistFactoryError(.parameter, "an adaptive scan needs a coarse grid of at least 3 points") }
            guard maxPoints >= axes[0].count, maxPoints <= Limits.scanPoints else {
                throw HistFactoryError(.parameter, "max_points (--max-points) must be from the coarse grid's \(axes[0].count) to \(Limits.scanPoints), not \(maxPoints)")
            }
        } else if tolerance != nil || maxPoints != 200 {
            throw HistFactoryError(.parameter, "a tolerance and a maximum of points need adaptive refinement")
        }
        if let tolerance, !(tolerance > 0 && tolerance.isFinite) {
            throw HistFactoryError(.parameter, "the tolerance must be positive, not \(tolerance)")
        }
        if let runs {
            guard axes.count == 1, !adaptive else { throw HistFactoryError(.parameter, "the number of runs is for 1D grid scans (not adaptive, not 2D)") }
            guard runs >= 1, runs <= Limits.shards else { throw HistFactoryError(.parameter, "runs (--runs) must be from 1 to \(Limits.shards), not \(runs)") }
        }
    }

    /// The scan; `cancellation` stops it (``InferenceError/Code/cancelled``): each conditional fit
    /// left ends at its first evaluation.
    public func run(on loaded: LoadedModel, progress: ProgressHandler? = nil, cancellation: Cancellation? = nil) throws -> ScanReport {
        try loaded.checkingEvaluations {
            try validate()
            var options = FitOptions(cancellation: cancellation)
            try fix.fix(in: &options, model: loaded.model)
            for axis in axes { _ = try loaded.model.parameterIndex(named: axis.name) }
            let report: ScanReport
            if adaptive {
                let axis = axes[0]
                report = ScanReport(try loaded.model.profileScanAdaptive(
                    parameter: axis.name, range: axis.lower...axis.upper, data: loaded.data, options: options, tolerance: tolerance,
                    initialPoints: axis.count, maxPoints: maxPoints, progress: progress))
            } else if axes.count == 1 {
                report = ScanReport(try loaded.model.profileScan(axes[0].name, values: axes[0].values, data: loaded.data, options: options, runs: runs, progress: progress))
            } else {
                report = ScanReport(try loaded.model.profileScan(axes[0].name, values: axes[0].values, axes[1].name, values: axes[1].values,
                                                                 data: loaded.data, options: options, progress: progress))
            }
            try cancellation?.check()
            return report
        }
    }
}

/// A 1D or 2D profile-likelihood scan as `efthf scan --json` writes it: one object, with the
/// members of ``Profile`` (1D) or of ``Contours`` (2D).
public struct ScanReport: Sendable, Codable {
    public var profile: Profile?
    public var contours: Contours?
    /// The scans themselves (not encoded; nil in a decoded report).
    public var scan1D: ProfileScan? = nil
    public var scan2D: ProfileScan2D? = nil

    /// A 1D scan: the grid, 2NLL and Δ2NLL per point, which conditional fits converged, and the
    /// 68 % and 95 % CL intervals (unions of ranges).
    public struct Profile: Sendable, Codable {
        public let parameter: String
        public let bestFit: Double
        public let twiceNLLMinimum: Double
        public let fitStatus: String
        public let values: [Double]
        public let twiceNLL: [Double]
        public let deltaTwiceNLL: [Double]
        public let converged: [Bool]
        /// "68" and "95": `[[lower, upper], …]`.
        public let intervals: NamedValues<[[Double]]>
        public let adaptive: Adaptive?

        public struct Adaptive: Sendable, Codable {
            public let tolerance: Double
            public let points: Int
            /// Whether every interval end was located to the tolerance within the point budget.
            public let resolved: Bool
        }

        enum CodingKeys: String, CodingKey {
            case parameter, bestFit = "best_fit", twiceNLLMinimum = "twice_nll_min", fitStatus = "fit_status", values
            case twiceNLL = "twice_nll", deltaTwiceNLL = "delta_twice_nll", converged, intervals, adaptive
        }
    }

    /// A 2D scan: the grid, 2NLL per point (`[x][y]`, NaN where the fit failed), the 68 % and 95 %
    /// CL contours as segments `[x1, y1, x2, y2]` and the failed fits with their reasons.
    public struct Contours: Sendable, Codable {
        public let parameters: [String]
        public let bestFit: [Double]
        public let twiceNLLMinimum: Double
        public let fitStatus: String
        public let xValues: [Double]
        public let yValues: [Double]
        public let twiceNLL: [[Double]]
        public let contours: NamedValues<[[Double]]>
        /// The points whose conditional fit failed: the parameters' values and the reason (nil in
        /// reports written before efthf recorded them).
        public let failures: [Failure]?

        public struct Failure: Sendable, Codable, Equatable {
            public let point: [Double]
            public let reason: String
        }

        enum CodingKeys: String, CodingKey {
            case parameters, bestFit = "best_fit", twiceNLLMinimum = "twice_nll_min", fitStatus = "fit_status"
            case xValues = "x_values", yValues = "y_values", twiceNLL = "twice_nll", contours, failures
        }
    }

    public init(_ scan: ProfileScan, adaptive: Profile.Adaptive? = nil) {
        let best = scan.bestFit.parameterNames.firstIndex(of: scan.parameter).map { scan.bestFit.values[$0] } ?? .nan
        let levels: [(String, Double)] = [("68", DeltaTwiceNLL.oneSigma1D), ("95", DeltaTwiceNLL.cl95In1D)]
        profile = Profile(
            parameter: scan.parameter, bestFit: best, twiceNLLMinimum: scan.minimumTwiceNLL, fitStatus: scan.bestFit.status.description,
            values: scan.values, twiceNLL: scan.twiceNLL, deltaTwiceNLL: scan.deltaTwiceNLL, converged: scan.statuses.map(\.isConverged),
            intervals: NamedValues(names: levels.map(\.0), values: levels.map { scan.intervals(level: $0.1).map { [$0.lowerBound, $0.upperBound] } }),
            adaptive: adaptive)
        scan1D = scan
    }

    public init(_ adaptive: AdaptiveProfileScan) {
        self.init(adaptive.scan, adaptive: Profile.Adaptive(tolerance: adaptive.tolerance, points: adaptive.scan.values.count, resolved: adaptive.isResolved))
    }

    public init(_ scan: ProfileScan2D) {
        let names = scan.bestFit.parameterNames
        let levels: [(String, Double)] = [("68", DeltaTwiceNLL.oneSigma2D), ("95", DeltaTwiceNLL.cl95In2D)]
        contours = Contours(
            parameters: scan.parameters, bestFit: scan.parameters.map { p in names.firstIndex(of: p).map { scan.bestFit.values[$0] } ?? .nan },
            twiceNLLMinimum: scan.minimumTwiceNLL, fitStatus: scan.bestFit.status.description, xValues: scan.xValues, yValues: scan.yValues,
            twiceNLL: scan.twiceNLL,
            contours: NamedValues(names: levels.map(\.0), values: levels.map { scan.contour(level: $0.1).map { [$0.start.x, $0.start.y, $0.end.x, $0.end.y] } }),
            failures: scan.failures.map { Contours.Failure(point: [scan.xValues[$0.x], scan.yValues[$0.y]], reason: $0.reason) })
        scan2D = scan
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self)
        if keys.contains(AnyKey("parameters")) { contours = try Contours(from: decoder) } else { profile = try Profile(from: decoder) }
    }

    public func encode(to encoder: any Encoder) throws {
        if let profile { try profile.encode(to: encoder) }
        if let contours { try contours.encode(to: encoder) }
    }
}
