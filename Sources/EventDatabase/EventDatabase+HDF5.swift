import Foundation
import Morphing

/// Names of the HDF5 layout (Specs/event-database.md).
internal enum _Layout {
    static let formatTag = "efthf-event-database"
    static let formatVersion: Int64 = 1
}

extension EventDatabase {
    /// Writes the database to `url` in the layout of Specs/event-database.md.
    ///
    /// The file is written under a temporary name in the same directory and renamed over `url`
    /// when complete (`rename(2)` is atomic within a file system), so readers never see a partial
    /// file and a failed write leaves an existing file untouched.
    ///
    /// - Complexity: O(N·(T + observables + systematics)); datasets are contiguous and
    ///   uncompressed, so reading them back is a straight copy.
    public func write(to url: URL) throws(EventDatabaseError) {
        let target = url.standardizedFileURL.path
        let directory = url.standardizedFileURL.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do throws(EventDatabaseError) {
            try _HDF5.withLock { () throws(EventDatabaseError) in
                let root = try _H5Location.create(file: temporary)
                try _writeContents(root)
                guard root.handle.closeNow() else { throw EventDatabaseError(.io, "cannot close HDF5 file", file: temporary) }
            }
            guard rename(temporary, target) == 0 else {
                throw EventDatabaseError(.io, "cannot rename the temporary file into place: \(String(cString: strerror(errno)))", file: target)
            }
        } catch {
            unlink(temporary)
            throw EventDatabaseError(error.code, error.message, file: target, dataset: error.dataset)
        }
    }

    internal func _writeContents(_ root: _H5Location) throws(EventDatabaseError) {
        try root.writeAttribute("format", string: _Layout.formatTag)
        try root.writeAttribute("format_version", integer: _Layout.formatVersion)
        try root.writeAttribute("generator", string: provenance.generator)
        try root.writeAttribute("eft_basis", string: provenance.eftBasis)
        try root.writeAttribute("lambda_GeV", double: provenance.lambda)
        try root.writeAttribute("normalisation", string: provenance.normalisation)
        try root.writeAttribute("weight_unit", string: provenance.weightUnit)
        try root.writeAttribute("event_count", integer: Int64(eventCount))

        let names = monomials.map { Self.name(of: $0, coefficientNames: coefficientNames) }
        try root.writeStrings("wilson_coefficients", coefficientNames)
        try root.writeStrings("monomials", names)
        let exponents = monomials.flatMap { $0.exponents(count: coefficientNames.count).map(Int64.init) }
        try root.writeIntegers("monomial_exponents", exponents, shape: [monomials.count, coefficientNames.count])

        let coefficients = try root.createGroup("coefficients")
        for (t, column) in basisCoefficients.enumerated() { try coefficients.writeDoubles(names[t], column) }

        let weights = try root.createGroup("weights")
        try weights.writeDoubles("nominal", nominalWeights)
        try weights.object("nominal").writeAttribute("reference_point", doubles: referencePoint)

        let observableGroup = try root.createGroup("observables")
        for observable in observables {
            try observableGroup.writeDoubles(observable.name, observable.values)
            try observableGroup.object(observable.name).writeAttribute("unit", string: observable.unit)
        }

        let systematics = try root.createGroup("systematics")
        let weightGroup = try systematics.createGroup("weights")
        for variation in weightVariations {
            let group = try weightGroup.createGroup(variation.name)
            try group.writeDoubles("up", variation.up)
            try group.writeDoubles("down", variation.down)
        }
        let shiftGroup = try systematics.createGroup("shifts")
        var shiftGroups: [String: _H5Location] = [:]
        for shift in observableShifts {
            if shiftGroups[shift.name] == nil { shiftGroups[shift.name] = try shiftGroup.createGroup(shift.name) }
            let group = try shiftGroups[shift.name]!.createGroup(shift.observable)
            try group.writeDoubles("up", shift.up)
            try group.writeDoubles("down", shift.down)
        }
    }

