import Crypto
import Foundation
import Hummingbird
import NIOCore

/// The bearer tokens `efthf serve --token-file FILE` accepts, each with the owner it stands for.
///
/// The file has one token a line, optionally followed by whitespace and an owner name; blank
/// lines and lines beginning with `#` are ignored:
///
/// ```
/// # token                               owner
/// 3f1c0d9e8b7a6c5d4e3f2a1b0c9d8e7f      alice
/// 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d      alice
/// 0f1e2d3c4b5a69788796a5b4c3d2e1f0
/// ```
///
/// A token is 16 to 256 visible ASCII characters; an owner name 1 to 64 of `[A-Za-z0-9._-]`.
/// Tokens with the same owner share that owner's workspaces and jobs (a token can be replaced by
/// a new one without losing them); a token without a name is its own owner, named
/// `token-` + the first 12 hex digits of its SHA-256. Only SHA-256 digests are kept in memory,
/// and a presented token is compared with every digest in constant time.
public struct AccessTokens: Sendable {
    struct Entry: Sendable {
        let digest: [UInt8]
        let owner: String
    }

    let entries: [Entry]

    public static let tokenLengths = 16...256
    public static let maximumFileBytes = 1 << 20

    /// The owners the file names, in order of first appearance.
    public var owners: [String] {
        var seen: [String] = []
        for entry in entries where !seen.contains(entry.owner) { seen.append(entry.owner) }
        return seen
    }

    /// Reads a token file; a malformed line is an error naming the file and the line number.
    public init(contentsOf path: String) throws(ServiceError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ServiceError(.internalServerError, "\(path): cannot read the token file: \(error.localizedDescription)", code: "tokens")
        }
        guard data.count <= Self.maximumFileBytes else {
            throw ServiceError(.internalServerError, "\(path): the token file is larger than \(Self.maximumFileBytes) bytes", code: "tokens")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ServiceError(.internalServerError, "\(path): the token file is not UTF-8 text", code: "tokens")
        }
        try self.init(parsing: text, file: path)
    }

    public init(parsing text: String, file: String = "token file") throws(ServiceError) {
        func bad(_ line: Int, _ message: String) -> ServiceError {
            ServiceError(.internalServerError, "\(file):\(line): \(message)", code: "tokens")
        }
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count <= 2 else { throw bad(index + 1, "expected \"TOKEN [OWNER]\", found \(fields.count) fields") }
            let token = String(fields[0])
            guard Self.tokenLengths.contains(token.utf8.count), token.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
                throw bad(index + 1, "a token must be \(Self.tokenLengths.lowerBound) to \(Self.tokenLengths.upperBound) visible ASCII characters (found \(token.utf8.count))")
            }
            let digest = Array(SHA256.hash(data: Array(token.utf8)))
            var owner = "token-" + digest.prefix(6).map { String(format: "%02x", $0) }.joined()
            if fields.count == 2 {
                owner = String(fields[1])
                guard (1...64).contains(owner.count), owner.allSatisfy(nameCharacters.contains) else {
                    throw bad(index + 1, "invalid owner name \"\(owner)\": use 1 to 64 of letters, digits, '.', '_', '-'")
                }
            }
            guard !entries.contains(where: { $0.digest == digest }) else { throw bad(index + 1, "the token is listed twice") }
            entries.append(Entry(digest: digest, owner: owner))
        }
        guard !entries.isEmpty else { throw ServiceError(.internalServerError, "\(file): the token file lists no token", code: "tokens") }
        self.entries = entries
    }

    /// The owner of `token`, or nil. Every digest is compared in full, so the time taken does not
    /// depend on where (or whether) the token matches, nor on how many leading bytes agree.
    func owner(of token: some StringProtocol) -> String? {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Int? = nil
        for (index, entry) in entries.enumerated() {
            var difference: UInt8 = 0
            for i in 0..<digest.count { difference |= digest[i] ^ entry.digest[i] }
            if difference == 0 { found = index }
        }
        return found.map { entries[$0].owner }
    }
}

/// Whether `host` is a loopback address (127.0.0.0/8, ::1 or "localhost"), the only kind of
/// address `efthf serve --no-auth` may listen on.
public func isLoopback(_ host: String) -> Bool {
    if host == "localhost" || host == "::1" || host == "[::1]" { return true }
    let octets = host.split(separator: ".", omittingEmptySubsequences: false)
    guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
    return octets[0] == "127"
}

/// The request context of the service: Hummingbird's core context plus the owner named by the
/// request's bearer token and the connection, which a handler closes after refusing a body
/// (a slow or oversized one) so that the server does not read the rest of it.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The owner of the request's token; "" when the server runs without authentication.
    public var owner = ""
    let channel: any NIOCore.Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Stops reading the connection: the answer being written still goes out, then the
    /// connection is closed instead of the rest of the body being read and discarded.
    func closeInput() {
        channel.close(mode: .input, promise: nil)
    }
}

/// Requires `Authorization: Bearer TOKEN` on every API route (`/v1/…`) when the server has
/// tokens, and sets the context's owner; 401 otherwise. The explorer's static files need none.
struct AuthenticationMiddleware: RouterMiddleware {
    let tokens: AccessTokens?

    func handle(_ request: Request, context: ServiceRequestContext, next: (Request, ServiceRequestContext) async throws -> Response) async throws -> Response {
        guard let tokens, request.uri.path == "/v1" || request.uri.path.hasPrefix("/v1/") else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else {
            throw ServiceError(.unauthorized, "this server needs an access token: send \"Authorization: Bearer TOKEN\"", code: "authentication")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw ServiceError(.unauthorized, "the Authorization header must be \"Bearer TOKEN\"", code: "authentication")
        }
        guard let owner = tokens.owner(of: parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw ServiceError(.unauthorized, "the access token is not valid on this server", code: "authentication")
        }
        var context = context
        context.owner = owner
        return try await next(request, context)
    }
}
