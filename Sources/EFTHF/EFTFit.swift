import EFTJSON
import EFTModifiers
import HistFactory
import Inference

extension FitOptions {
    /// Options for a fit of the Wilson coefficients `operators` (`efthf fit --ops`): those float,
    /// every other Wilson coefficient (parameter of a `morphing` or `event_database` modifier) is
    /// fixed at the Standard Model, 0, and the fit starts from a grid over `operators`, because
    /// quadratic EFT yields make several minima common (3 points each above two operators, else 5).
    ///
    /// - Throws: ``HistFactoryError`` (`.parameter`) when the model has no Wilson coefficients or
    ///   `operators` names one it does not have.
    public static func floating(operators: [String], of model: HistFactoryModel, computeUncertainties: Bool = true) throws(HistFactoryError) -> FitOptions {
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
        return FitOptions(initialValues: point, fixed: fixed, computeUncertainties: computeUncertainties,
                          multiStart: MultiStart(parameters: operators, pointsPerParameter: operators.count > 2 ? 3 : 5))
    }
}

extension HistFactoryModel {
    /// The ±1σ and 95 % CL profile-likelihood intervals of each of `operators` around `bestFit`
    /// (Δ2NLL = 1 and 3.84), as `fit --json`'s `profile_intervals`: per operator
    /// `{"best_fit", "one_sigma": [lo, hi], "cl95": [lo, hi]}`, `null` for an end beyond the bounds.
    public func profileIntervals(_ operators: [String], data: ModelData, options: FitOptions, bestFit: FitResult) throws(InferenceError) -> [CoefficientInterval] {
        var options = options
        options.multiStart = nil
        var intervals: [CoefficientInterval] = []
        for op in operators {
            intervals.append(CoefficientInterval(
                oneSigma: try profileInterval(op, data: data, level: DeltaTwiceNLL.oneSigma1D, options: options, bestFit: bestFit),
                cl95: try profileInterval(op, data: data, level: DeltaTwiceNLL.cl95In1D, options: options, bestFit: bestFit)))
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
}

