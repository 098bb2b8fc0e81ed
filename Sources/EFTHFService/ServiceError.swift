import EFTHF
import Hummingbird

/// A failed request: the HTTP status and a JSON body `{"error": message, "code"?, "path"?}`.
///
/// Every error the service returns has this shape, so that clients parse one thing; library
/// errors keep their code and JSON Pointer (`path`) so the client can find the offending value.
public struct ServiceError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    public let status: HTTPResponse.Status
    public let message: String
    /// The library's error code ("schema", "parameter", …), when the error came from the library.
    public let code: String?
    /// The JSON Pointer of the offending value in the uploaded document, when known.
    public let path: String?

    public init(_ status: HTTPResponse.Status, _ message: String, code: String? = nil, path: String? = nil) {
        self.status = status
        self.message = message
        self.code = code
        self.path = path
    }

    /// A library error as a 422 (the request was well-formed but its content is not acceptable),
    /// or a 400 for a JSON syntax error. `directory` is cut from messages so that server paths
    /// never reach the client.
    init(_ error: HistFactoryError, hiding directory: String? = nil) {
        var message = error.message
        if let directory { message = message.replacingOccurrences(of: directory + "/", with: "") }
        let status: HTTPResponse.Status = error.code == .syntax ? .badRequest : .unprocessableContent
        let path = error.path.map { $0.description.isEmpty ? "/" : $0.description }
        self.init(status, path.map { "at \($0): \(message)" } ?? message, code: error.code.name, path: path)
    }

    init(_ error: InferenceError) {
        self.init(.unprocessableContent, error.message, code: error.code.name)
    }

    public var description: String { "\(status.code) \(message)" }

    public var json: JSON {
        var o = JSONObject([("error", .string(message))])
        if let code { o["code"] = .string(code) }
        if let path { o["path"] = .string(path) }
        return .object(o)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }

    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .serviceUnavailable || status == .tooManyRequests { headers[.retryAfter] = "1" }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"efthf\"" }
        // A body too slow to wait for is not read further: the connection closes.
        if status == .requestTimeout { headers[.connection] = "close" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.serialized() + "\n")))
    }
}

/// Turns every error a route throws into a JSON error response: ours as they are, Hummingbird's
/// (404 for an unknown route, 413 from a size limit) with their status, anything else as a 500
/// whose detail goes to the log only. The server never answers with a non-JSON error body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServiceError {
            return error.response
        } catch let error as HTTPError {
            return ServiceError(error.status, error.body ?? error.status.reasonPhrase).response
        } catch let error as any HTTPResponseError {
            return ServiceError(error.status, error.status.reasonPhrase).response
        } catch {
            context.logger.error("internal error: \(error)")
            return ServiceError(.internalServerError, "internal error").response
        }
    }
}
