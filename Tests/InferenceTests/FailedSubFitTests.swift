import Foundation
import HistFactory
import Testing
@testable import Inference

/// A sub-fit that fails (a profile-interval end, a scan point) is reported as failed, and the rest
/// of the result is kept.
@Suite struct FailedSubFitTests {
    /// One bin, ν = 10 + 10c (c in [−5, 5]), 12 observed: ĉ = 0.2, and for c ≤ −1 the yield is not
    /// positive, so every fit with c fixed there fails (nothing else can move).
    static func linearYield() throws -> (model: HistFactoryModel, data: ModelData) {
        try SyntheticModels.load("""
        {"version": "1.0.0+efthf.1",
         "channels": [{"name": "sr", "samples": [
          {"name": "eft", "data": [10.0], "modifiers": [
            {"name": "eft_morphing", "type": "morphing", "data": {"coefficients": ["c"], "form": "absolute", "terms": [
              {"powers": {}, "data": [10.0]}, {"powers": {"c": 1}, "data": [10.0]}]}}]}]}],
         "observations": [{"name": "sr", "data": [12.0]}],
         "measurements": [{"name": "m", "config": {"poi": "c", "parameters": [{"name": "c", "bounds": [[-5.0, 5.0]]}]}}]}
        """)
    }

    @Test func aScanKeepsEveryPointAndMarksTheFailedOnes() throws {
        let (model, data) = try Self.linearYield()
        let values = [-2.0, -1.0, -0.5, 0, 0.2, 1, 2]
        let scan = try model.profileScan("c", values: values, data: data, runs: 1)
        #expect(scan.statuses.count == values.count)
        for (k, c) in values.enumerated() {
            if c <= -1 {
                #expect(!scan.statuses[k].isConverged, "c = \(c): \(scan.statuses[k])")
            } else {
                // One parameter: the conditional 2NLL is the likelihood itself.
                let expected = -2 * model.logLikelihood([c], data: data)
                #expect(scan.statuses[k].isConverged, "c = \(c): \(scan.statuses[k])")
                #expect(abs(scan.twiceNLL[k] - expected) < 1e-9 * abs(expected), "c = \(c): \(scan.twiceNLL[k]), expected \(expected)")
            }
        }
    }

    @Test func anIntervalEndWhoseFitsFailSaysWhyAndTheOtherEndIsKept() throws {
        let (model, data) = try Self.linearYield()
        // Δ2NLL = 25: the lower end's bracket starts near ĉ − 5σ ≈ −1.5, where the fit fails.
        let interval = try model.profileInterval("c", data: data, level: 25)
        #expect(interval.lower == nil)
        let reason = try #require(interval.lowerFailure)
        #expect(reason.contains("the fit at c = "), "\(reason)")
        let upper = try #require(interval.upper)
        #expect(interval.upperFailure == nil)
        let f = { (c: Double) in -2 * model.logLikelihood([c], data: data) }
        #expect(abs(f(upper) - f(0.2) - 25) < 1e-6, "Δ2NLL at the upper end \(upper): \(f(upper) - f(0.2))")
    }
}
