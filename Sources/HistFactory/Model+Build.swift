import EFTJSON
import Foundation

/// What one modifier requires of its parameter set (pyhf's `required_parset`). A name used by
/// several modifier types must require the same of it (`reduce_paramsets_requirements`).
struct ParameterRequirement: Equatable {
    /// pyhf distinguishes a property the modifier does not support ("undefined") from one it
    /// supports but leaves to the measurement configuration (lumi's `None`).
    enum Field<T: Equatable>: Equatable {
        case undefined
        case unset
        case value(T)
    }

    enum SetType: Equatable { case unconstrained, normal, poisson }

    var type: SetType
    var count: Int
    var isScalar: Bool
    var inits: Field<[Double]>
    var bounds: Field<[ClosedRange<Double>]>
    var auxdata: Field<[Double]>
    var factors: Field<[Double]>
    var sigmas: Field<[Double]>
    var fixed: [Bool]

    static func scalarNormal() -> ParameterRequirement {
        ParameterRequirement(type: .normal, count: 1, isScalar: true, inits: .value([0]), bounds: .value([-5...5]),
                             auxdata: .value([0]), factors: .undefined, sigmas: .undefined, fixed: [false])
    }
}

/// Where a staterror set's components sit: the set runs over the bins of the channels that carry
/// it, in model order, `start[c]` being the component of channel c's first bin; with Σ_s ν⁰_sb and
/// Σ_s δ_sb² per component over the samples that carry it.
struct StaterrorLayout {
    var start: [Int: Int]
    var nominalSum: [Double]
    var deltaSquared: [Double]
}

extension HistFactoryModel {
    init(channels specChannels: [Channel], measurement: Measurement, interpolation: InterpolationSettings) throws(HistFactoryError) {
        func pyOrder(_ a: String, _ b: String) -> Bool { a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) }
        let channelSpecs = specChannels.sorted { pyOrder($0.name, $1.name) }
        let channelNames = channelSpecs.map(\.name)
        let binCounts = channelSpecs.map(\.binCount)
        var channelOffsets = [Int]()
        var offset = 0
        for n in binCounts {
            channelOffsets.append(offset)
            offset += n
        }
        let sampleNames = Array(Set(channelSpecs.flatMap { $0.samples.map(\.name) })).sorted(by: pyOrder)

        // Per (channel, sample): the modifiers by (type, name); a repeated pair keeps the last one,
        // as pyhf's `moddict` does.
        // `keys` are the sample's own (type, name) pairs in pyhf's sorted (name, type) order: the
        // order of the model-wide sorted pairs restricted to the sample, found without walking them
        // for every sample (which would make the build quadratic in the number of modifiers).
        struct Key: Hashable { let kind: Modifier.Kind; let name: String }
        func pairOrder(_ a: Key, _ b: Key) -> Bool { a.name != b.name ? pyOrder(a.name, b.name) : pyOrder(a.kind.rawValue, b.kind.rawValue) }
        var lookup: [[String: (sample: Sample, mods: [Key: Modifier], keys: [Key])]] = []
        var pairs = Set<Key>()
        for channel in channelSpecs {
            var bySample: [String: (sample: Sample, mods: [Key: Modifier], keys: [Key])] = [:]
            for sample in channel.samples {
                var mods: [Key: Modifier] = [:]
                for m in sample.modifiers {
                    mods[Key(kind: m.kind, name: m.name)] = m
                    pairs.insert(Key(kind: m.kind, name: m.name))
                }
                bySample[sample.name] = (sample, mods, mods.keys.sorted(by: pairOrder))
            }
            lookup.append(bySample)
        }
        let sortedPairs = pairs.sorted(by: pairOrder)

