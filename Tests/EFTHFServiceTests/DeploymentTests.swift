import EFTHF
@testable import EFTHFService
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Two owners' tokens, as a token file lists them.
enum Tokens {
    static let alice = "alice-token-0123456789abcdef"
    static let bob = "bob-token-fedcba9876543210"
    static let file = """
        # token                          owner
        \(alice)   alice

        \(bob)
        """
    static var store: AccessTokens { try! AccessTokens(parsing: file) }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, token: String, _ body: ByteBuffer? = nil) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: Tokens.bearer(token), body: body)
    }
}

/// Authentication, ownership, uploads under limits, expiry and quotas (Specs/service.md rev 3).
@Suite struct DeploymentTests {
    @Test func tokenFileFormatAndErrors() throws {
        let tokens = Tokens.store
        #expect(tokens.owners == ["alice", "token-" + "\(tokens.entries[1].digest.prefix(6).map { String(format: "%02x", $0) }.joined())"])
        #expect(tokens.owner(of: Tokens.alice) == "alice")
        #expect(tokens.owner(of: Tokens.alice + "x") == nil)
        #expect(tokens.owner(of: "") == nil)
        for (text, message) in [("short alice", "tokens.txt:1: a token must be 16 to 256"), ("\(Tokens.alice) a b", "tokens.txt:1: expected \"TOKEN [OWNER]\""),
                                ("# c\n\(Tokens.alice) bad/name", "tokens.txt:2: invalid owner name \"bad/name\""),
                                ("\(Tokens.alice)\n\(Tokens.alice) x", "tokens.txt:2: the token is listed twice"), ("# nothing\n", "lists no token")] {
            #expect(throws: ServiceError.self) { try AccessTokens(parsing: text, file: "tokens.txt") }
            do { _ = try AccessTokens(parsing: text, file: "tokens.txt") } catch {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    @Test func nonLoopbackWithoutTokensRefusesToStart() throws {
        for host in ["0.0.0.0", "192.168.1.4", "::", "example.org"] {
            do {
                _ = try EFTHFServer(configuration: ServiceConfiguration(host: host, port: 0))
                Issue.record("\(host) without tokens started")
            } catch {
                #expect((error as? ServiceError)?.message == "refusing to serve \(host) without authentication: it is not a loopback address; give --token-file FILE (or listen on 127.0.0.1)")
            }
        }
        #expect(isLoopback("127.0.0.1") && isLoopback("127.3.2.1") && isLoopback("::1") && isLoopback("localhost"))
        #expect(!isLoopback("128.0.0.1") && !isLoopback("0.0.0.0") && !isLoopback("127.0.0"))
        // With tokens, any address is allowed.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-auth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try EFTHFServer(configuration: ServiceConfiguration(host: "0.0.0.0", port: 0, dataDirectory: directory, tokens: Tokens.store))
    }

    @Test func missingOrWrongTokenIs401AndThePageNeedsNone() async throws {
        try await withServer(configure: { $0.tokens = Tokens.store }) { client, _ in
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong-token-0123456789"], [.authorization: "Basic \(Tokens.alice)"],
                                        [.authorization: "Bearer"]] {
                for (method, uri) in [(HTTPRequest.Method.get, "/v1/health"), (.get, "/v1/examples"), (.post, "/v1/workspaces"), (.get, "/v1/jobs/\(UUID())")] {
                    let response = try await client.execute(uri: uri, method: method, headers: headers, body: nil)
                    #expect(response.status == .unauthorized, "\(method) \(uri) \(headers): \(response.text)")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"efthf\"")
                    #expect(try response.json["code"]?.stringValue == "authentication")
                }
            }
            #expect(try await client.send(.get, "/v1/health", token: Tokens.alice).status == .ok)
            #expect(try await client.send(.get, "/v1/health", token: Tokens.bob).status == .ok)
            // The static page loads without a token (it asks for one).
            #expect(try await client.send(.get, "/").status == .ok)
            #expect(try await client.send(.get, "/explorer/explorer.js").status == .ok)
        }
    }

    @Test func anotherOwnersWorkspacesAndJobsAre404() async throws {
        try await withServer(configure: { $0.tokens = Tokens.store }) { client, _ in
            let upload = try await client.send(.post, "/v1/workspaces", token: Tokens.alice, try Example.bytes(Example.morphing))
            #expect(upload.status == .created, "\(upload.text)")
            let workspace = try #require(try upload.json["id"]?.stringValue)
            let submitted = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", token: Tokens.alice,
                                                  ByteBuffer(string: #"{"kind": "export", "at": {"cHW": 0.15}, "poi": "lumi"}"#))
            #expect(submitted.status == .accepted, "\(submitted.text)")
            let job = try #require(try submitted.json["id"]?.stringValue)
            var state = ""
            for _ in 0..<1000 where state != "done" {
                state = try await client.send(.get, "/v1/jobs/\(job)", token: Tokens.alice).json["state"]?.stringValue ?? ""
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(state == "done")
            let routes: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/workspaces/\(workspace)", nil), (.get, "/v1/workspaces/\(workspace)/summary", nil),
                (.post, "/v1/workspaces/\(workspace)/yields", "{}"), (.post, "/v1/workspaces/\(workspace)/jobs", #"{"kind": "export", "at": {}}"#),
                (.get, "/v1/jobs/\(job)", nil), (.get, "/v1/jobs/\(job)/files/workspace.json", nil), (.post, "/v1/jobs/\(job)/retry", nil),
                (.delete, "/v1/jobs/\(job)", nil), (.delete, "/v1/workspaces/\(workspace)", nil),
            ]
            for (method, uri, body) in routes {
                let other = try await client.send(method, uri, token: Tokens.bob, body.map { ByteBuffer(string: $0) })
                #expect(other.status == .notFound, "bob \(method) \(uri): \(other.text)")
            }
            // Alice still has both.
            #expect(try await client.send(.get, "/v1/workspaces/\(workspace)", token: Tokens.alice).status == .ok)
            #expect(try await client.send(.get, "/v1/jobs/\(job)/files/workspace.json", token: Tokens.alice).status == .ok)
        }
    }

    @Test func expiredWorkspacesAndJobsAreRemoved() async throws {
        try await withServer(configure: { $0.expireAfter = .seconds(3600) }) { client, server in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            let job = try await client.submit(workspace, try JSONParser.parse(Data(#"{"kind": "export", "at": {"cHW": 0.15}, "poi": "lumi"}"#.utf8)))
            _ = try await client.wait(job)
            let status = try await client.send(.get, "/v1/workspaces/\(workspace)").json
            let expires = try #require(status["expires"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(expires.timeIntervalSinceNow - 3600) < 60)
            // Not yet: nothing is removed.
            let early = await server.state.sweep(now: Date().addingTimeInterval(1800))
            #expect(early.workspaces == 0 && early.jobs == 0)
            let late = await server.state.sweep(now: Date().addingTimeInterval(7300))
            #expect(late.workspaces == 1 && late.jobs == 1)
            #expect(try await client.send(.get, "/v1/workspaces/\(workspace)").status == .notFound)
            #expect(try await client.send(.get, "/v1/jobs/\(job)").status == .notFound)
            let left = try FileManager.default.contentsOfDirectory(atPath: server.workspacesDirectory)
                + FileManager.default.contentsOfDirectory(atPath: server.jobsDirectory)
            #expect(left.isEmpty, "\(left)")
        }
    }

    /// The sweep runs as a service of the application: with a 1 s expiry a workspace is gone
    /// within about 2 s.
    @Test(.timeLimit(.minutes(1)))
    func expirySweepRunsOnItsOwn() async throws {
        try await withServer(configure: { $0.expireAfter = .seconds(1) }) { client, _ in
            let workspace = try await client.uploadWorkspace(Example.morphing)
            var status: HTTPResponse.Status = .ok
            for _ in 0..<100 where status == .ok {
                try await Task.sleep(for: .milliseconds(100))
                status = try await client.send(.get, "/v1/workspaces/\(workspace)").status
            }
            #expect(status == .notFound)
        }
    }

    @Test func quotasOnWorkspacesBytesAndJobs() async throws {
        let morphingBytes = try Data(contentsOf: URL(fileURLWithPath: Example.morphing)).count
        try await withServer(configure: {
            $0.tokens = Tokens.store
            $0.quota = Quota(workspaces: 2, storedBytes: 2 * morphingBytes + 100_000, concurrentJobs: 2)
            $0.workers = 1
        }) { client, _ in
            let body = try Example.bytes(Example.morphing)
            let first = try await client.send(.post, "/v1/workspaces", token: Tokens.alice, body)
            #expect(first.status == .created, "\(first.text)")
            let workspace = try #require(try first.json["id"]?.stringValue)
            // The events workspace fits, its 1.3 MB database would not: refused as declared, before reading.
            let events = try await client.send(.post, "/v1/workspaces", token: Tokens.alice, try Example.bytes(Example.events))
            #expect(events.status == .created, "\(events.text)")
            let eventsID = try #require(try events.json["id"]?.stringValue)
            let database = try await client.send(.put, "/v1/workspaces/\(eventsID)/files/vh_smeft_events.h5", token: Tokens.alice, try Example.bytes(Example.database))
            #expect(database.status == .forbidden, "\(database.text)")
            #expect(try database.json["code"]?.stringValue == "quota")
            #expect(try database.json["error"]?.stringValue?.contains("storage quota exceeded") == true)
            // A third workspace is over the count.
            let third = try await client.send(.post, "/v1/workspaces", token: Tokens.alice, body)
            #expect(third.status == .forbidden, "\(third.text)")
            #expect(try third.json["error"]?.stringValue?.contains("workspace quota exceeded: 2 workspaces held, the quota is 2") == true)
            // Quotas are per owner: bob is unaffected.
            #expect(try await client.send(.post, "/v1/workspaces", token: Tokens.bob, body).status == .created)
            // Jobs: a scan keeps the one worker busy, an export waits, a third job is refused with 429.
            // The scan (500 × 500 conditional fits, minutes) outlasts the three submissions; it is
            // cancelled at the end, and then the job quota has room again.
            let scan = ByteBuffer(string: #"{"kind": "scan", "axes": {"cHW": [-0.5, 0.5, 500], "cHq3": [-0.05, 0.05, 500]}}"#)
            let export = ByteBuffer(string: #"{"kind": "export", "at": {"cHW": 0.15}, "poi": "lumi"}"#)
            let a = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", token: Tokens.alice, scan)
            let b = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", token: Tokens.alice, export)
            let c = try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", token: Tokens.alice, export)
            #expect(a.status == .accepted && b.status == .accepted, "\(a.text) \(b.text)")
            #expect(c.status == .tooManyRequests, "\(c.text)")
            #expect(c.headers[.retryAfter] == "1")
            #expect(try c.json["error"]?.stringValue?.contains("job quota exceeded: 2 jobs queued or running, the quota is 2") == true)
            let scanID = try #require(try a.json["id"]?.stringValue)
            // Another owner cannot cancel it.
            #expect(try await client.send(.delete, "/v1/jobs/\(scanID)", token: Tokens.bob).status == .notFound)
            #expect(try await client.send(.delete, "/v1/jobs/\(scanID)", token: Tokens.alice).status == .accepted)
            let deadline = ContinuousClock.now + .seconds(120)
            var state = "running"
            while ["queued", "running"].contains(state), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                state = try await client.send(.get, "/v1/jobs/\(scanID)", token: Tokens.alice).json["state"]?.stringValue ?? ""
            }
            #expect(state == "cancelled", "the scan job is \(state) 120 s after its cancellation")
            // The export ran after it; the quota has room again.
            #expect(try await client.send(.post, "/v1/workspaces/\(workspace)/jobs", token: Tokens.alice, export).status == .accepted)
        }
    }

    @Test func limitJobMatchesTheLibrary() async throws {
        let text = #"""
        {"channels": [{"name": "SR", "samples": [
            {"name": "signal", "data": [5.0, 10.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]},
            {"name": "background", "data": [50.0, 60.0], "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": [5.0, 12.0]}]}]}],
         "observations": [{"name": "SR", "data": [53.0, 65.0]}],
         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}
        """#
        let expected = try LimitTask(scan: Workspace.gridValues(from: 0, to: 5, count: 11))
            .run(on: LoadedModel(workspace: Workspace(json: JSONParser.parse(Data(text.utf8)), modifiers: .efthf)))
        try await withServer { client, _ in
            let created = try await client.send(.post, "/v1/workspaces", ByteBuffer(string: text))
            let workspace = try #require(try created.json["id"]?.stringValue)
            let job = try await client.submit(workspace, try JSONParser.parse(Data(#"{"kind": "limit", "scan": [0, 5, 11]}"#.utf8)))
            let status = try await client.wait(job)
            #expect(status["state"]?.stringValue == "done", "\(status.serialized())")
            #expect(try await client.download(job, "limit.json") == fileText(expected.jsonValue))
        }
    }
}

/// Uploads over real sockets: the body timeout, the concurrent-upload cap.
@Suite struct UploadLimitTests {
    @Test(.timeLimit(.minutes(1)))
    func slowBodyIsClosedWith408AfterTheTimeout() async throws {
        try await withServer(configure: { $0.bodyTimeout = .seconds(1) }, .live) { client, server in
            let port = try #require(client.port)
            // The 1 s timeout applies to every body: on a loaded machine even this upload may need a
            // retry, each on a new connection (a 408 closes the connection).
            func fresh(_ method: HTTPRequest.Method, _ uri: String, _ path: String) async throws -> TestClient.Response {
                try await TestClient.withClient(host: "127.0.0.1", port: port) { connection in
                    try await connection.execute(TestClient.Request(uri, method: method, authority: "localhost", body: try Example.bytes(path)))
                }
            }
            var workspace = ""
            for _ in 0..<10 where workspace.isEmpty {
                let created = try await fresh(.post, "/v1/workspaces", Example.events)
                if created.head.status == .created, let body = created.body { workspace = try JSONParser.parse(Data(body.readableBytesView))["id"]?.stringValue ?? "" }
            }
            let socket = try RawConnection(port: port)
            try socket.send("PUT /v1/workspaces/\(workspace)/files/vh_smeft_events.h5 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n")
            let start = ContinuousClock.now
            // One byte every 200 ms: the body would take 200 s; it is cut off at the 1 s timeout.
            var answer = ""
            for _ in 0..<50 where answer.isEmpty {
                try? socket.send("x")
                answer = await socket.receive(waiting: .milliseconds(200))
            }
            let elapsed = ContinuousClock.now - start
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains("not received within 1 s"), "\(answer)")
            #expect(elapsed < .seconds(10), "answered after \(elapsed)")
            // The connection is closed rather than read to the end.
            var closed = false
            for _ in 0..<20 where !closed { closed = await socket.isClosed(waiting: .milliseconds(100)) }
            #expect(closed)
            // The slot and the name are free again, and nothing is left in tmp/.
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.persistence.temporaryDirectory).isEmpty)
            var put = try await fresh(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", Example.database)
            for _ in 0..<5 where put.head.status == .requestTimeout {  // a loaded machine again
                put = try await fresh(.put, "/v1/workspaces/\(workspace)/files/vh_smeft_events.h5", Example.database)
            }
            #expect(put.head.status == .created, "\(put.body.map { String(buffer: $0) } ?? "")")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func uploadsBeyondTheCapAre503WithRetryAfter() async throws {
        try await withServer(configure: { $0.maxConcurrentUploads = 1 }, .live) { client, _ in
            let port = try #require(client.port)
            let workspace = try await client.uploadWorkspace(Example.events)
            // One upload in progress holds the only slot.
            let socket = try RawConnection(port: port)
            try socket.send("PUT /v1/workspaces/\(workspace)/files/vh_smeft_events.h5 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc")
            var uploads: JSON? = nil
            for _ in 0..<250 where uploads != .integer(1) {
                uploads = try await client.send(.get, "/v1/health").json["uploads"]
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(uploads == .integer(1))
            let response = try await client.send(.post, "/v1/workspaces", try Example.bytes(Example.morphing))
            #expect(response.status == .serviceUnavailable, "\(response.text)")
            #expect(response.headers[.retryAfter] == "1")
            #expect(try response.json["error"]?.stringValue?.contains("1 uploads are in progress") == true)
            // Once the first upload ends (here: it is not HDF5, so the workspace is invalid), the slot is free.
            try socket.send(String(repeating: "x", count: 97))
            let answer = await socket.receive(waiting: .seconds(5))
            #expect(answer.hasPrefix("HTTP/1.1 422"), "\(answer)")
            #expect(try await client.send(.post, "/v1/workspaces", try Example.bytes(Example.morphing)).status == .created)
        }
    }
}

/// A plain TCP connection for requests no HTTP client sends: a body that trickles in, or stops.
/// Its waits run on threads of their own: blocking the few threads of Swift's cooperative pool
/// would also stall the in-process server under test.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw POSIXError(.EPIPE) }
    }

    /// What arrives within `waiting` ("" if nothing).
    func receive(waiting: Duration) async -> String {
        await Self.onThread { self.blockingReceive(waiting: waiting) }
    }

    func isClosed(waiting: Duration) async -> Bool {
        await Self.onThread { self.blockingIsClosed(waiting: waiting) }
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in Thread { continuation.resume(returning: body()) }.start() }
    }

    private func blockingReceive(waiting: Duration) -> String {
        var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollfd, 1, Int32(waiting.components.seconds * 1000 + waiting.components.attoseconds / 1_000_000_000_000_000)) > 0 else { return "" }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }

    /// Whether the peer has closed the connection (a read returns end of file or an error).
    private func blockingIsClosed(waiting: Duration) -> Bool {
        var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollfd, 1, Int32(waiting.components.seconds * 1000 + waiting.components.attoseconds / 1_000_000_000_000_000)) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 65536)
        return recv(fd, &buffer, buffer.count, 0) <= 0
    }
}
