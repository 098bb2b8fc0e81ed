import Foundation

extension HistFactoryModel {
    /// The expected main-bin yields ν_b(θ) in model order (pyhf's `expected_data(include_auxdata=False)`).
    ///
    /// - Complexity: O(number of modifier terms × bins).
    public func expectedMainData(_ parameters: [Double]) -> [Double] {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        var nu = [Double](repeating: 0, count: mainBinCount)
        for entry in entries {
            var product = 1.0
            for term in entry.scalars {
                product *= term.interpolation?.valueAndDerivative(parameters[term.parameter]).0 ?? parameters[term.parameter]
            }
            for j in 0..<entry.binCount {
                var base = entry.nominal[j]
                for h in entry.histos {
                    base += additiveInterpolation(h.code, alpha: parameters[h.parameter], up: h.up[j], down: h.down[j]).0
                }
                var factor = product
                for g in entry.binTerms { factor *= parameters[g.parameters[j]] }
                nu[entry.binStart + j] += factor * base
            }
        }
        return nu
    }

    /// The expected auxiliary data: θ for Gaussian constraints, γτ for Poisson ones.
    public func expectedAuxiliaryData(_ parameters: [Double]) -> [Double] {
        var aux = auxiliaryData
        for c in normalConstraints { aux[c.auxIndex] = parameters[c.parameter] }
        for c in poissonConstraints { aux[c.auxIndex] = parameters[c.parameter] * c.factor }
        return aux
    }

    /// log L(θ) with every constant term (pyhf's `Model.logpdf`).
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

    /// One pass for ν, one for the gradient.
    ///
    /// With ν_sb = P_s · G_sb · B_sb (P the scalar-factor product, G the per-bin factor product,
    /// B the nominal plus histosys deltas) and w_b = n_b/ν_b − 1 = ∂ log L/∂ν_b:
    /// ∂/∂θ_k (scalar factor f_k) = f_k' · Π_{j≠k} f_j · Σ_b w_b G_sb B_sb,
    /// ∂/∂α_h = P_s Σ_b w_b G_sb ∂Δ_hb/∂α, ∂/∂γ_gb = w_b P_s B_sb Π_{g'≠g} γ_g'b.
    private func evaluate(_ parameters: [Double], data: ModelData, gradient: inout [Double], wantGradient: Bool) -> Double {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        let binTotal = mainBinCount
        var nu = [Double](repeating: 0, count: binTotal)
        // Per-entry scratch: the scalar product and, per bin, base B and bin-factor product G.
        var products = [Double](repeating: 0, count: entries.count)
        var baseScratch = [Double](repeating: 0, count: entries.reduce(0) { $0 + $1.binCount })
        var factorScratch = baseScratch
        var scalarValues: [Double] = []
        var scalarDerivatives: [Double] = []
        if wantGradient {
            let totalScalars = entries.reduce(0) { $0 + $1.scalars.count }
            scalarValues.reserveCapacity(totalScalars)
            scalarDerivatives.reserveCapacity(totalScalars)
            gradient = [Double](repeating: 0, count: parameterCount)
        }
        parameters.withUnsafeBufferPointer { pars in
            var cursor = 0
            for (e, entry) in entries.enumerated() {
                var product = 1.0
                for term in entry.scalars {
                    if let interpolation = term.interpolation {
                        let (v, d) = interpolation.valueAndDerivative(pars[term.parameter])
                        product *= v
                        if wantGradient {
                            scalarValues.append(v)
                            scalarDerivatives.append(d)
                        }
                    } else {
                        let v = pars[term.parameter]
                        product *= v
                        if wantGradient {
                            scalarValues.append(v)
                            scalarDerivatives.append(1)
                        }
                    }
                }
                products[e] = product
                for j in 0..<entry.binCount {
                    var base = entry.nominal[j]
                    for h in entry.histos {
                        base += additiveInterpolation(h.code, alpha: pars[h.parameter], up: h.up[j], down: h.down[j]).0
                    }
                    var factor = 1.0
                    for g in entry.binTerms { factor *= pars[g.parameters[j]] }
                    baseScratch[cursor + j] = base
                    factorScratch[cursor + j] = factor
                    nu[entry.binStart + j] += product * factor * base
                }
                cursor += entry.binCount
            }
        }

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

        for c in normalConstraints {
            gradient[c.parameter] += (data.auxiliary[c.auxIndex] - parameters[c.parameter]) / (c.sigma * c.sigma)
        }
        for c in poissonConstraints {
            let a = data.auxiliary[c.auxIndex]
            gradient[c.parameter] += (a == 0 ? 0 : a / parameters[c.parameter]) - c.factor
        }
        var cursor = 0
        var scalarCursor = 0
        var scalarPrefix = [Double](repeating: 0, count: entries.map(\.scalars.count).max() ?? 0)
        for (e, entry) in entries.enumerated() {
            let product = products[e]
            var sumWGB = 0.0
            for j in 0..<entry.binCount {
                let w = weights[entry.binStart + j]
                let g = factorScratch[cursor + j]
                let base = baseScratch[cursor + j]
                sumWGB += w * g * base
                for t in entry.binTerms.indices {
                    // Product of the other per-bin factors, without dividing (γ may be 0 for shapefactor).
                    var others = 1.0
                    for u in entry.binTerms.indices where u != t { others *= parameters[entry.binTerms[u].parameters[j]] }
                    gradient[entry.binTerms[t].parameters[j]] += w * product * base * others
                }
                if !entry.histos.isEmpty {
                    let scale = w * product * g
                    for h in entry.histos {
                        gradient[h.parameter] += scale * additiveInterpolation(h.code, alpha: parameters[h.parameter], up: h.up[j], down: h.down[j]).1
                    }
                }
            }
            // Π_{j≠k} f_j from prefix and suffix products: O(k), and exact when some f_j = 0.
            let count = entry.scalars.count
            var prefix = 1.0
            for k in 0..<count {
                scalarPrefix[k] = prefix
                prefix *= scalarValues[scalarCursor + k]
            }
            var suffix = 1.0
            for k in stride(from: count - 1, through: 0, by: -1) {
                gradient[entry.scalars[k].parameter] += sumWGB * scalarPrefix[k] * suffix * scalarDerivatives[scalarCursor + k]
                suffix *= scalarValues[scalarCursor + k]
            }
            scalarCursor += count
            cursor += entry.binCount
        }
        return logL
    }
}