        // 1. Requirements per type, in first-appearance order walking sorted channels × samples × modifiers.
        var requirementsByKind: [Modifier.Kind: [(String, ParameterRequirement)]] = [:]
        var required = Set<Key>()  // the (type, name) pairs of `requirementsByKind`
        var shapesysSeen = Set<String>()
        for (c, channel) in channelSpecs.enumerated() {
            for sampleName in sampleNames {
                guard let (sample, mods, keys) = lookup[c][sampleName] else { continue }
                for key in keys {
                    let mod = mods[key]!
                    let requirement: ParameterRequirement
                    switch key.kind {
                    case .histosys, .normsys:
                        requirement = .scalarNormal()
                    case .lumi:
                        requirement = ParameterRequirement(type: .normal, count: 1, isScalar: true, inits: .unset, bounds: .unset,
                                                           auxdata: .unset, factors: .undefined, sigmas: .unset, fixed: [false])
                    case .normfactor:
                        requirement = ParameterRequirement(type: .unconstrained, count: 1, isScalar: true, inits: .value([1]), bounds: .value([0...10]),
                                                           auxdata: .undefined, factors: .undefined, sigmas: .undefined, fixed: [false])
                    case .shapefactor:
                        let n = sample.data.count
                        requirement = ParameterRequirement(type: .unconstrained, count: n, isScalar: false, inits: .value(Array(repeating: 1, count: n)),
                                                           bounds: .value(Array(repeating: 0...10, count: n)), auxdata: .undefined, factors: .undefined,
                                                           sigmas: .undefined, fixed: [false])
                    case .shapesys:
                        if shapesysSeen.contains(key.name) {
                            throw HistFactoryError(.invalidModel, "shapesys \"\(key.name)\" is used by more than one sample or channel (here sample \"\(sampleName)\" in channel \"\(channel.name)\"); shapesys parameters cannot be shared")
                        }
                        shapesysSeen.insert(key.name)
                        guard case .uncertainties(let delta) = mod.payload else { preconditionFailure() }
                        // τ_b = (ν⁰_b/δ_b)² for bins with ν⁰ > 0 and δ > 0; other bins are frozen at γ = 1 with τ = 1.
                        let valid = zip(sample.data, delta).map { $0 > 0 && $1 > 0 }
                        let tau = (0..<delta.count).map { valid[$0] ? sample.data[$0] * sample.data[$0] / (delta[$0] * delta[$0]) : 1.0 }
                        requirement = ParameterRequirement(type: .poisson, count: tau.count, isScalar: false, inits: .value(Array(repeating: 1, count: tau.count)),
                                                           bounds: .value(Array(repeating: 1e-10...10, count: tau.count)), auxdata: .value(tau),
                                                           factors: .value(tau), sigmas: .undefined, fixed: valid.map { !$0 })
                    case .staterror:
                        continue  // computed over all samples below
                    default:
                        // A parameter-dependent modifier: the parameters it declares, each once per kind.
                        guard case .dependent(let dependent) = mod.payload else { preconditionFailure("modifier payload does not match its type") }
                        for parameter in dependent.declaredParameters where required.insert(Key(kind: parameter.kind, name: parameter.name)).inserted {
                            let requirement: ParameterRequirement
                            switch parameter.constraint.form {
                            case .unconstrained(let initial, let bounds):
                                requirement = ParameterRequirement(type: .unconstrained, count: 1, isScalar: true, inits: .value([initial]), bounds: .value([bounds]),
                                                                   auxdata: .undefined, factors: .undefined, sigmas: .undefined, fixed: [false])
                            case .unitGaussian:
                                requirement = .scalarNormal()
                            }
                            requirementsByKind[parameter.kind, default: []].append((parameter.name, requirement))
                        }
                        continue
                    }
                    if required.insert(key).inserted {
                        requirementsByKind[key.kind, default: []].append((key.name, requirement))
                    }
                }
            }
        }

