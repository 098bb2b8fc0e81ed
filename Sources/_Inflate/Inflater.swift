import CZlib

/// zlib's inflate (RFC 1950 zlib, RFC 1951 raw deflate, RFC 1952 gzip) behind one Swift type: this
/// module is the only one that calls zlib (also ``gzipCompressed(_:level:)``). Used by the LHE
/// importer (`events.lhe.gz`) and the archive reader (`.tar.gz`, ZIP members).
///
/// The `z_stream` lives at a fixed address (zlib keeps a pointer back to it, `strm->state->strm`)
/// and is ended when the inflater is released.
public final class Inflater {
    /// The stream's framing.
    public enum Format: Sendable {
        /// gzip or zlib, detected from the header (window bits 15 + 32).
        case gzipOrZlib
        /// Raw deflate without header or trailer (window bits −15), as a ZIP member's data is
        /// stored (APPNOTE.TXT 4.4.5, method 8).
        case raw
    }

    /// What one call of ``inflate(_:from:into:finish:)`` ended with.
    public enum Status: Equatable, Sendable {
        /// Progress was made; more output may follow.
        case progress
        /// The end of the data: of the raw stream, or of the last gzip or zlib member.
        case streamEnd
        /// No progress was possible: the input is used up, or the output is full (`Z_BUF_ERROR`).
        case bufferError
        /// The data are corrupt; zlib's message, or its status code.
        case failed(String)
    }

    /// One call's counts and status.
    public struct Step: Sendable {
        /// Input bytes read.
        public var consumed: Int
        /// Output bytes written.
        public var produced: Int
        public var status: Status
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private let format: Format
    private var open = false

    /// A new inflater, or nil when zlib cannot start one (out of memory).
    public init?(_ format: Format) {
        self.format = format
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = switch format {
        case .gzipOrZlib: czlib_inflate_init_auto(stream)
        case .raw: czlib_inflate_init_raw(stream)
        }
        guard status == Z_OK else { return nil }  // deinit releases `stream`
        open = true
    }

    deinit {
        if open { inflateEnd(stream) }
        stream.deallocate()
    }

    /// Inflates `input[offset...]` into `output` (`Z_FINISH` when `finish`, else `Z_NO_FLUSH`).
    ///
    /// gzip and zlib input may be several streams one after another (`cat a.gz b.gz` is a valid
    /// gzip file, RFC 1952 2.2): at the end of one, the next starts, and ``Status/streamEnd`` means
    /// that the input is used up or only zero bytes follow (padding, tolerated as gzip(1) does).
    public func inflate(_ input: UnsafeRawBufferPointer, from offset: Int, into output: UnsafeMutableRawBufferPointer,
                        finish: Bool = false) -> Step {
        let available = input.count - offset
        // zlib reads through `next_in` but never writes; its C signature lacks the const.
        stream.pointee.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self) + offset) }
        stream.pointee.avail_in = uInt(available)
        stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(output.count)
        let code = CZlib.inflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
        let consumed = available - Int(stream.pointee.avail_in)
        let status: Status
        switch code {
        case Z_OK: status = .progress
        case Z_STREAM_END where format == .gzipOrZlib && !input[(offset + consumed)...].allSatisfy({ $0 == 0 }):
            inflateReset(stream)  // the next member
            status = .progress
        case Z_STREAM_END: status = .streamEnd
        case Z_BUF_ERROR: status = .bufferError
        default: status = .failed(stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(code)")
        }
        return Step(consumed: consumed, produced: output.count - Int(stream.pointee.avail_out), status: status)
    }
}

/// The CRC-32 of `bytes` (ISO 3309, as gzip and ZIP use it).
public func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    UInt32(CZlib.crc32(0, bytes.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
}

/// `bytes` as one gzip member (RFC 1952, deflate at `level` 0–9), or nil when zlib cannot start
/// (out of memory). The header has no file name and modification time 0, so equal input gives
/// equal output.
public func gzipCompressed(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8]? {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer { stream.deallocate() }
    guard czlib_deflate_init_gzip(stream, level) == Z_OK else { return nil }
    defer { deflateEnd(stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(bytes.count))) + 32)
    let status = bytes.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { out in
            // zlib reads through `next_in` but never writes; its C signature lacks the const.
            stream.pointee.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0) }
            stream.pointee.avail_in = uInt(input.count)
            stream.pointee.next_out = out.baseAddress
            stream.pointee.avail_out = uInt(out.count)
            return deflate(stream, Z_FINISH)
        }
    }
    // deflateBound is enough for one Z_FINISH call (zlib.h), so anything else is an internal error.
    guard status == Z_STREAM_END else { return nil }
    output.removeLast(Int(stream.pointee.avail_out))
    return output
}
