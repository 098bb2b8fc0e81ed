import Foundation
import _Inflate

/// Limits on what reading an archive may unpack. A `.tar.gz` or `.zip` of a few kB can inflate to
/// terabytes (a "zip bomb"); every count and size below stops the reading with an
/// ``ArchiveError`` (`.limit`) before it is passed.
public struct ArchiveLimits: Sendable, Equatable {
    /// Members (files, directories, headers) in the archive.
    public var maximumEntries: Int
    /// Uncompressed bytes of one member that is read.
    public var maximumMemberBytes: Int
    /// Uncompressed bytes unpacked in all (for a `.tar.gz` the whole tar stream, for a `.zip` the
    /// members read).
    public var maximumTotalBytes: Int
    /// Uncompressed bytes per compressed byte, checked once more than 1 MiB is unpacked
    /// (JSON compresses 5 to 20 times; a bomb thousands of times).
    public var maximumCompressionRatio: Int

    public init(maximumEntries: Int = 10_000, maximumMemberBytes: Int = 512 << 20, maximumTotalBytes: Int = 1 << 30,
                maximumCompressionRatio: Int = 200) {
        self.maximumEntries = maximumEntries
        self.maximumMemberBytes = maximumMemberBytes
        self.maximumTotalBytes = maximumTotalBytes
        self.maximumCompressionRatio = maximumCompressionRatio
    }
}

/// An archive that cannot be read: what is wrong, in which member.
public struct ArchiveError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }
        /// Not a tar, gzip or ZIP file, or a feature of one that is not supported.
        public static let format = Code(name: "archive format")
        /// The archive ends before a member or header it announces.
        public static let truncated = Code(name: "truncated archive")
        /// A checksum, CRC or compressed stream that does not decode.
        public static let corrupt = Code(name: "corrupt archive")
        /// A member that is not a plain file inside the archive: an absolute path, `..`, a link, a device.
        public static let unsafe = Code(name: "unsafe archive member")
        /// One of the ``ArchiveLimits`` passed.
        public static let limit = Code(name: "archive limit")
        /// The members read, but what they hold is not what was looked for (no workspace, an invalid patch set).
        public static let content = Code(name: "archive content")
    }

    public let code: Code
    public let message: String
    /// The archive member concerned, when there is one.
    public let member: String?
    /// The library error of a member's content (an invalid patch set), when there is one.
    public let underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, member: String? = nil, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.member = member
        self.underlying = underlying
    }

    public var description: String { member.map { "member \"\($0)\": \(message)" } ?? message }
}

/// A regular file read from an archive.
public struct ArchiveMember: Sendable {
    /// The path inside the archive, normalised (no leading `./`, `/` separators).
    public let name: String
    public let data: Data
}

/// The containers ``ArchiveReader`` reads, recognised by their first bytes.
public enum ArchiveFormat: String, Sendable, Codable {
    case tar
    case tarGzip = "tar.gz"
    case zip
}

