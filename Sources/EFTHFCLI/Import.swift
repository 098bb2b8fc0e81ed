import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    /// `efthf import lhe|madminer`: event databases (Specs/event-database.md) from generator output;
    /// `efthf import combine-scaling|eft2obs`: EFT scalings added to a workspace (Specs/combine.md).
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Write an event database (HDF5) from LHE or MadMiner files, or add EFT scalings (Combine's InterferenceModel, EFT2Obs tables) to a workspace.",
            subcommands: [LHE.self, MadMiner.self, CombineScalingImport.self, EFT2ObsImport.self]
        )
    }

    struct CombineScalingImport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "combine-scaling",
            abstract: "Add CMS Combine InterferenceModel scaling data (--PO scalingData=) to a workspace as relative morphing modifiers.",
            discussion: """
                Each entry {channel, process, parameters, scaling} scales sample PROCESS of channel CHANNEL by \
                s_b = vᵀ M_b v (rows: the lower triangle of M_b, row by row); free parameters (name[init,min,max]) \
                become Wilson coefficients, constants (name[value]) numbers, expr::name('@0*@1', …) products. \
                s_b must be 1 where the free parameters are 0 (the template is the SM's). Specs/combine.md.
                """
        )

        @OptionGroup var model: ModelOptions
        @Argument(help: ArgumentHelp("Combine's scaling data (JSON).", valueName: "scaling.json"))
        var scaling: String
        @Option(help: "The name of the morphing modifier added to each scaled sample.")
        var modifier: String = "combine_scaling"
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The extended workspace to write.", valueName: "out.json"))
        var output: String

        func run() throws {
            try reportingErrors {
                let ws = try CombineScalingImportTask(scaling: scaling, modifier: modifier).run(on: try model.loadWorkspace())
                try writeAtomically(ws.json.serialized(.pretty), to: output)
                print("wrote \(output) (Wilson coefficients \(ws.wilsonCoefficients.joined(separator: ", ")))")
            }
        }
    }

    struct EFT2ObsImport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "eft2obs",
            abstract: "Add EFT2Obs / CMS STXS->SMEFT coefficient tables (prod.json) to a workspace as relative morphing modifiers.",
            discussion: """
                The table maps entries (STXS bins) to A_<op>, B_<op>_2, B_<op1>_<op2> and their u_ uncertainties: \
                μ = 1 + Σ A c + Σ B c c'. --sample CHANNEL/SAMPLE=ENTRY[,ENTRY...] gives one entry per bin of the \
                sample, or one for all its bins (repeat for several samples). Specs/combine.md.
                """
        )

        @OptionGroup var model: ModelOptions
        @Argument(help: ArgumentHelp("The coefficient table (JSON).", valueName: "prod.json"))
        var table: String
        @Option(name: .customLong("sample"), help: ArgumentHelp("CHANNEL/SAMPLE=ENTRY[,ENTRY...] (repeat).", valueName: "ch/sample=entry,..."))
        var samples: [String] = []
        @Option(help: ArgumentHelp("Keep only terms in these operators.", valueName: "op1,op2,..."))
        var coefficients: String?
        @Option(help: "The name of the morphing modifier added to each scaled sample.")
        var modifier: String = "stxs_scaling"
        @Flag(help: "Leave out the tables' u_ uncertainties.")
        var noUncertainties = false
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The extended workspace to write.", valueName: "out.json"))
        var output: String

        func run() throws {
            try reportingErrors {
                let task = EFT2ObsImportTask(table: table, assignments: try samples.map { try EFT2ObsImportTask.assignment(parsing: $0) },
                                             coefficients: coefficients.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
                                             modifier: modifier, uncertainties: !noUncertainties)
                let ws = try task.run(on: try model.loadWorkspace())
                try writeAtomically(ws.json.serialized(.pretty), to: output)
                print("wrote \(output) (Wilson coefficients \(ws.wilsonCoefficients.joined(separator: ", ")))")
            }
        }
    }

    /// Provenance that generator files do not record (Specs/event-database.md, `/provenance`).
    struct ProvenanceOptions: ParsableArguments {
        @Option(help: "The generator chain, e.g. \"MadGraph5_aMC@NLO 3.5.1\".")
        var generator: String
        @Option(help: "The EFT basis and model, e.g. \"SMEFTsim 3.0 topU3l, Warsaw basis\".")
        var basis: String
        @Option(help: ArgumentHelp("The new-physics scale Λ in GeV to which the coefficients are normalised.", valueName: "GeV"))
        var lambda: Double = 1000
        @Option(help: "What the weights are normalised to, in words (e.g. \"expected events for 140 fb^-1\").")
        var normalisation: String
        @Option(help: "The unit of the weights, e.g. events, fb or pb.")
        var weightUnit: String

        var provenance: ImportProvenance {
            ImportProvenance(generator: generator, basis: basis, lambda: lambda, normalisation: normalisation, weightUnit: weightUnit)
        }
    }

    /// Writes `database` to `output` (atomically) and prints what was written.
    /// From this many events on, the import's phases show progress.
    static let largeImportEvents = 1_000_000

    static func write(_ database: EventDatabase, to output: String, summary: String) throws {
        try Progress.runIf(database.eventCount >= EFTHFCommand.largeImportEvents, "write \(output) (\(database.eventCount) events)") {
            try ImportWriting.write(database, to: output)
        }
        print("wrote \(output): \(database.eventCount) events, \(database.monomials.count) terms in \(database.coefficientNames.joined(separator: ", ")), observables \(database.observables.map { $0.unit.isEmpty ? $0.name : "\($0.name) [\($0.unit)]" }.joined(separator: ", "))")
        print(summary)
    }

    struct LHE: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lhe",
            abstract: "Per-event coefficients from the reweighting weights of an LHE file (.lhe or .lhe.gz).",
            discussion: """
                Each --benchmark names a weight id of the file and the point of the Wilson coefficients \
                (--coefficients, in that order) it was reweighted to; every monomial up to --degree is a \
                term, and each event's coefficients solve the morphing system (least squares with more \
                benchmarks than terms). Each --observable is NAME=QUANTITY:PDG,PDG,...[:UNIT] with \
                QUANTITY one of pt, eta, abseta, rapidity, mass, energy, count, computed from the sum of \
                the final-state particles whose |PDG id| is listed. Example: \
                efthf import lhe vh.lhe.gz --coefficients cHW,cHq3 --benchmark sm=0,0 --benchmark w1=1,0 ... \
                --observable pTV=pt:11,12,13,14:GeV --generator MG5 --basis SMEFTsim --normalisation "σ·L/N" \
                --weight-unit events --weight-scale 0.14 -o vh.h5
                """
        )

        @Argument(help: ArgumentHelp("The LHE file.", valueName: "file.lhe[.gz]"))
        var file: String
        @Option(help: ArgumentHelp("The Wilson coefficients, in the order of the benchmark points.", valueName: "c1,c2,..."))
        var coefficients: String
        @Option(help: ArgumentHelp("A weight id and its point: ID=v1,v2,... (repeat).", valueName: "id=v1,v2,..."))
        var benchmark: [String] = []
        @Option(help: "The highest degree of the monomials (2: SM, interference and squared terms).")
        var degree: Int = 2
        @Option(help: ArgumentHelp("An observable: NAME=QUANTITY:PDG,PDG,...[:UNIT] (repeat).", valueName: "spec"))
        var observable: [String] = []
        @Option(help: "Multiplies every weight (e.g. L/N for MadGraph's per-event cross sections).")
        var weightScale: Double = 1
        @OptionGroup var provenance: ProvenanceOptions
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The event database to write.", valueName: "out.h5"))
        var output: String

        func run() throws {
            let names = coefficients.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let points = try benchmark.map { spec throws -> LHEImportTask.Benchmark in
                guard let eq = spec.lastIndex(of: "=") else { throw ValidationError("--benchmark \(spec): expected ID=v1,v2,...") }
                let values = spec[spec.index(after: eq)...].split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard let point = values as? [Double] else { throw ValidationError("--benchmark \(spec): expected ID=v1,v2,... with numbers") }
                return LHEImportTask.Benchmark(id: String(spec[..<eq]), point: point)
            }
            let task = LHEImportTask(file: file, coefficients: names, benchmarks: points, degree: degree, observables: observable,
                                     weightScale: weightScale, provenance: provenance.provenance, output: output)
            try reportingImportErrors {
                let observables = try task.validate()
                let lhe = try Progress.runIf(Self.isLarge(file), "read \(file)\(Self.sizeLabel(file))") { try task.read() }
                let (database, summary) = try Progress.runIf(lhe.events.count >= EFTHFCommand.largeImportEvents, "per-event coefficients (\(lhe.events.count) events, \(points.count) benchmarks)") {
                    try task.database(from: lhe, observables: observables)
                }
                try EFTHFCommand.write(database, to: output, summary: summary)
            }
        }

        /// Whether reading `file` takes long enough to show progress (50 MB and more).
        static func isLarge(_ file: String) -> Bool {
            ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.int64Value ?? 0 >= 50_000_000
        }

        /// " (12.3 MB)" for a file that exists.
        static func sizeLabel(_ file: String) -> String {
            guard let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber else { return "" }
            return String(format: " (%.1f MB)", size.doubleValue / 1e6)
        }

    }

    struct MadMiner: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "madminer",
            abstract: "Per-event coefficients from a MadMiner HDF5 file with a morphing setup and events.",
            discussion: """
                The coefficients are a_ec = Σ_b M[c,b] w_eb with the file's morphing matrix, or the least-squares \
                solution over every physics benchmark (--least-squares); the check against the benchmarks \
                outside the morphing basis is printed. MadMiner's weights are cross sections in pb.
                """
        )

        @Argument(help: ArgumentHelp("The MadMiner file.", valueName: "file.h5"))
        var file: String
        @Option(help: ArgumentHelp("Units of observables: NAME=UNIT,... (default: dimensionless).", valueName: "name=unit,..."))
        var units: String?
        @Flag(help: "Solve over every physics benchmark by least squares instead of the file's morphing matrix.")
        var leastSquares = false
        @OptionGroup var provenance: ProvenanceOptions
        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The event database to write.", valueName: "out.h5"))
        var output: String

        func run() throws {
            var observableUnits: [String: String] = [:]
            for item in (units ?? "").split(separator: ",") {
                let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, !pair[0].isEmpty else { throw ValidationError("--units \(item): expected NAME=UNIT") }
                observableUnits[pair[0]] = pair[1]
            }
            let task = MadMinerImportTask(file: file, units: observableUnits, leastSquares: leastSquares, provenance: provenance.provenance, output: output)
            try reportingImportErrors {
                let madminer = try Progress.runIf(LHE.isLarge(file), "read \(file)\(LHE.sizeLabel(file))") { try task.read() }
                let (database, summary) = try Progress.runIf(LHE.isLarge(file), "per-event coefficients") { try task.database(from: madminer) }
                try EFTHFCommand.write(database, to: output, summary: summary)
            }
        }
    }
}

/// Event-database errors as one clear line, like the other commands' errors.
func reportingImportErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as EventDatabaseError {
        fail(error)
    }
}
