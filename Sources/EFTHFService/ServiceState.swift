import EFTHF
import Foundation

/// An uploaded workspace and the event-database files it still waits for.
struct WorkspaceRecord: Sendable {
    enum State: String, Sendable {
        /// Some event-database files named by the workspace are not uploaded yet.
        case awaitingFiles = "awaiting_files"
        /// Validated: jobs may be submitted.
        case ready
        /// Validation failed once every file was there; `error` says why. Terminal.
        case invalid
    }

    let id: UUID
    let directory: String
    /// The event-database files the workspace names, relative to its directory.
    let requiredFiles: [String]
    var uploaded: Set<String> = []
    /// Names being uploaded now: a second upload of the same name is refused rather than raced.
    var uploading: Set<String> = []
    var state: State = .awaitingFiles
    /// The validated workspace with the model of its default measurement and its observed data,
    /// built once: the summary and yields at a point answer from it without rebuilding.
    var loaded: LoadedModel?
    var workspace: Workspace? { loaded?.workspace }
    var error: ServiceError?

    var missingFiles: [String] { requiredFiles.filter { !uploaded.contains($0) } }

    var json: JSON {
        var o = JSONObject([
            ("id", .string(id.uuidString.lowercased())),
            ("state", .string(state.rawValue)),
            ("required_files", .array(requiredFiles.map { .string($0) })),
            ("missing_files", .array(missingFiles.map { .string($0) })),
        ])
        if let workspace { o["wilson_coefficients"] = .array(workspace.wilsonCoefficients.map { .string($0) }) }
        if let error { o["error"] = error.json }
        return .object(o)
    }
}

/// A submitted job and where it stands.
struct JobRecord: Sendable {
    enum State: String, Sendable {
        case queued, running, done, failed, cancelled
    }

    let id: UUID
    let workspaceID: UUID
    let request: JobRequest
    var state: State = .queued
    var error: ServiceError?
    var summary: JSON?
    let submitted = Date()
    var started: Date?
    var finished: Date?
    /// Conditional fits done of a scan's total, written by the worker while the job runs.
    let progress = JobProgress()

    var json: JSON {
        var o = JSONObject([
            ("id", .string(id.uuidString.lowercased())),
            ("workspace", .string(workspaceID.uuidString.lowercased())),
            ("kind", .string(request.kind)),
            ("state", .string(state.rawValue)),
            ("files", .array(state == .done ? request.resultFiles.map { .string($0) } : [])),
            ("submitted", .string(submitted.formatted(.iso8601))),
        ])
        if let started { o["started"] = .string(started.formatted(.iso8601)) }
        if let finished { o["finished"] = .string(finished.formatted(.iso8601)) }
        if let started, let finished { o["seconds"] = .number(finished.timeIntervalSince(started)) }
        if let summary { o["summary"] = summary }
        if let (done, total) = progress.value {
            o["progress"] = .object(JSONObject([("done", .integer(Int64(done))), ("total", .integer(Int64(total)))]))
        }
        if let error { o["error"] = error.json }
        return .object(o)
    }
}

