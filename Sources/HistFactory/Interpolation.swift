import Foundation

/// HistFactory's interpolation codes between the nominal (α = 0) and the ±1σ variations, as pyhf
/// 0.7.6 implements them (`pyhf/interpolators/code{0,1,2,4,4p}.py`; Cranmer et al.,
/// CERN-OPEN-2012-016, and the ROOT `PiecewiseInterpolation` codes).
///
/// Multiplicative codes (1, 4) give a factor on the yield (normsys); additive codes (0, 2, 4p)
/// give a difference added to the nominal (histosys).
public enum InterpolationCode: String, Sendable, CaseIterable {
    case code0, code1, code2, code4, code4p

    public var isMultiplicative: Bool { self == .code1 || self == .code4 }
}

/// Which interpolation code each modifier type uses. pyhf's `Model` defaults: normsys code4,
/// histosys code4p (`pdf.py::_ModelConfig`, since pyhf PR #1114).
public struct InterpolationSettings: Sendable, Equatable {
    public var normsys: InterpolationCode
    public var histosys: InterpolationCode

    public init(normsys: InterpolationCode = .code4, histosys: InterpolationCode = .code4p) throws(HistFactoryError) {
        guard normsys.isMultiplicative else {
            throw HistFactoryError(.parameter, "normsys takes code1 or code4, not \(normsys.rawValue)")
        }
        guard !histosys.isMultiplicative else {
            throw HistFactoryError(.parameter, "histosys takes code0, code2 or code4p, not \(histosys.rawValue)")
        }
        self.normsys = normsys
        self.histosys = histosys
    }

    public static let pyhfDefault = try! InterpolationSettings()

    /// The codes of the modifier classes themselves (`NormSys(interpcode='code1')`,
    /// `HistoSys(interpcode='code0')`): what a type left out of a `modifier_settings` gets.
    public static let modifierDefault = try! InterpolationSettings(normsys: .code1, histosys: .code0)

    /// The modifier types whose interpolation code can be chosen.
    public static let types = ["normsys", "histosys"]

    /// pyhf's `modifier_settings` (`Workspace.model(modifier_settings={"normsys": {"interpcode":
    /// "code1"}})`), given as (modifier type, code) pairs. As in pyhf 0.7.6, the settings replace the
    /// model's defaults (code4, code4p) as a whole: a type left out takes its modifier's own default,
    /// ``modifierDefault`` (normsys code1, histosys code0), not code4/code4p.
    ///
    /// Errors name the type or code that is wrong and list the allowed ones.
    public init(modifierSettings: [(type: String, code: String)]) throws(HistFactoryError) {
        var normsys = Self.modifierDefault.normsys, histosys = Self.modifierDefault.histosys
        var seen: Set<String> = []
        for (type, name) in modifierSettings {
            guard Self.types.contains(type) else {
                throw HistFactoryError(.parameter, "interpolation codes are chosen for normsys and histosys, not \"\(type)\"")
            }
            guard seen.insert(type).inserted else {
                throw HistFactoryError(.parameter, "the interpolation code of \(type) is given twice")
            }
            let allowed = InterpolationCode.allCases.filter { $0.isMultiplicative == (type == "normsys") }
            guard let code = InterpolationCode(rawValue: name), allowed.contains(code) else {
                throw HistFactoryError(.parameter, "\(type) takes \(allowed.map(\.rawValue).joined(separator: ", ")), not \"\(name)\"")
            }
            if type == "normsys" { normsys = code } else { histosys = code }
        }
        try self.init(normsys: normsys, histosys: histosys)
    }

    /// The command-line form of ``init(modifierSettings:)``: `normsys=code1,histosys=code0` (either
    /// or both; pyhf's rule for a type left out applies).
    public init(parsing text: String) throws(HistFactoryError) {
        var pairs: [(type: String, code: String)] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw HistFactoryError(.parameter, "expected TYPE=CODE (e.g. normsys=code1,histosys=code0), found \"\(item)\"")
            }
            pairs.append((parts[0], parts[1]))
        }
        try self.init(modifierSettings: pairs)
    }

    /// The settings as pyhf's `modifier_settings` dictionary.
    public var modifierSettings: [(type: String, code: String)] {
        [("normsys", normsys.rawValue), ("histosys", histosys.rawValue)]
    }
}

/// A multiplicative interpolation (codes 1 and 4) for one pair of factors (δ₊ = hi/nom, δ₋ = lo/nom).
struct FactorInterpolation: Sendable {
    let code: InterpolationCode
    let up: Double
    let down: Double
    let logUp: Double
    let logDown: Double
    /// code4's polynomial a₁…a₆ for |α| < 1.
    let a: (Double, Double, Double, Double, Double, Double)