/// Reads the regular files of a POSIX tar (ustar, pax and GNU long names; optionally gzip
/// compressed) or ZIP archive (stored or deflate), as HEPData publishes likelihoods.
///
/// Every member's name and type is checked, also of members not read: an absolute path, a `..`
/// component, a symbolic or hard link, a device or FIFO makes the archive unsafe and it is refused
/// as a whole (an archive that holds such a member was not made to be unpacked blindly). Members
/// are never written to disk; the caller gets the bytes of those it selected.
public enum ArchiveReader {
    /// The archive's format and entry count, and the members whose names `select` accepts.
    ///
    /// - Throws: ``ArchiveError`` naming the member and the problem.
    /// - Complexity: O(archive size + uncompressed size); memory: the selected members and one
    ///   64 KiB buffer (the archive file is memory-mapped).
    public static func read(path: String, limits: ArchiveLimits = ArchiveLimits(),
                            select: (String) -> Bool) throws(ArchiveError) -> (format: ArchiveFormat, entries: Int, members: [ArchiveMember]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw ArchiveError(.format, "cannot read the archive: \(error.localizedDescription)")
        }
        return try read(data, limits: limits, select: select)
    }

    /// ``read(path:limits:select:)`` for an archive in memory.
    public static func read(_ data: Data, limits: ArchiveLimits = ArchiveLimits(),
                            select: (String) -> Bool) throws(ArchiveError) -> (format: ArchiveFormat, entries: Int, members: [ArchiveMember]) {
        let bytes = [UInt8](data.prefix(512))
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            var tar = _TarReader(source: _GzipSource(data, limits: limits), limits: limits)
            let (entries, members) = try tar.read(select: select)
            return (.tarGzip, entries, members)
        }
        if bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && (bytes[2] == 3 || bytes[2] == 5) {
            let (entries, members) = try _ZipReader(data: data, limits: limits).read(select: select)
            return (.zip, entries, members)
        }
        if bytes.count == 512 && _TarReader<_MemorySource>.checksumMatches(bytes) {
            var tar = _TarReader(source: _MemorySource(data), limits: limits)
            let (entries, members) = try tar.read(select: select)
            return (.tar, entries, members)
        }
        let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ArchiveError(.format, "not a .tar, .tar.gz (.tgz) or .zip archive (it begins with the bytes \(head.isEmpty ? "(none: the file is empty)" : head))")
    }

    /// A member name as a safe relative path: `\` read as `/`, `./` and empty segments dropped;
    /// refused when absolute, with a `..` segment, a NUL or nothing left.
    static func safeName(_ raw: String) throws(ArchiveError) -> String {
        let unified = raw.replacingOccurrences(of: "\\", with: "/")
        guard !unified.hasPrefix("/"), !unified.contains("\0"), !(unified.count >= 2 && unified.dropFirst().first == ":") else {
            throw ArchiveError(.unsafe, "an absolute path; only paths relative to the archive are read", member: raw)
        }
        let segments = unified.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !segments.contains("..") else {
            throw ArchiveError(.unsafe, "the path leaves the archive (a \"..\" segment)", member: raw)
        }
        guard !segments.isEmpty else { throw ArchiveError(.unsafe, "an empty path", member: raw) }
        return segments.joined(separator: "/")
    }
}

// MARK: Byte sources

/// The bytes of a tar stream, plain or inflated.
protocol _ByteSource {
    /// Up to `count` bytes; fewer only at the end of the stream.
    mutating func read(_ count: Int) throws(ArchiveError) -> [UInt8]
    /// Bytes produced so far (uncompressed).
    var produced: Int { get }
}

struct _MemorySource: _ByteSource {
    let data: Data
    var offset = 0
    init(_ data: Data) { self.data = data }
    var produced: Int { offset }
    mutating func read(_ count: Int) throws(ArchiveError) -> [UInt8] {
        let end = min(data.count, offset + count)
        defer { offset = end }
        return [UInt8](data[data.startIndex + offset..<data.startIndex + end])
    }
}

/// A gzip stream inflated on demand by zlib, one 64 KiB buffer at a time, with the total and
/// ratio limits checked as it grows. Concatenated gzip members are one stream (RFC 1952 2.2).
struct _GzipSource: _ByteSource {
    var inflater: Inflater?
    let input: Data
    let limits: ArchiveLimits
    var consumed = 0
    var buffer: [UInt8] = []
    var start = 0
    var finished = false
    private(set) var produced = 0

    init(_ input: Data, limits: ArchiveLimits) {
        self.input = input
        self.limits = limits
    }

