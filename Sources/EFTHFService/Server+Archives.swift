import EFTHF
import Foundation
import Hummingbird

/// HEPData-style likelihood archives (Specs/service.md, "Archives"): the body is received to
/// disk like every upload, then read by the library's ``HEPDataArchive``.
extension EFTHFServer {
    /// What an archive request selects: the workspace member, the patch-set member, the patch.
    struct ArchiveSelection: Sendable {
        var workspace: String?
        var patchSet: String?
        var patch: String?
        var isEmpty: Bool { workspace == nil && patchSet == nil && patch == nil }

        init(workspace: String?, patchSet: String?, patch: String?) {
            self.workspace = workspace
            self.patchSet = patchSet
            self.patch = patch
        }

        /// `?workspace=MEMBER&patchset=MEMBER&patch=NAME`; any other query parameter is a 400.
        init(query: [(key: String, value: String)]) throws(ServiceError) {
            for (key, _) in query where !["workspace", "patchset", "patch"].contains(key) {
                throw ServiceError(.badRequest, "unknown query parameter \"\(key)\"; allowed: workspace, patchset, patch", code: "request")
            }
            func value(_ key: String) throws(ServiceError) -> String? {
                let values = query.filter { $0.key == key }.map(\.value)
                guard let v = values.first else { return nil }
                guard values.count == 1 else { throw ServiceError(.badRequest, "the query parameter \"\(key)\" is given \(values.count) times", code: "request") }
                guard !v.isEmpty else { throw ServiceError(.badRequest, "the query parameter \"\(key)\" is empty", code: "request") }
                return v
            }
            self.init(workspace: try value("workspace"), patchSet: try value("patchset"), patch: try value("patch"))
        }
    }

    /// The answer to an archive: without a selection its listing (200), with one a new workspace
    /// (201), the selected workspace with the selected patch applied.
    enum ArchiveOutcome: Sendable {
        case listing(JSON)
        case workspace(Data)
    }

    /// POST /v1/archives[?workspace=&patchset=&patch=]: the body is a .tar, .tar.gz or .zip.
    func uploadArchive(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let selection = try ArchiveSelection(query: request.uri.queryParameters.map { (key: String($0.key), value: String($0.value)) })
        if !selection.isEmpty { try await state.checkWorkspaceQuota(context.owner) }
        let upload = try await receiveUpload(request, context)
        defer { try? FileManager.default.removeItem(atPath: upload.path) }
        return try await archiveResponse(path: upload.path, selection: selection, owner: context.owner)
    }

    /// Reads the archive at `path` (on a thread of its own: unpacking and parsing take a while)
    /// and answers with its listing or the selected workspace, stored as a new one.
    func archiveResponse(path: String, selection: ArchiveSelection, owner: String) async throws -> Response {
        let limits = configuration.archiveLimits
        let outcome: Result<ArchiveOutcome, ServiceError> = await onDedicatedThread {
            do {
                let archive = try HEPDataArchive(path: path, limits: limits)
                if selection.isEmpty { return .success(.listing(archive.listing)) }
                let workspace = try archive.workspace(member: selection.workspace, patchSet: selection.patchSet, patch: selection.patch)
                return .success(.workspace(Data(workspace.json.serialized().utf8)))
            } catch let error as ArchiveError {
                return .failure(ServiceError(error))
            } catch {
                return .failure(ServiceError(.internalServerError, "\(error)"))
            }
        }
        switch try outcome.get() {
        case .listing(let listing): return json(.ok, listing)
        case .workspace(let document): return try await createWorkspace(document, owner: owner, filesFrom: nil)
        }
    }

    /// GET /v1/workspaces/{id}/workspace.json: the workspace document as stored (uploaded, or
    /// made from an archive, an example or a patch).
    func workspaceDocument(_ context: ServiceRequestContext) async throws -> Response {
        let record = try await state.workspace(try uuid(context), owner: context.owner)
        let path = record.directory + "/" + Storage.workspaceFileName
        let result: Result<Data, ServiceError> = await onDedicatedThread {
            do { return .success(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                return .failure(ServiceError(.notFound, "the workspace's document is no longer stored"))
            }
        }
        return Response(status: .ok, headers: [.contentType: "application/json", .contentDisposition: "attachment; filename=\"workspace.json\""],
                        body: .init(byteBuffer: ByteBuffer(bytes: try result.get())))
    }
}

extension ServiceError {
    /// An archive the library refuses: 413 when a limit is passed, else 422; `code` is the
    /// library's (`archive format`, `truncated archive`, `unsafe archive member`, …).
    init(_ error: ArchiveError) {
        self.init(error.code == .limit ? .contentTooLarge : .unprocessableContent, "archive: \(error.description)", code: error.code.name)
    }
}
