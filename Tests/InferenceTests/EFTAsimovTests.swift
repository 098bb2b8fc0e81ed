import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Inference
import Morphing
import Testing

/// EFT fits on the bundled VH example (Data/vh: the real SMEFT pTV templates of ROOT's morphing
/// tutorial, 6 operators, 28 terms, with MC uncertainties and backgrounds; Asimov data at
/// cHW = 0.3, cHq3 = −0.05).
@Suite struct EFTAsimovTests {
    /// An Asimov fit of two Wilson coefficients, with the MC-statistical uncertainty of the
    /// morphed signal in the likelihood, returns the injected point (to 1e-4 absolute), with the
    /// signal as term templates and as an event database reweighted during the fit.
    @Test(arguments: ["workspace_morphing.json", "workspace_events.json"])
    func asimovFitRecoversTheInjectedCoefficients(file: String) throws {
        let ws = try Workspace(contentsOf: ReferenceFiles.repository.appendingPathComponent("Data/vh/" + file).path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        var fixed = model.suggestedFixed
        var start = model.suggestedInits
        for name in ["cHl3", "cHDD", "cHbox", "cll1"] {
            let i = try model.parameterIndex(named: name)
            fixed[i] = true
            start[i] = 0
        }
        for name in ["cHW", "cHq3"] { fixed[try model.parameterIndex(named: name)] = false }
        let options = FitOptions(initialValues: start, fixed: fixed, multiStart: MultiStart(parameters: ["cHW", "cHq3"], pointsPerParameter: 5))
        let result = try model.fit(data, options: options)
        #expect(result.status.isConverged)
        #expect(abs(try result.value(of: "cHW") - 0.3) < 1e-4)
        #expect(abs(try result.value(of: "cHq3") + 0.05) < 1e-4)
    }
}

/// The real CMS STXS→SMEFT production parametrisation (SMEFTsim topU3l: 64 STXS bins, relative
/// form, CombinedLimit's POI variables p = c·10^exponent) entered as a `morphing` modifier of an
/// extended workspace, fitted through the full model.
@Suite struct STXSWorkspaceAsimovTests {
    /// The operators fitted; the other 52 stay fixed at the SM. They are the ones with the largest
    /// linear effects on different production modes (ggH, VBF/VH, ttH), so the Asimov likelihood
    /// has a single, well-defined minimum.
    static let floated: [String: Double] = ["chg": 0.8, "chj3": -0.4, "chw": 0.6, "ctgre": 0.5, "chbox": -1.5]

    /// A channel of the 64 STXS bins: a Higgs signal of SM yield 40–160 events per bin scaled by
    /// μ_b(p) (relative morphing with the parametrisation's MC uncertainties), on a background of
    /// 100 events per bin with a 5 % normsys; Asimov data at `floated`.
    static func workspace() throws -> (Workspace, HistFactoryModel, ModelData)? {
        guard let shared = ReferenceFiles.sharedDirectory else { return nil }
        let directory = shared.appendingPathComponent("eft/cms_stxs_to_smeft")
        let pois = try STXSParametrisation.parametersOfInterest(contentsOf: directory.appendingPathComponent("pois.yaml"))
        let prod = try STXSParametrisation.relativeScalings(contentsOf: directory.appendingPathComponent("prod.json"), parameters: pois, variables: .parametersOfInterest)
        let bins = prod.yields.binCount
        let signal = (0 ..< bins).map { 40 + 120 * Double(($0 * 37) % bins) / Double(bins) }
        let background = [Double](repeating: 100, count: bins)
        // μ = 1 + R: the relative form takes R, the terms other than the constant. The
        // parametrisation's variance is Σ_t (m_t u_t)² (independent terms): W_ttb = u_tb².
        let variance = try #require(prod.monteCarloVariance)
        let sigma = Dictionary(uniqueKeysWithValues: variance.pairs.filter { $0.first == $0.second }.map { ($0.first, $0.weights.map { $0.squareRoot() }) })
        let terms = prod.yields.monomials.indices.filter { prod.yields.monomials[$0] != .one }
        let relative = try PolynomialTemplates(coefficientNames: prod.yields.coefficientNames, binCount: bins,
                                               monomials: terms.map { prod.yields.monomials[$0] }, templates: terms.map { prod.yields.template(ofTerm: $0) })
        let uncertainties = terms.map { sigma[$0] ?? [Double](repeating: 0, count: bins) }
        let morphing = MorphingModifier.coefficientFormJSON(relative, form: .relative, uncertainties: uncertainties, negativeYields: .error)
        let parameters: [JSON] = pois.map { poi in
            .object(JSONObject([
                ("name", .string(poi.name)), ("inits", [0.0]), ("bounds", .array([.numbers([poi.minimum, poi.maximum])])),
                ("fixed", .bool(floated[poi.name] == nil)),
            ]))
        }
        let json: JSON = .object(JSONObject([
            ("version", .string(WorkspaceVersion.efthfExtended)),
            ("channels", [.object(JSONObject([
                ("name", "stxs"),
                ("samples", .array([
                    .object(JSONObject([("name", "higgs"), ("data", .numbers(signal)), ("modifiers", .array([
                        .object(JSONObject([("name", "stxs_smeft"), ("type", "morphing"), ("data", morphing)])),
                    ]))])),
                    .object(JSONObject([("name", "background"), ("data", .numbers(background)), ("modifiers", .array([
                        .object(JSONObject([("name", "bkg_norm"), ("type", "normsys"), ("data", ["hi": 1.05, "lo": 0.95])])),
                    ]))])),
                ])),
            ]))]),
            ("observations", [.object(JSONObject([("name", "stxs"), ("data", .numbers(signal.indices.map { signal[$0] + background[$0] }))]))]),
            ("measurements", [.object(JSONObject([("name", "smeft"), ("config", .object(JSONObject([
                ("poi", "chg"), ("parameters", .array(parameters)),
            ])))]))]),
        ]))
        let workspace = try Workspace(json: json, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: workspace)
        var truth = model.suggestedInits
        for (name, value) in floated { truth[try model.parameterIndex(named: name)] = value }
        let asimov = try model.data(main: model.expectedMainData(truth), auxiliary: model.expectedAuxiliaryData(model.suggestedInits))
        return (workspace, model, asimov)
    }

