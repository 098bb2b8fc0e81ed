import Foundation
import _Inflate

/// A gzip-compressed POSIX tar archive (`.tar.gz`), as HEPData publishes likelihoods: the
/// patch-set export's `BkgOnly.json` and `patchset.json` in one file that ``HEPDataArchive`` (and
/// `tar -xzf`, Python's `tarfile`) read.
///
/// Each member is a regular file in a ustar header (POSIX.1-1988, IEEE Std 1003.1 "pax" §ustar
/// Interchange Format): name (at most 100 bytes, no directories), mode 0644, size and modification
/// time in octal, the header checksum; its data padded to 512-byte records; two zero records end
/// the archive.
public enum ArchiveWriter {
    /// The longest member name a ustar header holds without a prefix.
    public static let maximumNameBytes = 100
    /// The largest member: the ustar size field's 11 octal digits.
    public static let maximumMemberBytes = 0o77777777777

    /// The `.tar.gz` bytes of `members` (name, contents) in order, each stamped with `modified`.
    ///
    /// - Throws: ``ArchiveError`` with `.format` for an empty, too long, non-ASCII or path-like
    ///   name, a repeated name, or a member beyond ``maximumMemberBytes``.
    public static func tarGz(_ members: [(name: String, data: Data)], modified: Date = Date()) throws(ArchiveError) -> Data {
        var tar: [UInt8] = []
        var names = Set<String>()
        let mtime = max(0, Int(modified.timeIntervalSince1970))
        for (name, data) in members {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, bytes.count <= maximumNameBytes, name.allSatisfy({ $0.isASCII && $0 != "/" && $0 != "\0" }), name != ".", name != ".." else {
                throw ArchiveError(.format, "a member name must be 1 to \(maximumNameBytes) ASCII bytes without \"/\"", member: name)
            }
            guard names.insert(name).inserted else { throw ArchiveError(.format, "the member name is given twice", member: name) }
            guard data.count <= maximumMemberBytes else {
                throw ArchiveError(.format, "\(data.count) bytes; a ustar member holds at most \(maximumMemberBytes)", member: name)
            }
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ field: [UInt8], at offset: Int) { header.replaceSubrange(offset ..< offset + field.count, with: field) }
            func octal(_ value: Int, width: Int) -> [UInt8] {
                // width − 1 octal digits, zero-padded, then NUL.
                let digits = String(value, radix: 8)
                return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
            }
            put(bytes, at: 0)
            put(octal(0o644, width: 8), at: 100)
            put(octal(0, width: 8), at: 108)  // uid
            put(octal(0, width: 8), at: 116)  // gid
            put(octal(data.count, width: 12), at: 124)
            put(octal(mtime, width: 12), at: 136)
            put(Array("        ".utf8), at: 148)  // the checksum is computed with its field as spaces
            header[156] = UInt8(ascii: "0")  // a regular file
            put(Array("ustar".utf8) + [0], at: 257)
            put(Array("00".utf8), at: 263)
            let checksum = header.reduce(0) { $0 + Int($1) }
            // Six octal digits, NUL, space (the form tar writes).
            let digits = String(checksum, radix: 8)
            put(Array((String(repeating: "0", count: 6 - digits.count) + digits).utf8) + [0, UInt8(ascii: " ")], at: 148)
            tar += header
            tar += data
            tar += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }
        tar += [UInt8](repeating: 0, count: 1024)
        guard let compressed = gzipCompressed(tar) else {
            throw ArchiveError(.format, "zlib could not start compressing (out of memory)")
        }
        return Data(compressed)
    }
}
