import ArgumentParser
import EFTHFService
import Foundation

extension EFTHFCommand {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the workspace explorer and export, patch-set, fit, scan and limit jobs over HTTP (API: Specs/service.md).",
            discussion: """
                POST /v1/workspaces uploads a workspace, PUT /v1/workspaces/ID/files/NAME each event-database file it \
                names, POST /v1/workspaces/ID/jobs submits {"kind": "export"|"patchset"|"fit"|"scan"|"limit", …}, GET /v1/jobs/ID polls \
                and GET /v1/jobs/ID/files/NAME downloads a result. Jobs wait in a bounded queue (503 when full); errors \
                are JSON {"error": "…"}. The workspace explorer is the page at /. SIGINT or SIGTERM stops taking jobs, \
                finishes the running ones and exits; queued jobs run when a server starts again on the same --data-dir.

                Every API request needs "Authorization: Bearer TOKEN" with a token from --token-file: one token a line \
                (16 to 256 visible ASCII characters), optionally followed by an owner name; blank lines and lines \
                beginning with # are ignored. Workspaces and jobs belong to the token's owner. --no-auth serves \
                without tokens and is allowed only on a loopback --host.
                """
        )

        @Option(help: "The address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "The port to listen on (0: any free port, printed in the log).")
        var port = 8080

        @Option(help: "Jobs computed at once.")
        var workers = 2

        @Option(help: "Jobs that may wait for a worker; more are refused with 503.")
        var queueLimit = 64

        @Option(help: ArgumentHelp("Largest request body (a workspace or one event-database file); larger ones get 413.", valueName: "bytes"))
        var maxUploadBytes = 256 << 20

        @Option(help: ArgumentHelp("Where uploads, results and the records of workspaces and jobs are kept; a server started again on it recovers them (default: a new directory in the system's temporary directory).", valueName: "dir"))
        var dataDir: String?

        @Option(help: ArgumentHelp("The bearer tokens that may use the API: one token a line, optionally followed by an owner name.", valueName: "file"))
        var tokenFile: String?

        @Flag(help: "Serve without authentication (only on a loopback --host).")
        var noAuth = false

        @Option(help: ArgumentHelp("The longest a request body may take to arrive; slower ones get 408.", valueName: "seconds"))
        var bodyTimeout = 600.0

        @Option(help: ArgumentHelp("Request bodies received at once; more get 503 with Retry-After.", valueName: "n"))
        var maxConcurrentUploads = 8

        @Option(help: ArgumentHelp("Remove workspaces this long after their upload and jobs this long after they finished: a number with s, m, h or d (e.g. 7d).", valueName: "duration"))
        var expireAfter: String?

        @Option(help: ArgumentHelp("Workspaces one owner may hold.", valueName: "n"))
        var quotaWorkspaces: Int?

        @Option(help: ArgumentHelp("Bytes one owner may store (workspaces, uploaded files, job results).", valueName: "bytes"))
        var quotaBytes: Int?

        @Option(help: ArgumentHelp("Jobs one owner may have queued or running at once; more get 429.", valueName: "n"))
        var quotaJobs: Int?

        @Option(help: ArgumentHelp("A directory of example workspaces (*.json, with the event databases they name) that the explorer offers (default: Data/vh when it exists in the working directory).", valueName: "dir"))
        var examples: String?

        @Flag(help: "Let POST /v1/fetch download http(s) URLs (workspaces, archives) within the upload limits. Every client may then make the server request any address it reaches: enable it only where that is acceptable.")
        var allowURLFetch = false

        func validate() throws {
            if workers < 1 { throw ValidationError("--workers must be at least 1") }
            if queueLimit < 0 { throw ValidationError("--queue-limit must not be negative") }
            if maxUploadBytes < 1 { throw ValidationError("--max-upload-bytes must be positive") }
            if !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
            if !(bodyTimeout > 0 && bodyTimeout <= 86_400) { throw ValidationError("--body-timeout must be from 0 to 86400 seconds, not \(bodyTimeout)") }
            if maxConcurrentUploads < 1 { throw ValidationError("--max-concurrent-uploads must be at least 1") }
            for (name, value) in [("--quota-workspaces", quotaWorkspaces), ("--quota-bytes", quotaBytes), ("--quota-jobs", quotaJobs)] {
                if let value, value < 1 { throw ValidationError("\(name) must be at least 1, not \(value)") }
            }
            if let expireAfter { _ = try Self.duration(expireAfter) }
            if tokenFile != nil && noAuth { throw ValidationError("give either --token-file or --no-auth, not both") }
            if tokenFile == nil {
                guard isLoopback(host) else {
                    throw ValidationError("refusing to serve \(host) without authentication: it is not a loopback address; give --token-file FILE")
                }
                guard noAuth else { throw ValidationError("give --token-file FILE (bearer tokens), or --no-auth to serve the loopback address \(host) without authentication") }
            }
        }

        /// `7d`, `12h`, `30m`, `90s` or a number of seconds; at most 10 years.
        static func duration(_ text: String) throws -> Duration {
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            var number = Substring(text), scale = 1.0
            if let last = text.last, let unit = units[last] {
                number = text.dropLast()
                scale = unit
            }
            guard let value = Double(number), value > 0, value * scale <= 10 * 365 * 86_400 else {
                throw ValidationError("--expire-after must be a positive number with s, m, h or d (e.g. 7d), at most 10 years; not \"\(text)\"")
            }
            return .milliseconds(Int64((value * scale * 1000).rounded()))
        }

        func run() throws {
            let server: EFTHFServer
            do {
                server = try EFTHFServer(configuration: ServiceConfiguration(
                    host: host, port: port, workers: workers, queueLimit: queueLimit, maxUploadBytes: maxUploadBytes, dataDirectory: dataDir,
                    examplesDirectory: examples ?? (FileManager.default.fileExists(atPath: "Data/vh") ? "Data/vh" : nil),
                    tokens: try tokenFile.map { try AccessTokens(contentsOf: $0) }, bodyTimeout: .milliseconds(Int64(bodyTimeout * 1000)),
                    maxConcurrentUploads: maxConcurrentUploads, expireAfter: try expireAfter.map(Self.duration),
                    quota: Quota(workspaces: quotaWorkspaces, storedBytes: quotaBytes, concurrentJobs: quotaJobs), allowURLFetch: allowURLFetch))
            } catch let error as ServiceError {
                fail(ValidationError(error.message))
            }
            for note in server.recoveryNotes { print("efthf serve: recovery: \(note)") }
            let owners = server.configuration.tokens.map { "\($0.owners.count) token owner(s)" } ?? "no authentication"
            print("efthf serve: \(workers) worker(s), queue limit \(queueLimit), uploads up to \(maxUploadBytes) bytes, \(owners), data in \(server.configuration.dataDirectory)")
            // Written at once, so that a log file shows the start (and what recovery did) while the server runs.
            fflush(nil)
            // The root command is synchronous; the server runs on Swift's concurrency pool while
            // the main thread waits for it to stop (runService handles SIGINT and SIGTERM).
            let outcome = ServeOutcome()
            let finished = DispatchSemaphore(value: 0)
            Task {
                do { try await server.application().runService() } catch { outcome.set(error) }
                finished.signal()
            }
            finished.wait()
            if let error = outcome.error { fail(error) }
        }
    }
}

/// The error the server stopped with, handed from its task to the waiting main thread.
private final class ServeOutcome: @unchecked Sendable {
    // Guarded by `lock`.
    private var stored: Error?
    private let lock = NSLock()

    func set(_ error: Error) {
        lock.lock()
        defer { lock.unlock() }
        stored = error
    }

    var error: Error? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
