import Testing
@testable import EventDatabase

/// The smoothed kernel's memo of its last evaluations: a hit is exactly what a fresh kernel's pass
/// gives (bit for bit), a values-only entry never answers a request for Jacobians, a point that
/// differs in θ alone is not a hit, and only the last ``_EvaluationMemo/capacity`` points are kept.
@Suite struct EvaluationMemoTests {
    static func kernel() throws -> SmoothedReweightingKernel {
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: .foldIntoEdgeBins)
        return try SmoothedReweightingKernel(
            database: SmoothedReweightingKernelTests.database, binning: binning, selection: .all,
            systematics: SmoothedReweightingKernelTests.systematics, smoothingWidth: 3, normalisation: 1.7)
    }

    static let c = [0.5, -0.4, 0.9]
    static let theta = [0.6, -1.4, 0.3, 1.2]

    /// The same doubles, Jacobians included (empty when not requested).
    static func same(_ a: SmoothedReweightingKernel.Evaluation, _ b: SmoothedReweightingKernel.Evaluation) -> Bool {
        a.yields == b.yields && a.variances == b.variances && a.yieldJacobian == b.yieldJacobian && a.varianceJacobian == b.varianceJacobian
    }

    @Test func aHitIsExactlyAFreshPassAndValuesNeverAnswerJacobians() throws {
        let values = try Self.kernel().evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: false)
        let full = try Self.kernel().evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: true)
        #expect(full.yieldJacobian.count == (Self.c.count + Self.theta.count) * 7)

        let kernel = try Self.kernel()
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, jacobian: false) == nil)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: false), values))
        // The values-only entry answers values, not Jacobians; the pass with Jacobians replaces it.
        #expect(try Self.same(#require(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, jacobian: false)), values))
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, jacobian: true) == nil)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: true), full))
        // Now both requests are hits: the full entry, and its values with the Jacobians dropped.
        #expect(try Self.same(#require(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, jacobian: true)), full))
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: false), values))
        // A point that differs in one θ only is another point.
        var moved = Self.theta
        moved[3] = moved[3].nextUp
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: moved, jacobian: false) == nil)
        let fresh = try Self.kernel().evaluate(coefficients: Self.c, nuisance: moved, jacobian: false)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: moved, jacobian: false), fresh))
    }

    @Test func onlyTheLastFourPointsAreKept() throws {
        #expect(_EvaluationMemo.capacity == 4)
        let kernel = try Self.kernel()
        let points = (0 ..< 5).map { i in Self.theta.map { $0 + 0.1 * Double(i) } }
        for theta in points { _ = kernel.evaluate(coefficients: Self.c, nuisance: theta, jacobian: false) }
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: points[0], jacobian: false) == nil)
        for theta in points.dropFirst() {
            let kept = try #require(kernel._memo.evaluation(coefficients: Self.c, nuisance: theta, jacobian: false))
            #expect(Self.same(kept, try Self.kernel().evaluate(coefficients: Self.c, nuisance: theta, jacobian: false)))
        }
        // −0 and +0 are one point (they give equal values).
        let zero = [0.0, 0.0, 0.0], minusZero = [-0.0, 0.0, -0.0]
        _ = kernel.evaluate(coefficients: zero, nuisance: Self.theta, jacobian: false)
        #expect(kernel._memo.evaluation(coefficients: minusZero, nuisance: Self.theta, jacobian: false) != nil)
    }
}
