import EFTJSON
import Foundation
import Testing

/// `efthf plan`, `run`, `merge` and `submit` as a user runs them from their own directory: a plan
/// run shard by shard (local engine) and merged gives exactly the single-machine result; shards are
/// pure; foreign, duplicated and missing shards are refused one clear line each.
@Suite struct BatchTests {
    /// A fresh directory holding a copy of `workspace` (a repository path), named `workspace.json`.
    static func directory(with workspace: String) throws -> URL {
        let directory = try CLI.temporaryDirectory()
        try FileManager.default.copyItem(at: CLI.repository.appendingPathComponent(workspace), to: directory.appendingPathComponent("workspace.json"))
        return directory
    }

    static func bytes(_ directory: URL, _ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// Runs efthf in `directory`, expecting success.
    @discardableResult
    static func ok(_ arguments: [String], in directory: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> CLI.Output {
        let result = try CLI.run(arguments, environment: ["EFTHF_PROGRESS": "0"], workingDirectory: directory)
        #expect(result.status == 0, "efthf \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        return result
    }

    /// plan → submit --engine local → merge, returning the merge's output.
    @discardableResult
    static func planRunMerge(_ plan: [String], in directory: URL, output: String = "merged.json", jobs: Int = 2) throws -> CLI.Output {
        try ok(["plan"] + plan + ["-o", "plan.json"], in: directory)
        try ok(["submit", "plan.json", "--engine", "local", "--jobs", String(jobs)], in: directory)
        let results = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("plan-results").path)
            .filter { $0.hasSuffix(".json") }.sorted().map { "plan-results/" + $0 }
        return try ok(["merge", "plan.json"] + results + ["-o", output], in: directory)
    }

    @Test func oneDimensionalScanMergedEqualsTheSingleMachineScanWithAsManyRuns() throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        let merged = try Self.planRunMerge(["scan", "workspace.json", "--par", "mu=0:3:10", "--shards", "3"], in: dir)
        let single = try Self.ok(["scan", "workspace.json", "--par", "mu=0:3:10", "--runs", "3", "--output", "single.json"], in: dir)
        #expect(try Self.bytes(dir, "merged.json") == Self.bytes(dir, "single.json"))
        #expect(merged.stdout == single.stdout, "the merge prints the scan's table")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("plan-results").path).filter { $0.hasSuffix(".json") }.count == 3)
    }

