import EFTHF
@testable import EFTHFService
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The bundled VH example and helpers to drive a service in tests.
enum Example {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let morphing = repository.appendingPathComponent("Data/vh/workspace_morphing.json").path
    static let events = repository.appendingPathComponent("Data/vh/workspace_events.json").path
    static let database = repository.appendingPathComponent("Data/vh/vh_smeft_events.h5").path

    static func bytes(_ path: String) throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A server with the configuration `configure` makes of the default test one, on a fresh data
/// directory (removed afterwards).
func withServer<T>(
    configure: (inout ServiceConfiguration) -> Void, _ setup: TestingSetup = .router,
    _ body: @Sendable (any TestClientProtocol, EFTHFServer) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-service-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var configuration = ServiceConfiguration(host: "127.0.0.1", port: 0, workers: 2, queueLimit: 16, maxUploadBytes: 64 << 20, dataDirectory: directory)
    configure(&configuration)
    let server = try EFTHFServer(configuration: configuration)
    return try await server.application().test(setup) { client in try await body(client, server) }
}

/// A server on a fresh data directory, removed afterwards.
func withServer<T>(
    workers: Int = 2, queueLimit: Int = 16, maxUploadBytes: Int = 64 << 20, _ setup: TestingSetup = .router,
    _ body: @Sendable (any TestClientProtocol, EFTHFServer) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-service-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let server = try EFTHFServer(configuration: ServiceConfiguration(
        host: "127.0.0.1", port: 0, workers: workers, queueLimit: queueLimit, maxUploadBytes: maxUploadBytes, dataDirectory: directory))
    return try await server.application().test(setup) { client in try await body(client, server) }
}

extension TestResponse {
    /// The body parsed as JSON (a test failure if it is not JSON).
    var json: JSON {
        get throws { try JSONParser.parse(Data(body.readableBytesView)) }
    }

    var text: String { String(buffer: body) }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: ByteBuffer? = nil) async throws -> TestResponse {
        try await execute(uri: uri, method: method, body: body)
    }

    func send(_ method: HTTPRequest.Method, _ uri: String, json: JSON) async throws -> TestResponse {
        try await execute(uri: uri, method: method, body: ByteBuffer(string: json.serialized()))
    }

    /// Uploads a workspace file, expecting 201; returns its id.
    func uploadWorkspace(_ path: String) async throws -> String {
        let response = try await send(.post, "/v1/workspaces", try Example.bytes(path))
        #expect(response.status == .created, "\(response.text)")
        return try #require(try response.json["id"]?.stringValue)
    }

    /// Submits a job, expecting 202; returns its id.
    func submit(_ workspace: String, _ request: JSON) async throws -> String {
        let response = try await send(.post, "/v1/workspaces/\(workspace)/jobs", json: request)
        #expect(response.status == .accepted, "\(response.text)")
        return try #require(try response.json["id"]?.stringValue)
    }

    /// Polls a job until it is done or failed (at most `timeout`); returns its final status.
    func wait(_ job: String, timeout: Duration = .seconds(120)) async throws -> JSON {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let status = try await send(.get, "/v1/jobs/\(job)").json
            let state = status["state"]?.stringValue ?? ""
            if ["done", "failed", "cancelled"].contains(state) { return status }
            guard clock.now < deadline else {
                Issue.record("job \(job) still \(state) after \(timeout)")
                return status
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// A result file of a finished job, expecting 200.
    func download(_ job: String, _ name: String) async throws -> String {
        let response = try await send(.get, "/v1/jobs/\(job)/files/\(name)")
        #expect(response.status == .ok, "\(response.text)")
        return response.text
    }
}

/// What the CLI and the service write for a JSON document: pretty-printed plus a newline.
func fileText(_ json: JSON) -> String { json.serialized(.pretty) + "\n" }
