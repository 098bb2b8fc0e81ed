import EFTJSON
import Foundation
@testable import HistFactory
import Testing

/// The AVX loops of `_CKernels` promise the same doubles as the portable Swift loops (same
/// operations in the same order per term, fused multiply-adds exactly where the Swift loop has
/// `addingProduct`, sums in the same lanes), so that results do not depend on the CPU. Checked bit
/// for bit on every reference workspace at points where each code4 factor and histosys takes its
/// polynomial branch (|α| < 1, α ≠ 0) and where some take the exponential and linear branches
/// (|α| > 1).
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
            expectSameDoubles(vectorised, portable, at: point, data: data, "\(reference.name) at scale \(scale)")
        }
    }

    /// The quads the AVX loops read with aligned loads: each starts at a multiple of four within the
    /// padded bins, and together they hold every histosys pair once.
    @Test(arguments: ReferenceCase.all)
    func histosysQuadsAreAlignedAndHoldEveryPair(_ reference: ReferenceCase) throws {
        let kernel = try HistFactoryModel(workspace: reference.workspace()).flat.kernel
        #expect(Int(bitPattern: kernel.histoUp) % 32 == 0 && Int(bitPattern: kernel.histoDown) % 32 == 0)
        var pairs = 0
        for i in 0..<kernel.histoRunCount {
            let run = kernel.histoRuns[i]
            let quads = (Int(run.quadStart)..<Int(run.quadEnd)).map { Int(kernel.quadBin[$0]) }
            #expect(quads.allSatisfy { $0 % 4 == 0 && $0 + 4 <= kernel.paddedBinCount })
            pairs += (4 * Int(run.quadStart)..<4 * Int(run.quadEnd)).filter { kernel.histoUp[$0] != 0 || kernel.histoDown[$0] != 0 }.count
        }
        #expect(pairs == kernel.histoCount)
    }
}
