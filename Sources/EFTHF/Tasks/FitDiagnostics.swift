import Dispatch
import EFTJSON
import EFTModifiers
import Foundation
import HistFactory
import Inference

/// The saturated-model goodness of fit (Baker & Cousins 1984; cabinetry's `fit._goodness_of_fit`):
///
/// ```
/// −2 ln λ_sat = 2NLL(θ̂) − 2NLL_sat,
/// 2NLL_sat = −2 [Σ_b ln Pois(n_b | n_b) + ln C(a | θ₀)]
/// ndf = main bins − free unconstrained parameters,  p = P(χ²_ndf > −2 ln λ_sat)
/// ```
///
/// The saturated model puts every expected yield at its observed count and every constrained
/// parameter at its auxiliary datum (the model's inits), where each term is largest.
public struct GoodnessOfFit: Sendable, Codable, Equatable {
    /// −2 ln λ_sat.
    public let twiceDeltaNLL: Double
    /// 2NLL of the saturated model.
    public let saturatedTwiceNLL: Double
    public let degreesOfFreedom: Int
    /// P(χ²_ndf > −2 ln λ_sat); NaN when ndf < 1.
    public let pValue: Double

    enum CodingKeys: String, CodingKey {
        case twiceDeltaNLL = "twice_delta_nll", saturatedTwiceNLL = "saturated_twice_nll", degreesOfFreedom = "ndf", pValue = "p_value"
    }

    /// The test of `fit` (made on `loaded`'s data).
    public init(fit: FitResult, loaded: LoadedModel) {
        let model = loaded.model, data = loaded.data
        let inits = model.suggestedInits
        // ln C(a | θ₀): the model's log L at the inits minus its main Poisson terms there.
        let nu = model.expectedMainData(inits)
        let mainAtInits = zip(data.main, nu).reduce(0.0) { $0 + Self.logPoisson($1.0, $1.1) }
        let constraint = model.logLikelihood(inits, data: data) - mainAtInits
        let saturatedMain = data.main.reduce(0.0) { $0 + Self.logPoisson($1, $1) }
        saturatedTwiceNLL = -2 * (saturatedMain + constraint)
        twiceDeltaNLL = fit.twiceNLL - saturatedTwiceNLL
        let table = ParameterTable(model: model).parameters
        let freeUnconstrained = (0..<model.parameterCount).filter { !fit.fixed[$0] && table[$0].width == nil }.count
        degreesOfFreedom = data.main.count - freeUnconstrained
        pValue = chiSquaredSurvival(max(twiceDeltaNLL, 0), degreesOfFreedom: degreesOfFreedom)
    }

    /// ln Pois(n | ν) = n ln ν − ν − ln Γ(n + 1), with 0 ln 0 = 0 (continuous n, as pyhf).
    static func logPoisson(_ n: Double, _ nu: Double) -> Double {
        (n == 0 ? 0 : n * Foundation.log(nu)) - nu - lgamma(n + 1)
    }
}

extension YieldsTask {
    /// The yields of a fit's plots and tables (cabinetry's pre- and post-fit models): pre-fit at
    /// the inits with the band of the constraint widths (``Band/constraints``), post-fit at θ̂ with
    /// the band of the fit's covariance (nil without one: a fit without uncertainties).
    public static func fitYields(_ loaded: LoadedModel, fit: FitResult) throws(HistFactoryError) -> (prefit: YieldsReport, postfit: YieldsReport) {
        let prefit = try YieldsTask(band: .constraints).run(on: loaded)
        var sigma: [Double]? = nil
        if let V = fit.covariance {
            let free = fit.fixed.indices.filter { !fit.fixed[$0] }
            sigma = try totalUncertainty(.covariance(parameters: free.map { fit.parameterNames[$0] }, matrix: free.map { i in free.map { V[i][$0] } }),
                                         model: loaded.model, at: fit.values)
        }
        let postfit = YieldsReport(model: loaded.model, data: loaded.data, at: fit.values, totalUncertainty: sigma,
                                   binning: YieldsReport.binEdges(loaded.workspace))
        return (prefit, postfit)
    }
}

