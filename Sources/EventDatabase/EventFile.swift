import Dispatch
import Foundation
import Morphing

/// How much memory the per-event columns of one event-database file may hold
/// (Specs/event-database.md, "Memory budget and streaming").
///
/// When the columns a model uses fit, they are read into memory once and shared by every sample
/// of that file; when they do not, every pass over the events reads them from the file in pieces
/// whose buffers together stay within the budget.
public struct EventMemoryBudget: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The budget in bytes.
    public let bytes: Int

    /// The largest budget accepted, 1 PiB.
    public static let maximumBytes = 1 << 50

    /// The environment variable read when no budget is given (same syntax as ``init(parsing:)``).
    public static let environmentVariable = "EFTHF_EVENT_MEMORY"

    public init(bytes: Int) throws(EventDatabaseError) {
        guard bytes > 0 && bytes <= Self.maximumBytes else {
            throw EventDatabaseError(.invalidValue, "event memory budget \(bytes) bytes must be between 1 byte and 1 PiB")
        }
        self.bytes = bytes
    }

    /// Reads `4GiB`, `512MiB`, `1.5G`, `2GB`, `100000000`: a number and an optional unit. `KiB`,
    /// `MiB`, `GiB`, `TiB` and the bare `K`, `M`, `G`, `T` are powers of 1024; `kB`, `MB`, `GB`, `TB`
    /// powers of 1000; `B` or no unit are bytes. Case is ignored.
    public init(parsing text: String) throws(EventDatabaseError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scale: Double? = switch unit {
        case "", "b": 1
        case "k", "kib": 1024
        case "m", "mib": 1024 * 1024
        case "g", "gib": 1024 * 1024 * 1024
        case "t", "tib": 1024.0 * 1024 * 1024 * 1024
        case "kb": 1e3
        case "mb": 1e6
        case "gb": 1e9
        case "tb": 1e12
        default: nil
        }
        guard let scale, let value = Double(digits), value.isFinite, value * scale >= 1, value * scale <= Double(Self.maximumBytes) else {
            throw EventDatabaseError(.invalidValue, "event memory budget \"\(text)\" is not a size between 1 byte and 1 PiB such as 4GiB, 512MiB or 2GB")
        }
        try self.init(bytes: Int(value * scale))
    }

    /// The budget in ``environmentVariable``, or nil when it is unset or empty.
    public static func fromEnvironment() throws(EventDatabaseError) -> EventMemoryBudget? {
        guard let text = ProcessInfo.processInfo.environment[environmentVariable], !text.isEmpty else { return nil }
        do throws(EventDatabaseError) {
            return try EventMemoryBudget(parsing: text)
        } catch {
            throw EventDatabaseError(error.code, "\(environmentVariable): \(error.message)")
        }
    }

    public var description: String { Self.format(bytes) }

    /// `bytes` in the largest binary unit that keeps three significant digits.
    static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes), k = 0
        while value >= 1024 && k < units.count - 1 { value /= 1024; k += 1 }
        return k == 0 ? "\(bytes) B" : String(format: value >= 100 ? "%.0f %@" : "%.3g %@", value, units[k])
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try EventMemoryBudget(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("\(bytes)")
    }
}

