import EFTHF
import Foundation
import Hummingbird
import ServiceLifecycle

/// Settings of `efthf serve`.
public struct ServiceConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Jobs computed at once; each runs on its own thread (a fit with multi-start uses all cores itself).
    public var workers: Int
    /// Jobs that may wait for a worker; one more submission is refused with 503.
    public var queueLimit: Int
    /// Largest request body (a workspace or one event-database file); larger ones get 413.
    public var maxUploadBytes: Int
    /// Where uploads, results and the records of workspaces and jobs are kept (``Persistence``).
    public var dataDirectory: String
    /// Example workspaces offered by `GET /v1/examples`: every `*.json` workspace in this
    /// directory, with the event-database files they name beside them (nil: none).
    public var examplesDirectory: String?
    /// The bearer tokens every API request must present; nil serves without authentication,
    /// which only a loopback `host` allows.
    public var tokens: AccessTokens?
    /// The longest a request body may take to arrive; a slower one is refused with 408.
    public var bodyTimeout: Duration
    /// Request bodies received at once; one more is refused with 503 and Retry-After.
    public var maxConcurrentUploads: Int
    /// Workspaces expire this long after their upload, jobs this long after they finished (nil: never).
    public var expireAfter: Duration?
    /// Per-owner limits.
    public var quota: Quota
    /// What an uploaded archive may unpack to (``ArchiveLimits``: entries, member and total bytes, ratio).
    public var archiveLimits: ArchiveLimits
    /// Whether `POST /v1/fetch` downloads URLs: off by default, as it lets every client make the
    /// server send requests to any address the server reaches (server-side request forgery).
    public var allowURLFetch: Bool

    /// Largest job request body: a job request is a small JSON object.
    public static let maximumJobRequestBytes = 1 << 20

    public init(host: String = "127.0.0.1", port: Int = 8080, workers: Int = 2, queueLimit: Int = 64,
                maxUploadBytes: Int = 256 << 20, dataDirectory: String? = nil, examplesDirectory: String? = nil,
                tokens: AccessTokens? = nil, bodyTimeout: Duration = .seconds(600), maxConcurrentUploads: Int = 8,
                expireAfter: Duration? = nil, quota: Quota = Quota(), archiveLimits: ArchiveLimits = ArchiveLimits(),
                allowURLFetch: Bool = false) {
        self.host = host
        self.port = port
        self.workers = workers
        self.queueLimit = queueLimit
        self.maxUploadBytes = maxUploadBytes
        self.dataDirectory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("efthf-serve-\(UUID().uuidString.lowercased())").path
        self.examplesDirectory = examplesDirectory
        self.tokens = tokens
        self.bodyTimeout = bodyTimeout
        self.maxConcurrentUploads = maxConcurrentUploads
        self.expireAfter = expireAfter
        self.quota = quota
        self.archiveLimits = archiveLimits
        self.allowURLFetch = allowURLFetch
    }
}

/// The HTTP service (Specs/service.md): uploads of workspaces with their event databases,
/// export, patch-set, fit, scan and limit jobs in a bounded queue served by a fixed number of
/// workers, and their results, which are downloadable only once completely written. Every API
/// request carries a bearer token (unless the server runs without authentication on loopback);
/// workspaces and jobs belong to the owner of the token that created them.
///
/// State lives in memory (``ServiceState``) and, record by record, in the data directory
/// (``Persistence``), from which a restarted server recovers.
public struct EFTHFServer: Sendable {
    public let configuration: ServiceConfiguration
    let state: ServiceState
    let persistence: Persistence
    var workspacesDirectory: String { persistence.workspacesDirectory }
    var jobsDirectory: String { persistence.jobsDirectory }
    /// What recovery found and did on start (one line each), for the log.
    public let recoveryNotes: [String]

