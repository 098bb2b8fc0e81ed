/// A monomial in the Wilson coefficients, `m(c) = Π_i c_i^{p_i}`.
///
/// The coefficients are referred to by index into a list of names held by the owner
/// (``PolynomialTemplates/coefficientNames``). The exponent vector is stored sparsely, so a
/// term of a 57-operator STXS parametrisation costs two factors, not 57 exponents. The SM term
/// is ``one`` (all exponents zero). In dimension-six SMEFT a monomial of degree `d` carries
/// `Λ^{-2d}`: degree 1 is the interference (Λ⁻²), degree 2 the squared and cross terms (Λ⁻⁴).
public struct Monomial: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// One factor `c_coefficient^power` with `power ≥ 1`.
    public struct Factor: Hashable, Sendable {
        public let coefficient: Int
        public let power: Int
    }

    /// Factors with strictly increasing coefficient index and positive power.
    @usableFromInline internal let _factors: [Factor]

    /// The non-trivial factors, by increasing coefficient index.
    public var factors: [Factor] { _factors }

    /// The constant monomial 1: the SM term.
    public static let one = Monomial(_sortedFactors: [])

    internal init(_sortedFactors: [Factor]) { _factors = _sortedFactors }

    /// The monomial with the dense exponent vector `exponents` (`exponents[i]` is the power of `c_i`).
    ///
    /// - Precondition: every exponent is non-negative.
    public init(exponents: [Int]) {
        precondition(exponents.allSatisfy { $0 >= 0 }, "negative exponent in \(exponents)")
        _factors = exponents.indices.compactMap { exponents[$0] > 0 ? Factor(coefficient: $0, power: exponents[$0]) : nil }
    }

    /// The monomial `Π c_i^{powers[i]}`; zero powers are dropped.
    ///
    /// - Precondition: every index and power is non-negative.
    public init(powers: [Int: Int]) {
        precondition(powers.allSatisfy { $0.key >= 0 && $0.value >= 0 }, "negative index or power in \(powers)")
        _factors = powers.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { Factor(coefficient: $0.key, power: $0.value) }
    }

    /// `c_i`, the linear (interference) term of coefficient `i`.
    public static func linear(_ i: Int) -> Monomial { Monomial(powers: [i: 1]) }

    /// `c_i²`, the square term.
    public static func square(_ i: Int) -> Monomial { Monomial(powers: [i: 2]) }

    /// `c_i c_j`: the cross term for `i ≠ j`, the square for `i == j`.
    public static func product(_ i: Int, _ j: Int) -> Monomial { i == j ? square(i) : Monomial(powers: [i: 1, j: 1]) }

    /// The total degree `Σ p_i`; the term scales as `Λ^{-2·degree}` in dimension-six SMEFT.
    public var degree: Int { _factors.reduce(0) { $0 + $1.power } }

    /// The largest coefficient index that occurs, or -1 for ``one``.
    public var largestCoefficientIndex: Int { _factors.last?.coefficient ?? -1 }

    /// The power of `c_i` in the monomial (0 when absent).
    public func exponent(of i: Int) -> Int { _factors.first { $0.coefficient == i }?.power ?? 0 }

    /// The dense exponent vector over `count` coefficients.
    public func exponents(count: Int) -> [Int] {
        var e = [Int](repeating: 0, count: count)
        for f in _factors { e[f.coefficient] = f.power }
        return e
    }

    /// The product monomial, adding exponents.
    ///
    /// - Complexity: O(number of factors of both).
    public static func * (lhs: Monomial, rhs: Monomial) -> Monomial {
        var out: [Factor] = []
        out.reserveCapacity(lhs._factors.count + rhs._factors.count)
        var i = 0, j = 0
        let a = lhs._factors, b = rhs._factors
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].coefficient < b[j].coefficient) {
                out.append(a[i]); i += 1
            } else if i == a.count || b[j].coefficient < a[i].coefficient {
                out.append(b[j]); j += 1
            } else {
                out.append(Factor(coefficient: a[i].coefficient, power: a[i].power + b[j].power)); i += 1; j += 1
            }
        }
        return Monomial(_sortedFactors: out)
    }

    /// `m(c) = Π_i c_i^{p_i}`, with integer powers by repeated multiplication (exact for p ≤ 2).
    public func value(at coefficients: [Double]) -> Double {
        _factors.reduce(1.0) { $0 * integerPower(coefficients[$1.coefficient], $1.power) }
    }

    /// Graded order: lower degree first, then the larger power of the earliest coefficient first,
    /// so `1 < c_0 < c_1 < c_0² < c_0 c_1 < c_1²`.
    public static func < (lhs: Monomial, rhs: Monomial) -> Bool {
        let dl = lhs.degree, dr = rhs.degree
        if dl != dr { return dl < dr }
        for (a, b) in zip(lhs._factors, rhs._factors) where a != b {
            if a.coefficient != b.coefficient { return a.coefficient < b.coefficient }
            return a.power > b.power
        }
        return lhs._factors.count < rhs._factors.count
    }

    /// `c0^2*c3`, or `1` for the SM term.
    public var description: String { description(names: nil) }

    /// The monomial written with coefficient names, e.g. `cHq3^2*cHW`; `1` for the SM term.
    public func description(names: [String]?) -> String {
        if _factors.isEmpty { return "1" }
        return _factors.map { f in
            let name = names.map { f.coefficient < $0.count ? $0[f.coefficient] : "c\(f.coefficient)" } ?? "c\(f.coefficient)"
            return f.power == 1 ? name : "\(name)^\(f.power)"
        }.joined(separator: "*")
    }
}

/// `x^p` for `p ≥ 0` by repeated squaring; `x^0 = 1` (also for `x = 0`).
@inline(__always)
internal func integerPower(_ x: Double, _ p: Int) -> Double {
    switch p {
    case 0: return 1
    case 1: return x
    case 2: return x * x
    default:
        var result = 1.0, base = x, n = p
        while n > 0 {
            if n & 1 == 1 { result *= base }
            base *= base
            n >>= 1
        }
        return result
    }
}

extension Monomial {
    /// Every monomial of degree ≤ `degree` in `coefficientCount` coefficients, in graded order
    /// (``<(_:_:)``): `1, c_0, …, c_{n-1}, c_0², c_0 c_1, …`. For degree 2 there are `(n+1)(n+2)/2`,
    /// the 28 terms of ROOT's six-operator tutorial.
    public static func all(upToDegree degree: Int, coefficientCount n: Int) -> [Monomial] {
        precondition(degree >= 0 && n >= 0, "negative degree or coefficient count")
        var result: [Monomial] = []
        var exponents = [Int](repeating: 0, count: n)
        func fill(_ i: Int, _ remaining: Int) {
            if i == n {
                result.append(Monomial(exponents: exponents))
                return
            }
            for p in 0 ... remaining {
                exponents[i] = p
                fill(i + 1, remaining - p)
            }
            exponents[i] = 0
        }
        fill(0, degree)
        return result.sorted()
    }
}
