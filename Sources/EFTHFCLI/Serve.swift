import ArgumentParser
import EFTHFService
import Foundation

extension EFTHFCommand {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the workspace explorer and export, patch-set, fit and scan jobs over HTTP (API: Specs/service.md).",
            discussion: """
                POST /v1/workspaces uploads a workspace, PUT /v1/workspaces/ID/files/NAME each event-database file it \
                names, POST /v1/workspaces/ID/jobs submits {"kind": "export"|"patchset"|"fit"|"scan", …}, GET /v1/jobs/ID polls \
                and GET /v1/jobs/ID/files/NAME downloads a result. Jobs wait in a bounded queue (503 when full); errors \
                are JSON {"error": "…"}. The workspace explorer is the page at /. SIGINT or SIGTERM stops taking jobs, \
                finishes the running ones and exits.
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

        @Option(help: ArgumentHelp("Where uploads and results are kept (default: a new directory in the system's temporary directory).", valueName: "dir"))
        var dataDir: String?

        @Option(help: ArgumentHelp("A directory of example workspaces (*.json, with the event databases they name) that the explorer offers (default: Data/vh when it exists in the working directory).", valueName: "dir"))
        var examples: String?

        func validate() throws {
            if workers < 1 { throw ValidationError("--workers must be at least 1") }
            if queueLimit < 0 { throw ValidationError("--queue-limit must not be negative") }
            if maxUploadBytes < 1 { throw ValidationError("--max-upload-bytes must be positive") }
            if !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        }

        func run() throws {
            let server = try EFTHFServer(configuration: ServiceConfiguration(
                host: host, port: port, workers: workers, queueLimit: queueLimit, maxUploadBytes: maxUploadBytes, dataDirectory: dataDir,
                examplesDirectory: examples ?? (FileManager.default.fileExists(atPath: "Data/vh") ? "Data/vh" : nil)))
            print("efthf serve: \(workers) worker(s), queue limit \(queueLimit), uploads up to \(maxUploadBytes) bytes, data in \(server.configuration.dataDirectory)")
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
