import EFTJSON
import Foundation
import _CKernels

/// The model's terms, laid out for evaluation (see `LikelihoodKernel`): built once from the
/// `CompiledSample`s and shared, read-only, by every evaluation (and thread).
struct FlatModel: Sendable {
    let kernel: LikelihoodKernel
    /// Whether evaluations use the kernel's AVX loops (`LikelihoodKernel.avxAvailable`); tests set it
    /// to `false` to check that the portable Swift loops give the same doubles.
    var vectorised = LikelihoodKernel.avxAvailable
    /// The parameter-dependent samples, with where their bins sit in the kernel.
    let morphs: [DependentEntry]
    /// Per entry of `morphs`: whether a staterror width follows its variance (S2).
    var needsVariance: [Bool] = []
    /// Per (channel, sample) entry, in kernel order: its names and local bins.
    let entries: [EntryLayout]

    struct EntryLayout: Sendable {
        let channel: String
        let sample: String
        let localStart: Int
        let binCount: Int
    }

    init(_ entries: [CompiledSample]) {
        let kernel = LikelihoodKernel(entries)
        self.kernel = kernel
        self.entries = entries.enumerated().map { e, entry in
            EntryLayout(channel: entry.channel, sample: entry.sample, localStart: kernel.entryLocalStart[e], binCount: entry.binCount)
        }
        morphs = entries.enumerated().compactMap { e, entry in
            entry.dependent.map {
                DependentEntry(entry: e, localStart: kernel.entryLocalStart[e], binStart: entry.binStart, dependent: $0, nominal: entry.nominal)
            }
        }
        needsVariance = Array(repeating: false, count: morphs.count)
    }
}

/// A parameter-dependent sample of one channel, placed in the kernel's bin layout.
struct DependentEntry: Sendable {
    let entry: Int
    let localStart: Int
    let binStart: Int
    let dependent: CompiledDependent
    /// The sample's `data`.
    let nominal: [Double]

    var sample: any ParameterDependentSample { dependent.sample }
    var binCount: Int { nominal.count }

    /// The sample at the model point `pars`.
    func evaluate(_ pars: UnsafePointer<Double>, derivatives: Bool, variance: Bool) -> DependentSampleValue {
        sample.evaluate(sample.parameters.map { pars[$0] }, derivatives: derivatives, variance: variance)
    }

    /// The sample at the model point `pars`, with the Jacobian rows of the model parameters where
    /// `wanted` (one entry per model parameter) only.
    func evaluate(_ pars: UnsafePointer<Double>, wanted: [Bool], variance: Bool) -> DependentSampleValue {
        let parameters = sample.parameters
        return sample.evaluate(parameters.map { pars[$0] }, derivativesFor: parameters.map { wanted[$0] }, variance: variance)
    }
}

/// One sample's expected yields in one channel.
public struct SampleExpectation: Sendable, Equatable, Codable {
    public let channel: String
    public let sample: String
    public let yields: [Double]
}

/// Why a point is outside an extended model's domain (Specs/eft-extension.md §9.3).
public struct EvaluationProblem: Sendable, CustomStringConvertible {
    /// A bin where the point is refused.
    public struct Bin: Sendable, Equatable {
        /// The bin's index in the model's main bins.
        public let bin: Int
        /// The modifier that refuses it (`morphing "smeft"`), or `total`.
        public let location: String
        public let value: Double
    }

    /// A named coordinate of the point.
    public struct Coordinate: Sendable, Equatable {
        public let name: String
        public let value: Double
    }

    public let kind: String
    public let bins: [Bin]
    /// The values of the parameters the dependent samples name (the Wilson coefficients).
    public let coordinates: [Coordinate]

    public var description: String {
        let list = bins.prefix(10).map { "\($0.location) bin \($0.bin): \(JSON.pythonRepr($0.value))" }.joined(separator: "; ")
        let point = coordinates.map { "\($0.name)=\(JSON.pythonRepr($0.value))" }.joined(separator: ", ")
        return "\(kind) at \(point.isEmpty ? "this point" : point): \(list)\(bins.count > 10 ? "; …" : "")"
    }
}

extension HistFactoryModel {
    /// The expected main-bin yields ν_b(θ) in model order (pyhf's `expected_data(include_auxdata=False)`).
    ///
    /// - Complexity: O(number of modifier terms × bins).
    public func expectedMainData(_ parameters: [Double]) -> [Double] {
        let bins = mainBinCount
        return forwardPass(parameters) { s in Array(UnsafeBufferPointer(start: s.nu, count: bins)) }
    }

