import Foundation
import Morphing

/// A MadMiner HDF5 file (J. Brehmer, F. Kling, I. Espejo, K. Cranmer, arXiv:1907.10621): the
/// parameter space, the benchmarks, the morphing setup and, when the file has them, events with
/// their weights at every benchmark.
///
/// MadMiner's layout (`madminer/utils/interfaces/hdf5.py`; h5py, names as fixed-length `S256`):
///
/// | dataset | shape | meaning |
/// |---|---|---|
/// | `parameters/names`, `lha_blocks`, `lha_ids`, `transforms` | `(P,)` | the parameters `θ_p` |
/// | `parameters/max_power` | `(P,)` or `(P, k)` | highest power of `θ_p` in the morphing |
/// | `parameters/ranges` (older) or `parameters/val_ranges` (newer) | `(P, 2)` | the parameter ranges |
/// | `benchmarks/names`, `benchmarks/values` | `(B,)`, `(B, P)` | the benchmark points `θ^(b)` |
/// | `benchmarks/is_nuisance` (optional) | `(B,)` int | nuisance benchmarks (systematics, not physics points) |
/// | `morphing/components` | `(C, P)` int | exponents: component `c` is `Π_p θ_p^components[c,p]` |
/// | `morphing/morphing_matrix` | `(C, n)` | the morphing matrix over the first `n` physics benchmarks |
/// | `observables/names`, `observables/definitions` | `(O,)` | observable names and their expressions |
/// | `samples/observations` | `(N, O)` | observable values per event |
/// | `samples/weights` | `(N, B)` | event weights at every benchmark (MadMiner: pb, `Σ_e w_eb = σ(θ^(b))`) |
///
/// Morphing convention (checked on the tutorial's setup file and at every import):
///
/// ```
/// w_b(θ) = Σ_c M[c, b] Π_p θ_p^components[c, p],       w_e(θ) = Σ_b w_b(θ) w_eb
/// ```
///
/// so the basis coefficient of event `e` for component (monomial) `c` is
///
/// ```
/// a_ec = Σ_b M[c, b] w_eb
/// ```
///
/// and `w_e(θ) = Σ_c a_ec Π_p θ_p^components[c,p]` exactly (``eventDatabase(provenance:observableUnits:method:)``).
public struct MadMinerFile: Sendable {
    public struct Parameter: Sendable, Hashable {
        public let name: String
        /// The LHA block and id of the parameter in the param card (e.g. `dim6`, 2).
        public let lhaBlock: String?
        public let lhaID: Int?
        /// The highest power of `θ_p` in the morphing, per component set (usually one entry).
        public let maximumPower: [Int]
        /// The parameter range `[lower, upper]` (MadMiner's `ranges` or `val_ranges`).
        public let range: [Double]
        /// The transform of the parameter card entry (e.g. `theta`), if any.
        public let transform: String?
    }

    public struct Benchmark: Sendable, Hashable {
        public let name: String
        /// `θ^(b)`, one value per parameter.
        public let values: [Double]
        /// A nuisance benchmark (a systematic variation), not a point in parameter space.
        public let isNuisance: Bool
    }

    /// How per-event benchmark weights are turned into basis coefficients.
    public enum Conversion: Sendable, Hashable {
        /// `a_ec = Σ_b M[c,b] w_eb` with the file's own morphing matrix over its morphing basis.
        case morphingMatrix
        /// The least-squares solution over every physics benchmark (``Morphing/BenchmarkMorphing``):
        /// useful when the file has more benchmarks than components and the weights carry rounding.
        case leastSquaresOverAllBenchmarks
    }

