import EFTJSON
import Foundation
import Synchronization
@testable import HistFactory
import Testing

/// The kernel's compact layout (code4 runs of fewer than four terms packed together into blocks of
/// four, each term with its own parameter; `LikelihoodKernel.compactLayout`) promises the same doubles
/// as the layout without it: the same operations on each term, each entry's factors in the same order,
/// each run's gradient sum in the same lanes. Checked bit for bit on every reference workspace, with the
/// AVX and with the Swift loops, at the inits, at points where every factor takes its polynomial
/// branch, where some take the exponential and linear ones, and where some parameters sit exactly at 0
/// (code4 terms at α = 0 beside the others, in one block).
struct CompactLayoutTests {
    @Test(arguments: ReferenceCase.all)
    func compactLayoutGivesTheSameDoubles(_ reference: ReferenceCase) throws {
        let workspace = try reference.workspace()
        let compact = try HistFactoryModel(workspace: workspace)
        let plain = try LikelihoodKernel.$compactLayout.withValue(false) { try HistFactoryModel(workspace: workspace) }
        #expect(plain.flat.kernel.packedGroupCount == 0)
        // Workspace 05's 39 normsys parameters each act on one to three samples: all 39 runs packed.
        if reference.name.hasPrefix("05_") { #expect(compact.flat.kernel.packedGroupCount == 39) }
        let data = try compact.observedData(from: workspace)
        let inits = compact.suggestedInits
        var points = [inits]
        for scale in [0.05, 0.3, 0.9, 1.3] {
            points.append(inits.indices.map { inits[$0] + (inits[$0] == 0 ? scale : min(scale, 0.3)) * sin(Double(3 * $0 + 1)) })
            // Every third nuisance parameter back at exactly 0.
            points.append(inits.indices.map { inits[$0] == 0 && $0 % 3 == 0 ? 0 : inits[$0] + (inits[$0] == 0 ? scale : min(scale, 0.3)) * sin(Double(5 * $0 + 2)) })
        }
        for vectorised in LikelihoodKernel.avxAvailable ? [true, false] : [false] {
            var a = compact, b = plain
            a.flat.vectorised = vectorised
            b.flat.vectorised = vectorised
            for (k, point) in points.enumerated() {
                expectSameDoubles(a, b, at: point, data: data, "\(reference.name), point \(k), AVX \(vectorised)")
            }
        }
    }

    /// Each thread evaluates in its own scratch buffer, kept between its evaluations
    /// (`efthf_scratch_acquire`): evaluations of one model on many threads at once, at different
    /// points, give the doubles of the same evaluations one after the other.
    @Test func concurrentEvaluationsGiveTheSerialDoubles() throws {
        guard let reference = ReferenceCase.all.first(where: { $0.name.hasPrefix("05_") }) else { return }
        let workspace = try reference.workspace()
        let model = try HistFactoryModel(workspace: workspace)
        let data = try model.observedData(from: workspace)
        let inits = model.suggestedInits
        let points = (0..<64).map { k in inits.indices.map { inits[$0] + 0.02 * Double(k % 16) * sin(Double($0 + k)) } }
        let serial = points.map { point in
            var g: [Double] = []
            let l = model.logLikelihoodAndGradient(point, data: data, gradient: &g)
            return [l] + g
        }
        let results = Mutex([[Double]](repeating: [], count: points.count))
        DispatchQueue.concurrentPerform(iterations: points.count) { k in
            var g: [Double] = []
            let l = model.logLikelihoodAndGradient(points[k], data: data, gradient: &g)
            results.withLock { $0[k] = [l] + g }
        }
        let concurrent = results.withLock { $0 }
        for k in points.indices {
            #expect(concurrent[k].map(\.bitPattern) == serial[k].map(\.bitPattern), "point \(k)")
        }
    }
}

/// `a` and `b` give the same doubles at `point`: ln L (finite), every gradient entry, and `a`'s ln L
/// without the gradient.
func expectSameDoubles(_ a: HistFactoryModel, _ b: HistFactoryModel, at point: [Double], data: ModelData, _ label: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    var g1: [Double] = [], g2: [Double] = []
    let l1 = a.logLikelihoodAndGradient(point, data: data, gradient: &g1)
    let l2 = b.logLikelihoodAndGradient(point, data: data, gradient: &g2)
    #expect(l1.isFinite, sourceLocation: sourceLocation)
    #expect(l1.bitPattern == l2.bitPattern, "\(label): log L \(l1) vs \(l2)", sourceLocation: sourceLocation)
    let differing = g1.indices.filter { g1[$0].bitPattern != g2[$0].bitPattern }
    #expect(differing.isEmpty, "\(label): gradient differs at \(differing.prefix(5).map { a.parameterNames[$0] })", sourceLocation: sourceLocation)
    #expect(a.logLikelihood(point, data: data).bitPattern == l1.bitPattern, sourceLocation: sourceLocation)
}