    /// The forward pass without gradient at `parameters` (the dependent samples evaluated first),
    /// then `body` on its scratch.
    private func forwardPass<R>(_ parameters: [Double], _ body: (KernelScratch) -> R) -> R {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        let bins = mainBinCount
        return withScratch(bins) { s in
            parameters.withUnsafeBufferPointer { pars in
                // Sound: `pars` holds parameterCount values, and every parameter index in the kernel is below that.
                _ = prepareMorphing(pars.baseAddress!, s, derivatives: false)
                flat.kernel.forward(pars.baseAddress!, s, mainBins: bins, wantGradient: false, vectorised: flat.vectorised)
            }
            return body(s)
        }
    }

    /// The Jacobian J_bi = ∂ν_b/∂θ_i of the expected main-bin yields (rows: main bins in model
    /// order; columns: every parameter, fixed ones included), from the likelihood's own backward
    /// pass: with the cotangent w = e_b in place of ∂ log L/∂ν, the pass returns row b (the
    /// vector-Jacobian product eᵀ_b J). Used for error propagation, σ²_ν = J V Jᵀ.
    ///
    /// - Complexity: one forward pass and one backward pass per main bin.
    public func expectedMainDataJacobian(_ parameters: [Double]) -> [[Double]] {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        let bins = mainBinCount, count = parameterCount
        let kernel = flat.kernel
        return withScratch(bins) { s in
            parameters.withUnsafeBufferPointer { parsBuffer in
                // Sound: as in `evaluate`; `row` holds parameterCount values.
                let pars = parsBuffer.baseAddress!
                let (_, values) = prepareMorphing(pars, s, derivatives: true)
                kernel.forward(pars, s, mainBins: bins, wantGradient: true, vectorised: flat.vectorised)
                var rows: [[Double]] = []
                rows.reserveCapacity(bins)
                var row = [Double](repeating: 0, count: count)
                for b in 0..<bins {
                    s.weight.update(repeating: 0, count: bins)
                    s.weight[b] = 1
                    row.withUnsafeMutableBufferPointer { grad in
                        grad.update(repeating: 0)
                        kernel.backward(pars, s, grad.baseAddress!, vectorised: flat.vectorised)
                        morphingGradient(s, values, grad.baseAddress!)
                    }
                    rows.append(row)
                }
                return rows
            }
        }
    }

    /// The expected main-bin yields of each sample in each channel where it is defined, in model
    /// order (channels, then samples): the terms P_e G_b B_b of ν_b that ``expectedMainData(_:)``
    /// sums (pyhf's `main_model.expected_data(pars, return_by_sample=True)`, without its zero rows).
    public func expectedSampleData(_ parameters: [Double]) -> [SampleExpectation] {
        forwardPass(parameters) { s in
            flat.entries.enumerated().map { e, entry in
                SampleExpectation(channel: entry.channel, sample: entry.sample, yields: (0..<entry.binCount).map { b in
                    let l = entry.localStart + b
                    return s.product[e] * s.binFactor[l] * s.base[l]
                })
            }
        }
    }

    /// The expected auxiliary data: θ for Gaussian constraints, γτ for Poisson ones.
    public func expectedAuxiliaryData(_ parameters: [Double]) -> [Double] {
        var aux = auxiliaryData
        for c in normalConstraints { aux[c.auxIndex] = parameters[c.parameter] }
        for c in poissonConstraints { aux[c.auxIndex] = parameters[c.parameter] * c.factor }
        return aux
    }

    /// log L(θ) with every constant term (pyhf's `Model.logpdf`). NaN where an expected yield
    /// is negative, as in pyhf; −∞ where it is zero with observed events.
    ///
    /// - Complexity: O(number of modifier terms × bins).
    public func logLikelihood(_ parameters: [Double], data: ModelData) -> Double {
        var unused: [Double] = []
        return evaluate(parameters, data: data, gradient: &unused, wantGradient: false)
    }

    /// log L(θ) and its gradient ∂ log L/∂θ_i with respect to every parameter (fixed ones included).
    ///
    /// - Complexity: O(number of modifier terms × bins), about twice the cost of ``logLikelihood(_:data:)``.
    public func logLikelihoodAndGradient(_ parameters: [Double], data: ModelData, gradient: inout [Double]) -> Double {
        evaluate(parameters, data: data, gradient: &gradient, wantGradient: true)
    }

