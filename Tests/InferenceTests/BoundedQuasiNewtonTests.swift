import Foundation
import Testing
@testable import Inference

/// The minimiser on analytic functions with known minima.
struct BoundedQuasiNewtonTests {
    /// f = 100(y − x²)² + (1 − x)², minimum 0 at (1, 1).
    static func rosenbrock(_ x: [Double], _ g: inout [Double]) -> Double {
        let a = x[1] - x[0] * x[0], b = 1 - x[0]
        g[0] = -400 * x[0] * a - 2 * b
        g[1] = 200 * a
        return 100 * a * a + b * b
    }

    @Test func rosenbrockConvergesInsideLooseBounds() {
        let outcome = BoundedQuasiNewton().minimize(start: [-1.2, 1], lower: [-5, -5], upper: [5, 5], objective: Self.rosenbrock)
        #expect(outcome.failure == nil)
        #expect(abs(outcome.x[0] - 1) < 1e-5 && abs(outcome.x[1] - 1) < 1e-5)
        #expect(outcome.value < 1e-10)
        #expect(outcome.edm < 1e-10)
    }

    /// With x ≤ 0.5 the constrained minimum is at x = 0.5, y = 0.25 (y = x² removes the first
    /// term; (1 − x)² decreases towards the bound).
    @Test func rosenbrockStopsOnAnActiveUpperBound() {
        let outcome = BoundedQuasiNewton().minimize(start: [-1.2, 1], lower: [-2, -2], upper: [0.5, 2], objective: Self.rosenbrock)
        #expect(outcome.failure == nil)
        #expect(outcome.x[0] == 0.5)
        #expect(abs(outcome.x[1] - 0.25) < 1e-6)
        #expect(abs(outcome.value - 0.25) < 1e-10)
    }

    /// A correlated quadratic whose unconstrained minimum (3, −2) is outside the box [0, 1]²;
    /// the constrained minimum follows from the KKT conditions: x₀ = 1 on its bound, x₁ minimises
    /// f(1, x₁) = (x₁ + 2)² + … → x₁ = 0 (also on its bound) for this A.
    @Test func boundActiveCorrelatedQuadratic() {
        // f = ½ (x − c)ᵀ A (x − c), A = [[2, 0.5], [0.5, 1]], c = (3, −2).
        let c = [3.0, -2.0]
        let outcome = BoundedQuasiNewton().minimize(start: [0.5, 0.5], lower: [0, 0], upper: [1, 1]) { x, g in
            let d0 = x[0] - c[0], d1 = x[1] - c[1]
            g[0] = 2 * d0 + 0.5 * d1
            g[1] = 0.5 * d0 + d1
            return 0.5 * (2 * d0 * d0 + d0 * d1 + d1 * d1)
        }
        #expect(outcome.failure == nil)
        // ∂f/∂x₁ at (1, 0) = 0.5·(−2) + 2 = 1 > 0, so x₁ = 0 is a KKT point on the lower bound.
        #expect(outcome.x == [1, 0])
    }

    /// f = (x − 1)² + (y − 3)² with y ≤ 1 and a region (x > 5) where the objective is not
    /// finite, standing in for negative yields. The first step (H₀ = 100·I) lands there: the line
    /// search must back off, not return NaN.
    @Test func backsOffFromNonFiniteRegion() {
        let outcome = BoundedQuasiNewton().minimize(start: [0.4, 0], lower: [-10, -10], upper: [10, 1], inverseHessian: [100, 0, 0, 100]) { x, g in
            g[0] = 2 * (x[0] - 1)
            g[1] = 2 * (x[1] - 3)
            return x[0] > 5 ? .nan : (x[0] - 1) * (x[0] - 1) + (x[1] - 3) * (x[1] - 3)
        }
        #expect(outcome.failure == nil)
        #expect(abs(outcome.x[0] - 1) < 1e-5)
        #expect(outcome.x[1] == 1)
        #expect(outcome.value.isFinite)
    }

    @Test func reportsANonFiniteStart() {
        let outcome = BoundedQuasiNewton().minimize(start: [0], lower: [-1], upper: [1]) { _, g in
            g[0] = 0
            return .nan
        }
        #expect(outcome.failure != nil)
    }

    @Test func nloptFallbackMinimisesRosenbrock() {
        let result = minimizeWithNLopt(start: [-1.2, 1], lower: [-5, -5], upper: [5, 5], maxEvaluations: 10_000, objective: Self.rosenbrock)
        #expect(result.error == nil)
        #expect(abs(result.x[0] - 1) < 1e-4 && abs(result.x[1] - 1) < 1e-4)
    }

    @Test func brentFindsTheRootOfACubic() {
        let root = bracketAndSolve({ x in x * x * x - 2 }, increasing: true, guess: 0, step: 0.1, limits: -10...10, xTolerance: 1e-12)
        #expect(abs(root! - pow(2, 1.0 / 3)) < 1e-11)
    }

    @Test func normalQuantileInvertsTheCDF() {
        for p in [1e-12, 0.0227501319, 0.3, 0.5, 0.84134474606, 0.999] {
            #expect(abs(normalCDF(normalQuantile(p)) - p) < 1e-14 * max(1, p / 1e-12) + 1e-15)
        }
    }
}
