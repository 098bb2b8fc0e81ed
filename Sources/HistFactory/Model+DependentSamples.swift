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
    /// The bins where the sample refuses the point (raw yield below zero under the "error" policy).
    public let rejectedBins: [Int]
}

/// A parameter-dependent sample of the model: where it sits and its evaluator.
public struct DependentSampleModel: Sendable {
    public let channel: String
    public let sample: String
    /// The evaluator the likelihood calls; its ``ParameterDependentSample/parameters`` are model indices.
    public let evaluator: any ParameterDependentSample
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
    /// The parameter-dependent samples in model order (channels, then samples).
    public var dependentSampleModels: [DependentSampleModel] {
        flat.morphs.map { DependentSampleModel(channel: $0.dependent.channel, sample: $0.dependent.sampleName, evaluator: $0.sample) }
    }

    /// Every parameter-dependent sample at `parameters` (model order), in model order.
    public func dependentSamples(at parameters: [Double]) throws(HistFactoryError) -> [DependentSampleEvaluation] {
        guard parameters.count == parameterCount else {
            throw HistFactoryError(.parameter, "\(parameters.count) parameter values for a model with \(parameterCount)")
        }
        let values = parameters.withUnsafeBufferPointer { p in
            flat.morphs.enumerated().map { k, m in m.evaluate(p.baseAddress!, derivatives: false, variance: flat.needsVariance[k]) }
        }
        var staterror: [[Double?]] = flat.morphs.map { [Double?](repeating: nil, count: $0.binCount) }
        for d in dynamicStaterrors {
            for part in d.contributions {
                staterror[part.morph][part.bin] = values[part.morph].staterrorVariance(bin: part.bin, delta: part.delta)
            }
        }
        return flat.morphs.enumerated().map { k, m in
            let v = values[k]
            return DependentSampleEvaluation(
                channel: m.dependent.channel, sample: m.dependent.sampleName, raw: v.raw, nominal: v.nominal,
                ratio: (0..<m.binCount).map { m.nominal[$0] != 0 ? v.nominal[$0] / m.nominal[$0] : 1 },
                staterrorVariance: staterror[k], rejectedBins: v.rejectedBins)
        }
    }

    /// The staterror widths σ_b(c) of (S2) at `parameters`, with σ_b(0), for every component whose
    /// width follows the parameter-dependent samples; empty when every width is static.
    public func dynamicStaterrorWidths(at parameters: [Double]) throws(HistFactoryError) -> [DynamicStaterrorWidth] {
        guard !dynamicStaterrors.isEmpty else { return [] }
        return dynamicStaterrorWidths(from: try dependentSamples(at: parameters))
    }

    /// ``dynamicStaterrorWidths(at:)`` from the samples that ``dependentSamples(at:)`` returned at the point.
    public func dynamicStaterrorWidths(from samples: [DependentSampleEvaluation]) -> [DynamicStaterrorWidth] {
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
