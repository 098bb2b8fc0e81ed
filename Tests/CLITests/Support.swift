import Foundation
import Testing

/// Runs the built `efthf` executable and captures what it prints.
enum CLI {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
    static let example = repository.appendingPathComponent("Data/example/workspace.json").path

    /// The reference workspaces (../shared/reference/workspaces or $EFTHF_REFERENCE_DIR/workspaces), or nil.
    static let references: URL? = {
        let candidates = [
            ProcessInfo.processInfo.environment["EFTHF_REFERENCE_DIR"].map { URL(fileURLWithPath: $0).appendingPathComponent("workspaces") },
            repository.deletingLastPathComponent().appendingPathComponent("shared/reference/workspaces"),
        ].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("01_pyhf_example").path) }
    }()

    static func reference(_ path: String) -> String? { references?.appendingPathComponent(path).path }

    /// The `efthf` binary: $EFTHF_BINARY, else next to the test bundle in the build products
    /// directory (the test target depends on EFTHFCLI, so it is built with the tests), else
    /// .build/debug/efthf in the repository.
    static let binary: String? = {
        if let path = ProcessInfo.processInfo.environment["EFTHF_BINARY"] { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        // Linux: <products>/efthfPackageTests.xctest; macOS: <products>/X.xctest/Contents/MacOS/X.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("efthf").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let fallback = repository.appendingPathComponent(".build/debug/efthf").path
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }()

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    }

    /// Runs `efthf arguments` with stdout and stderr to files (no pipe deadlock on long output).
    /// With `workingDirectory`, the command runs there (as a user who is not in the repository).
    static func run(_ arguments: [String], environment: [String: String] = [:], workingDirectory: URL? = nil) throws -> Output {
        guard let binary else {
            Issue.record("the efthf binary was not found next to the test bundle or in .build/debug; set EFTHF_BINARY")
            return Output(status: -1, stdout: "", stderr: "")
        }
        return try runProcess(binary, arguments, environment: environment.merging(["COLUMNS": "100"]) { given, _ in given }, workingDirectory: workingDirectory)
    }

    /// Runs `executable arguments` (e.g. `/usr/bin/env pyhf …`) with stdout and stderr to files,
    /// standard input closed, the environment extended by `environment`.
    static func runProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:], workingDirectory: URL? = nil) throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("stdout"), err = directory.appendingPathComponent("stderr")
        guard FileManager.default.createFile(atPath: out.path, contents: nil),
              FileManager.default.createFile(atPath: err.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: directory.path])
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    /// A fresh temporary directory for a test's files.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-cli-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func write(_ text: String, to name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// Parses JSON text, recording an issue when it is not valid.
    static func json(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            Issue.record("not a JSON object: \(text.prefix(300))", sourceLocation: sourceLocation)
            return [:]
        }
        return object
    }
}

extension CLI {
    /// Runs efthf with `arguments` (paths under Data/ resolved in the repository) and checks that
    /// it fails with nothing on stdout and one stderr line, an error naming `mention`.
    static func expectOneClearError(_ arguments: [String], mentioning mention: String) throws {
        let resolved = arguments.map { $0.hasPrefix("Data/") ? repository.appendingPathComponent($0).path : $0 }
        let result = try run(resolved, environment: ["EFTHF_PROGRESS": "0"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let first = result.stderrLines.first ?? ""
        #expect(result.stderrLines.count == 1, "one line, not: \(result.stderr)")
        #expect(first.hasPrefix("efthf: error: "), "first line: \(first)")
        #expect(first.contains(mention), "'\(first)' should mention \(mention)")
    }
}
