import Foundation
import Morphing
import Testing
@testable import EventDatabase
import _SeededRandom

/// The reference files collected for the project (see /work/shared/reference/eft/README.txt).
enum ReferenceFiles {
    static let directory = URL(fileURLWithPath: "/work/shared/reference/eft")
    static let madMinerSetup = directory.appendingPathComponent("madminer_tutorial_setup.h5")
    static let lhe = directory.appendingPathComponent("pylhe-testlhef3.lhe")
    static var available: Bool { FileManager.default.fileExists(atPath: madMinerSetup.path) && FileManager.default.fileExists(atPath: lhe.path) }
}

@Suite("MadMiner import", .enabled(if: ReferenceFiles.available))
struct ImportMadMinerTests {
    /// The tutorial's morphing matrix, `M[c][b]`, as stored (h5py float64, full precision).
    static let tutorialMatrix: [[Double]] = [
        [0.025707846975058346, -0.016944346398729104, 0.9912364994236706],
        [0.03799880312433507, -0.022988794064928323, -0.015010009059406743],
        [0.001945868673346318, 0.0016481722234193553, -0.0035940408967656736],
    ]
    static let tutorialBenchmarks: [(String, Double)] = [
        ("morphing_basis_vector_0", 14.649815686242391), ("morphing_basis_vector_1", -18.826175803044194),
        ("morphing_basis_vector_2", -0.701762358881389), ("sm", 0), ("50", 0.9399), ("200", 3.767), ("500", 9.399),
        ("neg_50", -0.9399), ("neg_200", -3.767), ("neg_500", -9.399),
    ]

