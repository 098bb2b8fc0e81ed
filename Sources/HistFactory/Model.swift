import EFTJSON
import Foundation

/// A HistFactory probability model built from a workspace and one of its measurements, with
/// exactly pyhf 0.7.6's semantics (see `Specs/histfactory.md`):
///
/// ```
/// ν_cb(θ) = Σ_s [Π_k f_sk(θ)] · [Π_g γ_sgb] · (ν⁰_scb + Σ_h Δ_shb(α_h))
/// log L(θ) = Σ_cb Pois(n_cb | ν_cb) + Σ_normal log Gauss(a | θ, σ) + Σ_poisson log Pois(a | γτ)
/// ```
///
/// with f the scalar factors (normfactor, lumi, normsys), γ the per-bin factors (staterror,
/// shapesys, shapefactor) and Δ the additive histosys terms (ATLAS, ATL-PHYS-PUB-2019-029, Eq. 3).
/// Channels, samples and modifiers are taken in sorted name order, as pyhf does.
public struct HistFactoryModel: Sendable {
    /// Channel names in model order (sorted).
    public let channels: [String]
    /// Bins per channel, in `channels` order.
    public let channelBinCounts: [Int]
    /// Sample names in model order (sorted, union over channels).
    public let samples: [String]
    /// Parameter sets in pyhf's `par_order`.
    public let parameterSets: [ParameterSet]
    public let parameterCount: Int
    /// Index of the parameter of interest in the parameter vector, if the measurement names one.
    public let poiIndex: Int?
    public let measurementName: String
    public let interpolation: InterpolationSettings

    /// Nominal auxiliary data, concatenated over constrained sets in parameter order.
    public let auxiliaryData: [Double]

    var flat: FlatModel
    /// Per parameter: whether every expected main count is affine in it (``expectedMainDataIsLinear(in:)``).
    let linearYieldParameters: [Bool]
    let normalConstraints: [NormalConstraint]
    let dynamicStaterrors: [DynamicStaterror]
    let poissonConstraints: [PoissonConstraint]

    public var mainBinCount: Int { channelBinCounts.reduce(0, +) }

    /// pyhf's `config.par_order`.
    public var parameterOrder: [String] { parameterSets.map(\.name) }

    /// pyhf's `config.par_names`: every parameter, vectors expanded as `name[i]`.
    public var parameterNames: [String] { parameterSets.flatMap(\.parameterNames) }

    public var suggestedInits: [Double] { parameterSets.flatMap(\.inits) }
    public var suggestedBounds: [ClosedRange<Double>] { parameterSets.flatMap(\.bounds) }
    public var suggestedFixed: [Bool] { parameterSets.flatMap(\.fixed) }

    public var poiName: String? { poiIndex.map { parameterNames[$0] } }

    /// Whether every expected main count ν_b(θ) is affine in θ_i (the others held), known from the
    /// modifiers alone: θ_i enters each sample as at most one factor per bin of a normfactor, lumi,
    /// shapesys, staterror or shapefactor, and in no normsys, histosys or parameter-dependent
    /// modifier. A factor repeated on one sample makes the yield a product (θ_i²): not affine.
    ///
    /// - Complexity: O(1).
    public func expectedMainDataIsLinear(in i: Int) -> Bool { linearYieldParameters[i] }

    /// ``linearYieldParameters`` of compiled samples.
    static func linearYieldParameters(_ samples: [CompiledSample], parameterCount: Int) -> [Bool] {
        var linear = [Bool](repeating: true, count: parameterCount)
        for sample in samples {
            for term in sample.scalars where term.interpolation != nil { linear[term.parameter] = false }
            for term in sample.histos { linear[term.parameter] = false }
            for p in sample.dependent?.sample.parameters ?? [] { linear[p] = false }
            // Factors per bin: the sample's yield in bin b is ∏ of them, affine in θ_i only if θ_i occurs once.
            let plain = sample.scalars.filter { $0.interpolation == nil }.map(\.parameter)
            for b in 0..<sample.binCount {
                var seen = Set<Int>()
                for p in plain + sample.binTerms.map({ $0.parameters[b] }) where !seen.insert(p).inserted { linear[p] = false }
            }
        }
        return linear
    }

    /// The parameter set called `name`.
    public func parameterSet(named name: String) -> ParameterSet? {
        parameterSets.first { $0.name == name }
    }