        // 2. staterror: one set per name; σ_b = √(Σ_s δ_sb²) / Σ_s ν⁰_sb over the samples carrying it.
        // A staterror covers whole channels, so its set is laid out channel by channel
        // (`StaterrorLayout`), with memory and time linear in the bins it covers.
        var staterrorLayouts: [String: StaterrorLayout] = [:]
        // Per staterror and sample (in channel order): the channels that carry it with their δ.
        var staterrorCarriers: [Key: [String: [(channel: Int, sample: Sample, delta: [Double])]]] = [:]
        for (c, _) in channelSpecs.enumerated() where binCounts[c] > 0 {
            for sampleName in sampleNames {
                guard let (sample, mods, keys) = lookup[c][sampleName] else { continue }
                for key in keys where key.kind == .staterror {
                    guard case .uncertainties(let d) = mods[key]!.payload else { continue }
                    staterrorCarriers[key, default: [:]][sampleName, default: []].append((c, sample, d))
                }
            }
        }
        for key in sortedPairs where key.kind == .staterror {
            guard let carriersBySample = staterrorCarriers[key] else { continue }
            // The channels each sample carries it in, compared between samples.
            var channels: [Int]? = nil
            for sampleName in sampleNames {
                guard let sampleChannels = carriersBySample[sampleName]?.map(\.channel) else { continue }
                if let channels, channels != sampleChannels {
                    throw HistFactoryError(.invalidModel, "staterror \"\(key.name)\" is carried by sample \"\(sampleName)\" in a different set of channels than by the other samples; pyhf requires the same channels for every sample that carries it")
                }
                channels = sampleChannels
            }
            guard let channels else { continue }
            var start: [Int: Int] = [:]
            var count = 0
            for c in channels {
                start[c] = count
                count += binCounts[c]
            }
            // Per component: Σ_s ν⁰_sb and Σ_s δ_sb² over the carrying samples, in sample order
            // (the order of pyhf's sums), for §8.2's dynamic σ as well.
            var nominalSum = [Double](repeating: 0, count: count)
            var deltaSquared = [Double](repeating: 0, count: count)
            var relative = [Double](repeating: 0, count: count)
            let ordered = sampleNames.flatMap { carriersBySample[$0] ?? [] }
            for carrier in ordered {
                let o = start[carrier.channel]!
                for b in 0..<binCounts[carrier.channel] { nominalSum[o + b] += carrier.sample.data[b] }
            }
            for carrier in ordered {
                let o = start[carrier.channel]!
                for b in 0..<binCounts[carrier.channel] {
                    let d = carrier.delta[b]
                    deltaSquared[o + b] += d * d
                    if nominalSum[o + b] > 0 {
                        let r = d / nominalSum[o + b]
                        relative[o + b] += r * r
                    }
                }
            }
            var sigmas = relative.map { $0.squareRoot() }
            // pyhf freezes bins with σ = 0 and sets σ = 1 there so that the constraint stays finite.
            let fixed = sigmas.map { $0 == 0 }
            sigmas = sigmas.map { $0 == 0 ? 1 : $0 }
            staterrorLayouts[key.name] = StaterrorLayout(start: start, nominalSum: nominalSum, deltaSquared: deltaSquared)
            requirementsByKind[.staterror, default: []].append((key.name, ParameterRequirement(
                type: .normal, count: sigmas.count, isScalar: false, inits: .value(Array(repeating: 1, count: sigmas.count)),
                bounds: .value(Array(repeating: 1e-10...10, count: sigmas.count)), auxdata: .value(Array(repeating: 1, count: sigmas.count)),
                factors: .undefined, sigmas: .value(sigmas), fixed: fixed)))
        }

