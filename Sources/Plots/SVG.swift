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

    /// The document as a string: XML declaration, white background, a sans-serif font.
    public func rendered() -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"#ffffff\"/>\n"
        for e in elements { out += e + "\n" }
        return out + "</svg>\n"
    }
}

/// A linear map from data to pixels.
struct LinearScale {
    var domain: ClosedRange<Double>
    var range: (Double, Double)

    func callAsFunction(_ x: Double) -> Double {
        let span = domain.upperBound - domain.lowerBound
        let t = span > 0 ? (x - domain.lowerBound) / span : 0.5
        return range.0 + t * (range.1 - range.0)
    }
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
