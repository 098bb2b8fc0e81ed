import Foundation
import Morphing

/// A four-momentum `(px, py, pz, E)` in GeV, in the LHE convention (metric `+−−−` for the mass).
public struct FourMomentum: Sendable, Hashable {
    public var px: Double
    public var py: Double
    public var pz: Double
    public var energy: Double

    public init(px: Double, py: Double, pz: Double, energy: Double) {
        self.px = px
        self.py = py
        self.pz = pz
        self.energy = energy
    }

    public static let zero = FourMomentum(px: 0, py: 0, pz: 0, energy: 0)

    public static func + (a: FourMomentum, b: FourMomentum) -> FourMomentum {
        FourMomentum(px: a.px + b.px, py: a.py + b.py, pz: a.pz + b.pz, energy: a.energy + b.energy)
    }

    /// `pT = √(px² + py²)`.
    public var transverseMomentum: Double { (px * px + py * py).squareRoot() }

    /// `|p|`.
    public var momentum: Double { (px * px + py * py + pz * pz).squareRoot() }

    /// `η = asinh(pz / pT)` (= `−ln tan(θ/2)`); infinite along the beam (`pT = 0`).
    public var pseudorapidity: Double {
        let pT = transverseMomentum
        return pT > 0 ? asinh(pz / pT) : (pz == 0 ? 0 : pz.sign == .minus ? -.infinity : .infinity)
    }

    /// `y = ½ ln((E + pz)/(E − pz))`.
    public var rapidity: Double { 0.5 * log((energy + pz) / (energy - pz)) }

    /// `m = √(E² − |p|²)`, with a negative `m²` from rounding of a massless system clamped to 0.
    ///
    /// `E² − |p|²` cancels for boosted light systems; it is evaluated as `(E − |p|)(E + |p|)`, which
    /// keeps the relative accuracy of `E − |p|`.
    public var mass: Double {
        let p = momentum
        return max(0, (energy - p) * (energy + p)).squareRoot()
    }

    /// `φ = atan2(py, px)` in `(−π, π]`.
    public var azimuth: Double { atan2(py, px) }
}

/// A Les Houches event file (LHEF, hep-ph/0609017; version 3, arXiv:1405.1067, for the weights):
/// the `<initrwgt>` weight declarations and every event's particles and `<rwgt>` weights.
///
/// MadGraph's reweighting module writes one `<wgt id="…">` per event for each benchmark point it
/// was asked to reweight to; ``eventDatabase(benchmarks:coefficientNames:monomials:observables:provenance:weightScale:)``
/// turns them into per-event basis coefficients by solving the morphing system.
public struct LHEFile: Sendable {
    public struct Particle: Sendable, Hashable {
        /// `IDUP`, the PDG id.
        public let pdgID: Int
        /// `ISTUP`: −1 incoming, 1 outgoing final state, 2 intermediate resonance.
        public let status: Int
        public let momentum: FourMomentum
        /// `PUP(5)`, the generated mass.
        public let mass: Double
    }

    public struct Event: Sendable {
        public let particles: [Particle]
        /// `XWGTUP`, the event's nominal weight.
        public let weight: Double
        /// The `<rwgt>` weights in the order of ``LHEFile/weightIDs`` (NaN for an id the event lacks).
        public let weights: [Double]
    }

    /// The ids declared by `<initrwgt>` (`<weight id="…">`), in order, or, without a declaration,
    /// the ids of the first event's `<rwgt>` block.
    public let weightIDs: [String]
    /// The text of each `<weight>` declaration (e.g. `muR=0.10000E+01 muF=0.10000E+01`), by id.
    public let weightDescriptions: [String: String]
    public let events: [Event]

    /// Reads an LHE file, gzip-compressed (`.lhe.gz`, detected by its magic bytes) or not.
    ///
    /// - Throws: ``EventDatabaseError`` (`.format`) naming the file and the event at fault.
    /// - Complexity: O(file size).
    public init(contentsOf url: URL) throws(EventDatabaseError) {
        let file = url.path
        var data: Data
        do { data = try Data(contentsOf: url) } catch { throw EventDatabaseError(.io, "cannot read: \(error.localizedDescription)", file: file) }
        if _Gzip.isCompressed(data) { data = try _Gzip.decompress(data, file: file) }
        try self.init(text: String(decoding: data, as: UTF8.self), file: file)
    }

    /// Most events read from one file (each keeps its particles and weights in memory); larger
    /// samples are imported in parts, one database each.
    public static let maximumEvents = 20_000_000

