/// Which terms of the EFT expansion are kept: a recorded property of the workspace.
///
/// In dimension-six SMEFT a term of degree `d` in the Wilson coefficients is of order `Λ^{-2d}`:
/// ``linear`` keeps the SM and the interference terms (`O(Λ⁻²)`), ``quadratic`` adds the squared
/// and cross terms of dimension-six amplitudes (`O(Λ⁻⁴)`, without dimension-eight interference,
/// which these templates do not contain). A per-term selection can be combined with either.
public struct Truncation: Hashable, Sendable, CustomStringConvertible {
    /// Per-term selection on top of the degree cut.
    public enum Selection: Hashable, Sendable {
        case all
        /// Keep only these monomials.
        case only(Set<Monomial>)
        /// Keep all but these monomials.
        case excluding(Set<Monomial>)
    }

    /// Terms of higher degree are dropped; `nil` keeps every degree.
    public var maximumDegree: Int?
    public var selection: Selection

    public init(maximumDegree: Int? = nil, selection: Selection = .all) {
        precondition(maximumDegree.map { $0 >= 0 } ?? true, "negative maximum degree")
        self.maximumDegree = maximumDegree
        self.selection = selection
    }

    /// SM + interference: `O(Λ⁻²)`, degree ≤ 1.
    public static let linear = Truncation(maximumDegree: 1)
    /// Up to dimension-six squared: `O(Λ⁻⁴)`, degree ≤ 2.
    public static let quadratic = Truncation(maximumDegree: 2)

    /// Terms up to `O(Λ^{-k})` for even `k ≥ 0`: degree ≤ `k/2`.
    public static func order(inverseLambdaPower k: Int) -> Truncation {
        precondition(k >= 0 && k % 2 == 0, "Λ power must be even and non-negative, got \(k)")
        return Truncation(maximumDegree: k / 2)
    }

    /// Keep exactly these monomials.
    public static func only(_ terms: Set<Monomial>) -> Truncation { Truncation(selection: .only(terms)) }

    /// Drop these monomials.
    public static func excluding(_ terms: Set<Monomial>) -> Truncation { Truncation(selection: .excluding(terms)) }

    /// Whether the term `monomial` survives.
    public func keeps(_ monomial: Monomial) -> Bool {
        if let maximumDegree, monomial.degree > maximumDegree { return false }
        switch selection {
        case .all: return true
        case .only(let kept): return kept.contains(monomial)
        case .excluding(let dropped): return !dropped.contains(monomial)
        }
    }

    public var description: String { description(names: nil) }

    /// E.g. `O(Λ^-4), excluding cHW^2`.
    public func description(names: [String]?) -> String {
        var parts: [String] = []
        if let maximumDegree { parts.append("O(Λ^-\(2 * maximumDegree))") }
        switch selection {
        case .all: break
        case .only(let kept): parts.append("only " + kept.sorted().map { $0.description(names: names) }.joined(separator: ", "))
        case .excluding(let dropped): parts.append("excluding " + dropped.sorted().map { $0.description(names: names) }.joined(separator: ", "))
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}
