import Foundation
@testable import HistFactory
import Testing

/// Histosys segments bridge short gaps with zero pairs (`LikelihoodKernel.histoGap`). These must
/// change nothing: where a weight u, l or a backward scale c is not finite, u·0 or c·0 would be NaN
/// in bins and gradient entries that no term of the parameter reaches; the passes then skip them.
@Suite struct HistosysPaddingTests {
    /// The reference workspaces whose kernel has bridged gaps.
    static func paddedCases() throws -> [(ReferenceCase, HistFactoryModel, Workspace)] {
        try ReferenceCase.all.compactMap { reference in
            let ws = try reference.workspace()
            let model = try HistFactoryModel(workspace: ws)
            return model.flat.kernel.hasPadding ? (reference, model, ws) : nil
        }
    }

    /// The parameters of the histosys runs, and for each the entry bins its nonzero pairs reach.
    static func reach(_ kernel: LikelihoodKernel) -> [(parameter: Int, bins: Set<Int>)] {
        (0..<kernel.histoRunCount).map { i in
            let run = kernel.histoRuns[i]
            let first = run.segmentStart < run.segmentEnd ? Int(kernel.segmentPair[Int(run.segmentStart)]) : Int(run.singleStart)
            let bins = (first..<Int(run.singleEnd)).filter { kernel.histoUp[$0] != 0 || kernel.histoDown[$0] != 0 }.map { Int(kernel.pairBin[$0]) }
            return (Int(run.parameter), Set(bins))
        }
    }

    @Test func anInfiniteParameterLeavesTheBinsItDoesNotReachAlone() throws {
        let cases = try Self.paddedCases()
        #expect(cases.count >= 3, "workspaces 05, 06 and 08 bridge gaps")
        for (reference, model, _) in cases {
            let inits = model.suggestedInits
            let nominal = model.expectedSampleData(inits)
            for (parameter, _) in Self.reach(model.flat.kernel).prefix(8) {
                var point = inits
                point[parameter] = .infinity
                let moved = model.expectedSampleData(point)
                var half = inits
                half[parameter] = 0.5
                let reached = model.expectedSampleData(half)
                for (s, sample) in moved.enumerated() {
                    for b in sample.yields.indices where reached[s].yields[b] == nominal[s].yields[b] {
                        #expect(sample.yields[b] == nominal[s].yields[b],
                                "\(reference.name), \(model.parameterNames[parameter]) = ∞: \(sample.channel)/\(sample.sample) bin \(b)")
                    }
                }
            }
        }
    }

    @Test func anInfiniteBinFactorLeavesTheGradientOfHistosysThatDoNotReachItFinite() throws {
        var checked = 0
        for (reference, model, ws) in try Self.paddedCases() {
            let kernel = model.flat.kernel
            let data = try model.observedData(from: ws)
            let runs = Self.reach(kernel)
            let scalarParameters = Set((0..<kernel.scalarCount).map { Int(kernel.termParameter[$0]) })
            /// The entry bins of the main bin of entry bin l.
            func sharing(_ l: Int) -> Set<Int> { Set((0..<kernel.localBinCount).filter { kernel.binGlobal[$0] == kernel.binGlobal[l] }) }
            // A bridged-gap bin with a per-bin factor (staterror γ) whose main bin its run does not reach
            // (a run of a parameter without scalar terms, whose gradient is then its histosys sums alone).
            var candidate: Int? = nil
            search: for i in 0..<kernel.histoRunCount where !scalarParameters.contains(runs[i].parameter) {
                let run = kernel.histoRuns[i]
                for g in Int(run.segmentStart)..<Int(run.segmentEnd) {
                    for j in 0..<Int(kernel.segmentLength[g]) {
                        let k = Int(kernel.segmentPair[g]) + j, l = Int(kernel.segmentBin[g]) + j
                        if kernel.histoUp[k] == 0 && kernel.histoDown[k] == 0 && kernel.binFirstFactor[l] < Int32(kernel.factorParameterBound)
                            && runs[i].bins.isDisjoint(with: sharing(l))
                        {
                            candidate = l
                            break search
                        }
                    }
                }
            }
            guard let bin = candidate else { continue }
            var point = model.suggestedInits
            point[Int(kernel.binFirstFactor[bin])] = .infinity
            var gradient: [Double] = []
            _ = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
            let reached = sharing(bin)
            for (parameter, bins) in runs where bins.isDisjoint(with: reached) && !scalarParameters.contains(parameter) {
                #expect(gradient[parameter].isFinite, "\(reference.name): ∂ log L/∂\(model.parameterNames[parameter]) = \(gradient[parameter])")
                checked += 1
            }
        }
        #expect(checked > 0, "some reference workspace has a bridged-gap bin with a per-bin factor")
    }
}
