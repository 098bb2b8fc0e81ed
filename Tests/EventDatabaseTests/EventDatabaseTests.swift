import Foundation
import Morphing
import Testing
@testable import EventDatabase
import _SeededRandom

@Suite("Event database: HDF5 round trip and validation")
struct EventDatabaseFileTests {
    @Test("write then read returns identical columns, names, units and provenance")
    func roundTripIsExact() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try Fixtures.database(events: 3000)
        let url = directory.appendingPathComponent("vh.h5")
        try database.write(to: url)
        let read = try EventDatabase(contentsOf: url)
        #expect(read.provenance == database.provenance)
        #expect(read.coefficientNames == database.coefficientNames)
        #expect(read.monomials == database.monomials)
        #expect(read.basisCoefficients == database.basisCoefficients)
        #expect(read.nominalWeights == database.nominalWeights)
        #expect(read.referencePoint == database.referencePoint)
        #expect(read.observables.map(\.name).sorted() == ["etaV", "pTV"])
        let pT = try #require(read.observables.first { $0.name == "pTV" })
        #expect(pT.unit == "GeV" && pT.values == database.observables[0].values)
        #expect(read.weightVariations.map(\.name) == ["btag"] && read.weightVariations[0].up == database.weightVariations[0].up)
        #expect(read.observableShifts.map(\.name) == ["JES"] && read.observableShifts[0].down == database.observableShifts[0].down)
        #expect(read.negativeWeightEventCount == database.negativeWeightEventCount)
        #expect(database.negativeWeightEventCount > 0, "the fixture has NLO-like negative weights")
        // No temporary file is left beside the target.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["vh.h5"])
    }

    @Test("monomial names round-trip through the file notation", arguments: ["SM", "cHW", "cHW^2", "cHW*cHq3", "cHq3*cHW", "cHDD^3*cHW"])
    func monomialNamesParse(_ text: String) throws {
        let names = Fixtures.coefficientNames
        let m = try EventDatabase.monomial(named: text, coefficientNames: names)
        let again = try EventDatabase.monomial(named: EventDatabase.name(of: m, coefficientNames: names), coefficientNames: names)
        #expect(m == again)
    }

    /// A way of damaging a valid file, the error code expected, and the dataset the error must name.
    struct Damage: Sendable, CustomStringConvertible {
        let description: String
        let code: EventDatabaseError.Code
        let dataset: String
        let apply: @Sendable (_H5Location, Int) throws -> Void
    }

    static let damages: [Damage] = [
        Damage(description: "missing coefficient column", code: .missing, dataset: "/coefficients/cHW^2") { root, _ in
            try root.group("coefficients").delete("cHW^2")
        },
        Damage(description: "missing observable group", code: .missing, dataset: "/observables") { root, _ in
            try root.delete("observables")
        },
        Damage(description: "column one event short", code: .shape, dataset: "/observables/etaV") { root, n in
            let g = try root.group("observables")
            try g.delete("etaV")
            try g.writeDoubles("etaV", [Double](repeating: 0, count: n - 1))
        },
        Damage(description: "two-dimensional weights", code: .shape, dataset: "/weights/nominal") { root, n in
            let g = try root.group("weights")
            try g.delete("nominal")
            try g.writeDoubles("nominal", [Double](repeating: 0, count: n), shape: [n / 2, 2])
        },
        Damage(description: "integer coefficient column", code: .wrongType, dataset: "/coefficients/SM") { root, n in
            let g = try root.group("coefficients")
            try g.delete("SM")
            try g.writeIntegers("SM", [Int64](repeating: 1, count: n), shape: [n])
        },
        Damage(description: "NaN in an observable", code: .invalidValue, dataset: "/observables/pTV") { root, n in
            let g = try root.group("observables")
            try g.delete("pTV")
            var values = [Double](repeating: 50, count: n)
            values[7] = .nan
            try g.writeDoubles("pTV", values)
        },
        Damage(description: "infinity in a shift", code: .invalidValue, dataset: "/systematics/shifts/JES/pTV/up") { root, n in
            let g = try root.group("systematics").group("shifts").group("JES").group("pTV")
            try g.delete("up")
            var values = [Double](repeating: 0, count: n)
            values[n - 1] = .infinity
            try g.writeDoubles("up", values)
        },
        Damage(description: "renamed Wilson coefficient", code: .names, dataset: "/monomials") { root, _ in
            try root.delete("wilson_coefficients")
            try root.writeStrings("wilson_coefficients", ["cHW", "cHQ3", "cHDD"])
        },
        Damage(description: "column for a monomial not listed", code: .names, dataset: "/coefficients/cHW^3") { root, n in
            try root.group("coefficients").writeDoubles("cHW^3", [Double](repeating: 0, count: n))
        },
        Damage(description: "nominal weights inconsistent with the coefficients", code: .invalidValue, dataset: "/weights/nominal") { root, n in
            let g = try root.group("weights")
            try g.delete("nominal")
            try g.writeDoubles("nominal", [Double](repeating: 1e6, count: n))
            try g.object("nominal").writeAttribute("reference_point", doubles: [0, 0, 0])
        },
    ]

    @Test("a damaged file fails with an error naming the file and dataset", arguments: damages)
    func damagedFileIsRejected(_ damage: Damage) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try Fixtures.database(events: 200)
        let path = directory.appendingPathComponent("damaged.h5").path
        try _HDF5.withLock {
            let root = try _H5Location.create(file: path)
            try database._writeContents(root)
            try damage.apply(root, database.eventCount)
            #expect(root.handle.closeNow())
        }
        do {
            _ = try EventDatabase(contentsOf: URL(fileURLWithPath: path))
            Issue.record("\(damage) was accepted")
        } catch {
            #expect(error.code == damage.code, "\(error)")
            #expect(error.file == path)
            #expect(error.dataset == damage.dataset, "\(error)")
        }
    }

    /// The bulk reader on a raw file: columns at unaligned offsets, read in pieces smaller than,
    /// equal to and larger than a column; a NaN found by event across piece boundaries; a range
    /// beyond the end of the file is an I/O error.
    @Test("columns are copied exactly piece by piece; non-finite values and short files are reported", arguments: [64, 8000, 8 << 20])
    func directReadInPieces(_ pieceSize: Int) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("raw.bin").path
        let counts = [1000, 1, 2501]
        var rng = SplitMix64(state: 21)
        let columns = counts.map { n in (0 ..< n).map { _ in Double.random(in: -1e3 ... 1e3, using: &rng) } }
        // Columns stored in reverse order, each after 37 bytes of padding (offsets not multiples of 8).
        var bytes = [UInt8]()
        var offsets = [Int](repeating: 0, count: counts.count)
        for j in columns.indices.reversed() {
            bytes += [UInt8](repeating: 0xAB, count: 37)
            offsets[j] = bytes.count
            columns[j].withUnsafeBytes { bytes += $0 }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let requests = zip(offsets, counts).map { (offset: $0, count: $1) }

        let read = try _DirectRead.readColumns(file: path, requests, checkFinite: true, pieceSize: pieceSize).get()
        #expect(read == columns)

        var damaged = bytes
        withUnsafeBytes(of: Double.nan) { damaged.replaceSubrange(offsets[2] + 8 * 2000 ..< offsets[2] + 8 * 2001, with: $0) }
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        switch _DirectRead.readColumns(file: path, requests, checkFinite: true, pieceSize: pieceSize) {
        case .success: Issue.record("a NaN was accepted")
        case .failure(let failure): #expect(failure.column == 2 && failure.errorNumber == 0 && failure.event == 2000 && failure.value.isNaN)
        }

        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let beyond = requests + [(offset: bytes.count - 80, count: 11)]
        switch _DirectRead.readColumns(file: path, beyond, checkFinite: true, pieceSize: pieceSize) {
        case .success: Issue.record("a range beyond the end of the file was read")
        case .failure(let failure): #expect(failure.column == 3 && failure.errorNumber == EIO)
        }
    }

    /// Writes `database` with `_writeContents`, lets `edit` change the file, and reads it back.
    static func readBack(_ database: EventDatabase, editedBy edit: (_H5Location) throws -> Void) throws -> EventDatabase {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("edited.h5").path
        try _HDF5.withLock {
            let root = try _H5Location.create(file: path)
            try database._writeContents(root)
            try edit(root)
            #expect(root.handle.closeNow())
        }
        return try EventDatabase(contentsOf: URL(fileURLWithPath: path))
    }

    /// Replaces dataset `name` of `group` by `newName` holding the same doubles.
    static func rename(_ group: _H5Location, _ name: String, to newName: String, count: Int) throws {
        let (values, _) = try group.readDoubles(name, expectedShape: [count])
        try group.delete(name)
        try group.writeDoubles(newName, values)
    }

    /// The spellings Specs/event-database.md allows besides the written ones, independently in
    /// `/monomials` and in the `/coefficients/` dataset names: `1` for `SM`, factors in another
    /// order, `^1`, a repeated factor. The columns are matched by monomial, not by string.
    @Test("coefficient columns and /monomials may use any spelling of a monomial")
    func alternativeMonomialSpellingsAreAccepted() throws {
        let database = try Fixtures.database(events: 300)
        let names = database.monomials.map { EventDatabase.name(of: $0, coefficientNames: Fixtures.coefficientNames) }
        #expect(names.contains("cHW*cHq3") && names.contains("cHq3*cHDD") && names.contains("cHW^2"))
        let read = try Self.readBack(database) { root in
            let coefficients = try root.group("coefficients")
            let N = database.eventCount
            try Self.rename(coefficients, "SM", to: "1", count: N)
            try Self.rename(coefficients, "cHW*cHq3", to: "cHq3*cHW", count: N)
            try Self.rename(coefficients, "cHW^2", to: "cHW*cHW", count: N)
            try Self.rename(coefficients, "cHDD", to: "cHDD^1", count: N)
            // /monomials spelled differently again (the column of cHq3*cHDD keeps its written name).
            try root.delete("monomials")
            try root.writeStrings("monomials", names.map { ["SM": "SM", "cHq3*cHDD": "cHDD*cHq3", "cHW": "cHW^1"][$0] ?? $0 })
        }
        #expect(read.monomials == database.monomials)
        #expect(read.basisCoefficients == database.basisCoefficients)
        #expect(read.nominalWeights == database.nominalWeights)
    }

    /// Two datasets that spell the same monomial, or `/monomials` naming one monomial twice, are errors.
    @Test("two spellings of one monomial are rejected, naming the dataset")
    func repeatedMonomialSpellingsAreRejected() throws {
        let database = try Fixtures.database(events: 50)
        let N = database.eventCount
        #expect {
            _ = try Self.readBack(database) { root in
                try root.group("coefficients").writeDoubles("cHq3*cHW", [Double](repeating: 0, count: N))
            }
        } throws: { error in
            let e = error as? EventDatabaseError
            return e?.code == .names && e?.dataset == "/coefficients/cHq3*cHW" && e?.message.contains("cHW*cHq3") == true
        }
        #expect {
            _ = try Self.readBack(database) { root in
                let names = database.monomials.map { EventDatabase.name(of: $0, coefficientNames: Fixtures.coefficientNames) }
                try root.delete("monomials")
                try root.writeStrings("monomials", names.map { $0 == "SM" ? "1" : $0 == "cHW" ? "cHW^2" : $0 })
                try root.delete("monomial_exponents")
            }
        } throws: { error in
            let e = error as? EventDatabaseError
            return e?.code == .names && e?.dataset == "/monomials"
        }
    }

    /// Other writers (h5py with `chunks=…, compression="gzip"`) store columns chunked and
    /// compressed; the reader takes them through HDF5 instead of the direct copy, with the same
    /// values, and still checks them for NaN.
    @Test("chunked, gzip-compressed columns read back exactly", arguments: [false, true])
    func chunkedCompressedColumnsAreRead(_ shuffle: Bool) throws {
        let database = try Fixtures.database(events: 2500)
        let chunked = (rows: 1000, level: UInt32(4), shuffle: shuffle)
        let read = try Self.readBack(database) { root in
            let coefficients = try root.group("coefficients")
            for (t, name) in database.monomials.map({ EventDatabase.name(of: $0, coefficientNames: Fixtures.coefficientNames) }).enumerated() where t % 2 == 0 {
                try coefficients.delete(name)
                try coefficients.writeDoubles(name, database.basisCoefficients[t], chunked: chunked)
            }
            let observables = try root.group("observables")
            try observables.delete("pTV")
            try observables.writeDoubles("pTV", database.observables[0].values, chunked: chunked)
            try observables.object("pTV").writeAttribute("unit", string: "GeV")
            let weights = try root.group("weights")
            try weights.delete("nominal")
            try weights.writeDoubles("nominal", database.nominalWeights, chunked: chunked)
        }
        #expect(read.basisCoefficients == database.basisCoefficients)
        #expect(read.observables.first { $0.name == "pTV" }?.values == database.observables[0].values)
        #expect(read.nominalWeights == database.nominalWeights)
        #expect {
            _ = try Self.readBack(database) { root in
                var values = database.observables[1].values
                values[2499] = .nan
                let observables = try root.group("observables")
                try observables.delete("etaV")
                try observables.writeDoubles("etaV", values, chunked: chunked)
            }
        } throws: { error in
            let e = error as? EventDatabaseError
            return e?.code == .invalidValue && e?.dataset == "/observables/etaV"
        }
    }

    /// `/weights/nominal` is optional for readers: without it the weights are those at the SM.
    @Test("without /weights/nominal the nominal weights are computed at the SM")
    func nominalWeightsAreOptional() throws {
        let database = try Fixtures.database(events: 400)
        for removeGroup in [false, true] {
            let read = try Self.readBack(database) { root in
                if removeGroup { try root.delete("weights") } else { try root.group("weights").delete("nominal") }
            }
            #expect(read.referencePoint == [0, 0, 0])
            #expect(read.nominalWeights == database.nominalWeights)
            #expect(read.basisCoefficients == database.basisCoefficients)
        }
    }

    @Test("a file that is not HDF5, or absent, is reported with its path")
    func notHDF5IsRejected() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("text.h5")
        try Data("not hdf5".utf8).write(to: url)
        #expect { try EventDatabase(contentsOf: url) } throws: { ($0 as? EventDatabaseError)?.code == .format && ($0 as? EventDatabaseError)?.file == url.path }
        let missing = directory.appendingPathComponent("absent.h5")
        #expect { try EventDatabase(contentsOf: missing) } throws: { ($0 as? EventDatabaseError)?.code == .io }
    }

    @Test("construction rejects inconsistent columns")
    func constructionValidates() throws {
        let provenance = EventDatabase.Provenance(generator: "g", eftBasis: "b", lambda: 1000, normalisation: "n", weightUnit: "events")
        #expect(throws: EventDatabaseError.self) {
            try EventDatabase(provenance: provenance, coefficientNames: ["cHW"], monomials: [.one, .linear(0)], basisCoefficients: [[1, 2], [1]],
                              observables: [.init(name: "x", unit: "", values: [1, 2])])
        }
        #expect(throws: EventDatabaseError.self) {
            try EventDatabase(provenance: provenance, coefficientNames: ["cHW", "cHW"], monomials: [.one], basisCoefficients: [[1]],
                              observables: [.init(name: "x", unit: "", values: [1])])
        }
    }
}

