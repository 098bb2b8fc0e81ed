import EFTJSON
import EventDatabase
import Foundation
import HistFactory
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
/// "negative_yields"?: policy, "systematics"?: [{"name", "type": "weight"|"shift", "parameter"}],
/// "smoothing_width"?: h}`. The sample's own `data` must equal the SM yields (c = 0, θ = 0).
///
/// With `systematics`, each entry's `parameter` is a normal-constrained nuisance parameter θ_k (as
/// for histosys: aux 0, σ 1, shared by name with other modifiers) and the template is evaluated per
/// event at every point by ``SmoothedReweightingKernel`` (weights w_e(c)·f_e(θ), observables
/// x_e(θ), logistic bin assignment of width h; required > 0 when a shift is declared).
extension SpecReader {
    func eventDatabase(_ data: JSON, at p: JSONPointer, name: String, sampleData: [Double], memory: EventMemoryBudget?) throws(HistFactoryError) -> MorphingModifier {
        let o = try object(data, at: p, required: ["file", "observable", "edges"], optional: ["flow", "selection", "normalisation", "negative_yields", "systematics", "smoothing_width"])
        let relative = try string(o["file"]!, at: p.appending("file"))
        let path = resolve(relative)
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
        let policy = try negativeYieldPolicy(o["negative_yields"], at: p.appending("negative_yields"))

        let (systematics, parameters) = try eventSystematics(o["systematics"], at: p.appending("systematics"))
        let width = try o["smoothing_width"].map { v throws(HistFactoryError) in try number(v, at: p.appending("smoothing_width")) } ?? 0
        guard width >= 0 else {
            throw HistFactoryError(.invalidValue, "smoothing_width must be ≥ 0 (in the unit of \(observable)), found \(JSON.pythonRepr(width))", path: p.appending("smoothing_width"))
        }
        if width == 0, let k = systematics.firstIndex(where: { $0.kind == .shift }) {
            throw HistFactoryError(
                .invalidModel, "shift systematic \"\(systematics[k].name)\" needs a positive smoothing_width (a sharp histogram is piecewise constant in its parameter)",
                path: p.appending("smoothing_width"))
        }

        let templates: MorphingTemplates
        var events: EventSampleModel? = nil
        do {
            // Only the columns this sample uses are read, once per file however many samples use it,
            // and streamed when they do not fit the memory budget.
            let file = try EventFile(contentsOf: URL(fileURLWithPath: path), memory: memory)
            let binning = try Binning(observable: observable, edges: edges, flow: flow)
            let projection = try file.projection(binning: binning, selection: Selection(cuts))
            templates = try Self.scaled(projection.templates, by: normalisation)
            if !systematics.isEmpty || width > 0 {
                do throws(EventDatabaseError) {
                    let kernel = try SmoothedReweightingKernel(
                        file: file, binning: binning, selection: Selection(cuts), systematics: systematics,
                        smoothingWidth: width, normalisation: normalisation)
                    events = EventSampleModel(kernel: kernel, parameters: parameters)
                } catch {
                    // Point at the declaration that names what the file lacks.
                    let k = systematics.firstIndex { error.dataset?.hasSuffix("/" + $0.name) == true || error.dataset?.contains("/" + $0.name + "/") == true }
                    let where_ = k.map { p.appending("systematics").appending($0) } ?? p
                    let located = EventDatabaseError(error.code, error.message, file: path, dataset: error.dataset)
                    throw HistFactoryError(.invalidModel, "event database \"\(name)\": \(located)", path: where_, underlying: located)
                }
            }
        } catch let error as HistFactoryError {
            throw error
        } catch let error as EventDatabaseError {
            throw HistFactoryError(.invalidModel, "event database \"\(name)\": \(error)", path: p, underlying: error)
        } catch {
            throw HistFactoryError(.invalidModel, "event database \"\(name)\": \(error)", path: p)
        }
        let zero = [Double](repeating: 0, count: templates.yields.coefficientCount)
        var sm = templates.yields.yields(at: zero)
        if let events {
            // For a streamed kernel also the pass that checks its columns for NaN and infinities.
            do throws(EventDatabaseError) {
                sm = try events.kernel.checkedEvaluation(coefficients: zero, nuisance: parameters.map { _ in 0 }, jacobian: false).yields
            } catch {
                throw HistFactoryError(.invalidModel, "event database \"\(name)\": \(error)", path: p, underlying: error)
            }
        }
        for b in sampleData.indices where abs(sm[b] - sampleData[b]) > 1e-9 * max(1, abs(sampleData[b])) {
            let what = width > 0 ? "smoothed (h = \(JSON.pythonRepr(width))) SM yield" : "SM yield"
            throw HistFactoryError(.invalidModel, "the sample's data (\(JSON.pythonRepr(sampleData[b])) in bin \(b)) differs from the event database's \(what) \(JSON.pythonRepr(sm[b]))", path: p)
        }
        return MorphingModifier(coefficients: templates.yields.coefficientNames, form: .absolute, templates: templates, truncation: nil,
                                negativeYields: policy, conditionNumber: nil, source: data, events: events)
    }

    /// The `systematics` list: `[{"name", "type": "weight"|"shift", "parameter"}]`.
    private func eventSystematics(_ json: JSON?, at p: JSONPointer) throws(HistFactoryError) -> ([EventSystematic], [String]) {
        guard let json else { return ([], []) }
        var systematics: [EventSystematic] = []
        var parameters: [String] = []
        for (k, entry) in try array(json, at: p, nonEmpty: false).enumerated() {
            let ep = p.appending(k)
            let e = try object(entry, at: ep, required: ["name", "type", "parameter"], optional: [])
            let name = try string(e["name"]!, at: ep.appending("name"))
            let typeName = try string(e["type"]!, at: ep.appending("type"))
            guard let kind = EventSystematic.Kind(rawValue: typeName) else {
                throw HistFactoryError(.schema, "a systematic's type must be \"weight\" or \"shift\", found \"\(typeName)\"", path: ep.appending("type"))
            }
            let parameter = try string(e["parameter"]!, at: ep.appending("parameter"))
            guard !name.isEmpty, !parameter.isEmpty else {
                throw HistFactoryError(.schema, "a systematic needs a non-empty name and parameter", path: ep)
            }
            let systematic = EventSystematic(name: name, kind: kind)
            if systematics.contains(systematic) {
                throw HistFactoryError(.schema, "the \(typeName) systematic \"\(name)\" is declared twice", path: ep)
            }
            if let j = systematics.indices.first(where: { systematics[$0].kind == kind && parameters[$0] == parameter }) {
                throw HistFactoryError(.schema, "parameter \"\(parameter)\" drives two \(typeName) systematics (\(systematics[j].name), \(name)) of one sample", path: ep.appending("parameter"))
            }
            systematics.append(systematic)
            parameters.append(parameter)
        }
        return (systematics, parameters)
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

/// An event-database sample evaluated per event at every point (declared systematics or smoothing):
/// its template and MC variance come from ``kernel`` rather than from the static projection.
public struct EventSampleModel: Sendable {
    public let kernel: SmoothedReweightingKernel
    /// The model parameter θ_k of each of `kernel.systematics`.
    public let parameters: [String]
}
