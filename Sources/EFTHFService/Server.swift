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
    /// Where uploads and results are kept: `workspaces/ID/` and `jobs/ID/`.
    public var dataDirectory: String
    /// Example workspaces offered by `GET /v1/examples`: every `*.json` workspace in this
    /// directory, with the event-database files they name beside them (nil: none).
    public var examplesDirectory: String?

    /// Largest job request body: a job request is a small JSON object.
    public static let maximumJobRequestBytes = 1 << 20

    public init(host: String = "127.0.0.1", port: Int = 8080, workers: Int = 2, queueLimit: Int = 64,
                maxUploadBytes: Int = 256 << 20, dataDirectory: String? = nil, examplesDirectory: String? = nil) {
        self.host = host
        self.port = port
        self.workers = workers
        self.queueLimit = queueLimit
        self.maxUploadBytes = maxUploadBytes
        self.dataDirectory = dataDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("efthf-serve-\(UUID().uuidString.lowercased())").path
        self.examplesDirectory = examplesDirectory
    }
}

/// The HTTP service (Specs/service.md): uploads of workspaces with their event databases,
/// export, patch-set and fit jobs in a bounded queue served by a fixed number of workers, and
/// their results, which are downloadable only once completely written.
///
/// State lives in memory (``ServiceState``); files under the data directory. A restarted server
/// starts empty.
public struct EFTHFServer: Sendable {
    public let configuration: ServiceConfiguration
    let state: ServiceState
    let workspacesDirectory: String
    let jobsDirectory: String

