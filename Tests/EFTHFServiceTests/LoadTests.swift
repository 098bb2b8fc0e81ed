import EFTHF
@testable import EFTHFService
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// A bounded load test on loopback: 1000 requests from 50 concurrent connections against a live
/// server (uploads, job submissions, polls, downloads, health checks), every answer checked, every
/// accepted job's result compared with the library's. Prints throughput and latency medians.
@Suite struct LoadTests {
    static let requestCount = 1000
    static let concurrency = 50
    /// The export points the clients cycle through: the first 8 of a grid where the library's
    /// evaluation succeeds (no negative morphed yield), with its answer for each.
    static func points(_ library: Workspace) -> [([String: Double], String)] {
        var found: [([String: Double], String)] = []
        for cHW in stride(from: -0.6, through: 0.6, by: 0.15) {
            for cHq3 in [-0.02, 0.0, 0.03] where found.count < 8 {
                let point = ["cHW": cHW, "cHq3": cHq3]
                if let evaluated = try? library.evaluated(at: point, poi: "lumi") { found.append((point, fileText(evaluated.json))) }
            }
        }
        return found
    }

    /// Hands out the request budget and collects timings, per kind of request.
    actor Ledger {
        private var remaining = LoadTests.requestCount
        private(set) var latencies: [String: [Duration]] = [:]
        private(set) var failures: [String] = []
        /// Jobs accepted by the server, with the index of their point.
        private(set) var jobs: [(String, Int)] = []

        func take() -> Bool {
            guard remaining > 0 else { return false }
            remaining -= 1
            return true
        }

        func record(_ kind: String, _ duration: Duration) { latencies[kind, default: []].append(duration) }
        func fail(_ message: String) { failures.append(message) }
        func accepted(_ job: String, point: Int) { jobs.append((job, point)) }
    }

    @Test(.timeLimit(.minutes(2)))
    func thousandRequestsFiftyAtATimeLoseNothing() async throws {
        let library = try Workspace(contentsOf: Example.morphing, modifiers: .efthf)
        let cases = Self.points(library)
        try #require(cases.count == 8)
        let points = cases.map(\.0), expected = cases.map(\.1)
        let workspaceBody = try Example.bytes(Example.morphing)
        let ledger = Ledger()
        let deadline = ContinuousClock.now + .seconds(50)

        // Upload slots for every client: the test is about nothing being lost, not about the cap.
        try await withServer(configure: { $0.queueLimit = 64; $0.maxConcurrentUploads = Self.concurrency }, .live) { client, _ in
            let port = try #require(client.port)
            let start = ContinuousClock.now
            await withTaskGroup(of: Void.self) { group in
                for user in 0..<Self.concurrency {
                    group.addTask {
                        do {
                            try await TestClient.withClient(host: "localhost", port: port) { connection in
                                try await Self.virtualUser(user, connection, ledger, workspaceBody, points, expected, deadline)
                            }
                        } catch {
                            await ledger.fail("user \(user): \(error)")
                        }
                    }
                }
            }
            let wall = ContinuousClock.now - start

            // Every accepted job finishes with the library's result, including those whose
            // clients ran out of budget before polling them to the end.
            let jobs = await ledger.jobs
            for (job, point) in jobs {
                let final = try await client.wait(job, timeout: .seconds(30))
                #expect(final["state"]?.stringValue == "done", "\(job): \(final.serialized())")
                #expect(try await client.download(job, "workspace.json") == expected[point], "job \(job) result differs")
            }
            let failures = await ledger.failures
            #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")

            let latencies = await ledger.latencies
            let all = latencies.values.flatMap { $0 }
            #expect(all.count == Self.requestCount)
            #expect(!jobs.isEmpty)
            func ms(_ d: Duration) -> String { String(format: "%.2f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3) }
            func quantile(_ values: [Duration], _ q: Double) -> Duration { let s = values.sorted(); return s[min(s.count - 1, Int(q * Double(s.count)))] }
            let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
            print("""
                load test: \(all.count) requests, \(Self.concurrency) concurrent connections, \(jobs.count) export jobs, wall \(String(format: "%.2f", seconds)) s, \
                \(String(format: "%.0f", Double(all.count) / seconds)) requests/s; latency median \(ms(quantile(all, 0.5))), p90 \(ms(quantile(all, 0.9))), p99 \(ms(quantile(all, 0.99)))
                """)
            for (kind, values) in latencies.sorted(by: { $0.key < $1.key }) {
                print("  \(kind): \(values.count) requests, median \(ms(quantile(values, 0.5))), p90 \(ms(quantile(values, 0.9)))")
            }
        }
    }

    /// One client: upload a workspace, then export jobs at the points in turn (submit, poll until
    /// done, download and compare), a health check now and then, until the budget or time is spent.
    static func virtualUser(_ user: Int, _ connection: TestClient, _ ledger: Ledger, _ workspaceBody: ByteBuffer,
                            _ points: [[String: Double]], _ expected: [String], _ deadline: ContinuousClock.Instant) async throws {
        func call(_ kind: String, _ method: HTTPRequest.Method, _ uri: String, _ body: ByteBuffer? = nil,
                  expect status: HTTPResponse.Status) async throws -> JSON? {
            guard ContinuousClock.now < deadline, await ledger.take() else { return nil }
            let start = ContinuousClock.now
            let response = try await connection.execute(TestClient.Request(uri, method: method, authority: "localhost", body: body))
            await ledger.record(kind, ContinuousClock.now - start)
            guard response.head.status == status else {
                await ledger.fail("\(method) \(uri): \(response.head.status) \(response.body.map { String(buffer: $0) } ?? "")")
                return nil
            }
            let bytes = response.body ?? ByteBuffer()
            if kind == "download" { return .string(String(buffer: bytes)) }
            return try JSONParser.parse(Data(bytes.readableBytesView))
        }

        var round = 0
        var workspace: String? = nil
        while true {
            if workspace == nil || round % 4 == 0 {
                guard let created = try await call("upload", .post, "/v1/workspaces", workspaceBody, expect: .created) else { return }
                workspace = created["id"]?.stringValue
            }
            let point = (user + round) % points.count
            let request: JSON = ["kind": "export", "at": .object(JSONObject(points[point].sorted { $0.key < $1.key }.map { ($0.key, JSON.number($0.value)) })), "poi": "lumi"]
            guard let submitted = try await call("submit", .post, "/v1/workspaces/\(workspace!)/jobs", ByteBuffer(string: request.serialized()), expect: .accepted),
                let job = submitted["id"]?.stringValue
            else { return }
            await ledger.accepted(job, point: point)
            while true {
                guard let status = try await call("poll", .get, "/v1/jobs/\(job)", expect: .ok) else { return }
                if status["state"]?.stringValue == "done" { break }
                guard ["queued", "running"].contains(status["state"]?.stringValue ?? "") else {
                    await ledger.fail("job \(job): \(status.serialized())")
                    return
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            guard let result = try await call("download", .get, "/v1/jobs/\(job)/files/workspace.json", expect: .ok) else { return }
            if result.stringValue != expected[point] { await ledger.fail("job \(job): downloaded result differs from the library's") }
            if round % 3 == 2 {
                guard try await call("health", .get, "/v1/health", expect: .ok) != nil else { return }
            }
            round += 1
        }
    }
}