    /// Checks the configuration, creates the data directory and recovers the state kept in it.
    public init(configuration: ServiceConfiguration) throws {
        guard configuration.workers >= 1 else { throw ServiceError(.internalServerError, "workers must be at least 1, not \(configuration.workers)") }
        guard configuration.queueLimit >= 0 else { throw ServiceError(.internalServerError, "the queue limit must not be negative") }
        guard configuration.maxUploadBytes >= 1 else { throw ServiceError(.internalServerError, "the upload limit must be positive") }
        guard configuration.maxConcurrentUploads >= 1 else { throw ServiceError(.internalServerError, "the concurrent-upload limit must be at least 1") }
        guard configuration.bodyTimeout > .zero else { throw ServiceError(.internalServerError, "the body timeout must be positive") }
        guard configuration.tokens != nil || isLoopback(configuration.host) else {
            throw ServiceError(.internalServerError, "refusing to serve \(configuration.host) without authentication: it is not a loopback address; give --token-file FILE (or listen on 127.0.0.1)", code: "authentication")
        }
        let root = URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
        self.configuration = configuration
        persistence = try Persistence(root: root)
        let restored = persistence.restore(expireAfter: configuration.expireAfter)
        recoveryNotes = restored.notes
        state = ServiceState(queueLimit: configuration.queueLimit, quota: configuration.quota, expireAfter: configuration.expireAfter,
                             maximumUploads: configuration.maxConcurrentUploads, persistence: persistence, restored: restored)
    }

