import Foundation

extension Plot {
    /// The test statistic's distributions over the toys of both hypotheses (signal plus
    /// background, background only) as step histograms of the fraction of toys per bin, on a
    /// logarithmic axis (q̃μ under signal plus background has half its toys at 0 and a tail of
    /// decades), with the observed statistic marked and CLs+b, CLb and CLs in the legend
    /// (Cowan, Cranmer, Gross, Vitells 2011, Fig. 2 for the picture; pyhf's `ToyCalculator`).
    ///
    /// - Parameters:
    ///   - edges: bin edges (count + 1); `signal`, `background`: toys per bin.
    public static func toyDistributions(statistic: String, poi: String, poiValue: Double, edges: [Double], signal: [Int], background: [Int],
                                        observed: Double, clsb: Double, clb: Double, cls: Double) -> String {
        let bins = min(signal.count, background.count, max(edges.count - 1, 0))
        let totals = (max(signal.reduce(0, +), 1), max(background.reduce(0, +), 1))
        let fractions = (signal.prefix(bins).map { Double($0) / Double(totals.0) }, background.prefix(bins).map { Double($0) / Double(totals.1) })
        let smallest = (fractions.0 + fractions.1).filter { $0 > 0 }.min() ?? 1e-3
        let lower = pow(10, floor(log10(smallest)) - 0.3)
        var svg = SVGDocument(width: 720, height: 480)
        var frame = Frame(left: 90, top: 48, width: 600, height: 360, x: (edges.first ?? 0)...(edges.last ?? 1), y: lower...1.5)
        frame.y.logarithmic = true
        svg.text("Toy distributions of \(statistic) at \(poi) = \(tickLabel(poiValue))", x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        frame.drawYAxis(&svg, label: "fraction of toys per bin")
        frame.drawXAxis(&svg, label: statistic, ticks: niceTicks(frame.x.domain))
        let series: [(values: [Double], color: String, label: String)] = [
            (fractions.0, "#d62728", "signal + background (\(totals.0) toys), CLs+b = \(tickLabel(clsb))"),
            (fractions.1, "#1f77b4", "background only (\(totals.1) toys), CLb = \(tickLabel(clb))"),
        ]
        for s in series {
            var points: [(Double, Double)] = []
            for b in 0..<bins {
                // An empty bin drops to the axis: log(0) has no place on the axis.
                let v = max(s.values[b], lower)
                points.append((frame.x(edges[b]), frame.y(v)))
                points.append((frame.x(edges[b + 1]), frame.y(v)))
            }
            svg.polyline(points, stroke: s.color, width: 2)
        }
        if observed.isFinite, frame.x.domain.contains(observed) {
            svg.line(frame.x(observed), frame.top, frame.x(observed), frame.bottom, stroke: "#000", width: 1.5, dash: "6,4")
            svg.text("observed \(tickLabel(observed))", x: frame.x(observed) + 5, y: frame.top + 14, size: 12, anchor: "start")
        }
        frame.drawFrame(&svg)
        let legendWidth = 40 + 7.2 * Double(series.map(\.label.count).max() ?? 0)
        drawLegend(&svg, x: frame.right - legendWidth - 8, y: frame.top + 26, entries: [
            (label: series[0].label, color: series[0].color, kind: .line),
            (label: series[1].label, color: series[1].color, kind: .line),
            (label: "observed; CLs = \(tickLabel(cls))", color: "#000", kind: .dashed),
        ])
        return svg.rendered()
    }
}