    /// The file read.
    public let path: String
    public let parameters: [Parameter]
    public let benchmarks: [Benchmark]
    /// `components[c][p]`: the power of parameter `p` in component `c` (`nil` without a morphing setup).
    public let morphingComponents: [[Int]]?
    /// `M[c][b]` over the benchmarks ``morphingBasis`` (`nil` without a morphing setup).
    public let morphingMatrix: [[Double]]?
    /// The indices into ``benchmarks`` of the morphing basis: the columns of ``morphingMatrix``.
    public let morphingBasis: [Int]
    public let observableNames: [String]
    /// MadMiner's observable expressions (e.g. `p[0].pt`), empty strings for function observables.
    public let observableDefinitions: [String]
    /// The number of events in `samples/weights` (0 for a setup file).
    public let eventCount: Int

    public var parameterNames: [String] { parameters.map(\.name) }

    /// The morphing components as monomials in the parameters, in the file's order.
    public var monomials: [Monomial] { (morphingComponents ?? []).map { Monomial(exponents: $0) } }

    /// The morphing weights `w_b(θ) = Σ_c M[c,b] Π_p θ_p^components[c,p]`, one per basis benchmark.
    ///
    /// - Precondition: the file has a morphing setup and `theta` has one value per parameter.
    public func morphingWeights(at theta: [Double]) -> [Double] {
        precondition(theta.count == parameters.count, "\(theta.count) parameter values, expected \(parameters.count)")
        guard let matrix = morphingMatrix else { preconditionFailure("the file has no morphing setup") }
        let m = monomials.map { $0.value(at: theta) }
        return morphingBasis.indices.map { b in zip(m, matrix).reduce(0) { $0 + $1.0 * $1.1[b] } }
    }

    /// Reads the setup (parameters, benchmarks, morphing, observable names) and the event count;
    /// the events themselves are read by ``eventDatabase(provenance:observableUnits:method:)``.
    ///
    /// Both `parameters/ranges` (MadMiner before 0.9) and `parameters/val_ranges` are accepted. The
    /// morphing basis is the first `n` non-nuisance benchmarks, `n` the column count of the matrix;
    /// the convention is checked: `w_b(θ^(k)) = δ_bk` within 10⁻⁶ for the basis points.
    ///
    /// - Throws: ``EventDatabaseError`` naming the file and dataset when a dataset is missing, has
    ///   the wrong shape or type, or the morphing matrix does not satisfy the convention.
    public init(contentsOf url: URL) throws(EventDatabaseError) {
        let file = url.path
        do throws(EventDatabaseError) {
            self = try _HDF5.withLock { () throws(EventDatabaseError) in try Self.readSetup(_H5Location.open(file: file)) }
        } catch {
            throw EventDatabaseError(error.code, error.message, file: file, dataset: error.dataset)
        }
    }

    private init(
        path: String, parameters: [Parameter], benchmarks: [Benchmark], morphingComponents: [[Int]]?, morphingMatrix: [[Double]]?,
        morphingBasis: [Int], observableNames: [String], observableDefinitions: [String], eventCount: Int
    ) {
        self.path = path
        self.parameters = parameters
        self.benchmarks = benchmarks
        self.morphingComponents = morphingComponents
        self.morphingMatrix = morphingMatrix
        self.morphingBasis = morphingBasis
        self.observableNames = observableNames
        self.observableDefinitions = observableDefinitions
        self.eventCount = eventCount
    }