        // 3. One set per name, in type order then first appearance; requirements must agree.
        var orderedNames: [String] = []
        var requirementLists: [String: [ParameterRequirement]] = [:]
        var kindsByName: [String: [Modifier.Kind]] = [:]
        for kind in Modifier.Kind.modelOrder(requirementsByKind.keys) {
            for (name, requirement) in requirementsByKind[kind] ?? [] {
                if requirementLists[name] == nil { orderedNames.append(name) }
                requirementLists[name, default: []].append(requirement)
                kindsByName[name, default: []].append(kind)
            }
        }
        guard !orderedNames.isEmpty else {
            throw HistFactoryError(.invalidModel, "the model has no parameters (no modifiers on any sample)")
        }
        let userConfigs = Dictionary(uniqueKeysWithValues: measurement.parameters.map { ($0.name, $0) })
        var sets: [ParameterSet] = []
        var auxiliary: [Double] = []
        var normal: [NormalConstraint] = []
        var poisson: [PoissonConstraint] = []
        var nextOffset = 0
        for name in orderedNames {
            let list = requirementLists[name]!
            let kinds = kindsByName[name]!
            if let other = list.dropFirst().first(where: { $0 != list[0] }) {
                _ = other
                throw HistFactoryError(.invalidNameReuse, "the name \"\(name)\" is used by \(kinds.map(\.rawValue).joined(separator: " and ")) modifiers that need different parameters; use distinct modifier names")
            }
            let set = try Self.parameterSet(name: name, requirement: list[0], config: userConfigs[name], kinds: kinds, offset: nextOffset)
            if case .normal(let sigmas) = set.constraint {
                for i in 0..<set.count {
                    normal.append(NormalConstraint(parameter: set.offset + i, auxIndex: auxiliary.count + i, sigma: sigmas[i],
                                                   inverseSigma: 1 / sigmas[i], inverseVariance: 1 / (sigmas[i] * sigmas[i]),
                                                   logNormalization: -Foundation.log(sigmas[i]) - 0.5 * Foundation.log(2 * Double.pi), dynamicIndex: -1))
                }
            } else if case .poisson(let factors) = set.constraint {
                for i in 0..<set.count {
                    poisson.append(PoissonConstraint(parameter: set.offset + i, auxIndex: auxiliary.count + i, factor: factors[i]))
                }
            }
            auxiliary += set.auxdata
            sets.append(set)
            nextOffset += set.count
        }

        for key in sortedPairs where !key.kind.isPyhf && requirementLists[key.name] != nil {
            throw HistFactoryError(.invalidNameReuse, "the \(key.kind) modifier \"\(key.name)\" has the name of a parameter; give it a name of its own")
        }

        // 4. The parameter of interest.
        var poi: Int? = nil
        if !measurement.poi.isEmpty {
            guard let set = sets.first(where: { $0.name == measurement.poi }) else {
                throw HistFactoryError(.invalidModel, "the POI \"\(measurement.poi)\" of measurement \"\(measurement.name)\" is not a parameter of the model; if this is a background-only workspace, apply its signal patch first (efthf --patch patchset.json:NAME, pyhf's PatchSet.apply; efthf inspect WORKSPACE --patch patchset.json lists the patches)")
            }
            guard set.isScalar else {
                throw HistFactoryError(.invalidModel, "the POI \"\(measurement.poi)\" has \(set.count) parameters; a POI must be scalar")
            }
            poi = set.offset
        }

