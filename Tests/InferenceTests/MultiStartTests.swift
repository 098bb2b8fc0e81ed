import Foundation
import HistFactory
import Testing
@testable import Inference

/// Multi-start on a likelihood with two separated minima (quadratic yield in c).
struct MultiStartTests {
    @Test func aPlainFitFromABadStartStaysInTheLocalMinimum() throws {
        let (model, data) = try SyntheticModels.twoMinima(linear: 10)
        let fit = try model.fit(data, options: FitOptions(initialValues: [-3]))
        #expect(fit.status == .converged)
        #expect(fit.values[0] < -1.5, "c = \(fit.values[0])")
    }

    @Test func multiStartFindsTheGlobalMinimumFromABadStart() throws {
        let (model, data) = try SyntheticModels.twoMinima(linear: 10)
        let local = try model.fit(data, options: FitOptions(initialValues: [-3]))
        let fit = try model.fit(data, options: FitOptions(initialValues: [-3], multiStart: MultiStart(parameters: ["c"], pointsPerParameter: 6)))
        #expect(fit.status == .converged)
        #expect(fit.values[0] > 1, "c = \(fit.values[0])")
        #expect(fit.twiceNLL < local.twiceNLL - 3)
        // Both minima are reported, lowest first, and they are not degenerate.
        #expect(fit.localMinima.count == 2)
        #expect(fit.localMinima.first?.twiceNLL == fit.twiceNLL)
        #expect(fit.degenerateMinima.isEmpty)
    }

    @Test func symmetricMinimaAreReportedAsDegenerate() throws {
        let (model, data) = try SyntheticModels.twoMinima(linear: 0)
        let fit = try model.fit(data, options: FitOptions(computeUncertainties: true, multiStart: MultiStart(parameters: ["c"])))
        #expect(fit.status == .converged)
        let degenerate = fit.degenerateMinima
        #expect(degenerate.count == 2)
        if degenerate.count == 2 {
            // Mirror images: c and −c with the same 2NLL.
            #expect(abs(degenerate[0].values[0] + degenerate[1].values[0]) < 1e-4)
            #expect(abs(degenerate[0].twiceNLL - degenerate[1].twiceNLL) < 1e-8)
        }
        #expect(fit.uncertainties != nil)
    }
}
