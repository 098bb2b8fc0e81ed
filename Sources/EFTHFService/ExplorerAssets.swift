import Foundation
import Hummingbird

/// The workspace explorer's static files (`Sources/EFTHFService/Explorer`, shipped as the target's
/// resources): plain HTML, CSS and JavaScript that draw SVG from the documented API, nothing
/// fetched from anywhere else.
enum ExplorerAssets {
    static let contentTypes = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                               "css": "text/css; charset=utf-8", "svg": "image/svg+xml"]

    /// The folder of the page's files. On Linux SwiftPM puts a target's resources in
    /// `efthf_EFTHFService.resources` beside the executable; it is looked up here rather than
    /// through `Bundle.module`, whose accessor stops the process when the folder is missing (a
    /// binary copied without it): the server then runs without the page (GET / is a 404).
    static var folder: URL? {
        #if os(Linux)
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        return [Bundle.main.bundleURL, executable]
            .map { $0.appendingPathComponent("efthf_EFTHFService.resources/Explorer") }
            .first { FileManager.default.fileExists(atPath: $0.path) }
        #else
        return Bundle.module.url(forResource: "Explorer", withExtension: nil)
        #endif
    }

    /// Every file of the folder, read once: name → bytes. Only these names are served, so a
    /// request can never reach another file.
    static let files: [String: Data] = {
        guard let folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [:] }
        var files: [String: Data] = [:]
        for name in names where contentTypes[URL(fileURLWithPath: name).pathExtension] != nil {
            files[name] = try? Data(contentsOf: folder.appendingPathComponent(name))
        }
        return files
    }()

    static func response(_ name: String) throws(ServiceError) -> Response {
        guard let data = files[name], let type = contentTypes[URL(fileURLWithPath: name).pathExtension] else {
            throw ServiceError(.notFound, files.isEmpty
                ? "the explorer's files are not installed (efthf_EFTHFService.resources beside the efthf binary)"
                : "no explorer file \"\(name)\"")
        }
        // The page is small and changes with the server: no caching, so an upgrade shows at once.
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
