import Testing
@testable import EventDatabase

/// The smoothed kernel's memo of its last evaluations: a hit is exactly what a fresh kernel's pass
/// gives (bit for bit), a values-only entry never answers a request for Jacobians, a point that
/// differs in θ alone is not a hit, and only the last ``_EvaluationMemo/capacity`` points are kept;
/// Jacobians of some rows only are those rows of the full Jacobians, bit for bit, fresh or from the memo.
@Suite struct EvaluationMemoTests {
    static func kernel() throws -> SmoothedReweightingKernel {
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: .foldIntoEdgeBins)
        return try SmoothedReweightingKernel(
            database: SmoothedReweightingKernelTests.database, binning: binning, selection: .all,
            systematics: SmoothedReweightingKernelTests.systematics, smoothingWidth: 3, normalisation: 1.7)
    }

    static let c = [0.5, -0.4, 0.9]
    static let theta = [0.6, -1.4, 0.3, 1.2]

    /// Every Jacobian row (c, θ), or none.
    static func rows(_ jacobian: Bool) -> [Bool] { [Bool](repeating: jacobian, count: c.count + theta.count) }

    /// The same doubles, Jacobians included (empty when not requested).
    static func same(_ a: SmoothedReweightingKernel.Evaluation, _ b: SmoothedReweightingKernel.Evaluation) -> Bool {
        a.yields == b.yields && a.variances == b.variances && a.yieldJacobian == b.yieldJacobian && a.varianceJacobian == b.varianceJacobian
    }

    @Test func aHitIsExactlyAFreshPassAndValuesNeverAnswerJacobians() throws {
        let values = try Self.kernel().evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: false)
        let full = try Self.kernel().evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: true)
        #expect(full.yieldJacobian.count == (Self.c.count + Self.theta.count) * 7)

        let kernel = try Self.kernel()
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, wanted: Self.rows(false)) == nil)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: false), values))
        // The values-only entry answers values, not Jacobians; the pass with Jacobians replaces it.
        #expect(try Self.same(#require(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, wanted: Self.rows(false))), values))
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, wanted: Self.rows(true)) == nil)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: true), full))
        // Now both requests are hits: the full entry, and its values with the Jacobians dropped.
        #expect(try Self.same(#require(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, wanted: Self.rows(true))), full))
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: false), values))
        // A point that differs in one θ only is another point.
        var moved = Self.theta
        moved[3] = moved[3].nextUp
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: moved, wanted: Self.rows(false)) == nil)
        let fresh = try Self.kernel().evaluate(coefficients: Self.c, nuisance: moved, jacobian: false)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: moved, jacobian: false), fresh))
    }

    @Test func onlyTheLastFourPointsAreKept() throws {
        #expect(_EvaluationMemo.capacity == 4)
        let kernel = try Self.kernel()
        let points = (0 ..< 5).map { i in Self.theta.map { $0 + 0.1 * Double(i) } }
        for theta in points { _ = kernel.evaluate(coefficients: Self.c, nuisance: theta, jacobian: false) }
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: points[0], wanted: Self.rows(false)) == nil)
        for theta in points.dropFirst() {
            let kept = try #require(kernel._memo.evaluation(coefficients: Self.c, nuisance: theta, wanted: Self.rows(false)))
            #expect(Self.same(kept, try Self.kernel().evaluate(coefficients: Self.c, nuisance: theta, jacobian: false)))
        }
        // −0 and +0 are one point (they give equal values).
        let zero = [0.0, 0.0, 0.0], minusZero = [-0.0, 0.0, -0.0]
        _ = kernel.evaluate(coefficients: zero, nuisance: Self.theta, jacobian: false)
        #expect(kernel._memo.evaluation(coefficients: minusZero, nuisance: Self.theta, wanted: Self.rows(false)) != nil)
    }

    /// The rows of c_1, c_3, θ_1 (a weight systematic) and θ_4 (a shift) only: the same doubles
    /// as those rows of the full Jacobians, the other rows 0; an entry of the full Jacobians serves
    /// the request, an entry of fewer rows does not serve the full one.
    @Test func someRowsAreThoseOfTheFullJacobians() throws {
        let full = try Self.kernel().evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: true)
        let wanted = [true, false, true, true, false, false, true]
        let B = full.yields.count
        func check(_ e: SmoothedReweightingKernel.Evaluation) {
            #expect(e.yields == full.yields && e.variances == full.variances)
            for (j, w) in wanted.enumerated() {
                let rows = j * B ..< (j + 1) * B
                #expect(Array(e.yieldJacobian[rows]) == (w ? Array(full.yieldJacobian[rows]) : [Double](repeating: 0, count: B)))
                #expect(Array(e.varianceJacobian[rows]) == (w ? Array(full.varianceJacobian[rows]) : [Double](repeating: 0, count: B)))
            }
        }
        let kernel = try Self.kernel()
        let some = kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobianFor: wanted)
        check(some)
        #expect(full.yieldJacobian.contains { $0 != 0 } && some.yieldJacobian.contains { $0 != 0 })
        #expect(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, wanted: Self.rows(true)) == nil)
        #expect(Self.same(kernel.evaluate(coefficients: Self.c, nuisance: Self.theta, jacobian: true), full))
        check(try #require(kernel._memo.evaluation(coefficients: Self.c, nuisance: Self.theta, wanted: wanted)))
        // The portable and the AVX2 bin assignment agree on the rows too.
        let portable = try kernel._pass(coefficients: Self.c, nuisance: Self.theta, jacobianFor: wanted, avx2: false)
        check(portable)
    }
}