    /// log L(θ) and ∂ log L/∂θ_i for the parameters with `wanted[i]` (one entry per parameter; a
    /// fit wants its free parameters): those entries are the same doubles as the full gradient's
    /// (``logLikelihoodAndGradient(_:data:gradient:)``); the others are 0, not computed. The
    /// parameter-dependent samples compute only the Jacobian rows of wanted parameters
    /// (``ParameterDependentSample/evaluate(_:derivativesFor:variance:)``), which is where the saving is.
    ///
    /// - Complexity: as ``logLikelihoodAndGradient(_:data:gradient:)``, less the Jacobian rows of
    ///   the dependent samples' parameters that are not wanted.
    public func logLikelihoodAndGradient(_ parameters: [Double], data: ModelData, gradient: inout [Double], wanted: [Bool]) -> Double {
        precondition(wanted.count == parameterCount, "expected \(parameterCount) flags of wanted derivatives, got \(wanted.count)")
        return evaluate(parameters, data: data, gradient: &gradient, wantGradient: true, wanted: wanted)
    }

    /// Runs `body` with one evaluation's scratch space: a single temporary allocation per call,
    /// so that concurrent evaluations of one model share nothing mutable.
    private func withScratch<R>(_ mainBins: Int, _ body: (KernelScratch) -> R) -> R {
        Self.withScratch(flat.kernel, mainBins, body)
    }

