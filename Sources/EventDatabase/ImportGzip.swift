import CZlib
import Foundation

/// gzip decompression for imported text files (`events.lhe.gz`), through zlib.
///
/// Foundation on Linux has no gunzip, so zlib's `inflate` is called directly, with automatic
/// header detection (gzip or zlib). MadGraph writes a single gzip member, but `cat a.gz b.gz` is a
/// valid gzip file too, so inflation restarts after each member until the input is used up.
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
        var output = Data()
        var failure: String?
        data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress else { return }
            var offset = 0
            let chunk = 1 << 18
            var buffer = [Bytef](repeating: 0, count: chunk)
            while offset < input.count {
                var stream = z_stream()
                guard czlib_inflate_init_auto(&stream) == Z_OK else { failure = "zlib inflateInit failed"; return }
                defer { inflateEnd(&stream) }
                // zlib reads through `next_in` but never writes; its C signature lacks the const.
                stream.next_in = UnsafeMutablePointer(mutating: base + offset)
                stream.avail_in = uInt(input.count - offset)
                var status: Int32 = Z_OK
                repeat {
                    status = buffer.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress
                        stream.avail_out = uInt(chunk)
                        let s = inflate(&stream, Z_NO_FLUSH)
                        output.append(out.baseAddress!, count: chunk - Int(stream.avail_out))
                        return s
                    }
                } while status == Z_OK
                guard status == Z_STREAM_END else {
                    failure = status == Z_BUF_ERROR ? "truncated gzip stream" : "corrupt gzip stream (zlib status \(status))"
                    return
                }
                offset = input.count - Int(stream.avail_in)
                // Trailing zero padding after the last member is tolerated, as gzip(1) does.
                if input[offset...].allSatisfy({ $0 == 0 }) { break }
            }
        }
        if let failure { throw EventDatabaseError(.format, failure, file: file) }
        return output
    }
}
