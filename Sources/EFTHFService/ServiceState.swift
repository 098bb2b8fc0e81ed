import EFTHF
import Foundation

/// An uploaded workspace, its owner and the event-database files it still waits for.
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
    /// The owner of the token that created it ("" without authentication).
    let owner: String
    let directory: String
    let created: Date
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
    /// Bytes stored: the workspace document and the uploaded files (counted against the quota).
    var bytes: Int
    /// When the expiry sweep removes it (nil: never).
    var expires: Date?

    init(id: UUID, owner: String, directory: String, requiredFiles: [String], bytes: Int, expires: Date?, created: Date = Date()) {
        self.id = id
        self.owner = owner
        self.directory = directory
        self.requiredFiles = requiredFiles
        self.bytes = bytes
        self.expires = expires
        self.created = created
    }

    var missingFiles: [String] { requiredFiles.filter { !uploaded.contains($0) } }

    var json: JSON {
        var o = JSONObject([
            ("id", .string(id.uuidString.lowercased())),
            ("state", .string(state.rawValue)),
            ("required_files", .array(requiredFiles.map { .string($0) })),
            ("missing_files", .array(missingFiles.map { .string($0) })),
            ("bytes", .integer(Int64(bytes))),
            ("created", .string(created.formatted(.iso8601))),
        ])
        if let expires { o["expires"] = .string(expires.formatted(.iso8601)) }
        if let workspace { o["wilson_coefficients"] = .array(workspace.wilsonCoefficients.map { .string($0) }) }
        if let error { o["error"] = error.json }
        return .object(o)
    }
}

/// A submitted job, its owner and where it stands.
struct JobRecord: Sendable {
    enum State: String, Sendable {
        /// `interrupted`: it was running when the server stopped without finishing it (a crash or
        /// kill); POST /v1/jobs/ID/retry queues it again.
        case queued, running, done, failed, cancelled, interrupted
    }

    let id: UUID
    let owner: String
    let workspaceID: UUID
    let request: JobRequest
    /// The request as submitted, kept in the job's record so a restarted server can run it.
    let requestJSON: JSON
    var state: State = .queued
    var error: ServiceError?
    var summary: JSON?
    let submitted: Date
    var started: Date?
    var finished: Date?
    /// Bytes of the result files (counted against the quota).
    var bytes = 0
    var expires: Date?
    /// Conditional fits done of a scan's total, written by the worker while the job runs.
    let progress = JobProgress()
    /// Stops the running computation (DELETE of a running job); a running job whose cancellation
    /// is set becomes `cancelled` when its worker returns.
    let cancellation = Cancellation()

    init(id: UUID = UUID(), owner: String, workspaceID: UUID, request: JobRequest, requestJSON: JSON, submitted: Date = Date()) {
        self.id = id
        self.owner = owner
        self.workspaceID = workspaceID
        self.request = request
        self.requestJSON = requestJSON
        self.submitted = submitted
    }

    var isFinished: Bool { [.done, .failed, .cancelled, .interrupted].contains(state) }

