import Foundation
import _CKernels

// The HistFactory likelihood kernel: the model's terms in flat, parameter-grouped arrays and the
// forward (ν) and backward (∂ log L/∂θ) passes over them.
//
// Notation, per entry e (one sample in one channel) and entry bin l (main bin b(l)):
//
//     ν_b = Σ_{l: b(l) = b} P_e(l) · G_l · B_l
//     P_e = Π_k f_k(α_k)                 scalar factors (normfactor, lumi, normsys)
//     G_l = Π_g γ_gl                     per-bin factors (staterror, shapesys, shapefactor)
//     B_l = ν⁰_l + Σ_h Δ_hl(α_h)         nominal plus histosys deltas
//
// Scalar factors and histosys deltas are stored grouped by parameter ("runs"), so that all the
// terms of one run share α: the interpolation branch is taken once per run and the polynomial's
// powers of α are computed once per run. Scalar results are then scattered into the entries.
//
// Histosys runs store their (term, bin) pairs as segments of consecutive entry bins where they
// chain (a parameter usually shifts every sample of a multi-bin channel, whose bins are adjacent in
// the entry-bin order), with Δ₊ and Δ₋ contiguous along the segment: the forward update of B and
// the backward dot products with w P G then stream through memory two bins at a time, with no
// per-pair bin index. Pairs that chain with nothing (one-bin channels) stay single, with their bin.
//
// A run whose parameter sits at its nominal value α = 0 (every nuisance parameter at the usual
// starting point of a fit) is exactly neutral when its coefficients are finite: the forward pass
// skips it (f = 1 and Δ = 0 change nothing bit for bit) and the backward pass reads
// f'/f = f'(0) = a₁ straight from the polynomial's first plane. The results are the same doubles
// as those of the general branch, which would compute 1 + Σ aₖ·0 = 1, a₁/1 and B + 0.

/// A contiguous run of scalar terms `start..<end` that all belong to one parameter and one kind.
struct TermRun {
    let parameter: Int
    /// 0 the parameter itself, 1 code4, 2 code1.
    let kind: UInt8
    /// Every polynomial coefficient of the run is finite, so that code4 at α = 0 is exactly neutral:
    /// f = 1 + Σ aₖ·0 = 1 and f'/f = a₁.
    let isFinite: Bool
    let start: Int
    let end: Int
}

/// The histosys pairs of one parameter and code: segments `segmentStart..<segmentEnd` (see
/// `LikelihoodKernel.segmentBin`) and single pairs `singleStart..<singleEnd`.
struct HistoRun {
    let parameter: Int
    /// 0 code0, 2 code2, 4 code4p.
    let kind: UInt8
    /// Every Δ± of the run is finite, so that at α = 0 (u = l = 0) it adds exactly 0.
    let isFinite: Bool
    let segmentStart, segmentEnd: Int
    let singleStart, singleEnd: Int
}

/// Pointers into one evaluation's scratch memory (a single temporary allocation).
struct KernelScratch {
    /// P_e, per entry.
    let product: UnsafeMutablePointer<Double>
    /// Σ_l w_b(l) G_l B_l, per entry (gradient only).
    let weightedSum: UnsafeMutablePointer<Double>
    /// P_e · Σ_l w G B, per entry (gradient only).
    let entryScale: UnsafeMutablePointer<Double>
    /// B_l, G_l and w_b P_e G_l, per entry bin.
    let base, binFactor, binScale: UnsafeMutablePointer<Double>
    /// f_t'/f_t, per scalar term.
    let logDerivative: UnsafeMutablePointer<Double>
    /// ν_b and w_b = n_b/ν_b − 1, per main bin.
    let nu, weight: UnsafeMutablePointer<Double>
    /// Prefix products for the exact fallback, and (f, f') of one entry's terms.
    let prefix, fallbackValue, fallbackDerivative: UnsafeMutablePointer<Double>
    /// Morphed models only (else empty), per entry bin: the nominal ν̃⁰_l (the fixed nominal for
    /// samples without morphing), the histosys scale r_l = ν̃⁰_l/ν⁰_l(0), and D_l = Σ_h Δ_hl.
    let morphNominal, morphRatio, morphDelta: UnsafeMutablePointer<Double>

    static func count(_ k: LikelihoodKernel, mainBins: Int) -> Int {
        3 * k.entryCount + 2 + (k.hasMorph ? 6 : 3) * k.localBinCount + k.scalarCount + 2 * mainBins + 3 * k.maxScalarsPerEntry + 1
    }

