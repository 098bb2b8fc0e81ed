import EFTJSON
import Foundation

/// A sample whose nominal depends on parameters (morphing or event-database modifiers), evaluated
/// at one point of the model by the same code the likelihood uses (Specs/eft-extension.md (N1),
/// §8.2, §9, §11).
public struct DependentSampleEvaluation: Sendable, Equatable {
    public let channel: String
    public let sample: String
    /// ν⁰_sb before the negative-yield policy.
    public let raw: [Double]
    /// ν̃⁰_sb after the policy: the nominal that (C1) uses.
    public let nominal: [Double]
    /// r_sb = ν̃⁰_sb / data_sb (1 where data_sb = 0), the scale of the sample's histosys (C1).
    public let ratio: [Double]
    /// var_sb as it enters the staterror width (S2), per bin; nil in bins that carry no
    /// point-dependent staterror component (no MC uncertainties, masked or overridden widths).
    public let staterrorVariance: [Double?]
    /// Whether the sample's policy is "error", so that a raw yield below zero is outside the domain.
    public let rejectsNegativeYields: Bool
    /// The nuisance parameters of the sample's per-event systematics (event-database samples).
    public let eventSystematicParameters: [String]

    /// The bins where `raw` < 0 under the "error" policy.
    public var negativeBins: [Int] { rejectsNegativeYields ? raw.indices.filter { raw[$0] < 0 } : [] }
}

/// A staterror component whose constraint width follows the parameter-dependent samples (S2).
public struct DynamicStaterrorWidth: Sendable, Equatable {
    /// pyhf's name of the parameter, `name[i]`.
    public let parameter: String
    /// σ_b at the point.
    public let sigma: Double
    /// σ_b(0), the width of the constraint's normalisation (Specs/eft-extension.md §8.2).
    public let sigmaAtStandardModel: Double
}

extension HistFactoryModel {
    /// Every parameter-dependent sample at `parameters` (model order), in model order.
    public func dependentSamples(at parameters: [Double]) throws(HistFactoryError) -> [DependentSampleEvaluation] {
        guard parameters.count == parameterCount else {
            throw HistFactoryError(.parameter, "\(parameters.count) parameter values for a model with \(parameterCount)")
        }
        var staterror: [[Double?]] = flat.morphs.map { [Double?](repeating: nil, count: $0.binCount) }
        var evaluations: [(poly: [Double], variance: [Double]?)] = []
        parameters.withUnsafeBufferPointer { p in
            for m in flat.morphs {
                if let e = m.evaluateEvents(p.baseAddress!, jacobian: false) {
                    evaluations.append((e.yields, e.variances))
                } else {
                    let c = m.coefficients(p.baseAddress!)
                    evaluations.append((m.morph.templates.yields(at: c), m.morph.variance?.yields(at: c)))
                }
            }
        }
        for d in dynamicStaterrors {
            for part in d.contributions {
                let m = flat.morphs[part.morph], e = evaluations[part.morph]
                staterror[part.morph][part.bin] = m.staterrorVariance(poly: e.poly[part.bin], variance: e.variance?[part.bin] ?? 0, delta: part.delta, bin: part.bin)
            }
        }
        return flat.morphs.enumerated().map { k, m in
            let poly = evaluations[k].poly
            let raw = (0..<m.binCount).map { m.rawNominal(poly[$0], bin: $0) }
            let nominal = m.policyApplied(poly).values
            return DependentSampleEvaluation(
                channel: m.morph.channel, sample: m.morph.sample, raw: raw, nominal: nominal,
                ratio: (0..<m.binCount).map { m.nominal[$0] != 0 ? nominal[$0] / m.nominal[$0] : 1 },
                staterrorVariance: staterror[k], rejectsNegativeYields: m.morph.policy == .error,
                eventSystematicParameters: (m.morph.events?.systematicParameters ?? []).map { parameterNames[$0] })
        }
    }

    /// The nuisance parameters of every per-event systematic of the model's event-database samples,
    /// in model order, each once.
    public var eventSystematicParameters: [String] {
        var names: [String] = []
        for m in flat.morphs {
            for p in m.morph.events?.systematicParameters ?? [] where !names.contains(parameterNames[p]) { names.append(parameterNames[p]) }
        }
        return names
    }

    /// The staterror widths σ_b(c) of (S2) at `parameters`, with σ_b(0), for every component whose
    /// width follows the parameter-dependent samples; empty when every width is static.
    public func dynamicStaterrorWidths(at parameters: [Double]) throws(HistFactoryError) -> [DynamicStaterrorWidth] {
        guard !dynamicStaterrors.isEmpty else { return [] }
        return dynamicStaterrorWidths(from: try dependentSamples(at: parameters))
    }

    /// ``dynamicStaterrorWidths(at:)`` from the samples that ``dependentSamples(at:)`` returned at the point.
    func dynamicStaterrorWidths(from samples: [DependentSampleEvaluation]) -> [DynamicStaterrorWidth] {
        let names = parameterNames
        return dynamicStaterrors.map { d in
            var variance = d.staticVariance, nominal = d.staticNominal
            for part in d.contributions {
                variance += samples[part.morph].staterrorVariance[part.bin] ?? 0
                nominal += samples[part.morph].nominal[part.bin]
            }
            let sigma0 = Foundation.exp(-normalConstraints[d.constraint].logNormalization) / (2 * Double.pi).squareRoot()
            return DynamicStaterrorWidth(parameter: names[d.parameter], sigma: variance.squareRoot() / nominal, sigmaAtStandardModel: sigma0)
        }
    }
}
