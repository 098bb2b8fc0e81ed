import Dispatch
import Foundation
import Morphing
import _CKernels

/// A per-event systematic of an event database used as a nuisance parameter `θ` of a template
/// (Specs/event-database.md, "Systematics as nuisance parameters").
public struct EventSystematic: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `/systematics/weights/<name>/{up,down}`: per-event weight factors.
        case weight
        /// `/systematics/shifts/<name>/<binned observable>/{up,down}`: per-event displacements.
        case shift
    }

    /// The systematic's name in the database.
    public let name: String
    public let kind: Kind

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// Reweights, varies and bins events at every evaluation, with a differentiable bin assignment,
/// and returns the template, its MC-statistical variance and their exact Jacobians in the Wilson
/// coefficients `c` and the nuisance parameters `θ` (Specs/event-database.md).
///
/// Per selected event `e`, with `n` the normalisation and `K` systematics:
///
/// ```
/// w_e(c)     = Σ_t a_et m_t(c)
/// f_e(θ)     = 1 + Σ_{k weight} I(θ_k; u_ek − 1, 1 − d_ek)             (u, d: factors at θ = ±1)
/// x_e(θ)     = x_e + Σ_{k shift} I(θ_k; Δ⁺_ek, −Δ⁻_ek)                  (Δ±: displacements at θ = ±1)
/// I(θ; δ₊, δ₋) = θδ₊ (θ > 1),  θδ₋ (θ < −1),  θ(δ₊ + δ₋)/2 + θ²(δ₊ − δ₋)/16 · (15 − 10θ² + 3θ⁴) otherwise
/// p_eb(θ)    = G_{b+1} − G_b,   G_k = F((e_k − x_e(θ))/h),   F(z) = 1/(1 + e^{−z})
/// ν_b        = n Σ_e w_e f_e p_eb,          Σw²_b = n² Σ_e (w_e f_e p_eb)²
/// ```
///
/// `I` is HistFactory's code4p (pyhf) applied per event: C¹ in θ, linear beyond |θ| = 1, equal to
/// the piecewise-linear `θΔ⁺`/`−θΔ⁻` for |θ| ≥ 1 and, for symmetric variations (δ₊ = δ₋), everywhere.
/// `F` is the logistic CDF and `h` the smoothing width (observable units): each event is spread over
/// the bins by a logistic kernel, so ν is smooth in θ and tends to the histogram as h → 0. With
/// `h = 0` the assignment is the sharp `[e_b, e_{b+1})` (then shifts have no θ-gradient; the model
/// requires h > 0 when it declares a shift). Flow: with ``Binning/Flow/foldIntoEdgeBins``,
/// `G_0 = 0` and `G_B = 1` for every event, however far outside the edges, so `Σ_b p_eb = 1`; with
/// ``Binning/Flow/drop`` the tails beyond the outer edges are lost. Truncation: `G_k` is set to
/// exactly 0 for `e_k < x − 40h` and 1 for `e_k > x + 40h` (the logistic differs from these by less
/// than `e^{−40} ≈ 4.2·10⁻¹⁸`), so only edges within `40h` of an event are evaluated, and an event
/// with none is binned as by the sharp kernel, with no `exp` (``_SmoothingTables/cutoff``). The
/// evaluated edges of an event take one `exp`, at the first of them, and precomputed factors
/// `e^{(e_a − e_{a+j})/h}` for the next seven (each `G_k` within `64u` of the logistic,
/// Specs/event-database.md); the bin assignment is C (`efthf_smoothed_block`, AVX2 where available).
///
/// Derivatives, per event and touched bin (`W = w f`, `g(z) = F(z)(1 − F(z))`):
///
/// ```
/// ∂ν_b/∂c_i  = n Σ_e f_e p_eb Σ_t a_et ∂m_t/∂c_i
/// ∂ν_b/∂θ_k  = n Σ_e w_e p_eb ∂I_ek/∂θ_k                   (weight)
///            = n Σ_e W_e (∂p_eb/∂x)(∂I_ek/∂θ_k),  ∂p_eb/∂x = −(g(z_{b+1}) − g(z_b))/h   (shift)
/// ∂Σw²_b/∂q  = 2 n² Σ_e W_e p_eb ∂(W_e p_eb)/∂q
/// ```
///
/// Work is split over a fixed number of chunks (`DispatchQueue.concurrentPerform`) whose partial
/// sums are added in chunk order, so results do not depend on scheduling. Inside a chunk the events
/// go in blocks: the per-event sums over terms and systematics run as vectorised sweeps over the
/// block, with the coefficients stored block by block (one contiguous stream per pass), then the
/// bin assignment and accumulation go event by event; every sum receives the same terms in the same
/// order as the formulae above evaluated event by event. A pass reads only the terms with
/// `m_t ≠ 0` or (with Jacobians) a non-zero `∂m_t/∂c_i` (any other adds exactly ±0), and the last
/// few results are kept by point `(c, θ)` (``_EvaluationMemo``): neither changes a bit of a result.
/// Jacobian rows can be requested for some of the parameters only (a fit's free ones): then only
/// the terms with `m_t ≠ 0` or a non-zero `∂m_t/∂c_i` of a wanted `c_i` are read, and only the
/// wanted derivatives accumulated (``evaluate(coefficients:nuisance:jacobianFor:)``).
public struct SmoothedReweightingKernel: Sendable {
    /// The template, its variance and, when requested, their Jacobians at one point.
    public struct Evaluation: Sendable {
        /// `ν_b`.
        public let yields: [Double]
        /// `Σw²_b`, the MC-statistical variance of `ν_b`.
        public let variances: [Double]
        /// `∂ν_b/∂q_j` at `[j·B + b]` for `q = (c_1…c_C, θ_1…θ_K)`; empty unless requested.
        public let yieldJacobian: [Double]
        /// `∂Σw²_b/∂q_j`, laid out as ``yieldJacobian``; empty unless requested.
        public let varianceJacobian: [Double]
    }

