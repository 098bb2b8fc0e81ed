import Foundation
import Testing

/// `efthf scan --adaptive` end to end, and the progress lines of scans and toys in a pipe.
@Suite struct AdaptiveScanCLITests {
    @Test func adaptiveScanLocatesTheIntervalEnds() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("scan.json").path, svg = directory.appendingPathComponent("scan.svg").path
        let result = try CLI.run(["scan", CLI.example, "--par", "mu=0:4:9", "--adaptive", "--tolerance", "0.001", "--output", json, "--plot", svg],
                                 environment: ["EFTHF_PROGRESS": "plain"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("best fit  mu ="))
        #expect(result.stdout.contains("adaptive:") && result.stdout.contains("interval ends located to ±0.001"), "\(result.stdout)")
        #expect(!result.stdout.contains("not all"), "\(result.stdout)")
        #expect(result.stderr.contains("adaptive scan mu (9 coarse points, at most 200): started") && result.stderr.contains("done in"), "\(result.stderr)")
        let out = CLI.json(try String(contentsOfFile: json, encoding: .utf8))
        let values = try #require(out["values"] as? [Double])
        #expect(values.count > 9 && values.count < 200)
        #expect(values == values.sorted())
        let adaptive = try #require(out["adaptive"] as? [String: Any])
        #expect(adaptive["resolved"] as? Bool == true)
        let ranges = try #require((out["intervals"] as? [String: Any])?["68"] as? [[Double]])
        #expect(ranges.count == 1)
        // The interval ends are bracketed by points at most the tolerance apart.
        let delta = try #require(out["delta_twice_nll"] as? [Double])
        for end in ranges[0] {
            let k = try #require(values.firstIndex { $0 >= end })
            if k > 0 {
                #expect(values[k] - values[k - 1] <= 0.001 + 1e-12)
                #expect((delta[k] - 1) * (delta[k - 1] - 1) <= 0)
            }
        }
        try checkSVGFile(svg)
    }

    @Test func adaptiveScanOfAWilsonCoefficientAsJSON() throws {
        let path = CLI.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path
        let result = try CLI.run(["scan", path, "--par", "cHW=-1:1:9", "--fix", "cHq3=0,cHl3=0,cHDD=0,cHbox=0,cll1=0", "--adaptive", "--json"],
                                 environment: ["EFTHF_PROGRESS": "0"])
        #expect(result.status == 0, "\(result.stderr)")
        let out = CLI.json(result.stdout)
        let tolerance = try #require((out["adaptive"] as? [String: Any])?["tolerance"] as? Double)
        #expect(tolerance > 0 && tolerance <= 0.002, "the default: range/1000 or σ/100, the smaller")
        #expect((out["adaptive"] as? [String: Any])?["resolved"] as? Bool == true)
        #expect(((out["intervals"] as? [String: Any])?["95"] as? [Any])?.isEmpty == false)
    }

    @Test(arguments: [
        (["scan", "Data/example/workspace.json", "--par", "mu=0:1:3", "--par", "ttbar_norm=0.9:1.1:3", "--adaptive"], "1D scans only"),
        (["scan", "Data/example/workspace.json", "--par", "mu=0:1:3", "--tolerance", "0.01"], "--adaptive"),
        (["scan", "Data/example/workspace.json", "--par", "mu=0:1:3", "--adaptive", "--tolerance", "-1"], "--tolerance"),
        (["scan", "Data/example/workspace.json", "--par", "mu=0:1:2", "--adaptive"], "at least 3"),
        (["scan", "Data/example/workspace.json", "--par", "mu=0:1:11", "--adaptive", "--max-points", "5"], "--max-points"),
    ])
    func badAdaptiveOptionsFailWithOneClearLine(arguments: [String], mention: String) throws {
        try CLI.expectOneClearError(arguments, mentioning: mention)
    }

    /// In a pipe: a start line, about one line per tenth with k/n, and a finish line.
    /// EFTHF_PROGRESS=plain: about ten lines with done/total and ETA (batch logs).
    @Test func progressLinesInAPipe() throws {
        let scan = try CLI.run(["scan", CLI.example, "--par", "mu=0:3:20"], environment: ["EFTHF_PROGRESS": "plain"])
        #expect(scan.status == 0, "\(scan.stderr)")
        let steps = scan.stderrLines.filter { $0.hasPrefix("scan mu (20 points): ") && $0.contains("/20 (") }
        #expect((3...10).contains(steps.count), "\(scan.stderr)")
        #expect(scan.stderr.contains("ETA"), "\(scan.stderr)")

        let toys = try CLI.run(["toys", CLI.example, "--ntoys", "20", "--seed", "1"], environment: ["EFTHF_PROGRESS": "plain"])
        #expect(toys.status == 0, "\(toys.stderr)")
        #expect(toys.stderrLines.contains { $0.hasPrefix("toys (2 × 20): ") && $0.contains("/40 (") }, "\(toys.stderr)")
    }

    /// EFTHF_PROGRESS=bar draws the bar with done/total, percentage and ETA.
    @Test func barShowsDoneTotalAndETA() throws {
        let result = try CLI.run(["scan", CLI.example, "--par", "mu=0:3:12"], environment: ["EFTHF_PROGRESS": "bar"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("/12 "), "\(result.stderr)")
        #expect(result.stderr.contains("12/12 100%") || result.stderr.contains("done in"), "\(result.stderr)")
    }
}
