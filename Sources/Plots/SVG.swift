import Foundation

/// A standalone SVG 1.1 document built from primitive elements. Every string that reaches the
/// output goes through ``SVGDocument/escaped(_:)``, so names from a workspace (`<`, `&`, quotes)
/// cannot break the XML.
public struct SVGDocument: Sendable {
    public let width: Double
    public let height: Double
    var elements: [String] = []

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// The text with the five XML special characters replaced by entities.
    public static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }

    /// A number as SVG wants it: fixed precision, no exponent, no NaN.
    static func n(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let r = (x * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    mutating func raw(_ element: String) { elements.append(element) }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil, strokeWidth: Double = 1, opacity: Double? = nil, title: String? = nil) {
        var s = "<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(width, 0)))\" height=\"\(Self.n(max(height, 0)))\" fill=\"\(fill)\""
        if let stroke { s += " stroke=\"\(stroke)\" stroke-width=\"\(Self.n(strokeWidth))\"" }
        if let opacity { s += " fill-opacity=\"\(Self.n(opacity))\"" }
        if let title { s += "><title>\(Self.escaped(title))</title></rect>" } else { s += "/>" }
        elements.append(s)
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String = "#000", width: Double = 1, dash: String? = nil) {
        var s = "<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\""
        if let dash { s += " stroke-dasharray=\"\(dash)\"" }
        elements.append(s + "/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil) {
        guard points.count > 1 else { return }
        let p = points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        var s = "<polyline points=\"\(p)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\" stroke-linejoin=\"round\""
        if let dash { s += " stroke-dasharray=\"\(dash)\"" }
        elements.append(s + "/>")
    }

    mutating func circle(cx: Double, cy: Double, r: Double, fill: String, stroke: String? = nil) {
        var s = "<circle cx=\"\(Self.n(cx))\" cy=\"\(Self.n(cy))\" r=\"\(Self.n(r))\" fill=\"\(fill)\""
        if let stroke { s += " stroke=\"\(stroke)\"" }
        elements.append(s + "/>")
    }

    /// A star marker (the best fit) centred on (cx, cy).
    mutating func star(cx: Double, cy: Double, r: Double, fill: String) {
        let points = (0..<10).map { k -> String in
            let radius = k % 2 == 0 ? r : r * 0.45
            let angle = -Double.pi / 2 + Double(k) * Double.pi / 5
            return "\(Self.n(cx + radius * cos(angle))),\(Self.n(cy + radius * sin(angle)))"
        }
        elements.append("<polygon points=\"\(points.joined(separator: " "))\" fill=\"\(fill)\" stroke=\"#000\" stroke-width=\"0.8\"/>")
    }

    mutating func text(_ string: String, x: Double, y: Double, size: Double = 13, anchor: String = "middle", weight: String? = nil, rotate: Double? = nil, fill: String = "#000") {
        var s = "<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-size=\"\(Self.n(size))\" text-anchor=\"\(anchor)\" fill=\"\(fill)\""
        if let weight { s += " font-weight=\"\(weight)\"" }
        if let rotate { s += " transform=\"rotate(\(Self.n(rotate)) \(Self.n(x)) \(Self.n(y)))\"" }
        elements.append(s + ">\(Self.escaped(string))</text>")
    }

    /// A closed polygon through data points of `frame` (y clamped to `clampTo`), with a class
    /// (for tests and styling) and a tooltip.
    mutating func path(_ points: [(Double, Double)], frame: Frame, clampTo: ClosedRange<Double>, fill: String, stroke: String? = nil,
                       className: String, title: String? = nil) {
        guard points.count > 2 else { return }
        let d = points.enumerated().map { k, p in
            let y = min(max(p.1, clampTo.lowerBound), clampTo.upperBound)
            return "\(k == 0 ? "M" : "L")\(Self.n(frame.x(p.0))),\(Self.n(frame.y(y)))"
        }.joined(separator: " ") + " Z"
        var s = "<path class=\"\(className)\" d=\"\(d)\" fill=\"\(fill)\""
        if let stroke { s += " stroke=\"\(stroke)\" stroke-width=\"0.6\"" }
        if let title { s += "><title>\(Self.escaped(title))</title></path>" } else { s += "/>" }
        elements.append(s)
    }

    /// A filled polygon in pixel coordinates.
    mutating func polygon(_ points: [(Double, Double)], fill: String, opacity: Double? = nil, className: String? = nil) {
        guard points.count > 2 else { return }
        var s = "<polygon points=\"" + points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ") + "\" fill=\"\(fill)\""
        if let opacity { s += " fill-opacity=\"\(Self.n(opacity))\"" }
        if let className { s += " class=\"\(className)\"" }
        elements.append(s + "/>")
    }

    /// The document as a string: XML declaration, white background, a sans-serif font.
    public func rendered() -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"#ffffff\"/>\n"
        for e in elements { out += e + "\n" }
        return out + "</svg>\n"
    }
}