@Suite("Event database: static projection and per-event kernel")
struct EventDatabaseBinningTests {
    static let binnings: [Binning] = [
        try! Binning.uniform(observable: "pTV", count: 12, lower: 0, upper: 480),
        try! Binning(observable: "pTV", edges: [30, 75, 150, 250, 400], flow: .foldIntoEdgeBins),
    ]

    @Test("projected templates equal the brute-force per-event loop at random points (1e-10 relative)", arguments: binnings)
    func projectionMatchesBruteForce(_ binning: Binning) throws {
        let database = try Fixtures.database(events: 5000, seed: 7)
        let selection = Selection([.init(observable: "etaV", lower: -2, upper: 2)])
        let projection = try database.projection(binning: binning, selection: selection)
        var rng = SplitMix64(state: 99)
        for _ in 0 ..< 10 {
            let c = Fixtures.randomPoint(&rng)
            let brute = try bruteForceHistogram(database, at: c, binning: binning, selection: selection)
            let yields = projection.templates.yields.yields(at: c)
            let variance = try #require(projection.templates.monteCarloVariance).polynomial.yields(at: c)
            for b in 0 ..< binning.binCount {
                #expect(abs(yields[b] - brute.sum[b]) <= 1e-10 * brute.sumOfAbs[b], "bin \(b) at \(c): \(yields[b]) vs \(brute.sum[b])")
                #expect(abs(variance[b] - brute.sumOfSquares[b]) <= 1e-10 * brute.sumOfSquares[b], "Σw² bin \(b) at \(c): \(variance[b]) vs \(brute.sumOfSquares[b])")
            }
        }
        #expect(projection.binnedEventCount > 0 && projection.negativeWeightEventCount > 0)
    }