    @Test("the real tutorial setup file: parameters, benchmarks, components and matrix as stored")
    func readsTheTutorialSetupFile() throws {
        let file = try MadMinerFile(contentsOf: ReferenceFiles.madMinerSetup)
        #expect(file.parameters == [
            MadMinerFile.Parameter(name: "CWL2", lhaBlock: "dim6", lhaID: 2, maximumPower: [2], range: [-20, 20], transform: "theta")
        ])
        #expect(file.benchmarks.map(\.name) == Self.tutorialBenchmarks.map(\.0))
        #expect(file.benchmarks.map(\.values) == Self.tutorialBenchmarks.map { [$0.1] })
        #expect(file.benchmarks.allSatisfy { !$0.isNuisance })
        #expect(file.morphingComponents == [[0], [1], [2]])
        #expect(file.monomials == [.one, .linear(0), .square(0)])
        #expect(file.morphingMatrix == Self.tutorialMatrix)
        #expect(file.morphingBasis == [0, 1, 2])
        #expect(file.eventCount == 0 && file.observableNames.isEmpty)
        // README.txt's convention, checked through what morphing is for: any quadratic f in θ is
        // reproduced from its values at the basis points, Σ_b w_b(θ) f(θ_b) = f(θ).
        for theta in [-20.0, -3.767, 0, 0.9399, 11.5] {
            let w = file.morphingWeights(at: [theta])
            let f = { (x: Double) in 2 - 0.3 * x + 0.07 * x * x }
            let morphed = zip(w, file.morphingBasis).reduce(0) { $0 + $1.0 * f(file.benchmarks[$1.1].values[0]) }
            #expect(abs(morphed - f(theta)) <= 1e-12 * 411 * max(1, abs(f(theta))), "θ = \(theta)")
        }
        #expect(throws: EventDatabaseError.self) {
            _ = try file.eventDatabase(provenance: Self.provenance)
        }
    }

    static let provenance = EventDatabase.Provenance(
        generator: "efthf test: synthetic events in MadMiner's layout", eftBasis: "MadMiner tutorial (CWL2)", lambda: 1000,
        normalisation: "Σ_e w_e(θ) = σ(θ) in pb", weightUnit: "pb")

    /// Per-event truth: `w_e(θ) = s_e (1 + r_e θ)²`, a squared amplitude, so `a_e = s_e (1, 2r_e, r_e²)`.
    static func truth(events N: Int, seed: UInt64) -> (a: [[Double]], pT: [Double], eta: [Double]) {
        var rng = SplitMix64(state: seed)
        var a = [[Double]](repeating: [Double](repeating: 0, count: N), count: 3)
        var pT = [Double](repeating: 0, count: N), eta = pT
        for e in 0 ..< N {
            pT[e] = Double.random(in: 20 ..< 500, using: &rng)
            eta[e] = Double.random(in: -2.5 ..< 2.5, using: &rng)
            let r = Double.random(in: -0.2 ... 0.2, using: &rng) * pT[e] / 100
            let s = Double.random(in: 1e-4 ... 2e-4, using: &rng)
            (a[0][e], a[1][e], a[2][e]) = (s, 2 * s * r, s * r * r)
        }
        return (a, pT, eta)
    }

    /// Writes a MadMiner file with events the way MadMiner does (setup of the tutorial, then
    /// `observables/…` and `samples/observations` `(N, O)`, `samples/weights` `(N, B)`).
    static func writeMadMinerFile(to url: URL, rangeDataset: String, events N: Int, matrix: [[Double]] = tutorialMatrix) throws -> (a: [[Double]], pT: [Double], eta: [Double]) {
        let (a, pT, eta) = truth(events: N, seed: 7)
        let thetas = tutorialBenchmarks.map(\.1)
        var weights = [Double](repeating: 0, count: N * thetas.count)
        for e in 0 ..< N {
            for (b, theta) in thetas.enumerated() { weights[e * thetas.count + b] = a[0][e] + a[1][e] * theta + a[2][e] * theta * theta }
        }
        var observations = [Double](repeating: 0, count: N * 2)
        for e in 0 ..< N { (observations[2 * e], observations[2 * e + 1]) = (pT[e], eta[e]) }
        try _HDF5.withLock {
            let root = try _H5Location.create(file: url.path)
            let parameters = try root.createGroup("parameters")
            try parameters.writeStrings("names", ["CWL2"])
            try parameters.writeStrings("lha_blocks", ["dim6"])
            try parameters.writeIntegers("lha_ids", [2], shape: [1])
            try parameters.writeIntegers("max_power", [2], shape: [1, 1])
            try parameters.writeDoubles(rangeDataset, [-20, 20], shape: [1, 2])
            try parameters.writeStrings("transforms", ["theta"])
            let benchmarks = try root.createGroup("benchmarks")
            try benchmarks.writeStrings("names", tutorialBenchmarks.map(\.0))
            try benchmarks.writeDoubles("values", thetas, shape: [thetas.count, 1])
            try benchmarks.writeIntegers("is_nuisance", [Int64](repeating: 0, count: thetas.count), shape: [thetas.count])
            let morphing = try root.createGroup("morphing")
            try morphing.writeIntegers("components", [0, 1, 2], shape: [3, 1])
            try morphing.writeDoubles("morphing_matrix", matrix.flatMap { $0 }, shape: [3, 3])
            let observables = try root.createGroup("observables")
            try observables.writeStrings("names", ["pt_j1", "eta_j1"])
            try observables.writeStrings("definitions", ["j[0].pt", "j[0].eta"])
            let samples = try root.createGroup("samples")
            try samples.writeDoubles("observations", observations, shape: [N, 2])
            try samples.writeDoubles("weights", weights, shape: [N, thetas.count])
            _ = root.handle.closeNow()
        }
        return (a, pT, eta)
    }

    @Test("events at benchmarks become basis coefficients a_ec = Σ_b M[c,b] w_eb", arguments: ["ranges", "val_ranges"])
    func importsEventsThroughTheMorphingMatrix(rangeDataset: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("madminer_events.h5")
        let N = 2000
        let (a, pT, eta) = try Self.writeMadMinerFile(to: source, rangeDataset: rangeDataset, events: N)

        let file = try MadMinerFile(contentsOf: source)
        #expect(file.parameters[0].range == [-20, 20])
        #expect(file.eventCount == N && file.observableNames == ["pt_j1", "eta_j1"] && file.observableDefinitions == ["j[0].pt", "j[0].eta"])
        for method in [MadMinerFile.Conversion.morphingMatrix, .leastSquaresOverAllBenchmarks] {
            let (database, check) = try file.eventDatabase(provenance: Self.provenance, observableUnits: ["pt_j1": "GeV"], method: method)
            #expect(database.coefficientNames == ["CWL2"] && database.monomials == [.one, .linear(0), .square(0)])
            // κ(M) = 411 and |θ_b| ≤ 20: the solve loses about three digits at most.
            for t in 0 ..< 3 {
                let scale = a[t].map(abs).max()!
                let worst = zip(database.basisCoefficients[t], a[t]).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-12 * scale * 411, "term \(t), \(method): \(worst / scale)")
            }
            // The seven physics benchmarks outside the basis are reproduced by the polynomial.
            #expect(check.largestRelativeResidual < 1e-11, "\(method): \(check)")
            #expect(database.observables.map(\.name) == ["pt_j1", "eta_j1"])
            #expect(database.observables[0].values == pT && database.observables[1].values == eta && database.observables[0].unit == "GeV")
            let nominalError = zip(database.nominalWeights, a[0]).map { abs($0 - $1) / $1 }.max()!
            #expect(nominalError <= 1e-12 * 411, "the nominal weights are the SM (θ = 0) weights: \(nominalError)")
        }

        // The result is an ordinary efthf event database: it round-trips through its own format.
        let (database, _) = try file.eventDatabase(provenance: Self.provenance)
        let target = directory.appendingPathComponent("efthf.h5")
        try database.write(to: target)
        let read = try EventDatabase(contentsOf: target)
        #expect(read.basisCoefficients == database.basisCoefficients && read.provenance == Self.provenance)
        #expect(read.monomials == database.monomials && read.coefficientNames == ["CWL2"])
    }

    @Test("a morphing matrix that breaks the convention (transposed) is rejected, naming the dataset")
    func rejectsAMatrixOutsideTheConvention() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("transposed.h5")
        let transposed = (0 ..< 3).map { b in (0 ..< 3).map { c in Self.tutorialMatrix[c][b] } }
        _ = try Self.writeMadMinerFile(to: url, rangeDataset: "ranges", events: 10, matrix: transposed)
        let error = try #require(throws: EventDatabaseError.self) { try MadMinerFile(contentsOf: url) }
        #expect(error.code == .format && error.dataset == "/morphing/morphing_matrix" && error.file == url.path)
    }

    @Test("a file without parameter ranges names parameters/ranges")
    func missingRangesAreReported() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("noranges.h5")
        _ = try Self.writeMadMinerFile(to: url, rangeDataset: "unrelated", events: 10)
        let error = try #require(throws: EventDatabaseError.self) { try MadMinerFile(contentsOf: url) }
        #expect(error.code == .missing && error.dataset == "/parameters/ranges")
    }
}
