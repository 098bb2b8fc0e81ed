/// A named block of model parameters: one modifier name, shared by every sample, channel and
/// modifier type that uses it (pyhf's "paramset").
public struct ParameterSet: Sendable, Equatable {
    /// How the parameters are constrained by auxiliary measurements.
    public enum Constraint: Sendable, Equatable {
        case unconstrained
        /// `Gauss(a | θ, σ)` per parameter.
        case normal(sigmas: [Double])
        /// `Pois(a | γ·τ)` per parameter, τ = `factors`.
        case poisson(factors: [Double])

        /// pyhf's paramset class name.
        public var pyhfTypeName: String {
            switch self {
            case .unconstrained: "unconstrained"
            case .normal: "constrained_by_normal"
            case .poisson: "constrained_by_poisson"
            }
        }
    }

    public let name: String
    /// Index of the first parameter in the model's parameter vector.
    public let offset: Int
    public let count: Int
    /// A scalar set is addressed as `name`; a vector one as `name[i]`.
    public let isScalar: Bool
    public let inits: [Double]
    public let bounds: [ClosedRange<Double>]
    public let fixed: [Bool]
    public let constraint: Constraint
    /// The nominal auxiliary data of a constrained set (empty when unconstrained).
    public let auxdata: [Double]
    /// The modifier types that use this name, first the one that fixed its slot.
    public let modifierKinds: [Modifier.Kind]

    public var indices: Range<Int> { offset..<(offset + count) }

    public var isConstrained: Bool { constraint != .unconstrained }

    /// pyhf's `par_names` entries for this set.
    public var parameterNames: [String] {
        isScalar ? [name] : (0..<count).map { "\(name)[\($0)]" }
    }
}