/// The memory this process may still take: the smallest of the kernel's `MemAvailable` and, under
/// a control group, its limit less its usage (page cache counted as free).
internal enum _SystemMemory {
    static func available() -> Int? {
        var candidates: [Int] = []
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kiB = Int(line.split(separator: " ").dropFirst().first ?? "") {
            candidates.append(kiB * 1024)
        }
        func number(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        // cgroup v2 (memory.max is "max" when unlimited), then v1.
        if let limit = number("/sys/fs/cgroup/memory.max") ?? number("/sys/fs/cgroup/memory/memory.limit_in_bytes"), limit < 1 << 60,
           let usage = number("/sys/fs/cgroup/memory.current") ?? number("/sys/fs/cgroup/memory/memory.usage_in_bytes") {
            var cache = 0
            if let stat = (try? String(contentsOfFile: "/sys/fs/cgroup/memory.stat", encoding: .utf8))
                ?? (try? String(contentsOfFile: "/sys/fs/cgroup/memory/memory.stat", encoding: .utf8)),
               let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("file ") || $0.hasPrefix("cache ") }) {
                cache = Int(line.split(separator: " ").last ?? "") ?? 0
            }
            candidates.append(max(0, limit - usage + cache))
        }
        return candidates.min()
    }

    /// Throws a ``EventDatabaseError/Code/memory`` error when `bytes` exceed 90% of ``available()``.
    static func checkAvailable(bytes: Int, file: String, dataset: String? = nil, what: String) throws(EventDatabaseError) {
        guard let available = available(), Double(bytes) > 0.9 * Double(available) else { return }
        throw EventDatabaseError(
            .memory,
            "\(what) need \(EventMemoryBudget.format(bytes)) but only \(EventMemoryBudget.format(available)) of memory are available; "
                + "models stream the columns with --event-memory or \(EventMemoryBudget.environmentVariable)",
            file: file, dataset: dataset)
    }
}

/// An open event-database file shared by every sample that reads it: its metadata, an open
/// descriptor for `pread`, and the columns read into memory so far.
internal final class _OpenEventFile: @unchecked Sendable {
    // Sound as Sendable: `layout`, `path` and `descriptor` are immutable; `resident` is only
    // accessed under `lock`; `pread` on one descriptor from several threads is safe (no offset).
    let layout: _FileLayout
    let path: String
    let descriptor: Int32
    private let lock = NSLock()
    private var resident: [Int: [Double]] = [:]

    private init(path: String) throws(EventDatabaseError) {
        layout = try _HDF5.withLock { () throws(EventDatabaseError) in try _FileLayout(_H5Location.open(file: path)) }
        self.path = path
        // Held open while any model uses the file: a file replaced (renamed over) or deleted
        // meanwhile keeps the content the model was built from.
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw EventDatabaseError(.io, "cannot open: \(String(cString: strerror(errno)))", file: path) }
    }

    deinit { close(descriptor) }

    /// Bytes of the columns held in memory.
    var residentBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return resident.count * 8 * layout.eventCount
    }

    func residentColumn(_ i: Int) -> [Double]? {
        lock.lock()
        defer { lock.unlock() }
        return resident[i]
    }

    /// Reads `columns` into memory (those not yet there), checked for finiteness.
    func load(_ columns: [Int]) throws(EventDatabaseError) -> [[Double]] {
        lock.lock()
        defer { lock.unlock() }
        let missing = Array(Set(columns.filter { resident[$0] == nil })).sorted()
        let N = layout.eventCount
        let stored = missing.filter { layout.columns[$0].offset != nil }
        switch _DirectRead.readColumns(file: path, stored.map { (layout.columns[$0].offset!, N) }, checkFinite: true) {
        case .success(let read):
            for (k, i) in stored.enumerated() { resident[i] = read[k] }
        case .failure(let failure):
            throw EventDatabaseError(failure.errorNumber == 0 ? .invalidValue : .io, failure.message, file: path, dataset: layout.columns[stored[failure.column]].dataset)
        }
        for i in missing where layout.columns[i].offset == nil {
            let values = try layout.readThroughHDF5(i, range: 0 ..< N)
            try EventDatabase.checkColumn(values, count: N, dataset: layout.columns[i].dataset, file: path)
            resident[i] = values
        }
        return columns.map { resident[$0]! }
    }

    /// Reads events `start ..< start + buffer.count` of column `i` into `buffer`, checked for finiteness.
    ///
    /// - Complexity: O(buffer.count): one `pread` per 8 MiB for efthf's layout, else a hyperslab read.
    func read(column i: Int, start: Int, into buffer: UnsafeMutableBufferPointer<Double>) throws(EventDatabaseError) {
        let column = layout.columns[i]
        if let offset = column.offset {
            if let (errorNumber, event, value) = _DirectRead.readColumn(
                descriptor, offset: offset + 8 * start, into: buffer, checkFinite: true, pieceSize: _DirectRead.pieceSize) {
                let message = errorNumber != 0
                    ? "cannot read events \(start) ..< \(start + buffer.count): \(String(cString: strerror(errorNumber)))"
                    : "event \(start + event) has the non-finite value \(value)"
                throw EventDatabaseError(errorNumber == 0 ? .invalidValue : .io, message, file: path, dataset: column.dataset)
            }
        } else {
            try _H5Location.readHyperslab(file: path, dataset: column.dataset, start: start, into: buffer)
            if let base = buffer.baseAddress, !EventDatabase.allFinite(UnsafeBufferPointer(start: base, count: buffer.count)),
               let e = buffer.firstIndex(where: { !$0.isFinite }) {
                throw EventDatabaseError(.invalidValue, "event \(start + e) has the non-finite value \(buffer[e])", file: path, dataset: column.dataset)
            }
        }
    }

    // MARK: Sharing

    private final class Weak: @unchecked Sendable {
        // Sound: only accessed under `registryLock`.
        weak var file: _OpenEventFile?
        init(_ file: _OpenEventFile) { self.file = file }
    }

    nonisolated(unsafe) private static var registry: [String: Weak] = [:]
    private static let registryLock = NSLock()

    /// The open file at `path`, shared while any model holds it: one read of each column however
    /// many samples use the file. Keyed by device, inode, size and modification time, so a file
    /// rewritten in between is opened afresh.
    static func shared(path: String) throws(EventDatabaseError) -> _OpenEventFile {
        var info = stat()
        guard stat(path, &info) == 0 else { throw EventDatabaseError(.io, "no such file", file: path) }
        let key = "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        registryLock.lock()
        defer { registryLock.unlock() }
        if let file = registry[key]?.file { return file }
        let file = try _OpenEventFile(path: path)
        registry = registry.filter { $0.value.file != nil }
        registry[key] = Weak(file)
        return file
    }
}