/// A running job's progress, (done, total), set from the worker's thread and read by status
/// requests; nil until the task first reports.
final class JobProgress: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`.
    private var stored: (Int, Int)?

    func set(_ done: Int, _ total: Int) {
        lock.lock()
        defer { lock.unlock() }
        stored = (done, total)
    }

    var value: (Int, Int)? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

/// All mutable state of the service: workspaces, jobs and the bounded queue between the HTTP
/// handlers and the workers. One actor, so that "is there room in the queue" and "enqueue" (and
/// "is the job done" and "serve its file") are single steps that no other request can interleave.
actor ServiceState {
    let queueLimit: Int
    private var workspaces: [UUID: WorkspaceRecord] = [:]
    private var jobs: [UUID: JobRecord] = [:]
    /// Queued jobs in submission order, each with the validated workspace it runs on.
    private var queue: [(UUID, Workspace)] = []
    /// Workers waiting for a job; a submission goes straight to one of them when there is one.
    private var idleWorkers: [CheckedContinuation<(JobRecord, Workspace)?, Never>] = []
    private var isShutDown = false
    private(set) var runningCount = 0

    init(queueLimit: Int) {
        self.queueLimit = queueLimit
    }

    // MARK: Workspaces

    func add(_ record: WorkspaceRecord) {
        workspaces[record.id] = record
    }

    func workspace(_ id: UUID) throws(ServiceError) -> WorkspaceRecord {
        guard let record = workspaces[id] else { throw ServiceError(.notFound, "no workspace \(id.uuidString.lowercased())") }
        return record
    }

    /// The model of a ready workspace; 409 while files are missing, the validation error when invalid.
    func loadedModel(_ id: UUID) throws(ServiceError) -> LoadedModel {
        let record = try workspace(id)
        switch record.state {
        case .ready: return record.loaded!
        case .invalid: throw record.error ?? ServiceError(.unprocessableContent, "the workspace is invalid")
        case .awaitingFiles:
            throw ServiceError(.conflict, "the workspace still needs the event-database file(s) \(record.missingFiles.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
    }

    /// Reserves `name` for an upload: it must be one the workspace names and not uploaded yet.
    func beginUpload(_ id: UUID, name: String) throws(ServiceError) -> WorkspaceRecord {
        var record = try workspace(id)
        guard record.requiredFiles.contains(name) else {
            throw ServiceError(.notFound, "the workspace names no event-database file \"\(name)\"; it needs: \(record.requiredFiles.isEmpty ? "none" : record.requiredFiles.joined(separator: ", "))")
        }
        guard !record.uploaded.contains(name), !record.uploading.contains(name) else {
            throw ServiceError(.conflict, "\"\(name)\" is already uploaded (files are written once; upload the workspace again to change it)")
        }
        record.uploading.insert(name)
        workspaces[id] = record
        return record
    }

    /// Ends an upload; returns the record, which needs validating when no file is missing any more.
    func endUpload(_ id: UUID, name: String, succeeded: Bool) -> WorkspaceRecord? {
        guard var record = workspaces[id] else { return nil }
        record.uploading.remove(name)
        if succeeded { record.uploaded.insert(name) }
        workspaces[id] = record
        return record
    }

    func setValidation(_ id: UUID, _ result: Result<LoadedModel, ServiceError>) -> WorkspaceRecord? {
        guard var record = workspaces[id] else { return nil }
        switch result {
        case .success(let loaded):
            record.loaded = loaded
            record.state = .ready
        case .failure(let error):
            record.error = error
            record.state = .invalid
        }
        workspaces[id] = record
        return record
    }

    func removeWorkspace(_ id: UUID) throws(ServiceError) -> WorkspaceRecord {
        guard let record = workspaces.removeValue(forKey: id) else { throw ServiceError(.notFound, "no workspace \(id.uuidString.lowercased())") }
        return record
    }

    // MARK: Jobs

    /// Queues a job on a ready workspace, or hands it to an idle worker; 503 when the queue is full.
    func submit(_ request: JobRequest, workspace id: UUID) throws(ServiceError) -> JobRecord {
        let record = try workspace(id)
        guard !isShutDown else { throw ServiceError(.serviceUnavailable, "the service is shutting down") }
        guard record.state == .ready, let ws = record.workspace else {
            switch record.state {
            case .invalid: throw record.error ?? ServiceError(.unprocessableContent, "the workspace is invalid")
            default: throw ServiceError(.conflict, "the workspace still needs the event-database file(s) \(record.missingFiles.map { "\"\($0)\"" }.joined(separator: ", ")): upload them with PUT /v1/workspaces/\(id.uuidString.lowercased())/files/NAME")
            }
        }
        try request.check(against: ws)
        var job = JobRecord(id: UUID(), workspaceID: id, request: request)
        if !idleWorkers.isEmpty {
            job.state = .running
            job.started = Date()
            jobs[job.id] = job
            runningCount += 1
            idleWorkers.removeFirst().resume(returning: (job, ws))
            return job
        }
        guard queue.count < queueLimit else {
            throw ServiceError(.serviceUnavailable, "the job queue is full (\(queueLimit) jobs waiting); try again later")
        }
        jobs[job.id] = job
        queue.append((job.id, ws))
        return job
    }

    /// The next job for a worker, waiting for one when the queue is empty; nil once shut down.
    func next() async -> (JobRecord, Workspace)? {
        if isShutDown { return nil }
        if !queue.isEmpty {
            let (id, ws) = queue.removeFirst()
            jobs[id]!.state = .running
            jobs[id]!.started = Date()
            runningCount += 1
            return (jobs[id]!, ws)
        }
        return await withCheckedContinuation { idleWorkers.append($0) }
    }

    /// Records the end of a job; its files are already in place when it is marked done.
    func finish(_ id: UUID, _ result: Result<JSON?, ServiceError>) {
        runningCount -= 1
        guard var job = jobs[id] else { return }  // deleted while running
        job.finished = Date()
        switch result {
        case .success(let summary):
            job.state = .done
            job.summary = summary
        case .failure(let error):
            job.state = .failed
            job.error = error
        }
        jobs[id] = job
    }

    func job(_ id: UUID) throws(ServiceError) -> JobRecord {
        guard let job = jobs[id] else { throw ServiceError(.notFound, "no job \(id.uuidString.lowercased())") }
        return job
    }

    /// Cancels a queued job, or forgets a finished one (the caller removes its files); a running
    /// job cannot be stopped, since the library's computations are not interruptible.
    func delete(_ id: UUID) throws(ServiceError) -> JobRecord {
        var job = try self.job(id)
        switch job.state {
        case .running:
            throw ServiceError(.conflict, "the job is running and cannot be cancelled; delete it once it has finished")
        case .queued:
            queue.removeAll { $0.0 == id }
            job.state = .cancelled
            job.finished = Date()
            jobs[id] = job
        case .done, .failed, .cancelled:
            jobs[id] = nil
        }
        return job
    }

    var queuedCount: Int { queue.count }

    /// Stops handing out jobs: idle workers get nil and return, queued jobs stay queued.
    func shutDown() {
        isShutDown = true
        for worker in idleWorkers { worker.resume(returning: nil) }
        idleWorkers.removeAll()
    }
}
