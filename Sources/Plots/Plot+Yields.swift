import Foundation
import Inference

/// What a yields plot shows for one channel: the stacked samples, the data, the total
/// prediction's uncertainty band and the bins' edges.
public struct YieldsPanel: Sendable {
    public var title: String
    public var samples: [Histogram]
    /// Observed counts per bin, drawn with Poisson (Garwood) 68 % intervals.
    public var data: [Double]?
    /// bins + 1 increasing edges; nil: the bins are numbered 0, 1, … (a pyhf workspace has no edges).
    public var binEdges: [Double]?
    /// The x axis title (the observable).
    public var xLabel: String
    /// σ of the total prediction per bin (the band); nil: no band.
    public var uncertainty: [Double]?
    /// The band's legend entry (`Pre-fit uncertainty`).
    public var bandLabel: String
    /// Labels in the order that fixes their colours (all samples of a model); nil: the order given.
    public var colorOrder: [String]?

    public init(title: String, samples: [Histogram], data: [Double]?, binEdges: [Double]? = nil, xLabel: String? = nil,
                uncertainty: [Double]? = nil, bandLabel: String = "Uncertainty", colorOrder: [String]? = nil) {
        self.title = title
        self.samples = samples
        self.data = data
        self.binEdges = binEdges
        self.xLabel = xLabel ?? (binEdges == nil ? "bin index" : "observable")
        self.uncertainty = uncertainty
        self.bandLabel = bandLabel
        self.colorOrder = colorOrder
    }

    var binCount: Int { samples.first?.values.count ?? data?.count ?? 0 }

    /// The total prediction Σ samples per bin.
    var total: [Double] {
        (0..<binCount).map { b in samples.reduce(0) { $0 + (b < $1.values.count ? $1.values[b] : 0) } }
    }
}

/// The Garwood 68.27 % central confidence interval of a Poisson mean given n observed events
/// (Garwood 1936; the ROOT `TH1::kPoisson` and PDG error bars):
///
/// ```
/// lower: P(n, L) = (1 − 0.6827)/2, i.e. Q(n, L) = 0.84135   (L = 0 for n = 0)
/// upper: Q(n + 1, U) = 0.15865
/// ```
///
/// with Q the regularized upper incomplete gamma function; non-integer n (Asimov data) is taken as is.
public func poissonInterval(_ n: Double) -> (lower: Double, upper: Double) {
    guard n.isFinite, n >= 0 else { return (.nan, .nan) }
    let alpha = 1 - 0.682689492137086
    func solve(_ a: Double, _ target: Double) -> Double {
        // Q(a, x) falls from 1 to 0 as x grows: bisection to 1e-10 relative.
        var lo = 0.0, hi = a + 20 * (a + 1).squareRoot() + 20
        for _ in 0..<200 {
            let mid = 0.5 * (lo + hi)
            if regularizedUpperGamma(a, mid) > target { lo = mid } else { hi = mid }
            if hi - lo < 1e-10 * max(hi, 1) { break }
        }
        return 0.5 * (lo + hi)
    }
    let lower = n == 0 ? 0 : solve(n, 1 - alpha / 2)
    return (lower, solve(n + 1, alpha / 2))
}