    /// Checks the configuration and creates the data directory.
    public init(configuration: ServiceConfiguration) throws {
        guard configuration.workers >= 1 else { throw ServiceError(.internalServerError, "workers must be at least 1, not \(configuration.workers)") }
        guard configuration.queueLimit >= 0 else { throw ServiceError(.internalServerError, "the queue limit must not be negative") }
        guard configuration.maxUploadBytes >= 1 else { throw ServiceError(.internalServerError, "the upload limit must be positive") }
        let root = URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
        self.configuration = configuration
        state = ServiceState(queueLimit: configuration.queueLimit)
        workspacesDirectory = root + "/workspaces"
        jobsDirectory = root + "/jobs"
        for directory in [workspacesDirectory, jobsDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    /// The application: the router with its workers as a service, bound to host:port.
    public func application() -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "efthf"),
            services: [Workers(server: self)]
        )
    }

    /// The routes; every error answer is JSON (``JSONErrorMiddleware``).
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        // The workspace explorer: a static page over the API below (Specs/service.md, "Explorer").
        router.get("/") { _, _ in try ExplorerAssets.response("index.html") }
        router.get("explorer/:name") { _, context in try ExplorerAssets.response(context.parameters.get("name") ?? "") }
        let v1 = router.group("v1")
        v1.get("health") { _, _ in try await health() }
        v1.post("workspaces") { request, _ in
            try await createWorkspace(try await Storage.collect(request, limit: configuration.maxUploadBytes), filesFrom: nil)
        }
        v1.get("workspaces/:id") { _, context in
            json(.ok, try await state.workspace(try uuid(context)).json)
        }
        v1.get("workspaces/:id/summary") { _, context in try await summary(context) }
        v1.post("workspaces/:id/yields") { request, context in try await yields(request, context) }
        v1.post("workspaces/:id/patched") { request, context in try await patched(request, context) }
        v1.post("patched") { request, _ in try await patchedUpload(request) }
        v1.get("examples") { _, _ in json(.ok, .object(JSONObject([("examples", .array(exampleNames().map { .string($0) }))]))) }
        v1.post("examples/:name") { _, context in try await loadExample(context) }
        v1.delete("workspaces/:id") { _, context in
            let record = try await state.removeWorkspace(try uuid(context))
            try? FileManager.default.removeItem(atPath: record.directory)
            return Response(status: .noContent)
        }
        v1.put("workspaces/:id/files/:name") { request, context in try await uploadFile(request, context) }
        v1.post("workspaces/:id/jobs") { request, context in try await submit(request, context) }
        v1.get("jobs/:id") { _, context in json(.ok, try await state.job(try uuid(context)).json) }
        v1.get("jobs/:id/files/:name") { _, context in try await download(context) }
        v1.delete("jobs/:id") { _, context in
            let job = try await state.delete(try uuid(context))
            if job.state != .cancelled { try? FileManager.default.removeItem(atPath: jobsDirectory + "/" + job.id.uuidString.lowercased()) }
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
        ])))
    }

    /// POST /v1/workspaces: the body is the workspace JSON. A workspace without event databases is
    /// validated at once; one with them waits for its files (state "awaiting_files"), unless
    /// `filesFrom` is a directory that holds them (an example), from which they are copied.
    private func createWorkspace(_ body: Data, filesFrom: String?) async throws -> Response {
        let id = UUID()
        let directory = workspacesDirectory + "/" + id.uuidString.lowercased()
        let outcome: Result<WorkspaceRecord, ServiceError> = await onDedicatedThread {
            do {
                let json: JSON
                do { json = try JSONParser.parse(body) } catch {
                    throw ServiceError(.badRequest, "the workspace is not valid JSON: \(error)", code: "syntax")
                }
                let required = try Self.eventDatabaseFiles(json)
                try Storage.writeAtomically(body, to: directory + "/" + Storage.workspaceFileName)
                var record = WorkspaceRecord(id: id, directory: directory, requiredFiles: required)
                if let filesFrom {
                    for name in required {
                        let destination = directory + "/" + name
                        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: destination).deletingLastPathComponent().path, withIntermediateDirectories: true)
                        try FileManager.default.copyItem(atPath: filesFrom + "/" + name, toPath: destination)
                        record.uploaded.insert(name)
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
        await state.add(record)
        return json(.created, record.json, location: "/v1/workspaces/\(id.uuidString.lowercased())")
    }

    /// PUT /v1/workspaces/{id}/files/{name}: the body is the file, streamed to disk. The last
    /// missing file triggers validation of the workspace: 422 with the reason if it fails.
    private func uploadFile(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try uuid(context)
        let raw = context.parameters.get("name") ?? ""
        let name = try Storage.relativePath(raw.removingPercentEncoding ?? raw)
        let record = try await state.beginUpload(id, name: name)
        let destination = record.directory + "/" + name
        let temporary = URL(fileURLWithPath: destination).deletingLastPathComponent().appendingPathComponent(".upload-\(UUID().uuidString).tmp").path
        do {
            try Storage.checkDeclaredLength(request, limit: configuration.maxUploadBytes)
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: temporary).deletingLastPathComponent().path, withIntermediateDirectories: true)
            try await FileIO().writeFile(contents: LimitedBody(base: request.body, limit: configuration.maxUploadBytes), path: temporary, context: context)
            try Storage.rename(temporary, to: destination)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            _ = await state.endUpload(id, name: name, succeeded: false)
            throw error
        }
        guard var updated = await state.endUpload(id, name: name, succeeded: true) else {
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

    /// POST /v1/workspaces/{id}/jobs: 202 with the queued (or already running) job.
    private func submit(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try uuid(context)
        let body = try await Storage.collect(request, limit: ServiceConfiguration.maximumJobRequestBytes)
        let parsed: JSON
        do { parsed = try JSONParser.parse(body) } catch {
            throw ServiceError(.badRequest, "the job request is not valid JSON: \(error)", code: "syntax")
        }
        let job = try await state.submit(try JobRequest(json: parsed), workspace: id)
        return json(.accepted, job.json, location: "/v1/jobs/\(job.id.uuidString.lowercased())")
    }

    /// GET /v1/jobs/{id}/files/{name}: only for a job in state "done", whose files were renamed
    /// into place before it was marked done, so a download never sees a partial file.
    private func download(_ context: BasicRequestContext) async throws -> Response {
        let job = try await state.job(try uuid(context))
        let name = context.parameters.get("name") ?? ""
        guard job.state == .done else {
            let reason = job.error.map { ": \($0.message)" } ?? "; poll GET /v1/jobs/\(job.id.uuidString.lowercased()) until its state is \"done\""
            throw ServiceError(.conflict, "the job is \(job.state.rawValue)\(reason)")
        }
        guard job.request.resultFiles.contains(name) else {
            throw ServiceError(.notFound, "a \(job.request.kind) job has no file \"\(name)\"; it has: \(job.request.resultFiles.joined(separator: ", "))")
        }
        let path = jobsDirectory + "/" + job.id.uuidString.lowercased() + "/" + name
        let body = try await FileIO().loadFile(path: path, context: context)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    /// GET /v1/workspaces/{id}/summary: `InspectTask`'s report (structure and validator
    /// warnings, as `efthf inspect --json`), every parameter (``ParameterTable``) and the Wilson
    /// coefficients.
    private func summary(_ context: BasicRequestContext) async throws -> Response {
        let id = try uuid(context)
        let loaded = try await state.loadedModel(id)
        let body: JSON = await onDedicatedThread {
            .object(JSONObject([
                ("inspection", InspectTask().run(on: loaded).report(file: id.uuidString.lowercased()).jsonValue),
                ("parameters", ParameterTable(model: loaded.model).jsonValue),
                ("wilson_coefficients", .array(loaded.workspace.wilsonCoefficients.map { .string($0) })),
            ]))
        }
        return json(.ok, body)
    }

    /// POST /v1/workspaces/{id}/yields: `YieldsTask` at the point `{"at": {name: value, …}}`
    /// (parameters not named at their initial values), answered at once: one evaluation of the
    /// model, and its Jacobian (one backward pass per bin) when `"band"` asks for one: `"constraints"` (the
    /// pre-fit widths) or `{"fit_job": ID}` (the covariance of a finished fit job on this workspace).
    private func yields(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try uuid(context)
        let loaded = try await state.loadedModel(id)
        let body = try await Storage.collect(request, limit: ServiceConfiguration.maximumJobRequestBytes)
        let parsed: JSON
        do { parsed = try JSONParser.parse(body) } catch {
            throw ServiceError(.badRequest, "the request is not valid JSON: \(error)", code: "syntax")
        }
        guard case .object(let o) = parsed else { throw ServiceError(.badRequest, "the request must be a JSON object {\"at\": {…}}", code: "request", path: "/") }
        for key in o.keys where key != "at" && key != "band" {
            throw ServiceError(.badRequest, "unknown member \"\(key)\"; allowed: at, band", code: "request", path: "/\(key)")
        }
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
            band = try await fitCovariance(b["fit_job"]!.stringValue!, workspace: id)
        default:
            throw ServiceError(.badRequest, "\"band\" must be \"constraints\" or {\"fit_job\": ID}", code: "request", path: "/band")
        }
        let task = YieldsTask(at: at, band: band)
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
    private func fitCovariance(_ text: String, workspace: UUID) async throws -> YieldsTask.Band {
        guard let jobID = UUID(uuidString: text) else { throw ServiceError(.badRequest, "\"\(text)\" is not a job id", code: "request", path: "/band/fit_job") }
        let job = try await state.job(jobID)
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
    private func patched(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let record = try await state.workspace(try uuid(context))
        let workspace = try await state.loadedModel(record.id).workspace
        let body = try await Storage.collect(request, limit: configuration.maxUploadBytes)
        let result: Result<Data, ServiceError> = await onDedicatedThread {
            Self.applyPatch(body, to: workspace, members: ["patchset", "patch"], hiding: record.directory)
        }
        return try await createWorkspace(try result.get(), filesFrom: record.directory)
    }

    /// POST /v1/patched: `{"workspace": {…}, "patchset": {…}, "patch": "name"}` → a new workspace,
    /// the given one with the patch applied. For a HEPData-style background-only workspace, which
    /// is not a valid model on its own (its POI is defined by the signal patch).
    private func patchedUpload(_ request: Request) async throws -> Response {
        let body = try await Storage.collect(request, limit: configuration.maxUploadBytes)
        let result: Result<Data, ServiceError> = await onDedicatedThread {
            Self.applyPatch(body, to: nil, members: ["workspace", "patchset", "patch"], hiding: nil)
        }
        return try await createWorkspace(try result.get(), filesFrom: nil)
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
    private func loadExample(_ context: BasicRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard let directory = configuration.examplesDirectory, exampleNames().contains(name) else {
            throw ServiceError(.notFound, "no example \"\(name)\"; the examples are: \(exampleNames().joined(separator: ", "))")
        }
        let body = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        return try await createWorkspace(body, filesFrom: directory)
    }

    // MARK: Helpers

    private func uuid(_ context: BasicRequestContext) throws(ServiceError) -> UUID {
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else { throw ServiceError(.notFound, "\"\(text)\" is not a job or workspace id (a UUID)") }
        return id
    }

    private func json(_ status: HTTPResponse.Status, _ value: JSON, location: String? = nil) -> Response {
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
        let directory = jobsDirectory + "/" + job.id.uuidString.lowercased()
        let workspacesDirectory = self.workspacesDirectory
        let result: Result<JSON?, ServiceError> = await onDedicatedThread {
            do {
                let (files, summary) = try job.request.run(on: workspace, progress: { done, total in job.progress.set(done, total) })
                for (name, data) in files { try Storage.writeAtomically(data, to: directory + "/" + name) }
                return .success(summary)
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