/// A linear (or, with `logarithmic`, log₁₀) map from data to pixels.
struct LinearScale {
    var domain: ClosedRange<Double>
    var range: (Double, Double)
    /// Positions proportional to log₁₀ x; values ≤ 0 map below the lower edge.
    var logarithmic = false

    func callAsFunction(_ x: Double) -> Double {
        let t: Double
        if logarithmic {
            let lo = log10(domain.lowerBound), hi = log10(domain.upperBound)
            t = hi > lo ? ((x > 0 ? log10(x) : lo - 1) - lo) / (hi - lo) : 0.5
        } else {
            let span = domain.upperBound - domain.lowerBound
            t = span > 0 ? (x - domain.lowerBound) / span : 0.5
        }
        return range.0 + t * (range.1 - range.0)
    }
}

/// The powers of ten in `range` (at most 12, thinned to every 2nd, 3rd … decade when more).
func decadeTicks(_ range: ClosedRange<Double>) -> [Double] {
    guard range.lowerBound > 0 else { return [] }
    let lo = Int(ceil(log10(range.lowerBound) - 1e-9)), hi = Int(floor(log10(range.upperBound) + 1e-9))
    guard hi >= lo else { return [] }
    let stride = max(1, (hi - lo + 11) / 12)
    return Swift.stride(from: lo, through: hi, by: stride).map { pow(10, Double($0)) }
}

/// 10ⁿ with superscript digits.
func decadeLabel(_ x: Double) -> String {
    let e = Int(log10(x).rounded())
    if e == 0 { return "1" }
    if e == 1 { return "10" }
    let superscripts: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
    return "10" + String(String(e).map { superscripts[$0]! })
}

/// About `count` round tick values (1, 2, 2.5, 5 × 10^k steps) covering `range`.
func niceTicks(_ range: ClosedRange<Double>, count: Int = 6) -> [Double] {
    let span = range.upperBound - range.lowerBound
    guard span > 0, span.isFinite else { return [range.lowerBound] }
    let rough = span / Double(max(count, 2))
    let magnitude = pow(10, floor(log10(rough)))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
    var ticks: [Double] = []
    var t = ceil(range.lowerBound / step - 1e-9) * step
    while t <= range.upperBound + 1e-9 * step {
        ticks.append(abs(t) < 1e-12 * step ? 0 : t)
        t += step
    }
    return ticks
}

/// A range widened to round values, with a minimum width so that a flat series still shows.
func paddedRange(_ values: [Double], includeZero: Bool = false, pad: Double = 0.05) -> ClosedRange<Double> {
    var finite = values.filter(\.isFinite)
    if includeZero { finite.append(0) }
    guard var lo = finite.min(), var hi = finite.max() else { return 0...1 }
    if hi - lo < 1e-12 { lo -= max(abs(lo) * 0.1, 0.5); hi += max(abs(hi) * 0.1, 0.5) }
    let span = hi - lo
    if !(includeZero && lo == 0) { lo -= pad * span }
    hi += pad * span
    return lo...hi
}

