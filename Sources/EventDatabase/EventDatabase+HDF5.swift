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
    /// Float32 columns are accepted and widened. Every column is checked for its length (one
    /// entry per event, `event_count`) and for NaN and infinities, and the coefficient columns for
    /// a one-to-one match with `/monomials`. efthf's own layout (contiguous little-endian float64)
    /// is read with `pread` straight into each array, in 8 MiB pieces on all cores.
    ///
    /// - Throws: ``EventDatabaseError`` naming the file and the dataset at fault.
    /// - Complexity: O(N·(T + observables + systematics)): one read of each column into its final
    ///   array, then one validating pass.
    public init(contentsOf url: URL) throws(EventDatabaseError) {
        let file = url.path
        do throws(EventDatabaseError) {
            self = try _HDF5.withLock { () throws(EventDatabaseError) in try Self.read(_H5Location.open(file: file)) }
        } catch {
            throw EventDatabaseError(error.code, error.message, file: file, dataset: error.dataset)
        }
    }

    private static func read(_ root: _H5Location) throws(EventDatabaseError) -> EventDatabase {
        let tag = root.hasAttribute("format") ? try root.stringAttribute("format") : "(none)"
        guard tag == _Layout.formatTag else {
            throw root.error(.format, "format attribute is \"\(tag)\", expected \"\(_Layout.formatTag)\"")
        }
        let version = try root.doublesAttribute("format_version")
        guard version == [Double(_Layout.formatVersion)] else {
            throw root.error(.format, "format_version \(version) is not supported (this reader knows \(_Layout.formatVersion))")
        }
        let provenance = Provenance(
            generator: try root.stringAttribute("generator"),
            eftBasis: try root.stringAttribute("eft_basis"),
            lambda: try scalar(root, "lambda_GeV"),
            normalisation: try root.stringAttribute("normalisation"),
            weightUnit: try root.stringAttribute("weight_unit")
        )
        let countValue = try scalar(root, "event_count")
        guard countValue >= 0, countValue == countValue.rounded() else { throw root.error(.invalidValue, "event_count \(countValue) is not a count") }
        let N = Int(countValue)

        let coefficientNames = try root.readStrings("wilson_coefficients")
        let monomialNames = try root.readStrings("monomials")
        var monomials: [Monomial] = []
        for name in monomialNames {
            monomials.append(try monomial(named: name, coefficientNames: coefficientNames, file: root.file, dataset: "/monomials"))
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

        let coefficientGroup = try root.group("coefficients")
        let stored = Set(try coefficientGroup.memberNames())
        let canonical = monomials.map { name(of: $0, coefficientNames: coefficientNames) }
        if let extra = stored.subtracting(canonical).sorted().first {
            throw root.error(.names, "column \"\(extra)\" is not one of the monomials \(canonical) listed in /monomials", dataset: "/coefficients/\(extra)")
        }
        var columns: [[Double]] = []
        for (t, name) in canonical.enumerated() {
            guard stored.contains(name) else {
                throw root.error(.missing, "missing coefficient column for monomial \"\(monomialNames[t])\"", dataset: "/coefficients/\(name)")
            }
            columns.append(try column(coefficientGroup, name, N))
        }

        let weightGroup = try root.group("weights")
        let nominal = try column(weightGroup, "nominal", N)
        let nominalObject = try weightGroup.object("nominal")
        let reference = nominalObject.hasAttribute("reference_point") ? try nominalObject.doublesAttribute("reference_point") : nil

        let observableGroup = try root.group("observables")
        var observables: [Observable] = []
        for name in try observableGroup.memberNames() {
            let object = try observableGroup.object(name)
            let unit = object.hasAttribute("unit") ? try object.stringAttribute("unit") : ""
            observables.append(Observable(name: name, unit: unit, values: try column(observableGroup, name, N)))
        }

        var variations: [WeightVariation] = []
        var shifts: [ObservableShift] = []
        if root.exists("systematics") {
            let systematics = try root.group("systematics")
            if systematics.exists("weights") {
                let group = try systematics.group("weights")
                for name in try group.memberNames() {
                    let g = try group.group(name)
                    variations.append(WeightVariation(name: name, up: try column(g, "up", N), down: try column(g, "down", N)))
                }
            }
            if systematics.exists("shifts") {
                let group = try systematics.group("shifts")
                for name in try group.memberNames() {
                    let g = try group.group(name)
                    for observable in try g.memberNames() {
                        let o = try g.group(observable)
                        shifts.append(ObservableShift(name: name, observable: observable, up: try column(o, "up", N), down: try column(o, "down", N)))
                    }
                }
            }
        }
        return try EventDatabase(
            provenance: provenance, coefficientNames: coefficientNames, monomials: monomials, basisCoefficients: columns,
            referencePoint: reference, nominalWeights: nominal, observables: observables,
            weightVariations: variations, observableShifts: shifts)
    }

    private static func scalar(_ location: _H5Location, _ name: String) throws(EventDatabaseError) -> Double {
        let values = try location.doublesAttribute(name)
        guard values.count == 1 else { throw location.error(.shape, "attribute \(name) has \(values.count) values, expected one") }
        return values[0]
    }

    /// A float column of `N` events, checked for length (finiteness: once, by `EventDatabase.init`).
    private static func column(_ location: _H5Location, _ name: String, _ N: Int) throws(EventDatabaseError) -> [Double] {
        let (values, shape) = try location.readDoubles(name, expectedShape: [nil])
        guard shape == [N] else { throw location.error(.shape, "\(shape[0]) entries, expected event_count = \(N)", dataset: location.childPath(name)) }
        return values
    }
}
