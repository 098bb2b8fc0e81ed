import EFTHF
@testable import EFTHFService
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Every bad request gets the right 4xx and a JSON body `{"error": …}` saying what was wrong.
@Suite struct ErrorTests {
    /// A workspace body, the expected status and a fragment of the error message.
    struct BadWorkspace: Sendable, CustomTestStringConvertible {
        let label: String
        let body: String
        let status: HTTPResponse.Status
        let message: String
        var path: String? = nil
        var testDescription: String { label }
    }

    static let morphingText = try! String(contentsOfFile: Example.morphing, encoding: .utf8)
    static let eventsText = try! String(contentsOfFile: Example.events, encoding: .utf8)

    static let badWorkspaces: [BadWorkspace] = [
        BadWorkspace(label: "not JSON", body: "{\"channels\": [", status: .badRequest, message: "not valid JSON"),
        BadWorkspace(label: "empty body", body: "", status: .badRequest, message: "not valid JSON"),
        BadWorkspace(label: "missing observations", body: #"{"channels": [], "measurements": [], "version": "1.0.0"}"#,
                     status: .unprocessableContent, message: "observations"),
        BadWorkspace(label: "wrong kind", body: morphingText.replacingOccurrences(of: #""name": "SR_pTV""#, with: #""name": 7"#),
                     status: .unprocessableContent, message: "expected a string", path: "/channels/0/name"),
        BadWorkspace(label: "unknown version", body: morphingText.replacingOccurrences(of: "1.0.0+efthf.1", with: "2.0.0"),
                     status: .unprocessableContent, message: "unsupported workspace version", path: "/version"),
        BadWorkspace(label: "database path traversal", body: eventsText.replacingOccurrences(of: "\"vh_smeft_events.h5\"", with: "\"../../etc/x.h5\""),
                     status: .unprocessableContent, message: "invalid event-database file \"../../etc/x.h5\"",
                     path: "/channels/0/samples/0/modifiers/0/data/file"),
        BadWorkspace(label: "absolute database path", body: eventsText.replacingOccurrences(of: "\"vh_smeft_events.h5\"", with: "\"/etc/x.h5\""),
                     status: .unprocessableContent, message: "no absolute paths", path: "/channels/0/samples/0/modifiers/0/data/file"),
    ]

    @Test(arguments: badWorkspaces)
    func badWorkspaceUploadIsRefused(_ bad: BadWorkspace) async throws {
        try await withServer { client, server in
            let response = try await client.send(.post, "/v1/workspaces", ByteBuffer(string: bad.body))
            #expect(response.status == bad.status, "\(response.text)")
            #expect(response.headers[.contentType] == "application/json")
            let error = try response.json
            #expect(error["error"]?.stringValue?.contains(bad.message) == true, "\(response.text)")
            if let path = bad.path { #expect(error["path"]?.stringValue == path, "\(response.text)") }
            // Nothing of the refused workspace is left behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.workspacesDirectory).isEmpty)
        }
    }

    /// A job request, the expected status and a fragment of the error message.
    struct BadJob: Sendable, CustomTestStringConvertible {
        let label: String
        let body: String
        let status: HTTPResponse.Status
        let message: String
        var path: String? = nil
        var testDescription: String { label }
    }

    static let badJobs: [BadJob] = [
        BadJob(label: "not JSON", body: "kind=fit", status: .badRequest, message: "not valid JSON"),
        BadJob(label: "not an object", body: "[]", status: .badRequest, message: "must be a JSON object"),
        BadJob(label: "unknown kind", body: #"{"kind": "nonsense"}"#, status: .badRequest, message: "\"kind\" must be"),
        BadJob(label: "scan without axes", body: #"{"kind": "scan"}"#, status: .badRequest, message: "needs \"axes\""),
        BadJob(label: "scan of three axes", body: #"{"kind": "scan", "axes": {"cHW": [-1, 1, 3], "cHq3": [-1, 1, 3], "lumi": [0.9, 1.1, 3]}}"#, status: .unprocessableContent, message: "one axis"),
        BadJob(label: "unknown member", body: #"{"kind": "export", "at": {}, "grid": {}}"#, status: .badRequest, message: "unknown member \"grid\""),
        BadJob(label: "export without a point", body: #"{"kind": "export"}"#, status: .badRequest, message: "needs \"at\""),
        BadJob(label: "value not a number", body: #"{"kind": "export", "at": {"cHW": "big"}}"#, status: .badRequest, message: "at /at/cHW: must be a finite number"),
        BadJob(label: "unknown coefficient", body: #"{"kind": "export", "at": {"cHX": 1}}"#, status: .unprocessableContent, message: "unknown Wilson coefficient \"cHX\""),
        BadJob(label: "bad grid axis", body: #"{"kind": "patchset", "grid": {"cHW": [1, -1, 3]}}"#, status: .unprocessableContent, message: "must be below the upper end"),
        BadJob(label: "grid too large", body: #"{"kind": "patchset", "grid": {"cHW": [-1, 1, 1000], "cHq3": [-1, 1, 1000]}}"#, status: .unprocessableContent, message: "1000000 points (cHW: 1000 × cHq3: 1000); the limit is 10000"),
        BadJob(label: "unknown fit operator", body: #"{"kind": "fit", "ops": ["cHW", "cZZ"]}"#, status: .unprocessableContent, message: "unknown Wilson coefficient \"cZZ\""),
        BadJob(label: "unknown measurement", body: #"{"kind": "fit", "measurement": "other"}"#, status: .unprocessableContent, message: "no measurement named \"other\""),
        BadJob(label: "unknown fix parameter", body: #"{"kind": "fit", "fix": {"alpha_nonsense": 0.5}}"#, status: .unprocessableContent,
               message: "at /fix/alpha_nonsense: ", path: "/fix/alpha_nonsense"),
        BadJob(label: "fix of a vector with the wrong count", body: #"{"kind": "scan", "axes": {"cHW": [-1, 1, 3]}, "fix": {"lumi": [1, 2]}}"#,
               status: .unprocessableContent, message: "at /fix/lumi: ", path: "/fix/lumi"),
        BadJob(label: "unknown scan parameter", body: #"{"kind": "scan", "axes": {"cXYZ": [-1, 1, 5]}}"#, status: .unprocessableContent,
               message: "at /axes/cXYZ: ", path: "/axes/cXYZ"),
        BadJob(label: "scan range reversed", body: #"{"kind": "scan", "axes": {"cHW": [1, -1, 5]}}"#, status: .unprocessableContent,
               message: "at /axes/cHW: ", path: "/axes/cHW"),
        BadJob(label: "scan of one point", body: #"{"kind": "scan", "axes": {"cHW": [0, 0, 1]}}"#, status: .unprocessableContent, message: "at least 2 points"),
        BadJob(label: "export without a POI (the measurement's is a coefficient)", body: #"{"kind": "export", "at": {"cHW": 0.1}}"#,
               status: .unprocessableContent, message: "at /poi: the POI of measurement \"VH_SMEFT\" is the Wilson coefficient \"cHW\"", path: "/poi"),
        BadJob(label: "export with a coefficient as POI", body: #"{"kind": "export", "at": {"cHW": 0.1}, "poi": "cHq3"}"#,
               status: .unprocessableContent, message: "at /poi: the POI \"cHq3\" is a Wilson coefficient", path: "/poi"),
        BadJob(label: "patch set without a POI", body: #"{"kind": "patchset", "grid": {"cHW": [-0.1, 0.1, 3]}}"#,
               status: .unprocessableContent, message: "at /poi: ", path: "/poi"),
        BadJob(label: "limit on a POI that enters non-linearly", body: #"{"kind": "limit"}"#, status: .unprocessableContent, message: "enters the yields non-linearly"),
        BadJob(label: "limit level out of range", body: #"{"kind": "limit", "level": 1.5}"#, status: .unprocessableContent, message: "not 1.5"),
        BadJob(label: "limit test statistic", body: #"{"kind": "limit", "test_statistic": "q0"}"#, status: .unprocessableContent, message: "qtilde or q, not q0"),
        BadJob(label: "limit scan range", body: #"{"kind": "limit", "scan": [2, 0, 5]}"#, status: .unprocessableContent, message: "at /scan: ", path: "/scan"),
    ]

    @Test(arguments: badJobs)
    func badJobRequestIsRefused(_ bad: BadJob) async throws {
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let response = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", ByteBuffer(string: bad.body))
            #expect(response.status == bad.status, "\(response.text)")
            #expect(try response.json["error"]?.stringValue?.contains(bad.message) == true, "\(response.text)")
            if let path = bad.path { #expect(try response.json["path"]?.stringValue == path, "\(response.text)") }
            #expect(try await client.send(.get, "/v1/health").json["queued"] == .integer(0))
        }
    }

    @Test func unknownIdsAndRoutesAre404WithJSON() async throws {
        try await withServer { client, _ in
            let random = UUID().uuidString
            for (method, uri) in [(HTTPRequest.Method.get, "/v1/jobs/\(random)"), (.get, "/v1/jobs/not-a-uuid"), (.get, "/v1/jobs/\(random)/files/fit.json"),
                                  (.delete, "/v1/jobs/\(random)"), (.get, "/v1/workspaces/\(random)"), (.post, "/v1/workspaces/\(random)/jobs"),
                                  (.put, "/v1/workspaces/\(random)/files/x.h5"), (.get, "/v1/nothing")] {
                let response = try await client.send(method, uri, ByteBuffer(string: #"{"kind": "fit"}"#))
                #expect(response.status == .notFound, "\(method) \(uri): \(response.text)")
                #expect(try response.json["error"]?.stringValue?.isEmpty == false, "\(method) \(uri)")
            }
        }
    }

    /// File names from the URL are checked before anything touches the disk.
    @Test(arguments: ["..%2Fx.h5", "..", "a%2F..%2F..%2Fx", "%2Fetc%2Fpasswd", ".hidden", "a%5Cb", "workspace.json"])
    func traversalFileNamesAre400(_ name: String) async throws {
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.events)
            let response = try await client.send(.put, "/v1/workspaces/\(workspace)/files/\(name)", ByteBuffer(string: "x"))
            #expect(response.status == .badRequest, "\(name): \(response.text)")
            #expect(try response.json["error"]?.stringValue?.contains("invalid file name") == true)
        }
    }

    @Test func fileTheWorkspaceDoesNotNameIs404() async throws {
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.events)
            let response = try await client.send(.put, "/v1/workspaces/\(workspace)/files/other.h5", ByteBuffer(string: "x"))
            #expect(response.status == .notFound)
            #expect(try response.json["error"]?.stringValue?.contains("vh_smeft_events.h5") == true, "\(response.text)")
        }
    }

    /// A database file that is not HDF5 makes the workspace invalid with the library's message.
    @Test func corruptDatabaseFileIs422() async throws {
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.events)
            let response = try await client.send(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", ByteBuffer(string: "not HDF5"))
            #expect(response.status == .unprocessableContent, "\(response.text)")
            let error = try response.json
            #expect(error["error"]?.stringValue?.contains("event database") == true, "\(response.text)")
            #expect(error["error"]?.stringValue?.contains("/tmp") == false, "server paths leak: \(response.text)")
            let status = try await client.send(.get, "/v1/workspaces/\(workspace)").json
            #expect(status["state"]?.stringValue == "invalid")
            let job = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", json: ["kind": "fit"])
            #expect(job.status == .unprocessableContent)
        }
    }

    @Test func uploadsOverTheLimitAre413() async throws {
        try await withServer(maxUploadBytes: 6000) { client, _ in
            let big = try await client.send(.post, "/v1/workspaces", try Example.bytes(Example.morphing))
            #expect(big.status == .contentTooLarge)
            #expect(try big.json["error"]?.stringValue?.contains("6000 bytes") == true, "\(big.text)")

            let workspace = try await client.uploadWorkspace(Example.events)
            let file = try await client.send(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", ByteBuffer(repeating: 0, count: 7000))
            #expect(file.status == .contentTooLarge)
            #expect(try file.json["error"]?.stringValue?.contains("6000 bytes") == true, "\(file.text)")
            // The name is free again and nothing half-written stays.
            let status = try await client.send(.get, "/v1/workspaces/\(workspace)").json
            #expect(status["missing_files"] == ["vh_smeft_events.h5"])
        }
    }

    /// Over the limit on a real connection too (the body arrives in chunks, the limit is counted).
    @Test func liveUploadOverTheLimitIs413() async throws {
        try await withServer(maxUploadBytes: 1 << 20, .live) { client, _ in
            let workspace = try await client.uploadWorkspace(Example.events)
            let file = try await client.send(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", try Example.bytes(Example.database))
            #expect(file.status == .contentTooLarge)
            #expect(try file.json["error"] != nil)
        }
    }

    @Test(arguments: [
        ("vh.h5", true), ("sub/dir/vh_1.h5", true), ("a+b-c.h5", true),
        ("", false), ("../x", false), ("a/../x", false), ("/abs", false), ("a//b", false), ("a/", false), (".x", false),
        ("a b", false), ("a\\b", false), ("é.h5", false), ("workspace.json", false), (String(repeating: "a", count: 256), false),
    ])
    func relativePathAcceptsOnlySafeNames(_ name: String, _ accepted: Bool) {
        #expect(((try? Storage.relativePath(name)) != nil) == accepted, "\(name)")
    }
}
