import EFTHF
import Foundation
import Testing

/// The library side of plans: the split rule, the manifest's digest, the in-process merge, and the
/// parsing of batch resources.
@Suite struct PlanTests {
    static let example = TaskTests.path("Data/example/workspace.json")

    @Test(arguments: [
        (10, 3, [0..<4, 4..<8, 8..<10]), (10, 6, [0..<2, 2..<4, 4..<6, 6..<8, 8..<10]), (3, 5, [0..<1, 1..<2, 2..<3]),
        (7, 1, [0..<7]), (0, 4, []),
    ])
    func splitRuleGivesConsecutiveRunsOfCeilingSize(units: Int, shards: Int, expected: [Range<Int>]) {
        #expect(ProfileScan.runs(pointCount: units, count: shards) == expected)
    }

    @Test func aPlanReadBackIsTheSamePlanAndAnEditIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try Plan(task: .toys(ToysTask(poiValue: 1, toys: 9, seed: 4)), source: ModelSource(workspace: Self.example), shards: 4)
        #expect(plan.shards == [0..<3, 3..<6, 6..<9], "⌈9/4⌉ = 3 toys per shard: 3 shards")
        let path = directory.appendingPathComponent("plan.json").path
        try AtomicFiles.write(plan.json.serialized(.pretty), to: path)
        #expect(try Plan(contentsOf: path) == plan)
        try AtomicFiles.write(plan.json.serialized(.pretty).replacingOccurrences(of: "\"seed\": 4", with: "\"seed\": 5"), to: path)
        #expect(throws: HistFactoryError.self) { try Plan(contentsOf: path) }
    }

    @Test func toyShardsMergedInProcessEqualTheSingleRun() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let task = ToysTask(poiValue: 1, toys: 10, seed: 11)
        let plan = try Plan(task: .toys(task), source: ModelSource(workspace: Self.example), shards: 3)
        var files: [String] = []
        for i in plan.shards.indices.reversed() {
            let path = directory.appendingPathComponent("r\(i).json").path
            try AtomicFiles.write(try plan.run(shard: i).text, to: path)
            files.append(path)
        }
        guard case .toys(let merged) = try plan.merge(files: files) else { Issue.record("not a toys result"); return }
        let single = try task.run(on: try ModelSource(workspace: Self.example).load())
        #expect(merged == single)
    }

    @Test func aScanPlanWithFixedParametersReadsBackWithItsDigest() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let task = ScanTask(axes: [try GridAxis(name: "cHW", lower: -1, upper: 1, count: 5)],
                            fix: try ParameterValues(parsing: "cHl3=0,cHDD=0,cHbox=0,cll1=0,cHq3=0"))
        let plan = try Plan(task: .scan(task), source: ModelSource(workspace: TaskTests.path("Data/vh/workspace_morphing.json")), shards: 2)
        let path = directory.appendingPathComponent("plan.json").path
        try AtomicFiles.write(plan.json.serialized(.pretty), to: path)
        let read = try Plan(contentsOf: path)
        #expect(read.digest == plan.digest)
        guard case .scan(let t) = read.task else { Issue.record("not a scan"); return }
        #expect(t.runs == 2 && t.fix.entries.count == 5)
    }

    @Test func adaptiveScansAreNotPlanned() throws {
        let task = ScanTask(axes: [try GridAxis(name: "mu", lower: 0, upper: 2, count: 5)], adaptive: true)
        #expect(throws: HistFactoryError.self) { try Plan(task: .scan(task), source: ModelSource(workspace: Self.example), shards: 2) }
    }

    @Test(arguments: [("2048", 2048), ("512M", 512), ("4G", 4096), ("4g", 4096), ("1T", 1_048_576), ("2048K", 2)])
    func memoryIsReadInMebibytes(text: String, mib: Int) throws {
        #expect(try BatchSubmission.mebibytes(parsing: text) == mib)
    }

    @Test(arguments: [("90", 5400), ("1:30", 90), ("02:30:00", 9000), ("1-0", 86400), ("2-12:30", 217_800), ("1-00:00:01", 86401)])
    func timeIsReadAsSlurmWritesIt(text: String, seconds: Int) throws {
        #expect(try BatchSubmission.seconds(parsing: text) == seconds)
    }

    @Test(arguments: ["", "x", "1:2:3:4", "-5", "12Q"])
    func badTimesAndMemoryAreRefused(text: String) {
        #expect(throws: HistFactoryError.self) { try BatchSubmission.seconds(parsing: text) }
        #expect(throws: HistFactoryError.self) { try BatchSubmission.mebibytes(parsing: text) }
    }
}
