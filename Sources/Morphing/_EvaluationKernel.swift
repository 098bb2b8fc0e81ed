/// The flattened term structure of a ``PolynomialTemplates`` in raw memory, for the hot loops.
///
/// `@unchecked Sendable` is sound because every buffer is written once, in `init`, and only read
/// afterwards; the class owns its buffers and frees them in `deinit`. Raw pointers instead of arrays
/// keep bounds checks and `withUnsafeBufferPointer` nesting out of loops that run ~10⁸ times per fit;
/// the index arrays they hold were range-checked when the templates were built.
internal final class _EvaluationKernel: @unchecked Sendable {
    let termCount: Int
    let factorCount: Int
    let binCount: Int
    let coefficientCount: Int
    let factorOffsets: UnsafeMutablePointer<Int>
    let factorCoefficients: UnsafeMutablePointer<Int>
    let factorPowers: UnsafeMutablePointer<Int>
    let denseCount: Int
    let denseTerms: UnsafeMutablePointer<Int>
    let denseValues: UnsafeMutablePointer<Double>
    let sparseCount: Int
    let sparseTerms: UnsafeMutablePointer<Int>
    let sparseOffsets: UnsafeMutablePointer<Int>
    // 32-bit bin indices: half the index traffic, and the kernel's working set stays in L1 longer.
    let sparseBins: UnsafeMutablePointer<Int32>
    let sparseValues: UnsafeMutablePointer<Double>
    // The sparse entries again, bin-major: bin b holds entries binOffsets[b]..<binOffsets[b+1], each a
    // term index and its value. The yields then gather monomial values (T doubles, in L1) into one
    // register accumulator per bin instead of read-modify-writing y once per entry.
    let binOffsets: UnsafeMutablePointer<Int>
    let binTerms: UnsafeMutablePointer<Int32>
    let binValues: UnsafeMutablePointer<Double>

    /// Scratch doubles an evaluation needs: the monomial values and one derivative per factor.
    var scratchCount: Int { termCount + factorCount }

    init(
        binCount: Int, coefficientCount: Int,
        factorOffsets: [Int], factorCoefficients: [Int], factorPowers: [Int],
        denseTerms: [Int], denseValues: [Double],
        sparseTerms: [Int], sparseOffsets: [Int], sparseBins: [Int], sparseValues: [Double]
    ) {
        termCount = factorOffsets.count - 1
        factorCount = factorCoefficients.count
        self.binCount = binCount
        self.coefficientCount = coefficientCount
        self.factorOffsets = Self.copy(factorOffsets)
        self.factorCoefficients = Self.copy(factorCoefficients)
        self.factorPowers = Self.copy(factorPowers)
        denseCount = denseTerms.count
        self.denseTerms = Self.copy(denseTerms)
        self.denseValues = Self.copy(denseValues)
        sparseCount = sparseTerms.count
        self.sparseTerms = Self.copy(sparseTerms)
        self.sparseOffsets = Self.copy(sparseOffsets)
        self.sparseBins = Self.copy(sparseBins.map { Int32($0) })
        self.sparseValues = Self.copy(sparseValues)
        var byBin = [[(Int32, Double)]](repeating: [], count: binCount)
        for j in 0 ..< sparseTerms.count {
            for k in sparseOffsets[j] ..< sparseOffsets[j + 1] { byBin[Int(sparseBins[k])].append((Int32(sparseTerms[j]), sparseValues[k])) }
        }
        var offsets = [0]
        for entries in byBin { offsets.append(offsets.last! + entries.count) }
        binOffsets = Self.copy(offsets)
        binTerms = Self.copy(byBin.flatMap { $0.map(\.0) })
        binValues = Self.copy(byBin.flatMap { $0.map(\.1) })
    }

