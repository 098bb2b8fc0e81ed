import Foundation
import HistFactory
import EFTModifiers
import Testing
@testable import Inference

/// The 2D scan's tree of warm starts (``DifferentiableLikelihood/conditionalFitRows(_:values:_:values:rows:data:options:threads:progress:)``)
/// on the VH morphing example, cHW × cHq3 on an 11 × 11 grid that reaches the negative-yield
/// corner (cHW, cHq3 both negative): the result does not depend on the thread count, no fit fails
/// next to the 95 % region unless its point is outside the model's domain, and rows computed
/// piecewise are the scan's own.
@Suite struct ScanOrderTests {
    static let xs = (0...10).map { -1 + 0.2 * Double($0) }
    static let ys = (0...10).map { -0.3 + 0.06 * Double($0) }

    static func load() throws -> (HistFactoryModel, ModelData) {
        let ws = try Workspace(contentsOf: ReferenceFiles.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        return (model, try model.observedData(from: ws))
    }

    @Test("1 and 2 threads give the same doubles, and no fit fails inside the 95 % region")
    func sameOnOneAndTwoThreadsAndNoFailureInside() throws {
        let (model, data) = try Self.load()
        let one = try model.profileScan("cHW", values: Self.xs, "cHq3", values: Self.ys, data: data, options: FitOptions(), threads: 1)
        let two = try model.profileScan("cHW", values: Self.xs, "cHq3", values: Self.ys, data: data, options: FitOptions(), threads: 2)
        #expect(one.twiceNLL.joined().map(\.bitPattern) == two.twiceNLL.joined().map(\.bitPattern))
        #expect(one.failures == two.failures)
        #expect(!one.failures.isEmpty, "the grid reaches the negative-yield corner")
        // A failed point next to a point of the 95 % region (Δ2NLL ≤ 5.99) lies on the region's
        // edge: allowed only outside the model's domain, where no nuisance parameter helps.
        let reference = one.minimumTwiceNLL
        for f in one.failures {
            let neighbours = [(f.x - 1, f.y), (f.x + 1, f.y), (f.x, f.y - 1), (f.x, f.y + 1)].filter { Self.xs.indices.contains($0.0) && Self.ys.indices.contains($0.1) }
            let nextToAllowed = neighbours.contains { one.twiceNLL[$0.0][$0.1] - reference <= DeltaTwiceNLL.cl95In2D }
            #expect(!nextToAllowed || f.reason.contains("outside the model's domain"),
                    "(cHW, cHq3) = (\(Self.xs[f.x]), \(Self.ys[f.y])) failed next to the 95 % region: \(f.reason)")
        }
        // Rows computed piecewise (a plan's shard) are the scan's rows, bit for bit.
        let piece = try model.conditionalFitRows("cHW", values: Self.xs, "cHq3", values: Self.ys, rows: 7..<9, data: data)
        for (k, i) in (7..<9).enumerated() {
            #expect(piece.rows[k].map { ($0.status.isConverged ? $0.twiceNLL : .nan).bitPattern } == one.twiceNLL[i].map(\.bitPattern))
        }
    }
}
