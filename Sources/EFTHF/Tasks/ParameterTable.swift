import EFTJSON
import HistFactory

/// Every parameter of a model with what a pull plot needs: start value, bounds, whether the
/// measurement fixes it, and for a constrained one the centre θ₀ and width σ₀ of its constraint
/// (the explorer's pulls `(θ − θ₀)/σ₀`, and its sliders' ranges).
///
/// θ₀, σ₀ are the auxiliary datum and width of a Gaussian constraint, or 1 and 1/√τ of a Poisson
/// one (pyhf's `constrained_by_poisson` for shapesys: `Pois(a | γτ)` has relative width 1/√τ).
public struct ParameterTable: Sendable, Codable {
    public struct Entry: Sendable, Codable, Equatable {
        /// pyhf's name: `name` for a scalar, `name[i]` for a component of a vector set.
        public let name: String
        /// The parameter set (the modifier name).
        public let set: String
        public let initial: Double
        public let bounds: [Double]
        public let fixed: Bool
        /// `unconstrained`, `normal` or `poisson`.
        public let constraint: String
        public let centre: Double?
        public let width: Double?
        /// The modifier types that use the set, first the one that fixed its slot.
        public let modifierTypes: [String]

        enum CodingKeys: String, CodingKey {
            case name, set, initial = "init", bounds, fixed, constraint, centre, width, modifierTypes = "modifier_types"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(set, forKey: .set)
            try c.encode(initial, forKey: .initial)
            try c.encode(bounds, forKey: .bounds)
            try c.encode(fixed, forKey: .fixed)
            try c.encode(constraint, forKey: .constraint)
            // Always present, null when unconstrained.
            if let centre { try c.encode(centre, forKey: .centre) } else { try c.encodeNil(forKey: .centre) }
            if let width { try c.encode(width, forKey: .width) } else { try c.encodeNil(forKey: .width) }
            try c.encode(modifierTypes, forKey: .modifierTypes)
        }
    }

    public let parameters: [Entry]

    /// - Complexity: O(number of parameters).
    public init(model: HistFactoryModel) {
        parameters = model.parameterSets.flatMap { set -> [Entry] in
            let kind: String, centres: [Double?], widths: [Double?]
            switch set.constraint {
            case .unconstrained:
                kind = "unconstrained"; centres = Array(repeating: nil, count: set.count); widths = centres
            case .normal(let sigmas):
                kind = "normal"; centres = set.auxdata.map { $0 }; widths = sigmas.map { $0 }
            case .poisson(let tau):
                kind = "poisson"; centres = Array(repeating: 1, count: set.count); widths = tau.map { 1 / $0.squareRoot() }
            }
            return zip(set.parameterNames, 0..<set.count).map { name, k in
                Entry(name: name, set: set.name, initial: set.inits[k], bounds: [set.bounds[k].lowerBound, set.bounds[k].upperBound],
                      fixed: set.fixed[k], constraint: kind, centre: k < centres.count ? centres[k] : nil,
                      width: k < widths.count ? widths[k] : nil, modifierTypes: set.modifierKinds.map(\.rawValue))
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(parameters)
    }

    public init(from decoder: any Decoder) throws {
        parameters = try decoder.singleValueContainer().decode([Entry].self)
    }
}