        // 5. Compile every (channel, sample) for evaluation.
        let setByName = Dictionary(uniqueKeysWithValues: sets.map { ($0.name, $0) })
        var compiled: [CompiledSample] = []
        for (c, _) in channelSpecs.enumerated() {
            for sampleName in sampleNames {
                guard let (sample, mods, keys) = lookup[c][sampleName] else { continue }
                var scalars: [ScalarTerm] = []
                var histos: [HistoTerm] = []
                var binTerms: [BinTerm] = []
                // The parameter-dependent modifiers in (name, type) order, compiled by the first one's type.
                let dependents = keys.compactMap { key -> NamedModifier? in
                    mods[key]?.dependent.map { NamedModifier(name: key.name, modifier: $0) }
                }
                var dependent: CompiledDependent? = nil
                if let first = dependents.first {
                    let context = SampleContext(channel: channelNames[c], sample: sampleName, nominal: sample.data,
                                                parameterIndex: { @Sendable name in setByName[name]!.offset })
                    dependent = CompiledDependent(sample: try first.modifier.compile(dependents, in: context), channel: channelNames[c], sampleName: sampleName)
                }
                for key in keys {
                    let mod = mods[key]!
                    if case .dependent = mod.payload { continue }
                    guard let set = setByName[key.name] else { continue }
                    switch (key.kind, mod.payload) {
                    case (.normfactor, _), (.lumi, _):
                        scalars.append(ScalarTerm(parameter: set.offset, interpolation: nil))
                    case (.normsys, .factors(let hi, let lo)):
                        scalars.append(ScalarTerm(parameter: set.offset, interpolation: FactorInterpolation(code: interpolation.normsys, up: hi, down: lo)))
                    case (.histosys, .templates(let hi, let lo)):
                        histos.append(HistoTerm(parameter: set.offset, code: interpolation.histosys,
                                                up: zip(hi, sample.data).map { $0 - $1 }, down: zip(sample.data, lo).map { $0 - $1 }))
                    case (.shapesys, _):
                        binTerms.append(BinTerm(parameters: Array(set.indices)))
                    case (.staterror, _):
                        // The set's parameters run over the carrying channels' bins in order.
                        let before = staterrorLayouts[key.name]?.start[c] ?? 0
                        binTerms.append(BinTerm(parameters: (0..<binCounts[c]).map { set.offset + before + $0 }))
                    case (.shapefactor, _):
                        // pyhf indexes shapefactor parameters by the bin's position within its channel;
                        // a bin beyond the set's size reads parameter 0 of the model (pyhf's dummy index).
                        binTerms.append(BinTerm(parameters: (0..<binCounts[c]).map { $0 < set.count ? set.offset + $0 : 0 }))
                    default:
                        preconditionFailure("modifier payload does not match its type")
                    }
                }
                compiled.append(CompiledSample(channel: channelNames[c], sample: sampleName, binStart: channelOffsets[c], binCount: binCounts[c], nominal: sample.data,
                                               scalars: scalars, histos: histos, binTerms: binTerms, dependent: dependent))
            }
        }

        // 6. Staterror widths that follow the parameter-dependent samples (Specs/eft-extension.md §8.2):
        // for every such sample with an MC variance that carries a staterror, its δ² and ν⁰ leave the
        // static sums and come back at the current point.
        var dynamic: [DynamicStaterror] = []
        var morphCounter = 0
        var entryCounter = 0
        var contributions: [Int: [(morph: Int, bin: Int, delta: Double)]] = [:]  // by parameter index
        var removed: [Int: (variance: Double, nominal: Double, layout: StaterrorLayout, component: Int)] = [:]
        for (c, _) in channelSpecs.enumerated() {
            for sampleName in sampleNames {
                guard let (sample, mods, _) = lookup[c][sampleName] else { continue }
                defer { entryCounter += 1 }
                guard let dependent = compiled[entryCounter].dependent else { continue }
                defer { morphCounter += 1 }
                guard dependent.sample.hasVariance else { continue }
                for (key, mod) in mods where key.kind == .staterror {
                    guard case .uncertainties(let delta) = mod.payload, let set = setByName[key.name],
                          userConfigs[key.name]?.sigmas == nil, let layout = staterrorLayouts[key.name], let before = layout.start[c] else { continue }
                    for b in 0..<binCounts[c] where !set.fixed[before + b] {
                        let parameter = set.offset + before + b
                        contributions[parameter, default: []].append((morphCounter, b, delta[b]))
                        let previous = removed[parameter] ?? (0, 0, layout, before + b)
                        removed[parameter] = (previous.variance + delta[b] * delta[b], previous.nominal + sample.data[b], layout, before + b)
                    }
                }
            }
        }
        for (k, constraint) in normal.enumerated() {
            guard let parts = contributions[constraint.parameter], let gone = removed[constraint.parameter] else { continue }
            dynamic.append(DynamicStaterror(parameter: constraint.parameter, constraint: k,
                                            staticVariance: max(0, gone.layout.deltaSquared[gone.component] - gone.variance),
                                            staticNominal: gone.layout.nominalSum[gone.component] - gone.nominal, contributions: parts))
        }
        for (d, item) in dynamic.enumerated() { normal[item.constraint].dynamicIndex = d }

