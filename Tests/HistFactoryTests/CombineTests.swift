import EFTJSON
import EFTModifiers
import Foundation
import HistFactory
import Morphing
import Testing
import _SeededRandom

/// CMS Combine InterferenceModel scaling data and EFT2Obs tables (Specs/combine.md): export and
/// import keep the likelihood; Combine's documented examples give Combine's numbers; bad input
/// gets one error naming file, JSON path and value.
@Suite struct CombineTests {
    static let root = ReferencePaths.repositoryRoot.path
    static let references = ReferencePaths.committed + "/combine"
    static let files = [
        "Data/vh/workspace_morphing.json", "Data/vh/workspace_events.json",
        "Specs/examples/eft_coefficient_absolute.json", "Specs/examples/eft_benchmarks_square.json",
        "Specs/examples/eft_benchmarks_overdetermined.json", "Specs/examples/eft_relative_stxs.json",
        "Specs/examples/eft_parameter_order.json", "Specs/examples/eft_negative_clip.json",
        "Specs/examples/eft_truncation_linear.json",
    ]

    /// efthf → Combine scaling JSON (text) → efthf on the SM-template workspace: the same ln L to
    /// 5e−12 relative at 12 random points (seeded). Not closer: each template goes through
    /// T/y0 and back (one rounding), and on the VH workspaces (~3·10⁴ events) ln L ≈ −10² is a
    /// small difference of Poisson terms of order 10⁵, so that rounding reaches 1.7e−12 of |ln L| at
    /// worst over 300 random points. Combine's format has no MC uncertainties of the scaling,
    /// so where a morphed sample carries them (its staterror width follows c, Specs/eft-extension.md
    /// §8.2) the staterror γ's stay at 1, where that width does not enter (Specs/combine.md §2).
    @Test(arguments: files.indices)
    func roundTripKeepsTheLogLikelihood(_ k: Int) throws {
        let ws = try Workspace(contentsOf: Self.root + "/" + Self.files[k], modifiers: .efthf)
        let export = try ws.combineScaling()
        let text = export.scaling.serialized(.pretty)
        let scaling = try CombineScaling(json: try JSONParser.parse(text), file: "scaling.json")
        let templates = try Workspace(json: try JSONParser.parse(export.templates.json.serialized()), modifiers: .efthf)
        #expect(templates.version == "1.0.0")
        let back = try templates.addingCombineScaling(scaling)
        let model = try HistFactoryModel(workspace: ws), imported = try HistFactoryModel(workspace: back)
        #expect(Set(model.parameterNames) == Set(imported.parameterNames))
        let data = try model.observedData(from: ws), importedData = try imported.observedData(from: back)
        #expect(data.main == importedData.main)
        let withVariance = model.dependentSampleModels.contains { $0.evaluator.hasVariance }
        var worst = 0.0
        for x in randomPoints(model, coefficients: Set(ws.wilsonCoefficients), gammasAtOne: withVariance, count: 12, seed: 17 + UInt64(k)) {
            var y = imported.suggestedInits
            for (i, name) in model.parameterNames.enumerated() { y[imported.parameterNames.firstIndex(of: name)!] = x[i] }
            let a = model.logLikelihood(x, data: data), b = imported.logLikelihood(y, data: importedData)
            let rel = abs(a - b) / max(1, abs(a))
            worst = max(worst, rel)
            #expect(rel <= 5e-12, "\(Self.files[k]): ln L \(a) (original) vs \(b) (through Combine's scaling data)")
        }
        // Measured, not asserted: with the γ's moved too, the width that follows c is what differs.
        var moved = 0.0
        if withVariance {
            for x in randomPoints(model, coefficients: Set(ws.wilsonCoefficients), gammasAtOne: false, count: 12, seed: 31 + UInt64(k)) {
                var y = imported.suggestedInits
                for (i, name) in model.parameterNames.enumerated() { y[imported.parameterNames.firstIndex(of: name)!] = x[i] }
                let a = model.logLikelihood(x, data: data), b = imported.logLikelihood(y, data: importedData)
                if a.isFinite && b.isFinite { moved = max(moved, abs(a - b) / max(1, abs(a))) }
            }
        }
        print("Combine round trip \(Self.files[k]): largest relative ln L difference \(worst)\(withVariance ? " (staterror γ = 1); with the γ's moved: \(moved)" : "")")
    }

    /// The export's layout on the VH workspace: one entry per morphed sample, the SM constant first,
    /// n(n+1)/2 entries per bin, M_00 = 1, and the inits and bounds of the measurement.
    @Test func vhExportIsCombinesLayout() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_morphing.json", modifiers: .efthf)
        let items = try #require(try ws.combineScaling().scaling.arrayValue)
        #expect(!items.isEmpty)
        for item in items {
            let parameters = try #require(item["parameters"]?.arrayValue).compactMap(\.stringValue)
            #expect(parameters.first == "efthf_SM[1]")
            #expect(parameters.dropFirst().allSatisfy { $0.hasSuffix("]") && $0.contains(",") })
            let n = parameters.count
            for row in try #require(item["scaling"]?.arrayValue) {
                let values = try #require(row.arrayValue).compactMap(\.doubleValue)
                #expect(values.count == n * (n + 1) / 2)
                #expect(abs(values[0] - 1) <= 1e-12)
            }
        }
    }

    /// The documentation's VBF HH example (κ_V κ_λ, κ_V², κ_2V amplitudes): s_b from efthf's
    /// expansion, evaluated by the polynomial evaluator that the morphing modifier uses, equals
    /// Combine's asserted values (test_interference.py: 1.0 and 0.8586229062809139, to 1e−14) and
    /// the independent Python implementation's (make_combine_refs.py) at 7 points, to 1e−13.
    @Test func documentedKappaExampleGivesCombinesValues() throws {
        let examples = try loadJSON(Self.references + "/interference_docs_examples.json")
        let scaling = try CombineScaling(json: try #require(examples["vbf_kappa"]), file: "interference_docs_examples.json")
        let item = try #require(scaling.items.first)
        #expect(scaling.variables.map(\.name) == ["kv", "kl", "k2v"])
        #expect(scaling.variables.allSatisfy { $0.initial == 1 && $0.bounds == 0 ... 2 })
        func s(_ point: [String: Double]) -> [Double] { item.scaling.yields(at: item.scaling.coefficientNames.map { point[$0]! }) }
        #expect(abs(s(["kl": 1, "kv": 1, "k2v": 1])[0] - 1.0) <= 1e-14)
        #expect(abs(s(["kl": 1.1, "kv": 1, "k2v": 1])[1] - 0.8586229062809139) <= 1e-14)
        let reference = try loadJSON(Self.references + "/combine_reference.json")
        for entry in try #require(reference["vbf_kappa"]?.arrayValue) {
            let point = try #require(entry["point"]?.objectValue).pairs.reduce(into: [String: Double]()) { $0[$1.0] = $1.1.doubleValue! }
            let expected = try #require(entry["scaling"]?.arrayValue).compactMap(\.doubleValue)
            for (a, b) in zip(s(point), expected) { #expect(abs(a - b) <= 1e-13 * max(1, abs(b)), "\(point): \(a) vs \(b)") }
        }
        // At κ = 0 every amplitude vanishes: not the relative form's SM normalisation (s = 1 at 0).
        let ws = try Workspace(json: try JSONParser.parse(#"{"version": "1.0.0", "channels": [{"name": "a_vbf_channel", "samples": [{"name": "VBFHH", "data": [3, 2], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]}]}], "observations": [{"name": "a_vbf_channel", "data": [3, 2]}], "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}"#))
        let error = #expect(throws: HistFactoryError.self) { try ws.addingCombineScaling(scaling) }
        #expect(error?.description.contains("interference_docs_examples.json at /0/scaling/0") == true, "\(String(describing: error))")
        #expect(error?.description.contains("not 1") == true)
    }

    /// The documentation's sqrt_mu example on a small workspace: efthf's ln L of the imported
    /// relative modifier equals pyhf's of the workspace with the process's data multiplied by
    /// s_b(sqrt_mu) (make_combine_refs.py) to 1e−12 relative, at 6 points with a normsys moved.
    @Test func documentedSqrtMuExampleMatchesPyhf() throws {
        let examples = try loadJSON(Self.references + "/interference_docs_examples.json")
        let scaling = try CombineScaling(json: try #require(examples["sqrt_mu"]), file: "interference_docs_examples.json")
        let ws = try Workspace(contentsOf: Self.references + "/sample_sm.json").addingCombineScaling(scaling)
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        let i = try model.parameterIndex(named: "sqrt_mu"), j = try model.parameterIndex(named: "sigxs")
        #expect(model.suggestedInits[i] == 1 && model.suggestedBounds[i] == 0 ... 2)
        let reference = try loadJSON(Self.references + "/combine_reference.json")
        for entry in try #require(reference["sqrt_mu"]?.arrayValue) {
            var x = model.suggestedInits
            x[i] = entry["sqrt_mu"]!.doubleValue!
            x[j] = entry["sigxs"]!.doubleValue!
            let expected = entry["logpdf"]!.doubleValue!
            let got = model.logLikelihood(x, data: data)
            #expect(abs(got - expected) <= 1e-12 * abs(expected), "sqrt_mu = \(x[i]): \(got) vs pyhf \(expected)")
        }
    }

    /// Bad scaling data: one error naming the file, the JSON path and the value.
    @Test(arguments: [
        (#"[{"channel": "my_channel", "process": "my_nominal_process", "parameters": ["a[0,-1,1]", "one[1]"], "scaling": [[1, 0.1], [1, 0, 1], [1, 0, 1]]}]"#, "bad.json at /0/scaling/0", "has 2 entries, but 2 parameters need n(n+1)/2 = 3"),
        (#"[{"channel": "nowhere", "process": "my_nominal_process", "parameters": ["one[1]", "a[0,-1,1]"], "scaling": [[1, 0, 1], [1, 0, 1], [1, 0, 1]]}]"#, "bad.json at /0/channel", "channel \"nowhere\" is not a channel"),
        (#"[{"channel": "my_channel", "process": "ttH", "parameters": ["one[1]", "a[0,-1,1]"], "scaling": [[1, 0, 1], [1, 0, 1], [1, 0, 1]]}]"#, "bad.json at /0/process", "sample \"ttH\" is not a sample"),
        (#"[{"channel": "my_channel", "process": "my_nominal_process", "parameters": ["one[1]", "a[0,-1,1]"], "scaling": [[1, 0, 1], [1, "x", 1], [1, 0, 1]]}]"#, "bad.json at /0/scaling/1/1", "is \"x\", not a finite number"),
        (#"[{"channel": "my_channel", "process": "my_nominal_process", "parameters": ["one[1]", "pow(a,2)"], "scaling": [[1, 0, 1], [1, 0, 1], [1, 0, 1]]}]"#, "bad.json at /0/parameters/1", "parameter \"pow(a,2)\""),
        (#"[{"channel": "my_channel", "process": "my_nominal_process", "parameters": ["one[1]", "a[0,-1,1]"]}]"#, "bad.json at /0", "has no \"scaling\""),
        (#"[{"channel": "my_channel", "process": "my_nominal_process", "parameters": ["one[1]", "a[0,-1,1]"], "scaling": [[1, 0, 1], [1, 0, 1]]}]"#, "bad.json at /0/scaling", "2 rows, but sample"),
    ])
    func badScalingDataIsNamed(_ text: String, _ place: String, _ message: String) throws {
        let ws = try Workspace(contentsOf: Self.references + "/sample_sm.json")
        let error = #expect(throws: HistFactoryError.self) {
            try ws.addingCombineScaling(try CombineScaling(json: try JSONParser.parse(text), file: "bad.json"))
        }
        let description = error?.description ?? ""
        #expect(description.contains(place) && description.contains(message), "\(description)")
    }

    /// EFT2Obs table import: the two ggH p_T^H bins of CMS's STXS→SMEFT prod.json (a real excerpt),
    /// restricted to chg and chbox, reproduce worked example C's production modifier: the same ln L
    /// to 1e−12 relative at 12 random points, staterror γ's included (the u_ uncertainties carried).
    @Test func eft2ObsTableReproducesExampleC() throws {
        let example = try Workspace(contentsOf: Self.root + "/Specs/examples/eft_relative_stxs.json", modifiers: .efthf)
        // Example C without its production modifier, then the table applied.
        guard case .object(var root) = example.json else { Issue.record("not an object"); return }
        var text = JSON.object(root).serialized()
        let prod = try #require(example.json["channels"]?.arrayValue?.first?["samples"]?.arrayValue?.first?["modifiers"]?.arrayValue?.first)
        text = text.replacingOccurrences(of: prod.serialized() + ",", with: "")
        root = try #require(try JSONParser.parse(text).objectValue)
        let stripped = try Workspace(json: .object(root), modifiers: .efthf)
        let table = try loadJSON(Self.references + "/prod_ggH_highpt.json")
        let imported = try stripped.addingSTXSScaling(table: table, file: "prod_ggH_highpt.json",
                                                     assignments: [STXSAssignment(channel: "ggH_highpt", sample: "ggH_hgg", entries: ["GG2H_PTH_200_300", "GG2H_PTH_300_450"])],
                                                     coefficients: ["chg", "chbox"], modifierName: "ggH_prod")
        let a = try HistFactoryModel(workspace: example), b = try HistFactoryModel(workspace: imported)
        let da = try a.observedData(from: example), db = try b.observedData(from: imported)
        for x in randomPoints(a, coefficients: ["chg", "chbox"], gammasAtOne: false, count: 12, seed: 5) {
            var y = b.suggestedInits
            for (i, name) in a.parameterNames.enumerated() { y[b.parameterNames.firstIndex(of: name)!] = x[i] }
            let la = a.logLikelihood(x, data: da), lb = b.logLikelihood(y, data: db)
            #expect(abs(la - lb) <= 1e-12 * max(1, abs(la)), "example C \(la) vs from the table \(lb)")
        }
        let error = #expect(throws: HistFactoryError.self) {
            try stripped.addingSTXSScaling(table: table, file: "prod_ggH_highpt.json",
                                           assignments: [STXSAssignment(channel: "ggH_highpt", sample: "ggH_hgg", entries: ["GG2H_PTH_GT650"])])
        }
        #expect(error?.description.contains("prod_ggH_highpt.json at /GG2H_PTH_GT650") == true, "\(String(describing: error))")
    }
}
