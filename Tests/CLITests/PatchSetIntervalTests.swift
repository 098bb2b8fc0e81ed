import EFTHF
import Foundation
import Testing

/// The claim of Specs/eft-extension.md §16 as a user would check it: a 1D interval and a 2D
/// contour profiled over `efthf export --patchset` in stock pyhf 0.7.6 equal those of `efthf scan`
/// on the original workspace. Commands run from a directory outside the repository; pyhf runs
/// `Tests/References/pyhf/check_patchset_intervals.py`.
@Suite struct PatchSetIntervalTests {
    @Test("1D interval and 2D contour from the patch set in stock pyhf equal efthf scan's (1e-3)")
    func patchSetIntervalsEqualTheScan() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let workspace = CLI.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path
        func run(_ arguments: [String]) throws -> String {
            let result = try CLI.run(arguments, workingDirectory: directory)
            #expect(result.status == 0, "efthf \(arguments.joined(separator: " ")): \(result.stderr)")
            return result.stdout
        }
        try Data(try run(["scan", workspace, "--par", "cHW=-0.6:0.6:25", "--fix", "cHq3=0", "--json"]).utf8).write(to: directory.appendingPathComponent("scan1.json"))
        _ = try run(["export", workspace, "--patchset", "--grid", "cHW=-0.6:0.6:25", "--poi", "lumi", "--skip-invalid", "-o", "ps1"])
        try Data(try run(["scan", workspace, "--par", "cHW=-0.3:0.7:11", "--par", "cHq3=-0.2:0.05:11", "--json"]).utf8).write(to: directory.appendingPathComponent("scan2.json"))
        _ = try run(["export", workspace, "--patchset", "--grid", "cHW=-0.3:0.7:11,cHq3=-0.2:0.05:11", "--poi", "lumi", "--skip-invalid", "-o", "ps2"])

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", CLI.repository.appendingPathComponent("Tests/References/pyhf/check_patchset_intervals.py").path,
                             "ps1", "scan1.json", "ps2", "scan2.json"]
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "check_patchset_intervals.py failed (is pyhf 0.7.6 installed? scripts/setup.sh installs it)")
        let report = try JSONParser.parse(output)
        let comparisons = try #require(report["comparisons"]?.arrayValue)
        #expect(comparisons.count == 2)
        for c in comparisons {
            let worst = try #require(c["largest_difference"]?.doubleValue)
            print("patch set in pyhf vs efthf scan, \(c["kind"]!.stringValue!) over \(c["points"]!.serialized()) points: largest difference of an interval end \(worst)")
            #expect(worst < 1e-3, "\(c.serialized())")
        }
        // The 2D grid has points outside the domain (negative morphed yields): skipped by the export,
        // NaN in the scan, left out on both sides.
        #expect(comparisons[1]["points"]?.doubleValue == 106)
    }
}
