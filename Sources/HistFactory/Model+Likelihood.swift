import Foundation

/// The model's terms in flat arrays (structure of arrays), so that evaluation runs over
/// contiguous memory without reference counting. Built once from the `CompiledSample`s.
struct FlatModel: Sendable {
    // Per entry (a sample in a channel).
    var entryBinStart: [Int] = []
    var entryBinCount: [Int] = []
    /// Offset of the entry's first bin in the per-entry-bin arrays (`nominal`, scratch).
    var entryLocalOffset: [Int] = []
    var entryScalarRange: [Range<Int>] = []
    var entryHistoRange: [Range<Int>] = []
    var entryBinTermRange: [Range<Int>] = []
    var nominal: [Double] = []

    // Scalar terms: parameter, mode (0: the parameter itself, 1: code4, 2: code1) and
    // `scalarStride` coefficients each: a₁…a₆ of code4, 2a₂ 3a₃ 4a₄ 5a₅ 6a₆, ln δ₊, ln δ₋.
    var scalarParameter: [Int] = []
    var scalarMode: [UInt8] = []
    var scalarCoefficients: [Double] = []

    // Histosys terms: parameter, code (0: code0, 2: code2, 4: code4p) and, per bin of the
    // entry, (Δ₊, Δ₋) at `histoData[2·(histoOffset + j)]`.
    var histoParameter: [Int] = []
    var histoCode: [UInt8] = []
    var histoOffset: [Int] = []
    var histoData: [Double] = []

    // Per-bin terms: the parameter of bin j at `binTermParameters[binTermOffset + j]`.
    var binTermOffset: [Int] = []
    var binTermParameters: [Int] = []

    var localBinCount: Int { nominal.count }
    var entryCount: Int { entryBinStart.count }

    init(_ entries: [CompiledSample]) {
        for entry in entries {
            entryBinStart.append(entry.binStart)
            entryBinCount.append(entry.binCount)
            entryLocalOffset.append(nominal.count)
            nominal += entry.nominal
            let s0 = scalarParameter.count
            for term in entry.scalars {
                scalarParameter.append(term.parameter)
                if let f = term.interpolation {
                    scalarMode.append(f.code == .code4 ? 1 : 2)
                    scalarCoefficients += [f.a.0, f.a.1, f.a.2, f.a.3, f.a.4, f.a.5,
                                           2 * f.a.1, 3 * f.a.2, 4 * f.a.3, 5 * f.a.4, 6 * f.a.5, f.logUp, f.logDown]
                } else {
                    scalarMode.append(0)
                    scalarCoefficients += Array(repeating: 0, count: scalarStride)
                }
            }
            entryScalarRange.append(s0..<scalarParameter.count)
            let h0 = histoParameter.count
            for h in entry.histos {
                histoParameter.append(h.parameter)
                histoCode.append(h.code == .code0 ? 0 : h.code == .code2 ? 2 : 4)
                histoOffset.append(histoData.count / 2)
                for j in 0..<entry.binCount { histoData += [h.up[j], h.down[j]] }
            }
            entryHistoRange.append(h0..<histoParameter.count)
            let g0 = binTermOffset.count
            for g in entry.binTerms {
                binTermOffset.append(binTermParameters.count)
                binTermParameters += g.parameters
            }
            entryBinTermRange.append(g0..<binTermOffset.count)
        }
        // One unused element each, so that no term array is empty and every base address exists.
        scalarParameter.append(0)
        scalarMode.append(0)
        scalarCoefficients += Array(repeating: 0, count: scalarStride)
        histoParameter.append(0)
        histoCode.append(0)
        histoOffset.append(0)
        histoData += [0, 0]
        binTermOffset.append(0)
        binTermParameters.append(0)
    }
}

