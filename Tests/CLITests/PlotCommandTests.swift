import EFTHF
import Foundation
import Testing

/// `efthf ranking`, `limit --plot`, `fit --plots --log-y` and the goodness of fit on the command line.
@Suite struct PlotCommandTests {
    static let example = CLI.repository.appendingPathComponent("Data/example/workspace.json").path

    @Test func rankingWritesJSONTableAndPlot() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let svg = directory.appendingPathComponent("ranking.svg").path
        let result = try CLI.run(["ranking", Self.example, "--plot", svg, "--top", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONParser.parse(Data(result.stdout.utf8))
        #expect(json["poi"]?.stringValue == "mu")
        let entries = try #require(json["parameters"]?.arrayValue)
        #expect(entries.count > 5)
        let keys = entries.map { e in (e["postfit_impact"]?.arrayValue ?? []).compactMap(\.doubleValue).map(abs).max() ?? 0 }
        #expect(keys == keys.sorted(by: >))
        try checkSVGFile(svg)
        let text = try CLI.run(["ranking", Self.example, "--top", "3"])
        #expect(text.status == 0 && text.stdout.contains("post +σ̂") && text.stdout.split(separator: "\n").count == 5)
        #expect(try CLI.run(["ranking", Self.example, "--top", "0"]).status != 0)
    }

    @Test func limitDrawsTheBrazilPlotWithAndWithoutAScan() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for scan in [["--scan", "0:4:17"], []] {
            let svg = directory.appendingPathComponent("brazil\(scan.count).svg").path
            let result = try CLI.run(["limit", Self.example, "--plot", svg, "--json"] + scan)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try JSONParser.parse(Data(result.stdout.utf8))
            #expect(json["scan"]?.arrayValue?.count == (scan.isEmpty ? 41 : 17))
            try checkSVGFile(svg)
            let text = try String(contentsOfFile: svg, encoding: .utf8)
            #expect(text.contains("band-2sigma") && text.contains("observed limit"))
        }
        let bad = try CLI.run(["limit", Self.example, "--scan", "3:1:5"])
        #expect(bad.status != 0 && bad.stderr.contains("--scan"))
    }

    @Test func fitReportsGoodnessOfFitAndDrawsLogYields() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try CLI.run(["fit", Self.example, "--plots", directory.path, "--log-y"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("goodness of fit (saturated model): −2 ln λ = ") && result.stdout.contains("ndf = 5"))
        let yields = try String(contentsOfFile: directory.appendingPathComponent("yields_postfit_SR_pTV.svg").path, encoding: .utf8)
        #expect(yields.contains("Events (log scale)") && yields.contains("class=\"band\"") && yields.contains("ratio-panel"))
        #expect(try CLI.run(["fit", Self.example, "--log-y"]).status != 0)
    }
}