extension YieldsReport {
    /// The bin edges of each channel that has an event-database modifier (its `observable` and
    /// `edges`, Specs/event-database.md); the first such modifier of the channel wins.
    public static func binEdges(_ workspace: Workspace) -> [String: (observable: String, edges: [Double])] {
        var out: [String: (observable: String, edges: [Double])] = [:]
        for channel in workspace.channels {
            for sample in channel.samples {
                for modifier in sample.modifiers where out[channel.name] == nil {
                    guard let morphing = modifier.dependent as? MorphingModifier, morphing.source["file"] != nil,
                          let edges = morphing.source["edges"]?.arrayValue?.compactMap(\.doubleValue), edges.count >= 2
                    else { continue }
                    out[channel.name] = (morphing.source["observable"]?.stringValue ?? "observable", edges)
                }
            }
        }
        return out
    }
}

/// The ranking of nuisance parameters by their impact on a parameter of interest (cabinetry's
/// `fit.ranking`; CMS Combine's impacts): for each free constrained parameter θ_k, the fit is
/// redone with θ_k fixed at θ̂_k ± σ̂_k (post-fit impact) and at θ̂_k ± σ₀_k (pre-fit impact), and
/// the impact is the shift of the POI, Δμ = μ̂(θ_k fixed) − μ̂. Each refit starts at the best fit.
public struct RankingTask: Sendable, Codable, Equatable {
    /// The parameter whose shifts are ranked; nil: the measurement's POI.
    public var poi: String?
    /// Wilson coefficients to float (the others fixed at 0), as ``FitTask/ops``.
    public var ops: [String]?
    /// Parameters held at values.
    public var fix: ParameterValues

    /// Most nuisance parameters ranked (4 refits each).
    public static let maximumParameters = 2_000

    public init(poi: String? = nil, ops: [String]? = nil, fix: ParameterValues = ParameterValues()) {
        self.poi = poi
        self.ops = ops
        self.fix = fix
    }

    /// The ranking; `cancellation` stops it (``InferenceError/Code/cancelled``).
    public func run(on loaded: LoadedModel, progress: ProgressHandler? = nil, cancellation: Cancellation? = nil) throws -> RankingReport {
        try loaded.checkingEvaluations {
            let model = loaded.model
            let fitTask = FitTask(ops: ops, fix: fix, multistart: .auto)
            var options = try fitTask.options(for: model)
            options.cancellation = cancellation
            guard let poiName = poi ?? model.poiName else {
                throw InferenceError(.invalidOptions, "measurement \"\(model.measurementName)\" has no POI; name the parameter to rank impacts on (--poi)")
            }
            let p = try model.parameterIndex(named: poiName)
            let best = try model.fit(loaded.data, options: options)
            guard best.status.isConverged else {
                throw InferenceError(.failedMinimization, "the best fit did not converge (\(best.status)); no ranking")
            }
            guard let sigmas = best.uncertainties else {
                throw InferenceError(.failedMinimization, "the best fit has no Hessian uncertainties; the post-fit impacts need σ̂")
            }
            guard !best.fixed[p] else { throw InferenceError(.invalidOptions, "\(poiName) is fixed in this fit; rank impacts on a free parameter") }
            let widths = ParameterTable(model: model).parameters.map { e in e.width.map { (centre: e.centre ?? 0, width: $0) } }
            let ranked = (0..<model.parameterCount).filter { $0 != p && !best.fixed[$0] && widths[$0] != nil }
            guard ranked.count <= Self.maximumParameters else {
                throw InferenceError(.invalidOptions, "\(ranked.count) constrained parameters to rank; the limit is \(Self.maximumParameters)")
            }
            // Local refits from the best fit: the minimum moves little when one parameter is held.
            options.multiStart = nil
            options.computeUncertainties = false
            options.initialValues = best.values
            let fixedBase = options.fixed ?? model.suggestedFixed
            let bounds = options.bounds ?? model.suggestedBounds
            let refits = ranked.flatMap { i in
                [best.values[i] + sigmas[i], best.values[i] - sigmas[i], best.values[i] + widths[i]!.width, best.values[i] - widths[i]!.width].map { (i, $0) }
            }
            let total = refits.count
            let results = Locked([Double?](repeating: nil, count: total))
            let failures = Locked([String?](repeating: nil, count: total))
            let done = Locked(0)
            let base = options
            DispatchQueue.concurrentPerform(iterations: total) { k in
                let (i, raw) = refits[k]
                let value = min(max(raw, bounds[i].lowerBound), bounds[i].upperBound)
                var o = base
                var fixed = fixedBase
                fixed[i] = true
                o.fixed = fixed
                var start = best.values
                start[i] = value
                o.initialValues = start
                do {
                    let r = try model.fit(loaded.data, options: o)
                    if r.status.isConverged { results.update { $0[k] = r.values[p] } } else { failures.update { $0[k] = "\(r.status)" } }
                } catch {
                    failures.update { $0[k] = "\(error)" }
                }
                // Under the lock: progress reports are serialised (``ProgressHandler``).
                done.update { count in
                    count += 1
                    progress?(count, total)
                }
            }
            try cancellation?.check()
            let shifts = results.value.map { $0.map { $0 - best.values[p] } }
            let labels = ["post-fit +σ̂", "post-fit −σ̂", "pre-fit +σ₀", "pre-fit −σ₀"]
            var entries = ranked.enumerated().map { n, i in
                let w = widths[i]!
                let s = (0..<4).map { shifts[4 * n + $0] }
                let failed = (0..<4).compactMap { j in failures.value[4 * n + j].map { "\(labels[j]): \($0)" } }
                return RankingReport.Entry(name: best.parameterNames[i], bestFit: best.values[i], uncertainty: sigmas[i],
                                           pull: (best.values[i] - w.centre) / w.width, constraint: sigmas[i] / w.width,
                                           postfitImpact: [s[0], s[1]], prefitImpact: [s[2], s[3]], failures: failed.isEmpty ? nil : failed)
            }
            entries.sort { $0.sortKey > $1.sortKey || ($0.sortKey == $1.sortKey && $0.name < $1.name) }
            return RankingReport(poi: poiName, bestFit: best.values[p], uncertainty: sigmas[p], twiceNLL: best.twiceNLL, parameters: entries)
        }
    }
}

