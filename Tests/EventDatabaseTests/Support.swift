import Foundation
import Morphing
@testable import EventDatabase
import _SeededRandom

enum Fixtures {
    static let coefficientNames = ["cHW", "cHq3", "cHDD"]

    /// Synthetic events whose weight is a squared amplitude `|s_0 + Σ_i s_i c_i|²` (so every
    /// monomial up to degree 2 occurs), with a few events negated as NLO negative weights,
    /// observables `pTV` (GeV) and `etaV`, a weight variation and a `pTV` scale shift.
    static func database(events N: Int, seed: UInt64 = 1) throws -> EventDatabase {
        var rng = SplitMix64(state: seed)
        let C = coefficientNames.count
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: C)
        var columns = [[Double]](repeating: [Double](repeating: 0, count: N), count: monomials.count)
        var pT = [Double](repeating: 0, count: N), eta = pT, up = pT, down = pT, scaleUp = pT, scaleDown = pT
        for e in 0 ..< N {
            pT[e] = 20 + 400 * pow(Double.random(in: 0 ..< 1, using: &rng), 2)
            eta[e] = Double.random(in: -2.5 ... 2.5, using: &rng)
            // Amplitude coefficients grow with pT like dimension-six operators do.
            var s = [1.0]
            for _ in 0 ..< C { s.append(Double.random(in: -1 ... 1, using: &rng) * pT[e] / 200) }
            let sign: Double = Double.random(in: 0 ..< 1, using: &rng) < 0.05 ? -1 : 1
            let scale = sign * Double.random(in: 0.5 ... 1.5, using: &rng)
            for (t, m) in monomials.enumerated() {
                let f = m.factors
                let value: Double
                switch f.count {
                case 0: value = 1
                case 1 where f[0].power == 1: value = 2 * s[f[0].coefficient + 1]
                case 1: value = s[f[0].coefficient + 1] * s[f[0].coefficient + 1]
                default: value = 2 * s[f[0].coefficient + 1] * s[f[1].coefficient + 1]
                }
                columns[t][e] = scale * value
            }
            up[e] = Double.random(in: 1.0 ... 1.1, using: &rng)
            down[e] = 2 - up[e]
            scaleUp[e] = 0.02 * pT[e]
            scaleDown[e] = -0.02 * pT[e]
        }
        return try EventDatabase(
            provenance: .init(
                generator: "efthf test fixture (synthetic)", eftBasis: "SMEFT Warsaw basis (synthetic)", lambda: 1000,
                normalisation: "Σ_e w_e(c) = expected events for 140 fb⁻¹", weightUnit: "events"),
            coefficientNames: coefficientNames, monomials: monomials, basisCoefficients: columns,
            observables: [.init(name: "pTV", unit: "GeV", values: pT), .init(name: "etaV", unit: "", values: eta)],
            weightVariations: [.init(name: "btag", up: up, down: down)],
            observableShifts: [.init(name: "JES", observable: "pTV", up: scaleUp, down: scaleDown)])
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-eventdb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func randomPoint(_ rng: inout SplitMix64) -> [Double] {
        coefficientNames.map { _ in Double.random(in: -2 ... 2, using: &rng) }
    }
}

/// The brute-force reference: every event reweighted in Double and binned by a linear scan.
func bruteForceHistogram(
    _ database: EventDatabase, at c: [Double], binning: Binning, selection: Selection = .all, shiftedBy shift: (EventDatabase.ObservableShift, Double)? = nil
) throws -> (sum: [Double], sumOfSquares: [Double], sumOfAbs: [Double]) {
    let x = database.observables[try database.observableIndex(binning.observable)].values
    var sum = [Double](repeating: 0, count: binning.binCount), squares = sum, abs = sum
    for e in 0 ..< database.eventCount {
        let passes = try selection.cuts.allSatisfy { cut in
            let v = database.observables[try database.observableIndex(cut.observable)].values[e]
            return v >= cut.lower && v < cut.upper
        }
        guard passes else { continue }
        var value = x[e]
        if let (s, theta) = shift { value += theta >= 0 ? theta * s.up[e] : -theta * s.down[e] }
        var bin: Int? = nil
        for b in 0 ..< binning.binCount where value >= binning.edges[b] && value < binning.edges[b + 1] { bin = b }
        if bin == nil, binning.flow == .foldIntoEdgeBins { bin = value < binning.edges[0] ? 0 : binning.binCount - 1 }
        guard let b = bin else { continue }
        var w = 0.0
        for t in 0 ..< database.termCount { w += database.basisCoefficients[t][e] * database.monomials[t].value(at: c) }
        sum[b] += w
        squares[b] += w * w
        abs[b] += Swift.abs(w)
    }
    return (sum, squares, abs)
}
