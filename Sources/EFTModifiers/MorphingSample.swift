import EFTJSON
import EventDatabase
import Foundation
import HistFactory
import Morphing

/// The morphing and event-database modifiers of one sample as one ``ParameterDependentSample``
/// (Specs/eft-extension.md (N1), (V3), §8.2, §9):
///
/// ```
/// ν⁰_b = poly_b(c)  (absolute),   n_b (1 + poly_b(c))  (relative)
/// ν̃⁰_b = ν⁰_b, or below ε_b the clip floor ε_b exp((ν⁰_b − ε_b)/ε_b),   ε_b = max(10⁻⁶ |n_b|, 10⁻⁹)
/// var_sb = δ_b² s_b + V_b:  s = 0, V = var(c)  (absolute);   s = (1 + poly)², V = n² var(c)  (relative)
/// ```
///
/// with poly and var the polynomial templates, or, for an event-database sample evaluated per
/// event, the kernel's Σ w_e(c) f_e(θ) and Σ w² in (c, θ).
public struct MorphingSample: ParameterDependentSample {
    /// The polynomial (term templates; for the relative form the R_tb).
    let templates: PolynomialTemplates
    /// The MC variance as a polynomial in c, when the modifiers carry uncertainties.
    let varianceTemplates: PolynomialTemplates?
    /// The model parameter of each of the polynomial's coefficients.
    public let coefficientParameters: [Int]
    let relative: Bool
    public let policy: MorphingModifier.NegativeYieldPolicy
    /// The modifiers' names, `a × b` for a product.
    public let modifier: String
    /// The sample's `data`.
    let data: [Double]
    /// The per-event evaluation of an event-database sample with systematics or smoothing.
    let kernel: SmoothedReweightingKernel?
    /// The model parameter θ_k of each of the kernel's systematics.
    public let eventSystematicParameters: [Int]

    /// The per-event kernel's first failure to read its streamed columns (``SmoothedReweightingKernel/streamFailure``).
    public var evaluationFailure: (any Error & Sendable)? { kernel?.streamFailure }

    /// The coefficients' parameters, then the systematics' (the Jacobians' rows); stored, since
    /// the likelihood reads it on every evaluation.
    public let parameters: [Int]

    init(templates: PolynomialTemplates, varianceTemplates: PolynomialTemplates?, coefficientParameters: [Int], relative: Bool,
         policy: MorphingModifier.NegativeYieldPolicy, modifier: String, data: [Double], kernel: SmoothedReweightingKernel?,
         eventSystematicParameters: [Int]) {
        self.templates = templates
        self.varianceTemplates = varianceTemplates
        self.coefficientParameters = coefficientParameters
        self.relative = relative
        self.policy = policy
        self.modifier = modifier
        self.data = data
        self.kernel = kernel
        self.eventSystematicParameters = eventSystematicParameters
        parameters = coefficientParameters + eventSystematicParameters
    }
    public var domainParameters: [Int] { coefficientParameters }
    public var binCount: Int { data.count }
    public var hasVariance: Bool { varianceTemplates != nil }
    public var label: String { "morphing \"\(modifier)\"" }

    public func evaluate(_ values: [Double], derivatives: Bool, variance: Bool) -> DependentSampleValue {
        evaluate(values, derivativesFor: [Bool](repeating: derivatives, count: parameters.count), variance: variance)
    }

    /// The per-event kernel computes the wanted Jacobian rows only (the others are 0); the
    /// polynomial computes them all.
    public func evaluate(_ values: [Double], derivativesFor wanted: [Bool], variance: Bool) -> DependentSampleValue {
        let bins = data.count
        let derivatives = wanted.contains(true)
        let c = Array(values[..<coefficientParameters.count])
        var poly: [Double], polyJacobian: [Double] = []
        var varPoly: [Double] = [], varJacobian: [Double] = []
        let wantVariance = variance && hasVariance
        if let kernel {
            let e = kernel.evaluate(coefficients: c, nuisance: Array(values[coefficientParameters.count...]), jacobianFor: wanted)
            poly = e.yields
            polyJacobian = e.yieldJacobian
            if wantVariance { varPoly = e.variances; varJacobian = e.varianceJacobian }
        } else {
            if derivatives { (poly, polyJacobian) = templates.yieldsAndJacobian(at: c) } else { poly = templates.yields(at: c) }
            if wantVariance, let v = varianceTemplates {
                if derivatives { (varPoly, varJacobian) = v.yieldsAndJacobian(at: c) } else { varPoly = v.yields(at: c) }
            }
        }
        var value = DependentSampleValue(raw: [Double](repeating: 0, count: bins), nominal: [Double](repeating: 0, count: bins))
        // ∂ν̃⁰_b/∂poly_b: the clip floor's slope times n_b for the relative form.
        var scale = [Double](repeating: 1, count: bins)
        for b in 0..<bins {
            let raw = relative ? data[b] * (1 + poly[b]) : poly[b]
            var nominal = raw
            var slope = 1.0
            switch policy {
            case .error:
                if raw < 0 { value.rejectedBins.append(b) }
            case .clip:
                let eps = max(1e-6 * abs(data[b]), 1e-9)
                if raw < eps {
                    nominal = eps * Foundation.exp((raw - eps) / eps)
                    slope = nominal / eps
                }
            case .allow:
                break
            }
            value.raw[b] = raw
            value.nominal[b] = nominal
            scale[b] = slope * (relative ? data[b] : 1)
        }
        if derivatives {
            value.nominalJacobian = polyJacobian
            for j in 0..<parameters.count { for b in 0..<bins { value.nominalJacobian[j * bins + b] *= scale[b] } }
        }
        if variance {
            if !wantVariance {
                value.staterrorScale = [Double](repeating: 0, count: bins)
                value.variance = value.staterrorScale
                if derivatives { value.staterrorScaleJacobian = [Double](repeating: 0, count: bins * parameters.count); value.varianceJacobian = value.staterrorScaleJacobian }
            } else if relative {
                value.staterrorScale = poly.map { (1 + $0) * (1 + $0) }
                value.variance = (0..<bins).map { data[$0] * data[$0] * varPoly[$0] }
                if derivatives {
                    value.staterrorScaleJacobian = polyJacobian
                    value.varianceJacobian = varJacobian
                    for j in 0..<parameters.count {
                        for b in 0..<bins {
                            value.staterrorScaleJacobian[j * bins + b] *= 2 * (1 + poly[b])
                            value.varianceJacobian[j * bins + b] *= data[b] * data[b]
                        }
                    }
                }
            } else {
                value.staterrorScale = [Double](repeating: 0, count: bins)
                value.variance = varPoly
                if derivatives {
                    value.staterrorScaleJacobian = [Double](repeating: 0, count: bins * parameters.count)
                    value.varianceJacobian = varJacobian
                }
            }
        }
        return value
    }
}

