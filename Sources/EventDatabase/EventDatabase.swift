import Morphing

/// A sample of simulated events that can be reweighted to any point in Wilson-coefficient space:
/// the "tiny database" of on-the-fly reweighting (K. Cranmer, seed 003; the fully differential
/// coefficients `A_j^{i,k}` of ATLAS-CONF-2023-052).
///
/// Event `e` carries a basis coefficient `a_et` per monomial `m_t`, so that its weight at `c` is
///
/// ```
/// w_e(c) = Σ_t a_et m_t(c)
/// ```
///
/// exactly (for a dimension-six amplitude squared the monomials up to degree 2 suffice). Binning the
/// events by an observable at any `c` gives the template at `c` with efficiency and acceptance
/// following the events. Storage is column-major, one contiguous `[Double]` per monomial and per
/// observable, as in the HDF5 file (Specs/event-database.md): a pass over the events streams each
/// column once.
///
/// The value is immutable; construction validates lengths, finiteness and names.
public struct EventDatabase: Sendable {
    /// Where the events come from and what their weights mean; written as root attributes.
    public struct Provenance: Sendable, Hashable {
        /// The generator chain, e.g. `MadGraph5_aMC@NLO 3.5.1 + Pythia 8.309 + Delphes 3.5`.
        public var generator: String
        /// The EFT basis and model, e.g. `SMEFTsim 3.0 topU3l, Warsaw basis`.
        public var eftBasis: String
        /// The new-physics scale `Λ` in GeV to which the Wilson coefficients are normalised.
        public var lambda: Double
        /// What the weights are normalised to, in words, e.g. `Σ_e w_e(c) = σ(c)·L for L = 140 fb⁻¹: expected events`.
        public var normalisation: String
        /// The unit of the weights and basis coefficients, e.g. `events` or `fb`.
        public var weightUnit: String

        public init(generator: String, eftBasis: String, lambda: Double, normalisation: String, weightUnit: String) {
            self.generator = generator
            self.eftBasis = eftBasis
            self.lambda = lambda
            self.normalisation = normalisation
            self.weightUnit = weightUnit
        }
    }

    /// A per-event observable: `values[e]` in `unit`.
    public struct Observable: Sendable {
        public let name: String
        /// E.g. `GeV`, `rad`, or empty for a dimensionless quantity.
        public let unit: String
        public let values: [Double]

        public init(name: String, unit: String, values: [Double]) {
            self.name = name
            self.unit = unit
            self.values = values
        }
    }

    /// A systematic that rescales event weights: at `θ = ±1` event `e` weighs `factor_e · w_e(c)`.
    public struct WeightVariation: Sendable {
        public let name: String
        /// Dimensionless per-event factors at `θ = +1` and `θ = −1`.
        public let up: [Double]
        public let down: [Double]

        public init(name: String, up: [Double], down: [Double]) {
            self.name = name
            self.up = up
            self.down = down
        }
    }

    /// A systematic that moves an observable: at `θ = ±1` event `e` has `x_e + Δ^±_e`.
    ///
    /// Between and beyond `±1` the shift is linear in `θ` on each side:
    ///
    /// ```
    /// x_e(θ) = x_e + θ Δ⁺_e  (θ ≥ 0),     x_e(θ) = x_e − θ Δ⁻_e  (θ < 0)
    /// ```
    ///
    /// (`Δ⁻` is the displacement at `θ = −1`, so a symmetric scale variation has `Δ⁻ = −Δ⁺`).
    public struct ObservableShift: Sendable {
        /// The nuisance parameter's name; one systematic may shift several observables.
        public let name: String
        public let observable: String
        /// Displacements `Δ⁺_e`, `Δ⁻_e` in the observable's unit.
        public let up: [Double]
        public let down: [Double]

        public init(name: String, observable: String, up: [Double], down: [Double]) {
            self.name = name
            self.observable = observable
            self.up = up
            self.down = down
        }
    }