/// The per-event columns one pass reads: each in memory (shared with the file's other users) or
/// read from the file in pieces.
internal struct _ColumnSource: Sendable {
    enum Column: Sendable {
        case memory([Double])
        /// A column index of `file`.
        case file(Int)
    }

    let columns: [Column]
    let file: _OpenEventFile?
    /// Events per piece when some columns are read from the file.
    let pieceEvents: Int

    /// Columns already in memory.
    init(memory columns: [[Double]]) {
        self.columns = columns.map { .memory($0) }
        file = nil
        pieceEvents = 0
    }

    /// The fewest events a streamed piece may hold: below this the system calls dominate.
    static let minimumPieceEvents = 256
    /// The most events a streamed piece holds (8 MiB per column): larger pieces read no faster.
    static let maximumPieceEvents = 1 << 20
    /// The buffers of streamed pieces when no budget is given.
    static let defaultStreamingBytes = 256 << 20

    /// Columns `indices` of `file`: in memory when the file's resident columns and these fit in
    /// `budget` (and in the memory available), otherwise streamed with pieces whose buffers, one
    /// per concurrent worker, stay within the budget.
    ///
    /// - Throws: ``EventDatabaseError/Code/memory`` when the budget cannot hold one piece of
    ///   ``minimumPieceEvents`` events per worker.
    init(file: _OpenEventFile, columns indices: [Int], budget: EventMemoryBudget?) throws(EventDatabaseError) {
        let N = file.layout.eventCount
        let missing = Set(indices.filter { file.residentColumn($0) == nil })
        let newBytes = 8 * N * missing.count
        var inMemory = budget.map { file.residentBytes + newBytes <= $0.bytes } ?? true
        if inMemory, newBytes > 0, let available = _SystemMemory.available(), Double(newBytes) > 0.9 * Double(available) {
            inMemory = false
        }
        self.file = file
        if inMemory {
            columns = try file.load(indices).map { .memory($0) }
            pieceEvents = 0
            return
        }
        columns = indices.map { i in file.residentColumn(i).map { .memory($0) } ?? .file(i) }
        let streamed = columns.filter { if case .file = $0 { true } else { false } }.count
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let bytes = budget?.bytes ?? min(Self.defaultStreamingBytes, (_SystemMemory.available() ?? Self.defaultStreamingBytes) / 4)
        let perEvent = 8 * streamed * workers
        let events = bytes / max(perEvent, 1)
        let datasets = indices.map { file.layout.columns[$0].dataset }
        guard events >= min(Self.minimumPieceEvents, N) else {
            throw EventDatabaseError(
                .memory,
                "event memory budget \(EventMemoryBudget.format(bytes)) cannot hold one piece of \(Self.minimumPieceEvents) events of the \(streamed) streamed columns "
                    + "(\(datasets.joined(separator: ", "))) for \(workers) workers: that needs \(EventMemoryBudget.format(Self.minimumPieceEvents * perEvent)); "
                    + "the \(N) events of these columns take \(EventMemoryBudget.format(8 * N * indices.count))",
                file: file.path, dataset: datasets.first)
        }
        pieceEvents = min(events, Self.maximumPieceEvents)
        try _SystemMemory.checkAvailable(bytes: pieceEvents * perEvent, file: file.path, what: "the streaming buffers (\(workers) workers × \(pieceEvents) events × \(streamed) columns)")
    }

