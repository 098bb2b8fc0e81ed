import EFTJSON
import EventDatabase
import Foundation
import Morphing

/// efthf's `event_database` modifier (extended workspaces; Specs/event-database.md): a sample's
/// nominal is the reweighted, binned content of an HDF5 event database,
///
/// ```
/// ν⁰_b(c) = n · Σ_{e ∈ b, selected} w_e(c),   w_e(c) = Σ_t a_et m_t(c)
/// var_b(c) = n² · Σ_{e ∈ b} w_e(c)²  = n² Σ_{t≤u} m_t m_u (2 − δ_tu) Σ_e a_et a_eu
/// ```
///
/// With static binning this is exactly a coefficient-form morphing modifier whose term templates
/// are the per-bin coefficient sums and whose MC variance is the exact Σw² at every point, so it is
/// read as that modifier and shares its evaluation, gradients and policies. `data`:
/// `{"file": path relative to the workspace, "observable", "edges", "flow"?: "drop"|"fold",
/// "selection"?: [{"observable", "lower"?, "upper"?}], "normalisation"?: number,
/// "negative_yields"?: policy}`. The sample's own `data` must equal the projected SM yields.
extension SpecReader {
    func eventDatabase(_ data: JSON, at p: JSONPointer, name: String, sampleData: [Double]) throws(HistFactoryError) -> MorphingModifier {
        let o = try object(data, at: p, required: ["file", "observable", "edges"], optional: ["flow", "selection", "normalisation", "negative_yields"])
        let relative = try string(o["file"]!, at: p.appending("file"))
        let path = relative.hasPrefix("/") || baseDirectory == nil ? relative : baseDirectory! + "/" + relative
        let observable = try string(o["observable"]!, at: p.appending("observable"))
        let edges = try numbers(o["edges"]!, at: p.appending("edges"))
        guard edges.count == sampleData.count + 1 else {
            throw HistFactoryError(.invalidModel, "\(edges.count) edges make \(edges.count - 1) bins but the sample has \(sampleData.count)", path: p.appending("edges"))
        }
        var flow = Binning.Flow.drop
        if let f = o["flow"] {
            switch try string(f, at: p.appending("flow")) {
            case "drop": flow = .drop
            case "fold": flow = .foldIntoEdgeBins
            case let other: throw HistFactoryError(.schema, "flow must be \"drop\" or \"fold\", found \"\(other)\"", path: p.appending("flow"))
            }
        }
        var cuts: [Selection.Cut] = []
        if let s = o["selection"] {
            for (k, cut) in try array(s, at: p.appending("selection"), nonEmpty: false).enumerated() {
                let cp = p.appending("selection").appending(k)
                let c = try object(cut, at: cp, required: ["observable"], optional: ["lower", "upper"])
                cuts.append(Selection.Cut(observable: try string(c["observable"]!, at: cp.appending("observable")),
                                          lower: try c["lower"].map { v throws(HistFactoryError) in try number(v, at: cp.appending("lower")) } ?? -.infinity,
                                          upper: try c["upper"].map { v throws(HistFactoryError) in try number(v, at: cp.appending("upper")) } ?? .infinity))
            }
        }
        let normalisation = try o["normalisation"].map { v throws(HistFactoryError) in try number(v, at: p.appending("normalisation")) } ?? 1
        guard normalisation > 0 else { throw HistFactoryError(.invalidValue, "normalisation must be positive", path: p.appending("normalisation")) }
        var policy = MorphingModifier.NegativeYieldPolicy.error
        if let v = o["negative_yields"] {
            let s = try string(v, at: p.appending("negative_yields"))
            guard let parsed = MorphingModifier.NegativeYieldPolicy(rawValue: s) else {
                throw HistFactoryError(.schema, "negative_yields must be error, clip or allow, found \"\(s)\"", path: p.appending("negative_yields"))
            }
            policy = parsed
        }

        let templates: MorphingTemplates
        do {
            let database = try EventDatabase(contentsOf: URL(fileURLWithPath: path))
            let projection = try database.projection(binning: Binning(observable: observable, edges: edges, flow: flow), selection: Selection(cuts))
            templates = try Self.scaled(projection.templates, by: normalisation)
        } catch let error as EventDatabaseError {
            throw HistFactoryError(.invalidModel, "event database \"\(name)\": \(error)", path: p)
        } catch {
            throw HistFactoryError(.invalidModel, "event database \"\(name)\": \(error)", path: p)
        }
        let sm = templates.yields.yields(at: Array(repeating: 0, count: templates.yields.coefficientCount))
        for b in sampleData.indices where abs(sm[b] - sampleData[b]) > 1e-9 * max(1, abs(sampleData[b])) {
            throw HistFactoryError(.invalidModel, "the sample's data (\(JSON.pythonRepr(sampleData[b])) in bin \(b)) differs from the event database's SM yield \(JSON.pythonRepr(sm[b]))", path: p)
        }
        return MorphingModifier(coefficients: templates.yields.coefficientNames, form: .absolute, templates: templates, truncation: nil,
                                negativeYields: policy, conditionNumber: nil, source: data)
    }

    /// Templates × n and variance × n².
    private static func scaled(_ t: MorphingTemplates, by n: Double) throws -> MorphingTemplates {
        guard n != 1 else { return t }
        let y = t.yields
        let yields = try PolynomialTemplates(coefficientNames: y.coefficientNames, binCount: y.binCount, monomials: y.monomials,
                                             templates: (0..<y.termCount).map { y.template(ofTerm: $0).map { $0 * n } })
        let variance = try t.monteCarloVariance.map { v in
            try MonteCarloVariance(coefficientNames: v.coefficientNames, termMonomials: v.termMonomials, binCount: v.binCount,
                                   pairs: v.pairs.map { ($0.first, $0.second, $0.weights.map { $0 * n * n }) })
        }
        return try MorphingTemplates(yields: yields, monteCarloVariance: variance)
    }
}