    /// The application: the router with its workers (and the expiry sweep) as services, bound to host:port.
    public func application() -> some ApplicationProtocol {
        var services: [any Service] = [Workers(server: self)]
        if let expireAfter = configuration.expireAfter { services.append(ExpirySweep(state: state, every: ExpirySweep.interval(expireAfter))) }
        return Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "efthf"),
            services: services
        )
    }

    /// The routes; every error answer is JSON (``JSONErrorMiddleware``), every API route needs a
    /// token when the server has tokens (``AuthenticationMiddleware``).
    public func router() -> Router<ServiceRequestContext> {
        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: AuthenticationMiddleware(tokens: configuration.tokens))
        // The workspace explorer: a static page over the API below (Specs/service.md, "Explorer").
        router.get("/") { _, _ in try ExplorerAssets.response("index.html") }
        router.get("explorer/:name") { _, context in try ExplorerAssets.response(context.parameters.get("name") ?? "") }
        let v1 = router.group("v1")
        v1.get("health") { _, _ in try await health() }
        v1.post("workspaces") { request, context in try await uploadWorkspace(request, context) }
        v1.get("workspaces/:id") { _, context in
            json(.ok, try await state.workspace(try uuid(context), owner: context.owner).json)
        }
        v1.get("workspaces/:id/summary") { _, context in try await summary(context) }
        v1.post("workspaces/:id/yields") { request, context in try await yields(request, context) }
        v1.post("workspaces/:id/event-statistics") { request, context in try await eventStatistics(request, context) }
        v1.post("workspaces/:id/patched") { request, context in try await patched(request, context) }
        v1.post("patched") { request, context in try await patchedUpload(request, context) }
        v1.post("archives") { request, context in try await uploadArchive(request, context) }
        v1.post("fetch") { request, context in try await fetchURL(request, context) }
        v1.get("workspaces/:id/workspace.json") { _, context in try await workspaceDocument(context) }
        v1.get("examples") { _, _ in json(.ok, .object(JSONObject([("examples", .array(exampleNames().map { .string($0) }))]))) }
        v1.post("examples/:name") { _, context in try await loadExample(context) }
        v1.delete("workspaces/:id") { _, context in
            try await state.removeWorkspace(try uuid(context), owner: context.owner)
            return Response(status: .noContent)
        }
        v1.put("workspaces/:id/files/:name") { request, context in try await uploadFile(request, context) }
        v1.post("workspaces/:id/jobs") { request, context in try await submit(request, context) }
        v1.get("jobs/:id") { _, context in json(.ok, try await state.job(try uuid(context), owner: context.owner).json) }
        v1.get("jobs/:id/files/:name") { _, context in try await download(context) }
        v1.post("jobs/:id/retry") { _, context in
            let job = try await state.retry(try uuid(context), owner: context.owner)
            return json(.accepted, job.json, location: "/v1/jobs/\(job.id.uuidString.lowercased())")
        }
        v1.delete("jobs/:id") { _, context in
            // A running job is asked to stop: 202 with its status ("cancelling": true).
            if let running = try await state.delete(try uuid(context), owner: context.owner) { return json(.accepted, running.json) }
            return Response(status: .noContent)
        }
        return router
    }

    // MARK: Handlers

    private func health() async throws -> Response {
        json(.ok, .object(JSONObject([
            ("status", .string("ok")), ("version", .string(efthfServiceVersion)),
            ("workers", .integer(Int64(configuration.workers))), ("queue_limit", .integer(Int64(configuration.queueLimit))),
            ("queued", .integer(Int64(await state.queuedCount))), ("running", .integer(Int64(await state.runningCount))),
            ("uploads", .integer(Int64(await state.uploadCount))),
        ])))
    }

    /// Receives a request body into a new file under `tmp/` of the data directory, within the
    /// upload slots, size limit, the owner's storage quota and the body timeout
    /// (``Storage/receive(_:context:to:limit:quota:timeout:)``); returns its path and size. The
    /// caller moves the file into place or removes it.
    func receiveUpload(_ request: Request, _ context: ServiceRequestContext) async throws -> (path: String, bytes: Int) {
        try await state.beginBody()
        let path = persistence.temporaryDirectory + "/" + UUID().uuidString.lowercased() + ".upload"
        do {
            let quota = try await state.byteQuota(of: context.owner)
            let bytes = try await Storage.receive(request, context: context, to: path, limit: configuration.maxUploadBytes,
                                                  quota: quota, timeout: configuration.bodyTimeout)
            await state.endBody()
            return (path, bytes)
        } catch {
            await state.endBody()
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// A JSON request body (a workspace, a patch request), received to disk first like every
    /// upload, then read: parsing needs the whole document.
    private func receivedBody(_ request: Request, _ context: ServiceRequestContext) async throws -> Data {
        let upload = try await receiveUpload(request, context)
        defer { try? FileManager.default.removeItem(atPath: upload.path) }
        let result: Result<Data, ServiceError> = await onDedicatedThread {
            do { return .success(try Data(contentsOf: URL(fileURLWithPath: upload.path))) } catch {
                return .failure(ServiceError(.internalServerError, "cannot read the received body: \(error)"))
            }
        }
        return try result.get()
    }

    /// POST /v1/workspaces: the body (the workspace JSON) is received to disk, then read and validated.
    private func uploadWorkspace(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        try await state.checkWorkspaceQuota(context.owner)
        return try await createWorkspace(try await receivedBody(request, context), owner: context.owner, filesFrom: nil)
    }

    /// A new workspace from its JSON. A workspace without event databases is validated at once;
    /// one with them waits for its files (state "awaiting_files"), unless `filesFrom` is a
    /// directory that holds them (an example, a patched workspace), from which they are copied.
    func createWorkspace(_ body: Data, owner: String, filesFrom: String?) async throws -> Response {
        try await state.checkWorkspaceQuota(owner)
        let id = UUID()
        let directory = workspacesDirectory + "/" + id.uuidString.lowercased()
        let blank = await state.makeRecord(id: id, owner: owner, directory: directory, requiredFiles: [], bytes: 0)
        let outcome: Result<WorkspaceRecord, ServiceError> = await onDedicatedThread {
            do {
                let json: JSON
                do { json = try JSONParser.parse(body) } catch {
                    throw ServiceError(.badRequest, "the workspace is not valid JSON: \(error)", code: "syntax")
                }
                let required = try Self.eventDatabaseFiles(json)
                try Storage.writeAtomically(body, to: directory + "/" + Storage.workspaceFileName)
                var record = WorkspaceRecord(id: id, owner: owner, directory: directory, requiredFiles: required,
                                             bytes: body.count, expires: blank.expires, created: blank.created)
                if let filesFrom {
                    for name in required {
                        let destination = directory + "/" + name
                        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: destination).deletingLastPathComponent().path, withIntermediateDirectories: true)
                        try FileManager.default.copyItem(atPath: filesFrom + "/" + name, toPath: destination)
                        record.uploaded.insert(name)
                        record.bytes += (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
                    }
                }
                if record.missingFiles.isEmpty {
                    record.loaded = try Self.validate(json, directory: directory)
                    record.state = .ready
                }
                return .success(record)
            } catch {
                try? FileManager.default.removeItem(atPath: directory)
                return .failure(error as? ServiceError ?? ServiceError(.internalServerError, "cannot store the workspace: \(error)"))
            }
        }
        let record = try outcome.get()
        do { try await state.add(record) } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        return json(.created, record.json, location: "/v1/workspaces/\(id.uuidString.lowercased())")
    }

    /// PUT /v1/workspaces/{id}/files/{name}: the body is the file, streamed to disk and renamed
    /// into place. The last missing file triggers validation of the workspace, which reads the
    /// files from disk: 422 with the reason if it fails.
    private func uploadFile(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let id = try uuid(context)
        let raw = context.parameters.get("name") ?? ""
        let name = try Storage.relativePath(raw.removingPercentEncoding ?? raw)
        let record = try await state.beginUpload(id, owner: context.owner, name: name)
        let destination = record.directory + "/" + name
        let bytes: Int
        do {
            let upload = try await receiveUpload(request, context)
            do {
                try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: destination).deletingLastPathComponent().path, withIntermediateDirectories: true)
                try Storage.rename(upload.path, to: destination)
            } catch {
                try? FileManager.default.removeItem(atPath: upload.path)
                throw error
            }
            bytes = upload.bytes
        } catch {
            _ = await state.endUpload(id, name: name, bytes: nil)
            throw error
        }
        guard var updated = await state.endUpload(id, name: name, bytes: bytes) else {
            // Deleted meanwhile: the directory this upload made again goes too.
            try? FileManager.default.removeItem(atPath: record.directory)
            throw ServiceError(.notFound, "the workspace was deleted during the upload")
        }
        if updated.missingFiles.isEmpty && updated.state == .awaitingFiles {
            let directory = updated.directory
            let result: Result<LoadedModel, ServiceError> = await onDedicatedThread {
                do {
                    return .success(try Self.validate(loadJSON(directory + "/" + Storage.workspaceFileName), directory: directory))
                } catch {
                    return .failure(error as? ServiceError ?? ServiceError(.internalServerError, "\(error)"))
                }
            }
            updated = await state.setValidation(id, result) ?? updated
            if case .failure(let error) = result { throw error }
        }
        return json(.created, updated.json)
    }

    /// POST /v1/workspaces/{id}/jobs: 202 with the queued (or already running) job. The request
    /// is checked against the workspace's model first (``JobRequest/check(on:)``): 422 naming
    /// the member and value the task layer refuses.
    private func submit(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let id = try uuid(context)
        _ = try await state.workspace(id, owner: context.owner)
        let body = try await Storage.collect(request, limit: ServiceConfiguration.maximumJobRequestBytes)
        let parsed: JSON
        do { parsed = try JSONParser.parse(body) } catch {
            throw ServiceError(.badRequest, "the job request is not valid JSON: \(error)", code: "syntax")
        }
        let jobRequest = try JobRequest(json: parsed)
        let loaded = try await state.loadedModel(id, owner: context.owner)
        if jobRequest.measurement == nil && jobRequest.kind != "limit" {
            try jobRequest.check(on: loaded)  // name look-ups only
        } else {
            // Builds the named measurement's model, or reads the morphing terms: off the request threads.
            let checked: Result<Void, ServiceError> = await onDedicatedThread {
                Result { () throws(ServiceError) in try jobRequest.check(on: loaded) }
            }
            try checked.get()
        }
        let job = try await state.submit(jobRequest, json: parsed, workspace: id, owner: context.owner)
        return json(.accepted, job.json, location: "/v1/jobs/\(job.id.uuidString.lowercased())")
    }

    /// GET /v1/jobs/{id}/files/{name}: only for a job in state "done", whose files were renamed
    /// into place before it was marked done, so a download never sees a partial file.
    private func download(_ context: ServiceRequestContext) async throws -> Response {
        let job = try await state.job(try uuid(context), owner: context.owner)
        let name = context.parameters.get("name") ?? ""
        guard job.state == .done else {
            let reason = job.error.map { ": \($0.message)" } ?? "; poll GET /v1/jobs/\(job.id.uuidString.lowercased()) until its state is \"done\""
            throw ServiceError(.conflict, "the job is \(job.state.rawValue)\(reason)")
        }
        guard job.request.resultFiles.contains(name) else {
            throw ServiceError(.notFound, "a \(job.request.kind) job has no file \"\(name)\"; it has: \(job.request.resultFiles.joined(separator: ", "))")
        }
        let path = persistence.directory(ofJob: job.id) + "/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            // A job finished by an earlier revision of the service, which did not write this file.
            throw ServiceError(.notFound, "the job has no file \"\(name)\" on this server (it finished before the service offered it); submit the job again")
        }
        let body = try await FileIO().loadFile(path: path, context: context)
        let type = name.hasSuffix(".tar.gz") ? "application/gzip" : "application/json"
        return Response(status: .ok, headers: [.contentType: type], body: body)
    }

    /// GET /v1/workspaces/{id}/summary: `InspectTask`'s report (structure and validator
    /// warnings, as `efthf inspect --json`), every parameter (``ParameterTable``), the Wilson
    /// coefficients and every modifier with its size (``SystematicsTable``).
    private func summary(_ context: ServiceRequestContext) async throws -> Response {
        let id = try uuid(context)
        let loaded = try await state.loadedModel(id, owner: context.owner)
        let body: JSON = await onDedicatedThread {
            .object(JSONObject([
                ("inspection", InspectTask().run(on: loaded).report(file: id.uuidString.lowercased()).jsonValue),
                ("parameters", ParameterTable(model: loaded.model).jsonValue),
                ("wilson_coefficients", .array(loaded.workspace.wilsonCoefficients.map { .string($0) })),
                ("modifiers", SystematicsTable(workspace: loaded.workspace, model: loaded.model).jsonValue),
            ]))
        }
        return json(.ok, body)
    }

    /// POST /v1/workspaces/{id}/event-statistics: `EventStatisticsTask` with `{"at"?: {coefficient:
    /// value, …}}`: the weight statistics of every event database the workspace reads, at the SM
    /// and at the point. One pass over each file's coefficient columns per point.
    private func eventStatistics(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let id = try uuid(context)
        let loaded = try await state.loadedModel(id, owner: context.owner)
        let directory = try await state.workspace(id, owner: context.owner).directory
        let body = try await Storage.collect(request, limit: ServiceConfiguration.maximumJobRequestBytes)
        let parsed: JSON
        do { parsed = try JSONParser.parse(body) } catch {
            throw ServiceError(.badRequest, "the request is not valid JSON: \(error)", code: "syntax")
        }
        guard case .object(let o) = parsed else { throw ServiceError(.badRequest, "the request must be a JSON object {\"at\"?: {…}}", code: "request", path: "/") }
        for key in o.keys where key != "at" {
            throw ServiceError(.badRequest, "unknown member \"\(key)\"; allowed: at", code: "request", path: "/\(key)")
        }
        var at: [String: Double]? = nil
        if let value = o["at"] {
            guard case .object(let point) = value else { throw ServiceError(.badRequest, "\"at\" must be an object {coefficient: number, …}", code: "request", path: "/at") }
            let coefficients = loaded.workspace.wilsonCoefficients
            var values: [String: Double] = [:]
            for (name, v) in point.pairs {
                guard let x = v.doubleValue, x.isFinite else {
                    throw ServiceError(.badRequest, "at /at/\(name): must be a finite number, found \(v.kindDescription)", code: "request", path: "/at/\(name)")
                }
                guard coefficients.contains(name) else {
                    throw ServiceError(.unprocessableContent, "at /at/\(name): unknown Wilson coefficient \"\(name)\"; the workspace has: \(coefficients.joined(separator: ", "))",
                                       code: "parameter", path: "/at/\(name)")
                }
                values[name] = x
            }
            at = values
        }
        let task = EventStatisticsTask(at: at)
        let result: Result<JSON, ServiceError> = await onDedicatedThread {
            do throws(HistFactoryError) { return .success(try task.run(on: loaded.workspace).jsonValue) } catch {
                return .failure(ServiceError(error, hiding: directory))
            }
        }
        return json(.ok, try result.get())
    }

    /// POST /v1/workspaces/{id}/yields: `YieldsTask` at the point `{"at": {name: value, …}}`
    /// (parameters not named at their initial values), answered at once: one evaluation of the
    /// model, and its Jacobian (one backward pass per bin) when `"band"` asks for one: `"constraints"` (the
    /// pre-fit widths) or `{"fit_job": ID}` (the covariance of a finished fit job on this workspace).
    private func yields(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let id = try uuid(context)
        let loaded = try await state.loadedModel(id, owner: context.owner)
        let body = try await Storage.collect(request, limit: ServiceConfiguration.maximumJobRequestBytes)
        let parsed: JSON
        do { parsed = try JSONParser.parse(body) } catch {
            throw ServiceError(.badRequest, "the request is not valid JSON: \(error)", code: "syntax")
        }
        guard case .object(let o) = parsed else { throw ServiceError(.badRequest, "the request must be a JSON object {\"at\": {…}}", code: "request", path: "/") }
        for key in o.keys where !["at", "band", "exclude"].contains(key) {
            throw ServiceError(.badRequest, "unknown member \"\(key)\"; allowed: at, band, exclude", code: "request", path: "/\(key)")
        }
        let exclude = try JobRequest.modifierNames(o["exclude"], "/exclude")
        var at = ParameterValues()
        if let value = o["at"] {
            do { at = try ParameterValues(json: value, at: JSONPointer(tokens: ["at"])) } catch {
                throw ServiceError(.badRequest, error.message, code: error.code.name, path: error.path.map { "/" + $0.tokens.joined(separator: "/") })
            }
        }
        var band: YieldsTask.Band? = nil
        switch o["band"] {
        case nil, .null?: break
        case .string("constraints")?: band = .constraints
        case .object(let b)? where b.count == 1 && b["fit_job"]?.stringValue != nil:
            band = try await fitCovariance(b["fit_job"]!.stringValue!, workspace: id, owner: context.owner)
        default:
            throw ServiceError(.badRequest, "\"band\" must be \"constraints\" or {\"fit_job\": ID}", code: "request", path: "/band")
        }
        let task = YieldsTask(at: at, band: band, exclude: exclude)
        let result: Result<JSON, ServiceError> = await onDedicatedThread {
            do { return .success(try task.run(on: loaded).jsonValue) } catch let error as HistFactoryError {
                return .failure(ServiceError(error))
            } catch {
                return .failure(ServiceError(.internalServerError, "\(error)"))
            }
        }
        return json(.ok, try result.get())
    }

    /// The covariance `C_ij = ρ_ij σ̂_i σ̂_j` of the free parameters of a finished fit job's
    /// `fit.json` (the job must have run on `workspace`).
    private func fitCovariance(_ text: String, workspace: UUID, owner: String) async throws -> YieldsTask.Band {
        guard let jobID = UUID(uuidString: text) else { throw ServiceError(.badRequest, "\"\(text)\" is not a job id", code: "request", path: "/band/fit_job") }
        let job = try await state.job(jobID, owner: owner)
        guard job.workspaceID == workspace, job.request.kind == "fit", job.state == .done else {
            throw ServiceError(.conflict, "job \(text) is not a finished fit of this workspace", path: "/band/fit_job")
        }
        let report = try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: jobsDirectory + "/" + text.lowercased() + "/fit.json")))
        guard case .object(let parameters)? = report["parameters"], case .array(let rows)? = report["correlations"], rows.count == parameters.count else {
            throw ServiceError(.conflict, "the fit of job \(text) has no correlations (uncertainties were not computed)", path: "/band/fit_job")
        }
        let sigma = parameters.values.map { $0["uncertainty"]?.doubleValue ?? 0 }
        let kept = sigma.indices.filter { sigma[$0] > 0 && sigma[$0].isFinite }
        let matrix = kept.map { i in kept.map { j in (rows[i].arrayValue?[j].doubleValue ?? 0) * sigma[i] * sigma[j] } }
        return .covariance(parameters: kept.map { parameters.keys[$0] }, matrix: matrix)
    }

    /// POST /v1/workspaces/{id}/patched: `{"patchset": {…a pyhf PatchSet…}, "patch": "name"}` →
    /// a new workspace, this one with the patch applied (the patch set's digest is checked).
    private func patched(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let record = try await state.workspace(try uuid(context), owner: context.owner)
        let workspace = try await state.loadedModel(record.id, owner: context.owner).workspace
        let body = try await receivedBody(request, context)
        let result: Result<Data, ServiceError> = await onDedicatedThread {
            Self.applyPatch(body, to: workspace, members: ["patchset", "patch"], hiding: record.directory)
        }
        return try await createWorkspace(try result.get(), owner: context.owner, filesFrom: record.directory)
    }

    /// POST /v1/patched: `{"workspace": {…}, "patchset": {…}, "patch": "name"}` → a new workspace,
    /// the given one with the patch applied. For a HEPData-style background-only workspace, which
    /// is not a valid model on its own (its POI is defined by the signal patch).
    private func patchedUpload(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let body = try await receivedBody(request, context)
        let result: Result<Data, ServiceError> = await onDedicatedThread {
            Self.applyPatch(body, to: nil, members: ["workspace", "patchset", "patch"], hiding: nil)
        }
        return try await createWorkspace(try result.get(), owner: context.owner, filesFrom: nil)
    }

    /// The patched workspace's JSON, from a request with `patchset`, `patch` and, when `workspace`
    /// is nil, `workspace` (read, not built into a model: a background-only one has no POI).
    private static func applyPatch(_ body: Data, to workspace: Workspace?, members: Set<String>, hiding directory: String?) -> Result<Data, ServiceError> {
        do {
            let request: JSON
            do { request = try JSONParser.parse(body) } catch {
                throw ServiceError(.badRequest, "the request is not valid JSON: \(error)", code: "syntax")
            }
            let shape = members.contains("workspace") ? "{\"workspace\": {…}, \"patchset\": {…}, \"patch\": \"name\"}" : "{\"patchset\": {…}, \"patch\": \"name\"}"
            guard case .object(let o) = request, let setJSON = o["patchset"], let name = o["patch"]?.stringValue,
                  Set(o.keys) == members else {
                throw ServiceError(.badRequest, "expected \(shape)", code: "request", path: "/")
            }
            let base = try workspace ?? Workspace(json: o["workspace"]!, modifiers: .efthf)
            // A plain RFC 6902 JSON Patch (HEPData's patch.NAME.json files) has no names or digests.
            if case .array = setJSON { return .success(Data(try base.applying(patch: setJSON, label: "patch \"\(name)\"").json.serialized().utf8)) }
            let set = try PatchSet(json: setJSON)
            let patchedWorkspace = try set.apply(try set.patch(named: name), to: base)
            return .success(Data(patchedWorkspace.json.serialized().utf8))
        } catch let error as HistFactoryError {
            return .failure(ServiceError(error, hiding: directory))
        } catch {
            return .failure(error as? ServiceError ?? ServiceError(.internalServerError, "\(error)"))
        }
    }

    /// The example workspaces: the `*.json` files of the examples directory, sorted.
    private func exampleNames() -> [String] {
        guard let directory = configuration.examplesDirectory,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".json") && (try? Storage.relativePath($0)) != nil }.sorted()
    }

    /// POST /v1/examples/{name}: a new workspace from an example, with its event-database files.
    private func loadExample(_ context: ServiceRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard let directory = configuration.examplesDirectory, exampleNames().contains(name) else {
            throw ServiceError(.notFound, "no example \"\(name)\"; the examples are: \(exampleNames().joined(separator: ", "))")
        }
        let body = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        return try await createWorkspace(body, owner: context.owner, filesFrom: directory)
    }

    // MARK: Helpers

    func uuid(_ context: ServiceRequestContext) throws(ServiceError) -> UUID {
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else { throw ServiceError(.notFound, "\"\(text)\" is not a job or workspace id (a UUID)") }
        return id
    }

    func json(_ status: HTTPResponse.Status, _ value: JSON, location: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let location { headers[.location] = location }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.serialized() + "\n")))
    }

    /// The event-database files an extended workspace names (`data.file` of every `event_database`
    /// modifier), each checked by ``Storage/relativePath(_:what:)``: an uploaded workspace must not
    /// make the server read outside its own directory.
    static func eventDatabaseFiles(_ json: JSON) throws(ServiceError) -> [String] {
        guard json["version"]?.stringValue == WorkspaceVersion.efthfExtended else { return [] }
        var files: [String] = []
        for (ci, channel) in (json["channels"]?.arrayValue ?? []).enumerated() {
            for (si, sample) in (channel["samples"]?.arrayValue ?? []).enumerated() {
                for (mi, modifier) in (sample["modifiers"]?.arrayValue ?? []).enumerated() where modifier["type"]?.stringValue == "event_database" {
                    guard let file = modifier["data"]?["file"]?.stringValue else { continue }  // validation reports it
                    let path = "/channels/\(ci)/samples/\(si)/modifiers/\(mi)/data/file"
                    do {
                        let name = try Storage.relativePath(file, what: "event-database file")
                        if !files.contains(name) { files.append(name) }
                    } catch {
                        throw ServiceError(.unprocessableContent, "at \(path): \(error.message)", code: "schema", path: path)
                    }
                }
            }
        }
        return files
    }

    /// Full validation, with event-database paths resolved against the workspace's directory.
    static func validate(_ json: JSON, directory: String) throws(ServiceError) -> LoadedModel {
        do {
            let workspace = try Workspace(json: json, file: directory + "/" + Storage.workspaceFileName, modifiers: .efthf)
            // Built once here, so a model error is a 422 at upload rather than a failed job, and
            // kept for the summary and the yields at a point.
            return try LoadedModel(workspace: workspace)
        } catch {
            throw ServiceError(error, hiding: directory)
        }
    }
}

