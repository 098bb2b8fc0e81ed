import Foundation

/// One nuisance parameter's row of an impact plot: its pull and constraint, and the shift of the
/// POI with the parameter fixed at θ̂ ± σ̂ (post-fit) and θ̂ ± σ₀ (pre-fit); nil: that refit failed.
public struct Impact: Sendable, Equatable {
    public var name: String
    public var pull: Double
    public var constraint: Double
    public var postfit: (up: Double?, down: Double?)
    public var prefit: (up: Double?, down: Double?)

    public init(name: String, pull: Double, constraint: Double, postfit: (up: Double?, down: Double?), prefit: (up: Double?, down: Double?)) {
        self.name = name
        self.pull = pull
        self.constraint = constraint
        self.postfit = postfit
        self.prefit = prefit
    }

    public static func == (a: Impact, b: Impact) -> Bool {
        a.name == b.name && a.pull == b.pull && a.constraint == b.constraint && a.postfit == b.postfit && a.prefit == b.prefit
    }

    /// The larger |post-fit impact|: the ranking key.
    public var size: Double { max(abs(postfit.up ?? 0), abs(postfit.down ?? 0)) }
}

/// One POI value of a CLs scan: observed CLs and the expected CLs at −2σ … +2σ.
public struct CLsPoint: Sendable, Equatable {
    public var poi: Double
    public var observed: Double
    /// Five values, −2σ, −1σ, median, +1σ, +2σ of the background-only expectation.
    public var expected: [Double]

    public init(poi: Double, observed: Double, expected: [Double]) {
        self.poi = poi
        self.observed = observed
        self.expected = expected
    }
}

