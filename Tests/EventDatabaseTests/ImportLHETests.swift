import Foundation
import Morphing
import Testing
@testable import EventDatabase
import _SeededRandom

@Suite("LHE import", .enabled(if: ReferenceFiles.available))
struct ImportLHETests {
    static let scaleIDs = (1001 ... 1009).map(String.init)

    /// Checks of pylhe-testlhef3.lhe (MG5 2.0, LHEF 3, scale-variation weights: a format test).
    static func checkReferenceFile(_ file: LHEFile) throws {
        #expect(file.events.count == 59)
        #expect(file.weightIDs == scaleIDs, "the 9 ids of <initrwgt>, declared twice in the file, read once")
        #expect(file.weightDescriptions["1001"] == "muR=0.10000E+01 muF=0.10000E+01")
        #expect(file.weightDescriptions["1009"] == "muR=0.50000E+00 muF=0.50000E+00")
        #expect(file.events.allSatisfy { $0.weights.count == 9 && $0.weights.allSatisfy(\.isFinite) })

        // First event, as written: XWGTUP, the <rwgt> block, particle lines in Fortran notation.
        let first = file.events[0]
        #expect(first.weight == 50.109093)
        #expect(first.weights == [50.109, 45.746, 52.581, 50.109, 45.746, 52.581, 50.109, 45.746, 52.581])
        #expect(first.particles.map(\.pdgID) == [5, 2, 24, 5, 1] && first.particles.map(\.status) == [-1, -1, 1, 1, 1])
        #expect(first.particles[2].momentum == FourMomentum(px: -84.258804, py: -157.08566, pz: -106.296, energy: 222.57162))
        let pTW = LHEObservable(name: "pTW", unit: "GeV", quantity: .transverseMomentum, pdgIDs: [24]).value(of: first)
        #expect(abs(pTW - (84.258804 * 84.258804 + 157.08566 * 157.08566).squareRoot()) < 1e-12 * pTW)
        let mW = LHEObservable(name: "mW", unit: "GeV", quantity: .invariantMass, pdgIDs: [24]).value(of: first)
        #expect(abs(mW - 80.398) < 1e-3, "the W's four-vector gives its generated mass: \(mW)")

        // Four-vector sums: the final state (status 1) carries the incoming momentum in every event.
        let finalState = LHEObservable(name: "all", unit: "GeV", quantity: .energy, pdgIDs: Set(-10000 ... 10000))
        let incoming = LHEObservable(name: "in", unit: "GeV", quantity: .energy, pdgIDs: Set(-10000 ... 10000), statuses: [-1])
        for (e, event) in file.events.enumerated() {
            let out = finalState.selectedMomentum(of: event), into = incoming.selectedMomentum(of: event)
            let scale = into.energy
            for (a, b) in [(out.px, into.px), (out.py, into.py), (out.pz, into.pz), (out.energy, into.energy)] {
                #expect(abs(a - b) <= 1e-6 * scale, "event \(e): \(out) vs \(into)")
            }
        }
    }

    @Test("the reference LHEF 3 file: 59 events, 9 weight ids, particles and four-vector sums")
    func parsesTheReferenceFile() throws {
        try Self.checkReferenceFile(LHEFile(contentsOf: ReferenceFiles.lhe))
    }

    @Test("a gzipped copy (also as two concatenated gzip members) reads identically")
    func readsGzip() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try Data(contentsOf: ReferenceFiles.lhe)
        let plain = directory.appendingPathComponent("events.lhe")
        try text.write(to: plain)
        try gzip(plain)
        let gz = directory.appendingPathComponent("events.lhe.gz")
        let file = try LHEFile(contentsOf: gz)
        try Self.checkReferenceFile(file)

        // `cat a.gz b.gz` is a valid gzip stream of the concatenated text.
        let split = text.range(of: Data("  <event".utf8))!.lowerBound
        let a = directory.appendingPathComponent("a"), b = directory.appendingPathComponent("b")
        try text[..<split].write(to: a)
        try text[split...].write(to: b)
        try gzip(a)
        try gzip(b)
        let joined = directory.appendingPathComponent("joined.lhe.gz")
        try (Data(contentsOf: directory.appendingPathComponent("a.gz")) + Data(contentsOf: directory.appendingPathComponent("b.gz"))).write(to: joined)
        try Self.checkReferenceFile(LHEFile(contentsOf: joined))