    /// Whether some column is read from the file on every pass.
    var isStreamed: Bool { columns.contains { if case .file = $0 { true } else { false } } }

    /// Calls `body(start, count, columns)` for consecutive pieces covering `range`, where
    /// `columns[j][i]` is event `start + i` of column `j`. In-memory columns give one piece.
    ///
    /// - Complexity: O(range.count) per streamed column: one sequential read of its range.
    func forEachPiece(
        of range: Range<Int>, _ body: (_ start: Int, _ count: Int, _ columns: UnsafePointer<UnsafePointer<Double>>) throws(EventDatabaseError) -> Void
    ) throws(EventDatabaseError) {
        guard !range.isEmpty else { return }
        let memory: [[Double]] = columns.map { if case .memory(let v) = $0 { v } else { [] } }
        try _withPointers(memory) { (bases: [UnsafePointer<Double>?]) throws(EventDatabaseError) in
            guard let file, isStreamed else {
                let pointers = bases.map { $0! + range.lowerBound }
                try pointers.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UnsafePointer<Double>>) throws(EventDatabaseError) in
                    try body(range.lowerBound, range.count, p.baseAddress!)
                }
                return
            }
            let streamed = columns.indices.filter { if case .file = columns[$0] { true } else { false } }
            let length = min(pieceEvents, range.count)
            // malloc rather than an array: a refused allocation is an error, not a crash.
            guard let raw = malloc(8 * length * streamed.count) else {
                throw EventDatabaseError(.memory, "cannot allocate \(EventMemoryBudget.format(8 * length * streamed.count)) for streaming buffers", file: file.path)
            }
            defer { free(raw) }
            // Sound: `raw` holds `length · streamed.count` doubles, owned by this call.
            let buffer = raw.bindMemory(to: Double.self, capacity: length * streamed.count)
            var pointers = [UnsafePointer<Double>](repeating: UnsafePointer(buffer), count: columns.count)
            var start = range.lowerBound
            while start < range.upperBound {
                let count = min(length, range.upperBound - start)
                for (s, j) in streamed.enumerated() {
                    guard case .file(let i) = columns[j] else { continue }
                    let piece = buffer + s * length
                    try file.read(column: i, start: start, into: UnsafeMutableBufferPointer(start: piece, count: count))
                    pointers[j] = UnsafePointer(piece)
                }
                for j in columns.indices where !streamed.contains(j) { pointers[j] = bases[j]! + start }
                try pointers.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UnsafePointer<Double>>) throws(EventDatabaseError) in
                    try body(start, count, p.baseAddress!)
                }
                start += count
            }
        }
    }
}

/// Calls `body` with stable base pointers of `arrays` (an empty array's pointer, nil or not, must
/// not be read).
///
/// Sound because each pointer is taken inside the nested `withUnsafeBufferPointer` of its array,
/// and `body` runs inside all of them.
internal func _withPointers<R, E: Error>(_ arrays: [[Double]], _ body: ([UnsafePointer<Double>?]) throws(E) -> R) throws(E) -> R {
    func nest(_ i: Int, _ collected: [UnsafePointer<Double>?]) throws(E) -> R {
        guard i < arrays.count else { return try body(collected) }
        return try arrays[i].withUnsafeBufferPointer { (b: UnsafeBufferPointer<Double>) throws(E) -> R in try nest(i + 1, collected + [b.baseAddress]) }
    }
    return try nest(0, [])
}