    init(code: InterpolationCode, up: Double, down: Double) {
        self.code = code
        self.up = up
        self.down = down
        logUp = Foundation.log(up)
        logDown = Foundation.log(down)
        // code4 with α₀ = 1: a = A⁻¹ b with
        // b = [δ₊ − 1, δ₋ − 1, ln δ₊ · δ₊, −ln δ₋ · δ₋, ln²δ₊ · δ₊, ln²δ₋ · δ₋]
        // and A⁻¹ the rational matrix of pyhf's `code4.py` (value, first and second derivative
        // continuous at α = ±1).
        let b = [up - 1, down - 1, logUp * up, -logDown * down, logUp * logUp * up, logDown * logDown * down]
        let inverse: [[Double]] = [
            [15.0 / 16, -15.0 / 16, -7.0 / 16, -7.0 / 16, 1.0 / 16, -1.0 / 16],
            [3.0 / 2, 3.0 / 2, -9.0 / 16, 9.0 / 16, 1.0 / 16, 1.0 / 16],
            [-5.0 / 8, 5.0 / 8, 5.0 / 8, 5.0 / 8, -1.0 / 8, 1.0 / 8],
            [-3.0 / 2, -3.0 / 2, 7.0 / 8, -7.0 / 8, -1.0 / 8, -1.0 / 8],
            [3.0 / 16, -3.0 / 16, -3.0 / 16, -3.0 / 16, 1.0 / 16, -1.0 / 16],
            [1.0 / 2, 1.0 / 2, -5.0 / 16, 5.0 / 16, 1.0 / 16, 1.0 / 16],
        ]
        var c = [Double](repeating: 0, count: 6)
        for i in 0..<6 {
            for j in 0..<6 { c[i] += inverse[i][j] * b[j] }
        }
        a = (c[0], c[1], c[2], c[3], c[4], c[5])
    }

    /// The factor f(α) and its derivative df/dα.
    ///
    /// code1: f = δ₊^α (α > 0), δ₋^(−α) (α ≤ 0).
    /// code4: as code1 for |α| ≥ 1, `1 + Σᵢ aᵢ αⁱ` inside.
    @inline(__always)
    func valueAndDerivative(_ alpha: Double) -> (Double, Double) {
        if code == .code4 {
            if alpha >= 1 {
                let v = Foundation.pow(up, alpha)
                return (v, v * logUp)
            }
            if alpha <= -1 {
                let v = Foundation.pow(down, -alpha)
                return (v, -v * logDown)
            }
            let x = alpha
            let v = 1 + x * (a.0 + x * (a.1 + x * (a.2 + x * (a.3 + x * (a.4 + x * a.5)))))
            let d = a.0 + x * (2 * a.1 + x * (3 * a.2 + x * (4 * a.3 + x * (5 * a.4 + x * 6 * a.5))))
            return (v, d)
        }
        if alpha > 0 {
            let v = Foundation.pow(up, alpha)
            return (v, v * logUp)
        }
        let v = Foundation.pow(down, -alpha)
        return (v, -v * logDown)
    }
}

/// Additive interpolation (codes 0, 2, 4p) of one bin: returns Δ(α) and dΔ/dα, given
/// Δ₊ = I₊ − I₀ and Δ₋ = I₀ − I₋.
///
/// - code0: α·Δ₊ (α > 0), α·Δ₋ (α ≤ 0).
/// - code2: with a = ½(Δ₊ − Δ₋), b = ½(Δ₊ + Δ₋): aα² + bα for |α| ≤ 1, (b + 2a)(α − 1) for α > 1
///   and α(b − 2a) for α < −1. This is pyhf 0.7.6's vectorised code2, discontinuous at |α| = 1
///   (fixed on pyhf's main branch by PR #2668); kept so that numbers match pyhf 0.7.6.
/// - code4p: α·Δ₊ (α > 1), α·Δ₋ (α < −1), else α·S + α²·A·(15 − 10α² + 3α⁴) with
///   S = ½(Δ₊ + Δ₋), A = (Δ₊ − Δ₋)/16.
@inline(__always)
func additiveInterpolation(_ code: InterpolationCode, alpha: Double, up: Double, down: Double) -> (Double, Double) {
    switch code {
    case .code0:
        return alpha > 0 ? (alpha * up, up) : (alpha * down, down)
    case .code2:
        let a = 0.5 * (up - down)
        let b = 0.5 * (up + down)
        if alpha > 1 { return ((b + 2 * a) * (alpha - 1), b + 2 * a) }
        if alpha < -1 { return (alpha * (b - 2 * a), b - 2 * a) }
        return (a * alpha * alpha + b * alpha, 2 * a * alpha + b)
    case .code4p:
        if alpha > 1 { return (alpha * up, up) }
        if alpha < -1 { return (alpha * down, down) }
        let s = 0.5 * (up + down)
        let aa = (up - down) * 0.0625
        let x2 = alpha * alpha
        let poly = 15 - 10 * x2 + 3 * x2 * x2
        let value = alpha * s + x2 * aa * poly
        let derivative = s + aa * (2 * alpha * poly + x2 * (-20 * alpha + 12 * x2 * alpha))
        return (value, derivative)
    case .code1, .code4:
        preconditionFailure("multiplicative code used additively")
    }
}
