import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    struct Reinterpret: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reinterpret an extended workspace for another operator set, keeping the analysis.",
            discussion: """
                Exactly one of: --restrict c1,c2 keeps only these Wilson coefficients (the others are 0, their \
                terms dropped); --basis MAP.json changes basis by c_old = M · c_new, MAP.json being \
                {"from": [old names], "to": [new names], "matrix": [[M_ij]]} (polynomials and MC variances \
                expanded exactly, event databases transformed per event); --add-operators FILE.h5[:MODIFIER] \
                merges the per-event coefficients of further operators from a database of the same events. \
                Writes OUTDIR/<workspace name> and the event databases it refers to, all or none \
                (Specs/eft-extension.md §15).
                """
        )

        @OptionGroup var model: ModelOptions

        @Option(help: ArgumentHelp("Keep only these Wilson coefficients.", valueName: "c1,c2,..."))
        var restrict: String?

        @Option(help: ArgumentHelp("A basis map: {\"from\": [...], \"to\": [...], \"matrix\": [[...]]} with c_old = M · c_new.", valueName: "map.json"))
        var basis: String?

        @Option(help: ArgumentHelp("An event database of the same events with coefficients for further operators; MODIFIER picks the event-database modifier to extend.", valueName: "file.h5[:modifier]"))
        var addOperators: String?

        @Option(help: "A POI for every measurement of the result (needed when the POI is a coefficient that is removed or mapped).")
        var poi: String?

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output directory.", valueName: "dir"))
        var output: String

        func validate() throws {
            guard [restrict, basis, addOperators].compactMap({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --restrict, --basis and --add-operators")
            }
        }

        func run() throws {
            try reportingErrors {
                let ws = try model.loadWorkspace()
                let reinterpretation: Reinterpretation
                if let restrict {
                    reinterpretation = .restrict(to: restrict.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                } else if let basis {
                    let text: String
                    do { text = try String(contentsOfFile: basis, encoding: .utf8) } catch {
                        throw HistFactoryError(.io, "cannot read the basis map: \(error.localizedDescription)", file: basis)
                    }
                    let json: JSON
                    do { json = try JSONParser.parse(text) } catch { throw HistFactoryError(.syntax, "\(error)", file: basis) }
                    reinterpretation = try Reinterpretation.basisChange(json: json, file: basis)
                } else {
                    var file = addOperators!
                    var modifier: String? = nil
                    if !FileManager.default.fileExists(atPath: file), let colon = file.lastIndex(of: ":") {
                        modifier = String(file[file.index(after: colon)...])
                        file = String(file[..<colon])
                    }
                    reinterpretation = try Reinterpretation.addingOperators(contentsOf: file, modifier: modifier)
                }
                let result = try ws.reinterpreted(reinterpretation, poi: poi)
                let name = URL(fileURLWithPath: model.workspace).lastPathComponent
                let workspacePath = output + "/" + name
                // Everything is written into a staging directory beside the outputs and read back
                // there (the workspace must build a model with its databases); only then are the
                // files renamed into place, the workspace last, after every database it names.
                let staging = output + "/.efthf-reinterpret-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: staging) }
                var files: [OutputFile] = result.databases.map { d in
                    OutputFile(path: staging + "/" + d.file, writer: { url in try d.database.write(to: url) })
                }
                files.append(OutputFile(path: staging + "/" + name, text: result.json.serialized(.pretty)))
                try AtomicFiles.write(files)
                do {
                    let reread = try Workspace(contentsOf: staging + "/" + name, modifiers: .efthf)
                    _ = try HistFactoryModel(workspace: reread, measurement: model.measurement)
                } catch {
                    throw HistFactoryError(.invalidModel, "the reinterpreted workspace does not build a model (nothing written): \(error)", file: workspacePath)
                }
                for file in result.databases.map(\.file) + [name] where rename(staging + "/" + file, output + "/" + file) != 0 {
                    throw HistFactoryError(.io, "cannot rename \(staging)/\(file) to \(output)/\(file): \(String(cString: strerror(errno)))")
                }
                for note in result.notes { print(note) }
                print("wrote \(workspacePath)\(result.databases.isEmpty ? "" : " and \(result.databases.map(\.file).joined(separator: ", "))") (coefficients: \(result.coefficients.joined(separator: ", ")))")
            }
        }
    }
}
