import Foundation
import Testing
@testable import EFTHFCLI

/// Every user-chosen size has a limit: beyond it, one line on stderr naming the option, the value
/// given and the limit, and a non-zero exit status (README "Limits").
@Suite struct SizeLimitTests {
    struct Case: CustomStringConvertible, Sendable {
        let arguments: [String]
        /// The option, the value and the limit, as the error line must name them.
        let mentions: [String]
        var description: String { arguments.joined(separator: " ") }
    }

    static let example = "Data/example/workspace.json", vh = "Data/vh/workspace_morphing.json"

    static let cases: [Case] = [
        Case(arguments: ["scan", example, "--par", "mu=0:1:2000000"], mentions: ["--par", "2000000", "1000000"]),
        Case(arguments: ["scan", example, "--par", "mu=0:1:1000", "--par", "ttbar_norm=0.5:1.5:1000"], mentions: ["--par", "1000000", "250000"]),
        Case(arguments: ["scan", example, "--par", "mu=0:1:10", "--adaptive", "--max-points", "300000"], mentions: ["--max-points", "300000", "250000"]),
        Case(arguments: ["scan", example, "--par", "mu=0:1:10", "--runs", "5000"], mentions: ["--runs", "5000", "1000"]),
        Case(arguments: ["toys", example, "--ntoys", "20000000"], mentions: ["--ntoys", "20000000", "10000000"]),
        Case(arguments: ["fit", example, "--max-starts", "20000"], mentions: ["--max-starts", "20000", "10000"]),
        Case(arguments: ["limit", example, "--max-starts", "20000"], mentions: ["--max-starts", "20000", "10000"]),
        Case(arguments: ["inspect", example, "--max-warnings", "2000000"], mentions: ["--max-warnings", "2000000", "1000000"]),
        Case(arguments: ["export", vh, "--patchset", "--grid", "cHW=-1:1:20000", "-o", "/nonexistent/efthf-limit-test"], mentions: ["--grid", "20000", "10000"]),
        Case(arguments: ["plan", "patchset", vh, "--grid", "cHW=-1:1:20000", "-o", "/nonexistent/plan.json"], mentions: ["--grid", "20000", "10000"]),
        Case(arguments: ["plan", "scan", example, "--par", "mu=0:1:10", "--shards", "5000", "-o", "/nonexistent/plan.json"], mentions: ["--shards", "5000", "1000"]),
        Case(arguments: ["plan", "toys", example, "--ntoys", "20000000", "-o", "/nonexistent/plan.json"], mentions: ["--ntoys", "20000000", "10000000"]),
        Case(arguments: ["import", "lhe", "/nonexistent/events.lhe", "--coefficients", "cHW", "--benchmark", "sm=0", "--degree", "9", "-o", "/nonexistent/out.h5",
                         "--generator", "MadGraph5_aMC@NLO 3.5.1", "--basis", "SMEFTsim 3.0", "--normalisation", "per-event cross sections", "--weight-unit", "pb"],
             mentions: ["--degree", "9", "4"]),
    ]

    @Test(arguments: cases)
    func aSizeBeyondItsLimitIsOneClearError(_ c: Case) throws {
        try Self.expectRefused(c.arguments, mentioning: c.mentions)
    }

    /// The options of `submit` and `run`, on a plan made here.
    @Test(arguments: [
        (["submit", "--engine", "local", "--jobs", "5000"], ["--jobs", "5000", "256"]),
        (["submit", "--engine", "slurm", "--cpus", "5000"], ["--cpus", "5000", "1024"]),
        (["submit", "--engine", "slurm", "--mem", "20T"], ["--mem", "20971520", "16777216"]),
        (["submit", "--engine", "slurm", "--time", "400-00:00:00"], ["--time", "34560000", "365 days"]),
        (["submit", "--engine", "slurm", "--time", "99999999999999-00"], ["--time", "99999999999999-00"]),
        (["submit", "--engine", "htcondor", "--retries", "500"], ["--retries", "500", "100"]),
        (["run", "--shard", "7", "-o", "/nonexistent/result.json"], ["--shard", "7", "0 to 1"]),
    ])
    func batchSizesBeyondTheirLimits(_ arguments: [String], _ mentions: [String]) throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = directory.appendingPathComponent("plan.json").path
        let made = try CLI.run(["plan", "scan", CLI.example, "--par", "mu=0:2:4", "--shards", "2", "-o", plan], environment: ["EFTHF_PROGRESS": "0"])
        try #require(made.status == 0, "\(made.stderr)")
        try Self.expectRefused([arguments[0], plan] + arguments.dropFirst(), mentioning: mentions)
    }

    /// A one-channel workspace of 10 001 bins with a staterror has 10 002 free parameters, one
    /// above the fit's limit: refused at once, before the minimiser allocates its n × n matrices.
    @Test func aFitWithTooManyFreeParametersIsRefused() throws {
        let bins = 10_001
        let counts = "[" + Array(repeating: "10.0", count: bins).joined(separator: ",") + "]"
        let errors = "[" + Array(repeating: "1.0", count: bins).joined(separator: ",") + "]"
        let workspace = """
            {"version": "1.0.0", "channels": [{"name": "c", "samples": [{"name": "s", "data": \(counts), "modifiers": [
             {"name": "mu", "type": "normfactor", "data": null}, {"name": "stat", "type": "staterror", "data": \(errors)}]}]}],
             "observations": [{"name": "c", "data": \(counts)}],
             "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
            """
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try CLI.write(workspace, to: "large.json", in: directory)
        try Self.expectRefused(["fit", path], mentioning: ["10002 free parameters", "the limit is 10000"])
    }

    static func expectRefused(_ arguments: [String], mentioning mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let resolved = arguments.map { $0.hasPrefix("Data/") ? CLI.repository.appendingPathComponent($0).path : $0 }
        let result = try CLI.run(resolved, environment: ["EFTHF_PROGRESS": "0"])
        #expect(result.status != 0, sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "\(result.stdout)", sourceLocation: sourceLocation)
        #expect(result.stderrLines.count == 1, "one line, not: \(result.stderr)", sourceLocation: sourceLocation)
        let line = result.stderrLines.first ?? ""
        #expect(line.hasPrefix("efthf: error: "), "\(line)", sourceLocation: sourceLocation)
        for mention in mentions {
            #expect(line.contains(mention), "'\(line)' should name \(mention)", sourceLocation: sourceLocation)
        }
    }
}

