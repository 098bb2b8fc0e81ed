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
// Code4 runs of fewer than four terms (a normsys parameter on one to three samples) share blocks of
// four instead, each term with its own α (packed runs), so that no block is mostly padding.
//
// Histosys runs store their (term, bin) pairs in quads: the aligned groups of four entry bins
// 4m ..< 4m + 4 that the parameter reaches, with Δ₊ and Δ₋ of the four bins side by side (zero for
// the bins it does not reach; see `hasPadding`). The forward update of B and the backward dot
// products with w P G then take one aligned vector per quad, with no per-pair bin index, no tails
// and no loop whose length depends on how the pairs chain (on reference workspaces 05, 06 and 08 a
// quarter faster than segments of consecutive bins with single pairs beside them, whose loops of
// a few iterations each the branch predictor could not follow). The entries' bins are laid out
// channel by channel or sample by sample, whichever gives fewer quads (`entryStarts`).
//
// The backward dot products (histosys and scalar runs) add their products in two interleaved sums
// per lane, of the even and the odd quads or blocks of four terms, so that two dependency chains of
// additions run side by side.
//
// A run whose parameter sits at its nominal value α = 0 (every nuisance parameter at the usual
// starting point of a fit) is exactly neutral when its coefficients are finite: the forward pass
// skips it (f = 1 and Δ = 0 change nothing bit for bit) and the backward pass reads
// f'/f = f'(0) = a₁ straight from the polynomial's first plane. The results are the same doubles
// as those of the general branch, which would compute 1 + Σ aₖ·0 = 1, a₁/1 and B + 0.

/// A contiguous run of scalar terms `start..<end` that all belong to one parameter and one kind
/// (0 the parameter itself, 1 code4, 2 code1): the C struct, so that the AVX loops read the same runs.
typealias TermRun = efthf_term_run

extension TermRun {
    var lo: Int { Int(start) }
    var hi: Int { Int(end) }
    var parameterIndex: Int { Int(parameter) }
}

/// The histosys pairs of one parameter and code (0 code0, 2 code2, 4 code4p): the quads
/// `quadStart..<quadEnd` (see `LikelihoodKernel.quadBin`); the C struct, so that the AVX loops read
/// the same runs.
typealias HistoRun = efthf_histo_run

/// Pointers into one evaluation's scratch memory (a single temporary allocation).
struct KernelScratch {
    /// P_e, per entry.
    let product: UnsafeMutablePointer<Double>
    /// Σ_l w_b(l) G_l B_l, per entry (gradient only).
    let weightedSum: UnsafeMutablePointer<Double>
    /// P_e · Σ_l w G B, per entry (gradient only).
    let entryScale: UnsafeMutablePointer<Double>
    /// B_l, G_l and w_b P_e G_l, per entry bin; B and w P G 32-byte aligned with `paddedBinCount`
    /// doubles (the quads' loads and stores), zero past the last entry bin.
    let base, binFactor, binScale: UnsafeMutablePointer<Double>
    /// f_t'/f_t, per scalar term.
    let logDerivative: UnsafeMutablePointer<Double>
    /// ν_b and w_b = n_b/ν_b − 1, per main bin.
    let nu, weight: UnsafeMutablePointer<Double>
    /// Prefix products for the exact fallback, and (f, f') of one entry's terms.
    let prefix, fallbackValue, fallbackDerivative: UnsafeMutablePointer<Double>
    /// w_b P_e B_l per entry bin (gradient only), the histosys weights (u, l, u', l') per histosys
    /// run, and the parameters followed by 1 (the per-bin factor of bins without one).
    let binGradient, histoWeight, factorSource: UnsafeMutablePointer<Double>
    /// Morphed models only (else empty), per entry bin: the nominal ν̃⁰_l (the fixed nominal for
    /// samples without morphing), the histosys scale r_l = ν̃⁰_l/ν⁰_l(0), and D_l = Σ_h Δ_hl (32-byte
    /// aligned, `paddedBinCount` doubles).
    let morphNominal, morphRatio, morphDelta: UnsafeMutablePointer<Double>

    static func count(_ k: LikelihoodKernel, mainBins: Int) -> Int {
        3 + (k.hasMorph ? 3 : 2) * k.paddedBinCount + 3 * k.entryCount + 2 + (k.hasMorph ? 4 : 2) * k.localBinCount + k.scalarCount
            + 2 * mainBins + 3 * k.maxScalarsPerEntry + 1 + 4 * k.histoRunCount + k.factorParameterBound + 1
    }