/// Raw pointers to a `FlatModel`'s arrays for the duration of one evaluation.
///
/// Unsafe because the hot loops index thousands of small terms per call: bounds checks and
/// retain/release would cost more than the arithmetic. Sound because every index comes from
/// `FlatModel.init`, which builds the ranges and offsets from the same arrays.
private struct FlatPointers {
    let binStart, binCount, localOffset: UnsafePointer<Int>
    let scalarRange, histoRange, binTermRange: UnsafePointer<Range<Int>>
    let nominal: UnsafePointer<Double>
    let scalarParameter: UnsafePointer<Int>
    let scalarMode: UnsafePointer<UInt8>
    let scalarCoefficients: UnsafePointer<Double>
    let histoParameter: UnsafePointer<Int>
    let histoCode: UnsafePointer<UInt8>
    let histoOffset: UnsafePointer<Int>
    let histoData: UnsafePointer<Double>
    let binTermOffset: UnsafePointer<Int>
    let binTermParameters: UnsafePointer<Int>
}

extension FlatModel {
    fileprivate func withPointers<R>(_ body: (FlatPointers) -> R) -> R {
        // Nested withUnsafeBufferPointer keeps every array alive and pinned during `body`; none is
        // empty (see init), so every base address exists.
        entryBinStart.withUnsafeBufferPointer { a in
        entryBinCount.withUnsafeBufferPointer { b in
        entryLocalOffset.withUnsafeBufferPointer { c in
        entryScalarRange.withUnsafeBufferPointer { d in
        entryHistoRange.withUnsafeBufferPointer { e in
        entryBinTermRange.withUnsafeBufferPointer { f in
        nominal.withUnsafeBufferPointer { g in
        scalarParameter.withUnsafeBufferPointer { h in
        scalarMode.withUnsafeBufferPointer { i in
        scalarCoefficients.withUnsafeBufferPointer { j in
        histoParameter.withUnsafeBufferPointer { k in
        histoCode.withUnsafeBufferPointer { l in
        histoOffset.withUnsafeBufferPointer { m in
        histoData.withUnsafeBufferPointer { n in
        binTermOffset.withUnsafeBufferPointer { o in
        binTermParameters.withUnsafeBufferPointer { p in
            body(FlatPointers(
                binStart: a.baseAddress!, binCount: b.baseAddress!, localOffset: c.baseAddress!,
                scalarRange: d.baseAddress!, histoRange: e.baseAddress!, binTermRange: f.baseAddress!,
                nominal: g.baseAddress!, scalarParameter: h.baseAddress!, scalarMode: i.baseAddress!,
                scalarCoefficients: j.baseAddress!, histoParameter: k.baseAddress!, histoCode: l.baseAddress!,
                histoOffset: m.baseAddress!, histoData: n.baseAddress!, binTermOffset: o.baseAddress!,
                binTermParameters: p.baseAddress!))
        }}}}}}}}}}}}}}}}
    }
}

private let scalarStride = 13

/// A scalar factor f and, when `derivative`, df/dα (else 0); see `FactorInterpolation.valueAndDerivative`.
@inline(__always)
private func scalarFactor(_ mode: UInt8, _ c: UnsafePointer<Double>, _ alpha: Double, derivative: Bool) -> (Double, Double) {
    if mode == 0 { return (alpha, 1) }
    if mode == 1 && alpha > -1 && alpha < 1 {
        let x = alpha
        let v = 1 + x * (c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5])))))
        guard derivative else { return (v, 0) }
        let d = c[0] + x * (c[6] + x * (c[7] + x * (c[8] + x * (c[9] + x * c[10]))))
        return (v, d)
    }
    // code1 everywhere, code4 for |α| ≥ 1: δ₊^α (α > 0) or δ₋^(−α), written as exp(α ln δ).
    if alpha > 0 {
        let v = Foundation.exp(alpha * c[11])
        return (v, v * c[11])
    }
    let v = Foundation.exp(-alpha * c[12])
    return (v, -v * c[12])
}

@inline(__always)
private func histoDelta(_ code: UInt8, _ alpha: Double, _ up: Double, _ down: Double) -> (Double, Double) {
    additiveInterpolation(code == 0 ? .code0 : code == 2 ? .code2 : .code4p, alpha: alpha, up: up, down: down)
}

