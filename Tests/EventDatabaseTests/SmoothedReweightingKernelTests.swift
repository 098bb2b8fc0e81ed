import Foundation
import Morphing
import Testing
@testable import EventDatabase
import _CKernels
import _SeededRandom

/// The per-event template with systematics (weight variations and observable shifts as nuisance
/// parameters, logistic bin assignment) against a brute-force Double loop written from the spec's
/// formulae, its Jacobians against finite differences, and its sharp limit.
@Suite struct SmoothedReweightingKernelTests {
    /// The fixture with asymmetric variations (code4p differs from linear inside |θ| < 1) and a
    /// second weight variation and shift, so that several systematics combine.
    static let database = withSystematics(events: 6000)

    static func withSystematics(events: Int) -> EventDatabase {
        let base = try! Fixtures.database(events: events, seed: 7)
        let pT = base.observables[0].values
        let btag = base.weightVariations[0]
        let jes = base.observableShifts[0]
        return try! EventDatabase(
            provenance: base.provenance, coefficientNames: base.coefficientNames, monomials: base.monomials,
            basisCoefficients: base.basisCoefficients, observables: base.observables,
            weightVariations: [
                btag,
                .init(name: "pileup", up: pT.map { 1 + 0.0004 * $0 }, down: pT.map { 1 - 0.0001 * $0 }),
            ],
            observableShifts: [
                .init(name: "JES", observable: "pTV", up: jes.up, down: pT.map { -0.01 * $0 }),
                .init(name: "JER", observable: "pTV", up: pT.map { 0.015 * $0 }, down: pT.map { 0.005 * $0 }),
                .init(name: "JES", observable: "etaV", up: pT.map { _ in 0.1 }, down: pT.map { _ in -0.1 }),
            ])
    }

    static let systematics = [
        EventSystematic(name: "btag", kind: .weight), EventSystematic(name: "JES", kind: .shift),
        EventSystematic(name: "pileup", kind: .weight), EventSystematic(name: "JER", kind: .shift),
    ]

    /// code4p written as pyhf writes it (`interpolators/code4p.py`), for the reference.
    static func code4p(_ a: Double, up: Double, down: Double) -> Double {
        if a > 1 { return a * up }
        if a < -1 { return a * down }
        let S = 0.5 * (up + down), A = 0.0625 * (up - down)
        return a * S + A * (3 * pow(a, 6) - 10 * pow(a, 4) + 15 * a * a)
    }

    /// Every event, every edge, no truncation: ν_b, Σw²_b and Σ_e |w_e f_e p_eb| (the rounding scale).
    static func bruteForce(
        _ db: EventDatabase, binning: Binning, selection: Selection, systematics: [EventSystematic], h: Double, n: Double,
        c: [Double], theta: [Double]
    ) throws -> (nu: [Double], variance: [Double], scale: [Double]) {
        let x = db.observables[try db.observableIndex(binning.observable)].values
        let B = binning.binCount, edges = binning.edges
        var nu = [Double](repeating: 0, count: B), variance = nu, scale = nu
        for e in 0 ..< db.eventCount {
            let passes = try selection.cuts.allSatisfy { cut in
                let v = db.observables[try db.observableIndex(cut.observable)].values[e]
                return v >= cut.lower && v < cut.upper
            }
            guard passes else { continue }
            var w = 0.0
            for t in 0 ..< db.termCount { w += db.basisCoefficients[t][e] * db.monomials[t].value(at: c) }
            var f = 1.0, xe = x[e]
            for (k, s) in systematics.enumerated() {
                switch s.kind {
                case .weight:
                    let v = db.weightVariations.first { $0.name == s.name }!
                    f += code4p(theta[k], up: v.up[e] - 1, down: 1 - v.down[e])
                case .shift:
                    let v = db.observableShifts.first { $0.name == s.name && $0.observable == binning.observable }!
                    xe += code4p(theta[k], up: v.up[e], down: -v.down[e])
                }
            }
            for b in 0 ..< B {
                let p: Double
                if h == 0 {
                    p = binning.flow == .foldIntoEdgeBins
                        ? ((b == 0 || xe >= edges[b]) && (b == B - 1 || xe < edges[b + 1]) ? 1 : 0)
                        : (xe >= edges[b] && xe < edges[b + 1] ? 1 : 0)
                } else {
                    let upper = binning.flow == .foldIntoEdgeBins && b == B - 1 ? 1 : 1 / (1 + exp(-(edges[b + 1] - xe) / h))
                    let lower = binning.flow == .foldIntoEdgeBins && b == 0 ? 0 : 1 / (1 + exp(-(edges[b] - xe) / h))
                    p = upper - lower
                }
                let contribution = n * w * f * p
                nu[b] += contribution
                variance[b] += contribution * contribution
                scale[b] += abs(contribution)
            }
        }
        return (nu, variance, scale)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let flow: Binning.Flow
        let h: Double
        let selection: Selection
        var testDescription: String { "\(flow == .drop ? "drop" : "fold"), h = \(h), \(selection.cuts.count) cuts" }
    }