    @Test("the per-event kernel equals the brute force, shifted or not", arguments: [0.0, 1.0, -0.7, 2.5])
    func kernelMatchesBruteForce(_ theta: Double) throws {
        let database = try Fixtures.database(events: 40000, seed: 3)
        let binning = try Binning.uniform(observable: "pTV", count: 20, lower: 20, upper: 420)
        let selection = Selection([.init(observable: "etaV", lower: -1.5, upper: 2.5)])
        let kernel = try EventReweightingKernel(database: database, binning: binning, selection: selection, shift: "JES")
        var rng = SplitMix64(state: 5)
        for _ in 0 ..< 3 {
            let c = Fixtures.randomPoint(&rng)
            let brute = try bruteForceHistogram(database, at: c, binning: binning, selection: selection, shiftedBy: (database.observableShifts[0], theta))
            let (sum, squares) = kernel.histogram(at: c, shift: theta)
            for b in 0 ..< binning.binCount {
                #expect(abs(sum[b] - brute.sum[b]) <= 1e-10 * brute.sumOfAbs[b], "bin \(b), θ = \(theta): \(sum[b]) vs \(brute.sum[b])")
                #expect(abs(squares[b] - brute.sumOfSquares[b]) <= 1e-10 * brute.sumOfSquares[b])
            }
        }
    }

