import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Morphing
import Testing

/// The morphing modifier inside the HistFactory model (Specs/eft-extension.md).
@Suite struct MorphingModelTests {
    static let examples = ReferencePaths.repositoryRoot.appendingPathComponent("Specs/examples").path
    static let results: JSON? = try? loadJSON(examples + "/results.json")

    static func model(_ file: String) throws -> (Workspace, HistFactoryModel, ModelData) {
        let ws = try Workspace(contentsOf: examples + "/" + file, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        return (ws, model, try model.observedData(from: ws))
    }

    /// log L and ν of the spec's worked examples, computed there by an independent Python
    /// implementation of the spec (Specs/examples/make_examples.py), to 1e-9 relative; the
    /// gradient against finite differences.
    @Test(arguments: [("A_coefficient_absolute", "eft_coefficient_absolute.json"), ("D_parameter_order", "eft_parameter_order.json"),
                      ("F_truncation_linear", "eft_truncation_linear.json")])
    func specExamplesMatch(key: String, file: String) throws {
        let reference = try #require(Self.results?[key])
        let (_, model, data) = try Self.model(file)
        let names = (reference["par_names"] ?? Self.results!["A_coefficient_absolute"]!["par_names"]!).arrayValue!.map { $0.stringValue! }
        #expect(model.parameterNames == names)
        let point = reference["point"]!.arrayValue!.map { $0.doubleValue! }
        let logL = model.logLikelihood(point, data: data)
        #expect(relativeDifference(logL, reference["logpdf"]!.doubleValue!) < 1e-9)
        if let nu = reference["nu"]?.arrayValue {
            for (a, b) in zip(model.expectedMainData(point), nu.map { $0.doubleValue! }) { #expect(relativeDifference(a, b) < 1e-9) }
        }
        var gradient: [Double] = []
        _ = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
        let numeric = finiteDifferenceGradient(model, point, data)
        for i in point.indices {
            #expect(abs(gradient[i] - numeric[i]) <= 1e-6 * max(1, abs(numeric[i])), "∂/∂\(model.parameterNames[i])")
        }
    }

    /// Two relative modifiers on one sample (production × γγ partial width, spec §3.3, §13.C): the
    /// model multiplies them (N1) with the first-order variance (V3) in the staterror width; ln L
    /// and ν⁰ equal the spec's independent implementation to 1e-9 relative, the gradient equals
    /// finite differences, and at c = 0 ln L is pyhf's for the workspace without morphing.
    @Test func twoRelativeModifiersMultiply() throws {
        let reference = try #require(Self.results?["C_relative_stxs"])
        let (_, model, data) = try Self.model("eft_relative_stxs.json")
        #expect(model.parameterNames == ["bkg_norm", "staterror_ggH_highpt[0]", "staterror_ggH_highpt[1]", "chg", "chbox"])
        let point = reference["point"]!.arrayValue!.map { $0.doubleValue! }
        #expect(relativeDifference(model.logLikelihood(point, data: data), reference["logpdf"]!.doubleValue!) < 1e-9)
        let expected = reference["samples"]!.arrayValue!.map { $0["nu"]!.arrayValue!.map { $0.doubleValue! } }
        let total = zip(expected[0], expected[1]).map { $0 + $1 }
        for (a, b) in zip(model.expectedMainData(point), total) { #expect(relativeDifference(a, b) < 1e-9) }
        var gradient: [Double] = []
        _ = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
        let numeric = finiteDifferenceGradient(model, point, data)
        for i in point.indices {
            #expect(abs(gradient[i] - numeric[i]) <= 1e-6 * max(1, abs(numeric[i])), "∂/∂\(model.parameterNames[i])")
        }
        for name in ["chg", "chbox"] {
            let g = gradient[try model.parameterIndex(named: name)], r = reference["gradient_fd"]![name]!.doubleValue!
            #expect(abs(g - r) <= 1e-5 * abs(r), "\(name): \(g) vs \(r)")
        }
        var sm = point
        sm[3] = 0
        sm[4] = 0
        #expect(relativeDifference(model.logLikelihood(sm, data: data), reference["pyhf_logpdf_sm_limit"]!.doubleValue!) < 1e-9)
    }

    /// At c = 0 an extended workspace is exactly pyhf's workspace without the morphing modifier.
    @Test func theSMPointIsThePlainWorkspace() throws {
        let (ws, model, data) = try Self.model("eft_coefficient_absolute.json")
        var plain = ws.json.objectValue!
        plain["version"] = "1.0.0"
        plain["measurements"] = .array(ws.json["measurements"]!.arrayValue!.map { m in
            var o = m.objectValue!
            var config = o["config"]!.objectValue!
            config["poi"] = ""
            o["config"] = .object(config)
            return .object(o)
        })
        plain["channels"] = .array(ws.json["channels"]!.arrayValue!.map { channel in
            var c = channel.objectValue!
            c["samples"] = .array(channel["samples"]!.arrayValue!.map { sample in
                var s = sample.objectValue!
                s["modifiers"] = .array(sample["modifiers"]!.arrayValue!.filter { $0["type"] != "morphing" })
                return .object(s)
            })
            return .object(c)
        })
        let plainWorkspace = try Workspace(json: .object(plain), modifiers: .efthf)
        let plainModel = try HistFactoryModel(workspace: plainWorkspace)
        let plainData = try plainModel.observedData(from: plainWorkspace)
        var point = model.suggestedInits
        point[model.parameterNames.firstIndex(of: "jes")!] = 0.7
        let plainPoint = Array(point.dropLast())
        #expect(relativeDifference(model.logLikelihood(point, data: data), plainModel.logLikelihood(plainPoint, data: plainData)) < 1e-13)
    }

    /// The three negative-yield policies at the spec's example point (§13.E).
    @Test func negativeYieldPolicies() throws {
        let reference = try #require(Self.results?["E_negative_yields"])
        let cHq3 = reference["cHq3"]!.doubleValue!
        let (ws, clipModel, data) = try Self.model("eft_negative_clip.json")
        var point = clipModel.suggestedInits
        point[try clipModel.parameterIndex(named: "cHq3")] = cHq3
        #expect(relativeDifference(clipModel.logLikelihood(point, data: data), reference["clip"]!["logpdf"]!.doubleValue!) < 1e-9)
        #expect(clipModel.evaluationProblem(point) == nil)

        let errorWorkspace = try Workspace(json: JSONParser.parse(ws.json.serialized().replacingOccurrences(of: "\"clip\"", with: "\"error\"")), modifiers: .efthf)
        let errorModel = try HistFactoryModel(workspace: errorWorkspace)
        #expect(errorModel.logLikelihood(point, data: data) == -.infinity)
        var gradient: [Double] = []
        #expect(errorModel.logLikelihoodAndGradient(point, data: data, gradient: &gradient) == -.infinity)
        let problem = try #require(errorModel.evaluationProblem(point))
        #expect(problem.kind == "negative morphed yields")
        #expect(problem.bins.map(\.bin) == [0])
        #expect(relativeDifference(problem.bins[0].value, reference["raw_nu0"]!.arrayValue![0].doubleValue!) < 1e-12)
        #expect(problem.description.contains("cHq3="))
    }

    /// The benchmark-point form gives the coefficient form's model when given the same
    /// information (three points for three terms).
    @Test func benchmarkFormEqualsCoefficientForm() throws {
        let (_, benchmark, _) = try Self.model("eft_benchmarks_square.json")
        let (_, coefficient, _) = try Self.model("eft_coefficient_absolute.json")
        for c in [-1.3, -0.2, 0.0, 0.4, 2.0] {
            var p1 = benchmark.suggestedInits
            p1[try benchmark.parameterIndex(named: "cHq3")] = c
            var p2 = coefficient.suggestedInits
            p2[try coefficient.parameterIndex(named: "cHq3")] = c
            for (a, b) in zip(benchmark.expectedMainData(p1), coefficient.expectedMainData(p2)) { #expect(abs(a - b) <= 1e-9 * max(1, abs(b))) }
        }
    }

    /// Five benchmark points for three terms: the least-squares solution, its condition number
    /// and the morphed yield at c = 0.3, as in the spec's worked example (§13.B).
    @Test func overdeterminedBenchmarksAreSolvedByLeastSquares() throws {
        let reference = try #require(Self.results?["B_benchmarks"]?["overdetermined"])
        let (ws, model, data) = try Self.model("eft_benchmarks_overdetermined.json")
        var point = model.suggestedInits
        point[try model.parameterIndex(named: "cHq3")] = 0.3
        let vh = try #require(ws.channels[0].samples.first { $0.modifiers.contains { $0.kind == .morphing } })
        guard let morphing = try #require(vh.modifiers.first { $0.kind == .morphing }).dependent as? MorphingModifier else { return }
        #expect(relativeDifference(try #require(morphing.conditionNumber), reference["report"]!["condition_number"]!.doubleValue!) < 1e-12)
        for (a, b) in zip(morphing.templates.yields.yields(at: [0.3]), reference["nu0_at_0.3"]!.arrayValue!.map { $0.doubleValue! }) {
            #expect(relativeDifference(a, b) < 1e-9)
        }
        #expect(relativeDifference(model.logLikelihood(point, data: data), reference["logpdf_at_0.3"]!.doubleValue!) < 1e-9)
    }

    /// ROOT's RooLagrangianMorphFunc through the whole model: a workspace whose signal is the
    /// tutorial's pTV templates (6 operators, 28 terms) reproduces ROOT's morphed histograms at
    /// every reference point, to one float32 ulp (ROOT stores float32) plus 1e-12 of Σ|terms|.
    @Test func workspaceReproducesRooLagrangianMorphFunc() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let eft = ReferencePaths.shared + "/eft"
        let reference = try loadJSON(eft + "/root_morph_reference_pTV.json")
        let templatesJSON = try loadJSON(eft + "/rf_lagrangianmorph_templates.json")
        for config in reference["configs"]!.arrayValue! {
            let operators = config["ops"]!.arrayValue!.map { $0.stringValue! }
            let templates = try ROOTLagrangianMorph.templates(from: templatesJSON, observable: "pTV", operators: operators).yields
            let sm = templates.yields(at: Array(repeating: 0, count: operators.count))
            let workspace: JSON = [
                "channels": [["name": "SR", "samples": [["name": "VH", "data": .numbers(sm), "modifiers": [
                    ["name": "smeft", "type": "morphing", "data": MorphingModifier.coefficientFormJSON(templates, negativeYields: .allow)],
                    ["name": "mu", "type": "normfactor", "data": nil]]]]]],
                "observations": [["name": "SR", "data": .numbers(sm.map { max($0, 0).rounded() })]],
                "measurements": [["name": "m", "config": ["poi": "mu", "parameters": []]]],
                "version": .string(WorkspaceVersion.efthfExtended),
            ]
            let model = try HistFactoryModel(workspace: Workspace(json: workspace, modifiers: .efthf))
            for check in config["checks"]!.arrayValue! {
                var point = model.suggestedInits
                for op in operators { point[try model.parameterIndex(named: op)] = check["point"]![op]!.doubleValue! }
                let nu = model.expectedMainData(point)
                let m = templates.monomialValues(at: operators.map { check["point"]![$0]!.doubleValue! })
                for (b, root) in check["root"]!.arrayValue!.map({ $0.doubleValue! }).enumerated() {
                    var scale = 0.0
                    for t in 0..<templates.termCount { scale += abs(m[t] * templates.template(ofTerm: t)[b]) }
                    #expect(abs(nu[b] - root) <= 0x1p-23 * abs(root) + 1e-12 * scale, "\(operators.count) operators, bin \(b)")
                }
            }
        }
    }

    @Test(arguments: [
        ("\"version\": \"1.0.0+efthf.1\"", "\"version\": \"1.0.0\"", "morphing needs"),
        ("\"form\": \"absolute\"", "\"form\": \"multiplicative\"", "form must be"),
        ("\"powers\": {\"cHq3\": 1}", "\"powers\": {\"cHq3\": 0}", "a power must be"),
        ("\"powers\": {\"cHq3\": 1}", "\"powers\": {\"cHW\": 1}", "unknown key"),
    ])
    func invalidMorphingIsRejected(original: String, replacement: String, fragment: String) throws {
        let text = try String(contentsOfFile: Self.examples + "/eft_coefficient_absolute.json", encoding: .utf8)
        let compact = try JSONParser.parse(text).serialized(.pythonSortedKeys)
        #expect(compact.contains(original))
        do {
            let ws = try Workspace(json: JSONParser.parse(compact.replacingOccurrences(of: original, with: replacement)), file: "w.json", modifiers: .efthf)
            _ = try HistFactoryModel(workspace: ws)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains(fragment), "\(error)")
        }
    }
}
