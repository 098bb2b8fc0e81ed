import EFTJSON
import HistFactory

/// Every modifier of every sample with the size of its effect (the explorer's systematic table):
/// what each one does to its sample's yield at one standard deviation of its parameter.
///
/// - normsys: the factors `hi`, `lo` at α = ±1; effect `max(|hi − 1|, |lo − 1|)`.
/// - histosys: the relative shifts per bin `(t^±_b − ν_b)/ν_b` of the templates at α = ±1 (null
///   where ν_b = 0); effect the largest |shift|.
/// - staterror: per bin the relative width of the shared γ_b, `√(Σ_s δ_sb²)/Σ_s ν_sb` over the samples
///   of the channel that carry it (pyhf's σ of the γ constraint, as the lint's
///   `large_mc_stat_uncertainty`); shapesys: the sample's `δ_b/ν_b` (the 1/√τ of its Poisson
///   constraint). Effect the largest.
/// - lumi: the constraint's relative width σ/λ₀ (the measurement's `sigmas` and `auxdata`).
/// - normfactor, shapefactor and EFT modifiers: no effect at "one σ" (unconstrained): null.
public struct SystematicsTable: Sendable, Codable {
    public struct Entry: Sendable, Codable, Equatable {
        public let channel: String
        public let sample: String
        public let name: String
        public let type: String
        /// normsys.
        public var hi: Double? = nil
        public var lo: Double? = nil
        /// histosys: (t^±_b − ν_b)/ν_b.
        public var relativeHi: [Double?]? = nil
        public var relativeLo: [Double?]? = nil
        /// staterror, shapesys: relative width per bin.
        public var relative: [Double?]? = nil
        /// The largest relative change of the sample's yield at ±1σ; nil for unconstrained modifiers.
        public var effect: Double? = nil

        enum CodingKeys: String, CodingKey {
            case channel, sample, name, type, hi, lo, relativeHi = "relative_hi", relativeLo = "relative_lo", relative, effect
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(channel, forKey: .channel)
            try c.encode(sample, forKey: .sample)
            try c.encode(name, forKey: .name)
            try c.encode(type, forKey: .type)
            try c.encodeIfPresent(hi, forKey: .hi)
            try c.encodeIfPresent(lo, forKey: .lo)
            for (key, values) in [(CodingKeys.relativeHi, relativeHi), (.relativeLo, relativeLo), (.relative, relative)] {
                guard let values else { continue }
                var a = c.nestedUnkeyedContainer(forKey: key)
                for v in values { if let v { try a.encode(v) } else { try a.encodeNil() } }
            }
            // Always present, null when the modifier has no constrained size.
            if let effect { try c.encode(effect, forKey: .effect) } else { try c.encodeNil(forKey: .effect) }
        }
    }

    public let modifiers: [Entry]

    /// - Complexity: O(channels · samples · modifiers · bins).
    public init(workspace: Workspace, model: HistFactoryModel) {
        let table = ParameterTable(model: model).parameters
        var entries: [Entry] = []
        for channel in workspace.channels {
            // staterror: per name, Σ δ² and Σ ν over the samples that carry it.
            var stat: [String: (delta2: [Double], nominal: [Double])] = [:]
            for sample in channel.samples {
                for m in sample.modifiers where m.kind == .staterror {
                    guard case .uncertainties(let delta) = m.payload else { continue }
                    var g = stat[m.name] ?? (Array(repeating: 0, count: channel.binCount), Array(repeating: 0, count: channel.binCount))
                    for b in delta.indices where b < channel.binCount && b < sample.data.count {
                        g.delta2[b] += delta[b] * delta[b]
                        g.nominal[b] += sample.data[b]
                    }
                    stat[m.name] = g
                }
            }
            for sample in channel.samples {
                let nominal = sample.data
                func relative(_ values: [Double], _ f: (Int, Double) -> Double?) -> [Double?] { values.enumerated().map { f($0.offset, $0.element) } }
                func largest(_ values: [Double?]...) -> Double? { values.joined().compactMap { $0.map(abs) }.max() }
                for m in sample.modifiers {
                    var e = Entry(channel: channel.name, sample: sample.name, name: m.name, type: m.kind.rawValue)
                    switch (m.kind, m.payload) {
                    case (.normsys, .factors(let hi, let lo)):
                        e.hi = hi
                        e.lo = lo
                        e.effect = max(abs(hi - 1), abs(lo - 1))
                    case (.histosys, .templates(let hi, let lo)):
                        let shift = { (b: Int, t: Double) -> Double? in b < nominal.count && nominal[b] != 0 ? (t - nominal[b]) / nominal[b] : nil }
                        e.relativeHi = relative(hi, shift)
                        e.relativeLo = relative(lo, shift)
                        e.effect = largest(e.relativeHi!, e.relativeLo!)
                    case (.staterror, .uncertainties):
                        let g = stat[m.name]!
                        e.relative = (0..<channel.binCount).map { b in g.nominal[b] > 0 ? g.delta2[b].squareRoot() / g.nominal[b] : nil }
                        e.effect = largest(e.relative!)
                    case (.shapesys, .uncertainties(let delta)):
                        e.relative = relative(delta) { b, d in b < nominal.count && nominal[b] > 0 ? d / nominal[b] : nil }
                        e.effect = largest(e.relative!)
                    case (.lumi, _):
                        if let p = table.first(where: { $0.name == m.name }), let width = p.width, let centre = p.centre, centre != 0 {
                            e.effect = width / abs(centre)
                        }
                    default:
                        break
                    }
                    entries.append(e)
                }
            }
        }
        modifiers = entries
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(modifiers)
    }

    public init(from decoder: any Decoder) throws {
        modifiers = try decoder.singleValueContainer().decode([Entry].self)
    }
}