extension Plot {
    /// The ranking ("impact") plot of CMS Combine and cabinetry: one row per parameter, largest
    /// post-fit impact on top. Left: the pull (θ̂ − θ₀)/σ₀ with the constraint σ̂/σ₀ as error bar on
    /// green ±1 and yellow ±2 bands. Right: Δμ for θ̂ + σ̂ (filled, red) and θ̂ − σ̂ (filled, blue),
    /// and for θ̂ ± σ₀ (open boxes, pre-fit). Rows carry class `impact-row` and the name in `data-name`.
    public static func ranking(_ impacts: [Impact], poi: String, bestFit: Double? = nil, uncertainty: Double? = nil, top: Int = 20) -> String {
        let rows = Array(impacts.sorted { $0.size > $1.size || ($0.size == $1.size && $0.name < $1.name) }.prefix(max(top, 1)))
        let rowHeight = 22.0
        let labels = rows.enumerated().map { "\($0 + 1). \($1.name)" }
        let nameWidth = 7.2 * Double((labels.map(\.count) + [8]).max()!) + 20
        let plotHeight = max(rowHeight * Double(rows.count), 80)
        let pullWidth = 300.0, impactWidth = 320.0
        let anyFailed = rows.contains { [$0.postfit.up, $0.postfit.down, $0.prefit.up, $0.prefit.down].contains { $0 == nil } }
        var svg = SVGDocument(width: nameWidth + pullWidth + 30 + impactWidth + (anyFailed ? 90 : 30), height: plotHeight + 125)
        let top0 = 70.0
        let pullExtent = max(2.5, (rows.map { abs($0.pull) + ($0.constraint.isFinite ? $0.constraint : 0) }.max() ?? 0) * 1.1)
        let pulls = Frame(left: nameWidth, top: top0, width: pullWidth, height: plotHeight, x: -pullExtent...pullExtent, y: 0...1)
        let allImpacts = rows.flatMap { [$0.postfit.up, $0.postfit.down, $0.prefit.up, $0.prefit.down].compactMap { $0 }.filter(\.isFinite) }
        let impactExtent = max(allImpacts.map(abs).max() ?? 0, 1e-12) * 1.15
        let impactTicks = niceTicks(-impactExtent...impactExtent, count: 5)
        let impactDomain = min(impactTicks.first ?? -impactExtent, -impactExtent)...max(impactTicks.last ?? impactExtent, impactExtent)
        let impact = Frame(left: pulls.right + 30, top: top0, width: impactWidth, height: plotHeight, x: impactDomain, y: 0...1)

        var title = "Impacts on \(poi)"
        if let bestFit { title += ": \(poi) = \(tickLabel(bestFit))" + (uncertainty.map { " ± \(tickLabel($0))" } ?? "") }
        svg.text(title, x: svg.width / 2, y: 28, size: 16, weight: "bold")
        // Bands of the pull panel.
        svg.rect(x: pulls.x(-2), y: pulls.top, width: pulls.x(2) - pulls.x(-2), height: plotHeight, fill: "#ffe680")
        svg.rect(x: pulls.x(-1), y: pulls.top, width: pulls.x(1) - pulls.x(-1), height: plotHeight, fill: "#8fd18f")
        svg.line(pulls.x(0), pulls.top, pulls.x(0), pulls.bottom, stroke: "#555", dash: "4,3")
        svg.line(impact.x(0), impact.top, impact.x(0), impact.bottom, stroke: "#555")
        for (k, r) in rows.enumerated() {
            let py = top0 + rowHeight * (Double(k) + 0.5)
            svg.raw("<g class=\"impact-row\" data-name=\"\(SVGDocument.escaped(r.name))\" data-impact=\"\(r.size)\">")
            if k % 2 == 1 {
                svg.rect(x: pulls.left, y: py - rowHeight / 2, width: pullWidth, height: rowHeight, fill: "#000", opacity: 0.05)
                svg.rect(x: impact.left, y: py - rowHeight / 2, width: impactWidth, height: rowHeight, fill: "#000", opacity: 0.05)
            }
            svg.text(labels[k], x: pulls.left - 8, y: py + 4.5, size: 12, anchor: "end")
            // Pre-fit: open boxes, full row height; post-fit: filled bars, narrower.
            for (value, colour) in [(r.prefit.up, "#d62728"), (r.prefit.down, "#1f77b4")] {
                guard let value, value.isFinite else { continue }
                let x0 = impact.x(min(0, value)), x1 = impact.x(max(0, value))
                svg.rect(x: x0, y: py - rowHeight * 0.4, width: x1 - x0, height: rowHeight * 0.8, fill: "none", stroke: colour, strokeWidth: 1.2)
            }
            for (value, colour) in [(r.postfit.up, "#d62728"), (r.postfit.down, "#1f77b4")] {
                guard let value, value.isFinite else { continue }
                let x0 = impact.x(min(0, value)), x1 = impact.x(max(0, value))
                svg.rect(x: x0, y: py - rowHeight * 0.25, width: x1 - x0, height: rowHeight * 0.5, fill: colour, opacity: 0.75,
                         title: "\(r.name): Δ\(poi) = \(tickLabel(value))")
            }
            if [r.postfit.up, r.postfit.down, r.prefit.up, r.prefit.down].contains(where: { $0 == nil }) {
                svg.text("refit failed", x: impact.right + 6, y: py + 4, size: 11, anchor: "start", fill: "#d62728")
            }
            if r.pull.isFinite {
                if r.constraint.isFinite && r.constraint > 0 {
                    svg.line(pulls.x(max(r.pull - r.constraint, -pullExtent)), py, pulls.x(min(r.pull + r.constraint, pullExtent)), py, stroke: "#000", width: 1.6)
                }
                svg.circle(cx: pulls.x(r.pull), cy: py, r: 3.8, fill: "#000")
            }
            svg.raw("</g>")
        }
        pulls.drawFrame(&svg)
        impact.drawFrame(&svg)
        pulls.drawXAxis(&svg, label: "(θ̂ − θ₀) / Δθ", ticks: niceTicks(-pullExtent...pullExtent, count: 5))
        impact.drawXAxis(&svg, label: "Δ\(poi)", ticks: impactTicks)
        // Legend above the panels.
        let ly = 44.0
        svg.circle(cx: pulls.left + 10, cy: ly, r: 3.8, fill: "#000")
        svg.line(pulls.left, ly, pulls.left + 20, ly, stroke: "#000", width: 1.6)
        svg.text("pull", x: pulls.left + 26, y: ly + 4.5, size: 12, anchor: "start")
        var lx = impact.left
        for (label, colour, filled) in [("+1σ post-fit", "#d62728", true), ("−1σ post-fit", "#1f77b4", true), ("±1σ pre-fit", "#555555", false)] {
            if filled {
                svg.rect(x: lx, y: ly - 5, width: 14, height: 10, fill: colour, opacity: 0.75)
            } else {
                svg.rect(x: lx, y: ly - 7, width: 14, height: 14, fill: "none", stroke: colour, strokeWidth: 1.2)
            }
            svg.text(label, x: lx + 18, y: ly + 4.5, size: 12, anchor: "start")
            lx += 26 + 7 * Double(label.count)
        }
        return svg.rendered()
    }

