import Foundation
@testable import HistFactory
import Testing

/// Histosys quads hold zero pairs for the bins their parameter does not reach. These must
/// change nothing: where a weight u, l is not finite, u·0 would be NaN in bins that no term of the
/// parameter reaches; the forward pass then skips them.
@Suite struct HistosysPaddingTests {
    /// The reference workspaces whose kernel has zero pairs in its quads.
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
            let pairs = 4 * Int(run.quadStart)..<4 * Int(run.quadEnd)
            let bins = pairs.filter { kernel.histoUp[$0] != 0 || kernel.histoDown[$0] != 0 }.map { Int(kernel.quadBin[$0 / 4]) + $0 % 4 }
            return (Int(run.parameter), Set(bins))
        }
    }

    @Test func anInfiniteParameterLeavesTheBinsItDoesNotReachAlone() throws {
        let cases = try Self.paddedCases()
        #expect(cases.count >= 3, "workspaces 05, 06 and 08 have zero pairs in their quads")
        for (reference, model, _) in cases {
            let inits = model.suggestedInits
            let nominal = model.expectedSampleData(inits)
            // Parameters without scalar terms: a scalar factor at α = ∞ would make whole samples infinite.
            let kernel = model.flat.kernel
            let scalarParameters = Set((0..<kernel.scalarCount).map { Int(kernel.termParameter[$0]) })
            for (parameter, _) in Self.reach(kernel).filter({ !scalarParameters.contains($0.parameter) }).prefix(8) {
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
}