    mutating func read(_ count: Int) throws(ArchiveError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, 1 << 16))
        while out.count < count {
            if start == buffer.count {
                if finished { break }
                try refill()
                continue
            }
            let take = min(count - out.count, buffer.count - start)
            out.append(contentsOf: buffer[start..<start + take])
            start += take
        }
        return out
    }

    /// Inflates the next chunk into `buffer`.
    private mutating func refill() throws(ArchiveError) {
        if inflater == nil {
            guard let started = Inflater(.gzipOrZlib) else { throw ArchiveError(.corrupt, "zlib could not start inflating") }
            inflater = started
        }
        let inflater = self.inflater!
        var output = [UInt8](repeating: 0, count: 1 << 16)
        let offset = consumed
        let step = input.withUnsafeBytes { raw in output.withUnsafeMutableBytes { inflater.inflate(raw, from: offset, into: $0) } }
        let total = input.count
        consumed += step.consumed
        output.removeLast(output.count - step.produced)
        buffer = output
        start = 0
        produced += step.produced
        switch step.status {
        case .progress: break
        case .streamEnd: finished = true  // after the last member (the inflater reads them all)
        case .bufferError where consumed == total:
            throw ArchiveError(.truncated, "the gzip stream ends early (after \(total) compressed bytes, \(produced) unpacked)")
        case .bufferError:
            throw ArchiveError(.corrupt, "the gzip data is corrupt (zlib status -5) after \(produced) unpacked bytes")
        case .failed(let reason):
            throw ArchiveError(.corrupt, "the gzip data is corrupt (\(reason)) after \(produced) unpacked bytes")
        }
        if produced > limits.maximumTotalBytes {
            throw ArchiveError(.limit, "the archive unpacks to more than \(limits.maximumTotalBytes) bytes")
        }
        if produced > 1 << 20 && produced / max(consumed, 1) > limits.maximumCompressionRatio {
            throw ArchiveError(.limit, "the archive unpacks to more than \(limits.maximumCompressionRatio) times its compressed size (\(produced) bytes from \(consumed)): refused as a decompression bomb")
        }
    }
}

// MARK: tar

/// POSIX.1-2001 tar (IEEE Std 1003.1, "pax" format): 512-byte headers in the ustar layout,
/// pax extended headers (`x`, `g`) and GNU long names (`L`, `K`) for names over 100 bytes.
struct _TarReader<Source: _ByteSource> {
    var source: Source
    let limits: ArchiveLimits

    init(source: Source, limits: ArchiveLimits) {
        self.source = source
        self.limits = limits
    }

    /// Whether a 512-byte block's checksum field (octal, at 148) is the sum of its bytes with
    /// that field read as spaces.
    static func checksumMatches(_ block: [UInt8]) -> Bool {
        guard let stored = octal(block[148..<156]) else { return false }
        let sum = block.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
        return sum == stored
    }

    /// A NUL- or space-terminated octal number; nil when the field holds anything else.
    static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        let digits = field.drop { $0 == 0x20 || $0 == 0 }.prefix { $0 != 0 && $0 != 0x20 }
        guard !digits.isEmpty else { return field.allSatisfy { $0 == 0 || $0 == 0x20 } ? 0 : nil }
        guard digits.count <= 21, digits.allSatisfy({ (0x30...0x37).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 8 + Int($1 - 0x30) }
    }

