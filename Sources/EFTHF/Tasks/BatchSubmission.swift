import Dispatch
import Foundation
import HistFactory

/// How the shards of a ``Plan`` are run (`efthf submit`): a Slurm job array, an HTCondor cluster
/// of `queue N` jobs, or child processes on this machine. Every shard runs
/// `efthf run PLAN --shard i -o RESULTS/shard-i.json`; the batch systems need the plan, the
/// workspace, efthf and the results directory at the same absolute paths on every node (a shared
/// file system).
public struct BatchSubmission: Sendable, Equatable {
    public enum Engine: String, Sendable, CaseIterable {
        case slurm, htcondor, local
    }

    /// The plan file, absolute.
    public let plan: String
    /// The plan's shard count.
    public let shardCount: Int
    /// What the plan computes, for the job name.
    public let kind: Plan.Kind
    /// The efthf executable the jobs run, absolute.
    public let executable: String
    /// Where the results (`shard-i.json`) and the jobs' logs (`logs/`) go, absolute.
    public let resultsDirectory: String
    /// CPUs per job (Slurm `--cpus-per-task`, HTCondor `request_cpus`).
    public var cpus: Int = 1
    /// Memory per job in MiB (Slurm `--mem`, HTCondor `request_memory`).
    public var memoryMiB: Int = 2048
    /// Wall-time limit per job in seconds (Slurm `--time`, HTCondor `allowed_execute_duration`).
    public var timeLimitSeconds: Int = 3600
    /// HTCondor `max_retries`: reruns of a job that exits non-zero (a shard is pure, so a rerun is safe).
    public var retries: Int = 3
    /// Only these shards (resubmitting the ones a merge reported missing); nil: all.
    public var only: [Int]? = nil

    public init(plan: String, shardCount: Int, kind: Plan.Kind, executable: String, resultsDirectory: String) {
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        self.plan = absolute(plan)
        self.shardCount = shardCount
        self.kind = kind
        self.executable = absolute(executable)
        self.resultsDirectory = absolute(resultsDirectory)
    }

    /// The shards to run.
    public var shards: [Int] { only ?? Array(0..<shardCount) }

    /// Where shard `i`'s result goes.
    public func resultPath(_ shard: Int) -> String { "\(resultsDirectory)/shard-\(shard).json" }

    /// The results directory of a plan file when none is given: its path without `.json`, plus `-results`.
    public static func defaultResultsDirectory(plan: String) -> String {
        (plan.hasSuffix(".json") ? String(plan.dropLast(5)) : plan) + "-results"
    }

    /// The result files a merge of `plan` reads from `paths`: a file as it is, a directory for its
    /// `shard-<i>.json` by shard number (the results directory, or a shell glob over it that also
    /// names its `logs/`, which has none); no paths: the plan's ``defaultResultsDirectory(plan:)``.
    public static func resultFiles(_ paths: [String], plan: String) -> [String] {
        (paths.isEmpty ? [defaultResultsDirectory(plan: plan)] : paths).flatMap { path -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let shards = names.compactMap { name -> Int? in
                guard name.hasPrefix("shard-"), name.hasSuffix(".json") else { return nil }
                return Int(name.dropFirst(6).dropLast(5))
            }
            return shards.sorted().map { "\(path)/shard-\($0).json" }
        }
    }

    /// Checks the resources and the shard list; refuses paths a Slurm directive or an HTCondor
    /// submit file cannot hold (white space, `%`, quotes, `$`).
    public func validate() throws(HistFactoryError) {
        guard cpus >= 1, cpus <= Limits.cpusPerJob else { throw HistFactoryError(.parameter, "--cpus must be from 1 to \(Limits.cpusPerJob), not \(cpus)") }
        guard (1...Limits.memoryMiBPerJob).contains(memoryMiB) else {
            throw HistFactoryError(.parameter, "--mem must be from 1 to \(Limits.memoryMiBPerJob) MiB (16 TiB), not \(memoryMiB) MiB")
        }
        guard (60...Limits.secondsPerJob).contains(timeLimitSeconds) else {
            throw HistFactoryError(.parameter, "--time must be from one minute to \(Limits.secondsPerJob / 86400) days, not \(timeLimitSeconds) s")
        }
        guard (0...Limits.retries).contains(retries) else { throw HistFactoryError(.parameter, "--retries must be from 0 to \(Limits.retries), not \(retries)") }
        if let only {
            guard !only.isEmpty else { throw HistFactoryError(.parameter, "--only needs at least one shard") }
            if let bad = only.first(where: { !(0..<shardCount).contains($0) }) {
                throw HistFactoryError(.parameter, "--only: the plan has shards 0 to \(shardCount - 1), not \(bad)")
            }
            guard Set(only).count == only.count else { throw HistFactoryError(.parameter, "--only names a shard twice") }
        }
        for path in [plan, executable, resultsDirectory] where path.contains(where: { $0.isWhitespace || "%\"'$\\".contains($0) }) {
            throw HistFactoryError(.parameter, "the path \"\(path)\" holds white space, %, a quote, $ or \\, which job scripts cannot carry safely; use another directory")
        }
    }