    /// Carves `memory` (at least `count(k, mainBins:)` doubles) into the arrays above.
    init(_ memory: UnsafeMutablePointer<Double>, _ k: LikelihoodKernel, mainBins: Int) {
        var p = memory
        func take(_ n: Int) -> UnsafeMutablePointer<Double> {
            defer { p += n }
            return p
        }
        product = take(k.entryCount + 1)
        weightedSum = take(k.entryCount)
        entryScale = take(k.entryCount + 1)
        base = take(k.localBinCount)
        binFactor = take(k.localBinCount)
        binScale = take(k.localBinCount)
        logDerivative = take(k.scalarCount)
        nu = take(mainBins)
        weight = take(mainBins)
        prefix = take(k.maxScalarsPerEntry)
        fallbackValue = take(k.maxScalarsPerEntry)
        fallbackDerivative = take(k.maxScalarsPerEntry)
        let morphBins = k.hasMorph ? k.localBinCount : 0
        morphNominal = take(morphBins)
        morphRatio = take(morphBins)
        morphDelta = take(morphBins)
    }
}

/// The model's terms in flat arrays, built once and never mutated.
///
/// A class holding raw pointers rather than Swift arrays, because the passes index thousands of
/// small terms per call: bounds checks, retain/release and the nesting of
/// `withUnsafeBufferPointer` for a dozen arrays would cost more than the arithmetic.
/// `@unchecked Sendable` is sound because every buffer is written only in `init` and only read
/// afterwards; the buffers live exactly as long as the instance (freed in `deinit`).
final class LikelihoodKernel: @unchecked Sendable {
    let entryCount: Int
    let localBinCount: Int
    /// Whether some sample has a morphing modifier (its nominal then changes with c).
    let hasMorph: Bool
    let scalarCount: Int
    let histoCount: Int
    let maxScalarsPerEntry: Int

    /// Whether this CPU and operating system run AVX code, checked once per process: code4 runs then
    /// go through the AVX loop of `_CKernels` (the same doubles, four terms per instruction).
    static let avxAvailable = efthf_avx_available() != 0

    // Per entry bin l.
    let binEntry: UnsafeMutablePointer<Int32>
    let binGlobal: UnsafeMutablePointer<Int32>
    let nominal: UnsafeMutablePointer<Double>
    /// The per-bin factors of bin l are `binTermParameter[binTermStart[l]..<binTermStart[l+1]]`.
    let binTermStart: UnsafeMutablePointer<Int32>
    let binTermParameter: UnsafeMutablePointer<Int32>

    // Scalar terms t, grouped into `scalarRuns`.
    let scalarRuns: UnsafeMutablePointer<TermRun>
    let scalarRunCount: Int
    let scalarEntry: UnsafeMutablePointer<Int32>
    /// code4's a₁…a₆ as six planes: aₖ of term t at `poly[(k − 1)·scalarCount + t]`.
    let poly: UnsafeMutablePointer<Double>
    let logUp: UnsafeMutablePointer<Double>
    let logDown: UnsafeMutablePointer<Double>
    /// The terms of entry e in model order: `entryTerms[entryTermStart[e]..<entryTermStart[e+1]]`.
    let entryTermStart: UnsafeMutablePointer<Int32>
    let entryTerms: UnsafeMutablePointer<Int32>
    /// The run kind of each term (for the per-entry fallback).
    let termKind: UnsafeMutablePointer<UInt8>
    let termParameter: UnsafeMutablePointer<Int32>

    // Histosys (term, bin) pairs k with Δ₊ and Δ₋ in `histoUp` and `histoDown`, grouped into
    // `histoRuns`. Segment g covers the entry bins `segmentBin[g] ..< segmentBin[g] + segmentLength[g]`,
    // whose pairs are `segmentPair[g] ..< segmentPair[g] + segmentLength[g]`; a single pair k is
    // at entry bin `pairBin[k]`.
    let histoRuns: UnsafeMutablePointer<HistoRun>
    let histoRunCount: Int
    let segmentBin: UnsafeMutablePointer<Int32>
    let segmentPair: UnsafeMutablePointer<Int32>
    let segmentLength: UnsafeMutablePointer<Int32>
    let pairBin: UnsafeMutablePointer<Int32>
    let histoUp: UnsafeMutablePointer<Double>
    let histoDown: UnsafeMutablePointer<Double>