    /// Every number of trailing columns that the kernel adds in its fused fill loop (T = 1 + 4k + f,
    /// f = 0…4), with equal bins (the specialised bin lookup) and unequal, folded ones (the general).
    @Test("the per-event kernel equals the brute force for every number of monomials and both bin lookups", arguments: [1, 2, 3, 4, 5, 6, 10])
    func kernelMatchesBruteForceForEveryTermCount(_ termCount: Int) throws {
        let full = try Fixtures.database(events: 20000, seed: 13)
        let database = try EventDatabase(
            provenance: full.provenance, coefficientNames: full.coefficientNames, monomials: Array(full.monomials.prefix(termCount)),
            basisCoefficients: Array(full.basisCoefficients.prefix(termCount)), observables: full.observables,
            observableShifts: full.observableShifts)
        let binnings = [
            try Binning.uniform(observable: "pTV", count: 16, lower: 20, upper: 420),
            try Binning(observable: "pTV", edges: [30, 75, 150, 250, 400], flow: .foldIntoEdgeBins),
        ]
        for binning in binnings {
            let kernel = try EventReweightingKernel(database: database, binning: binning, shift: "JES")
            for theta in [0.0, 0.8, -1.3] {
                let c = [0.4, -0.9, 0.6]
                let brute = try bruteForceHistogram(database, at: c, binning: binning, shiftedBy: (database.observableShifts[0], theta))
                let (sum, squares) = kernel.histogram(at: c, shift: theta)
                for b in 0 ..< binning.binCount {
                    #expect(abs(sum[b] - brute.sum[b]) <= 1e-12 * brute.sumOfAbs[b], "T = \(termCount), bin \(b), θ = \(theta): \(sum[b]) vs \(brute.sum[b])")
                    #expect(abs(squares[b] - brute.sumOfSquares[b]) <= 1e-12 * brute.sumOfSquares[b])
                }
            }
        }
    }

