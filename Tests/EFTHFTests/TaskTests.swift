import EFTHF
import Foundation
import Testing

/// The task layer: one rule for parameter values, grids and limits, and reports that encode the
/// same way through efthf's writer and Foundation's coders.
@Suite struct TaskTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    @Test("a fit report encodes in efthf fit --json's order and survives Foundation's coders")
    func fitReportCodes() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/vh/workspace_morphing.json")).load()
        let report = try FitTask(ops: ["cHW"]).run(on: loaded)
        let json = report.jsonValue
        #expect(json.objectValue?.keys == ["status", "converged", "twice_nll", "edm", "function_calls", "parameters", "correlations", "degenerate_minima", "profile_intervals", "minima", "multistart", "evaluations", "goodness_of_fit"])
        #expect(json["parameters"]?.objectValue?.keys == loaded.model.parameterNames)
        #expect(json["twice_nll"]?.doubleValue == report.fit?.twiceNLL)
        let interval = try #require(json["profile_intervals"]?["cHW"])
        #expect(interval.objectValue?.keys == ["best_fit", "one_sigma", "cl95"])
        #expect(interval["one_sigma"]?.arrayValue?.count == 2)
        let fixed = try #require(json["parameters"]?["cHq3"])
        #expect(fixed["fixed"] == .bool(true) && fixed["uncertainty"] == nil)

        let decoded = try JSONDecoder().decode(FitReport.self, from: JSONEncoder().encode(report))
        #expect(decoded.twiceNLL == report.twiceNLL && decoded.functionCalls == report.functionCalls)
        for entry in report.parameters.entries { #expect(decoded.parameters[entry.name] == entry.value) }
        #expect(decoded.profileIntervals?["cHW"] == report.profileIntervals?["cHW"])
        // efthf's writer and Foundation's parse to the same document.
        let foundation = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? NSDictionary
        let ours = try JSONSerialization.jsonObject(with: Data(json.serialized().utf8)) as? NSDictionary
        #expect(foundation == ours)
    }

    @Test("parameter values address scalars, one component and whole vectors, from text and JSON alike")
    func parameterValues() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        let model = loaded.model
        let gamma = try #require(model.parameterSet(named: "staterror_SR_pTV"))
        let fromJSON = try ParameterValues(json: try JSONParser.parse(Data(#"{"mu": 1.5, "staterror_SR_pTV": [1.01, 0.99, 1.02, 0.98, 1.03]}"#.utf8)))
        var options = FitOptions()
        try fromJSON.fix(in: &options, model: model)
        #expect(options.fixed?[try model.parameterIndex(named: "mu")] == true)
        #expect(gamma.indices.allSatisfy { options.fixed?[$0] == true })
        #expect(options.initialValues.map { Array($0[gamma.indices]) } == [1.01, 0.99, 1.02, 0.98, 1.03])

        var point = model.suggestedInits
        try ParameterValues(parsing: "staterror_SR_pTV=1.1,staterror_SR_pTV[2]=0.9").apply(to: &point, model: model)
        #expect(Array(point[gamma.indices]) == [1.1, 1.1, 0.9, 1.1, 1.1])

        #expect(throws: HistFactoryError.self) { try ParameterValues(json: try JSONParser.parse(Data(#"{"staterror_SR_pTV": [1, 2]}"#.utf8))).apply(to: &point, model: model) }
        #expect(throws: HistFactoryError.self) { try ParameterValues(parsing: "mu=nan").apply(to: &point, model: model) }
        #expect(throws: HistFactoryError.self) { try ParameterValues(parsing: "mu") }
        let bad = try JSONParser.parse(Data(#"{"mu": "one"}"#.utf8))
        do {
            _ = try ParameterValues(json: bad, file: "pars.json")
            Issue.record("read a string as a parameter value")
        } catch {
            #expect(error.file == "pars.json" && error.path == JSONPointer(tokens: ["mu"]))
        }
    }

    @Test("every grid a user chooses has a limit, reported with its size")
    func gridLimits() throws {
        #expect(throws: HistFactoryError.self) { try GridAxis(parsing: "cHW=-1:1:100000000000") }
        #expect(throws: HistFactoryError.self) { try GridAxis(parsing: "cHW=1:-1:3") }
        #expect(throws: HistFactoryError.self) { try GridAxis(parsing: "cHW=-1:1") }
        do {
            _ = try PatchSetTask.grid(parsing: "cHW=-1:1:200,cHq3=-1:1:200")
            Issue.record("accepted a 40000-point patch set")
        } catch {
            #expect(error.message.contains("40000 points") && error.message.contains("limit is \(Limits.patchSetPoints)"))
        }
        #expect(throws: HistFactoryError.self) { try ScanTask(axes: [GridAxis(name: "a", lower: 0, upper: 1, count: 600), GridAxis(name: "b", lower: 0, upper: 1, count: 600)]).validate() }
        let axis = try GridAxis(parsing: "cHW=-1:1:5")
        #expect(axis.values == [-1, -0.5, 0, 0.5, 1])
        #expect(try PatchSetTask.grid(parsing: "cHW=-1:1:5,cHq3=0:0.1:2").map(\.count) == [5, 2])
    }

    @Test("the per-sample yields report sums to the model's expected data at its point")
    func yieldsReport() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/vh/workspace_morphing.json")).load()
        let report = try YieldsTask(at: ParameterValues(parsing: "cHW=0.4,cHq3=-0.05")).run(on: loaded)
        var point = loaded.model.suggestedInits
        try ParameterValues(parsing: "cHW=0.4,cHq3=-0.05").apply(to: &point, model: loaded.model)
        let total = loaded.model.expectedMainData(point)
        let flat = report.channels.flatMap(\.total)
        #expect(flat == total)
        for channel in report.channels {
            for b in channel.total.indices {
                let sum = channel.samples.entries.reduce(0) { $0 + $1.value[b] }
                #expect(abs(sum - channel.total[b]) <= 1e-12 * channel.total[b])
            }
        }
        #expect(report.channels.flatMap(\.observed) == loaded.data.main)
    }

    @Test("the lint is a task: its warnings code through Foundation and keep their kinds")
    func inspectTask() throws {
        let loaded = try ModelSource(workspace: Self.path("Specs/examples/eft_parameter_order.json")).load()
        let inspection = InspectTask().run(on: loaded)
        #expect(Set(inspection.warnings.map(\.kind)) == [.fixedParameter, .negativeInterference])
        let json = inspection.json(file: "eft_parameter_order.json")
        #expect(json["warnings"]?.arrayValue?.count == inspection.warnings.count)
        let decoded = try JSONDecoder().decode([InspectionWarning].self, from: JSONEncoder().encode(inspection.warnings))
        #expect(decoded == inspection.warnings)
        for w in decoded { #expect(InspectionWarning.Kind.all.contains(w.kind) && !w.kind.heading.isEmpty) }
        #expect(json["wilson_coefficients"]?.arrayValue?.isEmpty == false)
        // The document reads back as the typed report.
        let report = try JSONDecoder().decode(InspectionReport.self, from: Data(json.serialized().utf8))
        #expect(report.warnings == inspection.warnings)
        #expect(report.parameters.count == loaded.model.parameterCount)
        #expect(report.parameters.byType.entries.reduce(0) { $0 + $1.value } == loaded.model.parameterCount)
        #expect(report.channels.map(\.name) == loaded.workspace.channels.map(\.name))
    }

    /// The README's library example, line for line (from the repository root's paths).
    @Test("the README's library example runs")
    func readmeExample() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/vh/workspace_morphing.json")).load()
        let fit = try FitTask(ops: ["cHW", "cHq3"]).run(on: loaded)
        #expect(fit.converged)
        #expect(fit.profileIntervals?["cHW"]?.cl95.count == 2)
        let yields = loaded.model.expectedSampleData(fit.fit!.values)
        let total = loaded.model.expectedMainData(fit.fit!.values)
        let summed: Double = yields.map { $0.yields.reduce(0, +) }.reduce(0, +)
        let expected: Double = total.reduce(0, +)
        #expect(abs(summed - expected) <= 1e-9 * expected)
        #expect(fit.jsonValue.serialized(.pretty).contains("\"profile_intervals\""))
    }

    @Test("a CLs limit on a Wilson coefficient with a quadratic term is refused, pointing to fit --ops and scan")
    func limitRefusesQuadraticPOI() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/vh/workspace_morphing.json")).load()
        #expect(loaded.model.poiName == "cHW")
        #expect(LimitTask.higherPowerTerm(of: "cHW", in: loaded.workspace) != nil)
        #expect { try LimitTask().run(on: loaded) } throws: { error in
            let text = "\(error)"
            return text.contains("cHW") && text.contains("efthf fit --ops cHW") && text.contains("efthf scan --par cHW")
        }
        // A normalisation factor is linear: the limit runs.
        let linear = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        #expect(LimitTask.higherPowerTerm(of: linear.model.poiName ?? "", in: linear.workspace) == nil)
    }

    @Test("modifier settings follow pyhf: naming one type gives the other its modifier's own default")
    func partialModifierSettings() throws {
        let normsysOnly = try ModelOptions(json: JSONParser.parse(#"{"modifier_settings": {"normsys": {"interpcode": "code1"}}}"#))
        #expect(normsysOnly.interpolation == (try InterpolationSettings(normsys: .code1, histosys: .code0)))
        let histosysOnly = try InterpolationSettings(parsing: "histosys=code2")
        #expect(histosysOnly == (try InterpolationSettings(normsys: .code1, histosys: .code2)))
        #expect(ModelOptions().interpolation == .pyhfDefault)
        #expect { try InterpolationSettings(parsing: "normsys=code4p") } throws: { "\($0)".contains("normsys takes code1, code4") }
    }
}