    private static func readSetup(_ root: _H5Location) throws(EventDatabaseError) -> MadMinerFile {
        let parameterGroup = try root.group("parameters")
        let names = try parameterGroup.readStrings("names")
        let P = names.count
        func optionalStrings(_ name: String) throws(EventDatabaseError) -> [String]? {
            guard parameterGroup.exists(name) else { return nil }
            let values = try parameterGroup.readStrings(name)
            guard values.count == P else { throw parameterGroup.error(.shape, "\(values.count) entries for \(P) parameters", dataset: parameterGroup.childPath(name)) }
            return values
        }
        let blocks = try optionalStrings("lha_blocks")
        let transforms = try optionalStrings("transforms")
        var ids: [Int64]?
        if parameterGroup.exists("lha_ids") {
            let (values, shape) = try parameterGroup.readIntegers("lha_ids")
            guard shape == [P] else { throw parameterGroup.error(.shape, "shape \(shape), expected [\(P)]", dataset: parameterGroup.childPath("lha_ids")) }
            ids = values
        }
        var maxPower = [[Int]](repeating: [], count: P)
        if parameterGroup.exists("max_power") {
            let (values, shape) = try parameterGroup.readIntegers("max_power")
            guard shape.first == P, shape.count <= 2 else {
                throw parameterGroup.error(.shape, "shape \(shape), expected [\(P)] or [\(P), k]", dataset: parameterGroup.childPath("max_power"))
            }
            let k = shape.count == 2 ? shape[1] : 1
            maxPower = (0 ..< P).map { p in values[p * k ..< (p + 1) * k].map(Int.init) }
        }
        let rangeName = parameterGroup.exists("val_ranges") ? "val_ranges" : "ranges"
        guard parameterGroup.exists(rangeName) else {
            throw parameterGroup.error(.missing, "missing dataset: neither parameters/ranges nor parameters/val_ranges", dataset: parameterGroup.childPath("ranges"))
        }
        let (ranges, _) = try parameterGroup.readDoubles(rangeName, expectedShape: [P, 2])
        let parameters = (0 ..< P).map { p in
            Parameter(
                name: names[p], lhaBlock: blocks?[p], lhaID: ids.map { Int($0[p]) }, maximumPower: maxPower[p],
                range: [ranges[2 * p], ranges[2 * p + 1]], transform: transforms.map { $0[p].isEmpty ? nil : $0[p] } ?? nil)
        }

        let benchmarkGroup = try root.group("benchmarks")
        let benchmarkNames = try benchmarkGroup.readStrings("names")
        let B = benchmarkNames.count
        let (values, _) = try benchmarkGroup.readDoubles("values", expectedShape: [B, P])
        var nuisance = [Bool](repeating: false, count: B)
        if benchmarkGroup.exists("is_nuisance") {
            let (flags, shape) = try benchmarkGroup.readIntegers("is_nuisance")
            guard shape == [B] else { throw benchmarkGroup.error(.shape, "shape \(shape), expected [\(B)]", dataset: benchmarkGroup.childPath("is_nuisance")) }
            nuisance = flags.map { $0 != 0 }
        }
        let benchmarks = (0 ..< B).map { b in
            Benchmark(name: benchmarkNames[b], values: Array(values[b * P ..< (b + 1) * P]), isNuisance: nuisance[b])
        }

        var components: [[Int]]?
        var matrix: [[Double]]?
        var basis: [Int] = []
        if root.exists("morphing") {
            let morphing = try root.group("morphing")
            let (exponents, shape) = try morphing.readIntegers("components")
            guard shape.count == 2, shape[1] == P, shape[0] >= 1 else {
                throw morphing.error(.shape, "shape \(shape), expected [components, \(P) parameters]", dataset: morphing.childPath("components"))
            }
            let C = shape[0]
            guard exponents.allSatisfy({ $0 >= 0 }) else {
                throw morphing.error(.invalidValue, "negative exponent in \(exponents)", dataset: morphing.childPath("components"))
            }
            components = (0 ..< C).map { c in exponents[c * P ..< (c + 1) * P].map(Int.init) }
            let (m, matrixShape) = try morphing.readDoubles("morphing_matrix", expectedShape: [C, nil])
            let n = matrixShape[1]
            basis = Array(benchmarks.indices.filter { !benchmarks[$0].isNuisance }.prefix(n))
            guard basis.count == n else {
                throw morphing.error(.shape, "\(n) columns but only \(basis.count) physics benchmarks", dataset: morphing.childPath("morphing_matrix"))
            }
            guard m.allSatisfy(\.isFinite) else { throw morphing.error(.invalidValue, "non-finite entry", dataset: morphing.childPath("morphing_matrix")) }
            matrix = (0 ..< C).map { c in Array(m[c * n ..< (c + 1) * n]) }
        }

        var observableNames: [String] = [], definitions: [String] = []
        if root.exists("observables/names") {
            let group = try root.group("observables")
            observableNames = try group.readStrings("names")
            definitions = group.exists("definitions") ? try group.readStrings("definitions") : []
            if definitions.count != observableNames.count { definitions = [String](repeating: "", count: observableNames.count) }
        }
        var eventCount = 0
        if root.exists("samples/weights") {
            let samples = try root.group("samples")
            let shape = try samples.datasetShape("weights")
            guard shape.count == 2, shape[1] == B else {
                throw samples.error(.shape, "shape \(shape), expected [events, \(B) benchmarks]", dataset: samples.childPath("weights"))
            }
            eventCount = shape[0]
        }

        let file = MadMinerFile(
            path: root.file, parameters: parameters, benchmarks: benchmarks, morphingComponents: components, morphingMatrix: matrix,
            morphingBasis: basis, observableNames: observableNames, observableDefinitions: definitions, eventCount: eventCount)
        if matrix != nil {
            for (k, b) in basis.enumerated() {
                let w = file.morphingWeights(at: benchmarks[b].values)
                for (j, value) in w.enumerated() where abs(value - (j == k ? 1 : 0)) > 1e-6 {
                    throw root.error(
                        .format,
                        "morphing weight \(j) at basis benchmark \(benchmarks[b].name) is \(value), expected \(j == k ? 1 : 0): the matrix does not follow w_b(θ) = Σ_c M[c,b] Π_p θ_p^components[c,p] over the first \(basis.count) physics benchmarks",
                        dataset: "/morphing/morphing_matrix")
                }
            }
        }
        return file
    }

