import EFTJSON
import Foundation
@testable import HistFactory
import Testing

/// The AVX loops of `_CKernels` promise the same doubles as the portable Swift loops (same
/// operations in the same order per term, no fused multiply-add), so that results do not depend on
/// the CPU. Checked bit for bit on every reference workspace at points where each code4 factor takes
/// its polynomial branch (|α| < 1, α ≠ 0), with runs of both parities (the AVX loop's two-term tail).
@Suite(.enabled(if: LikelihoodKernel.avxAvailable, "this CPU has no AVX: only the Swift loops exist here"))
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
        for scale in [0.05, 0.3, 0.9] {
            let point = inits.indices.map { inits[$0] + scale * sin(Double(3 * $0 + 1)) }
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
}