func tickLabel(_ x: Double) -> String {
    if x == 0 { return "0" }
    let a = abs(x)
    if a >= 1e5 || a < 1e-3 { return String(format: "%.1e", x) }
    var s = String(format: "%.4f", x)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

/// A rectangular plotting area with x and y scales, drawn axes, ticks and labels.
struct Frame {
    let left: Double, top: Double, width: Double, height: Double
    var x: LinearScale
    var y: LinearScale

    init(left: Double, top: Double, width: Double, height: Double, x: ClosedRange<Double>, y: ClosedRange<Double>) {
        self.left = left; self.top = top; self.width = width; self.height = height
        self.x = LinearScale(domain: x, range: (left, left + width))
        self.y = LinearScale(domain: y, range: (top + height, top))
    }

    var right: Double { left + width }
    var bottom: Double { top + height }

    /// The y axis: ticks with labels (decades on a logarithmic scale), grid lines, the title.
    func drawYAxis(_ svg: inout SVGDocument, label: String, ticks: [Double]? = nil, grid: Bool = true, labelSize: Double = 14) {
        let values = ticks ?? (y.logarithmic ? decadeTicks(y.domain) : niceTicks(y.domain))
        for t in values {
            let py = y(t)
            if grid { svg.line(left, py, right, py, stroke: "#e3e3e3") }
            svg.line(left - 5, py, left, py)
            svg.text(y.logarithmic ? decadeLabel(t) : tickLabel(t), x: left - 8, y: py + 4.5, size: 12, anchor: "end")
        }
        if y.logarithmic {
            // Minor ticks at 2 … 9 × 10ⁿ.
            var decade = pow(10, floor(log10(y.domain.lowerBound)))
            while decade < y.domain.upperBound {
                for m in 2...9 {
                    let v = Double(m) * decade
                    if y.domain.contains(v) { svg.line(left - 3, y(v), left, y(v)) }
                }
                decade *= 10
            }
        }
        svg.text(label, x: left - 58, y: top + height / 2, size: labelSize, rotate: -90)
    }

    /// The x axis: ticks at `ticks` (data values) or centred category labels, and the title.
    func drawXAxis(_ svg: inout SVGDocument, label: String, ticks: [Double], categories: [String]? = nil) {
        for t in ticks {
            let px = x(t)
            svg.line(px, bottom, px, bottom + 5)
            svg.text(tickLabel(t), x: px, y: bottom + 19, size: 12)
        }
        for (i, c) in (categories ?? []).enumerated() {
            let px = x(Double(i) + 0.5)
            svg.line(px, bottom, px, bottom + 5)
            svg.text(c, x: px, y: bottom + 19, size: 12)
        }
        svg.text(label, x: left + width / 2, y: bottom + 42, size: 14)
    }

    /// The frame's border.
    func drawFrame(_ svg: inout SVGDocument) {
        svg.rect(x: left, y: top, width: width, height: height, fill: "none", stroke: "#000", strokeWidth: 1.2)
    }

    /// Frame, grid lines, ticks with labels, axis titles. `xTicks` nil: numeric ticks.
    func drawAxes(_ svg: inout SVGDocument, xLabel: String, yLabel: String, xCategories: [String]? = nil, grid: Bool = true) {
        for t in niceTicks(y.domain) {
            let py = y(t)
            if grid { svg.line(left, py, right, py, stroke: "#e3e3e3") }
            svg.line(left - 5, py, left, py)
            svg.text(tickLabel(t), x: left - 8, y: py + 4.5, size: 12, anchor: "end")
        }
        if let xCategories {
            let rotate = xCategories.count > 8 || (xCategories.map(\.count).max() ?? 0) * xCategories.count > 60
            for (i, label) in xCategories.enumerated() {
                let px = x(Double(i) + 0.5)
                svg.line(px, bottom, px, bottom + 5)
                if rotate {
                    svg.text(label, x: px + 4, y: bottom + 12, size: 11, anchor: "end", rotate: -45)
                } else {
                    svg.text(label, x: px, y: bottom + 19, size: 12)
                }
            }
        } else {
            for t in niceTicks(x.domain) {
                let px = x(t)
                if grid { svg.line(px, top, px, bottom, stroke: "#e3e3e3") }
                svg.line(px, bottom, px, bottom + 5)
                svg.text(tickLabel(t), x: px, y: bottom + 19, size: 12)
            }
        }
        svg.rect(x: left, y: top, width: width, height: height, fill: "none", stroke: "#000", strokeWidth: 1.2)
        let rotated = xCategories.map { $0.count > 8 || ($0.map(\.count).max() ?? 0) * $0.count > 60 } ?? false
        svg.text(xLabel, x: left + width / 2, y: bottom + (rotated ? 78 : 42), size: 14)
        svg.text(yLabel, x: left - 58, y: top + height / 2, size: 14, rotate: -90)
    }
}

/// Matplotlib's tab10 colours: distinguishable, colour-blind tolerant.
let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

func color(_ i: Int) -> String { palette[i % palette.count] }

/// A legend box of coloured entries at (x, y), top-left.
func drawLegend(_ svg: inout SVGDocument, x: Double, y: Double, entries: [(label: String, color: String, kind: LegendKind)]) {
    let rowHeight = 20.0
    let width = 30 + 7.5 * Double(entries.map(\.label.count).max() ?? 4)
    svg.rect(x: x, y: y, width: width, height: rowHeight * Double(entries.count) + 8, fill: "#ffffff", stroke: "#999", strokeWidth: 0.8, opacity: 0.9)
    for (k, e) in entries.enumerated() {
        let cy = y + 4 + rowHeight * (Double(k) + 0.5)
        switch e.kind {
        case .box: svg.rect(x: x + 6, y: cy - 6, width: 16, height: 12, fill: e.color, stroke: "#333", strokeWidth: 0.6)
        case .line: svg.line(x + 4, cy, x + 24, cy, stroke: e.color, width: 2.5)
        case .dashed: svg.line(x + 4, cy, x + 24, cy, stroke: e.color, width: 2, dash: "6,3")
        case .pattern(let dash): svg.line(x + 4, cy, x + 24, cy, stroke: e.color, width: 2.2, dash: dash)
        case .point:
            svg.line(x + 14, cy - 6, x + 14, cy + 6, stroke: e.color, width: 1.5)
            svg.circle(cx: x + 14, cy: cy, r: 3.5, fill: e.color)
        case .star: svg.star(cx: x + 14, cy: cy, r: 7, fill: e.color)
        case .openCircle: svg.circle(cx: x + 14, cy: cy, r: 5, fill: "#fff", stroke: "#000")
        }
        svg.text(e.label, x: x + 28, y: cy + 4.5, size: 12, anchor: "start")
    }
}

enum LegendKind { case box, line, dashed, point, star, openCircle, pattern(String) }