    static let cases = [
        Case(flow: .drop, h: 3, selection: .all),
        Case(flow: .foldIntoEdgeBins, h: 8, selection: Selection([.init(observable: "etaV", lower: -2, upper: 2)])),
        Case(flow: .drop, h: 0, selection: .all),
    ]

    /// ν and Σw² at random (c, θ), θ inside and beyond ±1, equal the brute-force loop to 1e-10
    /// of Σ_e |w_e f_e p_eb| (weights of both signs cancel in a bin).
    @Test(arguments: cases)
    func templatesEqualTheBruteForcePerEventLoop(_ testCase: Case) throws {
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: testCase.flow)
        let kernel = try SmoothedReweightingKernel(
            database: Self.database, binning: binning, selection: testCase.selection, systematics: Self.systematics,
            smoothingWidth: testCase.h, normalisation: 1.7)
        var rng = SplitMix64(state: 11)
        for _ in 0 ..< 4 {
            let c = Fixtures.randomPoint(&rng)
            let theta = Self.systematics.map { _ in Double.random(in: -1.8 ... 1.8, using: &rng) }
            let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: false)
            let reference = try Self.bruteForce(
                Self.database, binning: binning, selection: testCase.selection, systematics: Self.systematics, h: testCase.h, n: 1.7, c: c, theta: theta)
            for b in 0 ..< binning.binCount {
                #expect(abs(result.yields[b] - reference.nu[b]) <= 1e-10 * reference.scale[b], "ν bin \(b) at c = \(c), θ = \(theta)")
                #expect(abs(result.variances[b] - reference.variance[b]) <= 1e-10 * reference.variance[b], "Σw² bin \(b)")
            }
        }
    }

    /// Enough events for several chunks (each with its own partial sums) and many event blocks, a
    /// selection that makes the kept events differ from the stored order, and the Jacobian path:
    /// ν and Σw² still equal the brute-force loop to 1e-10 of Σ_e |w_e f_e p_eb|.
    @Test(arguments: [Binning.Flow.drop, .foldIntoEdgeBins])
    func severalChunksEqualTheBruteForcePerEventLoop(_ flow: Binning.Flow) throws {
        let database = Self.withSystematics(events: 45000)
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: flow)
        let selection = Selection([.init(observable: "etaV", lower: -2.2, upper: 1.9)])
        let kernel = try SmoothedReweightingKernel(
            database: database, binning: binning, selection: selection, systematics: Self.systematics, smoothingWidth: 2.5, normalisation: 0.8)
        #expect(SmoothedReweightingKernel.chunkCount(kernel.eventCount) >= 3)
        let c = [0.5, -0.4, 0.9], theta = [0.6, -1.4, 0.3, 1.2]
        for jacobian in [false, true] {
            let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: jacobian)
            let reference = try Self.bruteForce(
                database, binning: binning, selection: selection, systematics: Self.systematics, h: 2.5, n: 0.8, c: c, theta: theta)
            for b in 0 ..< binning.binCount {
                #expect(abs(result.yields[b] - reference.nu[b]) <= 1e-10 * reference.scale[b], "ν bin \(b), jacobian \(jacobian)")
                #expect(abs(result.variances[b] - reference.variance[b]) <= 1e-10 * reference.variance[b], "Σw² bin \(b)")
            }
        }
    }

    /// Events from 300h below the first edge to 300h above the last (past the 40h truncation on
    /// both sides, and inside it), shifted by up to 60h: with flow folding every one lands in the
    /// edge bins (G_0 = 0, G_B = 1 whatever x), so Σ_b ν_b = n Σ_e w_e f_e; with dropping the far
    /// ones vanish. ν and Σw² against the spec's formula evaluated directly (every edge, no
    /// truncation), ∂ν/∂(c, θ) against central differences.
    @Test(arguments: [Binning.Flow.foldIntoEdgeBins, .drop])
    func eventsFarOutsideTheEdgesFollowTheFlow(_ flow: Binning.Flow) throws {
        let h = 2.0, N = 3000
        let base = try Fixtures.database(events: N, seed: 19)
        var rng = SplitMix64(state: 23)
        // Edges [100, 160, 190, 260]: x uniform on [100 − 300h, 260 + 300h], a shift of ±30h at θ = ±1.
        let x = (0 ..< N).map { _ in Double.random(in: (100 - 300 * h) ... (260 + 300 * h), using: &rng) }
        let database = try EventDatabase(
            provenance: base.provenance, coefficientNames: base.coefficientNames, monomials: base.monomials,
            basisCoefficients: base.basisCoefficients, observables: [.init(name: "pTV", unit: "GeV", values: x)],
            weightVariations: base.weightVariations,
            observableShifts: [.init(name: "JES", observable: "pTV", up: x.map { _ in 30 * h }, down: x.map { _ in -30 * h })])
        let binning = try Binning(observable: "pTV", edges: [100, 160, 190, 260], flow: flow)
        let systematics = [EventSystematic(name: "JES", kind: .shift), EventSystematic(name: "btag", kind: .weight)]
        let kernel = try SmoothedReweightingKernel(database: database, binning: binning, systematics: systematics, smoothingWidth: h, normalisation: 1.3)
        let c = [0.4, -0.3, 0.6]
        for theta in [[0.0, 0.0], [1.7, -0.5], [-2.0, 0.8]] {
            let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: true)
            let reference = try Self.bruteForce(database, binning: binning, selection: .all, systematics: systematics, h: h, n: 1.3, c: c, theta: theta)
            for b in 0 ..< binning.binCount {
                #expect(abs(result.yields[b] - reference.nu[b]) <= 1e-10 * reference.scale[b], "ν bin \(b), θ = \(theta): \(result.yields[b]) vs \(reference.nu[b])")
                #expect(abs(result.variances[b] - reference.variance[b]) <= 1e-10 * reference.variance[b], "Σw² bin \(b), θ = \(theta)")
            }
            if flow == .foldIntoEdgeBins {
                var total = 0.0, scale = 0.0
                for e in 0 ..< N {
                    let f = 1 + Self.code4p(theta[1], up: database.weightVariations[0].up[e] - 1, down: 1 - database.weightVariations[0].down[e])
                    total += 1.3 * database.weight(ofEvent: e, at: c) * f
                    scale += abs(1.3 * database.weight(ofEvent: e, at: c) * f)
                }
                #expect(abs(result.yields.reduce(0, +) - total) <= 1e-12 * scale, "every event is counted once")
            }
            let B = binning.binCount, step = 1e-4
            for j in 0 ..< 5 {
                func at(_ k: Double) -> [Double] {
                    var cc = c, tt = theta
                    if j < 3 { cc[j] += k * step } else { tt[j - 3] += k * step }
                    return kernel.evaluate(coefficients: cc, nuisance: tt, jacobian: false).yields
                }
                let p1 = at(1), m1 = at(-1), p2 = at(2), m2 = at(-2)
                for b in 0 ..< B {
                    let difference = (8 * (p1[b] - m1[b]) - (p2[b] - m2[b])) / (12 * step)
                    #expect(abs(result.yieldJacobian[j * B + b] - difference) <= 1e-6 * max(1, abs(result.yields[b])), "∂ν_\(b)/∂q_\(j), θ = \(theta)")
                }
            }
        }
    }

    /// Many narrow bins against a wide logistic (61 edges, bins 6 wide, h = 3: up to 41 edges within
    /// 40h of an event): the binary searches for the window (more than 32 edges) and the edges beyond
    /// the eighth of a window (each with its own exp). ν and Σw² equal the brute-force loop to 1e-10
    /// of Σ_e |w_e f_e p_eb|, with and without Jacobians, and ∂ν/∂θ of a shift its central differences.
    @Test(arguments: [Binning.Flow.drop, .foldIntoEdgeBins])
    func longWindowsEqualTheBruteForcePerEventLoop(_ flow: Binning.Flow) throws {
        let binning = try Binning(observable: "pTV", edges: (0 ... 60).map { 30 + 6 * Double($0) }, flow: flow)
        let kernel = try SmoothedReweightingKernel(
            database: Self.database, binning: binning, systematics: Self.systematics, smoothingWidth: 3, normalisation: 1.3)
        let c = [0.4, -0.3, 0.6], theta = [0.5, -0.8, 1.3, 0.2]
        let reference = try Self.bruteForce(
            Self.database, binning: binning, selection: .all, systematics: Self.systematics, h: 3, n: 1.3, c: c, theta: theta)
        let B = binning.binCount
        for jacobian in [false, true] {
            let result = try kernel._pass(coefficients: c, nuisance: theta, jacobian: jacobian, avx2: _SmoothingTables.avx2)
            for b in 0 ..< B {
                #expect(abs(result.yields[b] - reference.nu[b]) <= 1e-10 * reference.scale[b], "ν bin \(b), jacobian \(jacobian)")
                #expect(abs(result.variances[b] - reference.variance[b]) <= 1e-10 * reference.variance[b], "Σw² bin \(b)")
            }
        }
        // θ_JES, the second systematic: q = C + 1.
        let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: true), j = kernel.coefficientNames.count + 1, step = 1e-4
        var up = theta, down = theta
        up[1] += step
        down[1] -= step
        let plus = kernel.evaluate(coefficients: c, nuisance: up, jacobian: false), minus = kernel.evaluate(coefficients: c, nuisance: down, jacobian: false)
        for b in 0 ..< B {
            let dNu = (plus.yields[b] - minus.yields[b]) / (2 * step)
            #expect(abs(result.yieldJacobian[j * B + b] - dNu) <= 1e-6 * max(1, abs(result.yields[b])), "∂ν_\(b)/∂θ_JES: \(result.yieldJacobian[j * B + b]) vs \(dNu)")
        }
    }

    /// The AVX2 and the portable instantiations of the bin assignment (Sources/_CKernels/event_kernels.c)
    /// give the same doubles, bit for bit: few and many edges, both flows, with and without Jacobians.
    @Test(.enabled(if: _SmoothingTables.avx2), arguments: [Binning.Flow.drop, .foldIntoEdgeBins])
    func theAVX2AndPortableBinAssignmentsAgreeBitForBit(_ flow: Binning.Flow) throws {
        let binnings = [
            try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: flow),
            try Binning(observable: "pTV", edges: (0 ... 60).map { 30 + 6 * Double($0) }, flow: flow),
        ]
        for binning in binnings {
            let kernel = try SmoothedReweightingKernel(
                database: Self.database, binning: binning, systematics: Self.systematics, smoothingWidth: 3.5, normalisation: 1.1)
            for jacobian in [false, true] {
                let c = [0.2, 0.7, -0.5], theta = [-0.3, 1.4, 0.6, -0.9]
                let vector = try kernel._pass(coefficients: c, nuisance: theta, jacobian: jacobian, avx2: true)
                let portable = try kernel._pass(coefficients: c, nuisance: theta, jacobian: jacobian, avx2: false)
                #expect(vector.yields.map(\.bitPattern) == portable.yields.map(\.bitPattern), "ν, \(binning.binCount) bins, jacobian \(jacobian)")
                #expect(vector.variances.map(\.bitPattern) == portable.variances.map(\.bitPattern), "Σw²")
                #expect(vector.yieldJacobian.map(\.bitPattern) == portable.yieldJacobian.map(\.bitPattern), "∂ν")
                #expect(vector.varianceJacobian.map(\.bitPattern) == portable.varianceJacobian.map(\.bitPattern), "∂Σw²")
            }
        }
    }

    /// The exponential of the logistic (`efthf_smoothing_exp`, Specs/event-database.md) against
    /// `expl` in 80-bit precision: within 1.5 ulp and 2u = 2⁻⁵² relative (the spec's budget) on
    /// 400 001 points of [−41, 41] (where the kernel uses it: |x − e_k|/h ≤ 40 up to rounding) and
    /// 100 001 of [−700, 700]; e⁰ = 1 exactly (events without an evaluated edge); the AVX2 and
    /// portable instantiations agree bit for bit.
    @Test func theExponentialIsWithinOneAndAHalfUlp() throws {
        var x: [Double] = []
        for (bound, count) in [(41.0, 400_000), (700.0, 100_000)] {
            x += (0 ... count).map { -bound + 2 * bound * Double($0) / Double(count) }
        }
        x += [0, -0.0, 0.5 * M_LN2, -0.5 * M_LN2, M_LN2, 40, -40, 1e-300, -1e-300]
        while x.count % 4 != 0 { x.append(1) }
        var portable = [Double](repeating: .nan, count: x.count), vector = portable
        efthf_smoothing_exp(x, x.count, &portable, 0)
        for (i, value) in x.enumerated() {
            let reference = expl(Float80(value))
            let ulp = Double(reference).ulp
            let error = Double(abs(Float80(portable[i]) - reference))
            #expect(error <= 1.5 * ulp && error <= 0x1p-52 * Double(reference), "exp(\(value)) = \(portable[i]), reference \(reference)")
        }
        #expect(portable[x.firstIndex(of: 0)!] == 1, "e⁰ = 1 exactly")
        if _SmoothingTables.avx2 {
            efthf_smoothing_exp(x, x.count, &vector, 1)
            #expect(vector.map(\.bitPattern) == portable.map(\.bitPattern))
        }
    }

    /// The Jacobian records unrolled for Q = 4 and Q = 8 record slots give the same doubles: one
    /// systematic (Q = 3 + 1) against all four (Q = 3 + 4, padded to 8) with the other three at θ = 0
    /// (where they add exactly ±0 to every weight and observable), with the values bit for bit.
    @Test(arguments: [Binning.Flow.drop, .foldIntoEdgeBins])
    func theJacobianDoesNotDependOnTheNumberOfRecordSlots(_ flow: Binning.Flow) throws {
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: flow)
        let c = [0.2, 0.7, -0.5], C = c.count, B = binning.binCount
        for (k, systematic) in Self.systematics.enumerated() {
            let one = try SmoothedReweightingKernel(
                database: Self.database, binning: binning, systematics: [systematic], smoothingWidth: 3.5, normalisation: 1.1)
            let all = try SmoothedReweightingKernel(
                database: Self.database, binning: binning, systematics: Self.systematics, smoothingWidth: 3.5, normalisation: 1.1)
            var theta = [0.0, 0, 0, 0]
            theta[k] = -0.6
            let a = one.evaluate(coefficients: c, nuisance: [theta[k]], jacobian: true)
            let b = all.evaluate(coefficients: c, nuisance: theta, jacobian: true)
            #expect(a.yields.map(\.bitPattern) == b.yields.map(\.bitPattern), "ν, \(systematic.name)")
            #expect(a.variances.map(\.bitPattern) == b.variances.map(\.bitPattern), "Σw², \(systematic.name)")
            for (j, q) in (Array(0 ..< C) + [C + k]).enumerated() {
                #expect(a.yieldJacobian[j * B ..< (j + 1) * B].map(\.bitPattern) == b.yieldJacobian[q * B ..< (q + 1) * B].map(\.bitPattern),
                        "∂ν/∂q_\(q), \(systematic.name)")
                #expect(a.varianceJacobian[j * B ..< (j + 1) * B].map(\.bitPattern) == b.varianceJacobian[q * B ..< (q + 1) * B].map(\.bitPattern),
                        "∂Σw²/∂q_\(q), \(systematic.name)")
            }
        }
    }

    /// ∂ν/∂(c, θ) and ∂Σw²/∂(c, θ) against five-point central differences of the kernel itself.
    @Test(arguments: [Binning.Flow.drop, .foldIntoEdgeBins])
    func jacobiansMatchFiniteDifferences(_ flow: Binning.Flow) throws {
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400], flow: flow)
        let kernel = try SmoothedReweightingKernel(
            database: Self.database, binning: binning, systematics: Self.systematics, smoothingWidth: 4, normalisation: 0.9)
        let C = kernel.coefficientNames.count, K = Self.systematics.count, B = binning.binCount
        // θ inside (code4p polynomial) and outside (linear) ±1, away from the kinks at exactly ±1.
        for (c, theta) in [([0.3, -0.7, 0.2], [0.4, -0.6, 0.2, 0.8]), ([-1.1, 0.5, 0.9], [1.5, -1.3, -0.3, -1.6])] {
            let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: true)
            #expect(result.yieldJacobian.count == (C + K) * B && result.varianceJacobian.count == (C + K) * B)
            for j in 0 ..< C + K {
                let step = 1e-4
                func at(_ k: Double) -> SmoothedReweightingKernel.Evaluation {
                    var cc = c, tt = theta
                    if j < C { cc[j] += k * step } else { tt[j - C] += k * step }
                    return kernel.evaluate(coefficients: cc, nuisance: tt, jacobian: false)
                }
                let p1 = at(1), m1 = at(-1), p2 = at(2), m2 = at(-2)
                for b in 0 ..< B {
                    let dNu = (8 * (p1.yields[b] - m1.yields[b]) - (p2.yields[b] - m2.yields[b])) / (12 * step)
                    let dVar = (8 * (p1.variances[b] - m1.variances[b]) - (p2.variances[b] - m2.variances[b])) / (12 * step)
                    let scaleNu = max(1, abs(result.yields[b])), scaleVar = max(1, abs(result.variances[b]))
                    #expect(abs(result.yieldJacobian[j * B + b] - dNu) <= 1e-6 * scaleNu, "∂ν_\(b)/∂q_\(j): \(result.yieldJacobian[j * B + b]) vs \(dNu)")
                    #expect(abs(result.varianceJacobian[j * B + b] - dVar) <= 1e-6 * scaleVar, "∂Σw²_\(b)/∂q_\(j)")
                }
            }
        }
    }

    /// As h → 0 the smoothed template tends to the histogram: with h = 10⁻⁹ GeV it equals the sharp
    /// per-event kernel (symmetric shift, so code4p is the linear x + θΔ) for events not within
    /// 40h of an edge, which is every event here.
    @Test func tinySmoothingWidthGivesTheSharpHistogram() throws {
        let db = try Fixtures.database(events: 4000, seed: 3)
        let binning = try Binning(observable: "pTV", edges: [30, 60, 80, 100, 140, 200, 300, 400])
        let smooth = try SmoothedReweightingKernel(
            database: db, binning: binning, systematics: [.init(name: "JES", kind: .shift)], smoothingWidth: 1e-9)
        let sharp = try EventReweightingKernel(database: db, binning: binning, shift: "JES")
        for theta in [-1.7, -0.4, 0.0, 0.6, 1.3] {
            let c = [0.4, -0.3, 0.8]
            let a = smooth.evaluate(coefficients: c, nuisance: [theta], jacobian: false)
            let b = sharp.histogram(at: c, shift: theta)
            for bin in 0 ..< binning.binCount {
                #expect(abs(a.yields[bin] - b.sumOfWeights[bin]) <= 1e-9 * max(1, abs(b.sumOfWeights[bin])), "θ = \(theta), bin \(bin)")
                #expect(abs(a.variances[bin] - b.sumOfSquaredWeights[bin]) <= 1e-9 * b.sumOfSquaredWeights[bin])
            }
        }
    }

    /// An unknown systematic, or a shift of another observable than the binned one, names the dataset.
    @Test func unknownSystematicsNameTheDataset() throws {
        let binning = try Binning(observable: "pTV", edges: [30, 100, 400])
        let cases: [(EventSystematic, String)] = [
            (.init(name: "nope", kind: .weight), "/systematics/weights/nope"),
            (.init(name: "nope", kind: .shift), "/systematics/shifts/nope/pTV"),
            (.init(name: "JES", kind: .weight), "/systematics/weights/JES"),
        ]
        for (systematic, dataset) in cases {
            #expect {
                _ = try SmoothedReweightingKernel(database: Self.database, binning: binning, systematics: [systematic], smoothingWidth: 1)
            } throws: { error in
                (error as? EventDatabaseError)?.dataset == dataset
            }
        }
        let etaBinning = try Binning(observable: "etaV", edges: [-2, 0, 2])
        #expect {
            _ = try SmoothedReweightingKernel(database: Self.database, binning: etaBinning, systematics: [.init(name: "JER", kind: .shift)], smoothingWidth: 1)
        } throws: { error in
            let e = error as? EventDatabaseError
            return e?.dataset == "/systematics/shifts/JER/etaV" && e?.message.contains("moves only") == true
        }
    }

    /// The worked example G of Specs/examples/make_examples.py (an independent plain-Python
    /// implementation of the spec's formulae, every edge, no truncation): ν and Σw² to 1e-12
    /// relative, the Jacobians to its five-point differences (1e-7 relative).
    @Test func reproducesTheSpecWorkedExample() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Specs/examples/results.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let g = try #require(root["G_event_systematics"] as? [String: Any])
        let events = try #require(g["events"] as? [String: Any])
        func numbers(_ any: Any?) throws -> [Double] { try #require(any as? [NSNumber]).map(\.doubleValue) }
        let x = try numbers(events["x"])
        let rows = try #require(events["a"] as? [[NSNumber]]).map { $0.map(\.doubleValue) }
        let exponents = try #require(g["monomial_exponents"] as? [[Int]])
        let database = try EventDatabase(
            provenance: .init(generator: "Specs/examples/make_examples.py example G", eftBasis: "synthetic", lambda: 1000, normalisation: "n/a", weightUnit: "events"),
            coefficientNames: try #require(g["coefficients"] as? [String]), monomials: exponents.map { Monomial(exponents: $0) },
            basisCoefficients: exponents.indices.map { t in rows.map { $0[t] } },
            observables: [.init(name: "x", unit: "", values: x)],
            weightVariations: [.init(name: "btag", up: try numbers(events["weight_up"]), down: try numbers(events["weight_down"]))],
            observableShifts: [.init(name: "JES", observable: "x", up: try numbers(events["shift_up"]), down: try numbers(events["shift_down"]))])
        let binning = try Binning(observable: "x", edges: try numbers(g["edges"]))
        let kernel = try SmoothedReweightingKernel(
            database: database, binning: binning, systematics: [.init(name: "JES", kind: .shift), .init(name: "btag", kind: .weight)],
            smoothingWidth: try #require(g["smoothing_width"] as? Double), normalisation: try #require(g["normalisation"] as? Double))
        let result = kernel.evaluate(coefficients: try numbers(g["c"]), nuisance: try numbers(g["theta"]), jacobian: true)
        let nu = try numbers(g["nu"]), sumw2 = try numbers(g["sumw2"])
        let jacobianNu = try #require(g["jacobian_nu_fd"] as? [[NSNumber]]), jacobianVar = try #require(g["jacobian_sumw2_fd"] as? [[NSNumber]])
        let B = binning.binCount
        for b in 0 ..< B {
            #expect(abs(result.yields[b] - nu[b]) <= 1e-12 * abs(nu[b]), "ν bin \(b)")
            #expect(abs(result.variances[b] - sumw2[b]) <= 1e-12 * sumw2[b], "Σw² bin \(b)")
            for j in 0 ..< 4 {
                let dNu = jacobianNu[j][b].doubleValue, dVar = jacobianVar[j][b].doubleValue
                #expect(abs(result.yieldJacobian[j * B + b] - dNu) <= 1e-7 * max(1, abs(dNu)), "∂ν_\(b)/∂q_\(j)")
                #expect(abs(result.varianceJacobian[j * B + b] - dVar) <= 1e-7 * max(1, abs(dVar)), "∂Σw²_\(b)/∂q_\(j)")
            }
        }
    }

    /// The bundled VH database (18018 events, 28 terms, the pTV shift and the btag weight of
    /// Data/vh/workspace_events_syst.json) against Specs/examples/event_kernel_reference.py, an
    /// independent NumPy evaluation of the spec's formulae in long double (every edge, no truncation)
    /// whose own analytic Jacobians it checks against central differences: ν, Σw² and both
    /// Jacobians to 1e-12 of Σ_e |term| (the scale of each sum's rounding), with and without Jacobians,
    /// at the fit's point, at a point with every term and θ beyond ±1, and folded with h = 25 (every
    /// edge within 40h: the longest chains of edge ratios).
    @Test func matchesTheIndependentReferenceOnTheBundledVHDatabase() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("Specs/examples/event_kernel_reference.json"))) as? [String: Any])
        let database = try EventDatabase(contentsOf: root.appendingPathComponent(try #require(document["file"] as? String)))
        func numbers(_ any: Any?) throws -> [Double] { try #require(any as? [NSNumber]).map(\.doubleValue) }
        func rows(_ any: Any?) throws -> [[Double]] { try #require(any as? [Any]).map { try numbers($0) } }
        let cases = try #require(document["cases"] as? [[String: Any]])
        #expect(cases.count == 3)
        for testCase in cases {
            let flow: Binning.Flow = try #require(testCase["flow"] as? String) == "fold" ? .foldIntoEdgeBins : .drop
            let binning = try Binning(observable: "pTV", edges: try numbers(document["edges"]), flow: flow)
            let kernel = try SmoothedReweightingKernel(
                database: database, binning: binning, systematics: [.init(name: "pTV_scale", kind: .shift), .init(name: "btag", kind: .weight)],
                smoothingWidth: try #require(testCase["smoothing_width"] as? Double), normalisation: try #require(testCase["normalisation"] as? Double))
            let c = try numbers(testCase["c"]), theta = try numbers(testCase["theta"])
            let nu = try numbers(testCase["nu"]), nuScale = try numbers(testCase["nu_scale"]), sumw2 = try numbers(testCase["sumw2"])
            let dNu = try rows(testCase["jacobian_nu"]), dNuScale = try rows(testCase["jacobian_nu_scale"])
            let dVar = try rows(testCase["jacobian_sumw2"]), dVarScale = try rows(testCase["jacobian_sumw2_scale"])
            let B = binning.binCount, Q = c.count + theta.count
            for jacobian in [false, true] {
                let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: jacobian)
                for b in 0 ..< B {
                    #expect(abs(result.yields[b] - nu[b]) <= 1e-12 * nuScale[b], "\(flow) ν bin \(b): \(result.yields[b]) vs \(nu[b])")
                    #expect(abs(result.variances[b] - sumw2[b]) <= 1e-12 * sumw2[b], "\(flow) Σw² bin \(b): \(result.variances[b]) vs \(sumw2[b])")
                }
                guard jacobian else { continue }
                for j in 0 ..< Q {
                    for b in 0 ..< B {
                        let kernelNu = result.yieldJacobian[j * B + b], kernelVar = result.varianceJacobian[j * B + b]
                        #expect(abs(kernelNu - dNu[j][b]) <= 1e-12 * dNuScale[j][b], "\(flow) ∂ν_\(b)/∂q_\(j): \(kernelNu) vs \(dNu[j][b])")
                        #expect(abs(kernelVar - dVar[j][b]) <= 1e-12 * dVarScale[j][b], "\(flow) ∂Σw²_\(b)/∂q_\(j): \(kernelVar) vs \(dVar[j][b])")
                    }
                }
            }
        }
    }

    /// Writing the same database twice gives the same bytes: object timestamps are off and
    /// nothing else depends on the time of writing.
    @Test func writingTwiceGivesIdenticalBytes() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let a = directory.appendingPathComponent("a.h5"), b = directory.appendingPathComponent("b.h5")
        try Self.database.write(to: a)
        Thread.sleep(forTimeInterval: 1.1)  // timestamps have a resolution of one second
        try Self.database.write(to: b)
        let bytesA = try Data(contentsOf: a), bytesB = try Data(contentsOf: b)
        #expect(bytesA.count > 0)
        #expect(bytesA == bytesB)
    }
}
