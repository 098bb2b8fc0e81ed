import EFTJSON
import EventDatabase
import Foundation
import HistFactory
import EFTModifiers
import Morphing
import Testing

/// An `event_database` sample with per-event systematics as nuisance parameters (an observable
/// shift of the binned pTV and a weight variation), in a model where the shift's parameter also
/// drives a histosys on a background and both samples carry a staterror whose width follows the
/// exact Σw²(c, θ).
@Suite struct EventSystematicsModelTests {
    /// A small synthetic database: weights |1 + Σ_i s_ei c_i|² with s growing with pT, a symmetric
    /// 3% pT scale (`JES`, also moving `eta`), an asymmetric weight variation `btag`.
    static func database(events N: Int = 3000, seed: UInt64 = 5) throws -> EventDatabase {
        var state = seed
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let names = ["cA", "cB"]
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 2)
        var columns = [[Double]](repeating: [Double](repeating: 0, count: N), count: monomials.count)
        var pT = [Double](repeating: 0, count: N), eta = pT, up = pT, down = pT, shiftUp = pT, shiftDown = pT, etaShift = pT
        for e in 0 ..< N {
            pT[e] = 20 + 380 * pow(uniform(), 1.5)
            eta[e] = 5 * uniform() - 2.5
            let s = [1.0, (2 * uniform() - 1 + 0.5) * pT[e] / 200, (2 * uniform() - 1) * pT[e] / 300]
            let scale = (uniform() < 0.05 ? -1.0 : 1.0) * (0.5 + uniform()) * 0.05
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
            up[e] = 1 + 0.08 * uniform()
            down[e] = 1 - 0.03 * uniform()
            shiftUp[e] = 0.03 * pT[e]
            shiftDown[e] = -0.03 * pT[e]
            etaShift[e] = 0.01
        }
        return try EventDatabase(
            provenance: .init(generator: "efthf test (synthetic)", eftBasis: "synthetic", lambda: 1000, normalisation: "expected events", weightUnit: "events"),
            coefficientNames: names, monomials: monomials, basisCoefficients: columns,
            observables: [.init(name: "pTV", unit: "GeV", values: pT), .init(name: "eta", unit: "", values: eta)],
            weightVariations: [.init(name: "btag", up: up, down: down)],
            observableShifts: [.init(name: "JES", observable: "pTV", up: shiftUp, down: shiftDown),
                               .init(name: "JES", observable: "eta", up: etaShift, down: etaShift.map { -$0 })])
    }

    static let edges: [Double] = [20, 50, 80, 110, 150, 200, 260, 330, 400]
    static let h = 4.0

    /// Writes the database and a workspace referring to it into a fresh directory; `edit` changes
    /// the event_database data before writing. Returns the workspace's path.
    static func write(background: Bool, edit: (inout [String: JSON]) -> Void = { _ in }) throws -> (path: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-syst-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let db = try database()
        try db.write(to: directory.appendingPathComponent("db.h5"))
        let binning = try Binning(observable: "pTV", edges: edges)
        let kernel = try SmoothedReweightingKernel(
            database: db, binning: binning, systematics: [.init(name: "JES", kind: .shift), .init(name: "btag", kind: .weight)], smoothingWidth: h)
        let sm = kernel.evaluate(coefficients: [0, 0], nuisance: [0, 0], jacobian: false).yields
        var data: [String: JSON] = [
            "file": .string("db.h5"), "observable": .string("pTV"), "edges": .array(edges.map { .number($0) }),
            "systematics": .array([
                .object(JSONObject([("name", .string("JES")), ("type", .string("shift")), ("parameter", .string("alpha_JES"))])),
                .object(JSONObject([("name", .string("btag")), ("type", .string("weight")), ("parameter", .string("alpha_btag"))])),
            ]),
            "smoothing_width": .number(h), "negative_yields": .string("allow"),
        ]
        edit(&data)
        let bkg = edges.dropLast().map { 40 + 2000 / $0 }
        var samples: [JSON] = [
            .object(JSONObject([
                ("name", .string("signal")), ("data", .array(sm.map { .number($0) })),
                ("modifiers", .array([
                    .object(JSONObject([("name", .string("signal_events")), ("type", .string("event_database")),
                                        ("data", .object(JSONObject(data.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })))])),
                    .object(JSONObject([("name", .string("staterror_SR")), ("type", .string("staterror")), ("data", .array(sm.map { .number(0.05 * abs($0)) }))])),
                ])),
            ]))
        ]
        if background {
            samples.append(.object(JSONObject([
                ("name", .string("bkg")), ("data", .array(bkg.map { .number($0) })),
                ("modifiers", .array([
                    .object(JSONObject([("name", .string("alpha_JES")), ("type", .string("histosys")),
                                        ("data", .object(JSONObject([("hi_data", .array(bkg.map { .number($0 * 1.04) })), ("lo_data", .array(bkg.map { .number($0 * 0.97) }))])))])),
                    .object(JSONObject([("name", .string("staterror_SR")), ("type", .string("staterror")), ("data", .array(bkg.map { .number(0.03 * $0) }))])),
                    .object(JSONObject([("name", .string("mu_bkg")), ("type", .string("normfactor")), ("data", .null)])),
                ])),
            ])))
        }
        let observed = zip(sm, bkg).map { ($0 + (background ? $1 : 0)).rounded() }
        let workspace: JSON = .object(JSONObject([
            ("version", .string("1.0.0+efthf.1")),
            ("channels", .array([.object(JSONObject([("name", .string("SR")), ("samples", .array(samples))]))])),
            ("observations", .array([.object(JSONObject([("name", .string("SR")), ("data", .array(observed.map { .number($0) }))]))])),
            ("measurements", .array([.object(JSONObject([("name", .string("m")), ("config", .object(JSONObject([
                ("poi", .string(background ? "mu_bkg" : "")), ("parameters", .array([])),
            ])))]))])),
        ]))
        let path = directory.appendingPathComponent("workspace.json").path
        try workspace.serialized().write(toFile: path, atomically: true, encoding: .utf8)
        return (path, directory)
    }

    /// code4p per event (pyhf's formula).
    static func code4p(_ a: Double, up: Double, down: Double) -> Double {
        if a > 1 { return a * up }
        if a < -1 { return a * down }
        return a * 0.5 * (up + down) + 0.0625 * (up - down) * (3 * pow(a, 6) - 10 * pow(a, 4) + 15 * a * a)
    }

    /// The model's signal yields at random (c, θ) equal a brute-force per-event loop of the spec's
    /// formulae (every edge, no truncation) to 1e-10 of Σ_e |w_e f_e p_eb|.
    @Test func expectedYieldsEqualABruteForcePerEventLoop() throws {
        let (path, directory) = try Self.write(background: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try HistFactoryModel(workspace: try Workspace(contentsOf: path, modifiers: .efthf))
        let db = try EventDatabase(contentsOf: directory.appendingPathComponent("db.h5"))
        let x = db.observables[try db.observableIndex("pTV")].values, btag = db.weightVariations[0]
        let jes = try #require(db.observableShifts.first { $0.name == "JES" && $0.observable == "pTV" })
        var state: UInt64 = 99
        func uniform(_ range: ClosedRange<Double>) -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return range.lowerBound + (range.upperBound - range.lowerBound) * Double(state >> 11) / Double(1 << 53)
        }
        for _ in 0 ..< 5 {
            let c = [uniform(-1 ... 1), uniform(-1 ... 1)], theta = [uniform(-1.6 ... 1.6), uniform(-1.6 ... 1.6)]
            var point = model.suggestedInits
            for (name, value) in zip(["cA", "cB", "alpha_JES", "alpha_btag"], c + theta) { point[try model.parameterIndex(named: name)] = value }
            let nu = model.expectedMainData(point)
            var reference = [Double](repeating: 0, count: Self.edges.count - 1), scale = reference
            for e in 0 ..< db.eventCount {
                var w = 0.0
                for t in 0 ..< db.termCount { w += db.basisCoefficients[t][e] * db.monomials[t].value(at: c) }
                let f = 1 + Self.code4p(theta[1], up: btag.up[e] - 1, down: 1 - btag.down[e])
                let xe = x[e] + Self.code4p(theta[0], up: jes.up[e], down: -jes.down[e])
                for b in reference.indices {
                    let p = 1 / (1 + exp(-(Self.edges[b + 1] - xe) / Self.h)) - 1 / (1 + exp(-(Self.edges[b] - xe) / Self.h))
                    reference[b] += w * f * p
                    scale[b] += abs(w * f * p)
                }
            }
            for b in reference.indices {
                #expect(abs(nu[b] - reference[b]) <= 1e-10 * scale[b], "bin \(b) at c = \(c), θ = \(theta): \(nu[b]) vs \(reference[b])")
            }
        }
    }

    /// The shift's parameter is one normal-constrained set shared with the background's histosys;
    /// the gradient of log L (staterror γ ≠ 1, so the width from Σw²(c, θ) matters) matches
    /// finite differences in c, θ, γ and the normfactor.
    @Test func gradientMatchesFiniteDifferencesWithSharedParameterAndDynamicStaterror() throws {
        let (path, directory) = try Self.write(background: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let workspace = try Workspace(contentsOf: path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: workspace)
        let data = try model.observedData(from: workspace)
        let alpha = try #require(model.parameterSet(named: "alpha_JES"))
        #expect(alpha.modifierKinds == [.histosys] && alpha.inits == [0] && alpha.auxdata == [0])
        #expect(model.parameterSet(named: "alpha_btag")?.modifierKinds == [.histosys])
        for values in [[0.4, -0.3, 0.7, -0.5, 1.1], [-0.8, 0.6, -1.4, 1.3, 0.9]] {
            var point = model.suggestedInits
            for (name, value) in zip(["cA", "cB", "alpha_JES", "alpha_btag", "mu_bkg"], values) { point[try model.parameterIndex(named: name)] = value }
            for (k, i) in model.parameterSet(named: "staterror_SR")!.indices.enumerated() { point[i] = 0.95 + 0.02 * Double(k % 4) }
            var gradient: [Double] = []
            let logL = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
            #expect(logL.isFinite)
            #expect(relativeDifference(logL, model.logLikelihood(point, data: data)) < 1e-14)
            let numeric = finiteDifferenceGradient(model, point, data)
            for i in point.indices {
                #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(model.parameterNames[i]): \(gradient[i]) vs \(numeric[i])")
            }
        }
    }

    /// Declarations the file cannot satisfy, or that are incomplete, are rejected with the file,
    /// the HDF5 dataset and the JSON path of the declaration.
    @Test(arguments: [
        ("unknown weight", "/systematics/weights/nope", "/channels/0/samples/0/modifiers/0/data/systematics/1"),
        ("shift of another observable", "/systematics/shifts/btag/pTV", "/channels/0/samples/0/modifiers/0/data/systematics/1"),
        ("no smoothing width", "smoothing_width", "/channels/0/samples/0/modifiers/0/data/smoothing_width"),
        ("bad type", "\"scale\"", "/channels/0/samples/0/modifiers/0/data/systematics/1/type"),
    ])
    func badDeclarationsNameFileDatasetAndPath(_ what: String, _ expected: String, _ jsonPath: String) throws {
        let (path, directory) = try Self.write(background: false) { data in
            let replacement: JSON
            switch what {
            case "unknown weight":
                replacement = .object(JSONObject([("name", .string("nope")), ("type", .string("weight")), ("parameter", .string("alpha_x"))]))
            case "shift of another observable":
                replacement = .object(JSONObject([("name", .string("btag")), ("type", .string("shift")), ("parameter", .string("alpha_x"))]))
            case "bad type":
                replacement = .object(JSONObject([("name", .string("btag")), ("type", .string("scale")), ("parameter", .string("alpha_x"))]))
            default:
                data["smoothing_width"] = nil
                return
            }
            data["systematics"] = .array([data["systematics"]!.arrayValue![0], replacement])
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try HistFactoryModel(workspace: try Workspace(contentsOf: path, modifiers: .efthf))
            Issue.record("\(what) was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains(expected), "\(message)")
            #expect(message.contains(jsonPath), "\(message)")
            #expect(message.contains("workspace.json"), "\(message)")
            if expected.hasPrefix("/systematics") {
                #expect(message.contains("db.h5"), "\(message)")
                // The cause is kept, with its place: the HDF5 file and dataset.
                let cause = error.underlying as? EventDatabaseError
                #expect(cause?.location.dataset == expected && cause?.location.file?.hasSuffix("db.h5") == true, "\(String(describing: cause))")
                #expect(error.location.jsonPath?.description == jsonPath)
            }
        }
    }

    /// The bundled VH workspace with the pTV scale (shift) and b-tagging (weight) systematics:
    /// its gradient matches finite differences at a point with θ ≠ 0.
    @Test func bundledWorkspaceWithSystematicsHasExactGradients() throws {
        let path = ReferencePaths.repositoryRoot.appendingPathComponent("Data/vh/workspace_events_syst.json").path
        let workspace = try Workspace(contentsOf: path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: workspace)
        let data = try model.observedData(from: workspace)
        var point = model.suggestedInits
        for (name, value) in [("cHW", 0.2), ("cHq3", -0.03), ("alpha_pTV_scale", 0.7), ("alpha_btag", -0.4)] {
            point[try model.parameterIndex(named: name)] = value
        }
        var gradient: [Double] = []
        _ = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
        let numeric = finiteDifferenceGradient(model, point, data)
        for i in point.indices {
            #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(model.parameterNames[i]): \(gradient[i]) vs \(numeric[i])")
        }
    }

    /// The gradient of some parameters only (a fit's free ones; then one Wilson coefficient and the
    /// shift's θ), on the bundled VH workspace with systematics at a point off the minimum where a
    /// coefficient that is not wanted is non-zero: the wanted entries are the full gradient's,
    /// bit for bit, and match finite differences; the others are 0.
    @Test func gradientOfWantedParametersIsTheFullGradientsEntries() throws {
        let path = ReferencePaths.repositoryRoot.appendingPathComponent("Data/vh/workspace_events_syst.json").path
        let workspace = try Workspace(contentsOf: path, modifiers: .efthf)
        // A model per request: the kernel keeps recent evaluations, and the wanted entries are to
        // come from a pass that computed those only.
        func model() throws -> HistFactoryModel { try HistFactoryModel(workspace: workspace) }
        let reference = try model()
        let data = try reference.observedData(from: workspace)
        var point = reference.suggestedInits
        for (name, value) in [("cHW", 0.2), ("cHq3", -0.03), ("cHbox", 0.15), ("alpha_pTV_scale", 0.7), ("alpha_btag", -0.4), ("lumi", 1.01)] {
            point[try reference.parameterIndex(named: name)] = value
        }
        let numeric = finiteDifferenceGradient(reference, point, data)
        let few = try ["cHW", "alpha_pTV_scale"].map { name throws(HistFactoryError) in try reference.parameterIndex(named: name) }
        let free = reference.suggestedFixed.map { !$0 }
        let cHbox = try reference.parameterIndex(named: "cHbox")
        #expect(free.filter { !$0 }.count == 4 && !free[cHbox])
        for wanted in [free, reference.parameterNames.indices.map { few.contains($0) }] {
            let m = try model()
            var gradient = [Double](repeating: .nan, count: m.parameterCount), full: [Double] = []
            let logL = m.logLikelihoodAndGradient(point, data: data, gradient: &gradient, wanted: wanted)
            #expect(m.logLikelihoodAndGradient(point, data: data, gradient: &full) == logL)
            for i in point.indices {
                let name = m.parameterNames[i]
                if wanted[i] {
                    #expect(gradient[i] == full[i], "∂/∂\(name): \(gradient[i]) vs \(full[i])")
                    #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(name): \(gradient[i]) vs \(numeric[i])")
                } else {
                    #expect(gradient[i] == 0, "∂/∂\(name): \(gradient[i])")
                    // The fixed Wilson coefficients have a slope: 0 is the mask's, not the model's.
                    if wanted == free { #expect(full[i] != 0, "∂/∂\(name) of the full gradient") }
                }
            }
        }
    }
}
