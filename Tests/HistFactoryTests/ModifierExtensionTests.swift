import EFTJSON
import EFTModifiers
import Foundation
import HistFactory
import Testing

/// A modifier type defined outside HistFactory, through its extension protocol only:
/// `{"type": "test_slope", "data": {"parameter": κ, "slope": [k_b], "variance": [v_b]}}` with one
/// unconstrained parameter κ (init 0, bounds [−5, 5]),
///
/// ```
/// ν⁰_b(κ) = n_b (1 + κ k_b),   var_sb = δ_b² (1 + κ k_b)² + v_b κ²
/// ```
private struct SlopeType: ModifierType {
    var typeName: String { "test_slope" }
    var workspaceVersion: String { "1.0.0+test.1" }
    var kind: Modifier.Kind { Modifier.Kind(rawValue: "test_slope") }

    func read(_ data: JSON, at path: JSONPointer, name: String, sampleData: [Double], reader: SpecReader) throws(HistFactoryError) -> any ParameterDependentModifier {
        let o = try reader.object(data, at: path, required: ["parameter", "slope", "variance"], optional: [])
        let slope = try reader.numbers(o["slope"]!, at: path.appending("slope"))
        let variance = try reader.numbers(o["variance"]!, at: path.appending("variance"))
        try reader.nonNegative(variance, at: path.appending("variance"))
        guard slope.count == sampleData.count, variance.count == sampleData.count else {
            throw HistFactoryError(.invalidModel, "test_slope \"\(name)\" needs one value per bin", path: path)
        }
        return Slope(name: try reader.string(o["parameter"]!, at: path.appending("parameter")), slope: slope, varianceSlope: variance, source: data)
    }
}

private struct Slope: ParameterDependentModifier {
    let name: String
    let slope: [Double]
    let varianceSlope: [Double]
    let source: JSON

    var declaredParameters: [DependentParameter] {
        [DependentParameter(name: name, kind: Modifier.Kind(rawValue: "test_slope"), constraint: .unconstrained(initial: 0, bounds: -5...5))]
    }

    func checkCombination(_ all: [any ParameterDependentModifier], sample: String, at path: JSONPointer) throws(HistFactoryError) {
        throw HistFactoryError(.invalidModel, "sample \"\(sample)\" has more than one test_slope modifier", path: path)
    }

    func compile(_ all: [NamedModifier], in context: SampleContext) throws(HistFactoryError) -> any ParameterDependentSample {
        SlopeSample(parameter: context.parameterIndex(name), data: context.nominal, slope: slope, varianceSlope: varianceSlope)
    }
}

private struct SlopeSample: ParameterDependentSample {
    let parameter: Int
    let data: [Double]
    let slope: [Double]
    let varianceSlope: [Double]

    var parameters: [Int] { [parameter] }
    var domainParameters: [Int] { [parameter] }
    var binCount: Int { data.count }
    var hasVariance: Bool { true }
    var label: String { "test_slope" }

    func evaluate(_ values: [Double], derivatives: Bool, variance: Bool) -> DependentSampleValue {
        let k = values[0]
        let factor = slope.map { 1 + k * $0 }
        let nominal = zip(data, factor).map { $0 * $1 }
        var v = DependentSampleValue(raw: nominal, nominal: nominal, rejectedBins: nominal.indices.filter { nominal[$0] < 0 })
        if derivatives { v.nominalJacobian = zip(data, slope).map { $0 * $1 } }
        if variance {
            v.staterrorScale = factor.map { $0 * $0 }
            v.variance = varianceSlope.map { $0 * k * k }
            if derivatives {
                v.staterrorScaleJacobian = zip(factor, slope).map { 2 * $0 * $1 }
                v.varianceJacobian = varianceSlope.map { 2 * $0 * k }
            }
        }
        return v
    }
}

@Suite("Modifier types from outside the core")
struct ModifierExtensionTests {
    static let types = ModifierSet.pyhf.adding(SlopeType())
    static let signal = [12.0, 30.0, 7.5]
    static let slope = [0.4, -0.2, 1.1]