    static func string(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    mutating func read(select: (String) -> Bool) throws(ArchiveError) -> (Int, [ArchiveMember]) {
        var members: [ArchiveMember] = []
        var seen: Set<String> = []
        var entries = 0
        var longName: String? = nil
        var paxPath: String? = nil
        var paxSize: Int? = nil
        while true {
            let block = try source.read(512)
            if block.isEmpty {
                // An archive cut at a block boundary: the end-of-archive blocks are missing, so the last member may be too.
                throw ArchiveError(.truncated, "the tar stream ends without its end-of-archive blocks (after \(entries) entries): the archive is cut short")
            }
            guard block.count == 512 else { throw ArchiveError(.truncated, "the tar stream ends inside a header (after \(entries) entries)") }
            if block.allSatisfy({ $0 == 0 }) {
                // The rest is padding; reading it to the end checks a gzip stream's CRC and length.
                while true {
                    let rest = try source.read(1 << 16)
                    if rest.isEmpty { break }
                    guard source.produced <= limits.maximumTotalBytes else { throw ArchiveError(.limit, "the archive unpacks to more than \(limits.maximumTotalBytes) bytes") }
                }
                break
            }
            entries += 1
            guard entries <= limits.maximumEntries else {
                throw ArchiveError(.limit, "the archive has more than \(limits.maximumEntries) entries")
            }
            let headerName = Self.string(block[0..<100])
            guard Self.checksumMatches(block) else {
                throw ArchiveError(.corrupt, "the tar header's checksum does not match (entry \(entries))", member: headerName.isEmpty ? nil : headerName)
            }
            var rawName = headerName
            if block[257..<262].elementsEqual("ustar".utf8) {
                let prefix = Self.string(block[345..<500])
                if !prefix.isEmpty { rawName = prefix + "/" + headerName }
            }
            if let long = longName ?? paxPath { rawName = long }
            let type = block[156]
            guard let headerSize = Self.octal(block[124..<136]) else {
                throw ArchiveError(.format, "the size field is not an octal number (base-256 sizes over 8 GiB are not supported)", member: rawName)
            }
            let size = (type == 0x30 || type == 0 || type == 0x37) ? (paxSize ?? headerSize) : headerSize
            let padded = (size + 511) / 512 * 512
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                // Metadata of the next entry (x, L, K) or of all (g): small, read whole.
                guard size <= 1 << 20 else { throw ArchiveError(.limit, "an extended header of \(size) bytes (at most 1 MiB)", member: rawName) }
                let body = try readData(size, padded: padded, member: rawName)
                if type == UInt8(ascii: "L") { longName = Self.string(body[...]) }
                if type == UInt8(ascii: "x") { (paxPath, paxSize) = try Self.pax(body, member: rawName) }
                continue
            default: break
            }
            defer { longName = nil; paxPath = nil; paxSize = nil }
            switch type {
            case 0x30, 0, 0x37:  // '0', NUL (pre-POSIX), '7' (contiguous): a regular file
                let name = try ArchiveReader.safeName(rawName)
                guard seen.insert(name).inserted else { throw ArchiveError(.format, "the archive holds this member twice", member: name) }
                if select(name) {
                    guard size <= limits.maximumMemberBytes else {
                        throw ArchiveError(.limit, "\(size) bytes, more than the \(limits.maximumMemberBytes) a member may have", member: name)
                    }
                    members.append(ArchiveMember(name: name, data: Data(try readData(size, padded: padded, member: name))))
                } else {
                    try skip(padded, member: name)
                }
            case 0x35:  // '5': a directory ("." or "./" for the archive's root)
                if rawName != "." && rawName != "./" { _ = try ArchiveReader.safeName(rawName) }
                try skip(padded, member: rawName)
            case 0x31, 0x32:
                throw ArchiveError(.unsafe, "a \(type == 0x31 ? "hard" : "symbolic") link; only regular files are read", member: rawName)
            default:
                throw ArchiveError(.unsafe, "not a regular file (tar type \"\(String(Character(UnicodeScalar(type))))\"); only regular files are read", member: rawName)
            }
            if source.produced > limits.maximumTotalBytes {
                throw ArchiveError(.limit, "the archive unpacks to more than \(limits.maximumTotalBytes) bytes")
            }
        }
        return (entries, members)
    }

    /// `size` bytes of a member (and its padding to the block size).
    private mutating func readData(_ size: Int, padded: Int, member: String) throws(ArchiveError) -> [UInt8] {
        let bytes = try source.read(size)
        guard bytes.count == size else {
            throw ArchiveError(.truncated, "the archive ends inside this member (\(bytes.count) of its \(size) bytes present)", member: member)
        }
        try skip(padded - size, member: member)
        return bytes
    }

    private mutating func skip(_ count: Int, member: String) throws(ArchiveError) {
        var left = count
        while left > 0 {
            if source.produced + left > limits.maximumTotalBytes + (1 << 16) {
                throw ArchiveError(.limit, "the archive unpacks to more than \(limits.maximumTotalBytes) bytes", member: member)
            }
            let got = try source.read(min(left, 1 << 16)).count
            guard got > 0 else { throw ArchiveError(.truncated, "the archive ends inside this member (\(count - left) of its \(count) bytes present)", member: member) }
            left -= got
        }
    }

