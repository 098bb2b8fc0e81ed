import Foundation
import HistFactory

/// A file to write: its path and its bytes, or what writes them (an HDF5 writer).
public struct OutputFile: Sendable {
    public let path: String
    let write: @Sendable (URL) throws -> Void

    public init(path: String, contents: Data) {
        self.path = path
        write = { url in try contents.write(to: url) }
    }

    /// A file that `writer` writes to the URL it is given.
    public init(path: String, writer: @escaping @Sendable (URL) throws -> Void) {
        self.path = path
        write = writer
    }

    /// Text with a final newline.
    public init(path: String, text: String) {
        self.init(path: path, contents: Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
}

/// Why a file operation failed, in the operating system's words: the POSIX error inside a Foundation
/// error (e.g. "Permission denied", "No such file or directory"), else the error's own description
/// (an HDF5 writer's error names its dataset).
func fileErrorReason(_ error: any Error) -> String {
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? any Error, (underlying as NSError).domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32((underlying as NSError).code)))
    }
    return ns.domain == NSCocoaErrorDomain ? ns.localizedDescription : "\(error)"
}

/// Every file efthf writes goes through here, so that no destination is ever half-written.
public enum AtomicFiles {
    /// Writes the files as one: each to a temporary file beside its destination (directories made
    /// if missing); only when every write succeeded are they renamed into place, in order. On a
    /// failed write every temporary file is removed and no destination is touched. POSIX has no
    /// multi-file rename, so a failure between two renames (a full disk cannot cause it: rename
    /// allocates nothing) would leave the earlier files replaced; the remaining temporaries are
    /// removed and the error names what was and was not replaced.
    public static func write(_ files: [OutputFile]) throws(HistFactoryError) {
        var temporaries: [URL] = []
        func removeTemporaries(from k: Int = 0) { for url in temporaries.dropFirst(k) { try? FileManager.default.removeItem(at: url) } }
        for file in files {
            let url = URL(fileURLWithPath: file.path)
            let directory = url.deletingLastPathComponent()
            let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp")
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                removeTemporaries()
                throw HistFactoryError(.io, "cannot create the directory: \(fileErrorReason(error))", file: directory.path)
            }
            temporaries.append(temporary)
            do {
                try file.write(temporary)
            } catch {
                removeTemporaries()
                throw HistFactoryError(.io, "cannot write \(file.path): \(fileErrorReason(error))")
            }
        }
        for (k, file) in files.enumerated() where rename(temporaries[k].path, file.path) != 0 {
            let reason = String(cString: strerror(errno))
            removeTemporaries(from: k)
            let done = files[..<k].map(\.path)
            throw HistFactoryError(.io, "cannot rename \(temporaries[k].path) to \(file.path): \(reason)\(done.isEmpty ? "" : " (already replaced: \(done.joined(separator: ", ")))")")
        }
    }

    /// One text file.
    public static func write(_ text: String, to path: String) throws(HistFactoryError) {
        try write([OutputFile(path: path, text: text)])
    }
}