    public let coefficientNames: [String]
    public let monomials: [Monomial]
    public let binning: Binning
    public let selection: Selection
    /// The nuisance parameters' systematics, in the order of the `θ` vector.
    public let systematics: [EventSystematic]
    /// `h` in the binned observable's unit; 0 for sharp bins.
    public let smoothingWidth: Double
    /// `n`, multiplying every weight.
    public let normalisation: Double
    /// The number of events kept (passing the selection), `N'`.
    public let eventCount: Int

    /// The columns a pass reads, in file event order: the `T` coefficients, the binned
    /// observable, then per systematic `k` its up column (`K` of them) and its down column (`K`).
    /// In memory they are the file's (or the database's) own arrays, shared, not copied.
    internal let _source: _ColumnSource
    /// The file event of each kept event, in order; nil when every event is kept.
    internal let _kept: [Int]?
    /// How a systematic column becomes `(δ₊, δ₋)` of `I`: `u − 1`, `1 − d`, `Δ⁺` or `−Δ⁻`; the up
    /// columns' then the down columns'.
    internal let _transforms: [_ColumnTransform]
    internal let _locator: _BinLocator
    /// The binning's tables for the logistic (``_SmoothingTables``).
    internal let _tables: _SmoothingTables
    /// The latest evaluations, shared by the kernel's copies (``_EvaluationMemo``).
    internal let _memo = _EvaluationMemo()

    /// Memory read per event and evaluation: coefficients, observable and two columns per systematic.
    public var bytesPerEvent: Int { 8 * (monomials.count + 1 + 2 * systematics.count) }

    /// Uses the columns of `database` (shared, not copied) for the events that pass `selection`
    /// (evaluated on nominal observables).
    ///
    /// - Throws: ``EventDatabaseError`` naming the dataset for an unknown observable, systematic or
    ///   a shift that does not move the binned observable, a repeated systematic, a smoothing
    ///   width that is negative or not finite, or a normalisation that is not positive.
    /// - Complexity: O(N) for the selection; holds 8 bytes per selected event when there are cuts.
    public init(
        database: EventDatabase, binning: Binning, selection: Selection = .all, systematics: [EventSystematic],
        smoothingWidth: Double, normalisation: Double = 1
    ) throws(EventDatabaseError) {
        let x = database.observables[try database.observableIndex(binning.observable)].values
        let pass = try selection.mask(database)
        let (up, down, transforms) = try Self.columns(
            of: systematics, binning: binning, weights: database.weightVariations.map { ($0.name, $0.up, $0.down) },
            shifts: database.observableShifts.map { ($0.name, $0.observable, $0.up, $0.down) })
        try self.init(
            coefficientNames: database.coefficientNames, monomials: database.monomials, binning: binning, selection: selection,
            systematics: systematics, smoothingWidth: smoothingWidth, normalisation: normalisation,
            source: _ColumnSource(memory: database.basisCoefficients + [x] + up + down), transforms: transforms,
            kept: pass.allSatisfy { $0 } ? nil : pass.indices.filter { pass[$0] }, eventCount: database.eventCount)
    }

    /// Reads the columns it needs from `file`: in memory, shared with the file's other users, when
    /// they fit the file's budget, otherwise streamed at every evaluation
    /// (Specs/event-database.md, "Memory budget and streaming"). Throws as the other initialiser,
    /// and ``EventDatabaseError/Code/memory`` when the budget cannot hold one streamed piece.
    ///
    /// - Complexity: O(N) for the selection (one pass over the cut observables); holds 8 bytes per
    ///   selected event when there are cuts.
    public init(
        file: EventFile, binning: Binning, selection: Selection = .all, systematics: [EventSystematic],
        smoothingWidth: Double, normalisation: Double = 1
    ) throws(EventDatabaseError) {
        let layout = file._file.layout
        let x = try file.observableColumn(binning.observable)
        let up: [Int], down: [Int], transforms: [_ColumnTransform]
        do throws(EventDatabaseError) {
            (up, down, transforms) = try Self.columns(
                of: systematics, binning: binning, weights: layout.weightVariations.map { ($0.name, $0.up, $0.down) },
                shifts: layout.observableShifts.map { ($0.name, $0.observable, $0.up, $0.down) })
        } catch {
            throw EventDatabaseError(error.code, error.message, file: file.path, dataset: error.dataset)
        }
        var kept: [Int]? = nil
        if !selection.cuts.isEmpty {
            let cuts = selection.cuts
            var columns: [Int] = []
            for cut in cuts { columns.append(try file.observableColumn(cut.observable)) }
            let source = try _ColumnSource(file: file._file, columns: columns, budget: file.budget)
            var list: [Int] = []
            // Sound: `column[c]` holds the `count` events of the piece (``_ColumnSource``).
            try source.forEachPiece(of: 0 ..< layout.eventCount) { start, count, column throws(EventDatabaseError) in
                events: for i in 0 ..< count {
                    for c in cuts.indices {
                        let v = column[c][i]
                        if !(v >= cuts[c].lower && v < cuts[c].upper) { continue events }
                    }
                    list.append(start + i)
                }
            }
            kept = list
        }
        try self.init(
            coefficientNames: layout.coefficientNames, monomials: layout.monomials, binning: binning, selection: selection,
            systematics: systematics, smoothingWidth: smoothingWidth, normalisation: normalisation,
            source: _ColumnSource(file: file._file, columns: layout.coefficientColumns + [x] + up + down, budget: file.budget),
            transforms: transforms, kept: kept, eventCount: layout.eventCount)
    }