    /// One channel: a signal with test_slope, a histosys and (optionally) a staterror, and a background.
    static func workspace(staterror: Bool, version: String = "1.0.0+test.1") -> JSON {
        var signalModifiers: [JSON] = [
            .object(JSONObject([("name", .string("slope")), ("type", .string("test_slope")),
                                ("data", .object(JSONObject([("parameter", .string("kappa")), ("slope", .numbers(slope)), ("variance", .numbers([0.5, 2.0, 0.3]))])))])),
            .object(JSONObject([("name", .string("jes")), ("type", .string("histosys")),
                                ("data", .object(JSONObject([("hi_data", .numbers([13.0, 31.5, 7.0])), ("lo_data", .numbers([11.2, 29.0, 8.1]))])))])),
            .object(JSONObject([("name", .string("mu")), ("type", .string("normfactor")), ("data", .null)])),
        ]
        if staterror {
            signalModifiers.append(.object(JSONObject([("name", .string("stat")), ("type", .string("staterror")), ("data", .numbers([1.5, 2.5, 1.0]))])))
        }
        let background = JSON.object(JSONObject([
            ("name", .string("bkg")), ("data", .numbers([50.0, 42.0, 20.0])),
            ("modifiers", .array([
                .object(JSONObject([("name", .string("stat")), ("type", .string("staterror")), ("data", .numbers([3.0, 2.0, 1.5]))])),
                .object(JSONObject([("name", .string("bkg_norm")), ("type", .string("normsys")), ("data", .object(JSONObject([("hi", .number(1.1)), ("lo", .number(0.92))])))])),
            ])),
        ]))
        let sig = JSON.object(JSONObject([("name", .string("sig")), ("data", .numbers(signal)), ("modifiers", .array(signalModifiers))]))
        return .object(JSONObject([
            ("channels", .array([.object(JSONObject([("name", .string("SR")), ("samples", .array([background, sig]))]))])),
            ("observations", .array([.object(JSONObject([("name", .string("SR")), ("data", .numbers([66.0, 70.0, 31.0]))]))])),
            ("measurements", .array([.object(JSONObject([("name", .string("m")), ("config", .object(JSONObject([("poi", .string("mu")), ("parameters", .array([]))])))]))])),
            ("version", .string(version)),
        ]))
    }

    @Test("an extended workspace read as pyhf is refused with the set that reads it named")
    func pyhfRefusesExtensions() throws {
        let path = ReferencePaths.repositoryRoot.appendingPathComponent("Data/vh/workspace_morphing.json").path
        do {
            _ = try Workspace(contentsOf: path)
            Issue.record("read an extended workspace as pyhf 1.0.0")
        } catch {
            #expect(error.file == path)
            #expect(error.path == JSONPointer(tokens: ["version"]))
            #expect(error.message.contains("ModifierSet.efthf"))
        }
        #expect(try Workspace(contentsOf: path, modifiers: .efthf).version == WorkspaceVersion.efthfExtended)
        // The type, under a version that does not declare it.
        do {
            _ = try Workspace(json: Self.workspace(staterror: false, version: "1.0.0"), modifiers: Self.types)
            Issue.record("read test_slope from a 1.0.0 workspace")
        } catch {
            #expect(error.path == JSONPointer(tokens: ["channels", "0", "samples", "1", "modifiers", "0", "type"]))
            #expect(error.message.contains("test_slope needs \"version\": \"1.0.0+test.1\""))
        }
    }

