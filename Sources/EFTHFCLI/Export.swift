import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export an extended workspace as plain pyhf 1.0.0: evaluated at a point, or as a background-only workspace plus a PatchSet.",
            discussion: """
                --at c1=v1,c2=v2 writes the workspace with every morphing and event-database sample evaluated at \
                that point (coefficients not named are 0; the MC-statistical uncertainty at the point is carried as \
                staterror). --patchset --grid c1=lo:hi:n,... writes DIR/BkgOnly.json and DIR/patchset.json, one \
                patch per grid point. Files are written atomically.
                """
        )

        @OptionGroup var model: ModelOptions

        @Option(help: ArgumentHelp("The point, e.g. cHW=0.5,cHq3=-0.1.", valueName: "name=value,..."))
        var at: String?

        @Flag(help: "Write a background-only workspace and a pyhf PatchSet (needs --grid; -o is a directory).")
        var patchset = false

        @Option(help: ArgumentHelp("The grid: name=lower:upper:count per coefficient, e.g. cHW=-1:1:21,cHq3=-0.5:0.5:11.", valueName: "name=lo:hi:n,..."))
        var grid: String?

        @Flag(help: "With --patchset: leave out grid points where the evaluation fails (negative morphed yields) instead of stopping.")
        var skipInvalid = false

        @Option(help: "A POI for the exported measurements (needed when the POI is a Wilson coefficient).")
        var poi: String?

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output file (--at) or directory (--patchset).", valueName: "path"))
        var output: String

        func validate() throws {
            if patchset {
                if grid == nil { throw ValidationError("--patchset needs --grid") }
                if at != nil { throw ValidationError("give either --at or --patchset, not both") }
            } else {
                if at == nil { throw ValidationError("give --at (a point) or --patchset --grid") }
                if grid != nil { throw ValidationError("--grid needs --patchset") }
            }
        }

        func run() throws {
            try reportingErrors {
                let ws = try model.loadWorkspace()
                if patchset {
                    let axes = try Self.parseGrid(grid!)
                    let (background, set, skipped) = try ws.patchSet(grid: axes, poi: poi, skippingInvalidPoints: skipInvalid)
                    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                    try writeAtomically(background.json.serialized(.pretty), to: output + "/BkgOnly.json")
                    try writeAtomically(set.json.serialized(.pretty), to: output + "/patchset.json")
                    print("wrote \(output)/BkgOnly.json and \(output)/patchset.json (\(set.patches.count) patches\(skipped.isEmpty ? "" : ", \(skipped.count) grid points skipped (negative morphed yields)"))")
                } else {
                    let point = try Self.parsePoint(at!)
                    let evaluated = try ws.evaluated(at: point, poi: poi)
                    try writeAtomically(evaluated.json.serialized(.pretty), to: output)
                    print("wrote \(output)")
                }
            }
        }

        static func parsePoint(_ text: String) throws(HistFactoryError) -> [String: Double] {
            var point: [String: Double] = [:]
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, let v = Double(parts[1]) else {
                    throw HistFactoryError(.parameter, "expected name=value, found \"\(item)\"")
                }
                guard point[parts[0]] == nil else { throw HistFactoryError(.parameter, "\"\(parts[0])\" given twice") }
                point[parts[0]] = v
            }
            return point
        }

        static func parseGrid(_ text: String) throws(HistFactoryError) -> [(name: String, values: [Double])] {
            var axes: [(name: String, values: [Double])] = []
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                let range = parts.count == 2 ? parts[1].split(separator: ":").map(String.init) : []
                guard parts.count == 2, !parts[0].isEmpty, range.count == 3, let lo = Double(range[0]), let hi = Double(range[1]),
                    let n = Int(range[2]), n >= 1, n <= 10_000, lo.isFinite, hi.isFinite, n == 1 || lo < hi
                else {
                    throw HistFactoryError(.parameter, "expected name=lower:upper:count with lower < upper and 1 ≤ count ≤ 10000, found \"\(item)\"")
                }
                guard !axes.contains(where: { $0.name == parts[0] }) else { throw HistFactoryError(.parameter, "\"\(parts[0])\" given twice") }
                axes.append((parts[0], Workspace.gridValues(from: lo, to: hi, count: n)))
            }
            return axes
        }
    }
}

/// Writes `text` (plus a final newline) to a temporary file in the destination's directory, made
/// if missing, and renames it into place, so that `path` is never half-written; the temporary file
/// is removed on failure. Every file efthf writes goes through here.
func writeAtomically(_ text: String, to path: String) throws(HistFactoryError) {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent()
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
        throw HistFactoryError(.io, "cannot create the directory: \(error.localizedDescription)", file: directory.path)
    }
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp")
    do {
        try Data((text + "\n").utf8).write(to: temporary)
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            throw HistFactoryError(.io, "cannot rename \(temporary.path) to \(path): \(reason)")
        }
    } catch let error as HistFactoryError {
        try? FileManager.default.removeItem(at: temporary)
        throw error
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw HistFactoryError(.io, "cannot write \(path): \(error.localizedDescription)")
    }
}