    var json: JSON {
        var o = JSONObject([
            ("id", .string(id.uuidString.lowercased())),
            ("workspace", .string(workspaceID.uuidString.lowercased())),
            ("kind", .string(request.kind)),
            ("request", requestJSON),
            ("state", .string(state.rawValue)),
            ("files", .array(state == .done ? request.resultFiles.map { .string($0) } : [])),
            ("submitted", .string(submitted.formatted(.iso8601))),
        ])
        if let started { o["started"] = .string(started.formatted(.iso8601)) }
        if let finished { o["finished"] = .string(finished.formatted(.iso8601)) }
        if let started, let finished { o["seconds"] = .number(finished.timeIntervalSince(started)) }
        if let expires { o["expires"] = .string(expires.formatted(.iso8601)) }
        if let summary { o["summary"] = summary }
        if let (done, total) = progress.value {
            o["progress"] = .object(JSONObject([("done", .integer(Int64(done))), ("total", .integer(Int64(total)))]))
        }
        if let error { o["error"] = error.json }
        if state == .running && cancellation.isCancelled { o["cancelling"] = .bool(true) }
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

/// Per-owner limits (nil: none): workspaces held, bytes stored (workspace documents, uploaded
/// files, job results) and jobs queued or running at once.
public struct Quota: Sendable, Equatable {
    public var workspaces: Int?
    public var storedBytes: Int?
    public var concurrentJobs: Int?

    public init(workspaces: Int? = nil, storedBytes: Int? = nil, concurrentJobs: Int? = nil) {
        self.workspaces = workspaces
        self.storedBytes = storedBytes
        self.concurrentJobs = concurrentJobs
    }
}

/// An owner's stored bytes against the storage quota, for an upload about to be received.
struct ByteQuota: Sendable {
    let used: Int
    let limit: Int
    var remaining: Int { limit - used }

    func exceeded(adding bytes: Int) -> ServiceError { ServiceState.overQuota(used: used, adding: bytes, limit: limit) }
}

/// All mutable state of the service: workspaces, jobs and the bounded queue between the HTTP
/// handlers and the workers. One actor, so that "is there room in the queue" and "enqueue" (and
/// "is the job done" and "serve its file") are single steps that no other request can interleave.
/// Every change of a record is written to the data directory (``Persistence``) before the actor
/// moves on, so a restarted server finds what the clients were told.
actor ServiceState {
    let queueLimit: Int
    let quota: Quota
    let expireAfter: Duration?
    let maximumUploads: Int
    let persistence: Persistence
    private var workspaces: [UUID: WorkspaceRecord] = [:]
    private var jobs: [UUID: JobRecord] = [:]
    /// Queued jobs in submission order, each with the validated workspace it runs on.
    private var queue: [(UUID, Workspace)] = []
    /// Workers waiting for a job; a submission goes straight to one of them when there is one.
    private var idleWorkers: [CheckedContinuation<(JobRecord, Workspace)?, Never>] = []
    private var isShutDown = false
    private(set) var runningCount = 0
    /// Request bodies being received now (uploads), at most `maximumUploads`.
    private(set) var uploadCount = 0

    init(queueLimit: Int, quota: Quota, expireAfter: Duration?, maximumUploads: Int, persistence: Persistence, restored: Persistence.Restored) {
        self.queueLimit = queueLimit
        self.quota = quota
        self.expireAfter = expireAfter
        self.maximumUploads = maximumUploads
        self.persistence = persistence
        for record in restored.workspaces { workspaces[record.id] = record }
        for job in restored.jobs { jobs[job.id] = job }
        queue = restored.queue
    }

    private func expiry(from date: Date) -> Date? {
        expireAfter.map { date.addingTimeInterval(Double($0.components.seconds) + Double($0.components.attoseconds) * 1e-18) }
    }

    // MARK: Uploads

    /// Reserves one of the upload slots; 503 with Retry-After when all are taken.
    func beginBody() throws(ServiceError) {
        guard uploadCount < maximumUploads else {
            throw ServiceError(.serviceUnavailable, "\(maximumUploads) uploads are in progress, the most this server receives at once; try again shortly", code: "busy")
        }
        uploadCount += 1
    }

    func endBody() { uploadCount -= 1 }

    // MARK: Quotas

    func storedBytes(of owner: String) -> Int {
        workspaces.values.reduce(0) { $0 + ($1.owner == owner ? $1.bytes : 0) } + jobs.values.reduce(0) { $0 + ($1.owner == owner ? $1.bytes : 0) }
    }

    /// The bytes `owner` stores against the quota (nil: no quota); 403 when `adding` more would pass it.
    @discardableResult
    func byteQuota(of owner: String, adding: Int = 0) throws(ServiceError) -> ByteQuota? {
        guard let limit = quota.storedBytes else { return nil }
        let used = storedBytes(of: owner)
        guard used + adding <= limit else { throw Self.overQuota(used: used, adding: adding, limit: limit) }
        return ByteQuota(used: used, limit: limit)
    }

    static func overQuota(used: Int, adding: Int, limit: Int) -> ServiceError {
        ServiceError(.forbidden, "storage quota exceeded: \(used) bytes stored, \(adding) more would pass the quota of \(limit) bytes; delete workspaces or jobs first", code: "quota")
    }

    /// 403 when `owner` already holds the most workspaces the quota allows.
    func checkWorkspaceQuota(_ owner: String) throws(ServiceError) {
        guard let limit = quota.workspaces else { return }
        let held = workspaces.values.count { $0.owner == owner }
        guard held < limit else {
            throw ServiceError(.forbidden, "workspace quota exceeded: \(held) workspaces held, the quota is \(limit); delete one first", code: "quota")
        }
    }

    // MARK: Workspaces

    /// Stores a new workspace; the quotas are checked again here, where no other request interleaves.
    func add(_ record: WorkspaceRecord) throws(ServiceError) {
        try checkWorkspaceQuota(record.owner)
        try byteQuota(of: record.owner, adding: record.bytes)
        var record = record
        record.expires = expiry(from: record.created)
        workspaces[record.id] = record
        persistence.save(record)
    }

    func makeRecord(id: UUID, owner: String, directory: String, requiredFiles: [String], bytes: Int) -> WorkspaceRecord {
        let now = Date()
        return WorkspaceRecord(id: id, owner: owner, directory: directory, requiredFiles: requiredFiles, bytes: bytes, expires: expiry(from: now), created: now)
    }

    /// The workspace `id` if `owner` created it; another owner's workspace is "not found".
    func workspace(_ id: UUID, owner: String) throws(ServiceError) -> WorkspaceRecord {
        guard let record = workspaces[id], record.owner == owner else { throw ServiceError(.notFound, "no workspace \(id.uuidString.lowercased())") }
        return record
    }

    /// The model of a ready workspace; 409 while files are missing, the validation error when invalid.
    func loadedModel(_ id: UUID, owner: String) throws(ServiceError) -> LoadedModel {
        let record = try workspace(id, owner: owner)
        switch record.state {
        case .ready: return record.loaded!
        case .invalid: throw record.error ?? ServiceError(.unprocessableContent, "the workspace is invalid")
        case .awaitingFiles:
            throw ServiceError(.conflict, "the workspace still needs the event-database file(s) \(record.missingFiles.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
    }

    /// Reserves `name` for an upload: it must be one the workspace names and not uploaded yet.
    func beginUpload(_ id: UUID, owner: String, name: String) throws(ServiceError) -> WorkspaceRecord {
        var record = try workspace(id, owner: owner)
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

    /// Ends an upload of `bytes` bytes; returns the record, which needs validating when no file is missing any more.
    func endUpload(_ id: UUID, name: String, bytes: Int?) -> WorkspaceRecord? {
        guard var record = workspaces[id] else { return nil }
        record.uploading.remove(name)
        if let bytes {
            record.uploaded.insert(name)
            record.bytes += bytes
            persistence.save(record)
        }
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
        persistence.save(record)
        return record
    }

    /// Forgets a workspace and removes its files (jobs already submitted on it still run).
    func removeWorkspace(_ id: UUID, owner: String) throws(ServiceError) {
        let record = try workspace(id, owner: owner)
        workspaces[id] = nil
        persistence.remove(workspace: record)
    }

    // MARK: Jobs

    /// Queues a job on a ready workspace (the request already checked against its model), or
    /// hands it to an idle worker; 429 over the owner's concurrent-job quota, 503 when the queue is full.
    func submit(_ request: JobRequest, json: JSON, workspace id: UUID, owner: String) throws(ServiceError) -> JobRecord {
        let record = try workspace(id, owner: owner)
        guard let ws = record.workspace, record.state == .ready else { _ = try loadedModel(id, owner: owner); throw ServiceError(.conflict, "the workspace is not ready") }
        try checkJobQuota(owner)
        try byteQuota(of: owner)
        return try enqueue(JobRecord(owner: owner, workspaceID: id, request: request, requestJSON: json), on: ws)
    }

    private func checkJobQuota(_ owner: String) throws(ServiceError) {
        guard let limit = quota.concurrentJobs else { return }
        let active = jobs.values.count { $0.owner == owner && ($0.state == .queued || $0.state == .running) }
        guard active < limit else {
            throw ServiceError(.tooManyRequests, "job quota exceeded: \(active) jobs queued or running, the quota is \(limit); wait for one to finish", code: "quota")
        }
    }

    private func enqueue(_ job: JobRecord, on ws: Workspace) throws(ServiceError) -> JobRecord {
        guard !isShutDown else { throw ServiceError(.serviceUnavailable, "the service is shutting down") }
        var job = job
        if !idleWorkers.isEmpty {
            job.state = .running
            job.started = Date()
            jobs[job.id] = job
            persistence.save(job)
            runningCount += 1
            idleWorkers.removeFirst().resume(returning: (job, ws))
            return job
        }
        guard queue.count < queueLimit else {
            throw ServiceError(.serviceUnavailable, "the job queue is full (\(queueLimit) jobs waiting); try again later")
        }
        jobs[job.id] = job
        persistence.save(job)
        queue.append((job.id, ws))
        return job
    }

    /// Queues an interrupted or failed job again, under the same id, on its workspace as it is now.
    func retry(_ id: UUID, owner: String) throws(ServiceError) -> JobRecord {
        var job = try self.job(id, owner: owner)
        guard job.state == .interrupted || job.state == .failed else {
            throw ServiceError(.conflict, "only an interrupted or failed job can be retried; this one is \(job.state.rawValue)")
        }
        let ws = try loadedModel(job.workspaceID, owner: owner).workspace
        try checkJobQuota(owner)
        job.state = .queued
        job.error = nil
        job.started = nil
        job.finished = nil
        job.expires = nil
        return try enqueue(job, on: ws)
    }

    /// The next job for a worker, waiting for one when the queue is empty; nil once shut down.
    func next() async -> (JobRecord, Workspace)? {
        if isShutDown { return nil }
        if !queue.isEmpty {
            let (id, ws) = queue.removeFirst()
            jobs[id]!.state = .running
            jobs[id]!.started = Date()
            persistence.save(jobs[id]!)
            runningCount += 1
            return (jobs[id]!, ws)
        }
        return await withCheckedContinuation { idleWorkers.append($0) }
    }

    /// Records the end of a job; its files are already in place when it is marked done.
    func finish(_ id: UUID, _ result: Result<(summary: JSON?, bytes: Int), ServiceError>) {
        runningCount -= 1
        guard var job = jobs[id] else { return }  // deleted while running
        job.finished = Date()
        job.expires = expiry(from: job.finished!)
        switch result {
        case .success(let outcome):
            job.state = .done
            job.summary = outcome.summary
            job.bytes = outcome.bytes
        case .failure where job.cancellation.isCancelled:
            job.state = .cancelled
        case .failure(let error):
            job.state = .failed
            job.error = error
        }
        jobs[id] = job
        persistence.save(job)
    }

    /// The job `id` if `owner` submitted it; another owner's job is "not found".
    func job(_ id: UUID, owner: String) throws(ServiceError) -> JobRecord {
        guard let job = jobs[id], job.owner == owner else { throw ServiceError(.notFound, "no job \(id.uuidString.lowercased())") }
        return job
    }

    /// Cancels a queued job, asks a running one to stop (it becomes `cancelled` when its worker
    /// returns, within one likelihood evaluation of each fit left; returned, for a 202), or forgets
    /// a finished one and removes its files.
    @discardableResult
    func delete(_ id: UUID, owner: String) throws(ServiceError) -> JobRecord? {
        var job = try self.job(id, owner: owner)
        switch job.state {
        case .running:
            job.cancellation.cancel()
            return job
        case .queued:
            queue.removeAll { $0.0 == id }
            job.state = .cancelled
            job.finished = Date()
            job.expires = expiry(from: job.finished!)
            jobs[id] = job
            persistence.save(job)
        case .done, .failed, .cancelled, .interrupted:
            jobs[id] = nil
            persistence.remove(job: job)
        }
        return nil
    }

    var queuedCount: Int { queue.count }

    // MARK: Expiry

    /// Removes the workspaces and finished jobs whose expiry time is before `now`, with their
    /// files; returns how many of each. Queued and running jobs never expire.
    @discardableResult
    func sweep(now: Date = Date()) -> (workspaces: Int, jobs: Int) {
        let oldWorkspaces = workspaces.values.filter { ($0.expires.map { $0 <= now } ?? false) && $0.uploading.isEmpty }
        for record in oldWorkspaces {
            workspaces[record.id] = nil
            persistence.remove(workspace: record)
        }
        let oldJobs = jobs.values.filter { $0.isFinished && ($0.expires.map { $0 <= now } ?? false) }
        for job in oldJobs {
            jobs[job.id] = nil
            persistence.remove(job: job)
        }
        return (oldWorkspaces.count, oldJobs.count)
    }

    /// Stops handing out jobs: idle workers get nil and return, queued jobs stay queued (and run
    /// when a server is started again on the same data directory).
    func shutDown() {
        isShutDown = true
        for worker in idleWorkers { worker.resume(returning: nil) }
        idleWorkers.removeAll()
    }
}
