import EFTHF
@testable import EFTHFService
import Foundation
import HummingbirdTesting
import Testing

/// Upload → submit → poll → download, with results compared to the library's own.
@Suite struct JobTests {
    @Test func exportJobEqualsTheLibrarysEvaluatedWorkspace() async throws {
        let expected = fileText(try Workspace(contentsOf: Example.morphing, modifiers: .efthf).evaluated(at: ["cHW": 0.5, "cHq3": -0.1], poi: "lumi").json)
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let status = try await client.send(.get, "/v1/workspaces/\(workspace)").json
            #expect(status["state"]?.stringValue == "ready")
            #expect(status["wilson_coefficients"] == .array(try Workspace(contentsOf: Example.morphing, modifiers: .efthf).wilsonCoefficients.map { .string($0) }))
            let job = try await client.submit(workspace, ["kind": "export", "at": ["cHW": 0.5, "cHq3": -0.1], "poi": "lumi"])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            #expect(final["files"] == ["workspace.json"])
            #expect(try await client.download(job, "workspace.json") == expected)
            // The downloaded workspace is plain pyhf and valid.
            let plain = try Workspace(json: try JSONParser.parse(expected), modifiers: .efthf)
            #expect(plain.version == "1.0.0")
        }
    }

    @Test func patchSetJobEqualsTheLibrarysPatchSet() async throws {
        let grid = [GridValues(name: "cHW", values: Workspace.gridValues(from: -1, to: 1, count: 3)), GridValues(name: "cHq3", values: Workspace.gridValues(from: -0.2, to: 0.2, count: 2))]
        let export = try Workspace(contentsOf: Example.morphing, modifiers: .efthf).patchSet(grid: grid, poi: "lumi")
        let background = export.backgroundOnly, set = export.patchSet
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(workspace, ["kind": "patchset", "grid": ["cHW": [-1, 1, 3], "cHq3": [-0.2, 0.2, 2]], "poi": "lumi"])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            #expect(final["summary"]?["patches"] == .integer(6))
            #expect(final["files"] == ["patchset.json", "BkgOnly.json", "likelihood.tar.gz"])
            #expect(try await client.download(job, "patchset.json") == fileText(set.json))
            #expect(try await client.download(job, "BkgOnly.json") == fileText(background.json))
            // The archive, unpacked by GNU tar: exactly the two files, byte for byte.
            let archive = try await client.send(.get, "/v1/jobs/\(job)/files/likelihood.tar.gz")
            #expect(archive.status == .ok && archive.headers[.contentType] == "application/gzip")
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-job-archive-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            try Data(archive.body.readableBytesView).write(to: scratch.appendingPathComponent("likelihood.tar.gz"))
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            tar.arguments = ["tar", "-xzf", "likelihood.tar.gz"]
            tar.currentDirectoryURL = scratch
            try tar.run()
            tar.waitUntilExit()
            #expect(tar.terminationStatus == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == ["BkgOnly.json", "likelihood.tar.gz", "patchset.json"])
            #expect(try String(contentsOf: scratch.appendingPathComponent("patchset.json"), encoding: .utf8) == fileText(set.json))
            #expect(try String(contentsOf: scratch.appendingPathComponent("BkgOnly.json"), encoding: .utf8) == fileText(background.json))
            let missing = try await client.send(.get, "/v1/jobs/\(job)/files/workspace.json")
            #expect(missing.status == .notFound)
        }
    }

    /// A running patch-set job stops between parts of its grid when cancelled: 202, then
    /// `cancelled` without files, long before its 10 000 points would be done.
    @Test func runningPatchSetJobCanBeCancelled() async throws {
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(workspace, ["kind": "patchset", "grid": ["cHW": [-1, 1, 100], "cHq3": [-0.2, 0.2, 100]], "poi": "lumi", "skip_invalid": true])
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(60)
            var status = try await client.send(.get, "/v1/jobs/\(job)").json
            while status["state"]?.stringValue == "queued" || (status["progress"]?["done"]?.doubleValue ?? 0) < 1, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                status = try await client.send(.get, "/v1/jobs/\(job)").json
            }
            #expect(status["state"]?.stringValue == "running", "\(status)")
            let cancelling = try await client.send(.delete, "/v1/jobs/\(job)")
            #expect(cancelling.status == .accepted, "\(cancelling.text)")
            let ended = try await client.wait(job, timeout: .seconds(60))
            #expect(ended["state"]?.stringValue == "cancelled" && ended["files"] == .array([]), "\(ended)")
            let done = ended["progress"]?["done"]?.doubleValue ?? 10_000
            // It ends with the part in progress when the request arrived, or the next (parts of 100 points).
            let seen = status["progress"]?["done"]?.doubleValue ?? 0
            #expect(done <= (seen / 100).rounded(.down) * 100 + 200, "cancelled at \(seen) points done, it ran on to \(done)")
            #expect(try await client.send(.get, "/v1/jobs/\(job)/files/patchset.json").status == .conflict)
        }
    }

    @Test func fitJobOnTheMorphingExampleGivesTheCLIReport() async throws {
        let direct = try FitTask(ops: ["cHW", "cHq3"]).run(on: LoadedModel(workspace: Workspace(contentsOf: Example.morphing, modifiers: .efthf))).jsonValue
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(workspace, ["kind": "fit", "ops": ["cHW", "cHq3"]])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            let report = try JSONParser.parse(try await client.download(job, "fit.json"))
            try expectSameFit(report, direct)
        }
    }

    /// The event-database form: the workspace waits for its HDF5 file, then fits and exports as
    /// the library does reading the same files from the repository.
    @Test func eventDatabaseWorkspaceWaitsForItsFileThenRuns() async throws {
        let library = try Workspace(contentsOf: Example.events, modifiers: .efthf)
        let expectedExport = fileText(try library.evaluated(at: ["cHW": 0.3], poi: "lumi").json)
        let direct = try FitTask(ops: ["cHW"]).run(on: LoadedModel(workspace: library)).jsonValue
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.events)
            var status = try await client.send(.get, "/v1/workspaces/\(workspace)").json
            #expect(status["state"]?.stringValue == "awaiting_files")
            #expect(status["missing_files"] == ["vh_smeft_events.h5"])

            let early = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", json: ["kind": "fit"])
            #expect(early.status == .conflict)
            #expect(try early.json["error"]?.stringValue?.contains("vh_smeft_events.h5") == true, "\(early.text)")

            let put = try await client.send(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", try Example.bytes(Example.database))
            #expect(put.status == .created, "\(put.text)")
            status = try put.json
            #expect(status["state"]?.stringValue == "ready")
            #expect(status["missing_files"] == [])

            let again = try await client.send(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", try Example.bytes(Example.database))
            #expect(again.status == .conflict)

            let export = try await client.submit(workspace, ["kind": "export", "at": ["cHW": 0.3], "poi": "lumi"])
            let fit = try await client.submit(workspace, ["kind": "fit", "ops": ["cHW"]])
            #expect(try await client.wait(export)["state"]?.stringValue == "done")
            #expect(try await client.download(export, "workspace.json") == expectedExport)
            let final = try await client.wait(fit)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            try expectSameFit(JSONParser.parse(try await client.download(fit, "fit.json")), direct)
        }
    }

    /// A job the library rejects while running (a negative morphed yield) ends "failed" with the
    /// library's message, and its files are not offered.
    @Test func failingJobReportsTheLibrarysError() async throws {
        #expect(throws: HistFactoryError.self) { try Workspace(contentsOf: Example.morphing, modifiers: .efthf).evaluated(at: ["cHW": -0.1, "cHq3": -0.05], poi: "lumi") }
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(workspace, ["kind": "export", "at": ["cHW": -0.1, "cHq3": -0.05], "poi": "lumi"])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "failed")
            #expect(final["error"]?["error"]?.stringValue?.contains("negative morphed yield") == true, "\(final.serialized())")
            #expect(final["files"] == [])
            let download = try await client.send(.get, "/v1/jobs/\(job)/files/workspace.json")
            #expect(download.status == .conflict)
            #expect(try download.json["error"]?.stringValue?.contains("negative morphed yield") == true)
        }
    }

    /// One worker, a queue of one: the third job is refused with 503 and a JSON error; a queued
    /// job can be cancelled, a running one cannot, and nothing is lost.
    @Test func fitJobWithExcludeAndFixGivesTheLibrarysFit() async throws {
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let request: JSON = ["kind": "fit", "ops": ["cHW"], "fix": ["lumi": 1.01], "exclude": ["vh_theory", "ttbar_xsec"]]
            let job = try await client.submit(workspace, request)
            let status = try await client.wait(job)
            #expect(status["state"]?.stringValue == "done", "\(status)")
            #expect(status["request"]?["exclude"] == .array([.string("vh_theory"), .string("ttbar_xsec")]))
            let report = try JSONParser.parse(try await client.download(job, "fit.json"))
            let loaded = try ModelSource(workspace: Example.morphing).load()
            let direct = try FitTask(ops: ["cHW"], fix: try ParameterValues(parsing: "lumi=1.01"), exclude: ["vh_theory", "ttbar_xsec"]).run(on: loaded).jsonValue
            try expectSameFit(report, direct)
            #expect(report["parameters"]?["vh_theory"] == nil && report["parameters"]?["ttbar_xsec"] == nil)
            // The yields of the model that fit used: vh_theory is gone, so moving it is refused.
            let at: JSON = ["at": ["cHW": 0.3], "exclude": ["vh_theory", "ttbar_xsec"]]
            #expect(try await client.send(.post, "/v1/workspaces/\(workspace)/yields", json: at).status == .ok)
            let moved: JSON = ["at": ["vh_theory": 0.5], "exclude": ["vh_theory"]]
            #expect(try await client.send(.post, "/v1/workspaces/\(workspace)/yields", json: moved).status == .unprocessableContent)
            // Refused at submission, naming the member and the value.
            let unknown = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", json: ["kind": "fit", "exclude": ["alpha_nope"]])
            #expect(unknown.status == .unprocessableContent)
            #expect(try unknown.json["path"]?.stringValue == "/exclude" && unknown.text.contains("alpha_nope"), "\(unknown.text)")
            let twice = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", json: ["kind": "fit", "exclude": ["lumi", "lumi"]])
            #expect(twice.status == .badRequest && twice.text.contains("given twice"), "\(twice.text)")
        }
    }

    @Test func fullQueueRefusesWith503() async throws {
        try await withServer(workers: 1, queueLimit: 1) { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            // A 500 × 500 scan (250 000 conditional fits, minutes even in a release build) keeps the
            // single worker busy until it is cancelled below.
            let running = try await client.submit(workspace, ["kind": "scan", "axes": ["cHW": [-0.5, 0.5, 500], "cHq3": [-0.05, 0.05, 500]]])
            let queued = try await client.submit(workspace, ["kind": "export", "at": ["cHW": 0.1], "poi": "lumi"])
            let refused = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", json: ["kind": "export", "at": ["cHW": 0.2], "poi": "lumi"])
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(try refused.json["error"]?.stringValue?.contains("queue is full") == true, "\(refused.text)")
            let health = try await client.send(.get, "/v1/health").json
            #expect(health["queued"] == .integer(1))
            #expect(health["running"] == .integer(1))

            #expect(try await client.send(.delete, "/v1/jobs/\(queued)").status == .noContent)
            #expect(try await client.send(.get, "/v1/jobs/\(queued)").json["state"]?.stringValue == "cancelled")
            // Room again: the refused request goes through now.
            let retried = try await client.submit(workspace, ["kind": "export", "at": ["cHW": 0.2], "poi": "lumi"])
            // The running scan is asked to stop (202, "cancelling") and ends cancelled, without files.
            let cancelling = try await client.send(.delete, "/v1/jobs/\(running)")
            #expect(cancelling.status == .accepted)
            #expect(try cancelling.json["cancelling"] == .bool(true) && cancelling.json["state"]?.stringValue == "running", "\(cancelling.text)")
            let ended = try await client.wait(running, timeout: .seconds(120))
            #expect(ended["state"]?.stringValue == "cancelled" && ended["error"] == nil && ended["files"] == .array([]), "\(ended)")
            #expect(try await client.send(.get, "/v1/jobs/\(running)/files/scan.json").status == .conflict)
            #expect(try await client.wait(retried)["state"]?.stringValue == "done")
            // A finished job can be deleted, and is gone.
            #expect(try await client.send(.delete, "/v1/jobs/\(retried)").status == .noContent)
            #expect(try await client.send(.get, "/v1/jobs/\(retried)").status == .notFound)
        }
    }
}