    @Test func twoDimensionalScanMergedEqualsTheSingleMachineScan() throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.planRunMerge(["scan", "workspace.json", "--par", "mu=0:2:5", "--par", "ttbar_norm=0.9:1.1:3", "--shards", "2"], in: dir)
        try Self.ok(["scan", "workspace.json", "--par", "mu=0:2:5", "--par", "ttbar_norm=0.9:1.1:3", "--output", "single.json"], in: dir)
        #expect(try Self.bytes(dir, "merged.json") == Self.bytes(dir, "single.json"))
    }

    @Test func toysMergedEqualTheSingleMachineToys() throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.planRunMerge(["toys", "workspace.json", "--ntoys", "40", "--seed", "7", "--poi-value", "1", "--shards", "3"], in: dir)
        let single = try Self.ok(["toys", "workspace.json", "--ntoys", "40", "--seed", "7", "--poi-value", "1", "--json"], in: dir)
        #expect(String(decoding: try Self.bytes(dir, "merged.json"), as: UTF8.self) == single.stdout)
    }

    @Test func patchSetMergedEqualsTheSingleMachineExport() throws {
        let dir = try Self.directory(with: "Data/vh/workspace_morphing.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = "cHW=-1:1:5,cHq3=-0.5:0.5:3"
        try Self.planRunMerge(["patchset", "workspace.json", "--grid", grid, "--poi", "lumi", "--shards", "4"], in: dir, output: "merged")
        try Self.ok(["export", "workspace.json", "--patchset", "--grid", grid, "--poi", "lumi", "-o", "single"], in: dir)
        #expect(try Self.bytes(dir, "merged/patchset.json") == Self.bytes(dir, "single/patchset.json"))
        #expect(try Self.bytes(dir, "merged/BkgOnly.json") == Self.bytes(dir, "single/BkgOnly.json"))

        // The results directory instead of its files: given, named by a shell glob that also names
        // its logs/, or left out (efthf submit's default); and the merge as one archive, unpacked by
        // GNU tar to the same two files.
        let results = dir.appendingPathComponent("plan-results").path
        let glob = try FileManager.default.contentsOfDirectory(atPath: results).map { "plan-results/" + $0 }
        #expect(glob.contains("plan-results/logs"))
        for (arguments, output) in [(["plan-results"], "by-directory"), (glob, "by-glob"), ([], "by-default")] {
            try Self.ok(["merge", "plan.json"] + arguments + ["-o", output], in: dir)
            #expect(try Self.bytes(dir, output + "/patchset.json") == Self.bytes(dir, "single/patchset.json"), "\(output)")
            #expect(try Self.bytes(dir, output + "/BkgOnly.json") == Self.bytes(dir, "single/BkgOnly.json"), "\(output)")
        }
        try Self.ok(["merge", "plan.json", "-o", "merged.tar.gz"], in: dir)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("unpacked"), withIntermediateDirectories: true)
        let tar = try CLI.runProcess("/usr/bin/env", ["tar", "-xzf", "../merged.tar.gz"], workingDirectory: dir.appendingPathComponent("unpacked"))
        #expect(tar.status == 0, "\(tar.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("unpacked").path).sorted() == ["BkgOnly.json", "patchset.json"])
        #expect(try Self.bytes(dir, "unpacked/patchset.json") == Self.bytes(dir, "single/patchset.json"))
        #expect(try Self.bytes(dir, "unpacked/BkgOnly.json") == Self.bytes(dir, "single/BkgOnly.json"))
        // A directory without shard files adds none: the merge lists every shard as missing.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("empty"), withIntermediateDirectories: true)
        let none = try CLI.run(["merge", "plan.json", "empty", "-o", "never"], workingDirectory: dir)
        #expect(none.status != 0 && none.stderr.contains("missing 4 of 4 shards"), "\(none.stderr)")
    }

    @Test func aShardRunTwiceGivesTheSameBytes() throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.ok(["plan", "toys", "workspace.json", "--ntoys", "12", "--shards", "3", "-o", "plan.json"], in: dir)
        try Self.ok(["run", "plan.json", "--shard", "1", "-o", "a.json"], in: dir)
        try Self.ok(["run", "plan.json", "--shard", "1", "-o", "b.json"], in: dir)
        #expect(try Self.bytes(dir, "a.json") == Self.bytes(dir, "b.json"))
        try Self.ok(["plan", "scan", "workspace.json", "--par", "mu=0:2:6", "--shards", "2", "-o", "scan.json"], in: dir)
        try Self.ok(["run", "scan.json", "--shard", "0", "-o", "c.json"], in: dir)
        try Self.ok(["run", "scan.json", "--shard", "0", "-o", "d.json"], in: dir)
        #expect(try Self.bytes(dir, "c.json") == Self.bytes(dir, "d.json"))
    }

    /// A plan of 3 toy shards run by hand, and one shard of another plan (another seed).
    static func shardsForRefusals() throws -> URL {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        try ok(["plan", "toys", "workspace.json", "--ntoys", "6", "--seed", "1", "--shards", "3", "-o", "plan.json"], in: dir)
        try ok(["plan", "toys", "workspace.json", "--ntoys", "6", "--seed", "2", "--shards", "3", "-o", "other.json"], in: dir)
        for i in 0..<3 { try ok(["run", "plan.json", "--shard", String(i), "-o", "r\(i).json"], in: dir) }
        try ok(["run", "other.json", "--shard", "0", "-o", "foreign.json"], in: dir)
        return dir
    }

    @Test(arguments: [
        (["r0.json", "r2.json"], "missing 1 of 3 shards: 1"),
        (["r0.json", "r1.json", "r2.json", "r1.json"], "r1.json: shard 1 again"),
        (["r0.json", "r1.json", "r2.json", "foreign.json"], "foreign.json: a result of another plan"),
        (["r0.json", "r1.json", "r2.json", "plan.json"], "plan.json: not an efthf shard result"),
    ])
    func mergeRefusesMissingDuplicatedAndForeignShardsWithOneClearLine(files: [String], message: String) throws {
        let dir = try Self.shardsForRefusals()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try CLI.run(["merge", "plan.json"] + files + ["-o", "merged.json"], workingDirectory: dir)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderrLines.count == 1, "one line, not: \(result.stderr)")
        #expect(result.stderrLines.first?.hasPrefix("efthf: error: ") == true)
        #expect(result.stderr.contains(message), "\(result.stderr) should say \(message)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("merged.json").path), "nothing written")
    }

    @Test func anEditedPlanAndAChangedWorkspaceAreRefused() throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.ok(["plan", "toys", "workspace.json", "--ntoys", "6", "--seed", "1", "--shards", "2", "-o", "plan.json"], in: dir)
        let plan = dir.appendingPathComponent("plan.json")
        let text = try String(contentsOf: plan, encoding: .utf8)
        try text.replacingOccurrences(of: "\"seed\": 1", with: "\"seed\": 5").write(to: plan, atomically: true, encoding: .utf8)
        let edited = try CLI.run(["run", "plan.json", "--shard", "0", "-o", "r.json"], workingDirectory: dir)
        #expect(edited.status != 0 && edited.stderr.contains("edited"), "\(edited.stderr)")
        try text.write(to: plan, atomically: true, encoding: .utf8)
        let workspace = dir.appendingPathComponent("workspace.json")
        try (try String(contentsOf: workspace, encoding: .utf8) + "\n ").write(to: workspace, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["run", "plan.json", "--shard", "0", "-o", "r.json"], workingDirectory: dir).status == 0, "white space does not change the digest")
        let json = try String(contentsOf: workspace, encoding: .utf8)
        try json.replacingOccurrences(of: "\"mu\"", with: "\"mu2\"").write(to: workspace, atomically: true, encoding: .utf8)
        let changed = try CLI.run(["run", "plan.json", "--shard", "0", "-o", "r.json"], workingDirectory: dir)
        #expect(changed.status != 0)
        #expect(changed.stderr.contains("changed since the plan was made") || changed.stderr.contains("mu"), "\(changed.stderr)")
    }

    @Test func slurmScriptIsAJobArrayWithTheResources() throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.ok(["plan", "toys", "workspace.json", "--ntoys", "8", "--shards", "4", "-o", "plan.json"], in: dir)
        try Self.ok(["submit", "plan.json", "--engine", "slurm", "--cpus", "2", "--mem", "4G", "--time", "2:30:00"], in: dir)
        let script = try String(contentsOf: dir.appendingPathComponent("plan.slurm.sh"), encoding: .utf8)
        let results = dir.appendingPathComponent("plan-results").standardizedFileURL.path
        for line in ["#SBATCH --array=0-3", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4096M", "#SBATCH --time=0-02:30:00",
                     "#SBATCH --output=\(results)/logs/shard-%a.out", "--shard \"$SLURM_ARRAY_TASK_ID\""] {
            #expect(script.contains(line), "missing \(line) in\n\(script)")
        }
        #expect(FileManager.default.fileExists(atPath: results + "/logs"), "Slurm does not create the log directory")
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/bin/sh")
        check.arguments = ["-n", dir.appendingPathComponent("plan.slurm.sh").path]
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0, "sh -n")
        try Self.ok(["submit", "plan.json", "--engine", "slurm", "--only", "1,3"], in: dir)
        #expect(try String(contentsOf: dir.appendingPathComponent("plan.slurm.sh"), encoding: .utf8).contains("#SBATCH --array=1,3"))
    }

    /// The submit commands HTCondor documents (condor_submit manual) that efthf writes, with the
    /// form of each value.
    static let htcondorCommands: [String: @Sendable (String) -> Bool] = [
        "universe": { $0 == "vanilla" },
        "executable": { $0.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: $0) },
        // The new syntax: the whole list in double quotes, arguments separated by spaces, no quote inside.
        "arguments": { $0.count > 2 && $0.hasPrefix("\"") && $0.hasSuffix("\"") && !$0.dropFirst().dropLast().contains("\"") && !$0.contains("'") },
        "output": { $0.hasPrefix("/") }, "error": { $0.hasPrefix("/") }, "log": { $0.hasPrefix("/") },
        "request_cpus": { Int($0).map { $0 >= 1 } ?? false },
        "request_memory": { Int($0).map { $0 >= 1 } ?? false },
        "allowed_execute_duration": { Int($0).map { $0 >= 1 } ?? false },
        "should_transfer_files": { ["YES", "NO", "IF_NEEDED"].contains($0) },
        "max_retries": { Int($0).map { $0 >= 0 } ?? false },
        "batch_name": { !$0.isEmpty && !$0.contains(" ") },
    ]

    /// Parses a submit description as condor_submit reads it: `#` comments, `key = value` commands
    /// (keys case-insensitive), `$(name)` macros, and a final `queue` statement. Returns the
    /// commands and the queue statement's arguments.
    static func parseSubmitFile(_ text: String) -> (commands: [String: String], queue: String?, problems: [String]) {
        var commands: [String: String] = [:], queue: String? = nil, problems: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if queue != nil { problems.append("a command after queue: \(line)"); continue }
            if line.lowercased() == "queue" || line.lowercased().hasPrefix("queue ") {
                queue = String(line.dropFirst(5)).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { problems.append("not key = value: \(line)"); continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            guard commands[key] == nil else { problems.append("\(key) given twice"); continue }
            commands[key] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return (commands, queue, problems)
    }

    /// The `$(name)` macros used in `value`.
    static func macros(_ value: String) -> [String] {
        var names: [String] = []
        var rest = Substring(value)
        while let open = rest.range(of: "$(") {
            guard let close = rest[open.upperBound...].firstIndex(of: ")") else { names.append("<unclosed>"); break }
            names.append(String(rest[open.upperBound..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    @Test(arguments: [nil, "0,2"] as [String?])
    func htcondorSubmitFileFollowsTheDocumentedSyntax(only: String?) throws {
        let dir = try Self.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.ok(["plan", "toys", "workspace.json", "--ntoys", "8", "--shards", "4", "-o", "plan.json"], in: dir)
        try Self.ok(["submit", "plan.json", "--engine", "htcondor", "--mem", "3G", "--cpus", "2", "--retries", "5", "--time", "90"] + (only.map { ["--only", $0] } ?? []), in: dir)
        let (commands, queue, problems) = Self.parseSubmitFile(try String(contentsOf: dir.appendingPathComponent("plan.sub"), encoding: .utf8))
        #expect(problems.isEmpty, "\(problems)")
        for (key, value) in commands {
            guard let valid = Self.htcondorCommands[key] else { Issue.record("\(key) is not a submit command efthf means to write"); continue }
            #expect(valid(value), "\(key) = \(value)")
        }
        for key in ["universe", "executable", "arguments", "output", "error", "log", "request_cpus", "request_memory", "max_retries"] {
            #expect(commands[key] != nil, "missing \(key)")
        }
        #expect(commands["request_memory"] == "3072" && commands["request_cpus"] == "2" && commands["max_retries"] == "5")
        #expect(commands["allowed_execute_duration"] == "5400")
        let variable = only == nil ? "ProcId" : "shard"
        for key in ["arguments", "output", "error"] {
            #expect(Self.macros(commands[key] ?? "") == [variable, variable].prefix(key == "arguments" ? 2 : 1).map { $0 }, "\(key): \(commands[key] ?? "")")
        }
        #expect(commands["arguments"]?.contains("run \(dir.appendingPathComponent("plan.json").standardizedFileURL.path) --shard $(\(variable))") == true)
        #expect(queue == (only == nil ? "4" : "shard in (0, 2)"))
    }

    @Test(arguments: [
        (["plan", "scan", "Data/example/workspace.json", "--par", "mu=0:1:5", "--shards", "0", "-o", "p.json"], "--shards"),
        (["plan", "scan", "Data/example/workspace.json", "--par", "nope=0:1:5", "-o", "p.json"], "nope"),
        (["scan", "Data/example/workspace.json", "--par", "mu=0:1:5", "--par", "ttbar_norm=0.9:1.1:3", "--runs", "2"], "--runs"),
        (["submit", "/nonexistent/plan.json", "--engine", "pbs"], "--engine"),
    ])
    func badBatchOptionsGiveOneClearError(arguments: [String], mention: String) throws {
        try CLI.expectOneClearError(arguments, mentioning: mention)
    }
}

/// The plan carries the model's interpolation codes (`--interpcode`), and the merge draws the
/// single-machine scan's plot.
@Suite struct BatchModelSettingsTests {
    @Test func aPlanWithInterpolationCodesMergesToTheSingleMachineScanWithThem() throws {
        let dir = try BatchTests.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        let codes = ["--interpcode", "normsys=code1,histosys=code0"]
        try BatchTests.planRunMerge(["scan", "workspace.json", "--par", "mu=0:3:6", "--shards", "2"] + codes, in: dir)
        try BatchTests.ok(["scan", "workspace.json", "--par", "mu=0:3:6", "--runs", "2", "--output", "single.json"] + codes, in: dir)
        try BatchTests.ok(["scan", "workspace.json", "--par", "mu=0:3:6", "--runs", "2", "--output", "default.json"], in: dir)
        #expect(try BatchTests.bytes(dir, "merged.json") == BatchTests.bytes(dir, "single.json"))
        #expect(try BatchTests.bytes(dir, "merged.json") != BatchTests.bytes(dir, "default.json"), "the codes change the likelihood of this workspace")
        let plan = try JSONParser.parse(try BatchTests.bytes(dir, "plan.json"))
        #expect(plan["model"]?["interpcode"]?.stringValue == "normsys=code1,histosys=code0")
    }

    @Test func mergeDrawsTheScansPlot() throws {
        let dir = try BatchTests.directory(with: "Data/example/workspace.json")
        defer { try? FileManager.default.removeItem(at: dir) }
        try BatchTests.ok(["plan", "scan", "workspace.json", "--par", "mu=0:2:5", "--par", "ttbar_norm=0.9:1.1:3", "--shards", "2", "-o", "plan.json"], in: dir)
        try BatchTests.ok(["submit", "plan.json", "--engine", "local"], in: dir)
        let results = (0..<2).map { "plan-results/shard-\($0).json" }
        try BatchTests.ok(["merge", "plan.json"] + results + ["-o", "merged.json", "--plot", "merged.svg"], in: dir)
        try BatchTests.ok(["scan", "workspace.json", "--par", "mu=0:2:5", "--par", "ttbar_norm=0.9:1.1:3", "--plot", "single.svg"], in: dir)
        #expect(try BatchTests.bytes(dir, "merged.svg") == BatchTests.bytes(dir, "single.svg"))
        try BatchTests.ok(["plan", "toys", "workspace.json", "--ntoys", "4", "--shards", "1", "-o", "toys.json"], in: dir)
        try BatchTests.ok(["run", "toys.json", "--shard", "0", "-o", "t0.json"], in: dir)
        try BatchTests.ok(["merge", "toys.json", "t0.json", "-o", "t.json", "--plot", "t.svg"], in: dir)
        try BatchTests.ok(["toys", "workspace.json", "--ntoys", "4", "--plot", "single-toys.svg"], in: dir)
        #expect(try BatchTests.bytes(dir, "t.svg") == BatchTests.bytes(dir, "single-toys.svg"), "merged toys draw the single-machine plot")
        try checkSVGFile(dir.appendingPathComponent("t.svg").path)
        try FileManager.default.copyItem(at: CLI.repository.appendingPathComponent("Data/vh/workspace_morphing.json"), to: dir.appendingPathComponent("vh.json"))
        try BatchTests.ok(["plan", "patchset", "vh.json", "--grid", "cHW=0:1:2", "--poi", "lumi", "--shards", "1", "-o", "ps.json"], in: dir)
        try BatchTests.ok(["run", "ps.json", "--shard", "0", "-o", "p0.json"], in: dir)
        let refused = try CLI.run(["merge", "ps.json", "p0.json", "-o", "p", "--plot", "p.svg"], workingDirectory: dir)
        #expect(refused.status != 0 && refused.stderr.contains("--plot is for scans and toys"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("p").path))
    }
}