    public let provenance: Provenance
    /// The Wilson coefficient names; monomial exponents and coefficient vectors use this order.
    public let coefficientNames: [String]
    /// The monomials `m_t`, distinct, one per column of ``basisCoefficients``.
    public let monomials: [Monomial]
    /// `basisCoefficients[t][e] = a_et`, in ``Provenance/weightUnit``.
    public let basisCoefficients: [[Double]]
    /// The point `c_ref` at which ``nominalWeights`` are given (usually the SM, all zero).
    public let referencePoint: [Double]
    /// `w_e(c_ref)`: the event weights at the reference point.
    public let nominalWeights: [Double]
    public let observables: [Observable]
    public let weightVariations: [WeightVariation]
    public let observableShifts: [ObservableShift]
    /// The number of events with a negative nominal weight (NLO generators produce them; they are allowed).
    public let negativeWeightEventCount: Int

    /// The number of events `N`.
    public var eventCount: Int { nominalWeights.count }

    /// The number of monomials `T`.
    public var termCount: Int { monomials.count }

    /// - Parameters:
    ///   - basisCoefficients: `a_et`, one array of `N` values per monomial.
    ///   - nominalWeights: `w_e(c_ref)`; `nil` computes them from the basis coefficients.
    /// - Throws: ``EventDatabaseError`` when lengths disagree, a value is NaN or infinite, names repeat,
    ///   a monomial refers to an unnamed coefficient, a shift names an unknown observable, or a given
    ///   nominal weight differs from `Σ_t a_et m_t(c_ref)` by more than `10⁻⁶ Σ_t |a_et m_t(c_ref)|`.
    /// - Complexity: O(N·T) for the validation.
    public init(
        provenance: Provenance, coefficientNames: [String], monomials: [Monomial], basisCoefficients: [[Double]],
        referencePoint: [Double]? = nil, nominalWeights: [Double]? = nil, observables: [Observable],
        weightVariations: [WeightVariation] = [], observableShifts: [ObservableShift] = []
    ) throws(EventDatabaseError) {
        try self.init(
            provenance: provenance, coefficientNames: coefficientNames, monomials: monomials, basisCoefficients: basisCoefficients,
            referencePoint: referencePoint, nominalWeights: nominalWeights, observables: observables,
            weightVariations: weightVariations, observableShifts: observableShifts, columnsAreFinite: false)
    }

