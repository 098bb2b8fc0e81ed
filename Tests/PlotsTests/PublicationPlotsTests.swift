import EFTHF
import Foundation
import Testing
@testable import Plots

/// The points of the first `<path class="…">` in an SVG: the M/L commands of its `d`.
func pathPoints(_ svg: String, className: String) -> [(Double, Double)]? {
    guard let start = svg.range(of: "<path class=\"\(className)\" d=\"") else { return nil }
    let rest = svg[start.upperBound...]
    guard let end = rest.firstIndex(of: "\"") else { return nil }
    return rest[..<end].split(separator: " ").compactMap { token -> (Double, Double)? in
        guard token.first == "M" || token.first == "L" else { return nil }
        let xy = token.dropFirst().split(separator: ",").compactMap { Double($0) }
        return xy.count == 2 ? (xy[0], xy[1]) : nil
    }
}

/// The values of attribute `name` in document order.
func attributeValues(_ svg: String, _ name: String) -> [String] {
    svg.components(separatedBy: " \(name)=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
}

@Suite struct PublicationPlotsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let panel = YieldsPanel(
        title: "SR_pTV: post-fit", samples: [
            Histogram(label: "ttbar", values: [140, 96, 51, 22, 8.5]),
            Histogram(label: "Wjets", values: [61, 38, 17, 6, 2]),
            Histogram(label: "VH_signal", values: [12.1, 9.4, 6.2, 3.1, 1.2]),
        ], data: [219, 146, 77, 31, 13], binEdges: [0, 60, 100, 140, 200, 300], xLabel: "pTV [GeV]",
        uncertainty: [14, 9, 5, 2.5, 1.1], bandLabel: "Post-fit uncertainty")

    @Test("yields: band path with 4 points per bin, a ratio panel, the bin edges on the x axis")
    func yieldsHaveBandRatioAndEdges() throws {
        let svg = Plot.yields(Self.panel)
        let band = try #require(pathPoints(svg, className: "band"))
        #expect(band.count == 4 * 5)
        // The band's upper edge lies above (smaller pixel y) its lower edge in every bin.
        for b in 0..<5 { #expect(band[2 * b].1 < band[band.count - 1 - 2 * b].1) }
        #expect(svg.contains("<g class=\"ratio-panel\">"))
        #expect(try #require(pathPoints(svg, className: "ratio-band")).count == 4 * 5)
        for edge in ["0", "60", "100", "140", "200", "300"] { #expect(svg.contains(">\(edge)</text>"), "edge \(edge)") }
        #expect(svg.contains(">pTV [GeV]</text>") && svg.contains(">Data / Pred.</text>") && svg.contains(">Post-fit uncertainty</text>"))
        #expect(!svg.contains("bin 0<"))
        try checkPlot(svg, name: "yields_band_ratio")
    }

    @Test("yields on a log axis: decade ticks 1, 10, 10² …")
    func logYieldsHaveDecadeTicks() throws {
        let svg = Plot.yields(Self.panel, logY: true)
        #expect(svg.contains(">10</text>") && svg.contains(">10²</text>"))
        #expect(svg.contains(">Events (log scale)</text>"))
        try checkPlot(svg, name: "yields_log")
    }

    @Test("without edges the bins are numbered honestly and the axis says so")
    func yieldsWithoutEdgesNumberBins() throws {
        var panel = Self.panel
        panel.binEdges = nil
        panel.xLabel = "bin index"
        let svg = Plot.yields(panel)
        #expect(svg.contains(">bin index</text>") && svg.contains(">4</text>"))
        checkWellFormed(svg)
        // 40 numbered bins: round index ticks, not 40 labels.
        let many = Plot.yields(YieldsPanel(title: "many", samples: [Histogram(label: "bkg", values: (0..<40).map { 100 + Double($0) })],
                                           data: (0..<40).map { 100 + Double($0 % 7) }))
        #expect(many.contains(">10</text>") && !many.contains(">11</text>"))
        checkWellFormed(many)
    }

    @Test("Garwood Poisson intervals equal scipy.stats.gamma.ppf (1e-8 relative)",
          arguments: [(0.0, 0.0, 1.841021645009264), (1, 0.1727537790234499, 3.2995265591158565), (3, 1.3672953138904336, 5.918185832883397),
                      (10, 6.891305560638356, 14.266949761009393), (2.5, 1.0279951346305933, 5.283478177386317)])
    func poissonIntervalsAreGarwood(n: Double, lower: Double, upper: Double) {
        let i = poissonInterval(n)
        #expect(abs(i.lower - lower) <= 1e-8 * max(upper, 1) && abs(i.upper - upper) <= 1e-8 * upper, "\(i) vs (\(lower), \(upper))")
    }

    @Test("ranking: rows sorted by the larger post-fit impact, top N kept")
    func rankingIsSortedByImpact() throws {
        let impacts = (0..<30).map { k in
            let s = 0.01 * Double((k * 7) % 30 + 1)
            return Impact(name: "alpha_\(k)", pull: sin(Double(k)) * 0.8, constraint: 0.5 + 0.02 * Double(k),
                          postfit: (s, -0.8 * s), prefit: (1.3 * s, k == 4 ? nil : -1.1 * s))
        }
        let svg = Plot.ranking(impacts, poi: "mu", bestFit: 1.02, uncertainty: 0.21, top: 15)
        let names = attributeValues(svg, "data-name")
        #expect(names.count == 15)
        let sizes = attributeValues(svg, "data-impact").compactMap(Double.init)
        #expect(sizes == sizes.sorted(by: >) && sizes.count == 15)
        #expect(names.first == impacts.max { $0.size < $1.size }!.name)
        #expect(svg.contains("refit failed"))
        try checkPlot(svg, name: "ranking")
    }

    @Test("Brazil band: ±2σ drawn under ±1σ, each band's upper edge above its lower edge, limits marked")
    func brazilBandOrdering() throws {
        // CLs falling with μ; expected quantiles ordered −2σ < … < +2σ.
        let points = stride(from: 0.0, through: 3.0, by: 0.15).map { mu in
            CLsPoint(poi: mu, observed: exp(-1.3 * mu * mu), expected: [-2.0, -1, 0, 1, 2].map { z in exp(-mu * mu / pow(1 + 0.25 * z, 2)) })
        }
        let svg = Plot.brazil(points, poi: "mu", level: 0.05, observedLimit: 1.52, expectedLimits: [1.3, 1.5, 1.73, 2.1, 2.5])
        let outer = try #require(pathPoints(svg, className: "band-2sigma")), inner = try #require(pathPoints(svg, className: "band-1sigma"))
        #expect(outer.count == 2 * points.count && inner.count == 2 * points.count)
        #expect(svg.range(of: "band-2sigma")!.lowerBound < svg.range(of: "band-1sigma")!.lowerBound)
        let n = points.count
        for k in 1..<n {
            // Upper edge (first half, by POI) above (smaller y than) the lower edge (second half, reversed).
            #expect(outer[k].1 <= inner[k].1 + 1e-9 && inner[k].1 <= inner[2 * n - 1 - k].1 + 1e-9 && inner[2 * n - 1 - k].1 <= outer[2 * n - 1 - k].1 + 1e-9)
        }
        #expect(svg.contains("observed limit mu &lt; 1.52") && svg.contains("CLs = 0.05"))
        try checkPlot(svg, name: "brazil")
    }

    /// Δ2NLL of a tilted paraboloid on a grid that cuts the 95 % region.
    static func grid(nx: Int = 21, ny: Int = 17, failed: Set<[Int]> = []) -> (x: [Double], y: [Double], values: [[Double]]) {
        let x = (0..<nx).map { -2 + 4 * Double($0) / Double(nx - 1) }, y = (0..<ny).map { -1.5 + 3 * Double($0) / Double(ny - 1) }
        let values = x.indices.map { i in y.indices.map { j in failed.contains([i, j]) ? Double.nan : x[i] * x[i] / 1.2 + pow(y[j] - 0.3 * x[i], 2) / 0.35 } }
        return (x, y, values)
    }

    @Test("contours cut by the grid's edge are closed polygons, and failed points do not cut them")
    func contoursAreClosed() throws {
        for failed in [Set<[Int]>(), [[12, 9], [13, 9], [12, 10]]] {
            let g = Self.grid(failed: failed)
            for level in [2.30, 5.99] {
                let c = Plot.closedContour(x: g.x, y: g.y, values: g.values, level: level)
                let paths = joined(c.segments)
                #expect(!paths.isEmpty)
                for path in paths {
                    let d = path.first! - path.last!
                    #expect(abs(d.x) < 1e-9 && abs(d.y) < 1e-9, "level \(level), failed \(failed.count): a path is open")
                }
                // 5.99 reaches y = ±1.5 (the grid's edge): closed along it. 2.30 is one closed line,
                // failed points inside it or not (they are interpolated across, not cut out).
                if level == 5.99 { #expect(c.closedAtBoundary) }
                if level == 2.30 { #expect(!c.closedAtBoundary && paths.count == 1) }
            }
        }
    }

    @Test("failed points are filled from their converged neighbours, patches inwards")
    func failedPointsAreFilledFromNeighbours() {
        let v: [[Double]] = [[1, 2, 3], [4, .nan, 6], [.nan, .nan, 9]]
        let f = Plot.filledFailures(v)
        #expect(f[1][1] == (2 + 4 + 6) / 3)
        #expect(f[2][1] == 9 && f[2][0] == 4)  // [2][1]: only 9 is finite in the first pass; [2][0]: only 4
        #expect(Plot.filledFailures([[.nan]])[0][0].isNaN)
    }

    @Test("a 2D scan with failed points: the failed cells are shaded and named in the legend")
    func contoursShadeFailedFits() throws {
        let g = Self.grid(failed: [[12, 9], [13, 9], [12, 10]])
        let lines = [(2.30, "68% CL"), (5.99, "95% CL")].map { level, label in
            ContourLine(label: label, segments: Plot.closedContour(x: g.x, y: g.y, values: g.values, level: level).segments)
        }
        var cells: [(lower: SIMD2<Double>, upper: SIMD2<Double>)] = []
        for (i, j) in [(12, 9), (13, 9), (12, 10)] {
            let x: Double = g.x[i], y: Double = g.y[j]
            cells.append((lower: SIMD2(x - 0.1, y - 0.09375), upper: SIMD2(x + 0.1, y + 0.09375)))
        }
        let svg = Plot.contours(xName: "cHq3", yName: "cHW", xRange: -2...2, yRange: -1.5...1.5, lines: lines, bestFit: SIMD2(0, 0),
                                reference: (SIMD2(0, 0), "Standard Model"), failedCells: cells, closedAtBoundary: true)
        #expect(svg.components(separatedBy: "class=\"failed-fit\"").count - 1 == 3)
        #expect(svg.contains("conditional fit failed (3 points): interpolated") && svg.contains("closed along the scan&apos;s edge"))
        try checkPlot(svg, name: "contours_failed")
    }

    @Test("failed points outside the model's domain are named so in the contours' legend; other failures as failed fits")
    func contoursNameTheReasonOfFailedPoints() throws {
        let best = FitResult(parameterNames: ["a", "b"], values: [0, 0], twiceNLL: 0, status: .converged, edm: 0, fixed: [false, false], functionCalls: 1)
        func scan(_ reason: String) -> ProfileScan2D {
            var fits: [[(twiceNLL: Double, status: FitStatus)]] = []
            for i in 0..<5 {
                var row: [(twiceNLL: Double, status: FitStatus)] = []
                for j in 0..<5 { row.append((twiceNLL: Double(i * i + j * j), status: .converged)) }
                fits.append(row)
            }
            fits[0][0] = (twiceNLL: .nan, status: .failed(reason: reason))
            return ProfileScan2D(parameters: ["a", "b"], xValues: (0..<5).map(Double.init), yValues: (0..<5).map(Double.init), fits: fits, bestFit: best)
        }
        let outside = Plot.contours(scan("2NLL is not finite …: outside the model's domain: negative morphed yields at a=0, b=0: …"))
        #expect(outside.contains("outside the model&apos;s domain (1 point): interpolated"))
        let failed = Plot.contours(scan("the minimiser stopped: too many evaluations"))
        #expect(failed.contains("conditional fit failed (1 point): interpolated"))
    }

    @Test("end to end: the event-database example's fit yields with edges, band and ratio (rendered)")
    func eventDatabaseYieldsPlot() throws {
        let loaded = try ModelSource(workspace: Self.repository.appendingPathComponent("Data/vh/workspace_events.json").path).load()
        let fit = try loaded.model.fit(loaded.data, options: FitOptions(computeUncertainties: true))
        let channel = try #require(YieldsTask.fitYields(loaded, fit: fit).postfit.channels.first)
        for logY in [false, true] {
            let svg = Plot.yields(YieldsPanel(title: "\(channel.name): post-fit", samples: channel.samples.entries.map { Histogram(label: $0.name, values: $0.value) },
                                              data: channel.observed, binEdges: channel.binEdges, xLabel: channel.observable, uncertainty: channel.totalUncertainty,
                                              bandLabel: "Post-fit uncertainty"), logY: logY)
            #expect(pathPoints(svg, className: "band")?.count == 4 * channel.observed.count)
            #expect(svg.contains(">600</text>") && svg.contains(">pTV</text>"))
            try checkPlot(svg, name: logY ? "vh_events_postfit_log" : "vh_events_postfit")
        }
    }
}