/// The result of a ``RankingTask``: the POI's best fit and the ranked parameters, largest
/// post-fit impact first.
public struct RankingReport: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public let name: String
        public let bestFit: Double
        public let uncertainty: Double
        /// (θ̂ − θ₀)/σ₀.
        public let pull: Double
        /// σ̂/σ₀.
        public let constraint: Double
        /// Δμ with the parameter at θ̂ + σ̂ and θ̂ − σ̂ (nil: that refit failed).
        public let postfitImpact: [Double?]
        /// Δμ with the parameter at θ̂ + σ₀ and θ̂ − σ₀.
        public let prefitImpact: [Double?]
        public let failures: [String]?

        /// The ranking key: the larger |post-fit impact| (a failed side counts as 0).
        var sortKey: Double { postfitImpact.map { abs($0 ?? 0) }.max() ?? 0 }

        enum CodingKeys: String, CodingKey {
            case name, bestFit = "best_fit", uncertainty, pull, constraint, postfitImpact = "postfit_impact", prefitImpact = "prefit_impact", failures
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(bestFit, forKey: .bestFit)
            try c.encode(uncertainty, forKey: .uncertainty)
            try c.encode(pull, forKey: .pull)
            try c.encode(constraint, forKey: .constraint)
            // Both sides always, null for a failed refit.
            for (key, pair) in [(CodingKeys.postfitImpact, postfitImpact), (.prefitImpact, prefitImpact)] {
                var a = c.nestedUnkeyedContainer(forKey: key)
                for x in pair { if let x { try a.encode(x) } else { try a.encodeNil() } }
            }
            try c.encodeIfPresent(failures, forKey: .failures)
        }
    }

    public let poi: String
    public let bestFit: Double
    public let uncertainty: Double
    public let twiceNLL: Double
    public let parameters: [Entry]

    enum CodingKeys: String, CodingKey {
        case poi, bestFit = "best_fit", uncertainty, twiceNLL = "twice_nll", parameters
    }
}

/// A value shared by concurrent workers, guarded by a lock.
final class Locked<Value: Sendable>: @unchecked Sendable {
    // Sound: every access to `stored` holds `lock`.
    private var stored: Value
    private let lock = NSLock()

    init(_ value: Value) { stored = value }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    @discardableResult
    func update<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&stored)
    }
}