    private init(
        coefficientNames: [String], monomials: [Monomial], binning: Binning, selection: Selection, systematics: [EventSystematic],
        smoothingWidth: Double, normalisation: Double, source: _ColumnSource, transforms: [_ColumnTransform], kept: [Int]?, eventCount: Int
    ) throws(EventDatabaseError) {
        guard smoothingWidth.isFinite && smoothingWidth >= 0 else {
            throw EventDatabaseError(.invalidValue, "smoothing width \(smoothingWidth) of \(binning.observable) must be finite and ≥ 0")
        }
        guard normalisation.isFinite && normalisation > 0 else {
            throw EventDatabaseError(.invalidValue, "normalisation \(normalisation) must be finite and positive")
        }
        self.coefficientNames = coefficientNames
        self.monomials = monomials
        self.binning = binning
        self.selection = selection
        self.systematics = systematics
        self.smoothingWidth = smoothingWidth
        self.normalisation = normalisation
        self.eventCount = kept?.count ?? eventCount
        _source = source
        _kept = kept
        _transforms = transforms
        _locator = _BinLocator(binning)
        _tables = _SmoothingTables(edges: binning.edges, width: smoothingWidth, fold: binning.flow == .foldIntoEdgeBins)
    }

    /// Whether evaluations read (some of) the columns from the file.
    public var isStreamed: Bool { _source.isStreamed }

    /// The up columns of the systematics, then their down columns, with the transform that makes
    /// each `δ₊` or `δ₋` of code4p (weight ratios u − 1 and 1 − d, shifts Δ⁺ and −Δ⁻), whatever
    /// holds a column (`Column`: its values, or a column index of a file).
    private static func columns<Column>(
        of systematics: [EventSystematic], binning: Binning, weights: [(name: String, up: Column, down: Column)],
        shifts: [(name: String, observable: String, up: Column, down: Column)]
    ) throws(EventDatabaseError) -> (up: [Column], down: [Column], transforms: [_ColumnTransform]) {
        var up: [Column] = [], down: [Column] = [], transforms: [_ColumnTransform] = []
        for systematic in try checked(systematics) {
            switch systematic.kind {
            case .weight:
                guard let v = weights.first(where: { $0.name == systematic.name }) else { throw missingWeight(systematic, weights.map(\.name)) }
                up.append(v.up)
                down.append(v.down)
                transforms.append(.minusOne)
            case .shift:
                guard let s = shifts.first(where: { $0.name == systematic.name && $0.observable == binning.observable }) else {
                    throw missingShift(systematic, binning, shifts.map { ($0.name, $0.observable) })
                }
                up.append(s.up)
                down.append(s.down)
                transforms.append(.identity)
            }
        }
        return (up, down, transforms + transforms.map { $0 == .minusOne ? .oneMinus : .negate })
    }

    private static func checked(_ systematics: [EventSystematic]) throws(EventDatabaseError) -> [EventSystematic] {
        for (k, systematic) in systematics.enumerated() {
            if let j = systematics[..<k].firstIndex(of: systematic) {
                throw EventDatabaseError(.names, "systematic \(systematic.name) (\(systematic.kind.rawValue)) is declared twice (entries \(j) and \(k))")
            }
        }
        return systematics
    }

    private static func missingWeight(_ systematic: EventSystematic, _ names: [String]) -> EventDatabaseError {
        EventDatabaseError(.missing, "no weight variation \(systematic.name); the database has \(names)", dataset: "/systematics/weights/\(systematic.name)")
    }

    private static func missingShift(_ systematic: EventSystematic, _ binning: Binning, _ shifts: [(name: String, observable: String)]) -> EventDatabaseError {
        let others = shifts.filter { $0.name == systematic.name }.map(\.observable)
        let detail = others.isEmpty
            ? "the database has no shift \(systematic.name) (shifts: \(Array(Set(shifts.map(\.name))).sorted()))"
            : "shift \(systematic.name) moves only \(others), not the binned observable \(binning.observable)"
        return EventDatabaseError(.missing, detail, dataset: "/systematics/shifts/\(systematic.name)/\(binning.observable)")
    }

    /// The number of chunks of `N` events, each with its own partial sums, added in chunk order: it
    /// fixes the order of the additions, so results do not depend on the number of cores.
    static func chunkCount(_ N: Int) -> Int { max(1, min(32, N / 8192)) }

    /// `I(θ; δ₊, δ₋) = α₊(θ)δ₊ + α₋(θ)δ₋` (code4p is linear in δ±): returns (α₊, α₋, α₊′, α₋′).
    @inline(__always)
    static func code4pWeights(_ theta: Double) -> (Double, Double, Double, Double) {
        if theta > 1 { return (theta, 0, 1, 0) }
        if theta < -1 { return (0, theta, 0, 1) }
        let x2 = theta * theta
        let poly = 15 - 10 * x2 + 3 * x2 * x2
        let even = x2 * poly / 16
        let evenDerivative = (2 * theta * poly + x2 * (-20 * theta + 12 * x2 * theta)) / 16
        return (0.5 * theta + even, 0.5 * theta - even, 0.5 + evenDerivative, 0.5 - evenDerivative)
    }

    /// `∂m_t/∂c_i` at `c`, coefficient-major (`[i·T + t]`).
    static func monomialGradients(_ monomials: [Monomial], at c: [Double]) -> [Double] {
        let T = monomials.count, C = c.count
        var out = [Double](repeating: 0, count: C * T)
        for (t, m) in monomials.enumerated() {
            for factor in m.factors {
                var value = Double(factor.power)
                for other in m.factors {
                    let p = other.coefficient == factor.coefficient ? other.power - 1 : other.power
                    for _ in 0 ..< p { value *= c[other.coefficient] }
                }
                out[factor.coefficient * T + t] = value
            }
        }
        return out
    }