/// The same best fit: status, values and 2NLL, and the profile intervals' ends.
func expectSameFit(_ report: JSON, _ direct: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(report["converged"] == .bool(true), sourceLocation: sourceLocation)
    #expect(report["status"] == direct["status"], sourceLocation: sourceLocation)
    let a = try #require(report["twice_nll"]?.doubleValue), b = try #require(direct["twice_nll"]?.doubleValue)
    #expect(abs(a - b) <= 1e-8 * max(1, abs(b)), sourceLocation: sourceLocation)
    let parameters = try #require(direct["parameters"]?.objectValue)
    for (name, p) in parameters.pairs {
        let x = try #require(report["parameters"]?[name]?["value"]?.doubleValue, sourceLocation: sourceLocation)
        #expect(abs(x - p["value"]!.doubleValue!) <= 1e-6, "\(name)", sourceLocation: sourceLocation)
    }
    let intervals = try #require(direct["profile_intervals"]?.objectValue, sourceLocation: sourceLocation)
    for (name, interval) in intervals.pairs {
        for key in ["one_sigma", "cl95"] {
            let got = try #require(report["profile_intervals"]?[name]?[key]?.arrayValue, sourceLocation: sourceLocation)
            for (g, e) in zip(got, interval[key]!.arrayValue!) {
                #expect((g.doubleValue == nil) == (e.doubleValue == nil), sourceLocation: sourceLocation)
                if let g = g.doubleValue, let e = e.doubleValue { #expect(abs(g - e) <= 1e-5, "\(name) \(key)", sourceLocation: sourceLocation) }
            }
        }
    }
}
