import EFTJSON
import Foundation
import Testing

/// `efthf limit BkgOnly.json --patchset patchset.json` (an exclusion grid) and `efthf plan
/// limit-grid`, as a user runs them from their own directory: on a grid of signal cross-section
/// scales over pyhf's example (`Tests/References/pyhf/make_limit_grid.py`), CLs at μ = 1 and the
/// upper limit of each patch equal pyhf 0.7.6's, and the plan merged from its shards equals the
/// single-machine command byte for byte.
@Suite struct LimitGridTests {
    static let reference: JSON? = {
        let url = CLI.repository.appendingPathComponent("Tests/References/pyhf/limit_grid.json")
        return (try? Data(contentsOf: url)).flatMap { try? JSONParser.parse($0) }
    }()

    @Test("CLs and limits per patch equal pyhf's; the merged plan equals the single-machine grid")
    func limitGridEqualsPyhfAndTheMergedPlan() throws {
        let reference = try #require(Self.reference, "Tests/References/pyhf/limit_grid.json")
        let rows = try #require(reference["rows"]?.arrayValue)
        guard let background = CLI.reference("01_pyhf_example/example_bkgonly.json") else {
            Issue.record("reference workspace 01 not found (../shared/reference or $EFTHF_REFERENCE_DIR)")
            return
        }
        let patchSet = CLI.repository.appendingPathComponent("Tests/References/pyhf/limit_grid_patchset.json").path
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = [background, "--patchset", patchSet]
        try BatchTests.planRunMerge(["limit-grid"] + grid + ["--shards", "2"], in: dir)
        let single = try BatchTests.ok(["limit"] + grid + ["--json"], in: dir)
        #expect(String(decoding: try BatchTests.bytes(dir, "merged.json"), as: UTF8.self) == single.stdout, "merged == single machine, byte for byte")

        let report = try JSONParser.parse(Data(single.stdout.utf8))
        let got = try #require(report["rows"]?.arrayValue)
        #expect(got.count == rows.count)
        for (row, expected) in zip(got, rows) {
            let name = expected["patch"]!.stringValue!
            #expect(row["patch"]?.stringValue == name)
            #expect(row["values"] == expected["values"])
            // Asymptotic CLs: efthf's minima and pyhf's SLSQP (tolerance 1e-10).
            let clsObs = try #require(row["cls_obs"]?.doubleValue, "\(name): \(row)")
            #expect(abs(clsObs / expected["cls_obs"]!.doubleValue! - 1) < 1e-5, "\(name) CLs obs: efthf \(clsObs), pyhf \(expected["cls_obs"]!)")
            for (a, b) in zip(row["cls_exp"]?.arrayValue ?? [], expected["cls_exp"]!.arrayValue!) {
                #expect(abs(a.doubleValue! / b.doubleValue! - 1) < 1e-5, "\(name) CLs exp: efthf \(a), pyhf \(b)")
            }
            if let limit = expected["limit_obs"]?.doubleValue {
                // pyhf's toms748 stops at rtol 1e-4 of the POI; efthf's root is tighter.
                let obs = try #require(row["limit_obs"]?.doubleValue, "\(name): \(row)")
                #expect(abs(obs / limit - 1) < 2e-4, "\(name) limit: efthf \(obs), pyhf \(limit)")
                for (a, b) in zip(row["limit_exp"]?.arrayValue ?? [], expected["limit_exp"]!.arrayValue!) {
                    #expect(abs(a.doubleValue! / b.doubleValue! - 1) < 2e-4, "\(name) expected limit: efthf \(a), pyhf \(b)")
                }
                #expect(row["error"] == nil)
            } else {
                // pyhf raises (CLs stays above the level up to the POI's upper bound, so its
                // toms748 bracket grows past the bound); efthf keeps the hypotest and says why the
                // limit is missing.
                #expect(expected["limit_error"] != nil)
                #expect(row["limit_obs"] == nil)
                #expect(row["error"]?.stringValue?.contains("no root") == true, "\(name): \(row)")
            }
        }
        let table = try BatchTests.ok(["limit"] + grid, in: dir).stdout
        #expect(table.contains("xsec_scale") && table.contains("1 of 5 patches excluded"), "\(table)")
    }

    @Test(arguments: [
        (["limit", "BKG", "--patchset", "PS", "--patches", "nope"], "nope"),
        (["limit", "BKG", "--patches", "a"], "--patches and --poi-value need --patchset"),
        (["limit", "BKG", "--patchset", "PS", "--patches", "a,,b"], "--patches takes names"),
        (["plan", "limit-grid", "BKG", "-o", "p.json"], "--patchset"),
    ])
    func badLimitGridInvocationsGiveOneClearLine(arguments: [String], mention: String) throws {
        guard let folder = CLI.reference("01_pyhf_example") else { return }
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let args = arguments.map { $0 == "BKG" ? folder + "/example_bkgonly.json" : $0 == "PS" ? folder + "/example_patchset.json" : $0 }
        let result = try CLI.run(args, workingDirectory: dir)
        #expect(result.status != 0)
        #expect(result.stderr.contains(mention), "\(result.stderr) should mention \(mention)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("p.json").path))
    }
}