extension MorphingModifier: ParameterDependentModifier {
    /// The Wilson coefficients (unconstrained, init 0, bounds [−10, 10]), then the per-event
    /// systematics' θ_k (unit Gaussian, shared by name with histosys and normsys).
    public var declaredParameters: [DependentParameter] {
        coefficients.map { DependentParameter(name: $0, kind: .morphing, constraint: .unconstrained(initial: 0, bounds: -10...10)) }
            + (events?.parameters ?? []).map { DependentParameter(name: $0, kind: .histosys, constraint: .unitGaussian) }
    }

    /// Several morphing modifiers multiply (Specs/eft-extension.md §3.3): at most one absolute form
    /// (an event_database counts as one), one negative-yield policy, no per-event evaluation.
    public func checkCombination(_ all: [any ParameterDependentModifier], sample name: String, at path: JSONPointer) throws(HistFactoryError) {
        let morphings = all.compactMap { $0 as? MorphingModifier }
        guard morphings.count == all.count else {
            throw HistFactoryError(.invalidModel, "sample \"\(name)\" combines morphing modifiers with parameter-dependent modifiers of another kind", path: path)
        }
        if morphings.filter({ $0.form == .absolute }).count > 1 {
            throw HistFactoryError(.invalidModel, "sample \"\(name)\" has several absolute-form morphing or event_database modifiers; at most one gives its yield, the others must be relative", path: path)
        }
        if Set(morphings.map(\.negativeYields)).count > 1 {
            throw HistFactoryError(.invalidModel, "sample \"\(name)\": its morphing modifiers declare different negative_yields policies (\(morphings.map(\.negativeYields.rawValue).joined(separator: ", "))); they must agree", path: path)
        }
        if morphings.contains(where: { $0.events != nil }) {
            throw HistFactoryError(.invalidModel, "sample \"\(name)\": an event_database with systematics or smoothing cannot be combined with other morphing modifiers", path: path)
        }
    }

    public func compile(_ all: [NamedModifier], in context: SampleContext) throws(HistFactoryError) -> any ParameterDependentSample {
        let morphings = all.compactMap { m in (m.modifier as? MorphingModifier).map { (m.name, $0) } }
        guard morphings.count == all.count, let (name, m) = morphings.first else {
            throw HistFactoryError(.invalidModel, "sample \"\(context.sample)\" combines morphing modifiers with parameter-dependent modifiers of another kind")
        }
        if morphings.count == 1 {
            return MorphingSample(templates: m.templates.yields, varianceTemplates: m.templates.monteCarloVariance?.polynomial,
                                  coefficientParameters: m.coefficients.map(context.parameterIndex), relative: m.form == .relative,
                                  policy: m.negativeYields, modifier: name, data: context.nominal, kernel: m.events?.kernel,
                                  eventSystematicParameters: (m.events?.parameters ?? []).map(context.parameterIndex))
        }
        // Several morphing modifiers: their product, expanded once (Specs §3.3, §8.2).
        let p = try MorphingModifier.product(morphings.map(\.1), modifierNames: morphings.map(\.0), binCount: context.nominal.count, sample: context.sample)
        return MorphingSample(templates: p.yields, varianceTemplates: p.variance, coefficientParameters: p.coefficients.map(context.parameterIndex),
                              relative: p.relative, policy: m.negativeYields, modifier: morphings.map(\.0).joined(separator: " × "),
                              data: context.nominal, kernel: nil, eventSystematicParameters: [])
    }
}

extension HistFactoryModel {
    /// The nuisance parameters of every per-event systematic of the model's event-database samples,
    /// in model order, each once.
    public var eventSystematicParameters: [String] {
        var names: [String] = []
        for s in dependentSampleModels {
            guard let m = s.evaluator as? MorphingSample else { continue }
            for p in m.eventSystematicParameters where !names.contains(parameterNames[p]) { names.append(parameterNames[p]) }
        }
        return names
    }

    /// The per-event systematics' nuisance parameters of one sample.
    func eventSystematicParameters(channel: String, sample: String) -> [String] {
        guard let m = dependentSampleModels.first(where: { $0.channel == channel && $0.sample == sample })?.evaluator as? MorphingSample else { return [] }
        return m.eventSystematicParameters.map { parameterNames[$0] }
    }
}
