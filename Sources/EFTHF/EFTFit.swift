import EFTJSON
import EFTModifiers
import HistFactory
import Inference

extension FitOptions {
    /// Options for a fit of the Wilson coefficients `operators` (`efthf fit --ops`): those float,
    /// every other Wilson coefficient (parameter of a `morphing` or `event_database` modifier) is
    /// fixed at the Standard Model, 0, and the fit looks for the global minimum over `operators`
    /// with `strategy` (quadratic EFT yields make several minima common): by default `.auto`, the
    /// reflection starts of ``MultiStart`` within `maxStarts` extra fits; `.grid` is 3 points per
    /// operator above two operators, else 5.
    ///
    /// - Throws: ``HistFactoryError`` (`.parameter`) when the model has no Wilson coefficients or
    ///   `operators` names one it does not have.
    public static func floating(
        operators: [String], of model: HistFactoryModel, computeUncertainties: Bool = true,
        strategy: MultiStart.Strategy = .auto, maxStarts: Int? = nil
    ) throws(HistFactoryError) -> FitOptions {
        let coefficients = model.parameterSets.filter { $0.modifierKinds.contains(.morphing) }
        guard !coefficients.isEmpty else {
            throw HistFactoryError(.parameter, "ops: the workspace has no Wilson coefficients (no morphing modifiers)")
        }
        for op in operators where !coefficients.contains(where: { $0.name == op }) {
            throw HistFactoryError(.parameter, "ops: unknown Wilson coefficient \"\(op)\"; the workspace has: \(coefficients.map(\.name).joined(separator: ", "))")
        }
        var point = model.suggestedInits
        var fixed = model.suggestedFixed
        for set in coefficients {
            fixed[set.offset] = !operators.contains(set.name)
            if fixed[set.offset] { point[set.offset] = 0 }
        }
        let multiStart = MultiStart(strategy: strategy, parameters: operators, maxStarts: maxStarts,
                                    pointsPerParameter: operators.count > 2 ? 3 : 5)
        return FitOptions(initialValues: point, fixed: fixed, computeUncertainties: computeUncertainties, multiStart: multiStart)
    }
}

extension HistFactoryModel {
    /// The ±1σ and 95 % CL profile-likelihood intervals of each of `operators` around `bestFit`
    /// (Δ2NLL = 1 and 3.84), as `fit --json`'s `profile_intervals`: per operator
    /// `{"best_fit", "one_sigma": [lo, hi], "cl95": [lo, hi]}`, `null` for an end beyond the bounds
    /// or one whose conditional fits failed (the interval says why; the other ends are kept).
    public func profileIntervals(_ operators: [String], data: ModelData, options: FitOptions, bestFit: FitResult) throws(InferenceError) -> [CoefficientInterval] {
        var options = options
        options.multiStart = nil
        var intervals: [CoefficientInterval] = []
        for op in operators {
            let both = try profileIntervals(op, data: data, levels: [DeltaTwiceNLL.oneSigma1D, DeltaTwiceNLL.cl95In1D], options: options, bestFit: bestFit)
            intervals.append(CoefficientInterval(oneSigma: both[0], cl95: both[1]))
        }
        return intervals
    }
}

/// The ±1σ and 95 % CL profile-likelihood intervals of one parameter (Δ2NLL = 1 and 3.84).
public struct CoefficientInterval: Sendable, Equatable {
    public let oneSigma: ProfileInterval
    public let cl95: ProfileInterval

    public init(oneSigma: ProfileInterval, cl95: ProfileInterval) {
        self.oneSigma = oneSigma
        self.cl95 = cl95
    }

    /// Likelihood evaluations of both intervals' conditional fits.
    public var evaluations: Int { oneSigma.evaluations + cl95.evaluations }

    /// Why ends are missing: "one_sigma lower: …" and so on; empty when every end was searched to
    /// its root or bound.
    public var failures: [String] {
        [("one_sigma lower", oneSigma.lowerFailure), ("one_sigma upper", oneSigma.upperFailure),
         ("cl95 lower", cl95.lowerFailure), ("cl95 upper", cl95.upperFailure)].compactMap { label, reason in reason.map { "\(label): \($0)" } }
    }

    /// The lowest conditional fit below the best fit's 2NLL, if any (a start that leads lower).
    public var lowerPoint: [Double]? { oneSigma.lowerPoint ?? cl95.lowerPoint }
}
