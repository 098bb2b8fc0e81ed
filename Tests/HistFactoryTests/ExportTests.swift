import EFTJSON
import Foundation
import HistFactory
import Testing

/// Export of extended workspaces to plain pyhf 1.0.0 (issue 7).
@Suite struct ExportTests {
    static let root = ReferencePaths.repositoryRoot.path
    static let cases: [(file: String, point: [String: Double])] = [
        ("Data/vh/workspace_morphing.json", ["cHW": 0.5, "cHq3": -0.1]),
        ("Specs/examples/eft_coefficient_absolute.json", ["cHq3": 0.3]),
        ("Data/vh/workspace_events.json", ["cHW": 0.5, "cHq3": -0.1]),
    ]

    /// The extended model's point: inits shifted a little, the coefficients at `point`.
    static func points(_ extended: HistFactoryModel, _ plain: HistFactoryModel, _ point: [String: Double]) throws -> ([Double], [Double]) {
        var x = extended.suggestedInits
        for i in x.indices { x[i] += 0.02 * Double(i % 5 - 2) }
        // Every coefficient at its value in `point` (0 when absent), the others shifted.
        for set in extended.parameterSets where plain.parameterSet(named: set.name) == nil {
            x[set.offset] = point[set.name] ?? 0
        }
        let y = try plain.parameterNames.map { n throws -> Double in
            guard let k = extended.parameterNames.firstIndex(of: n) else { throw HistFactoryError(.parameter, "no \(n) in the extended model") }
            return x[k]
        }
        return (x, y)
    }