extension Plot {
    /// Stacked samples against the data with Poisson error bars, the total prediction's
    /// uncertainty band (hatched), and a data/prediction ratio panel below with the band's relative
    /// width; x at the bins' edges when known. `logY`: a logarithmic y axis (decades).
    ///
    /// The band's path (class `band`) has 2 points per bin on its upper edge and 2 per bin on its
    /// lower edge; the ratio panel is the group with class `ratio-panel`.
    public static func yields(_ panel: YieldsPanel, logY: Bool = false) -> String {
        let bins = panel.binCount
        let edges: [Double] = panel.binEdges.flatMap { $0.count == bins + 1 ? $0 : nil } ?? (0...bins).map(Double.init)
        let total = panel.total
        let sigma = panel.uncertainty.flatMap { $0.count == bins ? $0 : nil }
        let data = panel.data.flatMap { $0.count == bins ? $0 : nil }
        let intervals = data?.map(poissonInterval)
        let colorOf = { (k: Int) in color(panel.colorOrder?.firstIndex(of: panel.samples[k].label) ?? k) }

        // y range: the stack, the band and the data bars, with room above for the legend.
        var tops = total
        if let sigma { tops += zip(total, sigma).map { $0 + $1 } }
        if let intervals { tops += intervals.map(\.upper) }
        var yDomain: ClosedRange<Double>
        if logY {
            let positives = (total + (data ?? []) + panel.samples.flatMap(\.values)).filter { $0 > 0 && $0.isFinite }
            let lo = pow(10, floor(log10(max((positives.min() ?? 1) * 0.5, 1e-300))))
            let hi = max(tops.filter(\.isFinite).max() ?? 10, lo * 10)
            let decades = log10(hi / lo)
            yDomain = lo...(hi * pow(10, 0.45 * decades))
        } else {
            let negatives = panel.samples.flatMap { $0.values.filter { $0 < 0 } }
            yDomain = paddedRange(tops + negatives, includeZero: true, pad: 0.3)
        }

        let legendEntries = panel.samples.count + (data == nil ? 0 : 1) + (sigma == nil ? 0 : 1)
        let legendWidth = 40 + 7.5 * Double((panel.samples.map(\.label.count) + [panel.bandLabel.count, 4]).max()!)
        let plotWidth = max(460, min(900, 55 * Double(bins)))
        let mainHeight = max(330.0, 20 * Double(legendEntries) + 40)
        let ratioHeight = 120.0
        var svg = SVGDocument(width: 90 + plotWidth + legendWidth + 25, height: 48 + mainHeight + 10 + ratioHeight + 70)
        svg.raw(hatchPattern)
        var main = Frame(left: 90, top: 48, width: plotWidth, height: mainHeight, x: edges.first!...edges.last!, y: yDomain)
        main.y.logarithmic = logY
        svg.text(panel.title, x: main.left + main.width / 2, y: 28, size: 16, weight: "bold")
        main.drawYAxis(&svg, label: logY ? "Events (log scale)" : "Events")

        // The stack: positive yields upwards, negative downwards from zero (not drawn on log-y).
        let floorY = logY ? yDomain.lowerBound : 0
        var positive = [Double](repeating: 0, count: bins), negative = [Double](repeating: 0, count: bins)
        for (k, s) in panel.samples.enumerated() {
            for b in 0..<min(bins, s.values.count) {
                let v = s.values[b]
                guard v.isFinite, v != 0, !(logY && v < 0) else { continue }
                let base = v > 0 ? positive[b] : negative[b]
                let top = base + v
                let y0 = main.y(max(base, top)), y1 = main.y(max(min(base, top), floorY))
                svg.rect(x: main.x(edges[b]), y: y0, width: main.x(edges[b + 1]) - main.x(edges[b]), height: y1 - y0, fill: colorOf(k),
                         stroke: "#333", strokeWidth: 0.4, title: "\(s.label), \(binName(b, edges, panel.binEdges != nil)): \(tickLabel(v))")
                if v > 0 { positive[b] = top } else { negative[b] = top }
            }
        }
        if !logY && yDomain.lowerBound < 0 { svg.line(main.left, main.y(0), main.right, main.y(0), stroke: "#000", width: 0.8) }
        // The total as a step line, then the band around it.
        var step: [(Double, Double)] = []
        for b in 0..<bins { step += [(main.x(edges[b]), main.y(max(total[b], floorY))), (main.x(edges[b + 1]), main.y(max(total[b], floorY)))] }
        svg.polyline(step, stroke: "#000", width: 1.2)
        if let sigma {
            svg.path(bandOutline(edges: edges, centre: total, halfWidth: sigma), frame: main, clampTo: yDomain, fill: "url(#hatch)", stroke: "#555", className: "band", title: panel.bandLabel)
        }
        if let data, let intervals {
            for b in 0..<bins {
                let px = main.x(0.5 * (edges[b] + edges[b + 1])), n = data[b]
                if logY && n <= 0 {
                    // No point at 0 on a log axis; the bar up to the upper limit still shows.
                    svg.line(px, main.bottom, px, main.y(intervals[b].upper), stroke: "#000", width: 1.5)
                    continue
                }
                svg.line(px, main.y(max(intervals[b].lower, floorY)), px, main.y(intervals[b].upper), stroke: "#000", width: 1.5)
                svg.circle(cx: px, cy: main.y(n), r: 3.5, fill: "#000")
            }
        }
        main.drawFrame(&svg)

        var entries: [(label: String, color: String, kind: LegendKind)] = []
        if data != nil { entries.append((label: "Data", color: "#000", kind: .point)) }
        entries += panel.samples.enumerated().reversed().map { (label: $1.label, color: colorOf($0), kind: LegendKind.box) }
        if sigma != nil { entries.append((label: panel.bandLabel, color: "url(#hatch)", kind: .box)) }
        drawLegend(&svg, x: main.right + 12, y: main.top, entries: entries)

        // Ratio panel: data / prediction with the relative band around 1.
        let ratios: [(value: Double, lower: Double, upper: Double)?] = (0..<bins).map { b in
            guard let data, let intervals, total[b] > 0 else { return nil }
            return (data[b] / total[b], intervals[b].lower / total[b], intervals[b].upper / total[b])
        }
        let relative: [Double]? = sigma.map { s in (0..<bins).map { total[$0] > 0 ? s[$0] / total[$0] : 0 } }
        let spread = ((ratios.compactMap { $0.map { max(abs($0.value - 1), 0.1) } }) + (relative ?? []).map { $0 * 1.1 }).max() ?? 0.5
        let halfRange = min(max(niceHalfRange(spread * 1.15), 0.1), 1.0)
        let ratioFrame = Frame(left: main.left, top: main.bottom + 10, width: plotWidth, height: ratioHeight, x: main.x.domain, y: (1 - halfRange)...(1 + halfRange))
        svg.raw("<g class=\"ratio-panel\">")
        if let relative {
            svg.path(bandOutline(edges: edges, centre: [Double](repeating: 1, count: bins), halfWidth: relative), frame: ratioFrame, clampTo: ratioFrame.y.domain, fill: "url(#hatch)", stroke: "#555", className: "ratio-band", title: panel.bandLabel)
        }
        svg.line(ratioFrame.left, ratioFrame.y(1), ratioFrame.right, ratioFrame.y(1), stroke: "#d62728", width: 1, dash: "5,3")
        for b in 0..<bins {
            guard let r = ratios[b] else { continue }
            let px = ratioFrame.x(0.5 * (edges[b] + edges[b + 1]))
            let clamp = { (v: Double) in min(max(v, ratioFrame.y.domain.lowerBound), ratioFrame.y.domain.upperBound) }
            svg.line(px, ratioFrame.y(clamp(r.lower)), px, ratioFrame.y(clamp(r.upper)), stroke: "#000", width: 1.5)
            if ratioFrame.y.domain.contains(r.value) {
                svg.circle(cx: px, cy: ratioFrame.y(r.value), r: 3.5, fill: "#000")
            } else {
                // Off scale: an arrow at the edge pointing the way.
                let up = r.value > 1, yEdge = up ? ratioFrame.top + 2 : ratioFrame.bottom - 2
                svg.polygon([(px, yEdge), (px - 5, yEdge + (up ? 9 : -9)), (px + 5, yEdge + (up ? 9 : -9))], fill: "#d62728")
            }
        }
        // No label at the top edge, where it would meet the main panel's lowest one.
        let ratioTicks = niceTicks(ratioFrame.y.domain, count: 4).filter { $0 < ratioFrame.y.domain.upperBound - 1e-9 * halfRange }
        ratioFrame.drawYAxis(&svg, label: "Data / Pred.", ticks: ratioTicks, grid: false, labelSize: 12)
        if panel.binEdges != nil {
            ratioFrame.drawXAxis(&svg, label: panel.xLabel, ticks: edges.count <= 12 ? edges : niceTicks(ratioFrame.x.domain))
        } else if bins > 20 {
            // Many numbered bins: round index ticks at the bins' lower edges.
            ratioFrame.drawXAxis(&svg, label: panel.xLabel, ticks: niceTicks(ratioFrame.x.domain).filter { $0 == $0.rounded() && $0 < Double(bins) })
        } else {
            ratioFrame.drawXAxis(&svg, label: panel.xLabel, ticks: [], categories: (0..<bins).map { String($0) })
        }
        ratioFrame.drawFrame(&svg)
        svg.raw("</g>")
        return svg.rendered()
    }

