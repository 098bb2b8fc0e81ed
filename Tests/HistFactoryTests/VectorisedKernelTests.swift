import EFTJSON
import Foundation
@testable import HistFactory
import Testing

/// The AVX loops of `_CKernels` promise the same doubles as the portable Swift loops (same
/// operations in the same order per term, fused multiply-adds exactly where the Swift loop has
/// `addingProduct`, sums in the same lanes), so that results do not depend on the CPU. Checked bit
/// for bit on every reference workspace at points where each code4 factor and histosys takes its
/// polynomial branch (|α| < 1, α ≠ 0) and where some take the exponential and linear branches
/// (|α| > 1). Together the workspaces have histosys runs and segments of every length modulo four
/// (the AVX loops' tails; checked below).
@Suite(.enabled(if: LikelihoodKernel.avxAvailable, "this CPU has no AVX and FMA: only the Swift loops exist here"))
struct VectorisedKernelTests {
    @Test(arguments: ReferenceCase.all)
    func avxLoopsGiveTheSameDoublesAsSwiftLoops(_ reference: ReferenceCase) throws {
        let workspace = try reference.workspace()
        let vectorised = try HistFactoryModel(workspace: workspace)
        var portable = vectorised
        portable.flat.vectorised = false
        #expect(vectorised.flat.vectorised)
        let data = try vectorised.observedData(from: workspace)
        let inits = vectorised.suggestedInits
        for scale in [0.05, 0.3, 0.9, 1.3] {
            // Nuisance parameters (init 0) by the full scale; the positive ones (γ, μ) by at most 0.3.
            let point = inits.indices.map { inits[$0] + (inits[$0] == 0 ? scale : min(scale, 0.3)) * sin(Double(3 * $0 + 1)) }
            var g1: [Double] = [], g2: [Double] = []
            let l1 = vectorised.logLikelihoodAndGradient(point, data: data, gradient: &g1)
            let l2 = portable.logLikelihoodAndGradient(point, data: data, gradient: &g2)
            #expect(l1.isFinite)
            #expect(l1.bitPattern == l2.bitPattern, "\(reference.name) at scale \(scale): log L \(l1) vs \(l2)")
            let differing = g1.indices.filter { g1[$0].bitPattern != g2[$0].bitPattern }
            #expect(differing.isEmpty, "\(reference.name) at scale \(scale): gradient differs at \(differing.prefix(5).map { vectorised.parameterNames[$0] })")
            #expect(vectorised.logLikelihood(point, data: data).bitPattern == l1.bitPattern)
        }
    }

    @Test func referenceWorkspacesExerciseEveryTail() throws {
        var singleTails = Set<Int>(), segmentTails = Set<Int>()
        for reference in ReferenceCase.all {
            let kernel = try HistFactoryModel(workspace: reference.workspace()).flat.kernel
            for i in 0..<kernel.histoRunCount {
                let run = kernel.histoRuns[i]
                singleTails.insert(Int(run.singleEnd - run.singleStart) % 4)
                for g in Int(run.segmentStart)..<Int(run.segmentEnd) { segmentTails.insert(Int(kernel.segmentLength[g]) % 4) }
            }
        }
        #expect(singleTails == [0, 1, 2, 3])
        #expect(segmentTails == [0, 1, 2, 3])
    }
}
