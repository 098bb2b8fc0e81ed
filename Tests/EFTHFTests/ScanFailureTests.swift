import EFTHF
import EFTJSON
import Foundation
import Testing

/// A 2D scan that reaches outside the model's domain says where and why: every NaN point of the
/// report is listed in `failures` with the minimiser's reason, which quotes the model's own
/// diagnosis (negative morphed yields of the VH sample at fixed cHW, cHq3, which no nuisance
/// parameter can change), and the merged plan carries the same failures.
@Suite struct ScanFailureTests {
    static let task = ScanTask(axes: [try! GridAxis(name: "cHW", lower: -0.5, upper: -0.2, count: 4),
                                      try! GridAxis(name: "cHq3", lower: -0.15, upper: -0.05, count: 3)])

    @Test("every failed point is listed with a reason that names the negative morphed yields")
    func failedPointsAreListedWithTheirReason() throws {
        let loaded = try ModelSource(workspace: TaskTests.path("Data/vh/workspace_morphing.json")).load()
        let report = try Self.task.run(on: loaded)
        let contours = try #require(report.contours)
        let nan = contours.twiceNLL.enumerated().flatMap { i, row in row.enumerated().filter { $0.element.isNaN }.map { [contours.xValues[i], contours.yValues[$0.offset]] } }
        let failures = try #require(contours.failures)
        #expect(!nan.isEmpty, "this grid reaches negative VH yields (e.g. cHW = -0.5, cHq3 = -0.1)")
        #expect(failures.map(\.point) == nan)
        for f in failures {
            #expect(f.reason.contains("outside the model's domain: negative morphed yields"), "\(f.reason)")
            #expect(f.reason.contains("vh_smeft"))
        }
        // Reading the JSON back keeps them.
        let json = report.jsonValue
        #expect(json["failures"]?.arrayValue?.count == failures.count)

        // The same scan as a plan of two shards, merged.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-scan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try Plan(task: .scan(Self.task), source: ModelSource(workspace: TaskTests.path("Data/vh/workspace_morphing.json")), shards: 2)
        let files = try plan.shards.indices.map { i in
            let path = directory.appendingPathComponent("r\(i).json").path
            try AtomicFiles.write(try plan.run(shard: i).text, to: path)
            return path
        }
        guard case .scan(let merged) = try plan.merge(files: files) else { Issue.record("not a scan result"); return }
        #expect(merged.contours?.failures == failures)
    }
}