    /// The validating initialiser; `columnsAreFinite` skips the NaN/infinity pass over columns that
    /// the caller has already checked (the HDF5 reader checks each piece as it reads it).
    internal init(
        provenance: Provenance, coefficientNames: [String], monomials: [Monomial], basisCoefficients: [[Double]],
        referencePoint: [Double]?, nominalWeights: [Double]?, observables: [Observable],
        weightVariations: [WeightVariation], observableShifts: [ObservableShift], columnsAreFinite: Bool
    ) throws(EventDatabaseError) {
        try Self.checkUnique(coefficientNames, what: "Wilson coefficient", dataset: "/wilson_coefficients")
        try Self.checkUnique(observables.map(\.name), what: "observable", dataset: "/observables")
        try Self.checkUnique(weightVariations.map(\.name), what: "weight variation", dataset: "/systematics/weights")
        for shift in observableShifts { try Self.checkUnique([shift.name], what: "observable shift", dataset: "/systematics/shifts") }
        try Self.checkUnique(observableShifts.map { "\($0.name) of \($0.observable)" }, what: "observable shift", dataset: "/systematics/shifts")
        guard !monomials.isEmpty else { throw EventDatabaseError(.names, "no monomials: at least the SM term is needed", dataset: "/monomials") }
        guard Set(monomials).count == monomials.count else {
            throw EventDatabaseError(.names, "repeated monomial in \(monomials.map { Self.name(of: $0, coefficientNames: coefficientNames) })", dataset: "/monomials")
        }
        for m in monomials where m.largestCoefficientIndex >= coefficientNames.count {
            throw EventDatabaseError(.names, "monomial \(m) refers to coefficient \(m.largestCoefficientIndex), but only \(coefficientNames.count) are named", dataset: "/monomials")
        }
        guard basisCoefficients.count == monomials.count else {
            throw EventDatabaseError(.shape, "\(basisCoefficients.count) coefficient columns for \(monomials.count) monomials", dataset: "/coefficients")
        }
        guard provenance.lambda.isFinite && provenance.lambda > 0 else {
            throw EventDatabaseError(.invalidValue, "Λ = \(provenance.lambda) GeV must be finite and positive", dataset: "/")
        }
        let reference = referencePoint ?? [Double](repeating: 0, count: coefficientNames.count)
        guard reference.count == coefficientNames.count, reference.allSatisfy(\.isFinite) else {
            throw EventDatabaseError(.invalidValue, "reference point \(reference) must have \(coefficientNames.count) finite coordinates", dataset: "/weights/nominal")
        }
        let N = nominalWeights?.count ?? basisCoefficients.first?.count ?? observables.first?.values.count ?? 0
        let check = { (column: [Double], dataset: String) throws(EventDatabaseError) in
            try Self.checkColumn(column, count: N, dataset: dataset, finite: !columnsAreFinite)
        }
        for (t, column) in basisCoefficients.enumerated() {
            try check(column, "/coefficients/" + Self.name(of: monomials[t], coefficientNames: coefficientNames))
        }
        for observable in observables {
            try check(observable.values, "/observables/" + observable.name)
        }
        for variation in weightVariations {
            try check(variation.up, "/systematics/weights/\(variation.name)/up")
            try check(variation.down, "/systematics/weights/\(variation.name)/down")
        }
        let observableNames = Set(observables.map(\.name))
        for shift in observableShifts {
            let base = "/systematics/shifts/\(shift.name)/\(shift.observable)"
            guard observableNames.contains(shift.observable) else {
                throw EventDatabaseError(.names, "shifts unknown observable \(shift.observable); observables are \(observables.map(\.name))", dataset: base)
            }
            try check(shift.up, base + "/up")
            try check(shift.down, base + "/down")
        }

        let m = monomials.map { $0.value(at: reference) }
        let weights: [Double]
        if let nominalWeights {
            try check(nominalWeights, "/weights/nominal")
            if let e = Self.firstInconsistentWeight(nominalWeights, basisCoefficients, m) {
                var w = 0.0
                for (t, column) in basisCoefficients.enumerated() where m[t] != 0 { w += column[e] * m[t] }
                throw EventDatabaseError(
                    .invalidValue,
                    "event \(e): nominal weight \(nominalWeights[e]) differs from Σ_t a_et m_t(c_ref) = \(w) at the reference point \(reference)",
                    dataset: "/weights/nominal")
            }
            weights = nominalWeights
        } else {
            var computed = [Double](repeating: 0, count: N)
            for (t, column) in basisCoefficients.enumerated() where m[t] != 0 {
                for e in 0 ..< N { computed[e] += column[e] * m[t] }
            }
            weights = computed
        }

        self.provenance = provenance
        self.coefficientNames = coefficientNames
        self.monomials = monomials
        self.basisCoefficients = basisCoefficients
        self.referencePoint = reference
        self.nominalWeights = weights
        self.observables = observables
        self.weightVariations = weightVariations
        self.observableShifts = observableShifts
        negativeWeightEventCount = weights.reduce(0) { $0 + ($1 < 0 ? 1 : 0) }
    }

    private static func checkUnique(_ names: [String], what: String, dataset: String) throws(EventDatabaseError) {
        var seen = Set<String>()
        for name in names {
            guard !name.isEmpty, !name.contains("/") else { throw EventDatabaseError(.names, "invalid \(what) name \"\(name)\"", dataset: dataset) }
            guard seen.insert(name).inserted else { throw EventDatabaseError(.names, "repeated \(what) name \(name)", dataset: dataset) }
        }
    }