/// The first error of the chunks of a `concurrentPerform`, by chunk index (so the same error is
/// reported whatever the scheduling).
internal final class _ChunkErrors: @unchecked Sendable {
    // Sound: `errors` is only accessed under `lock`.
    private let lock = NSLock()
    private var errors: [Int: EventDatabaseError] = [:]

    func record(_ error: EventDatabaseError, chunk: Int) {
        lock.lock()
        errors[chunk] = error
        lock.unlock()
    }

    var first: EventDatabaseError? {
        lock.lock()
        defer { lock.unlock() }
        return errors.keys.min().map { errors[$0]! }
    }
}

/// An event-database file opened for models: its metadata, with the per-event columns read only
/// when a projection or kernel needs them, once per file (shared by every sample of the process
/// that uses the same file), and streamed in pieces when they do not fit the memory budget
/// (Specs/event-database.md, "Memory budget and streaming").
public struct EventFile: Sendable {
    internal let _file: _OpenEventFile
    /// The budget for this file's columns; nil: whatever memory is available.
    public let budget: EventMemoryBudget?

    /// Opens `url` (shared with other users of the same file) and reads its metadata; no column is read.
    ///
    /// - Parameter budget: the memory budget; nil takes ``EventMemoryBudget/environmentVariable``,
    ///   and without it the memory available.
    public init(contentsOf url: URL, memory budget: EventMemoryBudget? = nil) throws(EventDatabaseError) {
        _file = try _OpenEventFile.shared(path: url.path)
        if let budget { self.budget = budget } else { self.budget = try EventMemoryBudget.fromEnvironment() }
    }

    public var path: String { _file.path }
    public var eventCount: Int { _file.layout.eventCount }
    public var coefficientNames: [String] { _file.layout.coefficientNames }
    public var monomials: [Monomial] { _file.layout.monomials }
    public var observableNames: [String] { _file.layout.observables.map(\.name) }
    /// Bytes of this file's columns held in memory (by every user of the file in this process).
    public var residentBytes: Int { _file.residentBytes }

    /// The column index of observable `name`.
    func observableColumn(_ name: String) throws(EventDatabaseError) -> Int {
        guard let o = _file.layout.observables.first(where: { $0.name == name }) else {
            throw EventDatabaseError(.names, "unknown observable \(name); the database has \(observableNames)", file: path, dataset: "/observables/\(name)")
        }
        return o.column
    }

    /// The static-binning projection (``EventDatabase/projection(binning:selection:)``) in one
    /// pass over the columns it needs (binned and cut observables, nominal weights, coefficients),
    /// streamed when they do not fit the budget; the same sums in the same order as in memory.
    ///
    /// - Complexity: O(N·T²/2); reads `8(T + 2 + cuts)` bytes per event once.
    public func projection(binning: Binning, selection: Selection = .all) throws(EventDatabaseError) -> EventProjection {
        let layout = _file.layout
        var indices = [try observableColumn(binning.observable)]
        for cut in selection.cuts { indices.append(try observableColumn(cut.observable)) }
        // The sign of the nominal weight: the stored column, else (as the reader computes it) the SM term.
        let negative = layout.nominalColumn ?? layout.monomials.firstIndex(where: \.factors.isEmpty).map { layout.coefficientColumns[$0] }
        if let negative { indices.append(negative) }
        indices += layout.coefficientColumns
        let source = try _ColumnSource(file: _file, columns: indices, budget: budget)
        do throws(EventDatabaseError) {
            return try EventDatabase.project(
                source: source, eventCount: layout.eventCount, cutCount: selection.cuts.count, hasSign: negative != nil,
                coefficientNames: layout.coefficientNames, monomials: layout.monomials, binning: binning, selection: selection)
        } catch {
            throw EventDatabaseError(error.code, error.message, file: path, dataset: error.dataset)
        }
    }
}
