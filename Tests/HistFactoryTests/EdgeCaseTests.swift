import EFTJSON
import Foundation
@testable import HistFactory
import EFTModifiers
import Testing

/// Synthetic edge-case workspaces (Tests/References/pyhf/edge_cases, made with pyhf 0.7.6 by
/// make_edge_cases.py): shared names across types, zero bins, staterror over several samples,
/// shapefactor across channels, fixed parameters, several measurements, lumi, continuous data,
/// interpolation codes, sorting.
@Suite struct EdgeCaseTests {
    struct Evaluation: CustomTestStringConvertible, Sendable {
        let key: String
        let workspace: String
        let json: JSON
        var testDescription: String {
            "\(key) [\(json["measurement"]!.stringValue!), \(json["interpcodes"]!["normsys"]!.stringValue!)/\(json["interpcodes"]!["histosys"]!.stringValue!)]"
        }
    }

    static let evaluations: [Evaluation] = {
        let dir = ReferencePaths.committed + "/pyhf"
        guard let root = try? loadJSON(dir + "/edge_cases_reference.json") else { return [] }
        return root["cases"]!.arrayValue!.flatMap { c in
            c["evaluations"]!.arrayValue!.map {
                Evaluation(key: c["key"]!.stringValue!, workspace: dir + "/" + c["workspace"]!.stringValue!, json: $0)
            }
        }
    }()

    @Test func everyEdgeCaseIsPresent() {
        #expect(Self.evaluations.count >= 15)
    }

    @Test(arguments: evaluations)
    func matchesPyhf(_ evaluation: Evaluation) throws {
        let ws = try Workspace(contentsOf: evaluation.workspace, modifiers: .efthf)
        let codes = evaluation.json["interpcodes"]!
        let settings = try InterpolationSettings(
            normsys: InterpolationCode(rawValue: codes["normsys"]!.stringValue!)!,
            histosys: InterpolationCode(rawValue: codes["histosys"]!.stringValue!)!)
        let model = try HistFactoryModel(workspace: ws, measurement: evaluation.json["measurement"]!.stringValue!, interpolation: settings)
        let data = try model.observedData(from: ws)
        #expect(model.parameterNames == evaluation.json["par_names"]!.arrayValue!.map { $0.stringValue! })
        #expect(model.parameterOrder == evaluation.json["par_order"]!.arrayValue!.map { $0["name"]!.stringValue! })
        #expect(model.channels == evaluation.json["channels"]!.arrayValue!.map { $0.stringValue! })
        #expect(model.samples == evaluation.json["samples"]!.arrayValue!.map { $0.stringValue! })
        #expect(data.auxiliary == evaluation.json["auxdata"]!.arrayValue!.map { $0.doubleValue! })
        for (name, fixed) in evaluation.json["suggested_fixed"]!.objectValue!.pairs {
            #expect(model.parameterSet(named: name)?.fixed == fixed.arrayValue!.map { $0.boolValue! }, "fixed \(name)")
        }
        for (name, inits) in evaluation.json["suggested_init"]!.objectValue!.pairs {
            #expect(model.parameterSet(named: name)?.inits == inits.arrayValue!.map { $0.doubleValue! }, "inits \(name)")
        }
        var points = [evaluation.json["at_init"]!]
        points += evaluation.json["points"]!.arrayValue!
        for point in points {
            let pars = try parameterVector(point["pars"]!, model: model)
            let expected = model.expectedMainData(pars)
            for (a, b) in zip(expected, point["expected_main"]!.arrayValue!.map { $0.doubleValue! }) {
                #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "expected data at \(point["kind"]!.serialized())")
            }
            for (a, b) in zip(model.expectedAuxiliaryData(pars), point["expected_aux"]!.arrayValue!.map { $0.doubleValue! }) {
                #expect(abs(a - b) <= 1e-9 * max(1, abs(b)))
            }
            if let logpdf = point["logpdf"]!.doubleValue {
                #expect(relativeDifference(model.logLikelihood(pars, data: data), logpdf) < 1e-9, "log L at \(point["kind"]!.serialized())")
            } else {
                #expect(!model.logLikelihood(pars, data: data).isFinite)
            }
            var gradient: [Double] = []
            let value = model.logLikelihoodAndGradient(pars, data: data, gradient: &gradient)
            guard value.isFinite else { continue }
            let numeric = finiteDifferenceGradient(model, pars, data)
            for i in pars.indices where !Self.nearKink(model, i, pars[i], settings) {
                #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(model.parameterNames[i])")
            }
        }
    }

    /// Codes 0 and 1 have a kink at α = 0 and pyhf 0.7.6's code 2 jumps at |α| = 1: finite
    /// differences across those points say nothing about the one-sided analytic derivative.
    static func nearKink(_ model: HistFactoryModel, _ index: Int, _ alpha: Double, _ settings: InterpolationSettings) -> Bool {
        guard let set = model.parameterSets.first(where: { $0.indices.contains(index) }) else { return false }
        var kinks: [Double] = []
        if set.modifierKinds.contains(.normsys) && settings.normsys == .code1 { kinks.append(0) }
        if set.modifierKinds.contains(.histosys) && settings.histosys == .code0 { kinks.append(0) }
        if set.modifierKinds.contains(.histosys) && settings.histosys == .code2 { kinks += [-1, 1] }
        return kinks.contains { abs(alpha - $0) < 1e-3 }
    }

    /// The interpolation codes' worked numbers from pyhf-semantics.md §3 (pyhf 0.7.6): factors
    /// for lo = 0.8, hi = 1.3 and deltas for nominal 10, lo 8, hi 13.
    @Test(arguments: [
        (-2.0, 0.64, 0.64, -4.0, -4.0, -3.0), (-1.0, 0.8, 0.8, -2.0, -2.0, -2.0),
        (-0.5, 0.894427191, 0.8922758384, -1.0, -1.051757812, -1.125), (0.0, 1.0, 1.0, 0.0, 0.0, 0.0),
        (0.3, 1.081889749, 1.079330978, 0.9, 0.8294491875, 0.795), (0.5, 1.140175425, 1.138282599, 1.5, 1.448242188, 1.375),
        (1.0, 1.3, 1.3, 3.0, 3.0, 3.0), (1.5, 1.482228053, 1.482228053, 4.5, 4.5, 1.75), (2.5, 1.926896468, 1.926896468, 7.5, 7.5, 5.25),
    ])
    func interpolationCodesMatchPyhf(alpha: Double, code1: Double, code4: Double, code0: Double, code4p: Double, code2: Double) {
        #expect(abs(FactorInterpolation(code: .code1, up: 1.3, down: 0.8).valueAndDerivative(alpha).0 - code1) < 1e-9)
        #expect(abs(FactorInterpolation(code: .code4, up: 1.3, down: 0.8).valueAndDerivative(alpha).0 - code4) < 1e-9)
        #expect(abs(additiveInterpolation(.code0, alpha: alpha, up: 3, down: 2).0 - code0) < 1e-9)
        #expect(abs(additiveInterpolation(.code4p, alpha: alpha, up: 3, down: 2).0 - code4p) < 1e-9)
        #expect(abs(additiveInterpolation(.code2, alpha: alpha, up: 3, down: 2).0 - code2) < 1e-9)
    }
}
