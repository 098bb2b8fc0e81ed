import Foundation
import Hummingbird

/// The workspace explorer's static files (`Sources/EFTHFService/Explorer`, shipped as the target's
/// resources): plain HTML, CSS and JavaScript that draw SVG from the documented API, nothing
/// fetched from anywhere else.
enum ExplorerAssets {
    static let contentTypes = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                               "css": "text/css; charset=utf-8", "svg": "image/svg+xml"]

    /// Every file of the folder, read once: name → bytes. Only these names are served, so a
    /// request can never reach another file.
    static let files: [String: Data] = {
        guard let folder = Bundle.module.url(forResource: "Explorer", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [:] }
        var files: [String: Data] = [:]
        for name in names where contentTypes[URL(fileURLWithPath: name).pathExtension] != nil {
            files[name] = try? Data(contentsOf: folder.appendingPathComponent(name))
        }
        return files
    }()

    static func response(_ name: String) throws(ServiceError) -> Response {
        guard let data = files[name], let type = contentTypes[URL(fileURLWithPath: name).pathExtension] else {
            throw ServiceError(.notFound, "no explorer file \"\(name)\"")
        }
        // The page is small and changes with the server: no caching, so an upgrade shows at once.
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