    /// `withScratch` for `kernel`: the thread's scratch buffer, kept from one evaluation to the next
    /// (`efthf_scratch_acquire`; a heap allocation and its release per call cost 1–2 % of an
    /// evaluation of reference workspaces 05–08), or a temporary allocation when that is in use or cannot grow.
    private static func withScratch<R>(_ kernel: LikelihoodKernel, _ mainBins: Int, _ body: (KernelScratch) -> R) -> R {
        let count = KernelScratch.count(kernel, mainBins: mainBins)
        if let memory = efthf_scratch_acquire(count) {
            defer { efthf_scratch_release(memory) }
            // Sound: the thread's buffer has at least `count` doubles and is this call's alone until
            // the release above; KernelScratch only carves it into disjoint parts.
            return body(KernelScratch(memory, kernel, mainBins: mainBins))
        }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: count) { memory in
            // Sound: the allocation has KernelScratch.count doubles (at least one, so the base address
            // exists) and lives for the whole of `body`; KernelScratch only carves it into disjoint parts.
            body(KernelScratch(memory.baseAddress!, kernel, mainBins: mainBins))
        }
    }

    /// The forward pass for ν, the Poisson and constraint terms, then the backward pass.
    ///
    /// With w_b = n_b/ν_b − 1 = ∂ log L/∂ν_b (see `LikelihoodKernel.backward` for the model terms):
    /// log L = Σ_b (n_b ln ν_b − ν_b − ln Γ(n_b+1)) + Σ_normal (ln N − ½ r²) + Σ_poisson (a ln(γτ) − γτ − ln Γ(a+1)),
    /// ∂/∂θ (normal) = (a − θ)/σ², ∂/∂γ (Poisson) = a/γ − τ.
    /// `wanted`: the parameters whose derivatives are computed (nil: all); the others' entries are 0.
    private func evaluate(_ parameters: [Double], data: ModelData, gradient: inout [Double], wantGradient: Bool, wanted: [Bool]? = nil) -> Double {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        // The closures below reach the model and the data through pointers, and call the model's
        // methods only for parameter-dependent samples: closures that captured `self`, or a method
        // called on `pointee`, would copy the struct, a retain and a release of each of its stored
        // references per call (7 % of an evaluation of reference workspace 05).
        let shape = EvaluationShape(mainBins: mainBinCount, parameterCount: parameterCount, kernel: flat.kernel, vectorised: flat.vectorised,
                                    dependent: !flat.morphs.isEmpty || !dynamicStaterrors.isEmpty, wanted: wantGradient ? wanted : nil)
        return withUnsafePointer(to: self) { model in
            withUnsafePointer(to: data) { data in
                Self.evaluate(model, shape, parameters, data: data, gradient: &gradient, wantGradient: wantGradient)
            }
        }
    }

    /// What `evaluate` needs of the model besides its constraint arrays.
    private struct EvaluationShape {
        let mainBins: Int
        let parameterCount: Int
        let kernel: LikelihoodKernel
        let vectorised: Bool
        /// Whether the model has parameter-dependent samples or staterror widths that follow them.
        let dependent: Bool
        /// The parameters whose derivatives are computed (nil: all).
        let wanted: [Bool]?
    }

    /// `evaluate` on the model at `model` (valid for the whole call).
    private static func evaluate(_ model: UnsafePointer<HistFactoryModel>, _ shape: EvaluationShape, _ parameters: [Double],
                                 data: UnsafePointer<ModelData>, gradient: inout [Double], wantGradient: Bool) -> Double {
        let bins = shape.mainBins, parameterCount = shape.parameterCount, kernel = shape.kernel, vectorised = shape.vectorised
        return withScratch(kernel, bins) { s in
            parameters.withUnsafeBufferPointer { parsBuffer in
                // Sound: `parsBuffer` holds parameterCount values, and every parameter index in the kernel is below that.
                let pars = parsBuffer.baseAddress!
                let (morphOK, values) = shape.dependent ? model.pointee.prepareMorphing(pars, s, derivatives: wantGradient, wanted: shape.wanted) : (ok: true, values: [])
                kernel.forward(pars, s, mainBins: bins, wantGradient: wantGradient, vectorised: vectorised)
                if shape.dependent && !model.pointee.flat.morphs.isEmpty {
                    // Outside the domain (Specs §9): a negative morphed yield under "error", or a
                    // negative total yield. log L = −∞ rather than NaN; `evaluationProblem` explains.
                    var outside = !morphOK
                    for b in 0..<bins where s.nu[b] < 0 { outside = true }
                    if outside {
                        if wantGradient { gradient = [Double](repeating: 0, count: parameterCount) }
                        return -.infinity
                    }
                }

                // Main Poisson terms: n ln ν − ν (xlogy: 0·ln 0 = 0); ln Γ(n+1) is in data.logFactorials.
                // Each sum in a local (not through the captured logL), so that it stays in a register.
                var logL = -data.pointee.logFactorials
                logL += data.pointee.main.withUnsafeBufferPointer { main in
                    var sum = 0.0
                    for b in 0..<bins {
                        let n = main[b]
                        let v = s.nu[b]
                        sum += (n == 0 ? 0 : n * Foundation.log(v)) - v
                        s.weight[b] = (n == 0 ? 0 : n / v) - 1
                    }
                    return sum
                }
                logL += model.pointee.normalConstraints.withUnsafeBufferPointer { normals in
                    data.pointee.auxiliary.withUnsafeBufferPointer { aux in
                        var sum = 0.0
                        for c in normals where c.dynamicIndex < 0 {
                            let r = (aux[c.auxIndex] - pars[c.parameter]) * c.inverseSigma
                            sum += c.logNormalization - 0.5 * r * r
                        }
                        return sum
                    }
                }
                let dynamic = shape.dependent
                    ? model.pointee.dynamicStaterrorTerms(pars, s, data.pointee, values, derivatives: wantGradient, wanted: shape.wanted) : (logL: 0, gradient: [])
                logL += dynamic.logL
                for c in model.pointee.poissonConstraints {
                    let a = data.pointee.auxiliary[c.auxIndex]
                    let rate = pars[c.parameter] * c.factor
                    logL += (a == 0 ? 0 : a * Foundation.log(rate)) - rate
                }
                guard wantGradient else { return logL }

                // Reuse the caller's array when it has the right size.
                if gradient.count == parameterCount {
                    gradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                } else {
                    gradient = [Double](repeating: 0, count: parameterCount)
                }
                gradient.withUnsafeMutableBufferPointer { gradBuffer in
                    let grad = gradBuffer.baseAddress!
                    model.pointee.normalConstraints.withUnsafeBufferPointer { normals in
                        data.pointee.auxiliary.withUnsafeBufferPointer { aux in
                            for c in normals where c.dynamicIndex < 0 {
                                grad[c.parameter] += (aux[c.auxIndex] - pars[c.parameter]) * c.inverseVariance
                            }
                        }
                    }
                    for (parameter, value) in dynamic.gradient { grad[parameter] += value }
                    for c in model.pointee.poissonConstraints {
                        let a = data.pointee.auxiliary[c.auxIndex]
                        grad[c.parameter] += (a == 0 ? 0 : a / pars[c.parameter]) - c.factor
                    }
                    // Sound: `grad` holds parameterCount values (just sized above).
                    kernel.backward(pars, s, grad, vectorised: vectorised)
                    if shape.dependent { model.pointee.morphingGradient(s, values, grad, wanted: shape.wanted) }
                    if let wanted = shape.wanted { for i in 0..<parameterCount where !wanted[i] { grad[i] = 0 } }
                }
                return logL
            }
        }
    }
}