    /// The template and its variance at `(c, θ)`, with their Jacobians when `jacobian` is true.
    ///
    /// A streamed kernel whose file can no longer be read (its columns were read and checked when
    /// the kernel's model was built, so only an I/O failure of the device or a file truncated in
    /// place can do this) returns NaN yields, which fail the fit, and keeps the error as
    /// ``streamFailure`` (the task layer throws it); ``checkedEvaluation(coefficients:nuisance:jacobian:)``
    /// throws it instead.
    ///
    /// - Parameters:
    ///   - coefficients: `c`, in the order of ``coefficientNames``.
    ///   - nuisance: `θ`, one per entry of ``systematics``.
    /// - Complexity: O(N'·(T + K + touched edges + touched bins·(1 + (C + K)·[jacobian]))); reads
    ///   ``bytesPerEvent`` bytes per event at most (terms with `m_t = 0` and, with Jacobians,
    ///   `∇m_t = 0` are skipped, though a streamed kernel still reads and checks their columns;
    ///   nothing at a point kept from a recent evaluation).
    ///   An event with edges within `40h` costs one `exp` and a division per such edge, and
    ///   touches the bins next to those edges; with none (h ≪ bin width) it costs bin searches only.
    public func evaluate(coefficients: [Double], nuisance: [Double], jacobian: Bool) -> Evaluation {
        evaluate(coefficients: coefficients, nuisance: nuisance, jacobianFor: allOrNone(jacobian))
    }

    /// The template and its variance at `(c, θ)`, with the Jacobians' rows of the parameters `q_j`
    /// (`q = (c_1…c_C, θ_1…θ_K)`) where `wanted[j]`; the rows of the others are 0, not computed.
    /// A pass then reads only the terms with `m_t ≠ 0` or a non-zero `∂m_t/∂c_i` of a wanted `c_i`,
    /// and accumulates only the wanted derivatives: the wanted rows are the same doubles as those of
    /// ``evaluate(coefficients:nuisance:jacobian:)`` with `jacobian` true. No row wanted: no Jacobians.
    ///
    /// - Complexity: as ``evaluate(coefficients:nuisance:jacobian:)`` with `C + K` replaced by the
    ///   number of wanted rows, and `T` by the terms read.
    public func evaluate(coefficients: [Double], nuisance: [Double], jacobianFor wanted: [Bool]) -> Evaluation {
        do throws(EventDatabaseError) {
            return try checkedEvaluation(coefficients: coefficients, nuisance: nuisance, jacobianFor: wanted)
        } catch {
            _memo.record(error)
            let B = binning.binCount, Q = wanted.contains(true) ? coefficientNames.count + systematics.count : 0
            let nan = [Double](repeating: .nan, count: B)
            return Evaluation(yields: nan, variances: nan, yieldJacobian: .init(repeating: .nan, count: Q * B), varianceJacobian: .init(repeating: .nan, count: Q * B))
        }
    }

    /// ``evaluate(coefficients:nuisance:jacobian:)``, throwing when streamed columns cannot be read
    /// or hold a NaN or an infinity (in memory, columns are checked once when read; a point kept
    /// from a recent evaluation is not read again).
    public func checkedEvaluation(coefficients: [Double], nuisance: [Double], jacobian: Bool) throws(EventDatabaseError) -> Evaluation {
        try checkedEvaluation(coefficients: coefficients, nuisance: nuisance, jacobianFor: allOrNone(jacobian))
    }

    /// ``evaluate(coefficients:nuisance:jacobianFor:)``, throwing as ``checkedEvaluation(coefficients:nuisance:jacobian:)``.
    public func checkedEvaluation(coefficients: [Double], nuisance: [Double], jacobianFor wanted: [Bool]) throws(EventDatabaseError) -> Evaluation {
        precondition(coefficients.count == coefficientNames.count, "\(coefficients.count) coefficients, expected \(coefficientNames.count)")
        precondition(nuisance.count == systematics.count, "\(nuisance.count) nuisance parameters, expected \(systematics.count)")
        precondition(wanted.count == coefficientNames.count + systematics.count, "\(wanted.count) Jacobian rows, expected \(coefficientNames.count + systematics.count)")
        if let known = _memo.evaluation(coefficients: coefficients, nuisance: nuisance, wanted: wanted) { return known }
        let evaluation = try _pass(coefficients: coefficients, nuisance: nuisance, jacobianFor: wanted, avx2: _SmoothingTables.avx2)
        _memo.insert(evaluation, coefficients: coefficients, nuisance: nuisance, wanted: wanted)
        return evaluation
    }

    /// Every Jacobian row wanted, or none.
    private func allOrNone(_ jacobian: Bool) -> [Bool] {
        [Bool](repeating: jacobian, count: coefficientNames.count + systematics.count)
    }

    /// One pass over the events, with the AVX2 or the portable instantiation of the bin assignment
    /// (`avx2` only where it is available; both give the same doubles).
    internal func _pass(coefficients: [Double], nuisance: [Double], jacobian: Bool, avx2: Bool) throws(EventDatabaseError) -> Evaluation {
        try _pass(coefficients: coefficients, nuisance: nuisance, jacobianFor: allOrNone(jacobian), avx2: avx2)
    }

