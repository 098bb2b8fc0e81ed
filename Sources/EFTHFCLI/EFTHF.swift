import ArgumentParser
import EFTHF
import EventDatabase
import Foundation

@main
struct EFTHFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "efthf",
        abstract: "EFT fits on published HistFactory statistical models.",
        version: efthfVersion,
        subcommands: [Eval.self, Fit.self, Hypotest.self, Limit.self, Scan.self, Ranking.self, Significance.self, Toys.self, Inspect.self, Export.self, PatchSetCommand.self,
                      Prune.self, Rename.self, Combine.self, Sort.self, Digest.self, Reinterpret.self, Import.self,
                      PlanCommand.self, RunShard.self, Merge.self, Submit.self, Serve.self]
    )

    /// As ArgumentParser's `main`, except that a bad option or value gives one line
    /// ("efthf: error: …") and a non-zero status instead of the message plus the usage.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }  // --help, --version
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if !message.isEmpty {
                FileHandle.standardError.write(Data("efthf: error: \(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}

let efthfVersion = EFTHFVersion.current

/// Options that pick a workspace, a patch and a measurement.
struct ModelOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("A pyhf JSON workspace (schema 1.0.0, or 1.0.0+efthf.1 with EFT morphing), an HS3 file, or a HEPData likelihood archive (.tar.gz, .tgz, .tar, .zip; --patch then names a patch of it: NAME, MEMBER:NAME or MEMBER). Default: the bundled VH example, Data/vh/workspace_morphing.json.", valueName: "workspace"))
    var workspaceArgument: String?

    /// The workspace file: the argument, or the bundled example found from the working directory
    /// or from the executable's place in the repository (.build/<configuration>/efthf).
    var workspace: String {
        if let workspaceArgument { return workspaceArgument }
        let bundled = "Data/vh/workspace_morphing.json"
        if FileManager.default.fileExists(atPath: bundled) { return bundled }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(bundled).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return bundled
    }

    @Option(help: ArgumentHelp("A patch to apply first: a PatchSet file with the patch name (FILE:NAME), or a plain JSON Patch file.", valueName: "file[:name]"))
    var patch: String?

    @Option(help: "The measurement to use (default: the first in the workspace).")
    var measurement: String?

    @Option(name: .customLong("event-memory"),
            help: ArgumentHelp("Memory for the columns of each event database (e.g. 4GiB, 512MiB, 2GB): columns that do not fit are streamed from the HDF5 file at every evaluation. Default: $EFTHF_EVENT_MEMORY, else the memory available.",
                               valueName: "size"),
            transform: { text throws(EventDatabaseError) in try EventMemoryBudget(parsing: text) })
    var eventMemory: EventMemoryBudget?

    /// The task layer's description of the model.
    var source: ModelSource { ModelSource(workspace: workspace, patch: patch, measurement: measurement, eventMemory: eventMemory) }

    func loadWorkspace() throws -> Workspace {
        try source.loadWorkspace()
    }
}

/// pyhf's `modifier_settings` on the command line, for the commands that build a model.
struct InterpolationOptions: ParsableArguments {
    @Option(name: .customLong("interpcode"),
            help: ArgumentHelp("Interpolation codes, as pyhf's modifier_settings: normsys=code1|code4, histosys=code0|code2|code4p. Without the option pyhf's defaults, code4 and code4p; as in pyhf, settings that name one type give the other its modifier's own default (normsys code1, histosys code0).",
                               valueName: "normsys=code,histosys=code"),
            transform: { text throws(HistFactoryError) in try InterpolationSettings(parsing: text) })
    var settings: InterpolationSettings?

    var interpolation: InterpolationSettings { settings ?? .pyhfDefault }
}

/// Prints one clear line for a user error and exits non-zero.
func fail(_ error: Error) -> Never {
    let message = String(describing: error)
    FileHandle.standardError.write(Data("efthf: error: \(message)\n".utf8))
    exit(1)
}
