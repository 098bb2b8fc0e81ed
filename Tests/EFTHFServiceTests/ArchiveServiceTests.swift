import EFTHF
@testable import EFTHFService
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// POST /v1/archives, the popxf job and POST /v1/fetch's opt-in, against the library's own results.
@Suite struct ArchiveServiceTests {
    /// A .tar.gz of `members` (name → bytes), made by Python's tarfile.
    static func tarball(_ members: [String: Data]) throws -> ByteBuffer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-archive-service-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var script = "import io, tarfile\nt = tarfile.open('a.tar.gz', 'w:gz')\n"
        for (k, (name, data)) in members.sorted(by: { $0.key < $1.key }).enumerated() {
            try data.write(to: directory.appendingPathComponent("m\(k)"))
            script += "b = open('m\(k)', 'rb').read(); i = tarfile.TarInfo(\(String(reflecting: name))); i.size = len(b); t.addfile(i, io.BytesIO(b))\n"
        }
        script += "t.close()\n"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return ByteBuffer(bytes: try Data(contentsOf: directory.appendingPathComponent("a.tar.gz")))
    }

    @Test("an archive's listing, then the selected workspace stored; unsafe and unknown selections refused")
    func archiveEndpoint() async throws {
        let morphing = try Data(contentsOf: URL(fileURLWithPath: Example.morphing))
        let archive = try Self.tarball(["lh/workspace.json": morphing, "lh/README.md": Data("hi".utf8)])
        try await withServer { client, _ in
            let listing = try await client.send(.post, "/v1/archives", archive)
            #expect(listing.status == .ok, "\(listing.text)")
            #expect(try listing.json["workspaces"] == [["member": "lh/workspace.json"]])
            #expect(try listing.json["format"] == "tar.gz")
            let created = try await client.send(.post, "/v1/archives?workspace=lh%2Fworkspace.json", archive)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(try created.json["id"]?.stringValue)
            let document = try await client.send(.get, "/v1/workspaces/\(id)/workspace.json")
            #expect(try JSONParser.parse(Data(document.body.readableBytesView)) == (try Workspace(contentsOf: Example.morphing, modifiers: .efthf)).json)
            let unknown = try await client.send(.post, "/v1/archives?workspace=nope.json", archive)
            #expect(unknown.status == .unprocessableContent && unknown.text.contains("no workspace member \\\"nope.json\\\""), "\(unknown.text)")
            let badQuery = try await client.send(.post, "/v1/archives?member=x", archive)
            #expect(badQuery.status == .badRequest, "\(badQuery.text)")
            let evil = try await client.send(.post, "/v1/archives", try Self.tarball(["../evil.json": Data("{}".utf8)]))
            let evilCode = try evil.json["code"]
            #expect(evil.status == .unprocessableContent && evilCode == "unsafe archive member", "\(evil.text)")
            let bomb = try await client.send(.post, "/v1/archives", try Self.tarball(["lh/zeros.json": Data(count: 8 << 20)]))
            #expect(bomb.status == .contentTooLarge && bomb.text.contains("decompression bomb"), "\(bomb.text)")
        }
    }

    @Test("a popxf job's file is what the library (efthf export --popxf) writes; bad requests are refused")
    func popxfJob() async throws {
        let options = POPxfOptions(observables: .channels, scale: 125, basis: nil, toolVersion: EFTHFVersion.current)
        // The job's file names the workspace by its file name, as the server stores it.
        let stored = try Workspace(json: try loadJSON(Example.morphing), file: "workspace.json", modifiers: .efthf)
        let expected = fileText(try stored.popxf(options))
        try await withServer { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(workspace, ["kind": "popxf", "scale": 125, "observables": "channels"])
            let final = try await client.wait(job)
            #expect(final["state"]?.stringValue == "done", "\(final.serialized())")
            #expect(final["files"] == ["popxf.json"])
            #expect(try await client.download(job, "popxf.json") == expected)
            for (request, status) in [(["kind": "popxf"] as JSON, HTTPResponse.Status.badRequest), (["kind": "popxf", "scale": 125, "observables": "bins"], .badRequest),
                                      (["kind": "popxf", "scale": -1], .badRequest), (["kind": "popxf", "scale": 125, "wcxf": "SMEFT"], .badRequest)] {
                let refused = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", json: request)
                #expect(refused.status == status, "\(request.serialized()): \(refused.text)")
            }
        }
    }

    @Test("POST /v1/fetch is refused unless the server allows URL fetching")
    func fetchIsOptIn() async throws {
        try await withServer { client, _ in
            let refused = try await client.send(.post, "/v1/fetch", json: ["url": "http://127.0.0.1:1/x.json"])
            #expect(refused.status == .forbidden && refused.text.contains("--allow-url-fetch"), "\(refused.text)")
        }
        try await withServer(configure: { $0.allowURLFetch = true }) { client, _ in
            let file = try await client.send(.post, "/v1/fetch", json: ["url": "file:///etc/passwd"])
            #expect(file.status == .badRequest, "\(file.text)")
            let unreachable = try await client.send(.post, "/v1/fetch", json: ["url": "http://127.0.0.1:1/x.json"])
            #expect(unreachable.status == .badGateway && unreachable.text.contains("cannot fetch"), "\(unreachable.text)")
        }
    }
}