    /// ``_pass(coefficients:nuisance:jacobian:avx2:)`` with the Jacobian rows of `wanted` only.
    internal func _pass(coefficients: [Double], nuisance: [Double], jacobianFor wanted: [Bool], avx2: Bool) throws(EventDatabaseError) -> Evaluation {
        let B = binning.binCount, C = coefficientNames.count, K = systematics.count, N = eventCount
        let jacobian = wanted.contains(true)
        // R Jacobian rows in the result (0 without Jacobians), Q of them computed (the record slots).
        let R = jacobian ? C + K : 0, Q = wanted.lazy.filter { $0 }.count
        let stride = 2 * B + 2 * R * B
        let chunkCount = Self.chunkCount(N)
        var partials = [Double](repeating: 0, count: chunkCount * stride)
        let T = monomials.count
        let values = monomials.map { $0.value(at: coefficients) }
        let dm = jacobian ? Self.monomialGradients(monomials, at: coefficients) : []
        // The terms the pass reads: those with m_t ≠ 0 or, with the Jacobian, a non-zero ∂m_t/∂c_i
        // of a wanted c_i. Every other term adds a_et·0 = ±0 (the columns are finite) to w_e and
        // nothing to a wanted ∂w_e/∂c_i, so leaving it out changes no sum (Specs/event-database.md,
        // "Formulae", evaluation).
        var activeTerms: [Int] = [], m: [Double] = []
        // Per active term, its non-zero ∂m_t/∂c_i as (i, value), in increasing i.
        var derivativeStart = [0], derivativeCoefficient: [Int] = [], derivativeValue: [Double] = []
        for t in 0 ..< T {
            let derivatives = (0 ..< (jacobian ? C : 0)).filter { wanted[$0] && dm[$0 * T + t] != 0 }
            guard values[t] != 0 || !derivatives.isEmpty else { continue }
            activeTerms.append(t)
            m.append(values[t])
            for i in derivatives {
                derivativeCoefficient.append(i)
                derivativeValue.append(dm[i * T + t])
            }
            derivativeStart.append(derivativeCoefficient.count)
        }
        // Per systematic: (α₊, α₋, α₊′, α₋′).
        let alpha = nuisance.flatMap { theta in
            let (a, b, da, db) = Self.code4pWeights(theta)
            return [a, b, da, db]
        }
        let isShift = systematics.map { $0.kind == .shift }
        // Record order of the wanted derivatives: coefficients, weight systematics, then shifts
        // (`slotParameter[r]` is the q of record slot r).
        let slotParameter = (0 ..< R).filter { wanted[$0] && ($0 < C || !isShift[$0 - C]) } + (0 ..< R).filter { wanted[$0] && $0 >= C && isShift[$0 - C] }
        let errors = _ChunkErrors()

        // Soundness of the unsafe pointers: every buffer is an immutable array (of `self` or a local)
        // that outlives the synchronous `concurrentPerform`; the chunks partition the kept events
        // `0..<N`, and each reads only its own events' pieces (``_ColumnSource/forEachPiece``); each
        // chunk writes only its own `stride` doubles of `partials`; edges read are `0...B` and bins
        // touched are −1 … B (and up to B + 3 with exactly +0), inside the chunk's padded records (`efthf_smoothed_block`); the tables
        // hold B + 9 window edges and 8(B + 2) factors, as it reads (``_SmoothingTables``).
        _locator.edges.withUnsafeBufferPointer { edges in
          _tables.ratios.withUnsafeBufferPointer { ratios in
           _tables.windowEdges.withUnsafeBufferPointer { windowEdges in
            let context = _SmoothedPass.Binning(
                locator: _locator, edges: edges.baseAddress!, avx2: avx2,
                smoothing: efthf_smoothing(
                    binCount: B, edges: edges.baseAddress, windowEdges: windowEdges.baseAddress, ratios: ratios.baseAddress,
                    width: smoothingWidth, inverseWidth: smoothingWidth > 0 ? 1 / smoothingWidth : 0,
                    reach: _SmoothingTables.cutoff * smoothingWidth, fold: binning.flow == .foldIntoEdgeBins ? 1 : 0))
            (_kept ?? []).withUnsafeBufferPointer { kept in
              activeTerms.withUnsafeBufferPointer { activeTerms in
                m.withUnsafeBufferPointer { m in
                    derivativeStart.withUnsafeBufferPointer { dStart in
                        derivativeCoefficient.withUnsafeBufferPointer { dCoefficient in
                            derivativeValue.withUnsafeBufferPointer { dValue in
                                alpha.withUnsafeBufferPointer { alpha in
                                    isShift.withUnsafeBufferPointer { isShift in
                                     slotParameter.withUnsafeBufferPointer { slotParameter in
                                        _transforms.withUnsafeBufferPointer { transforms in
                                            partials.withUnsafeMutableBufferPointer { out in
                                                let pass = _SmoothedPass(
                                                    source: _source, kept: _kept == nil ? nil : kept.baseAddress, transforms: transforms.baseAddress,
                                                    columnTerms: T, terms: activeTerms.count, termColumn: activeTerms.baseAddress,
                                                    coefficients: C, systematics: K, m: m.baseAddress,
                                                    derivativeStart: dStart.baseAddress!, derivativeCoefficient: dCoefficient.baseAddress,
                                                    derivativeValue: dValue.baseAddress, alpha: alpha.baseAddress, isShift: isShift.baseAddress,
                                                    slotParameter: slotParameter.baseAddress, slots: Q, rows: R, jacobian: jacobian, context: context,
                                                    out: out.baseAddress!, stride: stride)
                                                DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                                                    do throws(EventDatabaseError) {
                                                        try pass.run(range: chunk * N / chunkCount ..< (chunk + 1) * N / chunkCount, out: pass.out + chunk * stride)
                                                    } catch {
                                                        errors.record(error, chunk: chunk)
                                                    }
                                                }
                                            }
                                        }
                                     }
                                    }
                                }
                            }
                        }
                    }
                }
              }
            }
           }
          }
        }
        if let error = errors.first { throw error }
        var total = [Double](repeating: 0, count: stride)
        for chunk in 0 ..< chunkCount {
            for i in 0 ..< stride { total[i] += partials[chunk * stride + i] }
        }
        let n = normalisation, n2 = n * n
        let evaluation = Evaluation(
            yields: total[0 ..< B].map { $0 * n },
            variances: total[B ..< 2 * B].map { $0 * n2 },
            yieldJacobian: total[2 * B ..< 2 * B + R * B].map { $0 * n },
            varianceJacobian: total[2 * B + R * B ..< stride].map { $0 * n2 })
        return evaluation
    }

    /// The first error of an evaluation that returned NaN yields because its streamed columns could
    /// not be read (``evaluate(coefficients:nuisance:jacobian:)``), shared by the kernel's copies; nil
    /// when there was none. The file is broken from then on: read the workspace again.
    public var streamFailure: EventDatabaseError? { _memo.failure }
}

