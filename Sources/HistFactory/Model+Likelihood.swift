import EFTJSON
import EventDatabase
import Foundation

/// The model's terms, laid out for evaluation (see `LikelihoodKernel`): built once from the
/// `CompiledSample`s and shared, read-only, by every evaluation (and thread).
struct FlatModel: Sendable {
    let kernel: LikelihoodKernel
    /// Whether evaluations use the kernel's AVX loops (`LikelihoodKernel.avxAvailable`); tests set it
    /// to `false` to check that the portable Swift loops give the same doubles.
    var vectorised = LikelihoodKernel.avxAvailable
    /// The samples with a morphing modifier, with where their bins sit in the kernel.
    let morphs: [MorphEntry]

    init(_ entries: [CompiledSample]) {
        kernel = LikelihoodKernel(entries)
        var morphs: [MorphEntry] = []
        var local = 0
        for (e, entry) in entries.enumerated() {
            if let morph = entry.morph {
                morphs.append(MorphEntry(entry: e, localStart: local, binStart: entry.binStart, morph: morph, nominal: entry.nominal))
            }
            local += entry.binCount
        }
        self.morphs = morphs
    }
}

/// A morphing modifier of one sample in one channel, placed in the kernel's bin layout.
struct MorphEntry: Sendable {
    let entry: Int
    let localStart: Int
    let binStart: Int
    let morph: CompiledMorph
    /// The sample's `data`: ν⁰(0) for the absolute form, the multiplied yield for the relative one.
    let nominal: [Double]

    var binCount: Int { nominal.count }

    /// The clip floor's scale ε_b = max(1e−6·|data_b|, 1e−9) (Specs/eft-extension.md §9).
    func epsilon(_ b: Int) -> Double { max(1e-6 * abs(nominal[b]), 1e-9) }

    func coefficients(_ pars: UnsafePointer<Double>) -> [Double] {
        morph.coefficientParameters.map { pars[$0] }
    }
}

/// Why a point is outside an extended model's domain (Specs/eft-extension.md §9.3).
public struct EvaluationProblem: Sendable, CustomStringConvertible {
    public let kind: String
    /// (channel bin index in the model's main bins, sample or modifier, value).
    public let bins: [(bin: Int, where: String, value: Double)]
    public let coefficients: [(String, Double)]

    public var description: String {
        let list = bins.prefix(10).map { "\($0.where) bin \($0.bin): \(JSON.pythonRepr($0.value))" }.joined(separator: "; ")
        let point = coefficients.map { "\($0.0)=\(JSON.pythonRepr($0.1))" }.joined(separator: ", ")
        return "\(kind) at \(point.isEmpty ? "this point" : point): \(list)\(bins.count > 10 ? "; …" : "")"
    }
}

