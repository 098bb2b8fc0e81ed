import EventDatabase
import Foundation
import Morphing

/// What the generator files do not record about an event database (Specs/event-database.md,
/// `/provenance`).
public struct ImportProvenance: Sendable, Codable, Equatable {
    public var generator: String
    public var basis: String
    /// Λ in GeV to which the coefficients are normalised.
    public var lambda: Double
    public var normalisation: String
    public var weightUnit: String

    enum CodingKeys: String, CodingKey { case generator, basis, lambda, normalisation, weightUnit = "weight_unit" }

    public init(generator: String, basis: String, lambda: Double = 1000, normalisation: String, weightUnit: String) {
        self.generator = generator
        self.basis = basis
        self.lambda = lambda
        self.normalisation = normalisation
        self.weightUnit = weightUnit
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(generator: try c.decode(String.self, forKey: .generator), basis: try c.decode(String.self, forKey: .basis),
                  lambda: try c.value(.lambda, default: 1000), normalisation: try c.decode(String.self, forKey: .normalisation),
                  weightUnit: try c.decode(String.self, forKey: .weightUnit))
    }

    public func validate() throws(EventDatabaseError) {
        guard lambda.isFinite, lambda > 0 else { throw EventDatabaseError(.invalidValue, "lambda must be a positive number of GeV, found \(lambda)") }
    }

    public var provenance: EventDatabase.Provenance {
        EventDatabase.Provenance(generator: generator, eftBasis: basis, lambda: lambda, normalisation: normalisation, weightUnit: weightUnit)
    }
}

/// What an import wrote.
public struct ImportReport: Sendable, Codable, Equatable {
    public let output: String
    public let events: Int
    public let terms: Int
    public let coefficients: [String]
    /// `name [unit]` per observable.
    public let observables: [String]
    /// The morphing system (LHE) or the check at the benchmarks outside the basis (MadMiner).
    public let summary: String

    init(output: String, database: EventDatabase, summary: String) {
        self.output = output
        events = database.eventCount
        terms = database.monomials.count
        coefficients = database.coefficientNames
        observables = database.observables.map { $0.unit.isEmpty ? $0.name : "\($0.name) [\($0.unit)]" }
        self.summary = summary
    }
}

/// An event database from the reweighting weights of an LHE file (`efthf import lhe`): per-event
/// basis coefficients from the benchmark weights by the morphing inversion (square or least
/// squares), observables computed from the final-state particles.
public struct LHEImportTask: Sendable, Codable, Equatable {
    /// A weight id of the file and the coefficient point it was generated at.
    public struct Benchmark: Sendable, Codable, Equatable {
        public let id: String
        public let point: [Double]
        public init(id: String, point: [Double]) {
            self.id = id
            self.point = point
        }
    }

    public var file: String
    public var coefficients: [String]
    public var benchmarks: [Benchmark]
    /// The highest degree of the monomials (2: SM, interference and squared terms).
    public var degree: Int
    /// `NAME=QUANTITY:PDG,PDG,...[:UNIT]` each.
    public var observables: [String]
    /// Multiplies every weight (e.g. L/N for MadGraph's per-event cross sections).
    public var weightScale: Double
    public var provenance: ImportProvenance
    public var output: String

    public static let maximumBenchmarks = 10_000, maximumObservables = 1_000, maximumDegree = 4, maximumCoefficients = 100

    enum CodingKeys: String, CodingKey, CaseIterable {
        case file, coefficients, benchmarks, degree, observables, weightScale = "weight_scale", provenance, output
    }