    /// The `path` and `size` of pax extended-header records, each `LENGTH key=value\n`.
    static func pax(_ body: [UInt8], member: String) throws(ArchiveError) -> (String?, Int?) {
        var path: String? = nil, size: Int? = nil
        var i = 0
        while i < body.count {
            guard let space = body[i...].firstIndex(of: 0x20), let length = Int(String(decoding: body[i..<space], as: UTF8.self)),
                  length > space - i + 1, i + length <= body.count else {
                if body[i...].allSatisfy({ $0 == 0 }) { break }
                throw ArchiveError(.corrupt, "a malformed pax extended header", member: member)
            }
            let record = String(decoding: body[(space + 1)..<(i + length - 1)], as: UTF8.self)
            if let equals = record.firstIndex(of: "=") {
                let key = record[..<equals], value = String(record[record.index(after: equals)...])
                if key == "path" { path = value }
                if key == "size" {
                    guard let s = Int(value), s >= 0 else { throw ArchiveError(.corrupt, "a pax size \"\(value)\" that is not a byte count", member: member) }
                    size = s
                }
            }
            i += length
        }
        return (path, size)
    }
}

// MARK: ZIP

/// PKWARE's APPNOTE.TXT 6.3: the central directory (found through the end-of-central-directory
/// record) lists the members; each is read at its local header. Stored (0) and deflate (8)
/// members; no ZIP64, encryption or multi-disk archives. Each member's CRC-32 is checked.
struct _ZipReader {
    let data: Data
    let limits: ArchiveLimits