    /// A copy of `a` in a new buffer of at least one element (so that every base address exists).
    private static func buffer<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, a.count))
        // Sound: p has room for a.count elements and T is trivial, so nothing needs deinitialising.
        a.withUnsafeBufferPointer { source in
            if let s = source.baseAddress { p.initialize(from: s, count: a.count) }
        }
        return p
    }

    /// A copy of `a` in a new 16-byte aligned buffer of at least two elements.
    private static func alignedBuffer(_ a: [Double]) -> UnsafeMutablePointer<Double> {
        let count = max(2, a.count)
        // Sound: the raw allocation holds `count` doubles and is bound to Double once, here; Double is
        // trivial, so `deallocate` needs no deinitialisation.
        let p = UnsafeMutableRawPointer.allocate(byteCount: 8 * count, alignment: 16).bindMemory(to: Double.self, capacity: count)
        p.initialize(repeating: 0, count: count)
        a.withUnsafeBufferPointer { source in
            if let s = source.baseAddress { p.update(from: s, count: a.count) }
        }
        return p
    }

    /// Indices `0..<keys.count` grouped by key (parameter, then kind), keeping their order within a
    /// group: a counting sort, since parameters are small integers.
    private static func grouped(_ keys: [(parameter: Int, kind: UInt8)]) -> [[Int]] {
        let parameterBound = (keys.map(\.parameter).max() ?? -1) + 1
        var byParameter = [[Int]](repeating: [], count: parameterBound)
        for (i, key) in keys.enumerated() { byParameter[key.parameter].append(i) }
        var groups: [[Int]] = []
        for members in byParameter where !members.isEmpty {
            for kind in Set(members.map { keys[$0].kind }).sorted() {
                groups.append(members.filter { keys[$0].kind == kind })
            }
        }
        return groups
    }

    init(_ entries: [CompiledSample]) {
        var binEntry: [Int32] = [], binGlobal: [Int32] = [], nominal: [Double] = []
        var binTermStart: [Int32] = [0], binTermParameter: [Int32] = []
        var scalars: [(entry: Int, term: ScalarTerm)] = []
        var histos: [(bin: Int, up: Double, down: Double)] = []
        var scalarKeys: [(parameter: Int, kind: UInt8)] = [], histoKeys: [(parameter: Int, kind: UInt8)] = []
        var entryTermStart: [Int32] = [0]
        var maxScalars = 0
        for (e, entry) in entries.enumerated() {
            let local = nominal.count
            for j in 0..<entry.binCount {
                binEntry.append(Int32(e))
                binGlobal.append(Int32(entry.binStart + j))
                nominal.append(entry.nominal[j])
                for g in entry.binTerms { binTermParameter.append(Int32(g.parameters[j])) }
                binTermStart.append(Int32(binTermParameter.count))
            }
            for term in entry.scalars {
                scalars.append((e, term))
                scalarKeys.append((term.parameter, term.interpolation.map { $0.code == .code4 ? 1 : 2 } ?? 0))
            }
            entryTermStart.append(Int32(scalars.count))
            maxScalars = max(maxScalars, entry.scalars.count)
            for h in entry.histos {
                let kind: UInt8 = h.code == .code0 ? 0 : h.code == .code2 ? 2 : 4
                for j in 0..<entry.binCount {
                    histos.append((local + j, h.up[j], h.down[j]))
                    histoKeys.append((h.parameter, kind))
                }
            }
        }

        // Scalar runs, each padded to an even length (so that every run starts 16-byte aligned) with
        // neutral terms: f = 1, f' = 0, attached to the extra entry `entries.count`, which no bin reads.
        var sRuns: [TermRun] = []
        var slotOf = [Int](repeating: 0, count: scalars.count)
        var slotEntry: [Int32] = [], slotKind: [UInt8] = [], slotParameter: [Int32] = []
        var planes: [[Double]] = Array(repeating: [], count: 6)
        var slotLogUp: [Double] = [], slotLogDown: [Double] = []
        for group in Self.grouped(scalarKeys) {
            let key = scalarKeys[group[0]]
            let start = slotEntry.count
            for i in group + (group.count % 2 == 1 ? [-1] : []) {
                let f = i >= 0 ? scalars[i].term.interpolation : nil
                if i >= 0 { slotOf[i] = slotEntry.count }
                slotEntry.append(Int32(i >= 0 ? scalars[i].entry : entries.count))
                slotKind.append(key.kind)
                slotParameter.append(Int32(key.parameter))
                let a = f?.a ?? (0, 0, 0, 0, 0, 0)
                for (k, ak) in [a.0, a.1, a.2, a.3, a.4, a.5].enumerated() { planes[k].append(ak) }
                slotLogUp.append(f?.logUp ?? 0)
                slotLogDown.append(f?.logDown ?? 0)
            }
            let finite = (start..<slotEntry.count).allSatisfy { t in planes.allSatisfy { $0[t].isFinite } }
            sRuns.append(TermRun(parameter: key.parameter, kind: key.kind, isFinite: finite, start: start, end: slotEntry.count))
        }
        // Histosys: a group's pairs come in entry-bin order (entries in order, bins in order within
        // each) and a bin appears at most once per group, so chains of consecutive bins are found in
        // one sweep; chains of two or more become segments, the rest single pairs after them.
        var hRuns: [HistoRun] = []
        var segmentBin: [Int32] = [], segmentPair: [Int32] = [], segmentLength: [Int32] = []
        var pairBin: [Int32] = [], pairUp: [Double] = [], pairDown: [Double] = []
        for group in Self.grouped(histoKeys) {
            var chains: [[Int]] = []
            for i in group {
                if let last = chains.last?.last, histos[last].bin + 1 == histos[i].bin {
                    chains[chains.count - 1].append(i)
                } else {
                    chains.append([i])
                }
            }
            func append(_ i: Int) {
                pairBin.append(Int32(histos[i].bin))
                pairUp.append(histos[i].up)
                pairDown.append(histos[i].down)
            }
            let segmentStart = segmentBin.count
            for chain in chains where chain.count > 1 {
                segmentBin.append(Int32(histos[chain[0]].bin))
                segmentPair.append(Int32(pairUp.count))
                segmentLength.append(Int32(chain.count))
                chain.forEach(append)
            }
            let singleStart = pairUp.count
            for chain in chains where chain.count == 1 { append(chain[0]) }
            let finite = group.allSatisfy { histos[$0].up.isFinite && histos[$0].down.isFinite }
            hRuns.append(HistoRun(parameter: histoKeys[group[0]].parameter, kind: histoKeys[group[0]].kind, isFinite: finite,
                                  segmentStart: segmentStart, segmentEnd: segmentBin.count, singleStart: singleStart, singleEnd: pairUp.count))
        }

        entryCount = entries.count
        localBinCount = nominal.count
        hasMorph = entries.contains { $0.morph != nil }
        scalarCount = slotEntry.count
        histoCount = pairUp.count
        maxScalarsPerEntry = maxScalars
        self.binEntry = Self.buffer(binEntry)
        self.binGlobal = Self.buffer(binGlobal)
        self.nominal = Self.buffer(nominal)
        self.binTermStart = Self.buffer(binTermStart)
        self.binTermParameter = Self.buffer(binTermParameter)
        scalarRuns = Self.buffer(sRuns)
        scalarRunCount = sRuns.count
        scalarEntry = Self.buffer(slotEntry)
        poly = Self.alignedBuffer(planes.flatMap { $0 })
        logUp = Self.buffer(slotLogUp)
        logDown = Self.buffer(slotLogDown)
        self.entryTermStart = Self.buffer(entryTermStart)
        entryTerms = Self.buffer(slotOf.map { Int32($0) })
        termKind = Self.buffer(slotKind)
        termParameter = Self.buffer(slotParameter)
        histoRuns = Self.buffer(hRuns)
        histoRunCount = hRuns.count
        self.segmentBin = Self.buffer(segmentBin)
        self.segmentPair = Self.buffer(segmentPair)
        self.segmentLength = Self.buffer(segmentLength)
        self.pairBin = Self.buffer(pairBin)
        histoUp = Self.buffer(pairUp)
        histoDown = Self.buffer(pairDown)
    }

    deinit {
        binEntry.deallocate(); binGlobal.deallocate(); nominal.deallocate()
        binTermStart.deallocate(); binTermParameter.deallocate()
        scalarRuns.deallocate(); scalarEntry.deallocate(); UnsafeMutableRawPointer(poly).deallocate(); logUp.deallocate(); logDown.deallocate()
        entryTermStart.deallocate(); entryTerms.deallocate(); termKind.deallocate(); termParameter.deallocate()
        histoRuns.deallocate(); segmentBin.deallocate(); segmentPair.deallocate(); segmentLength.deallocate(); pairBin.deallocate(); histoUp.deallocate(); histoDown.deallocate()
    }

    // MARK: Interpolation, per run

    /// Histosys codes written as Δ = u·Δ₊ + l·Δ₋ and dΔ/dα = u'·Δ₊ + l'·Δ₋, with (u, l, u', l')
    /// depending on α only (see `additiveInterpolation`):
    ///
    /// - code0: α > 0: (α, 0, 1, 0); else (0, α, 0, 1).
    /// - code2 (a = ½(Δ₊ − Δ₋), b = ½(Δ₊ + Δ₋)): |α| ≤ 1: aα² + bα, so u = ½(α² + α), l = ½(α − α²),
    ///   u' = α + ½, l' = ½ − α; α > 1: (b + 2a)(α − 1), so (1.5(α−1), −0.5(α−1), 1.5, −0.5);
    ///   α < −1: α(b − 2a), so (−0.5α, 1.5α, −0.5, 1.5).
    /// - code4p: α > 1: (α, 0, 1, 0); α < −1: (0, α, 0, 1); else αS + α²A(15 − 10α² + 3α⁴) with
    ///   S = ½(Δ₊ + Δ₋), A = (Δ₊ − Δ₋)/16, so u = ½α + c/16, l = ½α − c/16 with c = α²(15 − 10α² + 3α⁴),
    ///   and u' = ½ + c'/16, l' = ½ − c'/16 with c' = 2α(15 − 10α² + 3α⁴) + α²(−20α + 12α³).
    @inline(__always)
    static func histoWeights(_ kind: UInt8, _ x: Double) -> (u: Double, l: Double, du: Double, dl: Double) {
        switch kind {
        case 0:
            return x > 0 ? (x, 0, 1, 0) : (0, x, 0, 1)
        case 2:
            if x > 1 { return (1.5 * (x - 1), -0.5 * (x - 1), 1.5, -0.5) }
            if x < -1 { return (-0.5 * x, 1.5 * x, -0.5, 1.5) }
            let x2 = x * x
            return (0.5 * (x2 + x), 0.5 * (x - x2), x + 0.5, 0.5 - x)
        default:
            if x > 1 { return (x, 0, 1, 0) }
            if x < -1 { return (0, x, 0, 1) }
            let x2 = x * x
            let poly = 15 - 10 * x2 + 3 * x2 * x2
            let c = x2 * poly * 0.0625
            let dc = (2 * x * poly + x2 * (-20 * x + 12 * x2 * x)) * 0.0625
            return (0.5 * x + c, 0.5 * x - c, 0.5 + dc, 0.5 - dc)
        }
    }

    /// One scalar factor f(α) and f'(α) of term t, evaluated on its own (the exact fallback).
    @inline(__always)
    func scalarFactor(_ t: Int, _ x: Double) -> (Double, Double) {
        let kind = termKind[t]
        if kind == 0 { return (x, 1) }
        if kind == 1 && x > -1 && x < 1 {
            let a = { (k: Int) in self.poly[k * self.scalarCount + t] }
            let v = 1 + x * (a(0) + x * (a(1) + x * (a(2) + x * (a(3) + x * (a(4) + x * a(5))))))
            let d = a(0) + x * (2 * a(1) + x * (3 * a(2) + x * (4 * a(3) + x * (5 * a(4) + x * 6 * a(5)))))
            return (v, d)
        }
        if x > 0 {
            let v = Foundation.exp(x * logUp[t])
            return (v, v * logUp[t])
        }
        let v = Foundation.exp(-x * logDown[t])
        return (v, -v * logDown[t])
    }

    // MARK: Forward pass

    /// ν_b into `s.nu` (all `mainBins` of them) and, when `wantGradient`, f'/f per scalar term.
    /// `vectorised` (only when `avxAvailable`) runs code4 through the AVX loop, else the Swift loop.
    ///
    /// Scalar factors, per run of parameter α:
    /// - the parameter itself: f = α, f'/f = 1/α;
    /// - code4, |α| < 1: f = 1 + Σₖ aₖ αᵏ, f' = Σₖ k aₖ αᵏ⁻¹ (powers of α once per run; two terms per
    ///   SSE2 vector);
    /// - code1, and code4 for |α| ≥ 1: f = exp(|α| ln δ), f'/f = ±ln δ with δ = δ₊ (α > 0) or δ₋.
    func forward(_ pars: UnsafePointer<Double>, _ s: KernelScratch, mainBins: Int, wantGradient: Bool, vectorised: Bool) {
        // Sound: every index below was built in init within its buffer's size; `pars` has every
        // parameter index the model uses, and `s` was carved from `KernelScratch.count` doubles.
        let P = s.product, r = s.logDerivative
        let T = scalarCount
        P.update(repeating: 1, count: entryCount + 1)
        for i in 0..<scalarRunCount {
            let run = scalarRuns[i]
            let x = pars[run.parameter]
            let lo = run.start, hi = run.end
            if run.kind == 0 {
                // f = α; the backward pass uses f'/f = 1/α directly. P·1 = P exactly.
                if x != 1 { for t in lo..<hi { P[Int(scalarEntry[t])] *= x } }
            } else if Self.isNeutral(run, x) {
                continue
            } else if run.kind == 1 && x > -1 && x < 1 && vectorised {
                efthf_code4_run_avx(x, poly, T, lo, hi, scalarEntry, P, r, wantGradient ? 1 : 0)
            } else if run.kind == 1 && x > -1 && x < 1 {
                // Two terms at a time (the run's length is even and it starts 16-byte aligned), with the
                // powers of α computed once per run and the sums taken as trees (short dependency chains):
                // f = 1 + Σₖ aₖ xᵏ, f' = Σₖ k aₖ xᵏ⁻¹.
                let x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x, x6 = x3 * x3
                let q2 = 2 * x, q3 = 3 * x2, q4 = 4 * x3, q5 = 5 * x4, q6 = 6 * x5
                let a1 = poly, a2 = poly + T, a3 = poly + 2 * T, a4 = poly + 3 * T, a5 = poly + 4 * T, a6 = poly + 5 * T
                var t = lo
                while t < hi {
                    let c1 = loadAligned2(a1 + t), c2 = loadAligned2(a2 + t), c3 = loadAligned2(a3 + t)
                    let c4 = loadAligned2(a4 + t), c5 = loadAligned2(a5 + t), c6 = loadAligned2(a6 + t)
                    let f = ((c1 * x + c2 * x2) + (c3 * x3 + c4 * x4)) + ((c5 * x5 + c6 * x6) + 1)
                    if wantGradient {
                        let d = ((c1 + c2 * q2) + (c3 * q3 + c4 * q4)) + (c5 * q5 + c6 * q6)
                        store2(d / f, r + t)
                    }
                    P[Int(scalarEntry[t])] *= f[0]
                    P[Int(scalarEntry[t + 1])] *= f[1]
                    t &+= 2
                }
            } else {
                let up = x > 0
                let logs = up ? logUp : logDown
                let ax = up ? x : -x
                for t in lo..<hi { P[Int(scalarEntry[t])] *= Foundation.exp(ax * logs[t]) }
                if wantGradient {
                    if up {
                        (r + lo).update(from: logUp + lo, count: hi - lo)
                    } else {
                        for t in lo..<hi { r[t] = -logDown[t] }
                    }
                }
            }
        }

        // B_l = ν⁰_l + Σ_h (u Δ₊ + l Δ₋); with morphing B_l = ν̃⁰_l + r_l Σ_h Δ_hl (the caller has
        // filled morphNominal and morphRatio).
        let B = s.base
        if hasMorph {
            let D = s.morphDelta
            D.update(repeating: 0, count: localBinCount)
            addHistosysDeltas(pars, D)
            for l in 0..<localBinCount { B[l] = s.morphNominal[l] + s.morphRatio[l] * D[l] }
        } else {
            B.update(from: nominal, count: localBinCount)
            addHistosysDeltas(pars, B)
        }

        // G_l and ν_b.
        let G = s.binFactor, nu = s.nu
        nu.update(repeating: 0, count: mainBins)
        for l in 0..<localBinCount {
            var g = 1.0
            for t in Int(binTermStart[l])..<Int(binTermStart[l + 1]) { g *= pars[Int(binTermParameter[t])] }
            G[l] = g
            nu[Int(binGlobal[l])] += P[Int(binEntry[l])] * g * B[l]
        }
    }

    /// `target[l] += u Δ₊ + l Δ₋` for every histosys pair, run by run, two bins at a time along
    /// each segment. Each bin gets its terms in run order, as the per-pair loop would add them.
    @inline(__always)
    private func addHistosysDeltas(_ pars: UnsafePointer<Double>, _ target: UnsafeMutablePointer<Double>) {
        // Sound: as in `forward`. The buffers in locals, so that stores to `target` cannot be taken
        // to change them.
        let up = histoUp, down = histoDown, bins = pairBin
        for i in 0..<histoRunCount {
            let run = histoRuns[i]
            let w = Self.histoWeights(run.kind, pars[run.parameter])
            // u = l = 0 (α = 0 for every code): Δ = 0 and B + 0 = B.
            if w.u == 0 && w.l == 0 && run.isFinite { continue }
            let u = SIMD2(repeating: w.u), d = SIMD2(repeating: w.l)
            for g in run.segmentStart..<run.segmentEnd {
                let b = target + Int(segmentBin[g])
                let k = Int(segmentPair[g]), n = Int(segmentLength[g])
                var j = 0
                while j &+ 2 <= n {
                    store2(load2(b + j) + (u * load2(up + k + j) + d * load2(down + k + j)), b + j)
                    j &+= 2
                }
                if j < n { b[j] += w.u * up[k + j] + w.l * down[k + j] }
            }
            for k in run.singleStart..<run.singleEnd { target[Int(bins[k])] += w.u * up[k] + w.l * down[k] }
        }
    }

    /// Whether a scalar run is exactly neutral at `x`: code4 at α = 0 with finite coefficients
    /// (f = 1, so the forward pass skips it and the backward pass reads f'/f = a₁ from `poly`).
    @inline(__always)
    static func isNeutral(_ run: TermRun, _ x: Double) -> Bool { run.kind == 1 && x == 0 && run.isFinite }

    // MARK: Backward pass

    /// Adds ∂ log L/∂θ to `grad`, given the forward pass's scratch and w_b = ∂ log L/∂ν_b in `s.weight`:
    ///
    /// - per-bin factor γ_gl: w P_e B_l Π_{g'≠g} γ_g'l;
    /// - histosys α_h: Σ_l w P_e G_l ∂Δ_hl/∂α = u' Σ_l (w P G)_l Δ₊ + l' Σ_l (w P G)_l Δ₋;
    /// - scalar factor f_t of entry e: f_t' Π_{j≠t} f_j Σ_l w G B = (P_e Σ_l w G B) · f_t'/f_t.
    ///
    /// The last form needs f_t ≠ 0: entries whose product P_e is zero, tiny or not finite take the
    /// exact route instead, Π_{j≠t} f_j from prefix and suffix products.
    func backward(_ pars: UnsafePointer<Double>, _ s: KernelScratch, _ grad: UnsafeMutablePointer<Double>) {
        // Sound: as in `forward`; `grad` has one element per parameter.
        let P = s.product, S = s.weightedSum, K = s.entryScale, G = s.binFactor, B = s.base
        let scale = s.binScale, w = s.weight, r = s.logDerivative
        S.update(repeating: 0, count: entryCount)
        for l in 0..<localBinCount {
            let e = Int(binEntry[l])
            let wb = w[Int(binGlobal[l])]
            let g = G[l], b = B[l], p = P[e]
            S[e] += wb * g * b
            // ∂B_l/∂α = r_l ∂Δ_l/∂α when morphing.
            scale[l] = hasMorph ? wb * p * g * s.morphRatio[l] : wb * p * g
            let t0 = Int(binTermStart[l]), t1 = Int(binTermStart[l + 1])
            if t1 == t0 + 1 {
                grad[Int(binTermParameter[t0])] += wb * p * b
            } else if t1 > t0 {
                for t in t0..<t1 {
                    // The other per-bin factors, multiplied out (γ may be 0 for shapefactor).
                    var others = 1.0
                    for u in t0..<t1 where u != t { others *= pars[Int(binTermParameter[u])] }
                    grad[Int(binTermParameter[t])] += wb * p * b * others
                }
            }
        }

        let up = histoUp, down = histoDown, bins = pairBin
        for i in 0..<histoRunCount {
            let run = histoRuns[i]
            let wts = Self.histoWeights(run.kind, pars[run.parameter])
            var sumUp = SIMD2<Double>(), sumDown = SIMD2<Double>()
            for g in run.segmentStart..<run.segmentEnd {
                let c = UnsafePointer(scale + Int(segmentBin[g]))
                let k = Int(segmentPair[g]), n = Int(segmentLength[g])
                var j = 0
                while j &+ 2 <= n {
                    let cj = load2(c + j)
                    sumUp += cj * load2(up + k + j)
                    sumDown += cj * load2(down + k + j)
                    j &+= 2
                }
                if j < n {
                    sumUp[0] += c[j] * up[k + j]
                    sumDown[0] += c[j] * down[k + j]
                }
            }
            var k = run.singleStart
            while k &+ 2 <= run.singleEnd {
                let c = SIMD2(scale[Int(bins[k])], scale[Int(bins[k + 1])])
                sumUp += c * load2(up + k)
                sumDown += c * load2(down + k)
                k &+= 2
            }
            if k < run.singleEnd {
                let c = scale[Int(bins[k])]
                sumUp[0] += c * up[k]
                sumDown[0] += c * down[k]
            }
            grad[run.parameter] += wts.du * sumUp.sum() + wts.dl * sumDown.sum()
        }

        // Entries that need the exact route: their terms drop out of the grouped sums.
        var anyFallback = false
        for e in 0..<entryCount {
            let p = P[e]
            if !Self.needsExactRoute(p) {
                K[e] = p * S[e]
            } else {
                K[e] = 0
                anyFallback = true
                for j in Int(entryTermStart[e])..<Int(entryTermStart[e + 1]) { r[Int(entryTerms[j])] = 0 }
            }
        }
        K[entryCount] = 0  // the padding terms' entry
        for i in 0..<scalarRunCount {
            let run = scalarRuns[i]
            var sum = SIMD2<Double>()
            if run.kind == 0 {
                // f'/f = 1/α for every term; α = 0 makes every entry of the run take the exact route.
                var t = run.start
                while t < run.end {
                    sum += SIMD2(K[Int(scalarEntry[t])], K[Int(scalarEntry[t + 1])])
                    t += 2
                }
                let x = pars[run.parameter]
                if x != 0 { grad[run.parameter] += sum.sum() / x }
                continue
            }
            // f'/f from the forward pass, or a₁ (the first polynomial plane) where it skipped the run.
            let ratio = Self.isNeutral(run, pars[run.parameter]) ? UnsafePointer(poly) : UnsafePointer(r)
            // Four terms per step in two independent sums (runs have even length).
            var sum2 = SIMD2<Double>()
            var t = run.start
            while t &+ 4 <= run.end {
                sum += SIMD2(K[Int(scalarEntry[t])], K[Int(scalarEntry[t + 1])]) * load2(ratio + t)
                sum2 += SIMD2(K[Int(scalarEntry[t + 2])], K[Int(scalarEntry[t + 3])]) * load2(ratio + t + 2)
                t &+= 4
            }
            if t < run.end { sum += SIMD2(K[Int(scalarEntry[t])], K[Int(scalarEntry[t + 1])]) * load2(ratio + t) }
            grad[run.parameter] += (sum + sum2).sum()
        }
        guard anyFallback else { return }
        for e in 0..<entryCount where Self.needsExactRoute(P[e]) {
            let j0 = Int(entryTermStart[e]), n = Int(entryTermStart[e + 1]) - j0
            let fv = s.fallbackValue, fd = s.fallbackDerivative, prefix = s.prefix
            var running = 1.0
            for i in 0..<n {
                let t = Int(entryTerms[j0 + i])
                (fv[i], fd[i]) = scalarFactor(t, pars[Int(termParameter[t])])
                prefix[i] = running
                running *= fv[i]
            }
            var suffix = 1.0
            for i in (0..<n).reversed() {
                let t = Int(entryTerms[j0 + i])
                grad[Int(termParameter[t])] += S[e] * prefix[i] * suffix * fd[i]
                suffix *= fv[i]
            }
        }
    }

    /// Whether entry products P_e this small (f'/f of a factor may overflow), zero or not finite
    /// must take the exact route.
    @inline(__always)
    static func needsExactRoute(_ p: Double) -> Bool {
        let a = abs(p)
        return !(a >= 1e-200 && a <= .greatestFiniteMagnitude)  // NaN fails both comparisons
    }
}

/// Two consecutive doubles at `p` (any alignment).
/// Sound when p and p + 1 are readable, which every caller ensures (even-length runs, paired loops).
@inline(__always)
private func load2(_ p: UnsafePointer<Double>) -> SIMD2<Double> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD2<Double>.self)
}

/// Two consecutive doubles at the 16-byte aligned `p`.
/// Sound for the `poly` planes: 16-byte aligned buffer, even plane length, runs start at even slots.
@inline(__always)
private func loadAligned2(_ p: UnsafePointer<Double>) -> SIMD2<Double> {
    UnsafeRawPointer(p).load(as: SIMD2<Double>.self)
}

/// Stores two doubles at `p` (any alignment).
/// Sound when p and p + 1 are writable: callers store f'/f for the two terms t, t + 1 of an even-length run.
@inline(__always)
private func store2(_ v: SIMD2<Double>, _ p: UnsafeMutablePointer<Double>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD2<Double>.self)
}
