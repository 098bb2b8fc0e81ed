import EFTHF
import Foundation
import Hummingbird

/// The service's records in the data directory, and their recovery when a server starts.
///
/// ```
/// DATA/workspaces/ID.json   the workspace's record (owner, files uploaded, state, bytes, created)
/// DATA/workspaces/ID/       workspace.json and the uploaded event-database files
/// DATA/jobs/ID.json         the job's record (owner, workspace, request, state, times, error)
/// DATA/jobs/ID/             the result files of a done job
/// DATA/tmp/                 request bodies being received
/// ```
///
/// Every record is written atomically (a temporary file, then rename(2)), after the files it
/// names are in place, so whatever a server finds on start is a state some client was told.
/// On start (``restore(expireAfter:)``): `tmp/` is emptied; a directory without a record, a
/// record without its directory, a file the record does not list as uploaded and a temporary
/// file are removed; ready workspaces are validated again; queued jobs are queued again in
/// submission order; a job that was running is `interrupted` (its partial files removed).
struct Persistence: Sendable {
    let root: String
    var workspacesDirectory: String { root + "/workspaces" }
    var jobsDirectory: String { root + "/jobs" }
    var temporaryDirectory: String { root + "/tmp" }

    init(root: String) throws {
        self.root = root
        for directory in [root + "/workspaces", root + "/jobs", root + "/tmp"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    func directory(ofJob id: UUID) -> String { jobsDirectory + "/" + id.uuidString.lowercased() }

    // MARK: Writing

    func save(_ record: WorkspaceRecord) {
        var o = JSONObject([
            ("id", .string(record.id.uuidString.lowercased())),
            ("owner", .string(record.owner)),
            ("created", .number(record.created.timeIntervalSince1970)),
            ("required_files", .array(record.requiredFiles.map { .string($0) })),
            ("uploaded", .array(record.uploaded.sorted().map { .string($0) })),
            ("state", .string(record.state.rawValue)),
            ("bytes", .integer(Int64(record.bytes))),
        ])
        if let error = record.error { o["error"] = Self.encode(error) }
        write(.object(o), to: workspacesDirectory + "/" + record.id.uuidString.lowercased() + ".json")
    }

    func save(_ job: JobRecord) {
        var o = JSONObject([
            ("id", .string(job.id.uuidString.lowercased())),
            ("owner", .string(job.owner)),
            ("workspace", .string(job.workspaceID.uuidString.lowercased())),
            ("request", job.requestJSON),
            ("state", .string(job.state.rawValue)),
            ("submitted", .number(job.submitted.timeIntervalSince1970)),
            ("bytes", .integer(Int64(job.bytes))),
        ])
        if let started = job.started { o["started"] = .number(started.timeIntervalSince1970) }
        if let finished = job.finished { o["finished"] = .number(finished.timeIntervalSince1970) }
        if let summary = job.summary { o["summary"] = summary }
        if let error = job.error { o["error"] = Self.encode(error) }
        write(.object(o), to: jobsDirectory + "/" + job.id.uuidString.lowercased() + ".json")
    }

    /// The record first, so that a crash between the two leaves a directory without a record,
    /// which the next start removes.
    func remove(workspace record: WorkspaceRecord) {
        try? FileManager.default.removeItem(atPath: workspacesDirectory + "/" + record.id.uuidString.lowercased() + ".json")
        try? FileManager.default.removeItem(atPath: record.directory)
    }

    func remove(job: JobRecord) {
        try? FileManager.default.removeItem(atPath: jobsDirectory + "/" + job.id.uuidString.lowercased() + ".json")
        try? FileManager.default.removeItem(atPath: directory(ofJob: job.id))
    }

    /// A record that cannot be written is logged, not fatal: the in-memory state stays right and
    /// only a restart would lose the change.
    private func write(_ json: JSON, to path: String) {
        do { try Storage.writeAtomically(Data((json.serialized() + "\n").utf8), to: path) } catch {
            FileHandle.standardError.write(Data("efthf serve: cannot write the record \(path): \(error)\n".utf8))
        }
    }

    private static func encode(_ error: ServiceError) -> JSON {
        var o = JSONObject([("status", .integer(Int64(error.status.code))), ("error", .string(error.message))])
        if let code = error.code { o["code"] = .string(code) }
        if let path = error.path { o["path"] = .string(path) }
        return .object(o)
    }

    private static func decodeError(_ json: JSON?) -> ServiceError? {
        guard let json, let message = json["error"]?.stringValue else { return nil }
        let status = json["status"]?.doubleValue.map { HTTPResponse.Status(code: Int($0)) } ?? .unprocessableContent
        return ServiceError(status, message, code: json["code"]?.stringValue, path: json["path"]?.stringValue)
    }

    // MARK: Recovery

    struct Restored: Sendable {
        var workspaces: [WorkspaceRecord] = []
        var jobs: [JobRecord] = []
        var queue: [(UUID, Workspace)] = []
        /// What recovery did, for the start-up log.
        var notes: [String] = []
    }

    /// Reads the records, cleans what no record accounts for, and revalidates ready workspaces.
    func restore(expireAfter: Duration?) -> Restored {
        var restored = Restored()
        let fm = FileManager.default
        func expiry(_ date: Date) -> Date? {
            expireAfter.map { date.addingTimeInterval(Double($0.components.seconds) + Double($0.components.attoseconds) * 1e-18) }
        }
        for name in (try? fm.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
            try? fm.removeItem(atPath: temporaryDirectory + "/" + name)
            restored.notes.append("removed the unfinished upload tmp/\(name)")
        }

        // Workspaces.
        var keptWorkspaces: Set<String> = []
        for name in ((try? fm.contentsOfDirectory(atPath: workspacesDirectory)) ?? []).sorted() where name.hasSuffix(".json") {
            let path = workspacesDirectory + "/" + name
            let stem = String(name.dropLast(5))
            guard let json = try? loadJSON(path), let id = UUID(uuidString: stem), json["id"]?.stringValue == stem,
                  let owner = json["owner"]?.stringValue, let created = json["created"]?.doubleValue,
                  let required = json["required_files"]?.arrayValue?.compactMap(\.stringValue),
                  let uploaded = json["uploaded"]?.arrayValue?.compactMap(\.stringValue),
                  let stateName = json["state"]?.stringValue, let state = WorkspaceRecord.State(rawValue: stateName),
                  fm.fileExists(atPath: workspacesDirectory + "/" + stem + "/" + Storage.workspaceFileName)
            else {
                try? fm.removeItem(atPath: path)
                restored.notes.append("removed the unreadable or incomplete workspace record \(name)")
                continue
            }
            let directory = workspacesDirectory + "/" + stem
            let createdDate = Date(timeIntervalSince1970: created)
            var record = WorkspaceRecord(id: id, owner: owner, directory: directory, requiredFiles: required,
                                         bytes: Int(json["bytes"]?.doubleValue ?? 0), expires: expiry(createdDate), created: createdDate)
            record.uploaded = Set(uploaded)
            record.state = state
            record.error = Self.decodeError(json["error"])
            removeUnlisted(in: directory, keeping: Set([Storage.workspaceFileName]).union(record.uploaded), notes: &restored.notes)
            if record.state == .ready {
                do {
                    record.loaded = try EFTHFServer.validate(loadJSON(directory + "/" + Storage.workspaceFileName), directory: directory)
                } catch {
                    record.state = .invalid
                    record.error = error as? ServiceError ?? ServiceError(.unprocessableContent, "\(error)")
                }
            }
            keptWorkspaces.insert(stem)
            restored.workspaces.append(record)
        }
        for name in (try? fm.contentsOfDirectory(atPath: workspacesDirectory)) ?? [] where !name.hasSuffix(".json") && !keptWorkspaces.contains(name) {
            try? fm.removeItem(atPath: workspacesDirectory + "/" + name)
            restored.notes.append("removed workspaces/\(name), which has no record")
        }

        // Jobs.
        var keptJobs: Set<String> = []
        for name in ((try? fm.contentsOfDirectory(atPath: jobsDirectory)) ?? []) where name.hasSuffix(".json") {
            let path = jobsDirectory + "/" + name
            let stem = String(name.dropLast(5))
            guard let json = try? loadJSON(path), let id = UUID(uuidString: stem), json["id"]?.stringValue == stem,
                  let owner = json["owner"]?.stringValue, let workspaceText = json["workspace"]?.stringValue,
                  let workspaceID = UUID(uuidString: workspaceText), let requestJSON = json["request"],
                  let request = try? JobRequest(json: requestJSON),
                  let stateName = json["state"]?.stringValue, let state = JobRecord.State(rawValue: stateName),
                  let submitted = json["submitted"]?.doubleValue
            else {
                try? fm.removeItem(atPath: path)
                restored.notes.append("removed the unreadable job record \(name)")
                continue
            }
            var job = JobRecord(id: id, owner: owner, workspaceID: workspaceID, request: request, requestJSON: requestJSON,
                                submitted: Date(timeIntervalSince1970: submitted))
            job.state = state
            job.started = json["started"]?.doubleValue.map { Date(timeIntervalSince1970: $0) }
            job.finished = json["finished"]?.doubleValue.map { Date(timeIntervalSince1970: $0) }
            job.summary = json["summary"]
            job.error = Self.decodeError(json["error"])
            job.bytes = Int(json["bytes"]?.doubleValue ?? 0)
            let directory = directory(ofJob: id)
            switch job.state {
            case .running:
                job.state = .interrupted
                job.finished = Date()
                job.error = ServiceError(.conflict, "the server stopped while the job was running; POST /v1/jobs/\(stem)/retry runs it again", code: "interrupted")
                try? fm.removeItem(atPath: directory)
                restored.notes.append("job \(stem) was running: now interrupted")
                save(job)
            case .queued:
                try? fm.removeItem(atPath: directory)
            case .done:
                removeUnlisted(in: directory, keeping: Set(job.request.resultFiles), notes: &restored.notes)
            case .failed, .cancelled, .interrupted:
                try? fm.removeItem(atPath: directory)
            }
            job.expires = job.isFinished ? job.finished.flatMap(expiry) : nil
            keptJobs.insert(stem)
            restored.jobs.append(job)
        }
        for name in (try? fm.contentsOfDirectory(atPath: jobsDirectory)) ?? [] where !name.hasSuffix(".json") && !keptJobs.contains(name) {
            try? fm.removeItem(atPath: jobsDirectory + "/" + name)
            restored.notes.append("removed jobs/\(name), which has no record")
        }

        // Queued jobs run again, oldest first, on their workspace as it is now.
        restored.jobs.sort { $0.submitted < $1.submitted }
        for index in restored.jobs.indices where restored.jobs[index].state == .queued {
            let job = restored.jobs[index]
            if let ws = restored.workspaces.first(where: { $0.id == job.workspaceID })?.workspace {
                restored.queue.append((job.id, ws))
            } else {
                restored.jobs[index].state = .failed
                restored.jobs[index].finished = Date()
                restored.jobs[index].expires = expiry(Date())
                restored.jobs[index].error = ServiceError(.conflict, "the job's workspace was deleted or is not ready; it cannot run", code: "workspace")
                save(restored.jobs[index])
            }
        }
        return restored
    }

    /// Removes every file under `directory` whose relative path is not in `keeping` (temporary
    /// files of an interrupted write, an upload renamed into place just before a crash).
    private func removeUnlisted(in directory: String, keeping: Set<String>, notes: inout [String]) {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return }
        var removals: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: directory + "/" + relative, isDirectory: &isDirectory)
            if !isDirectory.boolValue && !keeping.contains(relative) { removals.append(relative) }
        }
        for relative in removals {
            try? FileManager.default.removeItem(atPath: directory + "/" + relative)
            notes.append("removed \(URL(fileURLWithPath: directory).lastPathComponent)/\(relative), which no record lists")
        }
    }
}