        self.channels = channelNames
        self.channelBinCounts = binCounts
        self.samples = sampleNames
        self.parameterSets = sets
        self.parameterCount = nextOffset
        self.poiIndex = poi
        self.measurementName = measurement.name
        self.interpolation = interpolation
        self.auxiliaryData = auxiliary
        self.linearYieldParameters = Self.linearYieldParameters(compiled, parameterCount: nextOffset)
        var flat = FlatModel(compiled)
        for d in dynamic { for part in d.contributions { flat.needsVariance[part.morph] = true } }
        self.flat = flat
        self.normalConstraints = normal
        self.dynamicStaterrors = dynamic
        self.poissonConstraints = poisson
    }

    /// Applies the measurement's configuration of a set to the modifiers' requirement.
    private static func parameterSet(name: String, requirement r: ParameterRequirement, config: ParameterConfig?,
                                     kinds: [Modifier.Kind], offset: Int) throws(HistFactoryError) -> ParameterSet {
        func resolve<T>(_ field: ParameterRequirement.Field<[T]>, _ user: [T]?, _ key: String) throws(HistFactoryError) -> [T]? {
            switch field {
            case .undefined:
                if user != nil {
                    throw HistFactoryError(.invalidModel, "parameter \"\(name)\" (\(kinds[0].rawValue)) does not use \"\(key)\"; remove it from the measurement configuration")
                }
                return nil
            case .unset, .value:
                guard let user else {
                    if case .value(let v) = field { return v }
                    return nil
                }
                guard user.count == r.count else {
                    throw HistFactoryError(.invalidModel, "parameter \"\(name)\" has \(r.count) components but its \"\(key)\" configuration gives \(user.count) values")
                }
                return user
            }
        }
        let inits = try resolve(r.inits, config?.inits, "inits")
        let bounds = try resolve(r.bounds, config?.bounds, "bounds")
        let auxdata = try resolve(r.auxdata, config?.auxdata, "auxdata")
        let factors = try resolve(r.factors, config?.factors, "factors")
        let sigmas = try resolve(r.sigmas, config?.sigmas, "sigmas")
        guard let inits, let bounds else {
            throw HistFactoryError(.invalidModel, "parameter \"\(name)\" needs a measurement configuration with \"inits\", \"bounds\", \"auxdata\" (and usually \"sigmas\"); lumi takes them only from there")
        }
        let fixed = config?.fixed.map { Array(repeating: $0, count: r.count) } ?? (r.fixed.count == r.count ? r.fixed : Array(repeating: r.fixed[0], count: r.count))
        let constraint: ParameterSet.Constraint
        switch r.type {
        case .unconstrained:
            constraint = .unconstrained
        case .normal:
            guard auxdata != nil else {
                throw HistFactoryError(.invalidModel, "parameter \"\(name)\" needs \"auxdata\" in the measurement configuration")
            }
            constraint = .normal(sigmas: sigmas ?? Array(repeating: 1, count: r.count))
        case .poisson:
            guard let factors, let auxdata, factors.allSatisfy({ $0 > 0 }), auxdata.allSatisfy({ $0 >= 0 }) else {
                throw HistFactoryError(.invalidValue, "parameter \"\(name)\": Poisson constraint factors must be positive and auxdata non-negative")
            }
            constraint = .poisson(factors: factors)
        }
        for (i, value) in inits.enumerated() where !value.isFinite {
            throw HistFactoryError(.invalidValue, "parameter \"\(name)\" init \(i) is not finite")
        }
        return ParameterSet(name: name, offset: offset, count: r.count, isScalar: r.isScalar, inits: inits, bounds: bounds, fixed: fixed,
                            constraint: constraint, auxdata: r.type == .unconstrained ? [] : auxdata ?? [], modifierKinds: kinds)
    }
}