    /// Carves `memory` (at least `count(k, mainBins:)` doubles) into the arrays above.
    init(_ memory: UnsafeMutablePointer<Double>, _ k: LikelihoodKernel, mainBins: Int) {
        // The quads' arrays first, from the first 32-byte boundary (at most three doubles in).
        var p = memory + (4 - Int(bitPattern: memory) / 8 % 4) % 4
        func take(_ n: Int) -> UnsafeMutablePointer<Double> {
            defer { p += n }
            return p
        }
        base = take(k.paddedBinCount)
        binScale = take(k.paddedBinCount)
        morphDelta = take(k.hasMorph ? k.paddedBinCount : 0)
        product = take(k.entryCount + 1)
        weightedSum = take(k.entryCount)
        entryScale = take(k.entryCount + 1)
        binFactor = take(k.localBinCount)
        logDerivative = take(k.scalarCount)
        nu = take(mainBins)
        weight = take(mainBins)
        prefix = take(k.maxScalarsPerEntry)
        fallbackValue = take(k.maxScalarsPerEntry)
        fallbackDerivative = take(k.maxScalarsPerEntry)
        binGradient = take(k.localBinCount)
        histoWeight = take(4 * k.histoRunCount)
        factorSource = take(k.factorParameterBound + 1)
        let morphBins = k.hasMorph ? k.localBinCount : 0
        morphNominal = take(morphBins)
        morphRatio = take(morphBins)
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
    /// The first entry bin of each entry (see `entryStarts`); an entry's bins are consecutive.
    let entryLocalStart: [Int]
    /// Whether some sample has a morphing modifier (its nominal then changes with c).
    let hasMorph: Bool
    let scalarCount: Int
    let histoCount: Int
    /// Whether some histosys quad has zero pairs (bins its parameter does not reach). These add
    /// u·0 + l·0 = 0 to B and c·0 = 0 to the gradient sums only while u, l and the backward scales c
    /// are finite; else both passes take `exactHistosysForward`/`exactHistosysBackward`, which skip
    /// the zero pairs.
    let hasPadding: Bool
    /// `localBinCount` rounded up to a multiple of four: the bins the quads cover.
    let paddedBinCount: Int
    let maxScalarsPerEntry: Int

    /// Whether this CPU and operating system run AVX and FMA code, checked once per process: the
    /// scalar terms then go through the AVX loops of `_CKernels` (the same doubles, four terms per
    /// instruction).
    static let avxAvailable = efthf_avx_fma_available() != 0

    /// Whether kernels built now pack the small code4 runs (kind 3; the default). Tests build models
    /// under `false` as well, the layout without packed runs, to check that both give the same doubles.
    @TaskLocal static var compactLayout = true

    // Per entry bin l.
    let binEntry: UnsafeMutablePointer<Int32>
    let binGlobal: UnsafeMutablePointer<Int32>
    let nominal: UnsafeMutablePointer<Double>
    /// The per-bin factors of bin l are `binTermParameter[binTermStart[l]..<binTermStart[l+1]]`.
    let binTermStart: UnsafeMutablePointer<Int32>
    let binTermParameter: UnsafeMutablePointer<Int32>
    /// One above the largest per-bin factor parameter: `factorSource[factorParameterBound]` = 1.
    let factorParameterBound: Int
    /// Per entry bin, its first per-bin factor's parameter, or `factorParameterBound` (none).
    let binFirstFactor: UnsafeMutablePointer<Int32>
    /// The entry bins with two or more per-bin factors, in order.
    let multiFactorBins: UnsafeMutablePointer<Int32>
    let multiFactorBinCount: Int
    /// The entry bins with exactly one per-bin factor, grouped by its parameter (each group in bin
    /// order): group i has parameter `singleFactorParameter[i]` and the bins
    /// `singleFactorBins[singleFactorStart[i]..<singleFactorStart[i+1]]`. The gradient then adds a
    /// parameter's bins in a register, not through memory (a staterror γ is shared by the samples of
    /// a channel bin, whose entry bins are neighbours).
    let singleFactorParameter: UnsafeMutablePointer<Int32>
    let singleFactorStart: UnsafeMutablePointer<Int32>
    let singleFactorBins: UnsafeMutablePointer<Int32>
    let singleFactorGroupCount: Int
    /// The entry bins of main bin b, in order: `mainBinLocals[mainBinStart[b]..<mainBinStart[b+1]]`
    /// for b < `mainBinSpan` (one above the largest main bin with entries).
    let mainBinStart: UnsafeMutablePointer<Int32>
    let mainBinLocals: UnsafeMutablePointer<Int32>
    let mainBinSpan: Int

    // Scalar terms t, grouped into `scalarRuns`.
    let scalarRuns: UnsafeMutablePointer<TermRun>
    let scalarRunCount: Int
    /// The code4 runs inside packed runs (kind 3), in order: packed run `r` holds
    /// `packedGroups[Int(r.parameter)...]` up to its end (see `efthf_scalar_terms`).
    let packedGroups: UnsafeMutablePointer<TermRun>
    let packedGroupCount: Int
    let scalarEntry: UnsafeMutablePointer<Int32>
    /// code4's a₁…a₆ in blocks of four terms: aₖ of term t at `poly[24·(t/4) + 4(k − 1) + t % 4]`
    /// (runs start at multiples of four, so that a run's block is one aligned load per coefficient).
    let poly: UnsafeMutablePointer<Double>
    /// a₁ of term t: f'/f of a code4 term at α = 0.
    let firstCoefficient: UnsafeMutablePointer<Double>
    let logUp: UnsafeMutablePointer<Double>
    let logDown: UnsafeMutablePointer<Double>
    /// The terms of entry e in model order: `entryTerms[entryTermStart[e]..<entryTermStart[e+1]]`.
    let entryTermStart: UnsafeMutablePointer<Int32>
    let entryTerms: UnsafeMutablePointer<Int32>
    /// The run kind of each term (for the per-entry fallback).
    let termKind: UnsafeMutablePointer<UInt8>
    let termParameter: UnsafeMutablePointer<Int32>

    /// The scalar-term arrays for the AVX loops.
    var scalarTerms: efthf_scalar_terms {
        efthf_scalar_terms(runs: scalarRuns, runCount: scalarRunCount, entry: scalarEntry, poly: poly, firstCoefficient: firstCoefficient,
                           logUp: logUp, logDown: logDown, parameter: termParameter, groups: packedGroups, groupCount: packedGroupCount)
    }

    /// The histosys arrays for the AVX loops.
    var histoTerms: efthf_histo_terms {
        efthf_histo_terms(runs: histoRuns, runCount: histoRunCount, quadBin: quadBin, up: histoUp, down: histoDown)
    }

    // Histosys quads q, grouped into `histoRuns`: quad q covers the entry bins `quadBin[q] ..<
    // quadBin[q] + 4` (a multiple of four), with Δ₊ and Δ₋ of bin `quadBin[q] + j` at `histoUp[4q + j]`
    // and `histoDown[4q + j]` (32-byte aligned; zero where the parameter does not reach the bin).
    let histoRuns: UnsafeMutablePointer<HistoRun>
    let histoRunCount: Int
    let quadBin: UnsafeMutablePointer<Int32>
    let quadCount: Int
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

    /// A copy of `a` in a new 32-byte aligned buffer of at least four elements.
    private static func alignedBuffer(_ a: [Double]) -> UnsafeMutablePointer<Double> {
        let count = max(4, a.count)
        // Sound: the raw allocation holds `count` doubles and is bound to Double once, here; Double is
        // trivial, so `deallocate` needs no deinitialisation.
        let p = UnsafeMutableRawPointer.allocate(byteCount: 8 * count, alignment: 32).bindMemory(to: Double.self, capacity: count)
        p.initialize(repeating: 0, count: count)
        a.withUnsafeBufferPointer { source in
            if let s = source.baseAddress { p.update(from: s, count: a.count) }
        }
        return p
    }

    /// The start of each group in the concatenation of `groups`, and the total: [0, n₀, n₀ + n₁, …].
    private static func offsets<T>(_ groups: [[T]]) -> [Int32] {
        groups.reduce(into: [Int32(0)]) { $0.append($0.last! + Int32($1.count)) }
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

    /// The first entry bin of each entry: entries laid out one after the other either in model order
    /// (channel by channel) or sample by sample (stable in model order), whichever needs fewer
    /// histosys quads. A nuisance parameter often shifts one sample in many channels of one bin
    /// each (reference workspace 08: 2549 quads in model order, 1566 sample by sample), or every
    /// sample of a few channels (05: 457 and 523).
    ///
    /// - Parameter pairs: per histosys group (see `grouped`), its pairs as (entry, bin of the entry).
    private static func entryStarts(_ entries: [CompiledSample], histosysPairs pairs: [[(entry: Int, bin: Int)]]) -> [Int] {
        func starts(_ order: [Int]) -> [Int] {
            var starts = [Int](repeating: 0, count: entries.count), next = 0
            for e in order {
                starts[e] = next
                next += entries[e].binCount
            }
            return starts
        }
        let modelOrder = Array(entries.indices)
        let bySample = modelOrder.sorted { (entries[$0].sample, $0) < (entries[$1].sample, $1) }
        return [starts(modelOrder), starts(bySample)].min { a, b in
            pairs.reduce(0) { $0 + quads($1.map { a[$0.entry] + $0.bin }.sorted()).bases.count }
                < pairs.reduce(0) { $0 + quads($1.map { b[$0.entry] + $0.bin }.sorted()).bases.count }
        }!
    }

    /// The quads of one histosys group whose pairs sit at the entry bins `sortedBins` (ascending):
    /// the quads' first bins, and the quad of each pair. A bin that comes again (two modifiers of one
    /// parameter on one sample) starts a quad of its own, so that B gets its terms in run order.
    private static func quads(_ sortedBins: [Int]) -> (bases: [Int], quadOf: [Int]) {
        var bases: [Int] = [], quadOf: [Int] = [], last = -1
        for bin in sortedBins {
            if bases.last != bin & ~3 || bin == last { bases.append(bin & ~3) }
            quadOf.append(bases.count - 1)
            last = bin
        }
        return (bases, quadOf)
    }

    init(_ entries: [CompiledSample]) {
        var binEntry: [Int32] = [], binGlobal: [Int32] = [], nominal: [Double] = []
        var binTermStart: [Int32] = [0], binTermParameter: [Int32] = []
        var scalars: [(entry: Int, term: ScalarTerm)] = []
        var histos: [(entry: Int, bin: Int, up: Double, down: Double)] = []
        var scalarKeys: [(parameter: Int, kind: UInt8)] = [], histoKeys: [(parameter: Int, kind: UInt8)] = []
        var entryTermStart: [Int32] = [0]
        var maxScalars = 0
        for (e, entry) in entries.enumerated() {
            // Terms that change nothing are left out: a normsys with δ₊ = δ₋ = 1 (f = 1 in every
            // branch, f' = 0) and histosys pairs with Δ₊ = Δ₋ = 0 (Δ = 0). Published workspaces keep
            // many of them (996 of the 1098 histosys of workspace 07); the results are the same doubles.
            let first = scalars.count
            for term in entry.scalars where !(term.interpolation.map { $0.up == 1 && $0.down == 1 } ?? false) {
                scalars.append((e, term))
                scalarKeys.append((term.parameter, term.interpolation.map { $0.code == .code4 ? 1 : 2 } ?? 0))
            }
            entryTermStart.append(Int32(scalars.count))
            maxScalars = max(maxScalars, scalars.count - first)
            for h in entry.histos {
                let kind: UInt8 = h.code == .code0 ? 0 : h.code == .code2 ? 2 : 4
                for j in 0..<entry.binCount where h.up[j] != 0 || h.down[j] != 0 {
                    histos.append((e, j, h.up[j], h.down[j]))
                    histoKeys.append((h.parameter, kind))
                }
            }
        }
        let histoGroups = Self.grouped(histoKeys)
        let entryStart = Self.entryStarts(entries, histosysPairs: histoGroups.map { $0.map { (histos[$0].entry, histos[$0].bin) } })
        // Per entry bin, in layout order.
        for e in entries.indices.sorted(by: { entryStart[$0] < entryStart[$1] }) {
            let entry = entries[e]
            for j in 0..<entry.binCount {
                binEntry.append(Int32(e))
                binGlobal.append(Int32(entry.binStart + j))
                nominal.append(entry.nominal[j])
                for g in entry.binTerms { binTermParameter.append(Int32(g.parameters[j])) }
                binTermStart.append(Int32(binTermParameter.count))
            }
        }
        entryLocalStart = entryStart

        // Scalar runs, each padded to a multiple of four terms (the AVX loops' width; every run then
        // starts a block of `poly`) with neutral terms: f = 1, f' = 0, attached to the extra entry
        // `entries.count`, which no bin reads.
        //
        // Consecutive code4 runs of fewer than four terms (one normsys of a parameter on one to three
        // samples: all 39 code4 runs of reference workspace 05, 27 of 101 of 07) go into one packed
        // run (kind 3) without padding between them, each term with its own parameter; `packedGroups`
        // keeps the runs it holds, for the backward pass.
        var sRuns: [TermRun] = [], packed: [TermRun] = []
        var slotOf = [Int](repeating: 0, count: scalars.count)
        var slotEntry: [Int32] = [], slotKind: [UInt8] = [], slotParameter: [Int32] = []
        var planes: [[Double]] = Array(repeating: [], count: 6)
        var slotLogUp: [Double] = [], slotLogDown: [Double] = []
        /// Appends scalar term i (or a padding term, i = −1) as the next slot.
        func appendSlot(_ i: Int, kind: UInt8, parameter: Int) {
            let f = i >= 0 ? scalars[i].term.interpolation : nil
            if i >= 0 { slotOf[i] = slotEntry.count }
            slotEntry.append(Int32(i >= 0 ? scalars[i].entry : entries.count))
            slotKind.append(kind)
            slotParameter.append(Int32(parameter))
            let a = f?.a ?? (0, 0, 0, 0, 0, 0)
            for (k, ak) in [a.0, a.1, a.2, a.3, a.4, a.5].enumerated() { planes[k].append(ak) }
            slotLogUp.append(f?.logUp ?? 0)
            slotLogDown.append(f?.logDown ?? 0)
        }
        let scalarGroups = Self.grouped(scalarKeys)
        let compact = Self.compactLayout
        let isSmall = { (group: [Int]) in compact && scalarKeys[group[0]].kind == 1 && group.count < 4 }
        var g = 0
        while g < scalarGroups.count {
            let key = scalarKeys[scalarGroups[g][0]]
            let start = slotEntry.count
            var kind = key.kind, parameter = key.parameter
            if isSmall(scalarGroups[g]) {
                (kind, parameter) = (3, packed.count)
                var last = key.parameter
                while g < scalarGroups.count && isSmall(scalarGroups[g]) {
                    last = scalarKeys[scalarGroups[g][0]].parameter
                    packed.append(TermRun(parameter: Int32(last), kind: 1, isFinite: 1, start: Int32(slotEntry.count),
                                          end: Int32(slotEntry.count + scalarGroups[g].count)))
                    for i in scalarGroups[g] { appendSlot(i, kind: 1, parameter: last) }
                    g += 1
                }
                // Padding terms take the last run's parameter (f = 1 in every branch).
                while slotEntry.count % 4 != 0 { appendSlot(-1, kind: 1, parameter: last) }
            } else {
                let group = scalarGroups[g]
                for i in group + [Int](repeating: -1, count: (4 - group.count % 4) % 4) { appendSlot(i, kind: key.kind, parameter: key.parameter) }
                g += 1
            }
            let finite = (start..<slotEntry.count).allSatisfy { t in planes.allSatisfy { $0[t].isFinite } }
            precondition(slotEntry.count < Int(Int32.max), "more than 2³¹ scalar terms")
            sRuns.append(TermRun(parameter: Int32(parameter), kind: kind, isFinite: finite ? 1 : 0,
                                 start: Int32(start), end: Int32(slotEntry.count)))
        }
        // Histosys: a group's pairs sorted by entry bin (stable, so that a bin's pairs keep their
        // order), in the quads of `quads`.
        var hRuns: [HistoRun] = []
        var quadBin: [Int32] = [], quadUp: [Double] = [], quadDown: [Double] = []
        for group in histoGroups {
            let quadStart = quadBin.count
            let local = { (i: Int) in entryStart[histos[i].entry] + histos[i].bin }
            let pairs = group.sorted { (local($0), $0) < (local($1), $1) }
            let (bases, quadOf) = Self.quads(pairs.map(local))
            quadBin += bases.map { Int32($0) }
            quadUp += [Double](repeating: 0, count: 4 * bases.count)
            quadDown += [Double](repeating: 0, count: 4 * bases.count)
            for (k, i) in pairs.enumerated() {
                let slot = 4 * (quadStart + quadOf[k]) + local(i) & 3
                quadUp[slot] = histos[i].up
                quadDown[slot] = histos[i].down
            }
            let finite = group.allSatisfy { histos[$0].up.isFinite && histos[$0].down.isFinite }
            precondition(quadUp.count < Int(Int32.max), "more than 2³¹ histosys quads")
            hRuns.append(HistoRun(parameter: Int32(histoKeys[group[0]].parameter), kind: histoKeys[group[0]].kind, isFinite: finite ? 1 : 0,
                                  quadStart: Int32(quadStart), quadEnd: Int32(quadBin.count)))
        }

        entryCount = entries.count
        localBinCount = nominal.count
        hasMorph = entries.contains { $0.dependent != nil }
        scalarCount = slotEntry.count
        histoCount = histos.count
        hasPadding = 4 * quadBin.count > histos.count
        paddedBinCount = (nominal.count + 3) & ~3
        maxScalarsPerEntry = maxScalars
        self.binEntry = Self.buffer(binEntry)
        self.binGlobal = Self.buffer(binGlobal)
        self.nominal = Self.buffer(nominal)
        self.binTermStart = Self.buffer(binTermStart)
        self.binTermParameter = Self.buffer(binTermParameter)
        let bound = Int(binTermParameter.max() ?? -1) + 1
        factorParameterBound = bound
        let counts = (0..<nominal.count).map { Int(binTermStart[$0 + 1] - binTermStart[$0]) }
        binFirstFactor = Self.buffer((0..<nominal.count).map { counts[$0] > 0 ? binTermParameter[Int(binTermStart[$0])] : Int32(bound) })
        let multi = counts.indices.filter { counts[$0] > 1 }.map { Int32($0) }
        multiFactorBins = Self.buffer(multi)
        multiFactorBinCount = multi.count
        let singles = Self.grouped(counts.indices.filter { counts[$0] == 1 }.map { (Int(binTermParameter[Int(binTermStart[$0])]), UInt8(0)) })
        let singleBins = counts.indices.filter { counts[$0] == 1 }
        singleFactorParameter = Self.buffer(singles.map { binTermParameter[Int(binTermStart[singleBins[$0[0]]])] })
        singleFactorStart = Self.buffer(Self.offsets(singles))
        singleFactorBins = Self.buffer(singles.flatMap { $0.map { Int32(singleBins[$0]) } })
        singleFactorGroupCount = singles.count
        let span = Int(binGlobal.max() ?? -1) + 1
        var locals = [[Int32]](repeating: [], count: span)
        for l in binGlobal.indices { locals[Int(binGlobal[l])].append(Int32(l)) }
        mainBinStart = Self.buffer(Self.offsets(locals))
        mainBinLocals = Self.buffer(locals.flatMap { $0 })
        mainBinSpan = span
        scalarRuns = Self.buffer(sRuns)
        scalarRunCount = sRuns.count
        packedGroups = Self.buffer(packed)
        packedGroupCount = packed.count
        scalarEntry = Self.buffer(slotEntry)
        poly = Self.alignedBuffer((0..<6 * slotEntry.count).map { i in planes[i % 24 / 4][4 * (i / 24) + i % 4] })
        firstCoefficient = Self.buffer(planes[0])
        logUp = Self.buffer(slotLogUp)
        logDown = Self.buffer(slotLogDown)
        self.entryTermStart = Self.buffer(entryTermStart)
        entryTerms = Self.buffer(slotOf.map { Int32($0) })
        termKind = Self.buffer(slotKind)
        termParameter = Self.buffer(slotParameter)
        histoRuns = Self.buffer(hRuns)
        histoRunCount = hRuns.count
        self.quadBin = Self.buffer(quadBin)
        quadCount = quadBin.count
        histoUp = Self.alignedBuffer(quadUp)
        histoDown = Self.alignedBuffer(quadDown)
    }

    deinit {
        binEntry.deallocate(); binGlobal.deallocate(); nominal.deallocate()
        binTermStart.deallocate(); binTermParameter.deallocate()
        binFirstFactor.deallocate(); multiFactorBins.deallocate()
        singleFactorParameter.deallocate(); singleFactorStart.deallocate(); singleFactorBins.deallocate()
        mainBinStart.deallocate(); mainBinLocals.deallocate()
        scalarRuns.deallocate(); packedGroups.deallocate(); scalarEntry.deallocate(); UnsafeMutableRawPointer(poly).deallocate(); firstCoefficient.deallocate(); logUp.deallocate(); logDown.deallocate()
        entryTermStart.deallocate(); entryTerms.deallocate(); termKind.deallocate(); termParameter.deallocate()
        histoRuns.deallocate(); quadBin.deallocate(); UnsafeMutableRawPointer(histoUp).deallocate(); UnsafeMutableRawPointer(histoDown).deallocate()
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
            let a = { (k: Int) in self.poly[24 * (t / 4) + 4 * k + t % 4] }
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
    /// - packed code4 runs: each term as code4 with its own α (see `packedTerm`).
    func forward(_ pars: UnsafePointer<Double>, _ s: KernelScratch, mainBins: Int, wantGradient: Bool, vectorised: Bool) {
        // Sound: every index below was built in init within its buffer's size; `pars` has every
        // parameter index the model uses, and `s` was carved from `KernelScratch.count` doubles.
        let P = s.product, r = s.logDerivative
        P.update(repeating: 1, count: entryCount + 1)
        if vectorised {
            efthf_scalar_forward_avx(scalarTerms, pars, P, r, wantGradient ? 1 : 0)
        } else {
            forwardScalars(pars, P, r, wantGradient: wantGradient)
        }

        // B_l = ν⁰_l + Σ_h (u Δ₊ + l Δ₋); with morphing B_l = ν̃⁰_l + r_l Σ_h Δ_hl (the caller has
        // filled morphNominal and morphRatio).
        let B = s.base
        if hasMorph {
            let D = s.morphDelta
            D.update(repeating: 0, count: paddedBinCount)
            addHistosysDeltas(pars, D, s.histoWeight, vectorised: vectorised)
            for l in 0..<localBinCount { B[l] = s.morphNominal[l] + s.morphRatio[l] * D[l] }
        } else {
            B.update(from: nominal, count: localBinCount)
            (B + localBinCount).update(repeating: 0, count: paddedBinCount - localBinCount)
            addHistosysDeltas(pars, B, s.histoWeight, vectorised: vectorised)
        }

        // G_l = γ₁ γ₂ … (1 without per-bin factors), then ν_b.
        let G = s.binFactor, nu = s.nu, source = s.factorSource
        source.update(from: pars, count: factorParameterBound)
        source[factorParameterBound] = 1
        for l in 0..<localBinCount { G[l] = source[Int(binFirstFactor[l])] }
        for i in 0..<multiFactorBinCount {
            let l = Int(multiFactorBins[i])
            for t in Int(binTermStart[l]) + 1..<Int(binTermStart[l + 1]) { G[l] *= pars[Int(binTermParameter[t])] }
        }
        // Per main bin in a register, its entry bins in order (the same sum as ν_b += … bin by bin).
        nu.update(repeating: 0, count: mainBins)
        let starts = mainBinStart, locals = mainBinLocals, entryOf = binEntry
        for b in 0..<mainBinSpan {
            var sum = 0.0
            for j in Int(starts[b])..<Int(starts[b + 1]) {
                let l = Int(locals[j])
                sum += P[Int(entryOf[l])] * G[l] * B[l]
            }
            nu[b] = sum
        }
    }

    /// The scalar runs of the forward pass (see `forward`), in Swift: the portable loop, and the
    /// reference for `efthf_scalar_forward_avx`, which gives the same doubles.
    private func forwardScalars(_ pars: UnsafePointer<Double>, _ P: UnsafeMutablePointer<Double>, _ r: UnsafeMutablePointer<Double>,
                                wantGradient: Bool) {
        // Sound: as in `forward`; `poly` is 32-byte aligned and every run starts a block, so that the
        // pairs of a block are 16-byte aligned.
        for i in 0..<scalarRunCount {
            let run = scalarRuns[i]
            let x = pars[run.parameterIndex]
            let lo = run.lo, hi = run.hi
            if run.kind == 0 {
                // f = α; the backward pass uses f'/f = 1/α directly. P·1 = P exactly.
                if x != 1 { for t in lo..<hi { P[Int(scalarEntry[t])] *= x } }
            } else if run.kind == 3 {
                for t in lo..<hi { packedTerm(t, pars[Int(termParameter[t])], P, r, wantGradient: wantGradient) }
            } else if Self.isNeutral(run, x) {
                continue
            } else if run.kind == 1 && x > -1 && x < 1 {
                // Two terms at a time, with the powers of α (and their multiples) computed once per run
                // and one chain of fused multiply-adds each: f = 1 + Σₖ aₖ xᵏ, f' = Σₖ k aₖ xᵏ⁻¹.
                let x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x, x6 = x3 * x3
                let X1 = SIMD2(repeating: x), X2 = SIMD2(repeating: x2), X3 = SIMD2(repeating: x3)
                let X4 = SIMD2(repeating: x4), X5 = SIMD2(repeating: x5), X6 = SIMD2(repeating: x6), one = SIMD2<Double>(repeating: 1)
                let Q2 = SIMD2(repeating: 2 * x), Q3 = SIMD2(repeating: 3 * x2), Q4 = SIMD2(repeating: 4 * x3)
                let Q5 = SIMD2(repeating: 5 * x4), Q6 = SIMD2(repeating: 6 * x5)
                var t = lo
                while t < hi {
                    let a = UnsafePointer(poly + 24 * (t / 4) + t % 4)
                    let c1 = loadAligned2(a), c2 = loadAligned2(a + 4), c3 = loadAligned2(a + 8)
                    let c4 = loadAligned2(a + 12), c5 = loadAligned2(a + 16), c6 = loadAligned2(a + 20)
                    let f = one.addingProduct(c1, X1).addingProduct(c2, X2).addingProduct(c3, X3).addingProduct(c4, X4)
                        .addingProduct(c5, X5).addingProduct(c6, X6)
                    if wantGradient {
                        let d = c1.addingProduct(c2, Q2).addingProduct(c3, Q3).addingProduct(c4, Q4).addingProduct(c5, Q5).addingProduct(c6, Q6)
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
    }

    /// Term t of a packed run at its own x (`packed_term` in _CKernels): the polynomial for |x| < 1 (at
    /// x = 0 exactly f = 1 and f'/f = a₁ for finite coefficients, what an unpacked run skips to), else
    /// the exponential; the roundings of the unpacked run's loop, lane by lane.
    @inline(__always)
    private func packedTerm(_ t: Int, _ x: Double, _ P: UnsafeMutablePointer<Double>, _ r: UnsafeMutablePointer<Double>, wantGradient: Bool) {
        // Sound: as in `forwardScalars`.
        let e = Int(scalarEntry[t])
        if x > -1 && x < 1 {
            let a = UnsafePointer(poly + 24 * (t / 4) + t % 4)
            let x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x, x6 = x3 * x3
            let f = (1.0).addingProduct(a[0], x).addingProduct(a[4], x2).addingProduct(a[8], x3).addingProduct(a[12], x4)
                .addingProduct(a[16], x5).addingProduct(a[20], x6)
            if wantGradient {
                r[t] = a[0].addingProduct(a[4], 2 * x).addingProduct(a[8], 3 * x2).addingProduct(a[12], 4 * x3).addingProduct(a[16], 5 * x4)
                    .addingProduct(a[20], 6 * x5) / f
            }
            P[e] *= f
        } else {
            let up = x > 0
            P[e] *= Foundation.exp((up ? x : -x) * (up ? logUp[t] : logDown[t]))
            if wantGradient { r[t] = up ? logUp[t] : -logDown[t] }
        }
    }

    /// `target[l] += u Δ₊ + l Δ₋` for every histosys pair, run by run, a quad at a time (two SIMD2).
    /// Each bin gets its terms in run order, as the per-pair loop would add them.
    /// The weights (u, l, u', l') of run i go to `weights[4i ..< 4i + 4]`, for the backward pass.
    /// `vectorised` (only when `avxAvailable`) runs the pairs through the AVX loop, the same doubles.
    @inline(__always)
    private func addHistosysDeltas(_ pars: UnsafePointer<Double>, _ target: UnsafeMutablePointer<Double>,
                                   _ weights: UnsafeMutablePointer<Double>, vectorised: Bool) {
        // Sound: as in `forward`. The buffers in locals, so that stores to `target` cannot be taken
        // to change them.
        let runs = histoRuns
        // (u + l)·0 is 0 exactly when u + l is finite; checked with a flag, not with a sum of such
        // products (a chain of dependent additions as long as the runs).
        var allFinite = true
        for i in 0..<histoRunCount {
            let w = Self.histoWeights(runs[i].kind, pars[Int(runs[i].parameter)])
            (weights[4 * i], weights[4 * i + 1], weights[4 * i + 2], weights[4 * i + 3]) = (w.u, w.l, w.du, w.dl)
            allFinite = allFinite && (w.u + w.l).isFinite
        }
        if hasPadding && !allFinite {
            exactHistosysForward(weights, target)
            return
        }
        if vectorised {
            efthf_histo_forward_avx(histoTerms, weights, target)
            return
        }
        let up = histoUp, down = histoDown, quads = quadBin
        for i in 0..<histoRunCount {
            let run = runs[i]
            let wu = weights[4 * i], wl = weights[4 * i + 1]
            // u = l = 0 (α = 0 for every code): Δ = 0 and B + 0 = B.
            if wu == 0 && wl == 0 && run.isFinite != 0 { continue }
            let u = SIMD2(repeating: wu), d = SIMD2(repeating: wl)
            for q in Int(run.quadStart)..<Int(run.quadEnd) {
                let b = target + Int(quads[q]), k = 4 * q
                store2(load2(b) + (u * load2(up + k) + d * load2(down + k)), b)
                store2(load2(b + 2) + (u * load2(up + k + 2) + d * load2(down + k + 2)), b + 2)
            }
        }
    }

    /// `target[l] += u Δ₊ + l Δ₋` pair by pair, leaving out the zero pairs of bridged gaps: the
    /// forward pass when some weight is not finite (u·0 would be NaN where no term is).
    private func exactHistosysForward(_ weights: UnsafePointer<Double>, _ target: UnsafeMutablePointer<Double>) {
        // Sound: as in `addHistosysDeltas`; pair k of quad k/4 sits at entry bin quadBin[k/4] + k % 4.
        for i in 0..<histoRunCount {
            let run = histoRuns[i]
            let u = weights[4 * i], l = weights[4 * i + 1]
            for k in 4 * Int(run.quadStart)..<4 * Int(run.quadEnd) where histoUp[k] != 0 || histoDown[k] != 0 {
                target[Int(quadBin[k / 4]) + k % 4] += u * histoUp[k] + l * histoDown[k]
            }
        }
    }

    /// `grad[α] += u' Σ_l c_l Δ₊ + l' Σ_l c_l Δ₋` pair by pair, leaving out the zero pairs of bridged
    /// gaps: the backward pass when some scale c is not finite (c·0 would be NaN where no term is).
    private func exactHistosysBackward(_ weights: UnsafePointer<Double>, _ scale: UnsafePointer<Double>, _ grad: UnsafeMutablePointer<Double>) {
        // Sound: as in `exactHistosysForward`.
        for i in 0..<histoRunCount {
            let run = histoRuns[i]
            var sumUp = 0.0, sumDown = 0.0
            for k in 4 * Int(run.quadStart)..<4 * Int(run.quadEnd) where histoUp[k] != 0 || histoDown[k] != 0 {
                let c = scale[Int(quadBin[k / 4]) + k % 4]
                sumUp += c * histoUp[k]
                sumDown += c * histoDown[k]
            }
            grad[Int(run.parameter)] += weights[4 * i + 2] * sumUp + weights[4 * i + 3] * sumDown
        }
    }

    /// Whether a scalar run is exactly neutral at `x`: code4 at α = 0 with finite coefficients
    /// (f = 1, so the forward pass skips it and the backward pass reads f'/f = a₁ from `firstCoefficient`).
    @inline(__always)
    static func isNeutral(_ run: TermRun, _ x: Double) -> Bool { run.kind == 1 && x == 0 && run.isFinite != 0 }

    // MARK: Backward pass

    /// Adds ∂ log L/∂θ to `grad`, given the forward pass's scratch and w_b = ∂ log L/∂ν_b in `s.weight`:
    ///
    /// - per-bin factor γ_gl: w P_e B_l Π_{g'≠g} γ_g'l;
    /// - histosys α_h: Σ_l w P_e G_l ∂Δ_hl/∂α = u' Σ_l (w P G)_l Δ₊ + l' Σ_l (w P G)_l Δ₋;
    /// - scalar factor f_t of entry e: f_t' Π_{j≠t} f_j Σ_l w G B = (P_e Σ_l w G B) · f_t'/f_t.
    ///
    /// The last form needs f_t ≠ 0: entries whose product P_e is zero, tiny or not finite take the
    /// exact route instead, Π_{j≠t} f_j from prefix and suffix products.
    ///
    /// `vectorised` (only when `avxAvailable`) runs the scalar terms' sums through the AVX loop.
    func backward(_ pars: UnsafePointer<Double>, _ s: KernelScratch, _ grad: UnsafeMutablePointer<Double>, vectorised: Bool) {
        // Sound: as in `forward`; `grad` has one element per parameter.
        let P = s.product, S = s.weightedSum, K = s.entryScale, G = s.binFactor, B = s.base
        let scale = s.binScale, w = s.weight, r = s.logDerivative, binGrad = s.binGradient
        S.update(repeating: 0, count: entryCount)
        // S_e, (w P G)_l (times r_l when morphing: ∂B_l/∂α = r_l ∂Δ_l/∂α) and (w P B)_l.
        if hasMorph {
            let ratio = s.morphRatio
            for l in 0..<localBinCount {
                let e = Int(binEntry[l])
                let wb = w[Int(binGlobal[l])]
                let g = G[l], b = B[l], wp = wb * P[e]
                S[e] += wb * g * b
                scale[l] = wp * g * ratio[l]
                binGrad[l] = wp * b
            }
        } else {
            for l in 0..<localBinCount {
                let e = Int(binEntry[l])
                let wb = w[Int(binGlobal[l])]
                let g = G[l], b = B[l], wp = wb * P[e]
                S[e] += wb * g * b
                scale[l] = wp * g
                binGrad[l] = wp * b
            }
        }
        (scale + localBinCount).update(repeating: 0, count: paddedBinCount - localBinCount)
        // c_l·0 is 0 exactly when c_l is finite (the zero pairs of the quads need it); a flag, not a
        // chain of dependent additions as long as the bins.
        var allFinite = true
        if hasPadding { for l in 0..<localBinCount { allFinite = allFinite && scale[l].isFinite } }
        // The buffers in locals, so that stores to `grad` cannot be taken to change them.
        let groupStart = singleFactorStart, groupBins = singleFactorBins, groupParameter = singleFactorParameter
        for i in 0..<singleFactorGroupCount {
            let p = Int(groupParameter[i])
            var g = grad[p]
            for j in Int(groupStart[i])..<Int(groupStart[i + 1]) { g += binGrad[Int(groupBins[j])] }
            grad[p] = g
        }
        let multi = multiFactorBins, factorStart = binTermStart, factorParameter = binTermParameter
        for i in 0..<multiFactorBinCount {
            let l = Int(multi[i])
            let t0 = Int(factorStart[l]), t1 = Int(factorStart[l + 1])
            for t in t0..<t1 {
                // The other per-bin factors, multiplied out (γ may be 0 for shapefactor).
                var others = 1.0
                for u in t0..<t1 where u != t { others *= pars[Int(factorParameter[u])] }
                grad[Int(factorParameter[t])] += binGrad[l] * others
            }
        }

        if !allFinite {
            exactHistosysBackward(s.histoWeight, scale, grad)
        } else if vectorised {
            efthf_histo_backward_avx(histoTerms, s.histoWeight, scale, grad)
        } else {
            backwardHistosys(s.histoWeight, scale, grad)
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
        if vectorised {
            efthf_scalar_backward_avx(scalarTerms, pars, K, r, grad)
        } else {
            backwardScalars(pars, K, r, grad)
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

    /// The histosys gradient sums (see `backward`), in Swift: the portable loop, and the reference for
    /// `efthf_histo_backward_avx`, which gives the same doubles. Four lanes (as two SIMD2), a quad at a
    /// time; each sum is (s₀ + s₂) + (s₁ + s₃).
    private func backwardHistosys(_ weights: UnsafePointer<Double>, _ scale: UnsafePointer<Double>, _ grad: UnsafeMutablePointer<Double>) {
        // Sound: as in `backward`; `scale` has `paddedBinCount` doubles.
        let up = histoUp, down = histoDown, quads = quadBin
        for i in 0..<histoRunCount {
            let run = histoRuns[i]
            // Two sums each, of the run's even and odd quads (two dependency chains).
            var upEven = Quad(), downEven = Quad(), upOdd = Quad(), downOdd = Quad()
            var q = Int(run.quadStart)
            while q + 2 <= Int(run.quadEnd) {
                let c = Quad(scale + Int(quads[q])), d = Quad(scale + Int(quads[q + 1]))
                upEven.add(c, times: Quad(up + 4 * q))
                downEven.add(c, times: Quad(down + 4 * q))
                upOdd.add(d, times: Quad(up + 4 * q + 4))
                downOdd.add(d, times: Quad(down + 4 * q + 4))
                q += 2
            }
            if q < Int(run.quadEnd) {
                let c = Quad(scale + Int(quads[q]))
                upEven.add(c, times: Quad(up + 4 * q))
                downEven.add(c, times: Quad(down + 4 * q))
            }
            grad[Int(run.parameter)] += weights[4 * i + 2] * (upEven + upOdd).laneSum + weights[4 * i + 3] * (downEven + downOdd).laneSum
        }
    }

    /// The scalar runs' gradient sums (see `backward`), in Swift: the portable loop, and the reference
    /// for `efthf_scalar_backward_avx`, which gives the same doubles.
    private func backwardScalars(_ pars: UnsafePointer<Double>, _ K: UnsafeMutablePointer<Double>, _ r: UnsafeMutablePointer<Double>,
                                 _ grad: UnsafeMutablePointer<Double>) {
        // Sound: as in `backward`.
        for i in 0..<scalarRunCount {
            let run = scalarRuns[i]
            if run.kind == 0 {
                // f'/f = 1/α for every term; α = 0 makes every entry of the run take the exact route.
                var sum = SIMD2<Double>()
                var t = run.lo
                while t < run.hi {
                    sum += SIMD2(K[Int(scalarEntry[t])], K[Int(scalarEntry[t + 1])])
                    t += 2
                }
                let x = pars[run.parameterIndex]
                if x != 0 { grad[run.parameterIndex] += sum.sum() / x }
                continue
            }
            if run.kind == 3 {
                // Each code4 run inside, summed as one block of an unpacked run: lanes (0 + v) + 0,
                // padding lanes +0, then (s₀ + s₂) + (s₁ + s₃) (`packed_group_sum` in _CKernels).
                var g = run.parameterIndex
                while g < packedGroupCount && packedGroups[g].lo < run.hi {
                    let group = packedGroups[g]
                    let v = { (j: Int) in j < group.hi - group.lo ? (0 + K[Int(self.scalarEntry[group.lo + j])] * r[group.lo + j]) + 0 : 0 }
                    grad[group.parameterIndex] += (v(0) + v(2)) + (v(1) + v(3))
                    g += 1
                }
                continue
            }
            // f'/f from the forward pass, or a₁ (the first polynomial plane) where it skipped the run.
            let ratio = Self.isNeutral(run, pars[run.parameterIndex]) ? UnsafePointer(firstCoefficient) : UnsafePointer(r)
            // Lanes t mod 4 (runs have a multiple of four terms) in two sums, of the even and the odd
            // blocks of four (two dependency chains): lanes 0, 1 and 2, 3 of each as two SIMD2.
            var even = Quad(), odd = Quad()
            var t = run.lo
            while t + 8 <= run.hi {
                even.add(Quad(K, scalarEntry, t), times: Quad(ratio + t))
                odd.add(Quad(K, scalarEntry, t + 4), times: Quad(ratio + t + 4))
                t &+= 8
            }
            if t < run.hi { even.add(Quad(K, scalarEntry, t), times: Quad(ratio + t)) }
            grad[run.parameterIndex] += (even + odd).laneSum
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

/// Four lanes as two SIMD2 (lanes 0, 1 and 2, 3): the AVX loops' 256-bit vector, in portable Swift.
private struct Quad {
    var low = SIMD2<Double>(), high = SIMD2<Double>()

    init() {}

    /// The four doubles at `p` (any alignment; sound when p ..< p + 4 are readable).
    @inline(__always)
    init(_ p: UnsafePointer<Double>) {
        (low, high) = (load2(p), load2(p + 2))
    }

    /// `K[entry[t + j]]` for j = 0…3 (sound when t ..< t + 4 are entries of `entry`, each an index of K).
    @inline(__always)
    init(_ K: UnsafePointer<Double>, _ entry: UnsafePointer<Int32>, _ t: Int) {
        (low, high) = (SIMD2(K[Int(entry[t])], K[Int(entry[t + 1])]), SIMD2(K[Int(entry[t + 2])], K[Int(entry[t + 3])]))
    }

    @inline(__always)
    init(_ low: SIMD2<Double>, _ high: SIMD2<Double>) {
        (self.low, self.high) = (low, high)
    }

    /// self += a·b, lane by lane (rounded product, then rounded sum).
    @inline(__always)
    mutating func add(_ a: Quad, times b: Quad) {
        low += a.low * b.low
        high += a.high * b.high
    }

    @inline(__always)
    static func + (a: Quad, b: Quad) -> Quad { Quad(a.low + b.low, a.high + b.high) }

    /// (s₀ + s₂) + (s₁ + s₃), as `lane_sum` in _CKernels.
    var laneSum: Double { (low + high).sum() }
}

/// Two consecutive doubles at `p` (any alignment).
/// Sound when p and p + 1 are readable, which every caller ensures (even-length runs, paired loops).
@inline(__always)
private func load2(_ p: UnsafePointer<Double>) -> SIMD2<Double> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD2<Double>.self)
}

/// Two consecutive doubles at the 16-byte aligned `p`.
/// Sound for the pairs of `poly`'s blocks: 32-byte aligned buffer, blocks of 24 doubles, even lanes.
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