extension HistFactoryModel {
    /// The expected main-bin yields ν_b(θ) in model order (pyhf's `expected_data(include_auxdata=False)`).
    ///
    /// - Complexity: O(number of modifier terms × bins).
    public func expectedMainData(_ parameters: [Double]) -> [Double] {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        let bins = mainBinCount
        return withScratch(bins) { s in
            parameters.withUnsafeBufferPointer { pars in
                // Sound: `pars` holds parameterCount values, and every parameter index in the kernel is below that.
                _ = prepareMorphing(pars.baseAddress!, s, wantJacobian: false)
                flat.kernel.forward(pars.baseAddress!, s, mainBins: bins, wantGradient: false, vectorised: flat.vectorised)
            }
            return Array(UnsafeBufferPointer(start: s.nu, count: bins))
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

    /// Runs `body` with one evaluation's scratch space: a single temporary allocation per call,
    /// so that concurrent evaluations of one model share nothing mutable.
    private func withScratch<R>(_ mainBins: Int, _ body: (KernelScratch) -> R) -> R {
        let kernel = flat.kernel
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: KernelScratch.count(kernel, mainBins: mainBins)) { memory in
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
    private func evaluate(_ parameters: [Double], data: ModelData, gradient: inout [Double], wantGradient: Bool) -> Double {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        let bins = mainBinCount
        let kernel = flat.kernel
        return withScratch(bins) { s in
            parameters.withUnsafeBufferPointer { parsBuffer in
                // Sound: `parsBuffer` holds parameterCount values, and every parameter index in the kernel is below that.
                let pars = parsBuffer.baseAddress!
                let (morphOK, clipDerivatives, events) = prepareMorphing(pars, s, wantJacobian: wantGradient)
                kernel.forward(pars, s, mainBins: bins, wantGradient: wantGradient, vectorised: flat.vectorised)
                if !flat.morphs.isEmpty {
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
                var logL = -data.logFactorials
                logL += data.main.withUnsafeBufferPointer { main in
                    var sum = 0.0
                    for b in 0..<bins {
                        let n = main[b]
                        let v = s.nu[b]
                        sum += (n == 0 ? 0 : n * Foundation.log(v)) - v
                        s.weight[b] = (n == 0 ? 0 : n / v) - 1
                    }
                    return sum
                }
                logL += normalConstraints.withUnsafeBufferPointer { normals in
                    data.auxiliary.withUnsafeBufferPointer { aux in
                        var sum = 0.0
                        for c in normals where c.dynamicIndex < 0 {
                            let r = (aux[c.auxIndex] - pars[c.parameter]) / c.sigma
                            sum += c.logNormalization - 0.5 * r * r
                        }
                        return sum
                    }
                }
                let dynamic = dynamicStaterrorTerms(pars, s, data, clipDerivatives, events)
                logL += dynamic.logL
                for c in poissonConstraints {
                    let a = data.auxiliary[c.auxIndex]
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
                    normalConstraints.withUnsafeBufferPointer { normals in
                        data.auxiliary.withUnsafeBufferPointer { aux in
                            for c in normals where c.dynamicIndex < 0 {
                                grad[c.parameter] += (aux[c.auxIndex] - pars[c.parameter]) / (c.sigma * c.sigma)
                            }
                        }
                    }
                    for (parameter, value) in dynamic.gradient { grad[parameter] += value }
                    for c in poissonConstraints {
                        let a = data.auxiliary[c.auxIndex]
                        grad[c.parameter] += (a == 0 ? 0 : a / pars[c.parameter]) - c.factor
                    }
                    // Sound: `grad` holds parameterCount values (just sized above).
                    kernel.backward(pars, s, grad, vectorised: flat.vectorised)
                    morphingGradient(pars, s, clipDerivatives, events, grad)
                }
                return logL
            }
        }
    }
}

extension HistFactoryModel {
    /// Fills the kernel's per-bin nominal and histosys scale for a morphed model (no-op otherwise):
    ///
    /// ```
    /// ν⁰_b(c) = Σ_t T_tb m_t(c)              (absolute)     ν⁰_b(c) = n_b (1 + Σ_t R_tb m_t(c))   (relative)
    /// ν̃⁰ = ν⁰, or the clip floor ε·exp((ν⁰ − ε)/ε) below ε        r_b = ν̃⁰_b / n_b  (1 where n_b = 0)
    /// ```
    ///
    /// Returns `ok` false when a sample with the "error" policy has a negative morphed yield,
    /// ∂ν̃⁰/∂ν⁰ per morphed sample and bin, and, per morphed sample, the per-event evaluation of an
    /// event-database sample with systematics (ν⁰ = its yields; nil for polynomial templates), with
    /// Jacobians in (c, θ) when `wantJacobian`.
    fileprivate func prepareMorphing(_ pars: UnsafePointer<Double>, _ s: KernelScratch, wantJacobian: Bool)
        -> (ok: Bool, clipDerivatives: [[Double]], events: [SmoothedReweightingKernel.Evaluation?]) {
        guard !flat.morphs.isEmpty else { return (true, [], []) }
        var events: [SmoothedReweightingKernel.Evaluation?] = []
        var clipDerivatives: [[Double]] = []
        let kernel = flat.kernel
        // Sound: morphNominal and morphRatio have localBinCount doubles when the kernel has morphing.
        s.morphNominal.update(from: kernel.nominal, count: kernel.localBinCount)
        s.morphRatio.update(repeating: 1, count: kernel.localBinCount)
        var ok = true
        for m in flat.morphs {
            let evaluation = m.evaluateEvents(pars, jacobian: wantJacobian)
            events.append(evaluation)
            let poly = evaluation?.yields ?? m.morph.templates.yields(at: m.coefficients(pars))
            let (values, derivatives, negative) = m.policyApplied(poly)
            if negative { ok = false }
            for b in 0..<m.binCount {
                s.morphNominal[m.localStart + b] = values[b]
                s.morphRatio[m.localStart + b] = m.nominal[b] != 0 ? values[b] / m.nominal[b] : 1
            }
            clipDerivatives.append(derivatives)
        }
        return (ok, clipDerivatives, events)
    }

    /// Adds ∂ log L/∂c_i of every morphed sample:
    /// Σ_b w_b P G_b (1 + D_b/n_b) (∂ν̃⁰/∂ν⁰)_b ∂ν⁰_b/∂c_i, with D_b = Σ_h Δ_hb (the histosys part
    /// scales with ν̃⁰/n_b, so it contributes D_b/n_b; not where n_b = 0, where r = 1).
    /// For an event-database sample with systematics the product with its Jacobian in (c, θ) replaces
    /// the templates' vector-Jacobian product.
    fileprivate func morphingGradient(_ pars: UnsafePointer<Double>, _ s: KernelScratch, _ clipDerivatives: [[Double]],
                                      _ events: [SmoothedReweightingKernel.Evaluation?], _ grad: UnsafeMutablePointer<Double>) {
        for (k, m) in flat.morphs.enumerated() {
            let p = s.product[m.entry]
            var cotangent = [Double](repeating: 0, count: m.binCount)
            for b in 0..<m.binCount {
                let l = m.localStart + b
                let n = m.nominal[b]
                let histoFactor = n != 0 ? 1 + s.morphDelta[l] / n : 1
                cotangent[b] = s.weight[m.binStart + b] * p * s.binFactor[l] * histoFactor * clipDerivatives[k][b] * (m.morph.relative ? n : 1)
            }
            if let evaluation = events[k] {
                let bins = m.binCount
                for (j, parameter) in m.morph.parameters.enumerated() {
                    var sum = 0.0
                    for b in 0..<bins { sum += cotangent[b] * evaluation.yieldJacobian[j * bins + b] }
                    grad[parameter] += sum
                }
                continue
            }
            var coefficientGradient = [Double](repeating: 0, count: m.morph.coefficientParameters.count)
            let c = m.coefficients(pars)
            c.withUnsafeBufferPointer { cb in
                cotangent.withUnsafeBufferPointer { u in
                    coefficientGradient.withUnsafeMutableBufferPointer { g in
                        m.morph.templates.accumulateVectorJacobianProduct(at: cb, cotangent: u, into: g)
                    }
                }
            }
            for (i, parameter) in m.morph.coefficientParameters.enumerated() { grad[parameter] += coefficientGradient[i] }
        }
    }

    /// Why `parameters` lie outside the model's domain, or nil: negative morphed yields of
    /// samples with the "error" policy, negative total yields (extended workspaces only).
    public func evaluationProblem(_ parameters: [Double]) -> EvaluationProblem? {
        guard !flat.morphs.isEmpty else { return nil }
        var negativeMorph: [(bin: Int, where: String, value: Double)] = []
        var coefficientValues: [(String, Double)] = []
        for m in flat.morphs {
            let c = m.morph.coefficientParameters.map { parameters[$0] }
            for (i, parameter) in m.morph.coefficientParameters.enumerated() where !coefficientValues.contains(where: { $0.0 == parameterNames[parameter] }) {
                coefficientValues.append((parameterNames[parameter], c[i]))
            }
            guard m.morph.policy == .error else { continue }
            let poly = parameters.withUnsafeBufferPointer { m.evaluateEvents($0.baseAddress!, jacobian: false) }?.yields ?? m.morph.templates.yields(at: c)
            for b in 0..<m.binCount {
                let value = m.rawNominal(poly[b], bin: b)
                if value < 0 { negativeMorph.append((m.binStart + b, "morphing \"\(m.morph.modifier)\"", value)) }
            }
        }
        if !negativeMorph.isEmpty {
            return EvaluationProblem(kind: "negative morphed yields", bins: negativeMorph, coefficients: coefficientValues)
        }
        let nu = expectedMainData(parameters)
        let negative = nu.indices.filter { nu[$0] < 0 }.map { (bin: $0, where: "total", value: nu[$0]) }
        return negative.isEmpty ? nil : EvaluationProblem(kind: "negative total yields", bins: negative, coefficients: coefficientValues)
    }
}

extension HistFactoryModel {
    /// The Gaussian constraints of staterror components whose width follows the morphed yields
    /// (Specs/eft-extension.md §8.2), with their gradient (γ and Wilson coefficients):
    ///
    /// ```
    /// σ(c) = √(V_s + Σ_M var_sb(c)) / (N_s + Σ_M ν̃⁰_sb(c))
    /// var_sb = V_b(c) (absolute form),  δ² μ_b² + n_b² V_b(c) (relative form, μ = 1 + poly)
    /// ℓ = −ln(σ(0)√2π) − (a − γ)²/(2σ(c)²),   ∂ℓ/∂σ = (a − γ)²/σ³
    ///
    /// The normalisation keeps the SM-point width σ(0): with −ln σ(c) the constraint alone would
    /// carry information on c (it would favour points of small relative MC uncertainty) and bias
    /// fits, Asimov fits included.
    /// ∂σ/∂c_i = (∂var/∂c_i)/(2√V D) − σ (∂ν̃⁰/∂c_i)/D
    /// ```
    ///
    /// For an event-database sample with systematics, var_sb(c, θ) = Σw²_b from the per-event pass and
    /// the Jacobians run over (c, θ); without `events[k]`'s Jacobian (no gradient wanted) the
    /// gradient entries of that sample are left out.
    fileprivate func dynamicStaterrorTerms(_ pars: UnsafePointer<Double>, _ s: KernelScratch, _ data: ModelData,
                                           _ clipDerivatives: [[Double]], _ events: [SmoothedReweightingKernel.Evaluation?]) -> (logL: Double, gradient: [(Int, Double)]) {
        guard !dynamicStaterrors.isEmpty else { return (0, []) }
        // Per morphed sample: polynomial and variance with their Jacobians (coefficient-major).
        var cache: [Int: (poly: [Double], polyJacobian: [Double], variance: [Double], varianceJacobian: [Double])] = [:]
        func point(_ k: Int) -> (poly: [Double], polyJacobian: [Double], variance: [Double], varianceJacobian: [Double]) {
            if let hit = cache[k] { return hit }
            if let evaluation = events[k] {
                return (evaluation.yields, evaluation.yieldJacobian, evaluation.variances, evaluation.varianceJacobian)
            }
            let m = flat.morphs[k]
            let c = m.coefficients(pars)
            let (poly, jacobian) = m.morph.templates.yieldsAndJacobian(at: c)
            var variance = [Double](repeating: 0, count: m.binCount)
            var varianceJacobian = [Double](repeating: 0, count: m.binCount * c.count)
            c.withUnsafeBufferPointer { cb in
                variance.withUnsafeMutableBufferPointer { v in
                    varianceJacobian.withUnsafeMutableBufferPointer { j in m.morph.variance!.evaluate(at: cb, yields: v, jacobian: j) }
                }
            }
            let result = (poly, jacobian, variance, varianceJacobian)
            cache[k] = result
            return result
        }
        var logL = 0.0
        var gradient: [(Int, Double)] = []
        for d in dynamicStaterrors {
            var variance = d.staticVariance
            var nominal = d.staticNominal
            for part in d.contributions {
                let m = flat.morphs[part.morph]
                let p = point(part.morph)
                let n = m.nominal[part.bin]
                variance += m.staterrorVariance(poly: p.poly[part.bin], variance: p.variance[part.bin], delta: part.delta, bin: part.bin)
                nominal += s.morphNominal[m.localStart + part.bin]
            }
            let constraint = normalConstraints[d.constraint]
            let residual = data.auxiliary[constraint.auxIndex] - pars[d.parameter]
            let sigma = variance.squareRoot() / nominal
            logL += constraint.logNormalization - 0.5 * residual * residual / (sigma * sigma)
            gradient.append((d.parameter, residual / (sigma * sigma)))
            let dSigma = residual * residual / (sigma * sigma * sigma)
            for part in d.contributions {
                let m = flat.morphs[part.morph]
                let p = point(part.morph)
                let b = part.bin, bins = m.binCount
                let n = m.nominal[b]
                guard !p.polyJacobian.isEmpty || p.poly.isEmpty else { continue }
                for (i, parameter) in m.morph.parameters.enumerated() {
                    let dPoly = p.polyJacobian[i * bins + b]
                    let dVariance = m.morph.relative
                        ? 2 * part.delta * part.delta * (1 + p.poly[b]) * dPoly + n * n * p.varianceJacobian[i * bins + b]
                        : p.varianceJacobian[i * bins + b]
                    let dNominal = clipDerivatives[part.morph][b] * (m.morph.relative ? n : 1) * dPoly
                    let dS = dVariance / (2 * variance.squareRoot() * nominal) - sigma * dNominal / nominal
                    gradient.append((parameter, dSigma * dS))
                }
            }
        }
        return (logL, gradient)
    }
}

extension MorphEntry {
    /// ν⁰_b from the polynomial: poly_b (absolute form), n_b (1 + poly_b) (relative form).
    @inline(__always)
    func rawNominal(_ poly: Double, bin b: Int) -> Double {
        morph.relative ? nominal[b] * (1 + poly) : poly
    }

    /// ν⁰_b from the polynomial (``rawNominal(_:bin:)``) and ν̃⁰_b after the
    /// negative-yield policy (Specs/eft-extension.md §9) with ∂ν̃⁰/∂ν⁰; `negative` when the "error"
    /// policy finds ν⁰_b < 0.
    func policyApplied(_ poly: [Double]) -> (values: [Double], derivatives: [Double], negative: Bool) {
        var values = [Double](repeating: 0, count: binCount)
        var derivatives = [Double](repeating: 1, count: binCount)
        var negative = false
        for b in 0..<binCount {
            var value = rawNominal(poly[b], bin: b)
            switch morph.policy {
            case .error:
                if value < 0 { negative = true }
            case .clip:
                let eps = epsilon(b)
                if value < eps {
                    let floor = eps * Foundation.exp((value - eps) / eps)
                    derivatives[b] = floor / eps
                    value = floor
                }
            case .allow:
                break
            }
            values[b] = value
        }
        return (values, derivatives, negative)
    }

    /// var_sb of (V3) as it enters the staterror width (S2): V_b(c) for the absolute form,
    /// δ_b² μ_b² + n_b² V_b(c) for the relative form (μ = 1 + poly).
    func staterrorVariance(poly: Double, variance: Double, delta: Double, bin b: Int) -> Double {
        morph.relative ? delta * delta * (1 + poly) * (1 + poly) + nominal[b] * nominal[b] * variance : variance
    }

    /// The per-event evaluation of an event-database sample with systematics at the current
    /// (c, θ); nil for polynomial templates.
    func evaluateEvents(_ pars: UnsafePointer<Double>, jacobian: Bool) -> SmoothedReweightingKernel.Evaluation? {
        guard let events = morph.events else { return nil }
        return events.kernel.evaluate(coefficients: coefficients(pars), nuisance: events.systematicParameters.map { pars[$0] }, jacobian: jacobian)
    }
}
