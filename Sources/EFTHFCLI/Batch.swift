import ArgumentParser
import EFTHF
import Foundation
import Plots

/// The shard-count option of `efthf plan …`.
struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The number of shards (jobs), from 1 to \(Limits.shards); fewer when the work does not divide evenly.", valueName: "n"))
    var shards: Int = 10

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The plan file to write.", valueName: "plan.json"))
    var output: String

    func validate() throws {
        guard (1...Limits.shards).contains(shards) else { throw ValidationError("--shards must be from 1 to \(Limits.shards), not \(shards)") }
    }

    /// Makes the plan, writes it and says what it holds.
    func write(_ task: Plan.Task, model: ModelOptions, interpolation: InterpolationOptions) throws {
        try reportingErrors {
            let plan = try Plan(task: task, source: model.source, interpolation: interpolation.interpolation, shards: shards)
            try writeAtomically(plan.json.serialized(.pretty), to: output)
            let units = plan.shards.map(\.count)
            print("wrote \(output): \(plan.shards.count) shards of the \(plan.kind.rawValue) (\(units.min()!)–\(units.max()!) \(plan.json["units"]?.stringValue ?? "units") each), plan sha256 \(plan.digest.prefix(12))…")
            if case .scan(let t) = plan.task, t.axes.count == 1 {
                print("merged, it equals: efthf scan … --runs \(shards) (the 1D scan split into the same \(plan.shards.count) warm-started runs)")
            }
        }
    }
}

