import EFTHF
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real `efthf serve` process (the built binary), killed with SIGKILL and started again on the
/// same data directory.
final class ServeProcess: @unchecked Sendable {
    static let binary = Example.repository.appendingPathComponent(".build/debug/efthf").path
    let process = Process()
    let port: Int
    let log: String

    init(dataDirectory: String, tokenFile: String, port: Int, workers: Int = 1) throws {
        self.port = port
        log = dataDirectory + "-serve-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--port", "\(port)", "--data-dir", dataDirectory, "--token-file", tokenFile, "--workers", "\(workers)"]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Requests with Alice's token, retried while the server is still starting.
    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: ByteBuffer? = nil, token: String = Tokens.alice) async throws -> TestClient.Response {
        var lastError: Error? = nil
        for _ in 0..<200 {
            do {
                return try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                    try await client.execute(TestClient.Request(uri, method: method, authority: "localhost", headers: Tokens.bearer(token), body: body))
                }
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw lastError!
    }

    func json(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> JSON {
        let response = try await send(method, uri, body.map { ByteBuffer(string: $0) })
        return try JSONParser.parse(Data((response.body ?? ByteBuffer()).readableBytesView))
    }

    func waitFor(_ job: String, states: Set<String>, timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var state = ""
        while ContinuousClock.now < deadline {
            state = try await json(.get, "/v1/jobs/\(job)")["state"]?.stringValue ?? ""
            if states.contains(state) { return state }
            try await Task.sleep(for: .milliseconds(20))
        }
        return state
    }

    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite(.serialized) struct RecoveryTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: ServeProcess.binary)), arguments: [
        (["--host", "0.0.0.0", "--no-auth"], "efthf: error: refusing to serve 0.0.0.0 without authentication: it is not a loopback address; give --token-file FILE\n"),
        (["--host", "192.168.0.7"], "efthf: error: refusing to serve 192.168.0.7 without authentication: it is not a loopback address; give --token-file FILE\n"),
        ([], "efthf: error: give --token-file FILE (bearer tokens), or --no-auth to serve the loopback address 127.0.0.1 without authentication\n"),
    ])
    func serveWithoutAuthenticationOnANonLoopbackHostRefusesToStart(_ arguments: [String], _ message: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServeProcess.binary)
        process.arguments = ["serve", "--port", "0"] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(String(decoding: output, as: UTF8.self).hasPrefix(message), "\(String(decoding: output, as: UTF8.self))")
    }

    @Test(.timeLimit(.minutes(2)), .enabled(if: FileManager.default.isExecutableFile(atPath: ServeProcess.binary)))
    func killNineThenRestartRunsQueuedJobsAndMarksRunningInterrupted() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-recovery-\(UUID().uuidString)").path
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let tokenFile = root + "/tokens"
        try Tokens.file.write(toFile: tokenFile, atomically: true, encoding: .utf8)

        var first: ServeProcess? = try ServeProcess(dataDirectory: data, tokenFile: tokenFile, port: ServeProcess.freePort())
        defer { first?.kill() }
        let server = try #require(first)
        let created = try await server.json(.post, "/v1/workspaces", try String(contentsOfFile: Example.morphing, encoding: .utf8))
        let workspace = try #require(created["id"]?.stringValue, "\(created.serialized()) \(server.output)")
        // A finished job, a long job that is running at the kill (250 000 conditional fits: minutes on
        // any machine; a 40 × 40 scan could end first), and one queued behind it (one worker).
        let done = try #require(try await server.json(.post, "/v1/workspaces/\(workspace)/jobs", #"{"kind": "export", "at": {"cHW": 0.15}, "poi": "lumi"}"#)["id"]?.stringValue)
        #expect(try await server.waitFor(done, states: ["done"]) == "done")
        let result = try #require(try await server.send(.get, "/v1/jobs/\(done)/files/workspace.json").body)
        let long = try #require(try await server.json(.post, "/v1/workspaces/\(workspace)/jobs",
                                                        #"{"kind": "scan", "axes": {"cHW": [-0.5, 0.5, 500], "cHq3": [-0.05, 0.05, 500]}}"#)["id"]?.stringValue)
        let queued = try #require(try await server.json(.post, "/v1/workspaces/\(workspace)/jobs", #"{"kind": "export", "at": {"cHW": -0.15}, "poi": "lumi"}"#)["id"]?.stringValue)
        #expect(try await server.waitFor(long, states: ["running"]) == "running")
        #expect(try await server.json(.get, "/v1/jobs/\(queued)")["state"]?.stringValue == "queued")
        server.kill()
        first = nil
        // Leftovers of a crash: an unfinished upload and a workspace directory without a record.
        try Data("partial".utf8).write(to: URL(fileURLWithPath: data + "/tmp/\(UUID().uuidString.lowercased()).upload"))
        let orphan = data + "/workspaces/\(UUID().uuidString.lowercased())"
        try FileManager.default.createDirectory(atPath: orphan, withIntermediateDirectories: true)

        let second = try ServeProcess(dataDirectory: data, tokenFile: tokenFile, port: ServeProcess.freePort())
        defer { second.kill() }
        #expect(try await second.waitFor(queued, states: ["done", "failed"]) == "done", "\(second.output)")
        let interrupted = try await second.json(.get, "/v1/jobs/\(long)")
        #expect(interrupted["state"]?.stringValue == "interrupted", "\(interrupted.serialized())")
        #expect(interrupted["error"]?["error"]?.stringValue?.contains("/v1/jobs/\(long)/retry") == true)
        #expect(try await second.send(.get, "/v1/jobs/\(done)/files/workspace.json").body == result)
        let expected = try fileText(Workspace(contentsOf: Example.morphing, modifiers: .efthf).evaluated(at: ["cHW": -0.15], poi: "lumi").json)
        let queuedResult = try #require(try await second.send(.get, "/v1/jobs/\(queued)/files/workspace.json").body)
        #expect(String(buffer: queuedResult) == expected)
        #expect(try FileManager.default.contentsOfDirectory(atPath: data + "/tmp").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: orphan))
        #expect(second.output.contains("job \(long) was running: now interrupted"), "\(second.output)")
        // Ownership survives the restart.
        #expect(try await second.send(.get, "/v1/jobs/\(done)", token: Tokens.bob).head.status == .notFound)
        #expect(try await second.send(.get, "/v1/workspaces/\(workspace)", token: Tokens.bob).head.status == .notFound)
        // The interrupted job can be run again, under the same id.
        let retried = try await second.json(.post, "/v1/jobs/\(long)/retry")
        #expect(["queued", "running"].contains(retried["state"]?.stringValue ?? ""), "\(retried.serialized())")
    }
}
