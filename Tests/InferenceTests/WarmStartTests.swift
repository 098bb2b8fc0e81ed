import EFTModifiers
import Foundation
import HistFactory
import Testing
@testable import Inference

/// ``WarmStart/conditioned(on:freeIndices:)``: Gaussian conditioning of the minimum and of the
/// inverse Hessian on newly fixed parameters, against the block formulae
/// ```
/// x_a ← x_a + H_ab H_bb⁻¹ (v_b − x_b),   H_aa ← H_aa − H_ab H_bb⁻¹ H_ba
/// ```
struct WarmStartTests {
    /// A symmetric positive-definite 4×4 inverse Hessian with every entry non-zero.
    static let H: [Double] = [
        4.0, 1.2, 0.8, -0.6,
        1.2, 3.0, 0.5, 0.9,
        0.8, 0.5, 2.0, 0.3,
        -0.6, 0.9, 0.3, 1.5,
    ]
    static let values: [Double] = [0.3, -0.2, 1.1, 0.7]

    /// Fixing one parameter, the first, a middle or the last one (every row after it must be
    /// conditioned too): start and curvature to 1e-14.
    @Test("conditioning on one fixed parameter gives the Schur complement", arguments: [0, 1, 3])
    func oneFixedParameter(p: Int) throws {
        let warm = WarmStart(indices: [0, 1, 2, 3], inverseHessian: Self.H, values: Self.values)
        var target = Self.values
        target[p] += 0.4
        let free = (0..<4).filter { $0 != p }
        let (start, reduced) = try #require(warm.conditioned(on: target, freeIndices: free))
        let hpp = Self.H[p * 4 + p]
        #expect(start[p] == target[p])
        for (a, i) in free.enumerated() {
            #expect(abs(start[i] - (Self.values[i] + Self.H[i * 4 + p] / hpp * 0.4)) < 1e-14)
            for (b, j) in free.enumerated() {
                let expected = Self.H[i * 4 + j] - Self.H[i * 4 + p] * Self.H[p * 4 + j] / hpp
                #expect(abs(reduced[a * 3 + b] - expected) < 1e-14, "(\(i), \(j))")
            }
        }
    }

    /// Fixing two parameters at once equals conditioning on the pair (2×2 block inverse), and the
    /// result is symmetric.
    @Test("conditioning on two fixed parameters equals the block formula")
    func twoFixedParameters() throws {
        let warm = WarmStart(indices: [0, 1, 2, 3], inverseHessian: Self.H, values: Self.values)
        let fixed = [0, 2], free = [1, 3]
        var target = Self.values
        target[0] -= 0.5
        target[2] += 0.25
        let (start, reduced) = try #require(warm.conditioned(on: target, freeIndices: free))
        func h(_ i: Int, _ j: Int) -> Double { Self.H[i * 4 + j] }
        // H_bb⁻¹ for b = (0, 2).
        let det = h(0, 0) * h(2, 2) - h(0, 2) * h(2, 0)
        let inverse = [[h(2, 2) / det, -h(0, 2) / det], [-h(2, 0) / det, h(0, 0) / det]]
        let shift = fixed.map { target[$0] - Self.values[$0] }
        for (a, i) in free.enumerated() {
            var x = Self.values[i]
            for r in 0..<2 { for c in 0..<2 { x += h(i, fixed[r]) * inverse[r][c] * shift[c] } }
            #expect(abs(start[i] - x) < 1e-14)
            for (b, j) in free.enumerated() {
                var expected = h(i, j)
                for r in 0..<2 { for c in 0..<2 { expected -= h(i, fixed[r]) * inverse[r][c] * h(fixed[c], j) } }
                #expect(abs(reduced[a * 2 + b] - expected) < 1e-14, "(\(i), \(j))")
            }
        }
        #expect(reduced[1] == reduced[2])
        #expect(fixed.allSatisfy { start[$0] == target[$0] })
    }

    @Test("a free set that is not a subset of the warm start's gives nil")
    func notASubset() {
        let warm = WarmStart(indices: [0, 1], inverseHessian: [1, 0, 0, 1], values: [0, 0, 0])
        #expect(warm.conditioned(on: [0, 0, 0], freeIndices: [1, 2]) == nil)
    }
}

/// The minimiser's backtracking trials evaluate log L alone and the accepted one with its gradient
/// (``BoundedQuasiNewton/minimize(start:lower:upper:inverseHessian:startEvaluation:value:objective:)``),
/// which keeps its iterates only if both give the same doubles.
@Suite struct ValueOnlyEvaluationTests {
    @Test("log L alone equals log L with the gradient to the bit", arguments: [
        "workspace_morphing.json", "workspace_events.json", "workspace_events_syst.json",
    ])
    func valueEqualsValueWithGradient(file: String) throws {
        let ws = try Workspace(contentsOf: ReferenceFiles.repository.appendingPathComponent("Data/vh/" + file).path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        var state: UInt64 = 7
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let bounds = model.suggestedBounds
        var gradient: [Double] = []
        for _ in 0..<20 {
            // Within the middle tenth of each range around the inits: every yield stays positive.
            let point = model.suggestedInits.enumerated().map { i, v in
                min(max(v + 0.05 * (2 * uniform() - 1) * min(bounds[i].upperBound - bounds[i].lowerBound, 2), bounds[i].lowerBound), bounds[i].upperBound)
            }
            let withGradient = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
            // Value after gradient: an event kernel's memo answers from the pass with Jacobians.
            #expect(model.logLikelihood(point, data: data).bitPattern == withGradient.bitPattern)
            #expect(withGradient.isFinite)
        }
        for _ in 0..<5 {
            // Gradient after value: the memo's value-only entry cannot answer, a fresh pass with Jacobians.
            let point = model.suggestedInits.map { $0 + 0.01 * uniform() }
            let value = model.logLikelihood(point, data: data)
            #expect(model.logLikelihoodAndGradient(point, data: data, gradient: &gradient).bitPattern == value.bitPattern)
        }
    }
}