extension HistFactoryModel {
    /// The expected main-bin yields ν_b(θ) in model order (pyhf's `expected_data(include_auxdata=False)`).
    ///
    /// - Complexity: O(number of modifier terms × bins).
    public func expectedMainData(_ parameters: [Double]) -> [Double] {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        var nu = [Double](repeating: 0, count: mainBinCount)
        var scratch = EvaluationScratch(flat, wantGradient: false)
        forwardPass(parameters, &nu, &scratch, wantGradient: false)
        return nu
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

    /// ν_b and, per entry bin, what the gradient pass needs.
    private func forwardPass(_ parameters: [Double], _ nu: inout [Double], _ scratch: inout EvaluationScratch, wantGradient: Bool) {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        let entryCount = flat.entryBinStart.count
        flat.withPointers { f in
            parameters.withUnsafeBufferPointer { parsBuffer in
            nu.withUnsafeMutableBufferPointer { nuBuffer in
            scratch.products.withUnsafeMutableBufferPointer { products in
            scratch.base.withUnsafeMutableBufferPointer { baseBuffer in
            scratch.binFactor.withUnsafeMutableBufferPointer { factorBuffer in
            scratch.scalarValue.withUnsafeMutableBufferPointer { sv in
            scratch.scalarDerivative.withUnsafeMutableBufferPointer { sd in
                let pars = parsBuffer.baseAddress!
                let nuP = nuBuffer.baseAddress!
                for e in 0..<entryCount {
                    var product = 1.0
                    for t in f.scalarRange[e] {
                        let (v, d) = scalarFactor(f.scalarMode[t], f.scalarCoefficients + scalarStride * t, pars[f.scalarParameter[t]], derivative: wantGradient)
                        product *= v
                        if wantGradient {
                            sv[t] = v
                            sd[t] = d
                        }
                    }
                    products[e] = product
                    let n = f.binCount[e]
                    let local = f.localOffset[e]
                    let start = f.binStart[e]
                    let histos = f.histoRange[e]
                    let binTerms = f.binTermRange[e]
                    for j in 0..<n {
                        var base = f.nominal[local + j]
                        for h in histos {
                            let k = 2 * (f.histoOffset[h] + j)
                            base += histoDelta(f.histoCode[h], pars[f.histoParameter[h]], f.histoData[k], f.histoData[k + 1]).0
                        }
                        var factor = 1.0
                        for g in binTerms { factor *= pars[f.binTermParameters[f.binTermOffset[g] + j]] }
                        if wantGradient {
                            baseBuffer[local + j] = base
                            factorBuffer[local + j] = factor
                        }
                        nuP[start + j] += product * factor * base
                    }
                }
            }}}}}}}
        }
    }

    /// One pass for ν, one for the gradient.
    ///
    /// With ν_sb = P_s · G_sb · B_sb (P the scalar-factor product, G the per-bin factor product,
    /// B the nominal plus histosys deltas) and w_b = n_b/ν_b − 1 = ∂ log L/∂ν_b:
    /// ∂/∂θ_k (scalar factor f_k) = f_k' · Π_{j≠k} f_j · Σ_b w_b G_sb B_sb,
    /// ∂/∂α_h = P_s Σ_b w_b G_sb ∂Δ_hb/∂α, ∂/∂γ_gb = w_b P_s B_sb Π_{g'≠g} γ_g'b.
    private func evaluate(_ parameters: [Double], data: ModelData, gradient: inout [Double], wantGradient: Bool) -> Double {
        let binTotal = mainBinCount
        var nu = [Double](repeating: 0, count: binTotal)
        var scratch = EvaluationScratch(flat, wantGradient: wantGradient)
        forwardPass(parameters, &nu, &scratch, wantGradient: wantGradient)

        // Main Poisson terms: n ln ν − ν (xlogy: 0·ln 0 = 0); ln Γ(n+1) is in data.logFactorials.
        var logL = -data.logFactorials
        var weights = [Double](repeating: 0, count: binTotal)
        for b in 0..<binTotal {
            let n = data.main[b]
            let v = nu[b]
            logL += (n == 0 ? 0 : n * Foundation.log(v)) - v
            weights[b] = (n == 0 ? 0 : n / v) - 1
        }
        for c in normalConstraints {
            let r = (data.auxiliary[c.auxIndex] - parameters[c.parameter]) / c.sigma
            logL += c.logNormalization - 0.5 * r * r
        }
        for c in poissonConstraints {
            let a = data.auxiliary[c.auxIndex]
            let rate = parameters[c.parameter] * c.factor
            logL += (a == 0 ? 0 : a * Foundation.log(rate)) - rate
        }
        guard wantGradient else { return logL }

        gradient = [Double](repeating: 0, count: parameterCount)
        for c in normalConstraints {
            gradient[c.parameter] += (data.auxiliary[c.auxIndex] - parameters[c.parameter]) / (c.sigma * c.sigma)
        }
        for c in poissonConstraints {
            let a = data.auxiliary[c.auxIndex]
            gradient[c.parameter] += (a == 0 ? 0 : a / parameters[c.parameter]) - c.factor
        }
        let entryCount = flat.entryBinStart.count
        flat.withPointers { f in
            parameters.withUnsafeBufferPointer { parsBuffer in
            gradient.withUnsafeMutableBufferPointer { gradBuffer in
            weights.withUnsafeBufferPointer { wBuffer in
            scratch.products.withUnsafeBufferPointer { products in
            scratch.base.withUnsafeBufferPointer { baseBuffer in
            scratch.binFactor.withUnsafeBufferPointer { factorBuffer in
            scratch.scalarValue.withUnsafeBufferPointer { sv in
            scratch.scalarDerivative.withUnsafeBufferPointer { sd in
            scratch.prefix.withUnsafeMutableBufferPointer { prefixBuffer in
                let pars = parsBuffer.baseAddress!
                let grad = gradBuffer.baseAddress!
                let w = wBuffer.baseAddress!
                for e in 0..<entryCount {
                    let product = products[e]
                    let n = f.binCount[e]
                    let local = f.localOffset[e]
                    let start = f.binStart[e]
                    let histos = f.histoRange[e]
                    let binTerms = f.binTermRange[e]
                    var sumWGB = 0.0
                    for j in 0..<n {
                        let wb = w[start + j]
                        let g = factorBuffer[local + j]
                        let base = baseBuffer[local + j]
                        sumWGB += wb * g * base
                        for t in binTerms {
                            // The other per-bin factors, multiplied out (γ may be 0 for shapefactor).
                            var others = 1.0
                            for u in binTerms where u != t { others *= pars[f.binTermParameters[f.binTermOffset[u] + j]] }
                            grad[f.binTermParameters[f.binTermOffset[t] + j]] += wb * product * base * others
                        }
                        if !histos.isEmpty {
                            let scale = wb * product * g
                            for h in histos {
                                let k = 2 * (f.histoOffset[h] + j)
                                let p = f.histoParameter[h]
                                grad[p] += scale * histoDelta(f.histoCode[h], pars[p], f.histoData[k], f.histoData[k + 1]).1
                            }
                        }
                    }
                    // Π_{j≠k} f_j from prefix and suffix products: O(k), exact when some f_j = 0.
                    let scalars = f.scalarRange[e]
                    var running = 1.0
                    for t in scalars {
                        prefixBuffer[t - scalars.lowerBound] = running
                        running *= sv[t]
                    }
                    var suffix = 1.0
                    for t in scalars.reversed() {
                        grad[f.scalarParameter[t]] += sumWGB * prefixBuffer[t - scalars.lowerBound] * suffix * sd[t]
                        suffix *= sv[t]
                    }
                }
            }}}}}}}}}
        }
        return logL
    }
}

/// Per-call scratch space of one evaluation.
struct EvaluationScratch {
    var products: [Double]
    var base: [Double]
    var binFactor: [Double]
    var scalarValue: [Double]
    var scalarDerivative: [Double]
    var prefix: [Double]

    init(_ flat: FlatModel, wantGradient: Bool) {
        products = [Double](repeating: 0, count: flat.entryBinStart.count)
        let local = wantGradient ? flat.localBinCount : 0
        base = [Double](repeating: 0, count: local)
        binFactor = [Double](repeating: 0, count: local)
        let scalars = wantGradient ? flat.scalarParameter.count : 0
        scalarValue = [Double](repeating: 0, count: scalars)
        scalarDerivative = [Double](repeating: 0, count: scalars)
        prefix = [Double](repeating: 0, count: wantGradient ? (flat.entryScalarRange.map(\.count).max() ?? 0) : 0)
    }
}