    public init(file: String, coefficients: [String], benchmarks: [Benchmark], degree: Int = 2, observables: [String] = [],
                weightScale: Double = 1, provenance: ImportProvenance, output: String) {
        self.file = file
        self.coefficients = coefficients
        self.benchmarks = benchmarks
        self.degree = degree
        self.observables = observables
        self.weightScale = weightScale
        self.provenance = provenance
        self.output = output
    }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(file: try c.decode(String.self, forKey: .file), coefficients: try c.decode([String].self, forKey: .coefficients),
                  benchmarks: try c.decode([Benchmark].self, forKey: .benchmarks), degree: try c.value(.degree, default: 2),
                  observables: try c.value(.observables, default: []), weightScale: try c.value(.weightScale, default: 1),
                  provenance: try c.decode(ImportProvenance.self, forKey: .provenance), output: try c.decode(String.self, forKey: .output))
    }

    /// Checks the sizes and values; returns the observables read.
    public func validate() throws(EventDatabaseError) -> [LHEObservable] {
        guard !coefficients.isEmpty, coefficients.count <= Self.maximumCoefficients, Set(coefficients).count == coefficients.count,
              !coefficients.contains("") else {
            throw EventDatabaseError(.invalidValue, "coefficients (--coefficients): 1 to \(Self.maximumCoefficients) distinct names are needed, found \(coefficients.count): \(coefficients.prefix(10))")
        }
        guard (0...Self.maximumDegree).contains(degree) else { throw EventDatabaseError(.invalidValue, "degree (--degree) must be from 0 to \(Self.maximumDegree), not \(degree)") }
        guard !benchmarks.isEmpty, benchmarks.count <= Self.maximumBenchmarks else {
            throw EventDatabaseError(.invalidValue, "benchmarks (--benchmark): 1 to \(Self.maximumBenchmarks) are needed, found \(benchmarks.count)")
        }
        for b in benchmarks where b.point.count != coefficients.count || !b.point.allSatisfy(\.isFinite) {
            throw EventDatabaseError(.invalidValue, "benchmark \(b.id): expected \(coefficients.count) finite values (\(coefficients.joined(separator: ", "))), found \(b.point)")
        }
        guard observables.count <= Self.maximumObservables else { throw EventDatabaseError(.invalidValue, "observables (--observable): at most \(Self.maximumObservables), found \(observables.count)") }
        guard weightScale.isFinite, weightScale > 0 else { throw EventDatabaseError(.invalidValue, "the weight scale must be positive, found \(weightScale)") }
        try provenance.validate()
        return try observables.map { spec throws(EventDatabaseError) in try Self.observable(spec) }
    }

    /// Reads the LHE file.
    public func read() throws(EventDatabaseError) -> LHEFile {
        try LHEFile(contentsOf: URL(fileURLWithPath: file))
    }

    /// The event database of `lhe` and a description of its morphing system.
    public func database(from lhe: LHEFile, observables parsed: [LHEObservable]) throws(EventDatabaseError) -> (EventDatabase, String) {
        let (database, morphing) = try lhe.eventDatabase(
            benchmarks: benchmarks.map { (weightID: $0.id, point: $0.point) }, coefficientNames: coefficients,
            monomials: Monomial.all(upToDegree: degree, coefficientCount: coefficients.count),
            observables: parsed, provenance: provenance.provenance, weightScale: weightScale)
        return (database, "morphing system: \(benchmarks.count) benchmarks, \(morphing.isOverdetermined ? "least squares" : "square")")
    }

    /// Reads, converts and writes `output` (atomically).
    public func run() throws -> ImportReport {
        let parsed = try validate()
        let (database, summary) = try database(from: try read(), observables: parsed)
        try ImportWriting.write(database, to: output)
        return ImportReport(output: output, database: database, summary: summary)
    }

    /// `NAME=QUANTITY:PDG,PDG,...[:UNIT]`.
    public static func observable(_ spec: String) throws(EventDatabaseError) -> LHEObservable {
        let quantities: [String: LHEObservable.Quantity] = [
            "pt": .transverseMomentum, "eta": .pseudorapidity, "abseta": .absolutePseudorapidity, "rapidity": .rapidity,
            "mass": .invariantMass, "energy": .energy, "count": .count,
        ]
        guard let eq = spec.firstIndex(of: "=") else { throw EventDatabaseError(.invalidValue, "observable \(spec): expected NAME=QUANTITY:PDG,PDG,...[:UNIT]") }
        let name = String(spec[..<eq])
        let parts = spec[spec.index(after: eq)...].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard !name.isEmpty, parts.count == 2 || parts.count == 3, let quantity = quantities[parts[0]] else {
            throw EventDatabaseError(.invalidValue, "observable \(spec): expected NAME=QUANTITY:PDG,PDG,...[:UNIT] with QUANTITY one of \(quantities.keys.sorted().joined(separator: ", "))")
        }
        let ids = parts[1].split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ids.isEmpty, let pdg = ids as? [Int] else { throw EventDatabaseError(.invalidValue, "observable \(spec): the PDG ids must be integers") }
        let unit = parts.count == 3 ? parts[2] : (quantity == .transverseMomentum || quantity == .invariantMass || quantity == .energy ? "GeV" : "")
        return LHEObservable(name: name, unit: unit, quantity: quantity, pdgIDs: Set(pdg.map(abs)))
    }
}