    /// The expected yields are n_b·μ_b(p) + background: the workspace path equals a direct
    /// evaluation of the parametrisation at the injected point (1e-12 relative).
    @Test func workspaceYieldsEqualTheParametrisation() throws {
        guard let (_, _, asimov) = try Self.workspace() else { print(ReferenceFiles.missingMessage); return }
        let directory = ReferenceFiles.sharedDirectory!.appendingPathComponent("eft/cms_stxs_to_smeft")
        let pois = try STXSParametrisation.parametersOfInterest(contentsOf: directory.appendingPathComponent("pois.yaml"))
        let prod = try STXSParametrisation.relativeScalings(contentsOf: directory.appendingPathComponent("prod.json"), parameters: pois, variables: .parametersOfInterest)
        let mu = prod.yields.yields(at: pois.map { Self.floated[$0.name] ?? 0 })
        let bins = prod.yields.binCount
        for b in 0 ..< bins {
            let signal = 40 + 120 * Double((b * 37) % bins) / Double(bins)
            let expected = signal * mu[b] + 100
            #expect(abs(asimov.main[b] - expected) <= 1e-12 * expected, "bin \(b): \(asimov.main[b]) vs \(expected)")
        }
    }

    /// An Asimov fit of five Wilson coefficients (with the background normalisation profiled and
    /// the MC-statistical uncertainty of μ_b in the likelihood) returns the injected point to 1e-3
    /// in POI units.
    @Test func asimovFitRecoversTheInjectedPoint() throws {
        guard let (_, model, asimov) = try Self.workspace() else { print(ReferenceFiles.missingMessage); return }
        let result = try model.fit(asimov)
        #expect(result.status.isConverged)
        for (name, value) in Self.floated {
            let fitted = try result.value(of: name)
            #expect(abs(fitted - value) < 1e-3, "\(name): \(fitted) vs \(value)")
        }
        #expect(abs(try result.value(of: "bkg_norm")) < 1e-3)
    }

    /// ∂ log L/∂p_i of the STXS workspace (all 57 coefficients, MC-statistical term included)
    /// equals central finite differences (step 1e-5, 1e-6 relative to the largest component).
    @Test func gradientEqualsFiniteDifferences() throws {
        guard let (_, model, asimov) = try Self.workspace() else { print(ReferenceFiles.missingMessage); return }
        var point = model.suggestedInits
        for (k, name) in ["chg", "chj3", "chw", "ctgre", "chbox", "chb", "chwb", "cht"].enumerated() {
            point[try model.parameterIndex(named: name)] = 0.1 * Double(k + 1) * (k % 2 == 0 ? 1 : -1)
        }
        var gradient: [Double] = []
        _ = model.logLikelihoodAndGradient(point, data: asimov, gradient: &gradient)
        let scale = gradient.map(abs).max()!
        for i in point.indices {
            var up = point, down = point
            up[i] += 1e-5
            down[i] -= 1e-5
            let numeric = (model.logLikelihood(up, data: asimov) - model.logLikelihood(down, data: asimov)) / 2e-5
            #expect(abs(gradient[i] - numeric) <= 1e-6 * scale, "\(model.parameterNames[i]): \(gradient[i]) vs \(numeric)")
        }
    }
}