    @Test("at θ = 0 the kernel and the static projection give the same histogram and Σw²")
    func kernelAgreesWithProjection() throws {
        let database = try Fixtures.database(events: 20000, seed: 11)
        let binning = try Binning(observable: "pTV", edges: [0, 50, 100, 200, 300, 500])
        let kernel = try EventReweightingKernel(database: database, binning: binning)
        let projection = try database.projection(binning: binning)
        let c = [0.3, -1.1, 0.8]
        let (sum, squares) = kernel.histogram(at: c)
        let yields = projection.templates.yields.yields(at: c)
        let variance = projection.templates.monteCarloVariance!.polynomial.yields(at: c)
        for b in 0 ..< binning.binCount {
            #expect(abs(sum[b] - yields[b]) <= 1e-10 * abs(yields[b]))
            #expect(abs(squares[b] - variance[b]) <= 1e-10 * variance[b])
        }
    }

    @Test("unknown observables and shifts are reported by name")
    func unknownNamesAreReported() throws {
        let database = try Fixtures.database(events: 10)
        let bad = try Binning.uniform(observable: "mbb", count: 2, lower: 0, upper: 1)
        #expect { try database.projection(binning: bad) } throws: { ($0 as? EventDatabaseError)?.code == .names }
        let good = try Binning.uniform(observable: "etaV", count: 2, lower: -1, upper: 1)
        #expect { try EventReweightingKernel(database: database, binning: good, shift: "JES") } throws: {
            ($0 as? EventDatabaseError)?.dataset == "/systematics/shifts/JES/etaV"
        }
    }
}
