import EFTHF
import Foundation
import Plots

/// Each sample's expected yields per channel at a point, from the model's own evaluation
/// (``HistFactoryModel/expectedSampleData(_:)``).
struct SampleYields {
    let full: HistFactoryModel

    init(model: HistFactoryModel) {
        full = model
    }

    /// Per channel (model order), each sample's expected yields at `point` (full-model order).
    func yields(at point: [Double]) -> [(channel: String, samples: [Histogram])] {
        let expected = full.expectedSampleData(point)
        return full.channels.map { channel in
            (channel, expected.filter { $0.channel == channel }.map { Histogram(label: $0.sample, values: $0.yields) })
        }
    }
}

/// The SVG plots of a fit: pre- and post-fit yields per channel (with their uncertainty bands
/// and data/prediction ratios), pulls, correlations, and the morphed samples at several
/// Wilson-coefficient points.
enum FitPlots {
    /// Writes the plots into `directory` (created if needed) and returns the files written.
    /// `logY`: logarithmic yields axes.
    @discardableResult
    static func write(_ result: FitResult, loaded: LoadedModel, logY: Bool = false, to directory: String) throws(HistFactoryError) -> [String] {
        let workspace = loaded.workspace, model = loaded.model
        var files: [String] = []
        func save(_ name: String, _ svg: String) throws(HistFactoryError) {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            try writeAtomically(svg, to: path)
            files.append(path)
        }
        let yields = SampleYields(model: model)
        let (prefit, postfit) = try YieldsTask.fitYields(loaded, fit: result)
        for (stage, report) in [("pre-fit", prefit), ("post-fit", postfit)] {
            for channel in report.channels {
                let panel = YieldsPanel(title: "\(channel.name): \(stage)", samples: channel.samples.entries.map { Histogram(label: $0.name, values: $0.value) },
                                        data: channel.observed, binEdges: channel.binEdges, xLabel: channel.observable,
                                        uncertainty: channel.totalUncertainty, bandLabel: stage == "pre-fit" ? "Pre-fit uncertainty" : "Post-fit uncertainty",
                                        colorOrder: model.samples)
                try save("yields_\(stage.replacingOccurrences(of: "-", with: ""))_\(fileName(channel.name)).svg", Plot.yields(panel, logY: logY))
            }
        }
        let pulls = Self.pulls(result, model: model)
        if !pulls.isEmpty { try save("pulls.svg", Plot.pulls(pulls)) }
        if let correlations = result.correlations {
            let chosen = Self.correlationSubset(result, correlations: correlations, poi: model.poiIndex)
            if chosen.count > 1 {
                try save("correlation_matrix.svg", Plot.correlationMatrix(
                    names: chosen.map { result.parameterNames[$0] }, matrix: chosen.map { i in chosen.map { correlations[i][$0] } },
                    title: chosen.count < result.fixed.filter({ !$0 }).count ? "Correlation matrix (\(chosen.count) most correlated parameters)" : "Correlation matrix"))
            }
        }
        for (name, svg) in Self.signalPlots(result, workspace: workspace, model: model, yields: yields) { try save(name, svg) }
        return files
    }

    /// Constrained free parameters: pull (θ̂ − θ₀)/σ₀ and constraint σ̂/σ₀, with θ₀, σ₀ the
    /// auxiliary datum and width of a Gaussian constraint, or 1 and 1/√τ of a Poisson one.
    static func pulls(_ result: FitResult, model: HistFactoryModel) -> [Pull] {
        let sigmas = result.uncertainties
        return model.parameterSets.flatMap { set -> [Pull] in
            let widths: [Double], centres: [Double]
            switch set.constraint {
            case .unconstrained: return []
            case .normal(let s): widths = s; centres = set.auxdata
            case .poisson(let tau): widths = tau.map { 1 / $0.squareRoot() }; centres = Array(repeating: 1, count: tau.count)
            }
            return set.indices.enumerated().compactMap { k, i -> Pull? in
                guard !result.fixed[i], k < widths.count, widths[k] > 0 else { return nil }
                let centre = k < centres.count ? centres[k] : (set.modifierKinds.first == .normsys || set.modifierKinds.first == .histosys ? 0 : 1)
                return Pull(name: result.parameterNames[i], pull: (result.values[i] - centre) / widths[k], constraint: (sigmas?[i] ?? .nan) / widths[k])
            }
        }
    }

    /// Free parameters, at most 40: the POI and those with the largest |ρ| to another one.
    static func correlationSubset(_ result: FitResult, correlations: [[Double]], poi: Int?) -> [Int] {
        let free = result.fixed.indices.filter { !result.fixed[$0] }
        guard free.count > 40 else { return free }
        let strength = Dictionary(uniqueKeysWithValues: free.map { i in (i, free.filter { $0 != i }.map { abs(correlations[i][$0]) }.max() ?? 0) })
        var chosen = Set(free.sorted { strength[$0]! > strength[$1]! }.prefix(40))
        if let poi, !result.fixed[poi] { chosen.insert(poi) }
        return chosen.sorted()
    }

    /// For every sample with a morphing modifier, per channel: its yield at the SM (all
    /// coefficients 0), at the best fit, and at best fit ± 2σ of each free coefficient.
    static func signalPlots(_ result: FitResult, workspace: Workspace, model: HistFactoryModel, yields: SampleYields) -> [(String, String)] {
        var coefficientsOf: [String: [String]] = [:]
        for channel in workspace.channels {
            for s in channel.samples {
                for m in s.modifiers {
                    if let morphing = m.dependent as? MorphingModifier {
                        coefficientsOf[s.name, default: []] += morphing.coefficients.filter { !(coefficientsOf[s.name] ?? []).contains($0) }
                    }
                }
            }
        }
        guard !coefficientsOf.isEmpty else { return [] }
        let index = Dictionary(result.parameterNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let sigmas = result.uncertainties
        var plots: [(String, String)] = []
        for (sample, coefficients) in coefficientsOf.sorted(by: { $0.key < $1.key }) {
            let indices = coefficients.compactMap { index[$0] }
            var points: [(String, [Double])] = []
            var sm = result.values
            for i in indices { sm[i] = 0 }
            points.append(("SM (all coefficients 0)", sm))
            points.append(("best fit (" + indices.map { "\(result.parameterNames[$0]) = \(formatted(result.values[$0], 3))" }.joined(separator: ", ") + ")", result.values))
            for i in indices where !result.fixed[i] {
                let s = sigmas?[i] ?? 0
                guard s > 0 else { continue }
                for sign in [-2.0, 2.0] {
                    var p = result.values
                    p[i] += sign * s
                    points.append(("\(result.parameterNames[i]) = \(formatted(p[i], 3)) (best \(sign > 0 ? "+" : "−") 2σ)", p))
                }
            }
            let evaluated = points.map { ($0.0, yields.yields(at: $0.1)) }
            for (k, channel) in model.channels.enumerated() {
                let histograms = evaluated.compactMap { label, perChannel -> Histogram? in
                    perChannel[k].samples.first { $0.label == sample }.map { Histogram(label: label, values: $0.values) }
                }
                guard !histograms.isEmpty else { continue }
                plots.append(("signal_\(fileName(channel))_\(fileName(sample)).svg",
                              Plot.overlaid(title: "\(sample) in \(channel) at several coefficient points", histograms: histograms)))
            }
        }
        return plots
    }
}

/// A channel or sample name made safe for a file name.
func fileName(_ name: String) -> String {
    String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
}