    /// The largest disagreement found when checking imported coefficients against the weights at
    /// the physics benchmarks outside the morphing basis.
    public struct ImportCheck: Sendable {
        /// `max_b Σ_e |Σ_c a_ec m_c(θ^(b)) − w_eb| / Σ_e |w_eb|` over physics benchmarks not in the
        /// basis (0 when there are none): how well the morphing reproduces the generator's weights.
        public let largestRelativeResidual: Double
        /// The benchmark where it occurs.
        public let benchmark: String?
    }

    /// Converts the file's events into an event database: per-event basis coefficients for the
    /// morphing components (``Conversion``), the observables of `samples/observations`, nominal
    /// weights at the SM (`θ = 0`).
    ///
    /// Nuisance benchmarks are not imported (their weights are systematic variations in MadMiner's
    /// own parametrisation, not points in `θ`). Observables with a NaN in any event (MadMiner's
    /// marker for "not computable") are an error naming the observable: apply MadMiner's cuts first.
    ///
    /// - Parameters:
    ///   - provenance: generator, basis, `Λ` and normalisation, which MadMiner files do not record;
    ///     MadMiner's weights are cross sections in pb, so `weightUnit` is usually `pb`.
    ///   - observableUnits: units by observable name (default: empty, dimensionless).
    /// - Returns: the database and the check of the coefficients against the non-basis benchmarks.
    /// - Complexity: O(N·(B·C + O)).
    public func eventDatabase(
        provenance: EventDatabase.Provenance, observableUnits: [String: String] = [:], method: Conversion = .morphingMatrix
    ) throws(EventDatabaseError) -> (database: EventDatabase, check: ImportCheck) {
        guard let components = morphingComponents, let matrix = morphingMatrix else {
            throw EventDatabaseError(.missing, "no morphing setup: the file cannot be converted to basis coefficients", file: path, dataset: "/morphing")
        }
        guard eventCount > 0 else {
            throw EventDatabaseError(.missing, "no events (a setup file): samples/weights is absent or empty", file: path, dataset: "/samples/weights")
        }
        guard eventCount <= LHEFile.maximumEvents else {
            throw EventDatabaseError(.shape, "\(eventCount) events; the limit is \(LHEFile.maximumEvents) per import (import the events in parts)", file: path, dataset: "/samples/weights")
        }
        let B = benchmarks.count, O = observableNames.count, N = eventCount
        let (weights, observations): ([Double], [Double])
        do throws(EventDatabaseError) {
            (weights, observations) = try _HDF5.withLock { () throws(EventDatabaseError) in
                let root = try _H5Location.open(file: path)
                let samples = try root.group("samples")
                let w = try samples.readDoubles("weights", expectedShape: [N, B]).values
                let x = O > 0 ? try samples.readDoubles("observations", expectedShape: [N, O]).values : []
                return (w, x)
            }
        } catch {
            throw EventDatabaseError(error.code, error.message, file: path, dataset: error.dataset)
        }
        if let i = weights.firstIndex(where: { !$0.isFinite }) {
            throw EventDatabaseError(.invalidValue, "event \(i / B), benchmark \(benchmarks[i % B].name): weight \(weights[i]) is not finite", file: path, dataset: "/samples/weights")
        }

        let monomials = components.map { Monomial(exponents: $0) }
        let C = monomials.count
        // mixing[c][j] applies to the weight column of benchmark columns[j].
        let columns: [Int]
        let mixing: [[Double]]
        switch method {
        case .morphingMatrix:
            columns = morphingBasis
            mixing = matrix
        case .leastSquaresOverAllBenchmarks:
            columns = benchmarks.indices.filter { !benchmarks[$0].isNuisance }
            do throws(MorphingError) {
                let solve = try BenchmarkMorphing(coefficientNames: parameterNames, monomials: monomials, benchmarks: columns.map { benchmarks[$0].values })
                mixing = solve.pseudoInverse
            } catch {
                throw EventDatabaseError(.invalidValue, "cannot solve the morphing system over all physics benchmarks: \(error)", file: path, dataset: "/benchmarks/values")
            }
        }
        var coefficients = [[Double]](repeating: [Double](repeating: 0, count: N), count: C)
        for c in 0 ..< C {
            for (j, b) in columns.enumerated() where mixing[c][j] != 0 {
                let factor = mixing[c][j]
                coefficients[c].withUnsafeMutableBufferPointer { a in
                    for e in 0 ..< N { a[e] += factor * weights[e * B + b] }
                }
            }
        }

        var largest = 0.0
        var worst: String?
        let basisSet = Set(columns)
        for b in benchmarks.indices where !benchmarks[b].isNuisance && !basisSet.contains(b) {
            let m = monomials.map { $0.value(at: benchmarks[b].values) }
            var residual = 0.0, scale = 0.0
            for e in 0 ..< N {
                var w = 0.0
                for c in 0 ..< C { w += coefficients[c][e] * m[c] }
                residual += abs(w - weights[e * B + b])
                scale += abs(weights[e * B + b])
            }
            let relative = scale > 0 ? residual / scale : residual
            if relative > largest || worst == nil { (largest, worst) = (relative, benchmarks[b].name) }
        }

        var observables: [EventDatabase.Observable] = []
        for (o, name) in observableNames.enumerated() {
            let values = (0 ..< N).map { observations[$0 * O + o] }
            if let e = values.firstIndex(where: { !$0.isFinite }) {
                throw EventDatabaseError(
                    .invalidValue, "observable \(name) (column \(o)) is \(values[e]) in event \(e); apply MadMiner's cuts before importing",
                    file: path, dataset: "/samples/observations")
            }
            observables.append(EventDatabase.Observable(name: name, unit: observableUnits[name] ?? "", values: values))
        }
        let database = try EventDatabase(
            provenance: provenance, coefficientNames: parameterNames, monomials: monomials, basisCoefficients: coefficients,
            observables: observables)
        return (database, ImportCheck(largestRelativeResidual: largest, benchmark: worst))
    }
}