    deinit {
        factorOffsets.deallocate()
        factorCoefficients.deallocate()
        factorPowers.deallocate()
        denseTerms.deallocate()
        denseValues.deallocate()
        sparseTerms.deallocate()
        sparseOffsets.deallocate()
        sparseBins.deallocate()
        sparseValues.deallocate()
        binOffsets.deallocate()
        binTerms.deallocate()
        binValues.deallocate()
    }

    private static func copy<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
        _ = UnsafeMutableBufferPointer(start: pointer, count: array.count).initialize(from: array)
        return pointer
    }

    /// `(x^p, p x^{p-1})` for `p ≥ 1`.
    @inline(__always)
    private static func powerAndDerivative(_ x: Double, _ p: Int) -> (Double, Double) {
        switch p {
        case 1: return (x, 1)
        case 2: return (x * x, 2 * x)
        default:
            let lower = integerPower(x, p - 1)
            return (lower * x, Double(p) * lower)
        }
    }

    /// `m[t] = m_t(c)` and `d[f] = ∂m_t/∂c_i` for each factor `f = (i, p)` of term `t`.
    ///
    /// The derivative is the product of the other factors times `p c_i^{p-1}`, never `m_t·p/c_i`,
    /// so it is exact at `c_i = 0`.
    @inline(__always)
    func monomialValues(_ c: UnsafePointer<Double>, _ m: UnsafeMutablePointer<Double>, _ d: UnsafeMutablePointer<Double>) {
        for t in 0 ..< termCount {
            let lo = factorOffsets[t], hi = factorOffsets[t + 1]
            switch hi - lo {
            case 0:
                m[t] = 1
            case 1:
                let (a, da) = Self.powerAndDerivative(c[factorCoefficients[lo]], factorPowers[lo])
                m[t] = a
                d[lo] = da
            case 2:
                let (a, da) = Self.powerAndDerivative(c[factorCoefficients[lo]], factorPowers[lo])
                let (b, db) = Self.powerAndDerivative(c[factorCoefficients[lo + 1]], factorPowers[lo + 1])
                m[t] = a * b
                d[lo] = da * b
                d[lo + 1] = a * db
            default:
                // ∂m/∂c_f = (product of the factors before f) · p c^{p−1} · (product of those after f):
                // a forward pass leaves the prefix products in d, a backward pass multiplies in the
                // suffix products, so F factors cost O(F) and no division by c (exact at c = 0).
                var prefix = 1.0
                for f in lo ..< hi {
                    d[f] = prefix
                    prefix *= integerPower(c[factorCoefficients[f]], factorPowers[f])
                }
                var suffix = 1.0
                for f in (lo ..< hi).reversed() {
                    let (value, derivative) = Self.powerAndDerivative(c[factorCoefficients[f]], factorPowers[f])
                    d[f] *= derivative * suffix
                    suffix *= value
                }
                m[t] = prefix
            }
        }
    }

    /// `y_b = Σ_t m_t C_tb` and, if `jacobian` is given, `J[i·B + b] = Σ_t (∂m_t/∂c_i) C_tb`.
    ///
    /// One pass over each template feeds the yields and the Jacobian rows of the term's factors, so
    /// every stored coefficient is loaded once per call.
    @inline(__always)
    func combine(_ m: UnsafePointer<Double>, _ d: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ jacobian: UnsafeMutablePointer<Double>?) {
        let B = binCount
        y.update(repeating: 0, count: B)
        guard let jacobian else {
            for j in 0 ..< denseCount {
                let w = m[denseTerms[j]]
                let column = denseValues + j * B
                for b in 0 ..< B { y[b] += w * column[b] }
            }
            gatherSparse(m, y)
            return
        }
        jacobian.update(repeating: 0, count: coefficientCount * B)
        for j in 0 ..< denseCount {
            let t = denseTerms[j]
            let w = m[t]
            let column = denseValues + j * B
            let lo = factorOffsets[t]
            switch factorOffsets[t + 1] - lo {
            case 0:
                for b in 0 ..< B { y[b] += w * column[b] }
            case 1:
                let w0 = d[lo], row0 = jacobian + factorCoefficients[lo] * B
                for b in 0 ..< B {
                    let x = column[b]
                    y[b] += w * x
                    row0[b] += w0 * x
                }
            case 2:
                let w0 = d[lo], row0 = jacobian + factorCoefficients[lo] * B
                let w1 = d[lo + 1], row1 = jacobian + factorCoefficients[lo + 1] * B
                for b in 0 ..< B {
                    let x = column[b]
                    y[b] += w * x
                    row0[b] += w0 * x
                    row1[b] += w1 * x
                }
            default:
                for b in 0 ..< B { y[b] += w * column[b] }
                for f in lo ..< factorOffsets[t + 1] {
                    let wf = d[f], row = jacobian + factorCoefficients[f] * B
                    for b in 0 ..< B { row[b] += wf * column[b] }
                }
            }
        }
        gatherSparse(m, y)
        for j in 0 ..< sparseCount {
            let t = sparseTerms[j]
            let lo = factorOffsets[t]
            let first = sparseOffsets[j], last = sparseOffsets[j + 1]
            switch factorOffsets[t + 1] - lo {
            case 0:
                break
            case 1:
                let w0 = d[lo], row0 = jacobian + factorCoefficients[lo] * B
                for k in first ..< last { row0[Int(sparseBins[k])] += w0 * sparseValues[k] }
            case 2:
                let w0 = d[lo], row0 = jacobian + factorCoefficients[lo] * B
                let w1 = d[lo + 1], row1 = jacobian + factorCoefficients[lo + 1] * B
                for k in first ..< last {
                    let b = Int(sparseBins[k]), x = sparseValues[k]
                    row0[b] += w0 * x
                    row1[b] += w1 * x
                }
            default:
                for f in lo ..< factorOffsets[t + 1] {
                    let wf = d[f], row = jacobian + factorCoefficients[f] * B
                    for k in first ..< last { row[Int(sparseBins[k])] += wf * sparseValues[k] }
                }
            }
        }
    }

    /// `y_b += Σ_{(t, v) ∈ bin b} m_t v` over the sparse entries, bin-major with four partial sums
    /// (the additions are independent, so a bin's entries do not wait on one accumulator's latency).
    @inline(__always)
    func gatherSparse(_ m: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
        for b in 0 ..< binCount {
            var k = binOffsets[b]
            let end = binOffsets[b + 1]
            var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
            while k + 4 <= end {
                s0 += m[Int(binTerms[k])] * binValues[k]
                s1 += m[Int(binTerms[k + 1])] * binValues[k + 1]
                s2 += m[Int(binTerms[k + 2])] * binValues[k + 2]
                s3 += m[Int(binTerms[k + 3])] * binValues[k + 3]
                k += 4
            }
            while k < end {
                s0 += m[Int(binTerms[k])] * binValues[k]
                k += 1
            }
            y[b] += (s0 + s1) + (s2 + s3)
        }
    }

    /// `g_i += Σ_t (Σ_b w_b C_tb) ∂m_t/∂c_i`.
    @inline(__always)
    func pullback(_ d: UnsafePointer<Double>, _ w: UnsafePointer<Double>, _ g: UnsafeMutablePointer<Double>) {
        let B = binCount
        for j in 0 ..< denseCount {
            let t = denseTerms[j]
            let column = denseValues + j * B
            var s = 0.0
            for b in 0 ..< B { s += w[b] * column[b] }
            for f in factorOffsets[t] ..< factorOffsets[t + 1] { g[factorCoefficients[f]] += s * d[f] }
        }
        for j in 0 ..< sparseCount {
            let t = sparseTerms[j]
            var s = 0.0
            for k in sparseOffsets[j] ..< sparseOffsets[j + 1] { s += w[Int(sparseBins[k])] * sparseValues[k] }
            for f in factorOffsets[t] ..< factorOffsets[t + 1] { g[factorCoefficients[f]] += s * d[f] }
        }
    }
}