        // A truncated stream is an error naming the file, not a silently short event list.
        let compressed = try Data(contentsOf: gz)
        let truncated = directory.appendingPathComponent("truncated.lhe.gz")
        try compressed.prefix(compressed.count / 2).write(to: truncated)
        let error = try #require(throws: EventDatabaseError.self) { try LHEFile(contentsOf: truncated) }
        #expect(error.code == .format && error.file == truncated.path)
    }

    private func gzip(_ url: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-9", "-f", url.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test("scale weights mapped to three points of one coefficient: the solved coefficients reproduce every mapped weight")
    func convertsTheReferenceFileWeights() throws {
        let file = try LHEFile(contentsOf: ReferenceFiles.lhe)
        // Not EFT: a formal test of the solve. 1001, 1002, 1003 stand for c = 0, 1, −1.
        let points: [(weightID: String, point: [Double])] = [("1001", [0]), ("1002", [1]), ("1003", [-1])]
        let observables = [
            LHEObservable(name: "pTW", unit: "GeV", quantity: .transverseMomentum, pdgIDs: [24]),
            LHEObservable(name: "etaW", unit: "", quantity: .absolutePseudorapidity, pdgIDs: [24]),
            LHEObservable(name: "nb", unit: "", quantity: .count, pdgIDs: [5]),
        ]
        let provenance = EventDatabase.Provenance(
            generator: "MG5 2.0 (pylhe test file)", eftBasis: "none: scale variations as a format test", lambda: 1000,
            normalisation: "LHE weights", weightUnit: "pb")
        let (database, morphing) = try file.eventDatabase(
            benchmarks: points, coefficientNames: ["c"], monomials: [.one, .linear(0), .square(0)], observables: observables, provenance: provenance)
        #expect(abs(morphing.conditionNumber - 3.225504927) < 1e-8, "the matrix of §13.B of the extension spec")
        for (e, event) in file.events.enumerated() {
            for (k, (id, point)) in points.enumerated() {
                let w = event.weights[file.weightIDs.firstIndex(of: id)!]
                #expect(abs(database.weight(ofEvent: e, at: point) - w) <= 1e-13 * abs(w), "event \(e), benchmark \(k)")
            }
        }
        for (e, event) in file.events.enumerated() { #expect(abs(database.nominalWeights[e] - event.weights[0]) <= 1e-14 * event.weights[0]) }
        let pTW = database.observables[try database.observableIndex("pTW")].values
        #expect(pTW[0] == LHEObservable(name: "pTW", unit: "GeV", quantity: .transverseMomentum, pdgIDs: [24]).value(of: file.events[0]))
        let unknown = try #require(throws: EventDatabaseError.self) {
            try file.eventDatabase(benchmarks: [("cHW=1", [1])], coefficientNames: ["c"], monomials: [.one], observables: [], provenance: provenance)
        }
        #expect(unknown.code == .names)
    }

    /// A MadGraph-like VH(→bb), W→eν file written by the test with quadratic EFT weights at eight
    /// points of two coefficients (more points than the six monomials: a least-squares solve).
    static func syntheticVH(events N: Int, truth a: inout [[Double]]) -> (text: String, points: [(weightID: String, point: [Double])]) {
        var rng = SplitMix64(state: 11)
        let points: [(weightID: String, point: [Double])] = [
            ("sm", [0, 0]), ("cHW_p1", [1, 0]), ("cHW_m1", [-1, 0]), ("cHq3_p1", [0, 1]), ("cHq3_m1", [0, -1]),
            ("both_p1", [1, 1]), ("mixed", [1, -1]), ("far", [2, 0.5]),
        ]
        let monomials = Monomial.all(upToDegree: 2, coefficientCount: 2)
        a = [[Double]](repeating: [], count: monomials.count)
        var text = "<LesHouchesEvents version=\"3.0\">\n<header>\n<initrwgt>\n<weightgroup name='mg_reweighting'>\n"
        for (id, point) in points { text += "<weight id='\(id)'> set cHW \(point[0]) set cHq3 \(point[1]) </weight>\n" }
        text += "</weightgroup>\n</initrwgt>\n</header>\n<init>\n2212 2212 6.5e3 6.5e3 0 0 247000 247000 -4 1\n1.0 0.01 1.0 1\n</init>\n"
        for _ in 0 ..< N {
            let r = (Double.random(in: -0.3 ... 0.3, using: &rng), Double.random(in: -0.2 ... 0.2, using: &rng))
            let s = Double.random(in: 0.5 ... 1.5, using: &rng)
            // Amplitude s^½ (1 + r_1 cHW + r_2 cHq3): a = s (1, 2r_1, 2r_2, r_1², 2r_1r_2, r_2²) in graded order.
            let truth = [s, 2 * s * r.0, 2 * s * r.1, s * r.0 * r.0, 2 * s * r.0 * r.1, s * r.1 * r.1]
            for (t, m) in monomials.enumerated() {
                precondition(m == [Monomial.one, .linear(0), .linear(1), .square(0), .product(0, 1), .square(1)][t])
                a[t].append(truth[t])
            }
            func line(_ id: Int, _ status: Int, _ p: (Double, Double, Double), _ m: Double) -> String {
                let energy = (p.0 * p.0 + p.1 * p.1 + p.2 * p.2 + m * m).squareRoot()
                return "\(id) \(status) 0 0 0 0 \(p.0) \(p.1) \(p.2) \(energy) \(m) 0. 9.\n"
            }
            let lepton = (Double.random(in: -80 ... 80, using: &rng), Double.random(in: -80 ... 80, using: &rng), Double.random(in: -200 ... 200, using: &rng))
            let neutrino = (Double.random(in: -80 ... 80, using: &rng), Double.random(in: -80 ... 80, using: &rng), Double.random(in: -200 ... 200, using: &rng))
            let b1 = (-lepton.0, -lepton.1, 30.0), b2 = (-neutrino.0, -neutrino.1, -50.0)
            text += "<event>\n6 1 \(s) 100. 0.0078 0.118\n"
            text += line(2, -1, (0, 0, 500), 0) + line(-1, -1, (0, 0, -400), 0)
            text += line(-11, 1, lepton, 0) + line(12, 1, neutrino, 0) + line(5, 1, b1, 4.7) + line(-5, 1, b2, 4.7)
            text += "<rwgt>\n"
            for (id, point) in points {
                let m = monomials.map { $0.value(at: point) }
                text += "<wgt id='\(id)'> \(zip(truth, m).reduce(0) { $0 + $1.0 * $1.1 }) </wgt>\n"
            }
            text += "</rwgt>\n</event>\n"
        }
        return (text + "</LesHouchesEvents>\n", points)
    }

    @Test("EFT weights at 8 points of 2 coefficients: per-event coefficients recovered, observables from four-vectors")
    func recoversPerEventCoefficients() throws {
        var truth: [[Double]] = []
        let (text, points) = Self.syntheticVH(events: 500, truth: &truth)
        let file = try LHEFile(text: text)
        #expect(file.events.count == 500 && file.weightIDs == points.map(\.weightID))
        let observables = [
            LHEObservable(name: "pTV", unit: "GeV", quantity: .transverseMomentum, pdgIDs: [11, 12, 13, 14, 15, 16]),
            LHEObservable(name: "mbb", unit: "GeV", quantity: .invariantMass, pdgIDs: [5]),
            LHEObservable(name: "etaV", unit: "", quantity: .absolutePseudorapidity, pdgIDs: [11, 12]),
        ]
        let provenance = EventDatabase.Provenance(
            generator: "efthf test (synthetic LHE)", eftBasis: "SMEFT (synthetic)", lambda: 1000, normalisation: "per-event σ × L/N", weightUnit: "events")
        let (database, morphing) = try file.eventDatabase(
            benchmarks: points, coefficientNames: ["cHW", "cHq3"], monomials: Monomial.all(upToDegree: 2, coefficientCount: 2),
            observables: observables, provenance: provenance, weightScale: 2)
        #expect(morphing.isOverdetermined)
        for t in 0 ..< 6 {
            for e in 0 ..< 500 {
                #expect(abs(database.basisCoefficients[t][e] - 2 * truth[t][e]) <= 1e-12 * 2 * truth[0][e], "term \(t), event \(e)")
            }
        }
        // pTV is the pT of e⁺ + ν; the b pair balances it exactly in the transverse plane.
        let pTV = database.observables[try database.observableIndex("pTV")].values
        let mbb = database.observables[try database.observableIndex("mbb")].values
        for e in 0 ..< 500 {
            let p = file.events[e].particles
            let px = p[2].momentum.px + p[3].momentum.px, py = p[2].momentum.py + p[3].momentum.py
            #expect(abs(pTV[e] - (px * px + py * py).squareRoot()) <= 1e-12 * pTV[e])
            let bb = p[4].momentum + p[5].momentum
            let m2 = bb.energy * bb.energy - bb.px * bb.px - bb.py * bb.py - bb.pz * bb.pz
            #expect(abs(mbb[e] - m2.squareRoot()) <= 1e-9 * mbb[e])
            #expect(mbb[e] >= 2 * 4.7 - 1e-9)
        }
    }
}