/// An event database from a MadMiner HDF5 file (`efthf import madminer`): a_ec = Σ_b M[c,b] w_eb
/// with the file's morphing matrix, or by least squares over every physics benchmark.
public struct MadMinerImportTask: Sendable, Codable, Equatable {
    public var file: String
    /// Units of observables by name (default: dimensionless).
    public var units: [String: String]
    public var leastSquares: Bool
    public var provenance: ImportProvenance
    public var output: String

    enum CodingKeys: String, CodingKey, CaseIterable { case file, units, leastSquares = "least_squares", provenance, output }

    public init(file: String, units: [String: String] = [:], leastSquares: Bool = false, provenance: ImportProvenance, output: String) {
        self.file = file
        self.units = units
        self.leastSquares = leastSquares
        self.provenance = provenance
        self.output = output
    }

    public init(from decoder: any Decoder) throws {
        try TaskCoding.rejectUnknown(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(file: try c.decode(String.self, forKey: .file), units: try c.value(.units, default: [:]),
                  leastSquares: try c.value(.leastSquares, default: false), provenance: try c.decode(ImportProvenance.self, forKey: .provenance),
                  output: try c.decode(String.self, forKey: .output))
    }

    public func read() throws(EventDatabaseError) -> MadMinerFile {
        try provenance.validate()
        return try MadMinerFile(contentsOf: URL(fileURLWithPath: file))
    }

    /// The event database of `madminer` and the check at the benchmarks outside the morphing basis.
    public func database(from madminer: MadMinerFile) throws(EventDatabaseError) -> (EventDatabase, String) {
        for name in units.keys.sorted() where !madminer.observableNames.contains(name) {
            throw EventDatabaseError(.names, "units names \"\(name)\", which the file has no observable of; it has: \(madminer.observableNames.joined(separator: ", "))", file: file)
        }
        let (database, check) = try madminer.eventDatabase(provenance: provenance.provenance, observableUnits: units,
                                                           method: leastSquares ? .leastSquaresOverAllBenchmarks : .morphingMatrix)
        return (database, "largest relative residual at the benchmarks outside the morphing basis: \(String(format: "%.3g", check.largestRelativeResidual))\(check.benchmark.map { " (\($0))" } ?? "")")
    }

    public func run() throws -> ImportReport {
        let (database, summary) = try database(from: try read())
        try ImportWriting.write(database, to: output)
        return ImportReport(output: output, database: database, summary: summary)
    }
}

/// Writes an imported database atomically (no half-written file on failure).
public enum ImportWriting {
    public static func write(_ database: EventDatabase, to output: String) throws {
        try AtomicFiles.write([OutputFile(path: output, writer: { url in try database.write(to: url) })])
    }
}