extension HistFactoryModel {
    /// Evaluates every parameter-dependent sample once and fills the kernel's per-bin nominal and
    /// histosys scale (no-op without such samples):
    ///
    /// ```
    /// B_b = ν̃⁰_b(p) + r_b Σ_h Δ_hb,   r_b = ν̃⁰_b / data_b  (1 where data_b = 0)
    /// ```
    ///
    /// Returns `ok` false when a sample refuses the point, and the samples' values (with their
    /// Jacobians when `derivatives`, the rows of the `wanted` parameters only when given; with the
    /// variance terms where a staterror width follows them).
    fileprivate func prepareMorphing(_ pars: UnsafePointer<Double>, _ s: KernelScratch, derivatives: Bool, wanted: [Bool]? = nil)
        -> (ok: Bool, values: [DependentSampleValue]) {
        guard !flat.morphs.isEmpty else { return (true, []) }
        let kernel = flat.kernel
        // Sound: morphNominal and morphRatio have localBinCount doubles when the kernel has dependent samples.
        s.morphNominal.update(from: kernel.nominal, count: kernel.localBinCount)
        s.morphRatio.update(repeating: 1, count: kernel.localBinCount)
        var ok = true
        var values: [DependentSampleValue] = []
        values.reserveCapacity(flat.morphs.count)
        for (k, m) in flat.morphs.enumerated() {
            let value = if derivatives, let wanted { m.evaluate(pars, wanted: wanted, variance: flat.needsVariance[k]) }
                else { m.evaluate(pars, derivatives: derivatives, variance: flat.needsVariance[k]) }
            if !value.rejectedBins.isEmpty { ok = false }
            for b in 0..<m.binCount {
                s.morphNominal[m.localStart + b] = value.nominal[b]
                s.morphRatio[m.localStart + b] = m.nominal[b] != 0 ? value.nominal[b] / m.nominal[b] : 1
            }
            values.append(value)
        }
        return (ok, values)
    }

    /// Adds ∂ log L/∂p_j of every parameter-dependent sample:
    /// Σ_b w_b P G_b (1 + D_b/n_b) ∂ν̃⁰_b/∂p_j, with D_b = Σ_h Δ_hb (the histosys part scales with
    /// ν̃⁰/n_b, so it contributes D_b/n_b; not where n_b = 0, where r = 1). Only for the `wanted`
    /// parameters when given (the samples computed no other Jacobian rows).
    fileprivate func morphingGradient(_ s: KernelScratch, _ values: [DependentSampleValue], _ grad: UnsafeMutablePointer<Double>, wanted: [Bool]? = nil) {
        for (k, m) in flat.morphs.enumerated() {
            let p = s.product[m.entry]
            let bins = m.binCount
            var cotangent = [Double](repeating: 0, count: bins)
            for b in 0..<bins {
                let l = m.localStart + b
                let n = m.nominal[b]
                let histoFactor = n != 0 ? 1 + s.morphDelta[l] / n : 1
                cotangent[b] = s.weight[m.binStart + b] * p * s.binFactor[l] * histoFactor
            }
            let jacobian = values[k].nominalJacobian
            for (j, parameter) in m.sample.parameters.enumerated() where wanted?[parameter] ?? true {
                var sum = 0.0
                for b in 0..<bins { sum += cotangent[b] * jacobian[j * bins + b] }
                grad[parameter] += sum
            }
        }
    }

    /// Why an evaluation of a parameter-dependent sample returned NaN for want of its input (an event
    /// file that could no longer be read; ``ParameterDependentSample/evaluationFailure``), the first
    /// such error of the model's samples; nil when none did. A likelihood that came out NaN because of
    /// it says nothing about the point.
    public var evaluationFailure: (any Error & Sendable)? {
        flat.morphs.lazy.compactMap { $0.sample.evaluationFailure }.first
    }

