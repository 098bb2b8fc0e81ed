import Foundation
import _Inflate

/// gzip decompression for imported text files (`events.lhe.gz`), through zlib.
///
/// Foundation on Linux has no gunzip, so zlib's `inflate` is called (``Inflater``), with automatic
/// header detection (gzip or zlib). MadGraph writes a single gzip member; the inflater also reads
/// `cat a.gz b.gz`, member after member.
internal enum _Gzip {
    /// Whether `data` starts with the gzip magic bytes `1f 8b`.
    static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// The decompressed bytes of a gzip (or zlib) stream.
    ///
    /// - Throws: ``EventDatabaseError`` (`.format`) naming `file` when the stream is corrupt or truncated.
    /// - Complexity: O(compressed + decompressed size).
    static func decompress(_ data: Data, file: String) throws(EventDatabaseError) -> Data {
        guard let inflater = Inflater(.gzipOrZlib) else { throw EventDatabaseError(.memory, "zlib could not start inflating", file: file) }
        var output = Data()
        var failure: String?
        data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            var offset = 0
            var buffer = [UInt8](repeating: 0, count: 1 << 18)
            var step: Inflater.Step
            repeat {
                step = buffer.withUnsafeMutableBytes { inflater.inflate(input, from: offset, into: $0) }
                offset += step.consumed
                output.append(contentsOf: buffer[0 ..< step.produced])
            } while step.status == .progress
            switch step.status {
            case .streamEnd: break
            case .failed(let reason): failure = "corrupt gzip stream (\(reason))"
            default: failure = "truncated gzip stream"
            }
        }
        if let failure { throw EventDatabaseError(.format, failure, file: file) }
        return output
    }
}