/// The last few evaluations of a kernel by point `(c, θ)`: a likelihood evaluated where only
/// parameters outside the kernel moved (a minimiser's coordinate-wise curvature estimates, Hessian
/// columns of other parameters) gets the kernel's result without a pass over the events.
///
/// A hit returns exactly what a pass would: the pass is a deterministic function of `(c, θ)` (fixed
/// chunks and order of additions), its values do not depend on which Jacobian rows are computed,
/// and each computed row does not depend on which others are (an entry with more rows serves a
/// request for fewer: the others are set to 0, or all dropped when none is wanted). Points are
/// compared with `==` (so −0 and +0 are one point: they give equal values).
internal final class _EvaluationMemo: @unchecked Sendable {
    // Sound: `entries` and `firstFailure` are only accessed under `lock`.
    private let lock = NSLock()
    private var entries: [(c: [Double], theta: [Double], wanted: [Bool], evaluation: SmoothedReweightingKernel.Evaluation)] = []
    private var firstFailure: EventDatabaseError?

    /// The first failed pass's error (``SmoothedReweightingKernel/streamFailure``).
    var failure: EventDatabaseError? {
        lock.lock()
        defer { lock.unlock() }
        return firstFailure
    }

    func record(_ error: EventDatabaseError) {
        lock.lock()
        defer { lock.unlock() }
        if firstFailure == nil { firstFailure = error }
    }
    /// Points kept: enough for the concurrent fits of one task (one per core) to keep theirs.
    static let capacity = 4

    func evaluation(coefficients: [Double], nuisance: [Double], wanted: [Bool]) -> SmoothedReweightingKernel.Evaluation? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries.first(where: {
            $0.c == coefficients && $0.theta == nuisance && zip($0.wanted, wanted).allSatisfy { has, wants in has || !wants }
        }) else { return nil }
        let e = entry.evaluation
        if entry.wanted == wanted { return e }
        guard wanted.contains(true) else { return .init(yields: e.yields, variances: e.variances, yieldJacobian: [], varianceJacobian: []) }
        let B = e.yields.count
        func masked(_ jacobian: [Double]) -> [Double] {
            var out = jacobian
            for (j, w) in wanted.enumerated() where !w { for b in 0 ..< B { out[j * B + b] = 0 } }
            return out
        }
        return .init(yields: e.yields, variances: e.variances, yieldJacobian: masked(e.yieldJacobian), varianceJacobian: masked(e.varianceJacobian))
    }

    func insert(_ evaluation: SmoothedReweightingKernel.Evaluation, coefficients: [Double], nuisance: [Double], wanted: [Bool]) {
        lock.lock()
        defer { lock.unlock() }
        entries.removeAll { $0.c == coefficients && $0.theta == nuisance }
        entries.insert((coefficients, nuisance, wanted, evaluation), at: 0)
        if entries.count > Self.capacity { entries.removeLast() }
    }
}

/// How a stored systematic column becomes `δ₊` or `δ₋` of code4p (``SmoothedReweightingKernel``).
internal enum _ColumnTransform: Sendable, Equatable {
    /// `Δ⁺`.
    case identity
    /// `u − 1`.
    case minusOne
    /// `1 − d`.
    case oneMinus
    /// `−Δ⁻`.
    case negate
}

/// One evaluation's pointers and constants, shared by the chunks (see `evaluate` for why the
/// pointers are valid while `run` executes).
private struct _SmoothedPass: @unchecked Sendable {
    /// The columns (``SmoothedReweightingKernel/_source``), the file event of each kept event
    /// (nil: all kept) and the transforms of the systematic columns.
    let source: _ColumnSource
    let kept: UnsafePointer<Int>?
    let transforms: UnsafePointer<_ColumnTransform>?
    /// The source's coefficient columns (`T`), and the terms the pass reads: `terms` of them,
    /// column `termColumn[k]` with monomial value `m[k]`.
    let columnTerms: Int, terms: Int
    let termColumn: UnsafePointer<Int>?
    let coefficients: Int, systematics: Int
    let m: UnsafePointer<Double>?
    /// Read term k's non-zero `∂m/∂c_i` are `derivativeValue[j]` for `i = derivativeCoefficient[j]`,
    /// `j` in `derivativeStart[k] ..< derivativeStart[k + 1]`.
    let derivativeStart: UnsafePointer<Int>
    let derivativeCoefficient: UnsafePointer<Int>?
    let derivativeValue: UnsafePointer<Double>?
    /// `(α₊, α₋, α₊′, α₋′)` of code4p per systematic.
    let alpha: UnsafePointer<Double>?
    let isShift: UnsafePointer<Bool>?
    /// The parameter q of each record slot (the wanted ones): coefficients, weight systematics, then shifts.
    let slotParameter: UnsafePointer<Int>?
    /// The number of record slots, and of Jacobian rows in `out` (`C + K`; those of no slot stay 0).
    let slots: Int, rows: Int
    let jacobian: Bool
    let context: Binning
    let out: UnsafeMutablePointer<Double>
    let stride: Int

    /// Events per block: the per-event quantities of a block (weight, factor, shifted observable,
    /// weight derivatives) stay in L1 while the columns stream through once.
    static let blockSize = Int(EFTHF_SMOOTHED_BLOCK)

