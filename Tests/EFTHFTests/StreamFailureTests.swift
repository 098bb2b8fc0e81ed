import EFTHF
import EventDatabase
import Foundation
import HistFactory
import Testing

/// An event database streamed from its file (a memory budget below its columns) whose file is cut
/// short after the model was built: the fit's evaluations come out NaN, and the task throws the
/// read error naming the file instead of reporting a failed fit (Specs/event-database.md, "Memory
/// budget and streaming"). The same for `efthf eval`'s path, the model's own evaluation.
@Suite struct StreamFailureTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func aFileCutShortDuringTheFitIsTheTasksError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-stream-failure-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["workspace_events_syst.json", "vh_smeft_events.h5"] {
            try FileManager.default.copyItem(at: Self.repository.appendingPathComponent("Data/vh/" + name), to: directory.appendingPathComponent(name))
        }
        let events = directory.appendingPathComponent("vh_smeft_events.h5")
        let source = ModelSource(workspace: directory.appendingPathComponent("workspace_events_syst.json").path,
                                 eventMemory: try EventMemoryBudget(parsing: "200KiB"))
        let loaded = try LoadedModel(workspace: try source.loadWorkspace())
        let point = loaded.model.suggestedInits
        // Streamed and readable: a finite likelihood and no failure.
        #expect(loaded.model.logLikelihood(point, data: loaded.data).isFinite)
        #expect(loaded.model.evaluationFailure == nil)

        // Cut the file to a tenth, in place.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: events.path)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: events)
        try handle.truncate(atOffset: UInt64(size / 10))
        try handle.close()

        // At another point (the kernel keeps its last evaluations): NaN, and the failure is kept.
        var moved = point
        moved[try loaded.model.parameterIndex(named: "cHW")] = 0.2
        #expect(loaded.model.logLikelihood(moved, data: loaded.data).isNaN)
        let failure = try #require(loaded.model.evaluationFailure as? EventDatabaseError)
        #expect(failure.description.contains(events.path), "\(failure)")

        // The fit throws it, whatever its fits made of the NaNs.
        let thrown = try #require(throws: EventDatabaseError.self) { try FitTask(ops: ["cHW", "cHq3"]).run(on: loaded) }
        #expect(thrown.description == failure.description)
        let scan = try #require(throws: EventDatabaseError.self) {
            try ScanTask(axes: [try GridAxis(name: "cHW", lower: -0.5, upper: 0.5, count: 3)]).run(on: loaded)
        }
        #expect(scan.description == failure.description)
    }
}