    /// The extended model at κ against the core's pyhf model of the same sample with its data
    /// ν⁰(κ) and its histosys scaled by r = ν⁰(κ)/n (C1): the two are one likelihood.
    @Test("a dependent sample equals the plain pyhf sample at its point (1e-12)")
    func equalsThePlainWorkspace() throws {
        let ws = try Workspace(json: Self.workspace(staterror: false), modifiers: Self.types)
        let model = try HistFactoryModel(workspace: ws)
        #expect(model.parameterOrder == ["jes", "mu", "bkg_norm", "stat", "kappa"])  // pyhf's kinds in its order, the extension's after
        let data = try model.observedData(from: ws)
        for kappa in [-0.7, 0.0, 0.35, 1.9] {
            let nominal = zip(Self.signal, Self.slope).map { $0 * (1 + kappa * $1) }
            let r = zip(nominal, Self.signal).map { $0 / $1 }
            var plain = Self.workspace(staterror: false, version: "1.0.0")
            var sample = plain["channels"]!.arrayValue![0]["samples"]!.arrayValue![1].objectValue!
            sample["data"] = .numbers(nominal)
            sample["modifiers"] = .array([
                .object(JSONObject([("name", .string("jes")), ("type", .string("histosys")), ("data", .object(JSONObject([
                    ("hi_data", .numbers((0..<3).map { nominal[$0] + r[$0] * ([13.0, 31.5, 7.0][$0] - Self.signal[$0]) })),
                    ("lo_data", .numbers((0..<3).map { nominal[$0] + r[$0] * ([11.2, 29.0, 8.1][$0] - Self.signal[$0]) })),
                ])))])),
                .object(JSONObject([("name", .string("mu")), ("type", .string("normfactor")), ("data", .null)])),
            ])
            plain = try plain.applyingPatch(.array([.object(JSONObject([("op", .string("replace")), ("path", .string("/channels/0/samples/1")), ("value", .object(sample))]))]))
            let plainWorkspace = try Workspace(json: plain)
            let plainModel = try HistFactoryModel(workspace: plainWorkspace)
            let plainData = try plainModel.observedData(from: plainWorkspace)
            for theta in [[0.0, 0.0, 1.0], [0.6, -1.3, 1.4], [-1.1, 0.8, 0.7]] {
                var x = model.suggestedInits
                x[model.parameterSet(named: "bkg_norm")!.offset] = theta[0]
                x[model.parameterSet(named: "jes")!.offset] = theta[1]
                x[model.parameterSet(named: "mu")!.offset] = theta[2]
                x[model.parameterSet(named: "kappa")!.offset] = kappa
                var y = plainModel.suggestedInits
                for set in plainModel.parameterSets { for i in 0..<set.count { y[set.offset + i] = x[model.parameterSet(named: set.name)!.offset + i] } }
                let a = model.logLikelihood(x, data: data), b = plainModel.logLikelihood(y, data: plainData)
                #expect(abs(a - b) <= 1e-12 * abs(b), "κ = \(kappa), θ = \(theta): \(a) vs \(b)")
            }
            let samples = try model.dependentSamples(at: { var x = model.suggestedInits; x[model.parameterSet(named: "kappa")!.offset] = kappa; return x }())
            #expect(samples.count == 1 && samples[0].sample == "sig" && samples[0].channel == "SR")
            #expect(zip(samples[0].nominal, nominal).allSatisfy { abs($0 - $1) <= 1e-12 * abs($1) })
        }
    }

    /// With a staterror on the dependent sample its width follows κ (S2); the analytic gradient,
    /// κ and the γ's included, against central finite differences.
    @Test("the gradient through a dependent sample and its staterror width equals finite differences (1e-6)")
    func gradientMatchesFiniteDifferences() throws {
        let ws = try Workspace(json: Self.workspace(staterror: true), modifiers: Self.types)
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        let widths0 = try model.dynamicStaterrorWidths(at: model.suggestedInits)
        #expect(widths0.count == 3)
        for w in widths0 { #expect(abs(w.sigma - w.sigmaAtStandardModel) <= 1e-14 * w.sigma) }
        var x = model.suggestedInits
        x[model.parameterSet(named: "kappa")!.offset] = 0.8
        let stat = model.parameterSet(named: "stat")!
        for (i, g) in [1.04, 0.93, 1.12].enumerated() { x[stat.offset + i] = g }
        x[model.parameterSet(named: "jes")!.offset] = 0.4
        let widths = try model.dynamicStaterrorWidths(at: x)
        // σ_b(κ) = √(δ_bkg² + δ_sig²(1 + κk)² + vκ²) / (n_bkg + n_sig(1 + κk)).
        for b in 0..<3 {
            let f = 1 + 0.8 * Self.slope[b]
            let expected = ([3.0, 2.0, 1.5][b] * [3.0, 2.0, 1.5][b] + [1.5, 2.5, 1.0][b] * [1.5, 2.5, 1.0][b] * f * f + [0.5, 2.0, 0.3][b] * 0.64).squareRoot()
                / ([50.0, 42.0, 20.0][b] + Self.signal[b] * f)
            #expect(abs(widths[b].sigma - expected) <= 1e-14 * expected)
        }
        var gradient: [Double] = []
        let value = model.logLikelihoodAndGradient(x, data: data, gradient: &gradient)
        #expect(value == model.logLikelihood(x, data: data))
        for i in 0..<model.parameterCount {
            let h = 1e-6 * max(1, abs(x[i]))
            var up = x, down = x
            up[i] += h
            down[i] -= h
            let numeric = (model.logLikelihood(up, data: data) - model.logLikelihood(down, data: data)) / (2 * h)
            #expect(abs(gradient[i] - numeric) <= 1e-6 * max(1, abs(numeric)), "\(model.parameterNames[i]): \(gradient[i]) vs \(numeric)")
        }
    }
}