    /// Why `parameters` lie outside the model's domain, or nil: bins that a parameter-dependent
    /// sample refuses (negative yields under the "error" policy), negative total yields (models with
    /// parameter-dependent samples only).
    public func evaluationProblem(_ parameters: [Double]) -> EvaluationProblem? {
        guard !flat.morphs.isEmpty else { return nil }
        var refused: [EvaluationProblem.Bin] = []
        var coordinates: [EvaluationProblem.Coordinate] = []
        for m in flat.morphs {
            for i in m.sample.domainParameters where !coordinates.contains(where: { $0.name == parameterNames[i] }) {
                coordinates.append(.init(name: parameterNames[i], value: parameters[i]))
            }
            let value = parameters.withUnsafeBufferPointer { m.evaluate($0.baseAddress!, derivatives: false, variance: false) }
            for b in value.rejectedBins { refused.append(.init(bin: m.binStart + b, location: m.sample.label, value: value.raw[b])) }
        }
        if !refused.isEmpty {
            return EvaluationProblem(kind: "negative morphed yields", bins: refused, coordinates: coordinates)
        }
        let nu = expectedMainData(parameters)
        let negative = nu.indices.filter { nu[$0] < 0 }.map { EvaluationProblem.Bin(bin: $0, location: "total", value: nu[$0]) }
        return negative.isEmpty ? nil : EvaluationProblem(kind: "negative total yields", bins: negative, coordinates: coordinates)
    }
}

extension HistFactoryModel {
    /// The Gaussian constraints of staterror components whose width follows the parameter-dependent
    /// samples (Specs/eft-extension.md §8.2), with their gradient (γ and the samples' parameters):
    ///
    /// ```
    /// σ(p) = √(V_s + Σ_M var_sb(p)) / (N_s + Σ_M ν̃⁰_sb(p)),   var_sb = δ_b² s_b(p) + V_b(p)
    /// ℓ = −ln(σ(0)√2π) − (a − γ)²/(2σ(p)²),   ∂ℓ/∂σ = (a − γ)²/σ³
    /// ∂σ/∂p_j = (∂var/∂p_j)/(2√V D) − σ (∂ν̃⁰/∂p_j)/D
    /// ```
    ///
    /// The normalisation keeps the SM-point width σ(0): with −ln σ(p) the constraint alone would
    /// carry information on the Wilson coefficients (it would favour points of small relative MC
    /// uncertainty) and bias fits, Asimov fits included.
    ///
    /// With `wanted`, the derivatives in the samples' parameters are those of the wanted ones only.
    fileprivate func dynamicStaterrorTerms(_ pars: UnsafePointer<Double>, _ s: KernelScratch, _ data: ModelData,
                                           _ values: [DependentSampleValue], derivatives: Bool, wanted: [Bool]?) -> (logL: Double, gradient: [(Int, Double)]) {
        guard !dynamicStaterrors.isEmpty else { return (0, []) }
        var logL = 0.0
        var gradient: [(Int, Double)] = []
        for d in dynamicStaterrors {
            var variance = d.staticVariance
            var nominal = d.staticNominal
            for part in d.contributions {
                let m = flat.morphs[part.morph]
                variance += values[part.morph].staterrorVariance(bin: part.bin, delta: part.delta)
                nominal += s.morphNominal[m.localStart + part.bin]
            }
            let constraint = normalConstraints[d.constraint]
            let residual = data.auxiliary[constraint.auxIndex] - pars[d.parameter]
            let sigma = variance.squareRoot() / nominal
            logL += constraint.logNormalization - 0.5 * residual * residual / (sigma * sigma)
            guard derivatives else { continue }
            gradient.append((d.parameter, residual / (sigma * sigma)))
            let dSigma = residual * residual / (sigma * sigma * sigma)
            for part in d.contributions {
                let m = flat.morphs[part.morph]
                let v = values[part.morph]
                let b = part.bin, bins = m.binCount
                let delta2 = part.delta * part.delta
                for (j, parameter) in m.sample.parameters.enumerated() where wanted?[parameter] ?? true {
                    let i = j * bins + b
                    let dVariance = delta2 * v.staterrorScaleJacobian[i] + v.varianceJacobian[i]
                    let dS = dVariance / (2 * variance.squareRoot() * nominal) - sigma * v.nominalJacobian[i] / nominal
                    gradient.append((parameter, dSigma * dS))
                }
            }
        }
        return (logL, gradient)
    }
}