extension EFTHFCommand {
    struct PlanCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Split a scan, a toy test, a patch-set grid or a limit grid into shards for a batch system (then: submit or run, merge).",
            discussion: """
                Writes a manifest: the task, the workspace (absolute path and sha256 digest), efthf's version and \
                the shards (ranges of grid points, of 2D rows, of toys or of patches). 'efthf run PLAN --shard i' computes one \
                shard, 'efthf submit PLAN --engine slurm|htcondor|local' runs them all, 'efthf merge PLAN RESULTS…' \
                checks and joins them into the single-machine command's result (Specs/batch.md).
                """,
            subcommands: [ScanPlan.self, ToysPlan.self, PatchSetPlan.self, LimitGridPlan.self]
        )

        struct ScanPlan: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "scan",
                abstract: "Plan a 1D or 2D grid scan (as efthf scan): shards are runs of points (1D) or rows (2D).")

            @OptionGroup var model: ModelOptions

            @OptionGroup var interpolation: InterpolationOptions

            @Option(name: .customLong("par"), help: ArgumentHelp("A parameter to scan: n values from lo to hi. Give once (1D) or twice (2D).", valueName: "name=lo:hi:n"))
            var par: [String] = []

            @Option(help: ArgumentHelp("Fix parameters at values during the scan, e.g. cHW=0,mu=1.", valueName: "name=value,..."))
            var fix: String?

            @OptionGroup var shards: ShardOptions

            func run() throws {
                try reportingErrors {
                    let axes = try par.map { text throws(HistFactoryError) in try GridAxis(parsing: text) }
                    let task = ScanTask(axes: axes, fix: try fix.map { text throws(HistFactoryError) in try ParameterValues(parsing: text) } ?? ParameterValues())
                    try shards.write(.scan(task), model: model, interpolation: interpolation)
                }
            }
        }

        struct ToysPlan: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "toys",
                abstract: "Plan a toy-based CLs test (as efthf toys): shards are ranges of toys, each toy seeded as in the single run.")

            @OptionGroup var model: ModelOptions

            @OptionGroup var interpolation: InterpolationOptions

            @OptionGroup var toys: ToyOptions

            @OptionGroup var shards: ShardOptions

            func run() throws {
                try shards.write(.toys(toys.task), model: model, interpolation: interpolation)
            }
        }

        struct PatchSetPlan: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "patchset",
                abstract: "Plan a patch-set export on a grid (as efthf export --patchset): shards are ranges of grid points.")

            @OptionGroup var model: ModelOptions

            @OptionGroup var interpolation: InterpolationOptions

            @Option(help: ArgumentHelp("The grid: name=lower:upper:count per coefficient, e.g. cHW=-1:1:21,cHq3=-0.5:0.5:11.", valueName: "name=lo:hi:n,..."))
            var grid: String

            @Flag(help: "Leave out grid points where the evaluation fails (negative morphed yields) instead of stopping.")
            var skipInvalid = false

            @Option(help: "A POI for the exported measurements (needed when the POI is a Wilson coefficient).")
            var poi: String?

            @OptionGroup var shards: ShardOptions

            func run() throws {
                try reportingErrors {
                    let task = PatchSetTask(grid: try PatchSetTask.grid(parsing: grid), poi: poi, measurement: model.measurement, skipInvalid: skipInvalid)
                    try shards.write(.patchSet(task), model: model, interpolation: interpolation)
                }
            }
        }

        struct LimitGridPlan: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "limit-grid",
                abstract: "Plan CLs and upper limits for the patches of a patch set (as efthf limit BkgOnly.json --patchset): shards are ranges of patches.")

            @OptionGroup var model: ModelOptions

            @OptionGroup var interpolation: InterpolationOptions

            @OptionGroup var grid: LimitGridOptions

            @Option(help: "CLs level of the limits (0.05 for 95% CL).")
            var level: Double = 0.05

            @OptionGroup var shards: ShardOptions

            func run() throws {
                try reportingErrors {
                    guard var task = try grid.task else { throw HistFactoryError(.parameter, "a limit grid needs --patchset patchset.json") }
                    task.level = level
                    try shards.write(.limitGrid(task), model: model, interpolation: interpolation)
                }
            }
        }
    }

    struct RunShard: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Compute one shard of a plan and write its result (what each batch job runs).",
            discussion: """
                Pure: the same shard of the same plan gives the same bytes, so a failed or lost job can be run \
                again. The workspace must still have the digest the plan recorded. The result is written atomically.
                """
        )

        @Argument(help: ArgumentHelp("The plan (efthf plan).", valueName: "plan.json"))
        var plan: String

        @Option(help: ArgumentHelp("The shard to compute, from 0.", valueName: "i"))
        var shard: Int

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The result file to write.", valueName: "result.json"))
        var output: String

        func run() throws {
            try reportingErrors {
                let plan = try Plan(contentsOf: self.plan)
                let units = plan.shards.indices.contains(shard) ? plan.shards[shard].count : nil
                let result = try Progress.run("shard \(shard)\(units.map { " (\($0) \(plan.task.units.name))" } ?? "")", total: units) { progress in
                    try plan.run(shard: shard, progress: progress.callback)
                }
                try writeAtomically(result.text, to: output)
            }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the shards' results of a plan and join them into the single-machine result.",
            discussion: """
                Every shard must be there exactly once, each a result of this plan (its digest, the workspace's \
                digest, efthf's version); otherwise every problem is printed on its own line, with the missing \
                shards to resubmit, and nothing is written. A scan writes the report of 'efthf scan --output' and \
                prints its table (--plot: the plot of 'efthf scan --plot'); toys write the report of 'efthf toys --json'; \
                a patch set writes OUT/BkgOnly.json and OUT/patchset.json as 'efthf export --patchset'; a limit grid \
                writes the report of 'efthf limit BkgOnly.json --patchset patchset.json --json' and prints its table.
                """
        )

        @Argument(help: ArgumentHelp("The plan (efthf plan).", valueName: "plan.json"))
        var plan: String

        @Argument(help: ArgumentHelp("The shards' result files (efthf run), in any order; a directory stands for its shard-<i>.json files. Default: the results directory of efthf submit (PLAN without .json, plus -results).", valueName: "result.json|dir"))
        var results: [String] = []

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The merged result: a JSON file; for a patch set a directory, or a .tar.gz (.tgz) archive as efthf export --patchset writes.", valueName: "path"))
        var output: String

        @Option(help: ArgumentHelp("A scan or toys: write the plot of efthf scan --plot (1D profile, 2D contours) or efthf toys --plot (the toy distributions).", valueName: "file.svg"))
        var plot: String?

        func run() throws {
            do {
                let plan = try Plan(contentsOf: self.plan)
                if plot != nil && ![.scan, .toys].contains(plan.kind) { throw HistFactoryError(.parameter, "--plot is for scans and toys; this plan is a \(plan.kind.rawValue)") }
                switch try plan.merge(files: BatchSubmission.resultFiles(results, plan: self.plan)) {
                case .scan(let report):
                    if let scan = report.scan1D { Scan.printTable(scan, adaptive: nil) } else if let scan = report.scan2D { Scan.printTable(scan) }
                    if let plot {
                        if let scan = report.scan1D {
                            try writeAtomically(Plot.scan(scan), to: plot)
                        } else if let scan = report.scan2D {
                            let loaded = try plan.source.load(interpolation: plan.interpolation)
                            try writeAtomically(Plot.contours(scan, reference: Scan.standardModelPoint(scan, model: loaded.model)), to: plot)
                        }
                    }
                    try writeAtomically(report.jsonValue.serialized(.pretty), to: output)
                case .toys(let report):
                    if let plot { try writeAtomically(Toys.plot(report), to: plot) }
                    try writeAtomically(report.jsonValue.serialized(.pretty), to: output)
                    print("wrote \(output): CLs observed \(formatted(report.clsObserved)) from \(report.ntoys) toys per hypothesis")
                case .patchSet(let export):
                    try writePatchSet(export, to: output)
                case .limitGrid(let report):
                    Limit.printTable(report)
                    try writeAtomically(report.jsonValue.serialized(.pretty), to: output)
                }
            } catch let error as PlanMergeError {
                for line in error.problems { FileHandle.standardError.write(Data("efthf: error: \(line)\n".utf8)) }
                throw ExitCode.failure
            } catch let error as HistFactoryError {
                fail(error)
            } catch let error as InferenceError {
                fail(error)
            }
        }
    }

    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a plan's shards: write (and with --now submit) a Slurm job array or an HTCondor submit file, or run them here.",
            discussion: """
                slurm writes PLAN.slurm.sh (sbatch --array=0-(N-1), one task per shard by $SLURM_ARRAY_TASK_ID); \
                htcondor writes PLAN.sub (queue N, shard $(ProcId), max_retries); --now submits it with sbatch or \
                condor_submit. Results go to RESULTS/shard-<i>.json, logs to RESULTS/logs/. The batch systems need \
                the plan, the workspace, efthf and RESULTS at the same paths on every node. local runs the shards \
                here, --jobs at a time. Then: efthf merge PLAN RESULTS/shard-*.json -o OUT.
                """
        )

        @Argument(help: ArgumentHelp("The plan (efthf plan).", valueName: "plan.json"))
        var plan: String

        @Option(help: ArgumentHelp("slurm, htcondor or local.", valueName: "slurm|htcondor|local"))
        var engine: String

        @Option(help: ArgumentHelp("The results directory (default: PLAN without .json, plus -results).", valueName: "dir"))
        var results: String?

        @Option(help: ArgumentHelp("The job file to write (default: PLAN.slurm.sh or PLAN.sub beside the plan).", valueName: "file"))
        var script: String?

        @Option(help: "CPUs per job, from 1 to \(Limits.cpusPerJob).")
        var cpus: Int = 1

        @Option(help: ArgumentHelp("Memory per job: MiB, or with a unit (512M, 4G); at most 16T.", valueName: "size"))
        var mem: String = "2G"

        @Option(help: ArgumentHelp("Wall-time limit per job: minutes, HH:MM:SS or D-HH:MM:SS; from 1 minute to 365 days.", valueName: "time"))
        var time: String = "01:00:00"

        @Option(help: "HTCondor: reruns of a job that exits non-zero, from 0 to \(Limits.retries).")
        var retries: Int = 3

        @Option(help: ArgumentHelp("Only these shards (to resubmit the missing ones a merge lists), e.g. 2,5,7.", valueName: "i,j,..."))
        var only: String?

        @Option(help: "local: shards run at a time, from 1 to \(Limits.localJobs).")
        var jobs: Int = 1

        @Flag(help: "slurm, htcondor: submit the job file (sbatch, condor_submit) after writing it.")
        var now = false

        @Option(help: ArgumentHelp("The efthf executable the jobs run (default: this one).", valueName: "path"))
        var efthf: String?

        func validate() throws {
            guard BatchSubmission.Engine(rawValue: engine) != nil else { throw ValidationError("--engine must be slurm, htcondor or local, not \(engine)") }
            if engine == "local" && now { throw ValidationError("--now is for slurm and htcondor; the local engine runs at once") }
            if engine != "local" && jobs != 1 { throw ValidationError("--jobs is for the local engine") }
            if let only, only.split(separator: ",").contains(where: { Int($0.trimmingCharacters(in: .whitespaces)) == nil }) {
                throw ValidationError("--only takes shard numbers separated by commas, e.g. 2,5,7, not \"\(only)\"")
            }
        }

        /// The running executable, absolute (Linux: /proc/self/exe).
        static var currentExecutable: String {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.resolvingSymlinksInPath().path
        }

        func run() throws {
            try reportingErrors {
                let engine = BatchSubmission.Engine(rawValue: self.engine)!
                let plan = try Plan(contentsOf: self.plan)
                let base = self.plan.hasSuffix(".json") ? String(self.plan.dropLast(5)) : self.plan
                var submission = BatchSubmission(plan: self.plan, shardCount: plan.shards.count, kind: plan.kind, executable: efthf ?? Self.currentExecutable,
                                                 resultsDirectory: results ?? BatchSubmission.defaultResultsDirectory(plan: self.plan))
                submission.cpus = cpus
                submission.memoryMiB = try BatchSubmission.mebibytes(parsing: mem)
                submission.timeLimitSeconds = try BatchSubmission.seconds(parsing: time)
                submission.retries = retries
                submission.only = only.map { $0.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! } }
                try submission.validate()
                let configured = submission
                guard let text = configured.jobFile(for: engine) else {
                    let failures = try configured.runLocally(jobs: jobs) { shard, status in
                        FileHandle.standardError.write(Data("shard \(shard): \(status == 0 ? "done" : "failed (exit \(status); log \(configured.resultsDirectory)/logs/shard-\(shard).err)")\n".utf8))
                    }
                    guard failures.isEmpty else {
                        throw HistFactoryError(.io, "\(failures.count) of \(submission.shards.count) shards failed: \(failures.map { String($0.shard) }.joined(separator: ",")); their logs are in \(submission.resultsDirectory)/logs")
                    }
                    print("ran \(submission.shards.count) shards; results in \(submission.resultsDirectory)")
                    return
                }
                let file = script ?? base + (engine == .slurm ? ".slurm.sh" : ".sub")
                try submission.prepareDirectories()
                try writeAtomically(text, to: file)
                if engine == .slurm { chmod(file, 0o755) }
                print("wrote \(file) (\(submission.shards.count) jobs; results in \(submission.resultsDirectory))")
                if now {
                    let output = try BatchSubmission.execute(BatchSubmission.submitCommand(engine, jobFile: file)!)
                    print(engine == .slurm ? "submitted job array \(output.trimmingCharacters(in: .whitespacesAndNewlines))" : output.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        }
    }
}
