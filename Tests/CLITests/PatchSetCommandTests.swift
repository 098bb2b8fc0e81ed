import EFTHF
import Foundation
import Testing

/// `efthf patchset inspect|extract|apply` as pyhf's commands of the same names, run from outside
/// the repository on a patch set efthf exported; `apply` is compared with pyhf's `PatchSet.apply`.
@Suite struct PatchSetCommandTests {
    @Test("patchset inspect lists the patches, extract writes one, apply equals pyhf's PatchSet.apply")
    func patchSetCommands() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let workspace = CLI.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path
        let export = try CLI.run(["export", workspace, "--patchset", "--grid", "cHW=-0.2:0.2:3", "--poi", "lumi", "-o", "ps"], workingDirectory: directory)
        #expect(export.status == 0, "\(export.stderr)")

        let inspect = try CLI.run(["patchset", "inspect", "ps/patchset.json", "--json"], workingDirectory: directory)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let summary = try JSONParser.parse(Data(inspect.stdout.utf8))
        let set = try PatchSet(contentsOf: directory.appendingPathComponent("ps/patchset.json").path)
        #expect(summary["labels"] == .array([.string("cHW")]))
        #expect(summary["patches"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == set.patches.map(\.name))
        #expect(summary["digests"]?["sha256"]?.stringValue == set.digests.first?.value)

        let name = set.patches[2].name
        let extract = try CLI.run(["patchset", "extract", "ps/patchset.json", "--name", name], workingDirectory: directory)
        #expect(try JSONParser.parse(Data(extract.stdout.utf8)) == set.patches[2].operations)

        let apply = try CLI.run(["patchset", "apply", "ps/BkgOnly.json", "ps/patchset.json", "--name", name, "-o", "applied.json"], workingDirectory: directory)
        #expect(apply.status == 0, "\(apply.stderr)")
        let script = """
            import json, sys, pyhf
            bkg = pyhf.Workspace(json.load(open("ps/BkgOnly.json")))
            ps = pyhf.PatchSet(json.load(open("ps/patchset.json")))
            print(json.dumps(dict(ps.apply(bkg, sys.argv[1])) == json.load(open("applied.json"))))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, name]
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "true", "pyhf's PatchSet.apply differs (or pyhf is missing): \(output)")

        // A patch the set does not have: one line naming it, nothing written.
        let bad = try CLI.run(["patchset", "apply", "ps/BkgOnly.json", "ps/patchset.json", "--name", "nosuch", "-o", "bad.json"], workingDirectory: directory)
        #expect(bad.status != 0 && bad.stderrLines.count == 1 && bad.stderr.contains("nosuch"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("bad.json").path))
    }
}
