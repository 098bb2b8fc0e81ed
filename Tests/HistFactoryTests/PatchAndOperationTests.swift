import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Testing

@Suite struct PatchAndOperationTests {
    static let workspaces = ReferencePaths.shared + "/workspaces"

    /// pyhf's digest of the 1Lbb workspace (Python's json.dumps with sort_keys) equals the
    /// patch set's, which pyhf itself verifies.
    @Test func digestsMatchPythonJSONDumps() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let ws = try Workspace(contentsOf: Self.workspaces + "/06_atlas_susy2019_08_1Lbb/BkgOnly.json", modifiers: .efthf)
        #expect(try PatchSet.digest(ws.json) == "2563672e1a165384faf49f1431e921d88c9c07ec10f150d5045576564f98f820")
        let set = try PatchSet(contentsOf: Self.workspaces + "/06_atlas_susy2019_08_1Lbb/patchset.json")
        #expect(set.patches.count == 125)
        try set.verify(ws)
        let byValues = try set.patch(values: [.integer(700), .integer(150)])
        #expect(byValues.name == "C1N2_Wh_hbb_700_150")
        let patched = try set.apply(byValues, to: ws)
        #expect(try HistFactoryModel(workspace: patched).parameterCount == 126)
    }

    @Test func aPatchSetRefusesAnotherWorkspace() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let ws = try Workspace(contentsOf: Self.workspaces + "/03_atlas_susy2018_14_comb/BkgOnly.json", modifiers: .efthf)
        let set = try PatchSet(contentsOf: Self.workspaces + "/06_atlas_susy2019_08_1Lbb/patchset.json")
        #expect(throws: HistFactoryError.self) { try set.apply(set.patches[0], to: ws) }
        #expect(throws: HistFactoryError.self) { try set.patch(named: "no_such_patch") }
    }

    @Test func pruneRemovesChannelsObservationsAndParameterConfigs() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let ws = try Workspace(contentsOf: Self.workspaces + "/01_pyhf_example/example_bkgonly.json", modifiers: .efthf)
        let pruned = try ws.pruned(modifiers: ["syst2"], measurements: ["GammaExample"])
        #expect(pruned.measurements.map(\.name) == ["GaussExample", "LogNormExample", "ConstExample"])
        let model = try HistFactoryModel(workspace: pruned)
        #expect(model.parameterSet(named: "syst2") == nil)
        #expect(throws: HistFactoryError.self) { try ws.pruned(channels: ["nope"]) }
        let big = try Workspace(contentsOf: Self.workspaces + "/05_atlas_susy2018_31_sbottom_RegionA/BkgOnly.json", modifiers: .efthf)
        let fewer = try big.pruned(channels: ["VRtt_meff"])
        #expect(fewer.channels.count == big.channels.count - 1)
        #expect(fewer.observations.count == big.observations.count - 1)
    }

    @Test("rename, as pyhf's, refuses names the workspace does not have and names the one given")
    func renameRefusesUnknownNames() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let ws = try Workspace(contentsOf: Self.workspaces + "/01_pyhf_example/example_bkgonly.json", modifiers: .efthf)
        #expect { try ws.renamed(samples: ["nosuch": "x"]) } throws: { "\($0)".contains("sample \"nosuch\"") }
        #expect { try ws.renamed(modifiers: ["syst9": "x"]) } throws: { "\($0)".contains("modifier \"syst9\"") }
        #expect { try ws.renamed(measurements: ["Nope": "x"]) } throws: { "\($0)".contains("measurement \"Nope\"") }
    }

    @Test("a right outer join puts the right workspace's items first, as pyhf's _join_items does; sorted orders by name")
    func rightOuterOrderAndSorting() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let a = try Workspace(contentsOf: Self.workspaces + "/03_atlas_susy2018_14_comb/BkgOnly.json", modifiers: .efthf)
        let b = try a.pruned(channels: ["SRee_cuts"])
        let combined = try Workspace.combine(a, b, join: .rightOuter)
        #expect(combined.channels.map(\.name) == b.channels.map(\.name) + ["SRee_cuts"])
        let sorted = try combined.sorted()
        #expect(sorted.channels.map(\.name) == combined.channels.map(\.name).sorted())
        #expect(sorted.observations.map(\.name) == sorted.channels.map(\.name))
        #expect(try combined.digest(algorithm: "md5").count == 32 && (try combined.digest(algorithm: "sha512").count) == 128)
        #expect(throws: HistFactoryError.self) { try combined.digest(algorithm: "sha3_256") }
    }

    @Test func renameKeepsTheLikelihood() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        var ws = try Workspace(contentsOf: Self.workspaces + "/01_pyhf_example/example_bkgonly.json", modifiers: .efthf)
        ws = try ws.applying(patchFile: Self.workspaces + "/01_pyhf_example/example_patchset.json", name: "patch_channel1_signal_syst1")
        let renamed = try ws.renamed(modifiers: ["SigXsecOverSM": "mu", "syst1": "alpha_1"], samples: ["signal": "sig"], channels: ["channel1": "SR"])
        let a = try HistFactoryModel(workspace: ws)
        let b = try HistFactoryModel(workspace: renamed)
        #expect(b.poiName == "mu")
        #expect(b.channels == ["SR"])
        let la = a.logLikelihood(a.suggestedInits, data: try a.observedData(from: ws))
        let lb = b.logLikelihood(b.suggestedInits, data: try b.observedData(from: renamed))
        #expect(relativeDifference(la, lb) < 1e-14)
    }

    /// Two independent analyses combined: log L is the sum of the two.
    @Test func combineAddsIndependentLikelihoods() throws {
        try #require(ReferencePaths.sharedAvailable, "../shared/reference is absent")
        let left = try Workspace(contentsOf: Self.workspaces + "/03_atlas_susy2018_14_comb/BkgOnly.json", modifiers: .efthf)
        let renames = Dictionary(uniqueKeysWithValues: left.channels.map { ($0.name, $0.name + "_copy") })
        let modifierRenames = Dictionary(uniqueKeysWithValues: Set(left.channels.flatMap { $0.samples.flatMap { $0.modifiers.map(\.name) } }).map { ($0, $0 + "_copy") })
        let right = try left.renamed(modifiers: modifierRenames, channels: renames)
        #expect(throws: HistFactoryError.self) { try Workspace.combine(left, right, join: .none) }  // same measurement name
        let combined = try Workspace.combine(left, right, join: .outer)
        #expect(combined.channels.count == 2 * left.channels.count)
        func logL(_ ws: Workspace) throws -> Double {
            let m = try HistFactoryModel(workspace: ws.pruned(measurements: []), measurement: nil)
            return m.logLikelihood(m.suggestedInits, data: try m.observedData(from: ws))
        }
        // The measurement's POI (mu_SIG) is absent from the background-only model: use no POI.
        let noPOI = { (ws: Workspace) throws -> Workspace in
            let measurements = ws.json["measurements"]!.arrayValue!.map { m -> JSON in
                var o = m.objectValue!
                var c = o["config"]!.objectValue!
                c["poi"] = ""
                o["config"] = .object(c)
                return .object(o)
            }
            var root = ws.json.objectValue!
            root["measurements"] = .array(measurements)
            return try Workspace(json: .object(root), modifiers: .efthf)
        }
        let total = try logL(noPOI(combined))
        let parts = try logL(noPOI(left)) + logL(noPOI(right))
        #expect(relativeDifference(total, parts) < 1e-12)
    }
}
