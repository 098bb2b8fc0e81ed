import Foundation
import HistFactory
import EFTModifiers
import Testing
@testable import Inference

/// Records progress callbacks from worker threads.
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(done: Int, total: Int)] = []
    var calls: [(done: Int, total: Int)] { lock.lock(); defer { lock.unlock() }; return entries }
    var callback: @Sendable (Int, Int) -> Void { { [self] d, t in lock.lock(); entries.append((d, t)); lock.unlock() } }
}

/// The adaptive 1D scan and the progress callbacks of scans and toys.
@Suite struct AdaptiveScanTests {
    static func load(_ path: String) throws -> (HistFactoryModel, ModelData) {
        let ws = try Workspace(contentsOf: ReferenceFiles.repository.appendingPathComponent(path).path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        return (model, try model.observedData(from: ws))
    }

    /// The options of `efthf fit --ops OPS`: the other Wilson coefficients fixed at 0.
    static func floating(_ ops: [String], model: HistFactoryModel) -> FitOptions {
        var point = model.suggestedInits, fixed = model.suggestedFixed
        for set in model.parameterSets where set.modifierKinds.contains(.morphing) {
            if ops.contains(set.name) { fixed[set.offset] = false } else { point[set.offset] = 0; fixed[set.offset] = true }
        }
        return FitOptions(initialValues: point, fixed: fixed)
    }

    /// Every interval end the adaptive scan reports agrees with the MINOS-like `profileInterval`
    /// to the tolerance, at Δ2NLL = 1 and 3.84.
    func expectAgreement(_ model: HistFactoryModel, _ data: ModelData, _ name: String, range: ClosedRange<Double>,
                         options: FitOptions, tolerance: Double) throws -> AdaptiveProfileScan {
        let adaptive = try model.profileScanAdaptive(parameter: name, range: range, data: data, options: options, tolerance: tolerance)
        #expect(adaptive.isResolved)
        #expect(adaptive.scan.values == adaptive.scan.values.sorted())
        #expect(adaptive.scan.values.count < 200)
        let bestValue = adaptive.scan.bestFit.values[try model.parameterIndex(named: name)]
        for (k, level) in adaptive.levels.enumerated() {
            let minos = try model.profileInterval(name, data: data, level: level, options: options, bestFit: adaptive.scan.bestFit)
            let ranges = adaptive.intervals[k]
            let around = try #require(ranges.first { $0.contains(bestValue) }, "no interval around the best fit at level \(level): \(ranges)")
            if let lower = minos.lower, lower > range.lowerBound {
                #expect(abs(around.lowerBound - lower) <= tolerance, "level \(level) lower: adaptive \(around.lowerBound), MINOS \(lower)")
            }
            if let upper = minos.upper, upper < range.upperBound {
                #expect(abs(around.upperBound - upper) <= tolerance, "level \(level) upper: adaptive \(around.upperBound), MINOS \(upper)")
            }
        }
        return adaptive
    }

    @Test func intervalEndsMatchProfileIntervalOnTheExample() throws {
        let (model, data) = try Self.load("Data/example/workspace.json")
        let poi = try #require(model.poiName)
        let adaptive = try expectAgreement(model, data, poi, range: 0...4, options: FitOptions(), tolerance: 1e-3)
        // Far fewer points than a uniform grid with the same resolution (4000).
        #expect(adaptive.scan.values.count <= 60)
    }

    @Test func intervalEndsMatchProfileIntervalOnAWilsonCoefficient() throws {
        let (model, data) = try Self.load("Data/vh/workspace_morphing.json")
        let options = Self.floating(["cHW"], model: model)
        _ = try expectAgreement(model, data, "cHW", range: -1...1, options: options, tolerance: 1e-3)
    }

    @Test func progressIsCalledOncePerPointInOrder() throws {
        let (model, data) = try Self.load("Data/example/workspace.json")
        let poi = try #require(model.poiName)
        let log = ProgressLog()
        let values = stride(from: 0.0, through: 3.0, by: 0.25).map { $0 }
        _ = try model.profileScan(poi, values: values, data: data, progress: log.callback)
        #expect(log.calls.map(\.done) == Array(1...values.count))
        #expect(log.calls.allSatisfy { $0.total == values.count })

        let log2 = ProgressLog()
        _ = try model.profileScan(poi, values: [0, 1, 2], "ttbar_norm", values: [0.9, 1, 1.1], data: data, progress: log2.callback)
        #expect(log2.calls.map(\.done) == Array(1...9))
        #expect(log2.calls.allSatisfy { $0.total == 9 })

        let log3 = ProgressLog()
        _ = try model.toyHypotest(poiValue: 1, data: data, toys: 16, seed: 3, progress: log3.callback)
        #expect(log3.calls.map(\.done) == Array(1...32))
        #expect(log3.calls.allSatisfy { $0.total == 32 })

        let log4 = ProgressLog()
        let adaptive = try model.profileScanAdaptive(parameter: poi, range: 0...4, data: data, tolerance: 1e-2, progress: log4.callback)
        let calls = log4.calls
        #expect(calls.map(\.done) == Array(1...adaptive.scan.values.count))
        #expect(calls.allSatisfy { $0.done <= $0.total })
        #expect(calls.last?.total == adaptive.scan.values.count)
    }

    @Test func parabolaCrossingFindsTheRootInTheCell() {
        // y = x², level 1: the root in [0.5, 2] is 1.
        let root = parabolaCrossing([0.5, 2, 3], [0.25, 4, 9], level: 1, in: 0.5...2)
        #expect(root.map { abs($0 - 1) < 1e-12 } == true)
        #expect(parabolaCrossing([0, 1, 2], [0, 1, 2], level: 0.5, in: 0...1).map { abs($0 - 0.5) < 1e-12 } == true)
    }

    @Test func invalidSettingsAreErrors() throws {
        let (model, data) = try Self.load("Data/example/workspace.json")
        let poi = try #require(model.poiName)
        #expect(throws: InferenceError.self) { try model.profileScanAdaptive(parameter: poi, range: 0...1, data: data, initialPoints: 2) }
        #expect(throws: InferenceError.self) { try model.profileScanAdaptive(parameter: poi, range: 0...1, data: data, tolerance: 0) }
        #expect(throws: InferenceError.self) { try model.profileScanAdaptive(parameter: "nosuch", range: 0...1, data: data) }
    }
}