    /// Reads the event database at `url` (Specs/event-database.md).
    ///
    /// Float32, big-endian and chunked (gzip- or shuffle-filtered) columns are accepted and read
    /// through HDF5. Every column is checked for its length (one entry per event, `event_count`) and
    /// for NaN and infinities, and the coefficient columns for a one-to-one match with `/monomials`
    /// by the monomial they name, in any spelling (``monomial(named:coefficientNames:file:dataset:)``).
    /// Without `/weights/nominal` the nominal weights are computed at the SM. The metadata are read through HDF5 first; then
    /// efthf's own layout (contiguous little-endian float64) is copied with sequential `pread`s in
    /// file order straight into the arrays, each piece checked for finiteness while in cache
    /// (``_DirectRead``), outside the HDF5 lock.
    ///
    /// - Throws: ``EventDatabaseError`` naming the file and the dataset at fault.
    /// - Complexity: O(N·(T + observables + systematics)): one sequential read of the file's
    ///   columns, with the finiteness check fused into it, and one pass over the nominal weights.
    public init(contentsOf url: URL) throws(EventDatabaseError) {
        let file = url.path
        do throws(EventDatabaseError) {
            let layout = try _HDF5.withLock { () throws(EventDatabaseError) in try _FileLayout(_H5Location.open(file: file)) }
            self = try layout.load()
        } catch {
            throw EventDatabaseError(error.code, error.message, file: file, dataset: error.dataset)
        }
    }
}

/// Where a per-event column is: its HDF5 path and, for efthf's own layout (contiguous little-endian
/// float64), the file offset of its values; nil when HDF5 must read (and convert) them.
internal struct _ColumnLocation: Sendable, Hashable {
    let dataset: String
    let offset: Int?
}

/// What ``EventDatabase/init(contentsOf:)`` learns from a file's metadata: everything but the
/// per-event columns, which are located (none is read).
internal struct _FileLayout: Sendable {
    let file: String
    let provenance: EventDatabase.Provenance
    let eventCount: Int
    let coefficientNames: [String]
    let monomials: [Monomial]
    let referencePoint: [Double]?
    /// Indices into `columns`.
    let coefficientColumns: [Int]
    /// Nil when the file has no `/weights/nominal`.
    let nominalColumn: Int?
    let observables: [(name: String, unit: String, column: Int)]
    let weightVariations: [(name: String, up: Int, down: Int)]
    let observableShifts: [(name: String, observable: String, up: Int, down: Int)]
    /// Every per-event column: its HDF5 path and where its values are.
    let columns: [_ColumnLocation]