    internal static func checkColumn(_ column: [Double], count: Int, dataset: String, file: String? = nil, finite: Bool = true) throws(EventDatabaseError) {
        guard column.count == count else {
            throw EventDatabaseError(.shape, "\(column.count) entries, expected one per event (\(count))", file: file, dataset: dataset)
        }
        guard finite, !column.withUnsafeBufferPointer(allFinite), let e = column.firstIndex(where: { !$0.isFinite }) else { return }
        throw EventDatabaseError(.invalidValue, "event \(e) has the non-finite value \(column[e])", file: file, dataset: dataset)
    }

    /// Whether no value is NaN or infinite: a branch-free integer OR-reduction that vectorises.
    ///
    /// A double is non-finite exactly when its 11 exponent bits are all ones, i.e. when
    /// `((bits >> 52) & 0x7FF) + 1` has bit 11 set; OR-ing that over the column needs no compare
    /// per element and no floating-point reduction (which the compiler may not reorder).
    /// - Complexity: O(N), one sequential read.
    internal static func allFinite(_ column: UnsafeBufferPointer<Double>) -> Bool {
        // Sound: Double and UInt64 have the same size and alignment; the bytes are only read.
        let bits = UnsafeRawBufferPointer(column).bindMemory(to: UInt64.self)
        var flags: UInt64 = 0
        for b in bits { flags |= ((b >> 52) & 0x7FF) &+ 1 }
        return flags & 0x800 == 0
    }

    /// The first event whose nominal weight differs from `Σ_t a_et m_t(c_ref)` by more than
    /// `10⁻⁶ Σ_t |a_et m_t(c_ref)|`, or nil. No allocation; at the SM reference only the constant
    /// term enters, so this is one pass over two columns.
    /// - Complexity: O(N·T') for the T' monomials non-zero at the reference.
    static func firstInconsistentWeight(_ nominal: [Double], _ columns: [[Double]], _ m: [Double]) -> Int? {
        let active = m.indices.filter { m[$0] != 0 }
        let blockSize = 1024
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * blockSize) { scratch in
            let w = scratch.baseAddress!, scale = w + blockSize
            var start = 0
            while start < nominal.count {
                let n = min(blockSize, nominal.count - start)
                w.update(repeating: 0, count: n)
                scale.update(repeating: 0, count: n)
                for t in active {
                    let mt = m[t]
                    columns[t].withUnsafeBufferPointer { a in
                        // Sound: start + n ≤ N = a.count (lengths were checked before).
                        let a = a.baseAddress! + start
                        for i in 0 ..< n {
                            w[i] += a[i] * mt
                            scale[i] += abs(a[i] * mt)
                        }
                    }
                }
                let bad = nominal.withUnsafeBufferPointer { nominal in
                    (0 ..< n).first { abs(nominal[start + $0] - w[$0]) > 1e-6 * scale[$0] }
                }
                if let bad { return start + bad }
                start += n
            }
            return nil
        }
    }

    /// The index of the observable called `name`.
    public func observableIndex(_ name: String) throws(EventDatabaseError) -> Int {
        guard let i = observables.firstIndex(where: { $0.name == name }) else {
            throw EventDatabaseError(.names, "unknown observable \(name); the database has \(observables.map(\.name))", dataset: "/observables/\(name)")
        }
        return i
    }

    /// `w_e(c) = Σ_t a_et m_t(c)` of event `e`.
    ///
    /// - Complexity: O(T); for whole passes use ``EventReweightingKernel`` or ``projection(binning:selection:)``.
    public func weight(ofEvent e: Int, at coefficients: [Double]) -> Double {
        precondition(coefficients.count == coefficientNames.count, "\(coefficients.count) coefficients, expected \(coefficientNames.count)")
        var w = 0.0
        for t in 0 ..< termCount { w += basisCoefficients[t][e] * monomials[t].value(at: coefficients) }
        return w
    }
}