    /// The binning and its tables for the bin assignment; the pointers are valid while `run` executes.
    struct Binning {
        let locator: _BinLocator
        let edges: UnsafePointer<Double>
        /// Whether to call the AVX2 instantiation of `efthf_smoothed_block`.
        let avx2: Bool
        var smoothing: efthf_smoothing
        var binCount: Int { smoothing.binCount }
        var width: Double { smoothing.width }
    }

    /// One chunk of events into `out` (layout ν (B), Σw² (B), ∂ν (Q·B), ∂Σw² (Q·B)).
    ///
    /// Per block, the per-event sums run as sweeps over contiguous column segments (they
    /// vectorise), each event's terms added in the order t = 0, 1, …, T − 1 and systematics in
    /// the order k = 0, 1, …, K − 1, and the derivatives `∂W/∂q` of the block are laid out event
    /// by event; then the bin assignment (`efthf_smoothed_block`) goes event by event, into
    /// `(ν, Σw²)` per bin and one record per bin `(∂ν/∂q…, ∂Σw²/∂q…)` so that the Q derivatives of
    /// a touched bin are contiguous (the update vectorises). Every sum receives the same terms in
    /// the same order as the event-by-event formula, so the result does not depend on the blocking.
    func run(range: Range<Int>, out: UnsafeMutablePointer<Double>) throws(EventDatabaseError) {
        guard !range.isEmpty else { return }
        let T = terms, C = coefficients, K = systematics, B = context.binCount
        let Q = slots, R = self.rows, L = Self.blockSize
        let rows = jacobian ? C + K : 0
        // ∂W/∂q per event, Qp slots (Q rounded up to a multiple of four; the padding slots stay 0).
        let Qp = (Q + 3) & ~3
        // Scratch: w, f, x(θ), W per event of the block, ∂w/∂c_i (C rows) and ∂I/∂θ_k (K rows) per
        // event; ∂W/∂q of the block event-major (Qp per event, in record-slot order); then the
        // gathered block: T coefficient rows, the observable, 2K systematic rows (of L). Last, per
        // bin −1 … B + 3 (−1 and B … B + 3 padding) its (ν, Σw²) and, with Jacobians, its ∂ν/∂q (Qp)
        // and ∂Σw²/∂q (Qp).
        let scratchCount = (4 + rows) * L + Qp * L + (T + 1 + 2 * K) * L + 2 * (B + 5) + 2 * Qp * (B + 5)
        var failure: EventDatabaseError? = nil
        // The coefficient rows of the block being processed: gathered into `ab`, or (every event
        // kept, the block inside one piece) the piece's own columns, read without a copy.
        withUnsafeTemporaryAllocation(of: UnsafePointer<Double>.self, capacity: max(T, 1)) { rowBuffer in
        let termRows = rowBuffer.baseAddress!
        withUnsafeTemporaryAllocation(of: Double.self, capacity: scratchCount) { scratch in
            // w, f, ∂w/∂c, ∂I/∂θ: the scratch of `efthf_event_sums`.
            let w = scratch.baseAddress!, shifted = w + (2 + rows) * L, W = shifted + L
            let dW = W + L, ab = dW + Qp * L, xb = ab + T * L, sb = xb + L
            let binSums = sb + 2 * K * L, binDerivatives = binSums + 2 * (B + 5)
            scratch.update(repeating: 0)
            let shiftCount = (0 ..< Q).filter { slotParameter![$0] >= C && isShift![slotParameter![$0] - C] }.count, P = Q - shiftCount
            var terms = efthf_event_terms(
                terms: T, m: m, derivativeStart: derivativeStart, derivativeCoefficient: derivativeCoefficient, derivativeValue: derivativeValue,
                coefficients: C, systematics: K, alpha: alpha, isShift: isShift, slotParameter: slotParameter, slots: Q, paddedSlots: Qp)
            // Sound: `termRows` holds T pointers; a pointer to a non-optional pointer is read as one to an optional.
            let rowTable = UnsafeRawPointer(termRows).assumingMemoryBound(to: UnsafePointer<Double>?.self)
            /// One block of `n` kept events: term t at `termRows[t]`, the observable and systematics
            /// gathered into `xb` and `sb`.
            func process(_ n: Int) {
                // The per-event sums (weights, factors, shifted observables, ∂W/∂q), in C.
                efthf_event_sums(&terms, n, rowTable, xb, sb, w, W, shifted, dW, jacobian ? 1 : 0, context.avx2 ? 1 : 0)
                guard context.width > 0 else {
                    // h = 0: the sharp bin, p = 1 and ∂p/∂x = 0 (only weight systematics and
                    // coefficients have derivatives).
                    for i in 0 ..< n {
                        let b = context.locator.bin(shifted[i], context.edges)
                        guard b >= 0 else { continue }
                        let Wp = W[i], record = binDerivatives + (b + 1) * 2 * Qp, dWi = dW + i * Qp
                        binSums[2 * (b + 1)] += Wp
                        binSums[2 * (b + 1) + 1] += Wp * Wp
                        guard jacobian else { continue }
                        for r in 0 ..< Q {
                            let d = r < P ? dWi[r] : 0
                            record[r] += d
                            record[Qp + r] += 2 * Wp * d
                        }
                    }
                    return
                }
                // The bin assignment (Specs/event-database.md, evaluation of the logistic), in C.
                withUnsafePointer(to: context.smoothing) { smoothing in
                    efthf_smoothed_block(smoothing, n, W, shifted, jacobian ? 1 : 0, dW, Qp, P, binSums, binDerivatives, context.avx2 ? 1 : 0)
                }
            }

            // Gathers the kept events of each piece of the chunk's file range into blocks of L
            // (the chunk's first block starts at its first kept event, as the formula's order needs
            // nothing else: every accumulator receives the events in order whatever the pieces).
            let rawStart = kept.map { $0[range.lowerBound] } ?? range.lowerBound
            let rawEnd = (kept.map { $0[range.upperBound - 1] } ?? (range.upperBound - 1)) + 1
            var next = range.lowerBound, blockStart = next, filled = 0, n = min(L, range.upperBound - next)
            do throws(EventDatabaseError) {
                // Sound: `column[j]` holds events `pieceStart ..< pieceStart + count` of column j; a kept
                // event `e` is gathered only while `e < pieceStart + count`, and is ≥ pieceStart because
                // pieces and kept events both go in increasing order; block slots stay below `n ≤ L`;
                // rows read in place (`direct`) hold the block's `n` events of this piece and are
                // read only by the `process(n)` of the same call.
                try source.forEachPiece(of: rawStart ..< rawEnd) { pieceStart, count, column throws(EventDatabaseError) in
                    let pieceEnd = pieceStart + count
                    while next < range.upperBound {
                        let room = n - filled
                        // A whole block of consecutive events in this piece: its coefficient rows are read in place.
                        let direct = kept == nil && filled == 0 && pieceEnd - next >= n
                        var taken = 0
                        if let kept {
                            while taken < room && kept[next + taken] < pieceEnd { taken += 1 }
                        } else {
                            taken = min(room, pieceEnd - next)
                        }
                        guard taken > 0 else { break }
                        if direct {
                            for t in 0 ..< T { termRows[t] = column[termColumn![t]] + (next - pieceStart) }
                        } else if filled + taken == n {
                            for t in 0 ..< T { termRows[t] = UnsafePointer(ab + t * n) }
                        }
                        for j in (direct ? T : 0) ..< T + 1 + 2 * K {
                            let target = j < T ? ab + j * n + filled : j == T ? xb + filled : sb + (j - T - 1) * L + filled
                            let from = column[j < T ? termColumn![j] : columnTerms + j - T]
                            let transform = j > T ? transforms![j - T - 1] : .identity
                            if let kept {
                                let events = kept + next
                                switch transform {
                                case .identity: for i in 0 ..< taken { target[i] = from[events[i] - pieceStart] }
                                case .minusOne: for i in 0 ..< taken { target[i] = from[events[i] - pieceStart] - 1 }
                                case .oneMinus: for i in 0 ..< taken { target[i] = 1 - from[events[i] - pieceStart] }
                                case .negate: for i in 0 ..< taken { target[i] = -from[events[i] - pieceStart] }
                                }
                            } else {
                                let values = from + (next - pieceStart)
                                switch transform {
                                case .identity: target.update(from: values, count: taken)
                                case .minusOne: for i in 0 ..< taken { target[i] = values[i] - 1 }
                                case .oneMinus: for i in 0 ..< taken { target[i] = 1 - values[i] }
                                case .negate: for i in 0 ..< taken { target[i] = -values[i] }
                                }
                            }
                        }
                        filled += taken
                        next += taken
                        if filled == n {
                            process(n)
                            blockStart += n
                            filled = 0
                            n = min(L, range.upperBound - blockStart)
                        }
                    }
                }
            } catch {
                failure = error
                return
            }
            for b in 0 ..< B {
                out[b] = binSums[2 * (b + 1)]
                out[B + b] = binSums[2 * (b + 1) + 1]
                let record = binDerivatives + (b + 1) * 2 * Qp
                for r in 0 ..< Q {
                    let q = slotParameter![r]
                    out[2 * B + q * B + b] = record[r]
                    out[2 * B + R * B + q * B + b] = record[Qp + r]
                }
            }
        }
        }
        if let failure { throw failure }
    }
}