    /// Reads the metadata (under the HDF5 lock: the caller holds it).
    init(_ root: _H5Location) throws(EventDatabaseError) {
        file = root.file
        let tag = root.hasAttribute("format") ? try root.stringAttribute("format") : "(none)"
        guard tag == _Layout.formatTag else {
            throw root.error(.format, "format attribute is \"\(tag)\", expected \"\(_Layout.formatTag)\"")
        }
        let version = try root.doublesAttribute("format_version")
        guard version == [Double(_Layout.formatVersion)] else {
            throw root.error(.format, "format_version \(version) is not supported (this reader knows \(_Layout.formatVersion))")
        }
        provenance = EventDatabase.Provenance(
            generator: try root.stringAttribute("generator"),
            eftBasis: try root.stringAttribute("eft_basis"),
            lambda: try Self.scalar(root, "lambda_GeV"),
            normalisation: try root.stringAttribute("normalisation"),
            weightUnit: try root.stringAttribute("weight_unit")
        )
        let countValue = try Self.scalar(root, "event_count")
        guard countValue >= 0, countValue == countValue.rounded() else { throw root.error(.invalidValue, "event_count \(countValue) is not a count") }
        let N = Int(countValue)
        eventCount = N

        let coefficientNames = try root.readStrings("wilson_coefficients")
        let monomialNames = try root.readStrings("monomials")
        var monomials: [Monomial] = []
        for name in monomialNames {
            monomials.append(try EventDatabase.monomial(named: name, coefficientNames: coefficientNames, file: root.file, dataset: "/monomials"))
        }
        if root.exists("monomial_exponents") {
            let (exponents, shape) = try root.readIntegers("monomial_exponents")
            guard shape == [monomials.count, coefficientNames.count] else {
                throw root.error(.shape, "shape \(shape), expected [\(monomials.count), \(coefficientNames.count)] (monomials × Wilson coefficients)", dataset: "/monomial_exponents")
            }
            for (t, m) in monomials.enumerated() {
                let row = exponents[t * coefficientNames.count ..< (t + 1) * coefficientNames.count].map(Int.init)
                guard row == m.exponents(count: coefficientNames.count) else {
                    throw root.error(.names, "row \(t) \(row) disagrees with monomial \"\(monomialNames[t])\"", dataset: "/monomial_exponents")
                }
            }
        }
        self.coefficientNames = coefficientNames
        self.monomials = monomials

        var columns: [_ColumnLocation] = []
        /// Locates a float column of `N` events, checked for length; returns its index in `columns`.
        func column(_ location: _H5Location, _ name: String) throws(EventDatabaseError) -> Int {
            let (data, shape) = try location.floatData(name, expectedShape: [nil])
            guard shape == [N] else { throw location.error(.shape, "\(shape[0]) entries, expected event_count = \(N)", dataset: location.childPath(name)) }
            let offset: Int? = if case .stored(let offset) = data { offset } else { nil }
            columns.append(_ColumnLocation(dataset: location.childPath(name), offset: offset))
            return columns.count - 1
        }

        // Each dataset of /coefficients may spell its monomial differently from /monomials (factors
        // in another order, `1` for `SM`): columns are matched by the monomial they name.
        var termOfMonomial: [Monomial: Int] = [:]
        for (t, m) in monomials.enumerated() {
            if let first = termOfMonomial.updateValue(t, forKey: m) {
                throw root.error(.names, "entries \(first) (\"\(monomialNames[first])\") and \(t) (\"\(monomialNames[t])\") are the same monomial", dataset: "/monomials")
            }
        }
        let coefficientGroup = try root.group("coefficients")
        var storedName = [String?](repeating: nil, count: monomials.count)
        for name in try coefficientGroup.memberNames().sorted() {
            let dataset = "/coefficients/" + name
            let m = try EventDatabase.monomial(named: name, coefficientNames: coefficientNames, file: root.file, dataset: dataset)
            guard let t = termOfMonomial[m] else {
                throw root.error(.names, "column \"\(name)\" is not one of the monomials \(monomialNames) listed in /monomials", dataset: dataset)
            }
            if let other = storedName[t] {
                throw root.error(.names, "columns \"\(other)\" and \"\(name)\" both hold monomial \"\(monomialNames[t])\"", dataset: dataset)
            }
            storedName[t] = name
        }
        var coefficientColumns: [Int] = []
        for t in monomials.indices {
            guard let name = storedName[t] else {
                throw root.error(.missing, "missing coefficient column for monomial \"\(monomialNames[t])\"", dataset: "/coefficients/\(monomialNames[t])")
            }
            coefficientColumns.append(try column(coefficientGroup, name))
        }
        self.coefficientColumns = coefficientColumns

        // Optional: without it the weights at the SM are computed from the coefficients.
        if root.exists("weights"), try root.group("weights").exists("nominal") {
            let weightGroup = try root.group("weights")
            nominalColumn = try column(weightGroup, "nominal")
            let nominalObject = try weightGroup.object("nominal")
            referencePoint = nominalObject.hasAttribute("reference_point") ? try nominalObject.doublesAttribute("reference_point") : nil
        } else {
            nominalColumn = nil
            referencePoint = nil
        }

        let observableGroup = try root.group("observables")
        var observables: [(name: String, unit: String, column: Int)] = []
        for name in try observableGroup.memberNames() {
            let object = try observableGroup.object(name)
            let unit = object.hasAttribute("unit") ? try object.stringAttribute("unit") : ""
            observables.append((name, unit, try column(observableGroup, name)))
        }
        self.observables = observables

        var variations: [(name: String, up: Int, down: Int)] = []
        var shifts: [(name: String, observable: String, up: Int, down: Int)] = []
        if root.exists("systematics") {
            let systematics = try root.group("systematics")
            if systematics.exists("weights") {
                let group = try systematics.group("weights")
                for name in try group.memberNames() {
                    let g = try group.group(name)
                    variations.append((name, try column(g, "up"), try column(g, "down")))
                }
            }
            if systematics.exists("shifts") {
                let group = try systematics.group("shifts")
                for name in try group.memberNames() {
                    let g = try group.group(name)
                    for observable in try g.memberNames() {
                        let o = try g.group(observable)
                        shifts.append((name, observable, try column(o, "up"), try column(o, "down")))
                    }
                }
            }
        }
        weightVariations = variations
        observableShifts = shifts
        self.columns = columns
    }