/// The version reported by GET /v1/health.
public let efthfServiceVersion = "0.1.0"

/// The worker pool: `configuration.workers` loops, each taking the next job from the queue and
/// computing it on a thread of its own. On graceful shutdown they stop taking jobs and finish the
/// ones they have.
struct Workers: Service {
    let server: EFTHFServer

    func run() async {
        let state = server.state
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<server.configuration.workers {
                        group.addTask {
                            while let next = await state.next() {
                                await server.execute(next.0, on: next.1)
                            }
                        }
                    }
                }
            } onGracefulShutdown: {
                Task { await state.shutDown() }
            }
        } onCancel: {
            Task { await state.shutDown() }
        }
    }
}

extension EFTHFServer {
    /// Computes a job and writes its files (each atomically) before marking it done.
    func execute(_ job: JobRecord, on workspace: Workspace) async {
        let directory = persistence.directory(ofJob: job.id)
        let workspacesDirectory = self.workspacesDirectory
        let result: Result<(summary: JSON?, bytes: Int), ServiceError> = await onDedicatedThread {
            do {
                let (files, summary) = try job.request.run(on: workspace, progress: { done, total in job.progress.set(done, total) },
                                                           cancellation: job.cancellation)
                for (name, data) in files { try Storage.writeAtomically(data, to: directory + "/" + name) }
                return .success((summary, files.reduce(0) { $0 + $1.1.count }))
            } catch let error as HistFactoryError {
                return .failure(ServiceError(error, hiding: workspacesDirectory))
            } catch let error as InferenceError {
                return .failure(ServiceError(error))
            } catch {
                return .failure(error as? ServiceError ?? ServiceError(.internalServerError, "\(error)"))
            }
        }
        await state.finish(job.id, result)
    }
}

/// Removes expired workspaces and jobs (``ServiceState/sweep(now:)``) every `every`, until the
/// server shuts down.
struct ExpirySweep: Service {
    let state: ServiceState
    let every: Duration

    /// A tenth of the expiry time, from 1 s to 1 min: an item outlives its expiry by at most that.
    static func interval(_ expireAfter: Duration) -> Duration {
        min(max(expireAfter / 10, .seconds(1)), .seconds(60))
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await state.sweep()
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: every) } } catch { return }
        }
    }
}
