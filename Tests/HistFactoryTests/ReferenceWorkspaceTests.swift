import EFTJSON
import Foundation
import HistFactory
import Testing

/// The eight real workspaces against pyhf 0.7.6 (`../shared/reference/reference-values.json`,
/// made by `make_reference.py`; more points in `Tests/References/pyhf/points.json`, made by
/// `make_points.py`).
@Suite struct ReferenceWorkspaceTests {
    /// log L agrees with pyhf to this relative tolerance (the issue's 1e-9).
    static let tolerance = 1e-9

    @Test(arguments: ReferenceCase.all)
    func parameterOrderMatchesPyhf(_ reference: ReferenceCase) throws {
        let ws = try reference.workspace()
        let model = try HistFactoryModel(workspace: ws)
        let order = reference.json["par_order"]!.arrayValue!
        #expect(model.parameterOrder == order.map { $0["name"]!.stringValue! })
        #expect(model.parameterSets.map(\.count) == order.map { Int($0["n"]!.doubleValue!) })
        #expect(model.parameterSets.map(\.constraint.pyhfTypeName) == order.map { $0["type"]!.stringValue! })
        #expect(model.poiName == reference.json["poi"]!.stringValue!)
        #expect(model.auxiliaryData.count == Int(reference.json["n_auxdata"]!.doubleValue!))
        for (name, fixed) in reference.json["suggested_fixed"]!.objectValue!.pairs {
            let set = try #require(model.parameterSet(named: name))
            #expect(set.fixed == fixed.arrayValue!.map { $0.boolValue! }, "fixed flags of \(name)")
        }
        for (name, bounds) in reference.json["suggested_bounds"]!.objectValue!.pairs {
            let set = try #require(model.parameterSet(named: name))
            let expected = bounds.arrayValue!.map { $0.arrayValue!.map { $0.doubleValue! } }
            #expect(set.bounds.map { [$0.lowerBound, $0.upperBound] } == expected, "bounds of \(name)")
        }
    }

    @Test(arguments: ReferenceCase.all)
    func logLikelihoodMatchesPyhfAtInitsAndReferencePoints(_ reference: ReferenceCase) throws {
        let ws = try reference.workspace()
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        let inits = model.suggestedInits
        let logL = model.logLikelihood(inits, data: data)
        #expect(relativeDifference(logL, reference.json["logpdf_at_init"]!.doubleValue!) < Self.tolerance)
        let expected = model.expectedMainData(inits)
        let reference_ = reference.json["expected_main_at_init"]!.arrayValue!.map { $0.doubleValue! }
        #expect(expected.count == reference_.count)
        for (a, b) in zip(expected, reference_) {
            #expect(abs(a - b) <= Self.tolerance * max(1, abs(b)), "expected main data \(a) vs pyhf \(b)")
        }
        for point in reference.json["logpdf_at_points"]!.arrayValue! {
            let pars = try parameterVector(point["pars"]!, model: model)
            let value = model.logLikelihood(pars, data: data)
            #expect(relativeDifference(value, point["logpdf"]!.doubleValue!) < Self.tolerance)
        }
    }

    @Test(arguments: ReferenceCase.all)
    func randomPointsMatchPyhf(_ reference: ReferenceCase) throws {
        let file = ReferencePaths.committed + "/pyhf/points.json"
        let root = try ReferencePaths.json(file)
        let entry = try #require(root["cases"]!.arrayValue!.first { $0["name"]!.stringValue! == reference.name })
        let ws = try reference.workspace()
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        #expect(model.parameterNames == entry["par_names"]!.arrayValue!.map { $0.stringValue! })
        #expect(data.main == entry["main_data"]!.arrayValue!.map { $0.doubleValue! })
        #expect(data.auxiliary == entry["auxdata"]!.arrayValue!.map { $0.doubleValue! })
        for point in entry["points"]!.arrayValue! {
            let pars = try parameterVector(point["pars"]!, model: model)
            guard let logpdf = point["logpdf"]?.doubleValue else {
                // pyhf's NaN (negative expected yields far out in the nuisance parameters).
                #expect(!model.logLikelihood(pars, data: data).isFinite, "pyhf's log L is NaN at a \(point["kind"]!.serialized()) point")
                continue
            }
            #expect(relativeDifference(model.logLikelihood(pars, data: data), logpdf) < Self.tolerance)
            for (a, b) in zip(model.expectedMainData(pars), point["expected_main"]!.arrayValue!.map { $0.doubleValue! }) {
                #expect(abs(a - b) <= Self.tolerance * max(1, abs(b)))
            }
            for (a, b) in zip(model.expectedAuxiliaryData(pars), point["expected_aux"]!.arrayValue!.map { $0.doubleValue! }) {
                #expect(abs(a - b) <= Self.tolerance * max(1, abs(b)))
            }
        }
    }

    /// Each sample's expected yields against pyhf's `expected_data(pars, return_by_sample=True)`
    /// (`Tests/References/pyhf/sample_yields.json`, made by `make_sample_yields.py`), 1e-12.
    @Test(arguments: ReferenceCase.all)
    func sampleYieldsMatchPyhf(_ reference: ReferenceCase) throws {
        let root = try ReferencePaths.json(ReferencePaths.committed + "/pyhf/sample_yields.json")
        let entry = try #require(root["cases"]!.arrayValue!.first { $0["name"]!.stringValue! == reference.name })
        let ws = try reference.workspace()
        let model = try HistFactoryModel(workspace: ws)
        let points = entry["points"]!.arrayValue!
        #expect(points.count == 4)
        for point in points {
            let pars = try parameterVector(point["pars"]!, model: model)
            let ours = model.expectedSampleData(pars)
            let theirs = point["samples"]!.arrayValue!
            #expect(ours.map { "\($0.channel)/\($0.sample)" } == theirs.map { "\($0["channel"]!.stringValue!)/\($0["sample"]!.stringValue!)" })
            for (a, b) in zip(ours, theirs) {
                let expected = b["yields"]!.arrayValue!.map { $0.doubleValue! }
                #expect(a.yields.count == expected.count)
                for (x, y) in zip(a.yields, expected) {
                    #expect(abs(x - y) <= 1e-12 * max(1, abs(y)), "\(a.channel)/\(a.sample) at a \(point["kind"]!.serialized()) point: \(x) vs \(y)")
                }
            }
        }
    }

    /// The analytic gradient against five-point finite differences (to 1e-5 relative), at the
    /// inits and at the reference points, on every reference workspace.
    @Test(arguments: ReferenceCase.all)
    func gradientMatchesFiniteDifferences(_ reference: ReferenceCase) throws {
        let ws = try reference.workspace()
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        var points = [model.suggestedInits]
        for point in reference.json["logpdf_at_points"]!.arrayValue! {
            points.append(try parameterVector(point["pars"]!, model: model))
        }
        for point in points {
            var gradient: [Double] = []
            let value = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
            #expect(value == model.logLikelihood(point, data: data))
            let numeric = finiteDifferenceGradient(model, point, data)
            for i in 0..<point.count {
                #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂logL/∂\(model.parameterNames[i]): analytic \(gradient[i]) vs numeric \(numeric[i])")
            }
        }
    }
}