    /// Reads the columns (the native ones outside the HDF5 lock) and validates the database.
    func load() throws(EventDatabaseError) -> EventDatabase {
        try _SystemMemory.checkAvailable(bytes: 8 * eventCount * columns.count, file: file, what: "the \(columns.count) columns of \(eventCount) events")
        let stored = columns.indices.compactMap { i -> (index: Int, offset: Int)? in columns[i].offset.map { (i, $0) } }
        var values = [[Double]](repeating: [], count: columns.count)
        switch _DirectRead.readColumns(file: file, stored.map { ($0.offset, eventCount) }, checkFinite: true) {
        case .success(let read):
            for (k, s) in stored.enumerated() { values[s.index] = read[k] }
        case .failure(let failure):
            throw EventDatabaseError(failure.errorNumber == 0 ? .invalidValue : .io, failure.message, file: file, dataset: columns[stored[failure.column].index].dataset)
        }
        for (i, column) in columns.enumerated() where column.offset == nil {
            values[i] = try readThroughHDF5(i, range: 0 ..< eventCount)
            try EventDatabase.checkColumn(values[i], count: eventCount, dataset: column.dataset, file: file)
        }
        return try EventDatabase(
            provenance: provenance, coefficientNames: coefficientNames, monomials: monomials,
            basisCoefficients: coefficientColumns.map { values[$0] }, referencePoint: referencePoint, nominalWeights: nominalColumn.map { values[$0] },
            observables: observables.map { EventDatabase.Observable(name: $0.name, unit: $0.unit, values: values[$0.column]) },
            weightVariations: weightVariations.map { EventDatabase.WeightVariation(name: $0.name, up: values[$0.up], down: values[$0.down]) },
            observableShifts: observableShifts.map { EventDatabase.ObservableShift(name: $0.name, observable: $0.observable, up: values[$0.up], down: values[$0.down]) },
            columnsAreFinite: true)
    }

    /// Events `range` of column `i` read through HDF5 (a hyperslab), not checked for finiteness.
    func readThroughHDF5(_ i: Int, range: Range<Int>) throws(EventDatabaseError) -> [Double] {
        var status: EventDatabaseError? = nil
        let values = [Double](unsafeUninitializedCapacity: range.count) { buffer, initialized in
            buffer.initialize(repeating: 0)
            initialized = range.count
            do throws(EventDatabaseError) {
                try _H5Location.readHyperslab(file: file, dataset: columns[i].dataset, start: range.lowerBound, into: buffer)
            } catch {
                status = error
            }
        }
        if let status { throw status }
        return values
    }

    private static func scalar(_ location: _H5Location, _ name: String) throws(EventDatabaseError) -> Double {
        let values = try location.doublesAttribute(name)
        guard values.count == 1 else { throw location.error(.shape, "attribute \(name) has \(values.count) values, expected one") }
        return values[0]
    }
}
