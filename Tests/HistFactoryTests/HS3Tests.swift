import EFTJSON
import EFTModifiers
import Foundation
import HistFactory
import Testing

/// HS3 export and import (issue 17, Specs/hs3.md): efthf → HS3 → efthf keeps the likelihood.
@Suite struct HS3Tests {
    static let root = ReferencePaths.repositoryRoot.path
    static let files = [
        "Data/vh/workspace_morphing.json", "Data/vh/workspace_events.json",
        "Specs/examples/core_example.json", "Specs/examples/eft_coefficient_absolute.json",
        "Specs/examples/eft_benchmarks_square.json", "Specs/examples/eft_benchmarks_overdetermined.json",
        "Specs/examples/eft_relative_stxs.json", "Specs/examples/eft_parameter_order.json",
        "Specs/examples/eft_negative_clip.json", "Specs/examples/eft_truncation_linear.json",
    ]
    /// Reference workspaces (../shared/reference) with one staterror name per channel.
    static let references = ["01_pyhf_example", "02_cms_combine2pyhf_one-bin-stat-full", "05_atlas_susy2018_31_sbottom_RegionA"]

    static func workspace(_ k: Int) throws -> Workspace {
        k < files.count
            ? try Workspace(contentsOf: root + "/" + files[k], modifiers: .efthf)
            : try ReferenceCase.all.first { $0.name == references[k - files.count] }!.workspace()
    }

    static var cases: [Int] {
        Array(files.indices) + references.indices.filter { i in ReferenceCase.all.contains { $0.name == references[i] } }.map { $0 + files.count }
    }

    /// The workspace written as HS3 text, parsed and read back, at 12 random points (coefficients
    /// within ±0.05, every nuisance parameter moved, staterror and shapesys γ's included): the same
    /// parameter names and the same ln L to 1e−12 relative (or both outside the domain).
    @Test(arguments: cases)
    func roundTripKeepsTheLogLikelihood(_ k: Int) throws {
        let ws = try Self.workspace(k)
        let text = try ws.hs3().serialized(.pretty)
        let back = try Workspace(hs3: try JSONParser.parse(text))
        let model = try HistFactoryModel(workspace: ws), imported = try HistFactoryModel(workspace: back)
        #expect(Set(model.parameterNames) == Set(imported.parameterNames))
        let data = try model.observedData(from: ws), importedData = try imported.observedData(from: back)
        #expect(data.main == importedData.main)
        let coefficients = Set(ws.wilsonCoefficients)
        var worst = 0.0
        for x in randomPoints(model, coefficients: coefficients, gammasAtOne: false, count: 12, seed: 5 + UInt64(k)) {
            var y = imported.suggestedInits
            for (i, name) in model.parameterNames.enumerated() { y[imported.parameterNames.firstIndex(of: name)!] = x[i] }
            let a = model.logLikelihood(x, data: data), b = imported.logLikelihood(y, data: importedData)
            if !a.isFinite || !b.isFinite {
                #expect(a == b || (a.isNaN && b.isNaN), "\(k): ln L \(a) vs \(b)")
                continue
            }
            let rel = abs(a - b) / max(1, abs(a))
            worst = max(worst, rel)
            #expect(rel <= 1e-12, "case \(k): ln L \(a) (original) vs \(b) (from HS3)")
        }
        print("HS3 round trip case \(k): largest relative ln L difference \(worst)")
    }

    /// Structure of the export of the VH workspace: one HS3 sample per non-zero term, each term
    /// scaled by a custom modifier named like a product function of its coefficients, the
    /// staterror width σ_b(0) kept through the scaled errors, the pieces ROOT needs.
    @Test func vhExportHasTheTermSamplesAndROOTsPieces() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_morphing.json", modifiers: .efthf)
        let hs3 = try ws.hs3()
        #expect(hs3["metadata"]?["hs3_version"]?.stringValue == Workspace.hs3Version)
        for key in ["distributions", "functions", "data", "domains", "parameter_points", "likelihoods", "analyses"] {
            #expect(hs3[key] != nil, "\(key) missing")
        }
        let channel = try #require(hs3["distributions"]?.arrayValue?.first { $0["type"]?.stringValue == "histfactory_dist" })
        let samples = try #require(channel["samples"]?.arrayValue)
        let functions = Set(hs3["functions"]!.arrayValue!.map { $0["name"]!.stringValue! })
        let terms = samples.filter { s in s["modifiers"]!.arrayValue!.contains { $0["type"]?.stringValue == "custom" } }
        #expect(!terms.isEmpty)
        for s in terms {
            let custom = s["modifiers"]!.arrayValue!.first { $0["type"]?.stringValue == "custom" }!["name"]!.stringValue!
            #expect(functions.contains(custom), "custom modifier \(custom) names no function")
        }
        // ROOT's relative width √Σerrors²/Σcontents equals pyhf's σ_b(0).
        let model = try HistFactoryModel(workspace: ws)
        let set = try #require(model.parameterSet(named: "staterror_SR_pTV"))
        guard case .normal(let sigmas) = set.constraint else { Issue.record("staterror not Gaussian"); return }
        for b in 0 ..< set.count {
            var w = 0.0, w2 = 0.0
            for s in samples where s["modifiers"]!.arrayValue!.contains(where: { $0["type"]?.stringValue == "staterror" }) {
                w += s["data"]!["contents"]!.arrayValue![b].doubleValue!
                let e = s["data"]!["errors"]?.arrayValue?[b].doubleValue ?? 0
                w2 += e * e
            }
            #expect(abs(w2.squareRoot() / w - sigmas[b]) <= 1e-12 * sigmas[b], "bin \(b)")
        }
    }

    /// A term sample whose modifiers are not its SM sample's (here: its lumi removed) is refused by
    /// the import with both lists, instead of being read as a different model.
    @Test func termSampleWithOtherModifiersIsRefused() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_morphing.json", modifiers: .efthf)
        let text = try ws.hs3().serialized(.pretty)
        guard case .object(var root) = try JSONParser.parse(text), case .array(var distributions)? = root["distributions"],
              case .object(var channel) = distributions[0], case .array(var samples)? = channel["samples"],
              let k = samples.firstIndex(where: { $0["name"]?.stringValue == "VH__cHW" }), case .object(var sample) = samples[k],
              case .array(let modifiers)? = sample["modifiers"] else {
            Issue.record("unexpected export layout")
            return
        }
        sample["modifiers"] = .array(modifiers.filter { $0["name"]?.stringValue != "lumi" })
        samples[k] = .object(sample)
        channel["samples"] = .array(samples)
        distributions[0] = .object(channel)
        root["distributions"] = .array(distributions)
        #expect {
            _ = try Workspace(hs3: .object(root))
        } throws: { error in
            "\(error)".contains("VH__cHW") && "\(error)".contains("differ")
        }
    }

    /// Per-event samples are refused with the channel, sample and modifier named.
    @Test func perEventSamplesAreRefused() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_events_syst.json", modifiers: .efthf)
        #expect {
            _ = try ws.hs3()
        } throws: { error in
            "\(error)".contains("evaluated per event") && "\(error)".contains("export --at")
        }
    }
}