/// Progress on standard error only on a terminal (a pseudo-terminal here, through util-linux
/// `script`), never with --json, and never in a pipe.
@Suite struct ProgressDisplayTests {
    @Test(arguments: [
        // (EFTHF_PROGRESS, stderr is a terminal, --json) → style
        (nil, true, false, EFTHFCLI.Progress.Style.bar), (nil, false, false, .silent), (nil, true, true, .silent), (nil, false, true, .silent),
        ("0", true, false, .silent), ("plain", false, false, .lines), ("plain", true, true, .lines), ("bar", false, true, .bar),
    ] as [(String?, Bool, Bool, EFTHFCLI.Progress.Style)])
    func styleFollowsTheTerminalAndJSON(_ environment: String?, _ terminal: Bool, _ quiet: Bool, _ expected: EFTHFCLI.Progress.Style) {
        #expect(EFTHFCLI.Progress.style(environment: environment, isTerminal: terminal, quiet: quiet) == expected)
    }

    /// ETA = max(0, t_last (n − k)/k − (now − t_last)): 10 s for 5 of 10 steps, counted down since.
    @Test func etaCountsDownBetweenSteps() {
        #expect(EFTHFCLI.Progress.remaining(elapsedAtLastStep: 10, sinceLastStep: 0, done: 5, total: 10) == 10)
        #expect(EFTHFCLI.Progress.remaining(elapsedAtLastStep: 10, sinceLastStep: 3, done: 5, total: 10) == 7)
        #expect(EFTHFCLI.Progress.remaining(elapsedAtLastStep: 10, sinceLastStep: 30, done: 5, total: 10) == 0)
        #expect(EFTHFCLI.Progress.remaining(elapsedAtLastStep: 4, sinceLastStep: 1, done: 1, total: 4) == 11)
    }

    /// Runs `efthf arguments` under a pseudo-terminal with stdout to a file: returns what the
    /// terminal showed (stderr) and the file.
    static func onTerminal(_ arguments: [String]) throws -> (terminal: String, stdout: String, status: Int32) {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("stdout").path, shown = directory.appendingPathComponent("terminal").path
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = ([CLI.binary ?? "efthf"] + arguments).map(quoted).joined(separator: " ") + " > " + quoted(out)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "EFTHF_PROGRESS")
        process.environment = environment
        FileManager.default.createFile(atPath: shown, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: shown))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (String(decoding: try Data(contentsOf: URL(fileURLWithPath: shown)), as: UTF8.self),
                String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data(), as: UTF8.self), process.terminationStatus)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "util-linux script runs the pseudo-terminal"))
    func barOnATerminalNothingWithJSONOrInAPipe() throws {
        let scan = try Self.onTerminal(["scan", CLI.example, "--par", "mu=0:3:12"])
        #expect(scan.status == 0, "\(scan.terminal)")
        #expect(scan.terminal.contains("scan mu (12 points)") && scan.terminal.contains("/12 "), "the bar: \(scan.terminal)")
        #expect(scan.terminal.contains("done in"), "\(scan.terminal)")
        #expect(!scan.stdout.contains("\u{1B}") && scan.stdout.contains("68% CL"), "the table on stdout, without the bar: \(scan.stdout)")

        let json = try Self.onTerminal(["scan", CLI.example, "--par", "mu=0:3:12", "--json"])
        #expect(json.status == 0, "\(json.terminal)")
        #expect(!json.terminal.contains("scan mu"), "quiet with --json: \(json.terminal)")
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((document?["values"] as? [Double])?.count == 12, "strict JSON on stdout: \(json.stdout.prefix(300))")

        let fit = try Self.onTerminal(["fit", CLI.example])
        #expect(fit.status == 0 && fit.terminal.contains("fit") && fit.terminal.contains("done in"), "\(fit.terminal)")

        let piped = try CLI.run(["scan", CLI.example, "--par", "mu=0:3:12"])
        #expect(piped.status == 0 && piped.stderr.isEmpty, "no progress in a pipe: \(piped.stderr)")
    }
}