    /// Memory given as `2048` (MiB), `512M`, `4G`.
    public static func mebibytes(parsing text: String) throws(HistFactoryError) -> Int {
        let units: [Character: Int] = ["K": 0, "M": 1, "G": 1024, "T": 1024 * 1024]
        var digits = text.uppercased()
        var factor = 1
        if let last = digits.last, let unit = units[last] {
            digits.removeLast()
            factor = unit
            if last == "K" {
                guard let kib = Int(digits), kib > 0 else { throw HistFactoryError(.parameter, "memory: expected e.g. 2048, 512M or 4G, found \"\(text)\"") }
                return max(1, (kib + 1023) / 1024)
            }
        }
        guard let n = Int(digits), n > 0, n <= Int.max / max(factor, 1) else {
            throw HistFactoryError(.parameter, "memory: expected e.g. 2048, 512M or 4G, found \"\(text)\"")
        }
        return n * factor
    }

    /// A duration given as Slurm writes it: `MM`, `HH:MM:SS`, `D-HH` or `D-HH:MM[:SS]`.
    public static func seconds(parsing text: String) throws(HistFactoryError) -> Int {
        let bad = HistFactoryError(.parameter, "time: expected minutes, HH:MM:SS or D-HH:MM:SS, found \"\(text)\"")
        var days = 0
        var rest = Substring(text)
        if let dash = rest.firstIndex(of: "-") {
            guard let d = Int(rest[..<dash]), d >= 0 else { throw bad }
            days = d
            rest = rest[rest.index(after: dash)...]
        }
        // Fields beyond 10⁹ could overflow the sum below; `validate` refuses such durations anyway.
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard !parts.isEmpty, parts.count <= 3, parts.allSatisfy({ $0 != nil && $0! >= 0 && $0! <= 1_000_000_000 }), days <= 1_000_000_000 else {
            throw HistFactoryError(.parameter, "--time: expected minutes, HH:MM:SS or D-HH:MM:SS with fields up to 10⁹, found \"\(text)\"")
        }
        let p = parts.map { $0! }
        let seconds: Int
        if days > 0 || text.contains("-") {
            // D-HH, D-HH:MM, D-HH:MM:SS
            seconds = p[0] * 3600 + (p.count > 1 ? p[1] * 60 : 0) + (p.count > 2 ? p[2] : 0)
        } else {
            // MM, MM:SS, HH:MM:SS
            switch p.count {
            case 1: seconds = p[0] * 60
            case 2: seconds = p[0] * 60 + p[1]
            default: seconds = p[0] * 3600 + p[1] * 60 + p[2]
            }
        }
        return days * 86400 + seconds
    }

    /// Slurm's `--time`: D-HH:MM:SS.
    var slurmTime: String {
        let t = timeLimitSeconds
        return String(format: "%d-%02d:%02d:%02d", t / 86400, t % 86400 / 3600, t % 3600 / 60, t % 60)
    }

    /// Shard lists as Slurm's `--array` writes them: `0-3`, or `2,5,7`.
    var slurmArray: String {
        only.map { $0.map(String.init).joined(separator: ",") } ?? "0-\(shardCount - 1)"
    }

    /// A Slurm batch script: a job array with one task per shard (`sbatch --array`), each running
    /// its shard by `$SLURM_ARRAY_TASK_ID`; logs in RESULTS/logs/shard-<i>.out and .err.
    public var slurmScript: String {
        """
        #!/bin/sh
        # efthf submit --engine slurm: \(shards.count) shards of the \(kind.rawValue) plan \(plan)
        #SBATCH --job-name=efthf-\(kind.rawValue)
        #SBATCH --array=\(slurmArray)
        #SBATCH --ntasks=1
        #SBATCH --cpus-per-task=\(cpus)
        #SBATCH --mem=\(memoryMiB)M
        #SBATCH --time=\(slurmTime)
        #SBATCH --output=\(resultsDirectory)/logs/shard-%a.out
        #SBATCH --error=\(resultsDirectory)/logs/shard-%a.err
        set -eu
        exec '\(executable)' run '\(plan)' --shard "$SLURM_ARRAY_TASK_ID" -o '\(resultsDirectory)'/shard-"$SLURM_ARRAY_TASK_ID".json

        """
    }