    /// The index of `name` (a scalar set's name or `name[i]`) in the parameter vector.
    public func parameterIndex(named name: String) throws(HistFactoryError) -> Int {
        if let set = parameterSet(named: name) {
            guard set.isScalar else {
                throw HistFactoryError(.parameter, "\"\(name)\" has \(set.count) parameters; address one as \(name)[0] … \(name)[\(set.count - 1)]")
            }
            return set.offset
        }
        if name.hasSuffix("]"), let open = name.lastIndex(of: "["),
            let i = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]),
            let set = parameterSet(named: String(name[..<open])), !set.isScalar, i >= 0, i < set.count
        {
            return set.offset + i
        }
        throw HistFactoryError(.parameter, "the model has no parameter \"\(name)\"; it has: \(parameterOrder.joined(separator: ", "))")
    }

    /// Builds the model of `measurement` (the first when nil).
    public init(
        workspace: Workspace,
        measurement: String? = nil,
        interpolation: InterpolationSettings = .pyhfDefault
    ) throws(HistFactoryError) {
        let m: Measurement
        do {
            m = try workspace.measurement(named: measurement)
            try self.init(channels: workspace.channels, measurement: m, interpolation: interpolation)
        } catch let error {
            var e = workspace.file.map { error.inFile($0) } ?? error
            // Attribute measurement-level errors to the measurement's JSON path.
            if e.path == nil, let k = workspace.measurements.firstIndex(where: { $0.name == (measurement ?? workspace.measurements[0].name) }) {
                e.path = JSONPointer(tokens: ["measurements", String(k), "config"])
            }
            throw e
        }
    }

    /// The observed data of `workspace` for this model: main data in channel order, then the
    /// nominal auxiliary data (pyhf's `Workspace.data(model)`).
    public func observedData(from workspace: Workspace) throws(HistFactoryError) -> ModelData {
        try data(main: workspace.observedData(channels: channels), auxiliary: auxiliaryData)
    }

    /// Main and auxiliary data checked against the model's sizes.
    public func data(main: [Double], auxiliary: [Double]? = nil) throws(HistFactoryError) -> ModelData {
        let aux = auxiliary ?? auxiliaryData
        guard main.count == mainBinCount else {
            throw HistFactoryError(.parameter, "main data has \(main.count) bins, the model has \(mainBinCount)")
        }
        guard aux.count == auxiliaryData.count else {
            throw HistFactoryError(.parameter, "auxiliary data has \(aux.count) values, the model has \(auxiliaryData.count)")
        }
        if let k = (main + aux).firstIndex(where: { !$0.isFinite }) {
            throw HistFactoryError(.invalidValue, "data value \(k) is not finite")
        }
        return ModelData(main: main, auxiliary: aux, poissonAuxIndices: poissonConstraints.map(\.auxIndex))
    }
}

/// Main-bin counts and auxiliary data, with the data-only constants of the log-likelihood
/// (Σ ln Γ(n+1)) computed once.
public struct ModelData: Sendable, Equatable {
    public let main: [Double]
    public let auxiliary: [Double]
    /// Σ_b ln Γ(n_b + 1) + Σ_poisson ln Γ(a + 1).
    let logFactorials: Double

    /// `poissonAuxIndices`: the auxiliary data of Poisson constraints, whose ln Γ(a + 1) enters the constant.
    public init(main: [Double], auxiliary: [Double], poissonAuxIndices: [Int]) {
        self.main = main
        self.auxiliary = auxiliary
        var sum = 0.0
        for n in main { sum += lgamma(n + 1) }
        for i in poissonAuxIndices { sum += lgamma(auxiliary[i] + 1) }
        logFactorials = sum
    }
}

/// A scalar (bin-independent) multiplicative term of one sample in one channel.
struct ScalarTerm: Sendable {
    let parameter: Int
    /// nil: the factor is the parameter itself (normfactor, lumi).
    let interpolation: FactorInterpolation?
}

/// An additive histosys term: per-bin Δ₊ and Δ₋.
struct HistoTerm: Sendable {
    let parameter: Int
    let code: InterpolationCode
    let up: [Double]
    let down: [Double]
}

/// A per-bin multiplicative term (staterror, shapesys, shapefactor): the parameter of each bin.
struct BinTerm: Sendable {
    let parameters: [Int]
}

/// One sample in one channel, ready to evaluate.
struct CompiledSample: Sendable {
    let channel: String
    let sample: String
    let binStart: Int
    let binCount: Int
    let nominal: [Double]
    let scalars: [ScalarTerm]
    let histos: [HistoTerm]
    let binTerms: [BinTerm]
    /// The sample's parameter-dependent modifiers as one evaluator, if it has any: its nominal is then ν⁰(p).
    let dependent: CompiledDependent?
}

/// The parameter-dependent modifiers of one sample in one channel.
struct CompiledDependent: Sendable {
    let sample: any ParameterDependentSample
    let channel: String
    let sampleName: String
}

struct NormalConstraint: Sendable {
    let parameter: Int
    let auxIndex: Int
    let sigma: Double
    /// 1/σ and 1/σ², so that an evaluation multiplies instead of dividing.
    let inverseSigma: Double, inverseVariance: Double
    /// −ln(σ√(2π)).
    let logNormalization: Double
    /// Index into `dynamicStaterrors` when σ follows the parameter-dependent samples, else −1.
    var dynamicIndex: Int
}

/// A staterror component whose width follows the parameter-dependent samples M (Specs/eft-extension.md §8.2):
/// σ(p) = √(V_static + Σ_M var_sb(p)) / (N_static + Σ_M ν̃⁰_sb(p)).
struct DynamicStaterror: Sendable {
    let parameter: Int
    /// Index into `normalConstraints`.
    let constraint: Int
    let staticVariance: Double
    let staticNominal: Double
    /// (index into the flat model's dependent samples, bin of that sample, the sample's staterror δ).
    let contributions: [(morph: Int, bin: Int, delta: Double)]
}

struct PoissonConstraint: Sendable {
    let parameter: Int
    let auxIndex: Int
    let factor: Double
}
