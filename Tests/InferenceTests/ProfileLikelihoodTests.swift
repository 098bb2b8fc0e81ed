import Foundation
import HistFactory
import Testing
@testable import Inference

/// Profile-likelihood intervals, scans and contours.
@Suite(.enabled(if: ReferenceFiles.available, Comment(rawValue: ReferenceFiles.missingMessage)))
struct ProfileLikelihoodTests {
    /// MINOS-like interval ends have Δ(2NLL) = 1, lie near μ̂ ± σ_Hesse, and agree with the
    /// interval read off a fine scan.
    @Test func intervalEndsHaveUnitDeltaAndMatchTheScan() throws {
        let (model, data) = try ReferenceFiles.load("01_pyhf_example")
        let best = try model.fit(data, options: FitOptions(computeUncertainties: true))
        let poi = model.poiName!
        let interval = try model.profileInterval(poi, data: data, bestFit: best)
        let lower = try #require(interval.lower), upper = try #require(interval.upper)
        for end in [lower, upper] {
            let fit = try model.fit(data, fixing: poi, at: end)
            #expect(abs(fit.twiceNLL - best.twiceNLL - 1) < 1e-6)
        }
        let sigma = best.uncertainties![model.poiIndex!]
        #expect(abs((upper - lower) / (2 * sigma) - 1) < 0.1)

        let grid = stride(from: 0.0, through: 3.0, by: 0.02).map { $0 }
        let scan = try model.profileScan(poi, values: grid, data: data)
        #expect(scan.statuses.allSatisfy { $0.isConverged })
        let ranges = scan.intervals(level: 1)
        #expect(ranges.count == 1)
        #expect(abs(ranges[0].lowerBound - lower) < 2e-3 && abs(ranges[0].upperBound - upper) < 2e-3)
        #expect(scan.deltaTwiceNLL.min()! >= 0)
    }

    /// A 2D scan: the 68 % contour exists, surrounds the best fit and sits inside the 95 % one.
    @Test func contoursSurroundTheMinimum() throws {
        let (model, data) = try ReferenceFiles.load("01_pyhf_example")
        let xs = stride(from: 0.0, through: 3.0, by: 0.25).map { $0 }
        let ys = stride(from: -3.0, through: 3.0, by: 0.5).map { $0 }
        let scan = try model.profileScan(model.poiName!, values: xs, "syst1", values: ys, data: data)
        let inner = scan.contour(level: DeltaTwiceNLL.oneSigma2D), outer = scan.contour(level: DeltaTwiceNLL.cl95In2D)
        #expect(!inner.isEmpty && !outer.isEmpty)
        let best = scan.bestFit.values
        let bx = best[model.poiIndex!], by = best[try model.parameterIndex(named: "syst1")]
        func extent(_ segments: [ContourSegment]) -> (Double, Double) {
            let ys = segments.flatMap { [$0.start.y, $0.end.y] }
            return (ys.min()!, ys.max()!)
        }
        let (innerLow, innerHigh) = extent(inner), (outerLow, outerHigh) = extent(outer)
        #expect(innerLow < by && by < innerHigh)
        #expect(outerLow < innerLow && innerHigh < outerHigh)
        #expect(inner.allSatisfy { $0.start.x >= 0 && $0.end.x <= 3 })
        _ = bx
    }
}