    /// An HTCondor submit description: `queue N` jobs of the vanilla universe, job `$(ProcId)`
    /// running shard `$(ProcId)` (with `only`: `queue shard in (…)`), retried up to `retries` times
    /// on a non-zero exit, held beyond the time limit (`allowed_execute_duration`).
    public var htcondorSubmitFile: String {
        let variable = only == nil ? "$(ProcId)" : "$(shard)"
        let queue = only.map { "queue shard in (\($0.map(String.init).joined(separator: ", ")))" } ?? "queue \(shardCount)"
        return """
            # efthf submit --engine htcondor: \(shards.count) shards of the \(kind.rawValue) plan \(plan)
            # The plan, the workspace, efthf and the results directory must be at these paths on every
            # execute node (a shared file system): no files are transferred.
            universe                 = vanilla
            executable               = \(executable)
            arguments                = "run \(plan) --shard \(variable) -o \(resultsDirectory)/shard-\(variable).json"
            output                   = \(resultsDirectory)/logs/shard-\(variable).out
            error                    = \(resultsDirectory)/logs/shard-\(variable).err
            log                      = \(resultsDirectory)/logs/htcondor.log
            request_cpus             = \(cpus)
            request_memory           = \(memoryMiB)
            allowed_execute_duration = \(timeLimitSeconds)
            should_transfer_files    = NO
            max_retries              = \(retries)
            batch_name               = efthf-\(kind.rawValue)
            \(queue)

            """
    }

    /// The job file for `engine` (nil for the local engine).
    public func jobFile(for engine: Engine) -> String? {
        switch engine {
        case .slurm: slurmScript
        case .htcondor: htcondorSubmitFile
        case .local: nil
        }
    }

    /// Creates the results directory and its `logs/` (Slurm opens the log files before the job starts).
    public func prepareDirectories() throws(HistFactoryError) {
        do {
            try FileManager.default.createDirectory(atPath: resultsDirectory + "/logs", withIntermediateDirectories: true)
        } catch {
            throw HistFactoryError(.io, "cannot create the results directory: \(fileErrorReason(error))", file: resultsDirectory)
        }
    }

    /// The command that submits `jobFile`: `sbatch --parsable FILE` or `condor_submit FILE`.
    public static func submitCommand(_ engine: Engine, jobFile: String) -> [String]? {
        switch engine {
        case .slurm: ["sbatch", "--parsable", jobFile]
        case .htcondor: ["condor_submit", jobFile]
        case .local: nil
        }
    }

    /// Runs `command` (found on the PATH) and returns its standard output; a non-zero exit is an
    /// error with its standard error.
    public static func execute(_ command: [String]) throws(HistFactoryError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw HistFactoryError(.io, "cannot run \(command[0]): \(fileErrorReason(error))")
        }
        // Small outputs (a job id, a few lines): read to the end, then wait.
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let reason = errors.trimmingCharacters(in: .whitespacesAndNewlines)
            throw HistFactoryError(.io, "\(command.joined(separator: " ")) failed (exit \(process.terminationStatus))\(reason.isEmpty ? "" : ": \(reason)")")
        }
        return output
    }

    /// The local engine: runs the shards as child processes of `executable`, at most `jobs` at a
    /// time, each writing its result and its log (RESULTS/logs/shard-<i>.err). Returns the shards
    /// that failed with their exit status (empty when all succeeded).
    ///
    /// - Parameter finished: called after each shard (serialised) with the shard and its exit status.
    public func runLocally(jobs: Int, finished: (@Sendable (_ shard: Int, _ status: Int32) -> Void)? = nil) throws(HistFactoryError) -> [(shard: Int, status: Int32)] {
        guard (1...Limits.localJobs).contains(jobs) else { throw HistFactoryError(.parameter, "--jobs must be from 1 to \(Limits.localJobs), not \(jobs)") }
        try prepareDirectories()
        let shards = self.shards
        let state = LocalRunState()
        let submission = self
        // One thread per job slot, each mostly waiting on its child process (concurrentPerform
        // would cap the slots at the number of cores).
        let group = DispatchGroup()
        for _ in 0..<min(jobs, shards.count) {
            group.enter()
            Thread.detachNewThread {
                while let k = state.next(shards.count) {
                    let shard = shards[k]
                    state.record(shard, submission.runShardProcess(shard), finished)
                }
                group.leave()
            }
        }
        group.wait()
        return state.failures.sorted { $0.shard < $1.shard }
    }

    func runShardProcess(_ shard: Int) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", plan, "--shard", String(shard), "-o", resultPath(shard)]
        let log = "\(resultsDirectory)/logs/shard-\(shard).err"
        guard FileManager.default.createFile(atPath: log, contents: nil), let handle = FileHandle(forWritingAtPath: log) else { return -1 }
        defer { try? handle.close() }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// The local engine's shared state: the next shard to start and the failures, behind a lock.
private final class LocalRunState: @unchecked Sendable {
    // Sound: every access to the fields goes through `lock`.
    private let lock = NSLock()
    private var nextIndex = 0
    private(set) var failures: [(shard: Int, status: Int32)] = []

    func next(_ count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < count else { return nil }
        defer { nextIndex += 1 }
        return nextIndex
    }

    func record(_ shard: Int, _ status: Int32, _ finished: (@Sendable (Int, Int32) -> Void)?) {
        lock.lock()
        defer { lock.unlock() }
        if status != 0 { failures.append((shard, status)) }
        finished?(shard, status)
    }
}
