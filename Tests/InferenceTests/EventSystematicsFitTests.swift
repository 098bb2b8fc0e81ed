import EFTJSON
import EventDatabase
import Foundation
import HistFactory
import EFTModifiers
import Inference
import Morphing
import Testing

/// A fit whose signal is an event database reweighted and re-binned per event at every step, with
/// an observable shift (a 3% pT scale) as a nuisance parameter: the smoothed bin assignment makes
/// the likelihood differentiable in θ, so the minimiser converges and an Asimov fit returns the
/// injected Wilson coefficients and θ.
@Suite struct EventSystematicsFitTests {
    static func workspace(directory: URL) throws -> Workspace {
        var state: UInt64 = 2024
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let N = 20000
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 2)
        var columns = [[Double]](repeating: [Double](repeating: 0, count: N), count: monomials.count)
        var pT = [Double](repeating: 0, count: N), up = pT, down = pT
        for e in 0 ..< N {
            pT[e] = 20 + 480 * pow(uniform(), 2)
            // Amplitude 1 + cA pT/250 (1 ± 0.3 jitter) + cB (0.5 + 0.3 jitter): the operators change
            // the spectrum differently, the pT scale moves it, so the three are separable.
            let s = [1.0, pT[e] / 250 * (1 + 0.3 * (2 * uniform() - 1)), 0.5 + 0.3 * (2 * uniform() - 1)]
            let scale = 0.3 * (0.5 + uniform())
            for (t, m) in monomials.enumerated() {
                let f = m.factors
                let value: Double = switch f.count {
                case 0: 1
                case 1 where f[0].power == 1: 2 * s[f[0].coefficient + 1]
                case 1: s[f[0].coefficient + 1] * s[f[0].coefficient + 1]
                default: 2 * s[f[0].coefficient + 1] * s[f[1].coefficient + 1]
                }
                columns[t][e] = scale * value
            }
            up[e] = 0.03 * pT[e]
            down[e] = -0.03 * pT[e]
        }
        let db = try EventDatabase(
            provenance: .init(generator: "efthf test (synthetic)", eftBasis: "synthetic", lambda: 1000, normalisation: "expected events", weightUnit: "events"),
            coefficientNames: ["cA", "cB"], monomials: monomials, basisCoefficients: columns,
            observables: [.init(name: "pTV", unit: "GeV", values: pT)],
            observableShifts: [.init(name: "JES", observable: "pTV", up: up, down: down)])
        try db.write(to: directory.appendingPathComponent("db.h5"))
        let edges: [Double] = [20, 40, 60, 80, 100, 130, 160, 200, 250, 320, 400, 500]
        let kernel = try SmoothedReweightingKernel(
            database: db, binning: try Binning(observable: "pTV", edges: edges), systematics: [.init(name: "JES", kind: .shift)], smoothingWidth: 3)
        let sm = kernel.evaluate(coefficients: [0, 0], nuisance: [0], jacobian: false).yields
        let bkg = edges.dropLast().map { 3000 / (1 + $0 / 40) }
        let json: JSON = [
            "version": "1.0.0+efthf.1",
            "channels": [["name": "SR", "samples": [
                ["name": "signal", "data": .numbers(sm), "modifiers": [
                    ["name": "signal_events", "type": "event_database", "data": [
                        "file": "db.h5", "observable": "pTV", "edges": .numbers(edges), "smoothing_width": 3.0,
                        "systematics": [["name": "JES", "type": "shift", "parameter": "alpha_JES"]],
                    ]],
                ]],
                ["name": "bkg", "data": .numbers(bkg), "modifiers": [
                    ["name": "alpha_JES", "type": "histosys", "data": ["hi_data": .numbers(bkg.map { $0 * 1.02 }), "lo_data": .numbers(bkg.map { $0 * 0.98 })]],
                    ["name": "bkg_norm", "type": "normsys", "data": ["hi": 1.05, "lo": 0.95]],
                ]],
            ]]],
            "observations": [["name": "SR", "data": .numbers(zip(sm, bkg).map { $0 + $1 })]],
            "measurements": [["name": "m", "config": ["poi": "cA", "parameters": [
                ["name": "cA", "bounds": [[-3.0, 3.0]]], ["name": "cB", "bounds": [[-3.0, 3.0]]],
            ]]]],
        ]
        let path = directory.appendingPathComponent("workspace.json").path
        try json.serialized().write(toFile: path, atomically: true, encoding: .utf8)
        return try Workspace(contentsOf: path, modifiers: .efthf)
    }

    @Test func asimovFitRecoversInjectedCoefficientsAndShift() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-systfit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try HistFactoryModel(workspace: try Self.workspace(directory: directory))
        var truth = model.suggestedInits
        let injected = ["cA": 0.6, "cB": -0.4, "alpha_JES": 0.7, "bkg_norm": -0.2]
        for (name, value) in injected { truth[try model.parameterIndex(named: name)] = value }
        // Asimov data: main bins and auxiliary data at the injected point, so it is the exact MLE.
        let data = try model.data(main: model.expectedMainData(truth), auxiliary: model.expectedAuxiliaryData(truth))
        let options = FitOptions(multiStart: MultiStart(parameters: ["cA", "cB"], pointsPerParameter: 3))
        let result = try model.fit(data, options: options)
        #expect(result.status.isConverged, "\(result.status)")
        for (name, value) in injected {
            let fitted = try result.value(of: name)
            #expect(abs(fitted - value) < 2e-4, "\(name): \(fitted) vs \(value)")
        }
    }
}
