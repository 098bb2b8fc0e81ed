import Foundation
import Testing
@testable import Plots
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Checks that an SVG string is well-formed XML with an `svg` root.
func checkWellFormed(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #if canImport(FoundationXML) || os(macOS)
    final class RootRecorder: NSObject, XMLParserDelegate {
        var root: String?
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if root == nil { root = name }
        }
    }
    let parser = XMLParser(data: Data(svg.utf8))
    let recorder = RootRecorder()
    parser.delegate = recorder
    let ok = parser.parse()
    #expect(ok, "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")", sourceLocation: sourceLocation)
    #expect(recorder.root == "svg", sourceLocation: sourceLocation)
    #endif
}

/// Renders an SVG to PNG with rsvg-convert (Debian librsvg2-bin), returning the PNG path, or nil
/// (with a message) when the tool is absent. PNGs go to $EFTHF_PLOT_DIR if set, else a temporary directory.
func renderPNG(_ svg: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
    let tool = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert", "/opt/homebrew/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let tool else {
        print("note: rsvg-convert not found (Debian: apt-get install librsvg2-bin); PNG rendering of \(name) skipped")
        return nil
    }
    let directory = ProcessInfo.processInfo.environment["EFTHF_PLOT_DIR"] ?? NSTemporaryDirectory() + "efthf-plots-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let svgPath = "\(directory)/\(name).svg", pngPath = "\(directory)/\(name).png"
    try Data(svg.utf8).write(to: URL(fileURLWithPath: svgPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = ["-o", pngPath, svgPath]
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(process.terminationStatus == 0, "rsvg-convert failed on \(name): \(message)", sourceLocation: sourceLocation)
    let size = (try? FileManager.default.attributesOfItem(atPath: pngPath)[.size] as? Int) ?? 0
    #expect(size > 1000, "the PNG of \(name) is suspiciously small (\(size) bytes)", sourceLocation: sourceLocation)
    return pngPath
}

func checkPlot(_ svg: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    checkWellFormed(svg, sourceLocation: sourceLocation)
    _ = try renderPNG(svg, name: name, sourceLocation: sourceLocation)
}

@Suite struct PlotsTests {
    @Test func stackedYieldsWithDataAreValidSVGAndRender() throws {
        let svg = Plot.stackedYields(
            title: "SR_pTV: post-fit", samples: [
                Histogram(label: "ttbar", values: [140, 96, 51, 22, 8.5]),
                Histogram(label: "Wjets", values: [61, 38, 17, 6, 2]),
                Histogram(label: "VH_signal", values: [12.1, 9.4, 6.2, 3.1, 1.2]),
            ], data: [219, 146, 77, 31, 13])
        #expect(svg.contains(">Data</text>") && svg.contains(">VH_signal</text>"))
        try checkPlot(svg, name: "stacked_yields")
    }

    @Test func stackedYieldsShowNegativeYieldsBelowZero() throws {
        let svg = Plot.stackedYields(title: "neg", samples: [Histogram(label: "bkg", values: [5, 3]), Histogram(label: "interference", values: [-2, 1])], data: nil)
        checkWellFormed(svg)
        #expect(svg.contains(">-2</text>") || svg.contains(">-1</text>") || svg.contains(">-0.5</text>"), "the y axis extends below zero")
    }

    @Test func pullsAreValidSVGAndRender() throws {
        let pulls = (0..<25).map { Pull(name: "alpha_syst_\($0)", pull: sin(Double($0)) * 1.3, constraint: 0.6 + 0.4 * cos(Double($0))) }
            + [Pull(name: "staterror_SR[0]", pull: 0.2, constraint: 0.9)]
        try checkPlot(Plot.pulls(pulls), name: "pulls")
    }

    @Test func correlationMatrixIsValidSVGAndRenders() throws {
        let names = ["mu", "ttbar_norm", "jes", "lumi", "wjets_xsec", "staterror_SR_pTV[0]"]
        let n = names.count
        var matrix = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0..<n {
                let phase = Double(7 * (i + j) + i * j)
                matrix[i][j] = i == j ? 1.0 : 0.9 * Foundation.sin(phase)
            }
        }
        try checkPlot(Plot.correlationMatrix(names: names, matrix: matrix), name: "correlation_matrix")
    }

    @Test func largeCorrelationMatrixDropsCellValues() throws {
        let names = (0..<45).map { "np_\($0)" }
        let matrix: [[Double]] = (0..<45).map { i -> [Double] in (0..<45).map { j -> Double in i == j ? 1.0 : 0.01 * Double((i + j) % 50) } }
        let svg = Plot.correlationMatrix(names: names, matrix: matrix)
        checkWellFormed(svg)
        #expect(!svg.contains(">0.43</text>"))
    }

    @Test func scanIsValidSVGAndRenders() throws {
        let values = stride(from: -1.0, through: 3.0, by: 0.1).map { $0 }
        let delta = values.map { pow($0 - 1.1, 2) / 0.36 }
        let svg = Plot.scan(parameter: "mu", values: values, deltaTwiceNLL: delta, bestFit: 1.1)
        #expect(svg.contains("68% CL") && svg.contains("95% CL"))
        try checkPlot(svg, name: "scan_1d")
    }

    @Test func contoursAreValidSVGAndRender() throws {
        // Ellipses x²/4 + y² = level, drawn as segments.
        func ellipse(_ level: Double) -> [(start: SIMD2<Double>, end: SIMD2<Double>)] {
            (0..<72).map { k in
                let a = Double(k) * Double.pi / 36, b = Double(k + 1) * Double.pi / 36
                let r = level.squareRoot()
                return (SIMD2(0.5 + 2 * r * cos(a), -0.2 + r * sin(a)), SIMD2(0.5 + 2 * r * cos(b), -0.2 + r * sin(b)))
            }
        }
        let svg = Plot.contours(xName: "cHq3", yName: "cHW", xRange: -6...6, yRange: -3...3,
                                lines: [ContourLine(label: "68% CL", segments: ellipse(2.3)), ContourLine(label: "95% CL", segments: ellipse(5.99))],
                                bestFit: SIMD2(0.5, -0.2), reference: (SIMD2(0, 0), "Standard Model"))
        try checkPlot(svg, name: "contours_2d")
    }

    @Test func overlaidHistogramsAreValidSVGAndRender() throws {
        let svg = Plot.overlaid(title: "VH in SR_pTV at several coefficient points", histograms: [
            Histogram(label: "SM", values: [1.8, 169, 790]),
            Histogram(label: "cHq3 = 0.5", values: [8.3, 286, 1275]),
            Histogram(label: "cHq3 = -0.5", values: [-3.9, 77, 445]),
        ], binLabels: ["[0, 150)", "[150, 250)", "[250, ∞)"])
        try checkPlot(svg, name: "overlaid")
    }

    @Test func namesWithXMLSpecialCharactersAreEscaped() {
        let svg = Plot.stackedYields(title: "a<b & \"c\"", samples: [Histogram(label: "t<t>&'x'", values: [1, 2])], data: [1, 2], binLabels: ["<0", ">0"])
        #expect(svg.contains("a&lt;b &amp; &quot;c&quot;"))
        checkWellFormed(svg)
    }

    @Test(arguments: [(0.0...1.0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (-3.0...7.0, [-2, 0, 2, 4, 6]), (0.0...250.0, [0, 50, 100, 150, 200, 250])])
    func niceTicksAreRound(range: ClosedRange<Double>, expected: [Double]) {
        let ticks = niceTicks(range)
        #expect(ticks.count == expected.count)
        for (t, e) in zip(ticks, expected) { #expect(abs(t - e) < 1e-9) }
    }
}
