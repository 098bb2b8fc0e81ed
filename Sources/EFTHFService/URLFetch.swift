import EFTHF
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird

/// Downloads an http(s) URL into a file for `POST /v1/fetch` (Specs/service.md, "Loading from a
/// URL"): at most `limit` bytes (a longer answer is cut off at once, 413), within `timeout`, a
/// non-2xx answer or an unreachable host a 502 naming the URL. Redirects are followed only to
/// http(s) URLs.
///
/// Foundation's URLSession calls the delegate on one serial queue, and ``fetch(_:to:limit:timeout:)``
/// reads the outcome only after the completion has signalled, so the mutable state needs no lock.
final class URLDownload: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let url: URL
    private let handle: FileHandle
    private let limit: Int
    private var received = 0
    private var failure: ServiceError?
    private let finished = DispatchSemaphore(value: 0)

    private init(url: URL, handle: FileHandle, limit: Int) {
        self.url = url
        self.handle = handle
        self.limit = limit
    }

    /// The URL a client gave, checked: http or https with a host.
    static func checked(_ text: String) throws(ServiceError) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw ServiceError(.badRequest, "\"\(text)\" is not an http:// or https:// URL with a host", code: "request", path: "/url")
        }
        return url
    }

    /// Downloads `url` into a new file at `path` (removed again on failure); blocks the calling
    /// thread, so call it on a dedicated one. Returns the byte count.
    static func fetch(_ url: URL, to path: String, limit: Int, timeout: Duration) throws(ServiceError) -> Int {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ServiceError(.internalServerError, "cannot create the download file")
        }
        let download = URLDownload(url: url, handle: handle, limit: limit)
        let configuration = URLSessionConfiguration.ephemeral
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) * 1e-18
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: download, delegateQueue: queue)
        session.dataTask(with: url).resume()
        download.finished.wait()
        session.finishTasksAndInvalidate()
        try? handle.close()
        if let failure = download.failure {
            try? FileManager.default.removeItem(atPath: path)
            throw failure
        }
        return download.received
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if !(200..<300).contains(status) {
            failure = ServiceError(.badGateway, "\(url.absoluteString) answered HTTP \(status)", code: "url fetch", path: "/url")
            completionHandler(.cancel)
        } else if response.expectedContentLength > limit {
            failure = Self.tooLarge(url, limit)
            completionHandler(.cancel)
        } else {
            completionHandler(.allow)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard failure == nil else { return }
        received += data.count
        guard received <= limit else {
            failure = Self.tooLarge(url, limit)
            dataTask.cancel()
            return
        }
        do { try handle.write(contentsOf: data) } catch {
            failure = ServiceError(.internalServerError, "cannot write the download: \(error)")
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        let scheme = request.url?.scheme?.lowercased()
        completionHandler(scheme == "http" || scheme == "https" ? request : nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if let error, failure == nil {
            failure = ServiceError(.badGateway, "cannot fetch \(url.absoluteString): \(error.localizedDescription)", code: "url fetch", path: "/url")
        }
        finished.signal()
    }

    private static func tooLarge(_ url: URL, _ limit: Int) -> ServiceError {
        ServiceError(.contentTooLarge, "\(url.absoluteString) is larger than the limit of \(limit) bytes", code: "url fetch", path: "/url")
    }
}

extension EFTHFServer {
    /// POST /v1/fetch `{"url", "workspace"?, "patchset"?, "patch"?}`: the server downloads the
    /// URL (only with `--allow-url-fetch`) within the upload limits, then reads it as a workspace
    /// (JSON) or an archive (as ``uploadArchive(_:_:)``).
    func fetchURL(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        guard configuration.allowURLFetch else {
            throw ServiceError(.forbidden, "this server does not fetch URLs (start it with --allow-url-fetch); upload the file instead", code: "url fetch")
        }
        let body = try await Storage.collect(request, limit: ServiceConfiguration.maximumJobRequestBytes)
        let parsed: JSON
        do { parsed = try JSONParser.parse(body) } catch {
            throw ServiceError(.badRequest, "the request is not valid JSON: \(error)", code: "syntax")
        }
        let allowed: Set<String> = ["url", "workspace", "patchset", "patch"]
        guard case .object(let o) = parsed, let text = o["url"]?.stringValue else {
            throw ServiceError(.badRequest, "expected {\"url\": \"https://…\", \"workspace\"?, \"patchset\"?, \"patch\"?}", code: "request", path: "/")
        }
        for key in o.keys where !allowed.contains(key) {
            throw ServiceError(.badRequest, "unknown member \"\(key)\"; allowed: \(allowed.sorted().joined(separator: ", "))", code: "request", path: "/\(key)")
        }
        var selection: [(key: String, value: String)] = []
        for key in ["workspace", "patchset", "patch"] {
            guard let value = o[key] else { continue }
            guard let s = value.stringValue else { throw ServiceError(.badRequest, "\"\(key)\" must be a string", code: "request", path: "/\(key)") }
            selection.append((key: key, value: s))
        }
        let select = try ArchiveSelection(query: selection)
        let url = try URLDownload.checked(text)
        try await state.checkWorkspaceQuota(context.owner)
        try await state.beginBody()
        let path = persistence.temporaryDirectory + "/" + UUID().uuidString.lowercased() + ".fetch"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let limit: Int
        do {
            let quota = try await state.byteQuota(of: context.owner)
            limit = min(configuration.maxUploadBytes, quota?.remaining ?? .max)
        } catch {
            await state.endBody()
            throw error
        }
        let timeout = configuration.bodyTimeout
        let fetched: Result<Int, ServiceError> = await onDedicatedThread {
            Result { () throws(ServiceError) -> Int in try URLDownload.fetch(url, to: path, limit: limit, timeout: timeout) }
        }
        await state.endBody()
        _ = try fetched.get()
        // A workspace is JSON (an object); anything else is read as an archive.
        let first: UInt8? = await onDedicatedThread {
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: 4096)) ?? Data()
            return head.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        }
        if first == UInt8(ascii: "{") {
            guard select.isEmpty else {
                throw ServiceError(.badRequest, "\(url.absoluteString) is a JSON document, not an archive: \"workspace\", \"patchset\" and \"patch\" select archive members", code: "request")
            }
            let document: Result<Data, ServiceError> = await onDedicatedThread {
                do { return .success(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                    return .failure(ServiceError(.internalServerError, "cannot read the download: \(error)"))
                }
            }
            return try await createWorkspace(try document.get(), owner: context.owner, filesFrom: nil)
        }
        return try await archiveResponse(path: path, selection: select, owner: context.owner)
    }
}
