import EFTHF
import Foundation
import Synchronization
import Testing

/// Cancelling a running computation (``Cancellation``): the fits left end at their first
/// evaluation and the task throws `cancelled`.
@Suite struct CancellationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("a scan cancelled after 20 of its 40 000 fits throws cancelled within seconds (its fits would take a minute)")
    func scanStops() throws {
        let loaded = try ModelSource(workspace: Self.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path).load()
        let cancellation = Cancellation()
        let lastReport = Atomic<Int>(0)
        let task = ScanTask(axes: [try GridAxis(name: "cHW", lower: -0.5, upper: 0.5, count: 200), try GridAxis(name: "cHq3", lower: -0.05, upper: 0.05, count: 200)])
        let clock = ContinuousClock()
        let start = clock.now
        #expect {
            _ = try task.run(on: loaded, progress: { done, _ in
                lastReport.store(done, ordering: .relaxed)
                if done == 20 { cancellation.cancel() }
            }, cancellation: cancellation)
        } throws: { error in
            (error as? InferenceError)?.code == .cancelled
        }
        // Every remaining fit ends at its first evaluation: the whole scan of 40 000 points
        // finishes in far less time than its fits would take (≈ 20 s in a debug build).
        #expect(clock.now - start < .seconds(15))
        #expect(lastReport.load(ordering: .relaxed) >= 20)
    }

    @Test("a fit whose cancellation is already set throws cancelled without evaluating; without it the same fit converges")
    func fitStops() throws {
        let loaded = try ModelSource(workspace: Self.repository.appendingPathComponent("Data/example/workspace.json").path).load()
        let cancellation = Cancellation()
        cancellation.cancel()
        #expect {
            _ = try FitTask().run(on: loaded, cancellation: cancellation)
        } throws: { error in
            (error as? InferenceError)?.code == .cancelled
        }
        #expect(try FitTask().run(on: loaded, cancellation: Cancellation()).fit?.status.isConverged == true)
    }

    @Test("a patch set made in parts between looks at the cancellation is byte for byte the one-pass patch set; cancelled after 150 of 2500 points it throws cancelled")
    func patchSetStops() throws {
        let workspace = try Workspace(contentsOf: Self.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path, modifiers: .efthf)
        // 5 × 7 points in parts of one point (35 parts), including points skipped for negative yields.
        let small = PatchSetTask(grid: [try GridAxis(name: "cHW", lower: -1, upper: 1, count: 5), try GridAxis(name: "cHq3", lower: -0.1, upper: 0.1, count: 7)],
                                 poi: "lumi", skipInvalid: true)
        #expect(PatchSetTask.pointsPerPart(35) == 1 && PatchSetTask.pointsPerPart(2500) == 25 && PatchSetTask.pointsPerPart(10_000) == 100)
        let reported = Mutex<[Int]>([])
        let parts = try small.run(on: workspace, progress: { done, total in reported.withLock { $0.append(done * 1000 + total) } }, cancellation: Cancellation())
        let whole = try small.run(on: workspace)
        #expect(!whole.skipped.isEmpty)
        #expect(parts.skipped == whole.skipped)
        #expect(parts.patchSet.json.serialized(.pretty) == whole.patchSet.json.serialized(.pretty))
        #expect(parts.backgroundOnly.json.serialized(.pretty) == whole.backgroundOnly.json.serialized(.pretty))
        #expect(reported.withLock { $0 } == (1...35).map { $0 * 1000 + 35 })

        let large = PatchSetTask(grid: [try GridAxis(name: "cHW", lower: -0.5, upper: 0.5, count: 50), try GridAxis(name: "cHq3", lower: -0.05, upper: 0.05, count: 50)],
                                 poi: "lumi", skipInvalid: true)
        let cancellation = Cancellation()
        let lastReport = Atomic<Int>(0)
        #expect {
            _ = try large.run(on: workspace, progress: { done, _ in
                lastReport.store(done, ordering: .relaxed)
                if done == 150 { cancellation.cancel() }
            }, cancellation: cancellation)
        } throws: { error in
            (error as? InferenceError)?.code == .cancelled
        }
        // It stops at the end of the part (25 points) in which it was cancelled.
        #expect(lastReport.load(ordering: .relaxed) == 150)
    }
}
