import EFTHF
import Foundation
import Testing

/// `efthf fit --exclude` as a user runs it, from a directory outside the repository, against pyhf's
/// fit of the pruned workspace (Tests/References/pyhf/exclude_fits.json, make_exclude_fits.py).
@Suite struct FitExcludeCLITests {
    @Test("efthf fit --exclude wjets_xsec --exclude staterror_SR_pTV --json: pyhf's pruned fit, 2NLL to 1e-6, values to 1e-4")
    func excludeFromTheCommandLine() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-exclude-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.copyItem(atPath: CLI.example, toPath: scratch.appendingPathComponent("workspace.json").path)
        let reference = try JSONParser.parse(Data(contentsOf: CLI.repository.appendingPathComponent("Tests/References/pyhf/exclude_fits.json")))
        let expected = try #require(reference["cases"]?.arrayValue?.first { $0["exclude"] == .array([.string("wjets_xsec"), .string("staterror_SR_pTV")]) })

        let r = try CLI.run(["fit", "workspace.json", "--exclude", "wjets_xsec", "--exclude", "staterror_SR_pTV", "--json"], workingDirectory: scratch)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONParser.parse(Data(r.stdout.utf8))
        let twiceNLL = try #require(report["twice_nll"]?.doubleValue), pyhf = try #require(expected["twice_nll"]?.doubleValue)
        #expect(abs(twiceNLL - pyhf) < 1e-6, "2NLL \(twiceNLL), pyhf \(pyhf)")
        let bestfit: JSONObject = try #require(expected["bestfit"]?.objectValue)
        #expect(report["parameters"]?.objectValue?.keys.sorted() == bestfit.keys.sorted())
        for (name, values) in bestfit.pairs {
            let value = try #require(values.arrayValue?.first?.doubleValue)
            let ours = try #require(report["parameters"]?[name]?["value"]?.doubleValue)
            #expect(abs(ours - value) < 1e-4, "\(name) = \(ours), pyhf \(value)")
        }

        // An unknown modifier: one line on stderr naming it, no output.
        let bad = try CLI.run(["fit", "workspace.json", "--exclude", "alpha_nope"], workingDirectory: scratch)
        #expect(bad.status != 0 && bad.stdout.isEmpty)
        #expect(bad.stderrLines.count == 1 && bad.stderr.contains("\"alpha_nope\""), "\(bad.stderr)")
    }
}