    private func u16(_ at: Int) -> Int { Int(data[data.startIndex + at]) | Int(data[data.startIndex + at + 1]) << 8 }
    private func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }

    func read(select: (String) -> Bool) throws(ArchiveError) -> (Int, [ArchiveMember]) {
        // The end-of-central-directory record: 22 bytes, then a comment of up to 65535.
        let n = data.count
        guard n >= 22 else { throw ArchiveError(.truncated, "the ZIP archive is only \(n) bytes long: its central directory is missing") }
        var eocd: Int? = nil
        var p = n - 22
        while p >= max(0, n - 22 - 65535) {
            if u32(p) == 0x06054B50 { eocd = p; break }
            p -= 1
        }
        guard let end = eocd else { throw ArchiveError(.truncated, "no end-of-central-directory record: the ZIP archive is cut short or not a ZIP archive") }
        guard u16(end + 4) == 0, u16(end + 6) == 0 else { throw ArchiveError(.format, "a multi-volume ZIP archive (not supported)") }
        let count = u16(end + 10), directorySize = u32(end + 12), directoryOffset = u32(end + 16)
        if count == 0xFFFF || directoryOffset == 0xFFFF_FFFF { throw ArchiveError(.format, "a ZIP64 archive (not supported)") }
        guard count <= limits.maximumEntries else { throw ArchiveError(.limit, "the archive has \(count) entries, more than \(limits.maximumEntries)") }
        guard directoryOffset + directorySize <= end else {
            throw ArchiveError(.truncated, "the central directory (\(directorySize) bytes at \(directoryOffset)) lies beyond the end of the archive: it is cut short")
        }
        var members: [ArchiveMember] = []
        var seen: Set<String> = []
        var total = 0
        var at = directoryOffset
        for index in 0..<count {
            guard at + 46 <= end, u32(at) == 0x02014B50 else { throw ArchiveError(.corrupt, "central-directory entry \(index + 1) of \(count) is damaged") }
            let madeBy = u16(at + 4) >> 8, flags = u16(at + 8), method = u16(at + 10), crc = UInt32(u32(at + 16))
            let compressed = u32(at + 20), uncompressed = u32(at + 24)
            let nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32)
            let attributes = u32(at + 38), localOffset = u32(at + 42)
            guard at + 46 + nameLength <= end else { throw ArchiveError(.corrupt, "central-directory entry \(index + 1) of \(count) is damaged") }
            let nameBytes = data[(data.startIndex + at + 46)..<(data.startIndex + at + 46 + nameLength)]
            let rawName = String(bytes: nameBytes, encoding: .utf8) ?? String(decoding: nameBytes, as: UTF8.self)
            at += 46 + nameLength + extraLength + commentLength
            let isDirectory = rawName.hasSuffix("/")
            let name = try ArchiveReader.safeName(rawName)
            // Unix mode in the high half of the external attributes (made by 3 = UNIX).
            let mode = attributes >> 16 & 0o170000
            if madeBy == 3 && mode == 0o120000 { throw ArchiveError(.unsafe, "a symbolic link; only regular files are read", member: name) }
            if madeBy == 3 && mode != 0 && mode != 0o100000 && mode != 0o040000 {
                throw ArchiveError(.unsafe, "not a regular file (mode \(String(mode, radix: 8))); only regular files are read", member: name)
            }
            if isDirectory { continue }
            guard seen.insert(name).inserted else { throw ArchiveError(.format, "the archive holds this member twice", member: name) }
            guard select(name) else { continue }
            guard flags & 1 == 0 else { throw ArchiveError(.format, "an encrypted member (not supported)", member: name) }
            guard method == 0 || method == 8 else { throw ArchiveError(.format, "compression method \(method) (only stored and deflate are read)", member: name) }
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF { throw ArchiveError(.format, "a ZIP64 member (not supported)", member: name) }
            guard uncompressed <= limits.maximumMemberBytes else {
                throw ArchiveError(.limit, "\(uncompressed) bytes, more than the \(limits.maximumMemberBytes) a member may have", member: name)
            }
            total += uncompressed
            guard total <= limits.maximumTotalBytes else { throw ArchiveError(.limit, "the archive unpacks to more than \(limits.maximumTotalBytes) bytes", member: name) }
            if uncompressed > 1 << 20 && uncompressed / max(compressed, 1) > limits.maximumCompressionRatio {
                throw ArchiveError(.limit, "\(uncompressed) bytes from \(compressed) compressed, more than \(limits.maximumCompressionRatio) times: refused as a decompression bomb", member: name)
            }
            guard localOffset + 30 <= n, u32(localOffset) == 0x04034B50 else {
                throw ArchiveError(localOffset + 30 > n ? .truncated : .corrupt, "its local header (at \(localOffset)) is \(localOffset + 30 > n ? "beyond the end of the archive" : "damaged")", member: name)
            }
            let start = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28)
            guard start + compressed <= n else {
                throw ArchiveError(.truncated, "the archive ends inside this member (\(max(0, n - start)) of its \(compressed) compressed bytes present)", member: name)
            }
            let body = data[(data.startIndex + start)..<(data.startIndex + start + compressed)]
            let content: Data
            if method == 0 { content = Data(body) } else { content = try inflateRaw(body, expected: uncompressed, member: name) }
            guard content.count == uncompressed else {
                throw ArchiveError(.corrupt, "\(content.count) bytes where the directory announces \(uncompressed)", member: name)
            }
            let actual = content.withUnsafeBytes { crc32($0) }
            guard actual == crc else {
                throw ArchiveError(.corrupt, "CRC-32 \(String(actual, radix: 16)) where the directory announces \(String(crc, radix: 16))", member: name)
            }
            members.append(ArchiveMember(name: name, data: content))
        }
        return (count, members)
    }

    /// A raw deflate stream (RFC 1951) that must inflate to exactly `expected` bytes: more is a
    /// corrupt (or hostile) member and stops at once.
    private func inflateRaw(_ body: Data, expected: Int, member: String) throws(ArchiveError) -> Data {
        guard let inflater = Inflater(.raw) else { throw ArchiveError(.corrupt, "zlib could not start inflating", member: member) }
        var output = [UInt8](repeating: 0, count: expected + 1)
        let step = body.withUnsafeBytes { raw in output.withUnsafeMutableBytes { inflater.inflate(raw, from: 0, into: $0, finish: true) } }
        let made = step.produced
        switch step.status {
        case .streamEnd: return Data(output[0..<made])
        case _ where made > expected:
            throw ArchiveError(.corrupt, "it inflates to more than the \(expected) bytes the directory announces", member: member)
        case .bufferError:
            throw ArchiveError(.truncated, "its deflate stream ends early (\(made) of \(expected) bytes)", member: member)
        case .failed(let reason):
            throw ArchiveError(.corrupt, "its deflate data is corrupt (\(reason))", member: member)
        case .progress:
            throw ArchiveError(.corrupt, "its deflate data is corrupt (zlib status 0)", member: member)
        }
    }
}