    /// The outline of a step band centre ± halfWidth over the bins: the upper edge left to right
    /// (2 points per bin), then the lower edge right to left (2 per bin).
    static func bandOutline(edges: [Double], centre: [Double], halfWidth: [Double]) -> [(Double, Double)] {
        var points: [(Double, Double)] = []
        for b in centre.indices {
            points.append((edges[b], centre[b] + halfWidth[b]))
            points.append((edges[b + 1], centre[b] + halfWidth[b]))
        }
        for b in centre.indices.reversed() {
            points.append((edges[b + 1], centre[b] - halfWidth[b]))
            points.append((edges[b], centre[b] - halfWidth[b]))
        }
        return points
    }

    /// A bin's name in tooltips: its edges, or its index.
    static func binName(_ b: Int, _ edges: [Double], _ hasEdges: Bool) -> String {
        hasEdges ? "[\(tickLabel(edges[b])), \(tickLabel(edges[b + 1])))" : "bin \(b)"
    }

    /// The smallest of 0.1, 0.2, 0.25, 0.5, 1 (× 10^k) at least `x`: a round ratio-panel range.
    static func niceHalfRange(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 0.5 }
        let magnitude = pow(10, floor(log10(x)))
        return [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= x * (1 - 1e-12) } ?? 10 * magnitude
    }
}

/// Diagonal hatching for uncertainty bands (`url(#hatch)`).
let hatchPattern = """
    <defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">\
    <rect width="6" height="6" fill="#ffffff" fill-opacity="0.35"/><line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="1.6"/></pattern></defs>
    """