/// The differentiable bin assignment of ``SmoothedReweightingKernel``: the binning's tables for
/// `efthf_smoothed_block` (Sources/_CKernels/event_kernels.c), prepared once per kernel.
internal struct _SmoothingTables: Sendable {
    /// `e_k` for the edges that can be evaluated (all, or `1 ≤ k < B` when folding), `+∞` for the
    /// others and for `B < k < B + 9` (`efthf_smoothing.windowEdges`).
    let windowEdges: [Double]
    /// `D_{a,j} = e^{(e_a − e_{a+j})/h}` at `[8a + j]`, `a ≤ B + 1`, `j < 8` (1 where `a + j > B`).
    let ratios: [Double]

    /// The truncation of the logistic, `|e_k − x| > 40h` (Specs/event-database.md).
    ///
    /// Beyond it `G` is taken as exactly 0 or 1: `F(z) < e^{−40} ≈ 4.2·10⁻¹⁸` for `z < −40`, and
    /// `1 − F(z) < e^{−40}` for `z > 40`, where `1/(1 + e^{−z})` already rounds to exactly 1 (it
    /// does for every `z > 53 ln 2 ≈ 36.7`, as `e^{−z} < 2^{−53}`, half an ulp of 1). An event with
    /// no edge within `40h` therefore has exactly `p = 1` in its own bin and `∂p/∂x = 0`, as the
    /// sharp histogram, and costs no `exp`.
    static let cutoff: Double = 40

    /// Whether the AVX2 instantiation of `efthf_smoothed_block` runs (it gives the same doubles).
    static let avx2 = efthf_avx2_available() == 1

    /// Empty tables for `h = 0`.
    init(edges: [Double], width h: Double, fold: Bool) {
        guard h > 0 else {
            windowEdges = []
            ratios = []
            return
        }
        let B = edges.count - 1, lo = fold ? 1 : 0, hi = fold ? B : B + 1
        windowEdges = (0 ..< B + 9).map { $0 >= lo && $0 < hi ? edges[$0] : .infinity }
        // Only the factors of edges inside one event's window are used (a + j < c): those lie in
        // [e^{−80}, 1] up to rounding; the others may underflow to 0.
        ratios = (0 ... B + 1).flatMap { a in (0 ..< 8).map { j in a + j <= B ? Foundation.exp((edges[a] - edges[a + j]) / h) : 1 } }
    }
}
