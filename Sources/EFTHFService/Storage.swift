import EFTHF
import Foundation
import Hummingbird

/// File names and writes under the data directory.
///
/// Everything a client names (an event-database file of its workspace) passes ``relativePath(_:)``
/// before it touches the file system, and every file is written under a temporary name beginning
/// with "." and renamed into place, so a reader never sees a half-written file and client names,
/// which cannot begin with ".", never collide with temporary ones.
enum Storage {
    /// The name under which an uploaded workspace is kept in its directory; databases may not use it.
    static let workspaceFileName = "workspace.json"

    /// `name` if it is a safe relative path: 1 to 8 non-empty segments of [A-Za-z0-9._+-] that do
    /// not begin with "." (so no "..", no hidden or temporary names), at most 255 characters in all.
    static func relativePath(_ name: String, what: String = "file name") throws(ServiceError) -> String {
        let segments = name.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
        guard !name.isEmpty, name.count <= 255, segments.count <= 8,
            segments.allSatisfy({ !$0.isEmpty && $0.first != "." && $0.allSatisfy(allowed.contains) })
        else {
            throw ServiceError(.badRequest, "invalid \(what) \"\(name)\": use a relative path of up to 8 segments of letters, digits, '.', '_', '+', '-' without a leading '.' (no absolute paths, no \"..\")")
        }
        guard name != workspaceFileName else {
            throw ServiceError(.badRequest, "invalid \(what) \"\(name)\": the name is reserved for the workspace itself")
        }
        return name
    }

    /// Writes `data` to `path` atomically (``AtomicFiles``).
    static func writeAtomically(_ data: Data, to path: String) throws {
        try AtomicFiles.write([OutputFile(path: path, contents: data)])
    }

    static func rename(_ from: String, to: String) throws {
        if Foundation.rename(from, to) != 0 {
            throw ServiceError(.internalServerError, "cannot rename a temporary file: \(String(cString: strerror(errno)))")
        }
    }

    /// A 413 before reading anything when the declared Content-Length is over `limit`.
    static func checkDeclaredLength(_ request: Request, limit: Int) throws(ServiceError) {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw tooLarge(limit)
        }
    }

    static func tooLarge(_ limit: Int) -> ServiceError {
        ServiceError(.contentTooLarge, "the request body is larger than the limit of \(limit) bytes")
    }

    /// The whole request body, or a 413 as soon as it passes `limit` bytes (small JSON requests only).
    static func collect(_ request: Request, limit: Int) async throws -> Data {
        try checkDeclaredLength(request, limit: limit)
        var data = Data()
        for try await chunk in request.body {
            guard data.count + chunk.readableBytes <= limit else { throw tooLarge(limit) }
            data.append(contentsOf: chunk.readableBytesView)
        }
        return data
    }

    /// Streams the request body to the file `path`, holding one chunk at a time in memory (the
    /// body is read only as fast as the file is written); returns the number of bytes.
    ///
    /// Refused: over `limit` bytes (413, before reading anything when Content-Length says so),
    /// over the owner's `quota` of remaining bytes (403), not complete within `timeout` (408).
    /// After a 408 the connection stops being read and is closed once the answer is out (a slow
    /// client is not waited for again); after a 413 or 403 the server reads and discards the rest
    /// of the body, one chunk at a time, so that the client reliably receives the answer. The
    /// file is the caller's to remove on failure.
    static func receive(_ request: Request, context: ServiceRequestContext, to path: String,
                        limit: Int, quota: ByteQuota?, timeout: Duration) async throws -> Int {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > limit { throw tooLarge(limit) }
        if let quota, let declared, declared > quota.remaining { throw quota.exceeded(adding: declared) }
        let body = CountedBody(base: request.body, limit: limit, quota: quota)
        let counter = body.counter
        return try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                try await FileIO().writeFile(contents: body, path: path, context: context)
                try Task.checkCancellation()
                return counter.value
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            guard let count = first else {
                // The writer may be waiting for bytes that come slowly: closing the input ends
                // its wait, and cancellation makes it stop at once.
                context.closeInput()
                group.cancelAll()
                throw ServiceError(.requestTimeout, "the request body was not received within \(timeout.components.seconds) s (\(counter.value) bytes arrived); send it faster or in smaller files", code: "timeout")
            }
            group.cancelAll()
            return count
        }
    }
}

/// The bytes of a body counted so far, shared between the writer and the timeout's message.
final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`.
    private var count = 0

    func add(_ n: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        count += n
        return count
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}

/// The request body, failing with a 413 once more than `limit` bytes have passed, or with the
/// quota's error once more than its remaining bytes have, and stopping when its task is
/// cancelled; so an upload streams to disk without ever holding more than one chunk in memory.
struct CountedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let limit: Int
    let quota: ByteQuota?
    let counter = ByteCounter()

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int
        let quota: ByteQuota?
        let counter: ByteCounter

        mutating func next() async throws -> ByteBuffer? {
            try Task.checkCancellation()
            guard let chunk = try await base.next() else { return nil }
            try Task.checkCancellation()
            let count = counter.add(chunk.readableBytes)
            guard count <= limit else { throw Storage.tooLarge(limit) }
            if let quota, count > quota.remaining { throw quota.exceeded(adding: count) }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), limit: limit, quota: quota, counter: counter) }
}

/// Runs blocking work (JSON parsing, HDF5 reads, fits) on a thread of its own rather than on
/// Swift's cooperative pool, whose few threads (one per core) also serve every HTTP request: a
/// fit there would stall polls and uploads for its whole duration. On Linux the thread also runs
/// at a lower priority (nice +10), so that on a busy machine the event loops answering requests
/// get the cores first and a poll stays fast while jobs compute.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            #if os(Linux)
            // Linux keeps nice values per thread, and PRIO_PROCESS with who = 0 sets the calling
            // thread's only (setpriority(2), "Bugs"); failure just leaves the default priority.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            #endif
            continuation.resume(returning: body())
        }
        // The JSON reader and writer recurse once per nesting level (256 at most).
        thread.stackSize = 8 << 20
        thread.start()
    }
}
