import Foundation

/// One histogram: a label and a value per bin.
public struct Histogram: Sendable, Equatable {
    public var label: String
    public var values: [Double]

    public init(label: String, values: [Double]) {
        self.label = label
        self.values = values
    }
}

/// One line of a 2D contour plot: its label and straight segments in data coordinates.
public struct ContourLine: Sendable {
    public var label: String
    public var segments: [(start: SIMD2<Double>, end: SIMD2<Double>)]

    public init(label: String, segments: [(start: SIMD2<Double>, end: SIMD2<Double>)]) {
        self.label = label
        self.segments = segments
    }
}

/// One nuisance parameter's pull (θ̂ − θ₀)/σ₀ and constraint σ̂/σ₀, both in units of its
/// pre-fit uncertainty σ₀.
public struct Pull: Sendable, Equatable {
    public var name: String
    public var pull: Double
    public var constraint: Double

    public init(name: String, pull: Double, constraint: Double) {
        self.name = name
        self.pull = pull
        self.constraint = constraint
    }
}

/// The plots of a fit as standalone SVG documents (strings), for writing to `.svg` files.
///
/// Each function takes plain values, so the plots can be drawn from any source; the
/// ``Plot/scan(_:)`` and ``Plot/contours(_:levels:)`` overloads read Inference results directly.
public enum Plot {
    /// Stacked sample yields per bin with the data as points (√n error bars) on top.
    ///
    /// Negative yields are drawn from zero downwards, so a sign problem shows instead of hiding.
    ///
    /// - Parameter colorOrder: labels in the order that fixes their colours (all samples of a
    ///   model), so that a sample has the same colour in every channel; nil: the order given.
    public static func stackedYields(title: String, samples: [Histogram], data: [Double]?, binLabels: [String]? = nil,
                                     yLabel: String = "Events", colorOrder: [String]? = nil) -> String {
        let colorOf = { (k: Int) in color(colorOrder?.firstIndex(of: samples[k].label) ?? k) }
        let bins = samples.first?.values.count ?? data?.count ?? 0
        let labels = binLabels ?? (0..<bins).map { "bin \($0)" }
        var totals = [Double](repeating: 0, count: bins)
        for s in samples { for b in 0..<min(bins, s.values.count) { totals[b] += max(s.values[b], 0) } }
        let dataTop = data.map { d in d.map { $0 + $0.squareRoot() } } ?? []
        let negatives = samples.flatMap { $0.values.filter { $0 < 0 } }
        let yRange = paddedRange(totals + dataTop + negatives, includeZero: true, pad: 0.12)
        let legendWidth = 40 + 7.5 * Double((samples.map(\.label.count) + [4]).max()!)
        let rotated = bins > 8 || (labels.map(\.count).max() ?? 0) * bins > 60
        let plotWidth = max(420, min(900, 60 * Double(bins)))
        var svg = SVGDocument(width: 90 + plotWidth + legendWidth + 20, height: rotated ? 520 : 470)
        let frame = Frame(left: 90, top: 48, width: plotWidth, height: 350, x: 0...Double(max(bins, 1)), y: yRange)
        svg.text(title, x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        frame.drawAxes(&svg, xLabel: "bin", yLabel: yLabel, xCategories: labels)
        let barWidth = frame.x(1) - frame.x(0)
        var positive = [Double](repeating: 0, count: bins)
        var negative = [Double](repeating: 0, count: bins)
        for (k, s) in samples.enumerated() {
            for b in 0..<min(bins, s.values.count) {
                let v = s.values[b]
                guard v.isFinite, v != 0 else { continue }
                let base = v > 0 ? positive[b] : negative[b]
                let top = base + v
                let y0 = frame.y(max(base, top)), y1 = frame.y(min(base, top))
                svg.rect(x: frame.x(Double(b)), y: y0, width: barWidth, height: y1 - y0, fill: colorOf(k), stroke: "#333", strokeWidth: 0.4,
                         title: "\(s.label), \(labels[b]): \(tickLabel(v))")
                if v > 0 { positive[b] = top } else { negative[b] = top }
            }
        }
        if yRange.lowerBound < 0 { svg.line(frame.left, frame.y(0), frame.right, frame.y(0), stroke: "#000", width: 0.8) }
        // Legend top to bottom as the stack reads: the last (top) sample first.
        var entries = samples.enumerated().reversed().map { (label: $1.label, color: colorOf($0), kind: LegendKind.box) }
        if let data {
            for b in 0..<min(bins, data.count) {
                let px = frame.x(Double(b) + 0.5), n = data[b], e = n.squareRoot()
                svg.line(px, frame.y(n - e), px, frame.y(n + e), stroke: "#000", width: 1.5)
                svg.circle(cx: px, cy: frame.y(n), r: 4, fill: "#000")
            }
            entries.insert((label: "Data", color: "#000", kind: .point), at: 0)
        }
        drawLegend(&svg, x: frame.right + 15, y: frame.top, entries: entries)
        return svg.rendered()
    }

    /// Pulls with constraints as error bars, one row per parameter, on green ±1 and yellow ±2 bands.
    public static func pulls(_ pulls: [Pull], title: String = "Nuisance parameter pulls") -> String {
        let rowHeight = 18.0
        let nameWidth = 8.0 * Double((pulls.map(\.name.count) + [6]).max()!) + 20
        let extent = max(2.5, (pulls.map { abs($0.pull) + $0.constraint }.filter(\.isFinite).max() ?? 0) * 1.1)
        let plotHeight = max(rowHeight * Double(pulls.count), 60)
        var svg = SVGDocument(width: nameWidth + 460, height: plotHeight + 110)
        let frame = Frame(left: nameWidth, top: 45, width: 420, height: plotHeight, x: -extent...extent, y: 0...Double(max(pulls.count, 1)))
        svg.text(title, x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        svg.rect(x: frame.x(-2), y: frame.top, width: frame.x(2) - frame.x(-2), height: frame.height, fill: "#ffe680")
        svg.rect(x: frame.x(-1), y: frame.top, width: frame.x(1) - frame.x(-1), height: frame.height, fill: "#8fd18f")
        for t in niceTicks(-extent...extent) {
            svg.line(frame.x(t), frame.bottom, frame.x(t), frame.bottom + 5)
            svg.text(tickLabel(t), x: frame.x(t), y: frame.bottom + 19, size: 12)
        }
        svg.line(frame.x(0), frame.top, frame.x(0), frame.bottom, stroke: "#555", dash: "4,3")
        for (k, p) in pulls.enumerated() {
            let py = frame.top + rowHeight * (Double(k) + 0.5)
            if k % 2 == 1 { svg.rect(x: frame.left, y: py - rowHeight / 2, width: frame.width, height: rowHeight, fill: "#000", opacity: 0.04) }
            svg.text(p.name, x: frame.left - 8, y: py + 4.5, size: 12, anchor: "end")
            guard p.pull.isFinite else { continue }
            if p.constraint.isFinite && p.constraint > 0 {
                svg.line(frame.x(max(p.pull - p.constraint, -extent)), py, frame.x(min(p.pull + p.constraint, extent)), py, stroke: "#000", width: 1.6)
            }
            svg.circle(cx: frame.x(p.pull), cy: py, r: 4, fill: "#000")
        }
        svg.rect(x: frame.left, y: frame.top, width: frame.width, height: frame.height, fill: "none", stroke: "#000", strokeWidth: 1.2)
        svg.text("(θ̂ − θ₀) / Δθ", x: frame.left + frame.width / 2, y: frame.bottom + 42, size: 14)
        return svg.rendered()
    }

    /// A correlation matrix as coloured cells (blue −1, white 0, red +1) with a colour bar; the
    /// values are written in the cells when there are at most 20 parameters.
    public static func correlationMatrix(names: [String], matrix: [[Double]], title: String = "Correlation matrix") -> String {
        let n = names.count
        let cell = n <= 10 ? 44.0 : n <= 20 ? 30 : max(10, 600 / Double(max(n, 1)))
        let labelSpace = 7.2 * Double((names.map(\.count) + [4]).max()!) + 16
        let side = cell * Double(n)
        var svg = SVGDocument(width: labelSpace + side + 110, height: 50 + side + labelSpace)
        let left = labelSpace, top = 45.0
        svg.text(title, x: left + side / 2, y: 28, size: 16, weight: "bold")
        let fontSize = min(12, max(7, cell * 0.55))
        for i in 0..<n {
            for j in 0..<n {
                let r = i < matrix.count && j < matrix[i].count ? matrix[i][j] : .nan
                svg.rect(x: left + cell * Double(j), y: top + cell * Double(i), width: cell, height: cell, fill: divergingColor(r), stroke: "#fff", strokeWidth: 0.5,
                         title: "\(names[i]) × \(names[j]): \(r.isFinite ? String(format: "%.3f", r) : "n/a")")
                if n <= 20 && r.isFinite {
                    svg.text(String(format: "%.2f", r), x: left + cell * (Double(j) + 0.5), y: top + cell * (Double(i) + 0.5) + 4, size: min(fontSize, 11),
                             fill: abs(r) > 0.6 ? "#fff" : "#000")
                }
            }
            svg.text(names[i], x: left - 6, y: top + cell * (Double(i) + 0.5) + fontSize / 3, size: fontSize, anchor: "end")
            let bx = left + cell * (Double(i) + 0.5) + fontSize / 3, by = top + side + 6
            svg.text(names[i], x: bx, y: by, size: fontSize, anchor: "end", rotate: -90)
        }
        svg.rect(x: left, y: top, width: side, height: side, fill: "none", stroke: "#000", strokeWidth: 1)
        // Colour bar.
        let barX = left + side + 25, barHeight = max(side, 120)
        for k in 0..<40 {
            let v = 1 - 2 * (Double(k) + 0.5) / 40
            svg.rect(x: barX, y: top + barHeight * Double(k) / 40, width: 18, height: barHeight / 40 + 0.5, fill: divergingColor(v))
        }
        svg.rect(x: barX, y: top, width: 18, height: barHeight, fill: "none", stroke: "#000", strokeWidth: 0.8)
        for v in [-1.0, -0.5, 0, 0.5, 1] {
            let py = top + barHeight * (1 - v) / 2
            svg.line(barX + 18, py, barX + 23, py)
            svg.text(tickLabel(v), x: barX + 26, y: py + 4, size: 11, anchor: "start")
        }
        return svg.rendered()
    }

    /// Δ(2NLL) against one parameter, with dashed lines at the given levels (1 and 3.84 for
    /// 68% and 95% in 1D) and the best fit marked.
    public static func scan(parameter: String, values: [Double], deltaTwiceNLL: [Double], bestFit: Double,
                            levels: [(value: Double, label: String)] = [(1, "68% CL"), (3.841458820694124, "95% CL")]) -> String {
        let finite = deltaTwiceNLL.filter(\.isFinite)
        let top = max((finite.max() ?? 1), (levels.map(\.value).max() ?? 1) * 1.3)
        var svg = SVGDocument(width: 720, height: 480)
        let frame = Frame(left: 90, top: 48, width: 600, height: 360, x: paddedRange(values, pad: 0), y: 0...(top * 1.05))
        svg.text("Profile likelihood scan of \(parameter)", x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        frame.drawAxes(&svg, xLabel: parameter, yLabel: "−2 Δln L")
        for (k, level) in levels.enumerated() {
            let py = frame.y(level.value)
            svg.line(frame.left, py, frame.right, py, stroke: k == 0 ? "#2ca02c" : "#d62728", width: 1.5, dash: "7,4")
            svg.text(level.label, x: frame.right - 6, y: py - 5, size: 12, anchor: "end", fill: k == 0 ? "#2ca02c" : "#d62728")
        }
        let points = zip(values, deltaTwiceNLL).filter { $0.1.isFinite }.map { (frame.x($0.0), frame.y(min($0.1, top * 1.05))) }
        svg.polyline(points, stroke: "#1f77b4", width: 2.2)
        for p in points { svg.circle(cx: p.0, cy: p.1, r: 2.2, fill: "#1f77b4") }
        if bestFit.isFinite, frame.x.domain.contains(bestFit) {
            svg.line(frame.x(bestFit), frame.top, frame.x(bestFit), frame.bottom, stroke: "#555", width: 1, dash: "2,3")
            svg.star(cx: frame.x(bestFit), cy: frame.y(0), r: 8, fill: "#ffcc00")
        }
        drawLegend(&svg, x: frame.left + 10, y: frame.top + 8, entries: [
            (label: "profile likelihood", color: "#1f77b4", kind: .line),
            (label: "best fit \(parameter) = \(tickLabel(bestFit))", color: "#ffcc00", kind: .star),
        ])
        return svg.rendered()
    }

    /// Contours of a 2D scan with the best fit (and the Standard Model point, when given) marked.
    ///
    /// - Parameters:
    ///   - failedCells: rectangles (data coordinates) around grid points whose conditional fits
    ///     failed, hatched and counted in the legend.
    ///   - closedAtBoundary: the contours were closed along the scan's boundary (the region
    ///     continues beyond the grid); said in the legend.
    ///   - failedLabel: what the legend calls the failed cells.
    public static func contours(xName: String, yName: String, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>,
                                lines: [ContourLine], bestFit: SIMD2<Double>, reference: (point: SIMD2<Double>, label: String)? = nil,
                                failedCells: [(lower: SIMD2<Double>, upper: SIMD2<Double>)] = [], closedAtBoundary: Bool = false,
                                failedLabel: String = "conditional fit failed") -> String {
        var svg = SVGDocument(width: 680, height: 612)
        let frame = Frame(left: 90, top: 48, width: 520, height: 480, x: xRange, y: yRange)
        svg.text("Profile likelihood contours in (\(xName), \(yName))", x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        frame.drawAxes(&svg, xLabel: xName, yLabel: yName)
        var entries: [(label: String, color: String, kind: LegendKind)] = []
        if !failedCells.isEmpty {
            svg.raw(hatchPattern)
            for cell in failedCells {
                let x0 = frame.x(max(cell.lower.x, xRange.lowerBound)), x1 = frame.x(min(cell.upper.x, xRange.upperBound))
                let y0 = frame.y(min(cell.upper.y, yRange.upperBound)), y1 = frame.y(max(cell.lower.y, yRange.lowerBound))
                svg.raw("<rect class=\"failed-fit\" x=\"\(SVGDocument.n(x0))\" y=\"\(SVGDocument.n(y0))\" width=\"\(SVGDocument.n(x1 - x0))\" height=\"\(SVGDocument.n(y1 - y0))\" fill=\"url(#hatch)\"/>")
            }
            entries.append((label: "\(failedLabel) (\(failedCells.count) point\(failedCells.count == 1 ? "" : "s")): interpolated", color: "url(#hatch)", kind: .box))
        }
        for (k, line) in lines.enumerated() {
            let c = k == 0 ? "#1f77b4" : k == 1 ? "#d62728" : color(k + 1)
            for path in joined(line.segments) {
                svg.polyline(path.map { (frame.x($0.x), frame.y($0.y)) }, stroke: c, width: 2.2, dash: k == 0 ? nil : "7,4")
            }
            entries.append((label: line.label, color: c, kind: k == 0 ? .line : .dashed))
        }
        if let reference {
            svg.circle(cx: frame.x(reference.point.x), cy: frame.y(reference.point.y), r: 5, fill: "#fff", stroke: "#000")
            entries.append((label: reference.label, color: "#fff", kind: .openCircle))
        }
        svg.star(cx: frame.x(bestFit.x), cy: frame.y(bestFit.y), r: 9, fill: "#ffcc00")
        entries.append((label: "best fit (\(tickLabel(bestFit.x)), \(tickLabel(bestFit.y)))", color: "#ffcc00", kind: .star))
        var notes: [String] = []
        if closedAtBoundary { notes.append("contours closed along the scan's edge (the region extends beyond)") }
        if !failedCells.isEmpty { notes.append("interpolated across failed points") }
        if !notes.isEmpty {
            let text = notes.joined(separator: "; ")
            svg.text(text.prefix(1).uppercased() + text.dropFirst() + ".", x: frame.left + frame.width / 2, y: frame.bottom + 66, size: 11, fill: "#555")
        }
        drawLegend(&svg, x: frame.left + 10, y: frame.top + 8, entries: entries)
        return svg.rendered()
    }

    /// Histograms overlaid as step lines (for instance a signal at several coefficient points).
    public static func overlaid(title: String, histograms: [Histogram], binLabels: [String]? = nil, yLabel: String = "Events") -> String {
        let bins = histograms.map(\.values.count).max() ?? 0
        let labels = binLabels ?? (0..<bins).map { "bin \($0)" }
        let yRange = paddedRange(histograms.flatMap(\.values), includeZero: true, pad: 0.12)
        let legendWidth = 40 + 7.5 * Double((histograms.map(\.label.count) + [4]).max()!)
        let plotWidth = max(420, min(900, 60 * Double(bins)))
        let rotated = bins > 8 || (labels.map(\.count).max() ?? 0) * bins > 60
        var svg = SVGDocument(width: 90 + plotWidth + legendWidth + 20, height: rotated ? 520 : 470)
        let frame = Frame(left: 90, top: 48, width: plotWidth, height: 350, x: 0...Double(max(bins, 1)), y: yRange)
        svg.text(title, x: frame.left + frame.width / 2, y: 28, size: 16, weight: "bold")
        frame.drawAxes(&svg, xLabel: "bin", yLabel: yLabel, xCategories: labels)
        if yRange.lowerBound < 0 { svg.line(frame.left, frame.y(0), frame.right, frame.y(0), stroke: "#000", width: 0.8) }
        for (k, h) in histograms.enumerated() {
            var points: [(Double, Double)] = []
            for (b, v) in h.values.enumerated() where v.isFinite {
                points.append((frame.x(Double(b)), frame.y(v)))
                points.append((frame.x(Double(b + 1)), frame.y(v)))
            }
            svg.polyline(points, stroke: color(k), width: 2.2, dash: dashPattern(k))
        }
        drawLegend(&svg, x: frame.right + 15, y: frame.top, entries: histograms.enumerated().map {
            (label: $1.label, color: color($0), kind: dashPattern($0).map { LegendKind.pattern($0) } ?? .line)
        })
        return svg.rendered()
    }
}

/// Blue (−1) through white (0) to red (+1); grey for a missing value.
func divergingColor(_ r: Double) -> String {
    guard r.isFinite else { return "#cccccc" }
    let t = min(max(r, -1), 1)
    let (from, to): ((Double, Double, Double), (Double, Double, Double)) = t < 0 ? ((255, 255, 255), (33, 102, 172)) : ((255, 255, 255), (178, 24, 43))
    let a = abs(t)
    let c = (from.0 + (to.0 - from.0) * a, from.1 + (to.1 - from.1) * a, from.2 + (to.2 - from.2) * a)
    return String(format: "#%02x%02x%02x", Int(c.0.rounded()), Int(c.1.rounded()), Int(c.2.rounded()))
}

/// Contour segments chained into polylines by shared end points (marching squares emits each
/// crossing once per neighbouring cell, so ends match exactly up to rounding), so that dashes run
/// continuously along a line instead of restarting on every cell.
func joined(_ segments: [(start: SIMD2<Double>, end: SIMD2<Double>)]) -> [[SIMD2<Double>]] {
    let span = segments.flatMap { [$0.start, $0.end] }.reduce(0.0) { max($0, abs($1.x), abs($1.y)) }
    let tolerance = 1e-9 * max(span, 1)
    func close(_ a: SIMD2<Double>, _ b: SIMD2<Double>) -> Bool { abs(a.x - b.x) <= tolerance && abs(a.y - b.y) <= tolerance }
    var remaining = segments
    var paths: [[SIMD2<Double>]] = []
    while let first = remaining.popLast() {
        var path = [first.start, first.end]
        var extended = true
        while extended {
            extended = false
            for (i, s) in remaining.enumerated() {
                if close(s.start, path.last!) { path.append(s.end) }
                else if close(s.end, path.last!) { path.append(s.start) }
                else if close(s.end, path.first!) { path.insert(s.start, at: 0) }
                else if close(s.start, path.first!) { path.insert(s.end, at: 0) }
                else { continue }
                remaining.remove(at: i)
                extended = true
                break
            }
        }
        paths.append(path)
    }
    return paths
}

/// Solid for the first line, then dashed, dotted, dash-dotted in turn.
func dashPattern(_ k: Int) -> String? {
    k == 0 ? nil : ["7,4", "2,3", "10,3,2,3"][(k - 1) % 3]
}
