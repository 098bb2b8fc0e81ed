import EFTHF
@testable import EFTHFService
import Foundation
import HummingbirdTesting
import Testing

/// The endpoints the workspace explorer uses, each compared with the library task it adapts.
/// (The page itself is tested in a headless browser: Tests/Browser, scripts/test-browser.sh.)
@Suite struct ExplorerTests {
    @Test func pageAndAssetsAreServedAndNothingElse() async throws {
        try await withServer { client, _ in
            let page = try await client.send(.get, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.text.contains("/explorer/explorer.js"))
            let script = try await client.send(.get, "/explorer/explorer.js")
            #expect(script.status == .ok)
            #expect(script.headers[.contentType]?.hasPrefix("text/javascript") == true)
            #expect(try await client.send(.get, "/explorer/explorer.css").status == .ok)
            // Only the folder's own files: no traversal, no other names.
            #expect(try await client.send(.get, "/explorer/..%2FServer.swift").status == .notFound)
            #expect(try await client.send(.get, "/explorer/missing.js").status == .notFound)
        }
    }

    @Test func summaryIsTheInspectReportWithTheParameterTable() async throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(Example.morphing)
            let summary = try await client.send(.get, "/v1/workspaces/\(id)/summary").json
            #expect(summary["inspection"] == InspectTask().run(on: loaded).report(file: id).jsonValue)
            #expect(summary["parameters"] == ParameterTable(model: loaded.model).jsonValue)
            #expect(summary["wilson_coefficients"] == .array(loaded.workspace.wilsonCoefficients.map { .string($0) }))
        }
    }

    @Test func parameterTableGivesConstraintCentresAndWidths() throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let table = ParameterTable(model: loaded.model)
        #expect(table.parameters.map(\.name) == loaded.model.parameterNames)
        for entry in table.parameters {
            switch entry.constraint {
            case "unconstrained": #expect(entry.centre == nil && entry.width == nil)
            default: #expect(entry.centre != nil && (entry.width ?? 0) > 0, "\(entry.name)")
            }
        }
    }

    @Test func yieldsAtAPointAreYieldsTasks() async throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let point = try ParameterValues(json: ["cHW": 0.4, "lumi": 1.02])
        let expected = try YieldsTask(at: point).run(on: loaded).jsonValue
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(Example.morphing)
            let response = try await client.send(.post, "/v1/workspaces/\(id)/yields", json: ["at": ["cHW": 0.4, "lumi": 1.02]])
            #expect(response.status == .ok, "\(response.text)")
            #expect(try response.json == expected)
            // At the initial values without "at"; an unknown name is a 422 naming it.
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/yields", json: [:]).json == YieldsTask().run(on: loaded).jsonValue)
            let wrong = try await client.send(.post, "/v1/workspaces/\(id)/yields", json: ["at": ["nope": 1]])
            #expect(wrong.status == .unprocessableContent)
            #expect(wrong.text.contains("nope"))
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/yields", json: ["point": [:]]).status == .badRequest)
        }
    }

    /// lumi multiplies the samples that carry it, so its band is exactly σ·Σ ν_s of those samples;
    /// the analytic Jacobian must reproduce it.
    @Test func bandOfOneLinearParameterIsItsWidthTimesTheScaledYields() throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let report = try YieldsTask(band: .covariance(parameters: ["lumi"], matrix: [[0.02 * 0.02]])).run(on: loaded)
        let channel = try #require(report.channels.first)
        let scaled = loaded.workspace.channels[0].samples.filter { $0.modifiers.contains { $0.kind == .lumi } }.map(\.name)
        let sigma = try #require(channel.totalUncertainty)
        for b in channel.total.indices {
            let expected = 0.02 * scaled.reduce(0) { $0 + (channel.samples[$1]?[b] ?? 0) }
            #expect(abs(sigma[b] - expected) <= 1e-7 * expected, "bin \(b): \(sigma[b]) vs \(expected)")
        }
        #expect(throws: HistFactoryError.self) { try YieldsTask(band: .covariance(parameters: ["lumi"], matrix: [[1, 0]])).run(on: loaded) }
    }

    @Test func bandsFromConstraintsAndFromAFitJob() async throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let prefit = try YieldsTask(band: .constraints).run(on: loaded).jsonValue
        let fit = try FitTask().run(on: loaded).fit!
        let free = fit.fixed.indices.filter { !fit.fixed[$0] }
        let covariance = try #require(fit.covariance)
        let postfit = try YieldsTask(band: .covariance(parameters: free.map { fit.parameterNames[$0] }, matrix: free.map { i in free.map { j in covariance[i][j] } })).run(on: loaded)
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(Example.morphing)
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/yields", json: ["band": "constraints"]).json == prefit)
            let job = try await client.submit(id, ["kind": "fit"])
            _ = try await client.wait(job)
            let served = try await client.send(.post, "/v1/workspaces/\(id)/yields", json: ["band": ["fit_job": .string(job)]]).json
            let values = try #require(served["channels"]?.arrayValue?.first?["total_uncertainty"]?.arrayValue)
            let sigma = values.compactMap { $0.doubleValue }
            let expected = try #require(postfit.channels[0].totalUncertainty)
            #expect(sigma.count == expected.count)
            // fit.json rounds nothing, but the service rebuilds C from σ̂ and ρ: equal to rounding.
            for (a, b) in zip(sigma, expected) { #expect(abs(a - b) <= 1e-9 * max(b, 1)) }
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/yields", json: ["band": "nope"]).status == .badRequest)
        }
    }

    @Test func scanJobReportsProgressAndGivesTheScanTasksReport() async throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let axis = try GridAxis(name: "cHW", lower: -0.5, upper: 0.5, count: 5)
        let expected = try ScanTask(axes: [axis]).run(on: loaded).jsonValue
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(id, ["kind": "scan", "axes": ["cHW": [-0.5, 0.5, 5]]])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            #expect(final["files"] == ["scan.json"])
            #expect(final["progress"]?["done"] == final["progress"]?["total"])
            #expect(try JSONParser.parse(try await client.download(job, "scan.json")) == expected)
            let bad = try await client.send(.post, "/v1/workspaces/\(id)/jobs", json: ["kind": "scan", "axes": ["cHW": [-1, 1, 1]]])
            #expect(bad.status == .unprocessableContent, "\(bad.text)")
        }
    }

    @Test func patchedWorkspaceIsTheLibrarysPatchedWorkspace() async throws {
        let folder = Example.repository.deletingLastPathComponent().appendingPathComponent("shared/reference/workspaces/01_pyhf_example").path
        let reference = FileManager.default.fileExists(atPath: folder) ? folder : "/work/shared/reference/workspaces/01_pyhf_example"
        guard FileManager.default.fileExists(atPath: reference) else { return }
        let patched = try Workspace(contentsOf: reference + "/example_bkgonly.json").applying(patchFile: reference + "/example_patchset.json", name: "patch_channel1_signal_syst1")
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(reference + "/example_bkgonly.json")
            let set = try loadJSON(reference + "/example_patchset.json")
            let response = try await client.send(.post, "/v1/workspaces/\(id)/patched", json: ["patchset": set, "patch": "patch_channel1_signal_syst1"])
            #expect(response.status == .created, "\(response.text)")
            let new = try #require(try response.json["id"]?.stringValue)
            #expect(new != id)
            let yields = try await client.send(.post, "/v1/workspaces/\(new)/yields", json: [:]).json
            let expected = try YieldsTask().run(on: LoadedModel(workspace: patched)).jsonValue
            #expect(yields == expected)
            let unknown = try await client.send(.post, "/v1/workspaces/\(id)/patched", json: ["patchset": set, "patch": "nope"])
            #expect(unknown.status == .unprocessableContent)
        }
    }

    @Test func backgroundOnlyWorkspaceIsPatchedInOneRequest() async throws {
        let folder = Example.repository.deletingLastPathComponent().appendingPathComponent("shared/reference/workspaces/03_atlas_susy2018_14_comb").path
        let reference = FileManager.default.fileExists(atPath: folder) ? folder : "/work/shared/reference/workspaces/03_atlas_susy2018_14_comb"
        guard FileManager.default.fileExists(atPath: reference) else { return }
        let background = try loadJSON(reference + "/BkgOnly.json"), set = try loadJSON(reference + "/patchset_SYNTHETIC.json")
        let patched = try Workspace(json: background).applying(patchFile: reference + "/patchset_SYNTHETIC.json", name: "synthetic_signal")
        try await withServer { client, _ in
            // Alone it is no model (no POI without the signal), so it is refused …
            #expect(try await client.send(.post, "/v1/workspaces", json: background).status == .unprocessableContent)
            // … and accepted with its patch.
            let response = try await client.send(.post, "/v1/patched", json: ["workspace": background, "patchset": set, "patch": "synthetic_signal"])
            #expect(response.status == .created, "\(response.text)")
            let id = try #require(try response.json["id"]?.stringValue)
            let expected = try YieldsTask().run(on: LoadedModel(workspace: patched)).jsonValue
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/yields", json: [:]).json == expected)
            #expect(try await client.send(.post, "/v1/patched", json: ["patchset": set, "patch": "synthetic_signal"]).status == .badRequest)
        }
    }

    @Test func examplesAreOfferedAndLoadWithTheirFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-explorer-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try EFTHFServer(configuration: ServiceConfiguration(
            port: 0, dataDirectory: directory, examplesDirectory: Example.repository.appendingPathComponent("Data/vh").path))
        try await server.application().test(.router) { client in
            let list = try await client.send(.get, "/v1/examples").json
            let names = list["examples"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(names.contains("workspace_morphing.json") && names.contains("workspace_events.json"))
            let morphing = try await client.send(.post, "/v1/examples/workspace_morphing.json")
            #expect(morphing.status == .created)
            #expect(try morphing.json["state"]?.stringValue == "ready")
            // The event-database example comes with its HDF5 file.
            let events = try await client.send(.post, "/v1/examples/workspace_events.json")
            #expect(try events.json["state"]?.stringValue == "ready", "\(events.text)")
            #expect(try await client.send(.post, "/v1/examples/..%2FPackage.swift").status == .notFound)
        }
    }
}