    /// Most distinct weight ids (`<wgt id>`) in one file.
    public static let maximumWeightIDs = 100_000

    /// Parses LHE text; `file` only labels errors.
    public init(text: String, file: String? = nil) throws(EventDatabaseError) {
        func fail(_ message: String) -> EventDatabaseError { EventDatabaseError(.format, message, file: file) }
        guard text.contains("<LesHouchesEvents") else { throw fail("not a Les Houches event file (no <LesHouchesEvents> tag)") }

        var ids: [String] = []
        var descriptions: [String: String] = [:]
        if let start = text.range(of: "<initrwgt"), let end = text.range(of: "</initrwgt>", range: start.upperBound ..< text.endIndex) {
            var rest = text[start.upperBound ..< end.lowerBound]
            while let open = rest.range(of: "<weight ") ?? rest.range(of: "<weight\t") {
                guard let tagEnd = rest.range(of: ">", range: open.upperBound ..< rest.endIndex) else { throw fail("unterminated <weight> tag in <initrwgt>") }
                let attributes = rest[open.upperBound ..< tagEnd.lowerBound]
                guard let id = Self.attribute("id", in: attributes) else { throw fail("<weight> without id in <initrwgt>") }
                let close = rest.range(of: "</weight>", range: tagEnd.upperBound ..< rest.endIndex)
                let body = close.map { rest[tagEnd.upperBound ..< $0.lowerBound] } ?? ""
                if descriptions[id] == nil {
                    ids.append(id)
                    descriptions[id] = body.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                rest = rest[(close?.upperBound ?? tagEnd.upperBound)...]
            }
        }

        var events: [Event] = []
        var cursor = text.startIndex
        if let initEnd = text.range(of: "</init>") { cursor = initEnd.upperBound }
        var index: [String: Int] = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        while let open = text.range(of: "<event", range: cursor ..< text.endIndex) {
            // "<eventgroup" and the like are containers, not events.
            let next = text[open.upperBound...].first
            guard next == ">" || next == " " || next == "\t" || next == "\n" || next == "\r" else {
                cursor = open.upperBound
                continue
            }
            guard let tagEnd = text.range(of: ">", range: open.upperBound ..< text.endIndex),
                let close = text.range(of: "</event>", range: tagEnd.upperBound ..< text.endIndex)
            else { throw fail("event \(events.count): unterminated <event>") }
            let body = text[tagEnd.upperBound ..< close.lowerBound]
            cursor = close.upperBound
            let e = events.count
            guard e < Self.maximumEvents else {
                throw fail("more than \(Self.maximumEvents) events; the limit is \(Self.maximumEvents) per file (split the file and import the parts)")
            }
            func eventError(_ message: String) -> EventDatabaseError { fail("event \(e): \(message)") }

            // The event block proper: the lines before the first tag or comment.
            let lines = body.split(whereSeparator: \.isNewline).lazy.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            var iterator = lines.makeIterator()
            guard let header = iterator.next() else { throw eventError("empty event") }
            let info = header.split(whereSeparator: \.isWhitespace)
            guard info.count >= 3, let count = Int(info[0]), count >= 0, let weight = Self.number(info[2]) else {
                throw eventError("malformed event line \"\(header)\" (NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP)")
            }
            var particles: [Particle] = []
            particles.reserveCapacity(count)
            for i in 0 ..< count {
                guard let line = iterator.next() else { throw eventError("\(count) particles announced, \(i) found") }
                let f = line.split(whereSeparator: \.isWhitespace)
                guard f.count >= 11, let id = Int(f[0]), let status = Int(f[1]),
                    let px = Self.number(f[6]), let py = Self.number(f[7]), let pz = Self.number(f[8]),
                    let energy = Self.number(f[9]), let mass = Self.number(f[10])
                else { throw eventError("malformed particle line \(i + 1): \"\(line)\"") }
                particles.append(Particle(pdgID: id, status: status, momentum: FourMomentum(px: px, py: py, pz: pz, energy: energy), mass: mass))
            }

            var weights = [Double](repeating: .nan, count: ids.count)
            if let rwgt = body.range(of: "<rwgt>"), let rwgtEnd = body.range(of: "</rwgt>", range: rwgt.upperBound ..< body.endIndex) {
                var rest = body[rwgt.upperBound ..< rwgtEnd.lowerBound]
                while let w = rest.range(of: "<wgt") {
                    guard let wEnd = rest.range(of: ">", range: w.upperBound ..< rest.endIndex),
                        let wClose = rest.range(of: "</wgt>", range: wEnd.upperBound ..< rest.endIndex)
                    else { throw eventError("unterminated <wgt>") }
                    guard let id = Self.attribute("id", in: rest[w.upperBound ..< wEnd.lowerBound]) else { throw eventError("<wgt> without id") }
                    let valueText = rest[wEnd.upperBound ..< wClose.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
                    guard let value = Self.number(Substring(valueText)) else { throw eventError("weight \(id): \"\(valueText)\" is not a number") }
                    if index[id] == nil {
                        guard ids.count < Self.maximumWeightIDs else {
                            throw eventError("more than \(Self.maximumWeightIDs) distinct weight ids; the limit is \(Self.maximumWeightIDs)")
                        }
                        // Undeclared ids are accepted (older MadGraph writes no <initrwgt>) and appended.
                        index[id] = ids.count
                        ids.append(id)
                        weights.append(.nan)
                        for k in events.indices { events[k] = Event(particles: events[k].particles, weight: events[k].weight, weights: events[k].weights + [.nan]) }
                    }
                    weights[index[id]!] = value
                    rest = rest[wClose.upperBound...]
                }
            }
            events.append(Event(particles: particles, weight: weight, weights: weights))
        }
        guard !events.isEmpty else { throw fail("no <event> blocks") }
        weightIDs = ids
        weightDescriptions = descriptions
        self.events = events
    }

    /// The value of `name="…"` or `name='…'` among a tag's attributes.
    private static func attribute(_ name: String, in attributes: Substring) -> String? {
        for quote in ["\"", "'"] {
            for spacing in ["=", " = ", "= ", " ="] {
                if let r = attributes.range(of: name + spacing + quote), let end = attributes.range(of: quote, range: r.upperBound ..< attributes.endIndex) {
                    // Require a word boundary before the name ("id" must not match "wid").
                    if r.lowerBound == attributes.startIndex || attributes[attributes.index(before: r.lowerBound)].isWhitespace {
                        return String(attributes[r.upperBound ..< end.lowerBound])
                    }
                }
            }
        }
        return nil
    }

    /// A Fortran-style number: `-.84258804E+02`, `0.1D+01`.
    private static func number(_ text: Substring) -> Double? {
        if let value = Double(text) { return value }
        if text.hasPrefix("-.") || text.hasPrefix("+.") { return Double(text.prefix(1) + "0" + text.dropFirst()) }
        if text.hasPrefix(".") { return Double("0" + text) }
        if text.contains("D") || text.contains("d") { return Double(text.replacingOccurrences(of: "D", with: "E").replacingOccurrences(of: "d", with: "e")) }
        return nil
    }
}

/// An observable computed from an LHE event's four-momenta: a kinematic quantity of the sum of the
/// momenta of the particles selected by PDG id and status.
///
/// The V of VH(→bb) with a leptonic V is `.init(name: "pTV", unit: "GeV", quantity: .transverseMomentum,
/// pdgIDs: [11, 12, 13, 14, 15, 16])` (charged leptons and neutrinos, particles and antiparticles);
/// `mbb` is `.invariantMass` of `[5]`.
public struct LHEObservable: Sendable, Hashable {
    public enum Quantity: Sendable, Hashable {
        case transverseMomentum
        case pseudorapidity
        case absolutePseudorapidity
        case rapidity
        case invariantMass
        case energy
        /// The number of selected particles (a multiplicity, dimensionless).
        case count
    }

    public let name: String
    public let unit: String
    public let quantity: Quantity
    /// PDG ids; a particle is selected when `|IDUP|` is in the set (so `11` selects e⁻ and e⁺).
    public let pdgIDs: Set<Int>
    /// `ISTUP` values selected; default the final state, 1.
    public let statuses: Set<Int>

    public init(name: String, unit: String, quantity: Quantity, pdgIDs: Set<Int>, statuses: Set<Int> = [1]) {
        self.name = name
        self.unit = unit
        self.quantity = quantity
        self.pdgIDs = pdgIDs
        self.statuses = statuses
    }

    /// The sum of the selected four-momenta of `event`.
    public func selectedMomentum(of event: LHEFile.Event) -> FourMomentum {
        event.particles.reduce(into: FourMomentum.zero) { sum, p in
            if statuses.contains(p.status) && pdgIDs.contains(abs(p.pdgID)) { sum = sum + p.momentum }
        }
    }

    /// The observable's value for `event`.
    public func value(of event: LHEFile.Event) -> Double {
        let p = selectedMomentum(of: event)
        switch quantity {
        case .transverseMomentum: return p.transverseMomentum
        case .pseudorapidity: return p.pseudorapidity
        case .absolutePseudorapidity: return abs(p.pseudorapidity)
        case .rapidity: return p.rapidity
        case .invariantMass: return p.mass
        case .energy: return p.energy
        case .count: return Double(event.particles.filter { statuses.contains($0.status) && pdgIDs.contains(abs($0.pdgID)) }.count)
        }
    }
}

extension LHEFile {
    /// Converts the events into an event database by solving the morphing system event by event.
    ///
    /// With benchmark points `c^(k)` (the points the weights `w_ek` were reweighted to) and the
    /// monomials `m_t`, the morphing matrix is `M_kt = m_t(c^(k))`, and each event's coefficients are
    ///
    /// ```
    /// a_et = Σ_k M⁺_tk w_ek
    /// ```
    ///
    /// (``Morphing/BenchmarkMorphing``: the inverse for as many points as monomials, the least-squares
    /// solution for more), so that `w_e(c) = Σ_t a_et m_t(c)` reproduces the generator's weights at
    /// every benchmark. LHE weights carry about 5–7 significant digits, which the solve amplifies by
    /// up to the condition number `κ(M)`; choose benchmarks with a small `κ`.
    ///
    /// - Parameters:
    ///   - benchmarks: weight id → benchmark point (one value per entry of `coefficientNames`).
    ///   - monomials: the terms `m_t`, e.g. `Monomial.all(upToDegree: 2, coefficientCount: C)`.
    ///   - observables: the observables to compute from the four-momenta.
    ///   - weightScale: multiplies every weight (e.g. `L/N` to turn MadGraph's per-event cross section into events).
    /// - Returns: the database and the solved morphing system (condition number, weights).
    /// - Throws: ``EventDatabaseError`` for an unknown weight id, an event without a weight for a
    ///   benchmark, a singular morphing system, or an observable that is not finite in an event.
    /// - Complexity: O(N·(T·K + particles·observables)).
    public func eventDatabase(
        benchmarks: [(weightID: String, point: [Double])], coefficientNames: [String], monomials: [Monomial],
        observables: [LHEObservable], provenance: EventDatabase.Provenance, weightScale: Double = 1
    ) throws(EventDatabaseError) -> (database: EventDatabase, morphing: BenchmarkMorphing) {
        var columns: [Int] = []
        for (id, _) in benchmarks {
            guard let k = weightIDs.firstIndex(of: id) else {
                throw EventDatabaseError(.names, "no weight with id \"\(id)\"; the file declares \(weightIDs)")
            }
            columns.append(k)
        }
        let morphing: BenchmarkMorphing
        do throws(MorphingError) {
            morphing = try BenchmarkMorphing(coefficientNames: coefficientNames, monomials: monomials, benchmarks: benchmarks.map(\.point))
        } catch {
            throw EventDatabaseError(.invalidValue, "cannot solve the morphing system of the benchmark weights: \(error)")
        }
        let N = events.count, T = monomials.count
        var coefficients = [[Double]](repeating: [Double](repeating: 0, count: N), count: T)
        for (e, event) in events.enumerated() {
            for (k, column) in columns.enumerated() {
                let w = event.weights[column]
                guard w.isFinite else {
                    throw EventDatabaseError(.missing, "event \(e) has no finite weight \"\(benchmarks[k].weightID)\"")
                }
                for t in 0 ..< T { coefficients[t][e] += morphing.pseudoInverse[t][k] * w * weightScale }
            }
        }
        var columnsOut: [EventDatabase.Observable] = []
        for observable in observables {
            let values = events.map { observable.value(of: $0) }
            if let e = values.firstIndex(where: { !$0.isFinite }) {
                throw EventDatabaseError(
                    .invalidValue, "observable \(observable.name) is \(values[e]) in event \(e) (selected momentum \(observable.selectedMomentum(of: events[e])))",
                    dataset: "/observables/\(observable.name)")
            }
            columnsOut.append(EventDatabase.Observable(name: observable.name, unit: observable.unit, values: values))
        }
        let database = try EventDatabase(
            provenance: provenance, coefficientNames: coefficientNames, monomials: monomials, basisCoefficients: coefficients,
            observables: columnsOut)
        return (database, morphing)
    }
}
