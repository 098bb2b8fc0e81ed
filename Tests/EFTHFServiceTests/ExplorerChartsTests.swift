import EFTHF
@testable import EFTHFService
import Foundation
import HummingbirdTesting
import Testing

/// The endpoints and job of the explorer's further charts (systematic table, event-database
/// statistics, ranking), each compared with the library task it adapts and with values computed
/// here from the workspace's own JSON. (The charts: Tests/Browser/test_explorer_charts.py.)
@Suite struct ExplorerChartsTests {
    @Test func summaryModifiersAreTheSystematicsTableWithTheWorkspacesSizes() async throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let document = try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: Example.morphing)))
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(Example.morphing)
            let summary = try await client.send(.get, "/v1/workspaces/\(id)/summary").json
            #expect(summary["modifiers"] == SystematicsTable(workspace: loaded.workspace, model: loaded.model).jsonValue)
            guard case .array(let rows)? = summary["modifiers"] else { Issue.record("no modifiers"); return }
            // One row per modifier of every sample, in the workspace's order.
            var expected: [(String, String, String, String, JSON)] = []
            for channel in document["channels"]!.arrayValue! {
                for sample in channel["samples"]!.arrayValue! {
                    for m in sample["modifiers"]!.arrayValue! {
                        expected.append((channel["name"]!.stringValue!, sample["name"]!.stringValue!, m["name"]!.stringValue!, m["type"]!.stringValue!, m["data"] ?? .null))
                    }
                }
            }
            #expect(rows.count == expected.count)
            for (row, (channel, sample, name, type, data)) in zip(rows, expected) {
                #expect(row["channel"]?.stringValue == channel && row["sample"]?.stringValue == sample && row["name"]?.stringValue == name && row["type"]?.stringValue == type)
                switch type {
                case "normsys":
                    let hi = data["hi"]!.doubleValue!, lo = data["lo"]!.doubleValue!
                    #expect(row["hi"]?.doubleValue == hi && row["lo"]?.doubleValue == lo)
                    #expect(row["effect"]?.doubleValue == max(abs(hi - 1), abs(lo - 1)))
                case "lumi":
                    // The measurement's sigmas / auxdata: 0.017 / 1.
                    #expect(abs((row["effect"]?.doubleValue ?? 0) - 0.017) <= 1e-15)
                case "morphing", "normfactor":
                    #expect(row["effect"] == .null)
                default:
                    #expect(row["effect"]?.doubleValue != nil, "\(name) \(type)")
                }
            }
        }
    }

    @Test func histosysShiftsAndStaterrorWidthsAreRelativeToTheNominal() throws {
        let json: JSON = [
            "channels": [["name": "c", "samples": [
                ["name": "s", "data": [10.0, 20.0], "modifiers": [
                    ["name": "h", "type": "histosys", "data": ["hi_data": [12.0, 19.0], "lo_data": [9.0, 23.0]]],
                    ["name": "stat", "type": "staterror", "data": [1.0, 2.0]],
                    ["name": "mu", "type": "normfactor", "data": .null],
                ]],
                ["name": "b", "data": [30.0, 20.0], "modifiers": [
                    ["name": "stat", "type": "staterror", "data": [2.0, 1.0]],
                    ["name": "sh", "type": "shapesys", "data": [3.0, 5.0]],
                ]],
            ]]],
            "observations": [["name": "c", "data": [40.0, 40.0]]],
            "measurements": [["name": "m", "config": ["poi": "mu", "parameters": []]]],
            "version": "1.0.0",
        ]
        let workspace = try Workspace(json: json)
        let table = SystematicsTable(workspace: workspace, model: try LoadedModel(workspace: workspace).model)
        let byName = Dictionary(table.modifiers.map { ("\($0.sample)/\($0.name)", $0) }, uniquingKeysWith: { a, _ in a })
        let h = try #require(byName["s/h"])
        #expect(h.relativeHi == [0.2, -0.05] && h.relativeLo == [-0.1, 0.15])
        #expect(h.effect == 0.2)
        // pyhf's staterror σ_b = √(Σ δ²)/Σ ν over the samples sharing it, the same for both samples.
        let sigma = [(1.0 + 4.0).squareRoot() / 40, (4.0 + 1.0).squareRoot() / 40]
        for key in ["s/stat", "b/stat"] { #expect(byName[key]?.relative == sigma.map { Optional($0) }) }
        #expect(byName["b/sh"]?.relative == [0.1, 0.25] && byName["b/sh"]?.effect == 0.25)
        #expect(byName["s/mu"]?.effect == nil)
    }

    @Test func eventStatisticsAreTheEventStatisticsTasks() async throws {
        let workspace = try Workspace(contentsOf: Example.events, modifiers: .efthf)
        let expected = try EventStatisticsTask(at: ["cHW": 0.5]).run(on: workspace).jsonValue
        try await withServer { client, _ in
            let created = try await client.send(.post, "/v1/workspaces", try Example.bytes(Example.events)).json
            let id = try #require(created["id"]?.stringValue)
            let put = try await client.send(.put, "/v1/workspaces/\(id)/files/vh_smeft_events.h5", try Example.bytes(Example.database))
            #expect(put.status == .created, "\(put.text)")
            let answer = try await client.send(.post, "/v1/workspaces/\(id)/event-statistics", json: ["at": ["cHW": 0.5]])
            #expect(answer.status == .ok, "\(answer.text)")
            #expect(try answer.json == expected)
            let databases = try #require(expected["databases"]?.arrayValue)
            #expect(databases.count == 1 && databases[0]["sm"]?["events"] == .integer(18018))
            // The SM sum of the raw weights is the sample's SM yield (normalisation 1, every event binned).
            let sm = try #require(databases[0]["sm"]?["sum_of_weights"]?.doubleValue)
            let yields = workspace.channels[0].samples.first { $0.name == "VH" }!.data.reduce(0, +)
            #expect(abs(sm - yields) <= 1e-9 * yields)
            let unknown = try await client.send(.post, "/v1/workspaces/\(id)/event-statistics", json: ["at": ["cXX": 1]])
            #expect(unknown.status == .unprocessableContent && unknown.text.contains("cXX"))
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/event-statistics", json: ["at": 1]).status == .badRequest)
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/event-statistics", json: ["point": [:]]).status == .badRequest)
        }
    }

    @Test func rankingJobIsTheRankingTasksReportAndIsCheckedAtSubmission() async throws {
        let loaded = try LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))
        let expected = try RankingTask(poi: "cHW", ops: ["cHW"]).run(on: loaded)
        try await withServer { client, _ in
            let id = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(id, ["kind": "ranking", "poi": "cHW", "ops": ["cHW"]])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            #expect(final["files"] == ["ranking.json"])
            #expect(final["progress"]?["done"] == final["progress"]?["total"])
            let report = try JSONParser.parse(try await client.download(job, "ranking.json"))
            // The same parameters in the same order; impacts to the fits' tolerance (refits run concurrently).
            #expect(report["parameters"]?.arrayValue?.map { $0["name"] } == expected.parameters.map { .string($0.name) })
            #expect(abs((report["best_fit"]?.doubleValue ?? .nan) - expected.bestFit) <= 1e-6)
            for (bad, path) in [(["kind": "ranking", "poi": "nope"], "/poi"), (["kind": "ranking", "ops": ["cXX"]], "/ops/cXX"),
                                (["kind": "ranking", "fix": ["nope": 1]], "/fix/nope")] as [(JSON, String)] {
                let answer = try await client.send(.post, "/v1/workspaces/\(id)/jobs", json: bad)
                #expect(answer.status == .unprocessableContent, "\(answer.text)")
                #expect(try answer.json["path"]?.stringValue == path)
            }
            #expect(try await client.send(.post, "/v1/workspaces/\(id)/jobs", json: ["kind": "ranking", "top": 3]).status == .badRequest)
        }
    }
}