    /// The "Brazil band" of a CLs scan: observed CLs (solid, with points) and the expected median
    /// (dashed) with its ±1σ (green) and ±2σ (yellow) bands against the POI, the level (0.05: 95 %
    /// CL) as a red line, and the observed and expected limits marked where the curves cross it.
    /// The bands are paths of class `band-2sigma` and `band-1sigma`.
    public static func brazil(_ points: [CLsPoint], poi: String, level: Double = 0.05, observedLimit: Double? = nil, expectedLimits: [Double]? = nil) -> String {
        let scan = points.filter { $0.expected.count == 5 }.sorted { $0.poi < $1.poi }
        var svg = SVGDocument(width: 760, height: 500)
        let xs = scan.map(\.poi)
        let frame = Frame(left: 90, top: 48, width: 600, height: 380, x: (xs.first ?? 0)...(xs.last ?? 1), y: 0...1.05)
        svg.text("CLs scan of \(poi)", x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        frame.drawAxes(&svg, xLabel: poi, yLabel: "CLs")
        func band(_ lo: Int, _ hi: Int) -> [(Double, Double)] {
            scan.map { ($0.poi, $0.expected[hi]) } + scan.reversed().map { ($0.poi, $0.expected[lo]) }
        }
        // Ordered by POI; expected[0] (−2σ) is the smallest CLs, expected[4] the largest.
        svg.path(band(0, 4), frame: frame, clampTo: 0...1.05, fill: "#ffe000", className: "band-2sigma", title: "expected ±2σ")
        svg.path(band(1, 3), frame: frame, clampTo: 0...1.05, fill: "#00c000", className: "band-1sigma", title: "expected ±1σ")
        svg.polyline(scan.map { (frame.x($0.poi), frame.y($0.expected[2])) }, stroke: "#000", width: 1.8, dash: "7,4")
        let observed = scan.filter { $0.observed.isFinite }.map { (frame.x($0.poi), frame.y($0.observed)) }
        svg.polyline(observed, stroke: "#000", width: 2)
        for p in observed { svg.circle(cx: p.0, cy: p.1, r: 2.6, fill: "#000") }
        svg.line(frame.left, frame.y(level), frame.right, frame.y(level), stroke: "#d62728", width: 1.5)
        svg.text("CLs = \(tickLabel(level)) (\(tickLabel(100 * (1 - level)))% CL)", x: frame.right - 6, y: frame.y(level) - 6, size: 12, anchor: "end", fill: "#d62728")
        var entries: [(label: String, color: String, kind: LegendKind)] = [
            (label: "observed CLs", color: "#000", kind: .line),
            (label: "expected CLs (median)", color: "#000", kind: .dashed),
            (label: "expected ±1σ", color: "#00c000", kind: .box),
            (label: "expected ±2σ", color: "#ffe000", kind: .box),
        ]
        if let observedLimit, observedLimit.isFinite, frame.x.domain.contains(observedLimit) {
            svg.line(frame.x(observedLimit), frame.y(level), frame.x(observedLimit), frame.bottom, stroke: "#d62728", width: 1.5)
            svg.circle(cx: frame.x(observedLimit), cy: frame.y(level), r: 5, fill: "#d62728", stroke: "#000")
            entries.append((label: "observed limit \(poi) < \(tickLabel(observedLimit))", color: "#d62728", kind: .point))
        }
        if let expectedLimits, expectedLimits.count == 5, expectedLimits[2].isFinite, frame.x.domain.contains(expectedLimits[2]) {
            svg.line(frame.x(expectedLimits[2]), frame.y(level), frame.x(expectedLimits[2]), frame.bottom, stroke: "#555", width: 1.2, dash: "3,3")
            entries.append((label: "expected limit \(tickLabel(expectedLimits[2]))", color: "#555", kind: .pattern("3,3")))
        }
        let legendWidth = 30 + 7.5 * Double(entries.map(\.label.count).max() ?? 4)
        drawLegend(&svg, x: frame.right - legendWidth - 10, y: frame.top + 14, entries: entries)
        return svg.rendered()
    }
}
