import Inference

extension Plot {
    /// The Δ(2NLL) curve of a 1D profile scan with the 68% and 95% lines.
    public static func scan(_ scan: ProfileScan) -> String {
        let p = scan.bestFit.parameterNames.firstIndex(of: scan.parameter)
        return Plot.scan(parameter: scan.parameter, values: scan.values, deltaTwiceNLL: scan.deltaTwiceNLL,
                         bestFit: p.map { scan.bestFit.values[$0] } ?? .nan)
    }

    /// The 68% and 95% contours of a 2D profile scan (Δ2NLL = 2.30 and 5.99) with the best fit.
    public static func contours(_ scan: ProfileScan2D, reference: (point: SIMD2<Double>, label: String)? = nil,
                                levels: [(value: Double, label: String)] = [(DeltaTwiceNLL.oneSigma2D, "68% CL"), (DeltaTwiceNLL.cl95In2D, "95% CL")]) -> String {
        let names = scan.bestFit.parameterNames
        let best = SIMD2(names.firstIndex(of: scan.parameters[0]).map { scan.bestFit.values[$0] } ?? .nan,
                         names.firstIndex(of: scan.parameters[1]).map { scan.bestFit.values[$0] } ?? .nan)
        let lines = levels.map { level in
            ContourLine(label: level.label, segments: scan.contour(level: level.value).map { (start: $0.start, end: $0.end) })
        }
        return Plot.contours(xName: scan.parameters[0], yName: scan.parameters[1],
                             xRange: (scan.xValues.min() ?? 0)...(scan.xValues.max() ?? 1), yRange: (scan.yValues.min() ?? 0)...(scan.yValues.max() ?? 1),
                             lines: lines, bestFit: best, reference: reference)
    }
}
