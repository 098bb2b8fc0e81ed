extension PolynomialTemplates {
    /// The yields `ν_b(c) = Σ_t m_t(c) C_tb` of all bins and, optionally, their Jacobian
    ///
    /// ```
    /// ∂ν_b/∂c_i = Σ_t (∂m_t/∂c_i)(c) C_tb,    jacobian[i·B + b]
    /// ```
    ///
    /// (coefficient-major: row `i` holds the derivative of every bin with respect to `c_i`).
    /// The monomial values and the factors of their derivatives (1, `2c_i`, `c_j`, or the general
    /// product rule) are computed once per call, then combined with the templates: the yields bin by
    /// bin, the Jacobian element by element when any template is sparse (each non-zero element
    /// written once), column by column when all are dense. Scratch is on the stack up to 128 doubles.
    ///
    /// - Parameters:
    ///   - coefficients: `c`, in the order of ``coefficientNames``.
    ///   - yields: `B` doubles, overwritten.
    ///   - jacobian: `coefficientCount·B` doubles, overwritten; `nil` skips the derivative.
    /// - Complexity: O(C + T + G + S + D·B) for the yields, plus O(C·B + S_f + D_f) for the Jacobian
    ///   (O(C·B + D_f·B) with dense templates only), where `D` is the number of dense terms, `S` the
    ///   number of stored sparse entries, `S_f`, `D_f` the non-zero sparse and dense entries counted
    ///   once per factor, and `G` the number of factors of terms that are not constant, linear,
    ///   square or a product of two coefficients. Reads 12 bytes per sparse entry, 8 per dense
    ///   coefficient and 12 per Jacobian contribution.
    public func evaluate(
        at coefficients: UnsafeBufferPointer<Double>,
        yields: UnsafeMutableBufferPointer<Double>,
        jacobian: UnsafeMutableBufferPointer<Double>? = nil
    ) {
        let kernel = _kernel
        precondition(coefficients.count == kernel.coefficientCount, "\(coefficients.count) coefficients, expected \(kernel.coefficientCount)")
        precondition(yields.count == kernel.binCount, "yield buffer of \(yields.count), expected \(kernel.binCount)")
        precondition(jacobian.map { $0.count == kernel.coefficientCount * kernel.binCount } ?? true, "Jacobian buffer of wrong size")
        guard kernel.binCount > 0 else { return }
        withScratch { x, _ in
            // With no coefficients only the SM term exists and `c` is never read.
            kernel.fillValues(coefficients.baseAddress ?? UnsafePointer(x), x, termValues: true)
            kernel.combine(x, yields.baseAddress!, jacobian?.baseAddress)
        }
    }

    /// ``evaluate(at:yields:jacobian:)`` with caller-provided scratch space of at least
    /// ``scratchCapacity`` doubles, for callers that keep one buffer per thread.
    public func evaluate(
        at coefficients: UnsafeBufferPointer<Double>,
        yields: UnsafeMutableBufferPointer<Double>,
        jacobian: UnsafeMutableBufferPointer<Double>?,
        scratch: UnsafeMutableBufferPointer<Double>
    ) {
        let kernel = _kernel
        precondition(coefficients.count == kernel.coefficientCount, "\(coefficients.count) coefficients, expected \(kernel.coefficientCount)")
        precondition(yields.count == kernel.binCount, "yield buffer of \(yields.count), expected \(kernel.binCount)")
        precondition(jacobian.map { $0.count == kernel.coefficientCount * kernel.binCount } ?? true, "Jacobian buffer of wrong size")
        precondition(scratch.count >= scratchCapacity, "scratch of \(scratch.count), needs \(scratchCapacity)")
        guard kernel.binCount > 0 else { return }
        let x = scratch.baseAddress!
        kernel.fillValues(coefficients.baseAddress ?? UnsafePointer(x), x, termValues: true)
        kernel.combine(x, yields.baseAddress!, jacobian?.baseAddress)
    }

    /// The scratch doubles one evaluation needs: `1 + 2C`, one per term that is neither constant nor
    /// linear, one per factor of a term of degree above 2 or of three or more factors, and one per term.
    public var scratchCapacity: Int { max(_kernel.scratchCount, 1) }

    /// Runs `body` with scratch for the value vector `x` (see `_EvaluationKernel`) and the per-term
    /// template sums `s` of the vector–Jacobian product (T doubles).
    ///
    /// Up to 1 KiB comes from the stack. Above that `withUnsafeTemporaryAllocation` asks the runtime
    /// whether the stack has room, which on Linux reads the thread's stack bounds with
    /// `pthread_getattr_np` (for the main thread, by parsing `/proc/self/maps`: microseconds), so a
    /// plain heap allocation (tens of nanoseconds) is cheaper there.
    @inline(__always)
    internal func withScratch(_ body: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void) {
        let kernel = _kernel, count = scratchCapacity
        if count <= 128 {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 128) { scratch in
                body(scratch.baseAddress!, scratch.baseAddress! + kernel.valueCount)
            }
        } else {
            let scratch = UnsafeMutablePointer<Double>.allocate(capacity: count)
            defer { scratch.deallocate() }
            body(scratch, scratch + kernel.valueCount)
        }
    }

    /// Adds the vector–Jacobian product to `gradient`:
    ///
    /// ```
    /// g_i += Σ_b w_b ∂ν_b/∂c_i = Σ_t (Σ_b w_b C_tb) (∂m_t/∂c_i)(c)
    /// ```
    ///
    /// With `w_b = ∂(−ln L)/∂ν_b` this is the Wilson-coefficient part of the likelihood gradient,
    /// without forming the `C×B` Jacobian. Each `s_t = Σ_b w_b C_tb` is formed once, then each `g_i`
    /// summed over the factors `c_i` of the terms.
    ///
    /// - Complexity: O(C + G + F + S + D·B), with `F` the number of monomial factors and the other
    ///   symbols as in ``evaluate(at:yields:jacobian:)``.
    public func accumulateVectorJacobianProduct(
        at coefficients: UnsafeBufferPointer<Double>,
        cotangent: UnsafeBufferPointer<Double>,
        into gradient: UnsafeMutableBufferPointer<Double>
    ) {
        let kernel = _kernel
        precondition(coefficients.count == kernel.coefficientCount, "\(coefficients.count) coefficients, expected \(kernel.coefficientCount)")
        precondition(cotangent.count == kernel.binCount, "cotangent of \(cotangent.count), expected \(kernel.binCount)")
        precondition(gradient.count == kernel.coefficientCount, "gradient of \(gradient.count), expected \(kernel.coefficientCount)")
        guard kernel.binCount > 0, kernel.coefficientCount > 0 else { return }
        withScratch { x, s in
            kernel.fillValues(coefficients.baseAddress!, x, termValues: false)
            kernel.pullback(x, s, cotangent.baseAddress!, gradient.baseAddress!)
        }
    }

    /// The yields at `c` (allocating convenience of ``evaluate(at:yields:jacobian:)``).
    public func yields(at coefficients: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: binCount)
        coefficients.withUnsafeBufferPointer { c in
            y.withUnsafeMutableBufferPointer { evaluate(at: c, yields: $0) }
        }
        return y
    }

    /// The yields and the coefficient-major Jacobian `jacobian[i·B + b] = ∂ν_b/∂c_i` at `c`.
    public func yieldsAndJacobian(at coefficients: [Double]) -> (yields: [Double], jacobian: [Double]) {
        var y = [Double](repeating: 0, count: binCount)
        var j = [Double](repeating: 0, count: binCount * coefficientCount)
        coefficients.withUnsafeBufferPointer { c in
            y.withUnsafeMutableBufferPointer { yb in
                j.withUnsafeMutableBufferPointer { evaluate(at: c, yields: yb, jacobian: $0) }
            }
        }
        return (y, j)
    }

    /// The monomial values `m_t(c)`, in term order.
    public func monomialValues(at coefficients: [Double]) -> [Double] {
        precondition(coefficients.count == coefficientCount, "\(coefficients.count) coefficients, expected \(coefficientCount)")
        return monomials.map { $0.value(at: coefficients) }
    }
}