    @Test(arguments: [0, 1, 2])
    func evaluatedWorkspaceIsPlainAndMatchesTheExtendedModel(_ k: Int) throws {
        let (file, point) = Self.cases[k]
        let ws = try Workspace(contentsOf: Self.root + "/" + file)
        let exported = try ws.evaluated(at: point, poi: "lumi")
        #expect(exported.version == "1.0.0")
        // Read back from its JSON text as a plain pyhf workspace.
        let plainWorkspace = try Workspace(json: try JSONParser.parse(exported.json.serialized(.pretty)))
        #expect(plainWorkspace.version == "1.0.0")
        let extended = try HistFactoryModel(workspace: ws)
        let plain = try HistFactoryModel(workspace: plainWorkspace)
        for c in ws.wilsonCoefficients { #expect(!plain.parameterNames.contains(c)) }
        let (x, y) = try Self.points(extended, plain, point)
        let a = extended.expectedMainData(x)
        let b = plain.expectedMainData(y)
        #expect(a.count == b.count)
        for (u, v) in zip(a, b) { #expect(abs(u - v) <= 1e-12 * max(1, abs(u)), "\(u) vs \(v)") }
        // At c = 0 the export is the SM workspace: the same log-likelihood as the extended model.
        let sm = try HistFactoryModel(workspace: try ws.evaluated(at: [:], poi: "lumi"))
        let (x0, y0) = try Self.points(extended, sm, [:])
        let l0 = extended.logLikelihood(x0, data: try extended.observedData(from: ws))
        let l1 = sm.logLikelihood(y0, data: try sm.observedData(from: ws))
        #expect(abs(l0 - l1) <= 1e-10 * abs(l0), "\(l0) vs \(l1)")
        // At the point, the staterror widths are the extended model's σ_b(c) (S2): the log-likelihoods
        // differ only by the Gaussian normalisation, −ln σ_b(0) there and −ln σ_b(c) in pyhf.
        let data = try extended.observedData(from: ws)
        let lExtended = extended.logLikelihood(x, data: data)
        let lPlain = plain.logLikelihood(y, data: try plain.observedData(from: plainWorkspace))
        let s0 = Self.staterrorSigmas(try ws.evaluated(at: [:], poi: "lumi")), s1 = Self.staterrorSigmas(exported)
        let normalisation = zip(s1, s0).reduce(0.0) { $0 + ($1.1 > 0 ? log($1.0 / $1.1) : 0) }
        #expect(abs((lExtended - lPlain) - normalisation) <= 1e-9 * abs(lExtended), "\(lExtended) − \(lPlain) vs \(normalisation)")
    }

    /// pyhf's staterror σ_b = √(Σ δ²)/Σ data per (name, channel, bin), in a fixed order.
    static func staterrorSigmas(_ ws: Workspace) -> [Double] {
        var sums: [String: (delta2: [Double], data: [Double])] = [:]
        for channel in ws.channels {
            for sample in channel.samples {
                for m in sample.modifiers where m.kind == .staterror {
                    guard case .uncertainties(let d) = m.payload else { continue }
                    let key = m.name + "/" + channel.name
                    var entry = sums[key] ?? (Array(repeating: 0, count: d.count), Array(repeating: 0, count: d.count))
                    for b in d.indices { entry.delta2[b] += d[b] * d[b]; entry.data[b] += sample.data[b] }
                    sums[key] = entry
                }
            }
        }
        return sums.keys.sorted().flatMap { k in zip(sums[k]!.delta2, sums[k]!.data).map { $1 > 0 ? $0.squareRoot() / $1 : 0 } }
    }

    @Test func errors() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Specs/examples/eft_coefficient_absolute.json")
        #expect { try ws.evaluated(at: ["cHW": 1], poi: "lumi") } throws: { "\($0)".contains("cHq3") }
        #expect { try ws.evaluated(at: ["cHq3": 0.3]) } throws: { "\($0)".contains("POI") }
        #expect { try ws.evaluated(at: ["cHq3": -1], poi: "lumi") } throws: { "\($0)".contains("negative morphed yield") && "\($0)".contains("bin 0") }
        // A new POI name becomes a normfactor on the evaluated samples.
        let withMu = try HistFactoryModel(workspace: try ws.evaluated(at: ["cHq3": 0.3], poi: "mu_EFT"))
        #expect(withMu.poiName == "mu_EFT")
    }

    @Test func patchSetVerifiesAndAppliesToTheEvaluatedWorkspace() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_morphing.json")
        let grid: [(name: String, values: [Double])] = [("cHW", Workspace.gridValues(from: -1, to: 1, count: 5)), ("cHq3", [-0.1, 0.1])]
        let (background, set, skipped) = try ws.patchSet(grid: grid, poi: "lumi", skippingInvalidPoints: true)
        #expect(!skipped.isEmpty)  // cHW = -0.5, cHq3 = -0.1 has a negative VH yield
        #expect(set.patches.count + skipped.count == 10)
        #expect { try ws.patchSet(grid: grid, poi: "lumi") } throws: { "\($0)".contains("negative morphed yield") }
        #expect(background.version == "1.0.0")
                #expect(set.labels == ["cHW", "cHq3"])
        let reread = try PatchSet(json: try JSONParser.parse(set.json.serialized(.pretty)))
        try reread.verify(try Workspace(json: try JSONParser.parse(background.json.serialized(.pretty))))
        let patch = try set.patch(named: "cHW_0p5_cHq3_m0p1")
        #expect(patch.values.compactMap(\.doubleValue) == [0.5, -0.1])
        let applied = try set.apply(patch, to: background)
        #expect(applied.json == (try ws.evaluated(at: ["cHW": 0.5, "cHq3": -0.1], poi: "lumi").json))
        for p in set.patches { #expect(p.name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) }
    }

    /// Stock pyhf on an export (skipped without `import pyhf`).
    @Test func pyhfAgrees() throws {
        guard (try? runCommand(["python3", "-c", "import pyhf"]))?.0 == 0 else {
            print("ExportTests.pyhfAgrees skipped: python3 cannot import pyhf (pip install pyhf to run it)")
            return
        }
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_morphing.json")
        let point = ["cHW": 0.5, "cHq3": -0.1]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let exported = try ws.evaluated(at: point, poi: "lumi")
        let model = try HistFactoryModel(workspace: exported)
        var x = model.suggestedInits
        for i in x.indices { x[i] += 0.01 * Double(i % 3 - 1) }
        let logL = model.logLikelihood(x, data: try model.observedData(from: exported))
        let eval = JSON.object(JSONObject([
            ("parameters", .object(JSONObject(zip(model.parameterNames, x).map { ($0, JSON.number($1)) }))), ("logpdf", .number(logL)),
        ]))
        let (background, set, _) = try ws.patchSet(grid: [("cHW", [-0.5, 0.5]), ("cHq3", [-0.1, 0.1])], poi: "lumi", skippingInvalidPoints: true)
        for (name, json) in [("ws.json", exported.json), ("eval.json", eval), ("BkgOnly.json", background.json), ("patchset.json", set.json)] {
            try Data(json.serialized(.pretty).utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
        }
        let (status, output) = try runCommand(["python3", Self.root + "/Tests/References/pyhf/check_export.py", directory + "/ws.json", directory + "/eval.json",
                                        "--bkg", directory + "/BkgOnly.json", "--patchset", directory + "/patchset.json",
                                        "--patch", "cHW_0p5_cHq3_m0p1", "--expected", directory + "/ws.json"])
        #expect(status == 0, "\(output)")
    }
}
