/// The flattened term structure of a ``PolynomialTemplates`` in raw memory, for the hot loops.
///
/// `@unchecked Sendable` is sound because every buffer is written once, in `init`, and only read
/// afterwards; the class owns its buffers and frees them in `deinit`. Raw pointers instead of arrays
/// keep bounds checks and `withUnsafeBufferPointer` nesting out of loops that run ~10⁸ times per fit;
/// the index arrays they hold were range-checked when the templates were built, and every index
/// into the value vector is below ``valueCount`` by construction.
///
/// An evaluation first fills a value vector (scratch) with everything a stored template is
/// multiplied by,
///
/// ```
/// x = [1 | c_0 … c_{C−1} | 2c_0 … 2c_{C−1} | m_t(c) of the other terms | ∂m_t/∂c_i of the general terms]
/// ```
///
/// so that term `t` adds `x[slot_t] C_tb` to `ν_b`, and each factor `c_i^p` of it adds
/// `x[multiplier] C_tb` to `∂ν_b/∂c_i`, the multiplier being 1 for `c_i`, `2c_i` for `c_i²` and `c_j`
/// for `c_i c_j`. Constant and linear terms cost nothing and a square or cross term one product;
/// these are nearly all the terms of a quadratic SMEFT parametrisation. Other shapes (a power above
/// 2, three factors) take the general loop.
///
/// Every sum is formed in the same order as the plain term-by-term loops (dense terms, then sparse
/// terms, each in term order), so the results do not depend on this layout.
internal final class _EvaluationKernel: @unchecked Sendable {
    let termCount: Int
    let binCount: Int
    let coefficientCount: Int

    // Value vector layout: x[0] = 1, c at 1, 2c at doubledBase, then squares, crosses, general
    // terms (values) and the general terms' factor derivatives.
    let doubledBase: Int
    let squareBase: Int
    let squareCount: Int
    let squareCoefficients: UnsafeMutablePointer<Int>
    let crossBase: Int
    let crossCount: Int
    let crossFirst: UnsafeMutablePointer<Int>
    let crossSecond: UnsafeMutablePointer<Int>
    let generalBase: Int
    let generalCount: Int
    let generalOffsets: UnsafeMutablePointer<Int>
    let generalCoefficients: UnsafeMutablePointer<Int>
    let generalPowers: UnsafeMutablePointer<Int>
    let derivativeBase: Int
    /// The length of the value vector `x`.
    let valueCount: Int

    // Dense terms: column j is denseValues[j·B ..< (j+1)·B], its monomial x[denseSlots[j]], its
    // factors denseFactorOffsets[j] ..< denseFactorOffsets[j+1] (coefficient, multiplier).
    let denseCount: Int
    let denseSlots: UnsafeMutablePointer<Int>
    let denseValues: UnsafeMutablePointer<Double>
    let denseFactorOffsets: UnsafeMutablePointer<Int>
    let denseFactorCoefficients: UnsafeMutablePointer<Int>
    let denseFactorMultipliers: UnsafeMutablePointer<Int>

    // Sparse entries bin-major: bin b holds entries binOffsets[b] ..< binOffsets[b+1], each a value
    // slot and a template value. The yields gather from x (in L1) into register accumulators.
    // 32-bit indices: half the index traffic, and the working set stays in L1 longer.
    let binOffsets: UnsafeMutablePointer<Int>
    let binSlots: UnsafeMutablePointer<Int32>
    let binValues: UnsafeMutablePointer<Double>

    /// Whether the Jacobian is formed element by element (``jacobianRows``), as it is when any
    /// template is sparse; with dense templates only, each column updates whole rows instead.
    let elementwiseJacobian: Bool
    /// `J[i·B + b] = Σ x[multiplier] C_tb` over the terms with a factor `c_i` and `C_tb ≠ 0`, one row
    /// per non-zero element, gathering from x (the CMS STXS production set has 909 non-zero elements
    /// of 3648, of 1 to 20 contributions). The zeros of dense columns are left out: for finite c they
    /// would add ±0, which changes no sum that starts from +0.
    let jacobianRows: _RowSums
    /// `s_t = Σ_b w_b C_tb` for every sparse term of non-zero degree, gathering from w.
    let templateSums: _RowSums
    // The same for the dense terms of non-zero degree, two columns at a time in the lanes of a
    // SIMD2 (w_b is loaded once for both): pair p is terms densePairTerms[2p], [2p+1] with
    // values densePairValues[p·B + b]; an odd one out is term denseSingleTerm, column denseSingleColumn.
    let densePairCount: Int
    let densePairTerms: UnsafeMutablePointer<Int>
    let densePairValues: UnsafeMutablePointer<SIMD2<Double>>
    let denseSingleTerm: Int?
    let denseSingleColumn: Int
    // Per coefficient i, the (term, multiplier) pairs gradientOffsets[i] ..< gradientOffsets[i+1] of
    // its factors, in term order, ∂m_t/∂c_i = x[multiplier]; pair k at gradientPairs[2k], [2k+1].
    let gradientOffsets: UnsafeMutablePointer<Int>
    let gradientPairs: UnsafeMutablePointer<Int32>

    /// Scratch doubles an evaluation needs: the value vector and one template sum per term.
    var scratchCount: Int { valueCount + termCount }

    init(
        binCount: Int, coefficientCount: Int,
        factorOffsets: [Int], factorCoefficients: [Int], factorPowers: [Int],
        denseTerms: [Int], denseValues: [Double],
        sparseTerms: [Int], sparseOffsets: [Int], sparseBins: [Int], sparseValues: [Double]
    ) {
        let termCount = factorOffsets.count - 1, B = binCount, C = coefficientCount
        self.termCount = termCount
        self.binCount = binCount
        self.coefficientCount = coefficientCount

        enum Shape { case constant, linear, square, cross, general }
        let shapes: [Shape] = (0 ..< termCount).map { t in
            let lo = factorOffsets[t]
            switch (factorOffsets[t + 1] - lo, factorPowers[lo...].first ?? 0) {
            case (0, _): return .constant
            case (1, 1): return .linear
            case (1, 2): return .square
            case (2, 1) where factorPowers[lo + 1] == 1: return .cross
            default: return .general
            }
        }
        var squares: [Int] = [], crossFirst: [Int] = [], crossSecond: [Int] = []
        var generalTerms: [Int] = [], generalOffsets = [0], generalCoefficients: [Int] = [], generalPowers: [Int] = []
        for t in 0 ..< termCount {
            let lo = factorOffsets[t], hi = factorOffsets[t + 1]
            switch shapes[t] {
            case .square: squares.append(factorCoefficients[lo])
            case .cross:
                crossFirst.append(factorCoefficients[lo])
                crossSecond.append(factorCoefficients[lo + 1])
            case .general:
                generalTerms.append(t)
                generalCoefficients += factorCoefficients[lo ..< hi]
                generalPowers += factorPowers[lo ..< hi]
                generalOffsets.append(generalCoefficients.count)
            case .constant, .linear: break
            }
        }
        doubledBase = 1 + C
        squareBase = 1 + 2 * C
        squareCount = squares.count
        crossBase = squareBase + squares.count
        crossCount = crossFirst.count
        generalBase = crossBase + crossFirst.count
        generalCount = generalTerms.count
        derivativeBase = generalBase + generalTerms.count
        valueCount = derivativeBase + generalCoefficients.count
        precondition(valueCount + termCount <= Int(Int32.max), "\(valueCount) values: the kernel indexes them with 32 bits")

        // The slot of each term's value and the multiplier slot of each factor (∂m_t/∂c_i = x[multiplier]).
        var slots = [Int](repeating: 0, count: termCount), multipliers = [Int](repeating: 0, count: factorCoefficients.count)
        var square = 0, cross = 0, general = 0
        for t in 0 ..< termCount {
            let lo = factorOffsets[t]
            switch shapes[t] {
            case .constant: slots[t] = 0
            case .linear:
                slots[t] = 1 + factorCoefficients[lo]
                multipliers[lo] = 0
            case .square:
                slots[t] = squareBase + square
                multipliers[lo] = doubledBase + factorCoefficients[lo]
                square += 1
            case .cross:
                slots[t] = crossBase + cross
                multipliers[lo] = 1 + factorCoefficients[lo + 1]
                multipliers[lo + 1] = 1 + factorCoefficients[lo]
                cross += 1
            case .general:
                slots[t] = generalBase + general
                for f in lo ..< factorOffsets[t + 1] { multipliers[f] = derivativeBase + generalOffsets[general] + (f - lo) }
                general += 1
            }
        }
        squareCoefficients = _allocateCopy(squares)
        self.crossFirst = _allocateCopy(crossFirst)
        self.crossSecond = _allocateCopy(crossSecond)
        self.generalOffsets = _allocateCopy(generalOffsets)
        self.generalCoefficients = _allocateCopy(generalCoefficients)
        self.generalPowers = _allocateCopy(generalPowers)

        denseCount = denseTerms.count
        denseSlots = _allocateCopy(denseTerms.map { slots[$0] })
        self.denseValues = _allocateCopy(denseValues)
        denseFactorOffsets = _allocateCopy(denseTerms.reduce(into: [0]) { $0.append($0.last! + factorOffsets[$1 + 1] - factorOffsets[$1]) })
        denseFactorCoefficients = _allocateCopy(denseTerms.flatMap { factorCoefficients[factorOffsets[$0] ..< factorOffsets[$0 + 1]] })
        denseFactorMultipliers = _allocateCopy(denseTerms.flatMap { multipliers[factorOffsets[$0] ..< factorOffsets[$0 + 1]] })

        elementwiseJacobian = !sparseTerms.isEmpty
        var byBin = [[(Int32, Double)]](repeating: [], count: B)
        var byElement: [Int: [(index: Int32, value: Double)]] = [:]
        var sparseTermRows: [(target: Int, entries: [(index: Int32, value: Double)])] = []
        let denseGradient = denseTerms.indices.filter { shapes[denseTerms[$0]] != .constant }
        densePairCount = denseGradient.count / 2
        densePairTerms = _allocateCopy(denseGradient.prefix(2 * densePairCount).map { denseTerms[$0] })
        densePairValues = _allocateCopy((0 ..< densePairCount).flatMap { p in
            (0 ..< B).map { b in SIMD2(denseValues[denseGradient[2 * p] * B + b], denseValues[denseGradient[2 * p + 1] * B + b]) }
        })
        denseSingleTerm = denseGradient.count % 2 == 1 ? denseTerms[denseGradient.last!] : nil
        denseSingleColumn = denseGradient.last ?? 0
        for (j, t) in denseTerms.enumerated() where elementwiseJacobian && shapes[t] != .constant {
            let column = denseValues[j * B ..< (j + 1) * B]
            for (b, value) in column.enumerated() where value != 0 {
                for f in factorOffsets[t] ..< factorOffsets[t + 1] {
                    byElement[factorCoefficients[f] * B + b, default: []].append((Int32(multipliers[f]), value))
                }
            }
        }
        for (j, t) in sparseTerms.enumerated() {
            let entries = sparseOffsets[j] ..< sparseOffsets[j + 1]
            if shapes[t] != .constant { sparseTermRows.append((t, entries.map { (Int32(sparseBins[$0]), sparseValues[$0]) })) }
            for k in entries {
                let b = sparseBins[k], value = sparseValues[k]
                byBin[b].append((Int32(slots[t]), value))
                for f in factorOffsets[t] ..< factorOffsets[t + 1] {
                    byElement[factorCoefficients[f] * B + b, default: []].append((Int32(multipliers[f]), value))
                }
            }
        }
        binOffsets = _allocateCopy(byBin.reduce(into: [0]) { $0.append($0.last! + $1.count) })
        binSlots = _allocateCopy(byBin.flatMap { $0.map(\.0) })
        binValues = _allocateCopy(byBin.flatMap { $0.map(\.1) })
        jacobianRows = _RowSums(rows: byElement.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        templateSums = _RowSums(rows: sparseTermRows)

        var byCoefficient = [[(Int32, Int32)]](repeating: [], count: C)
        for t in denseTerms + sparseTerms {
            for f in factorOffsets[t] ..< factorOffsets[t + 1] { byCoefficient[factorCoefficients[f]].append((Int32(t), Int32(multipliers[f]))) }
        }
        gradientOffsets = _allocateCopy(byCoefficient.reduce(into: [0]) { $0.append($0.last! + $1.count) })
        gradientPairs = _allocateCopy(byCoefficient.flatMap { $0.flatMap { [$0.0, $0.1] } })
    }

    deinit {
        squareCoefficients.deallocate()
        crossFirst.deallocate()
        crossSecond.deallocate()
        generalOffsets.deallocate()
        generalCoefficients.deallocate()
        generalPowers.deallocate()
        denseSlots.deallocate()
        denseValues.deallocate()
        denseFactorOffsets.deallocate()
        denseFactorCoefficients.deallocate()
        denseFactorMultipliers.deallocate()
        binOffsets.deallocate()
        binSlots.deallocate()
        binValues.deallocate()
        jacobianRows.deallocate()
        templateSums.deallocate()
        densePairTerms.deallocate()
        densePairValues.deallocate()
        gradientOffsets.deallocate()
        gradientPairs.deallocate()
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

    /// Fills the value vector `x` at `c`: `1`, `c_i`, `2c_i`, the monomials of the square and cross
    /// terms (if `termValues`) and the values and factor derivatives of the general terms.
    ///
    /// A general term's derivative is the product of the other factors times `p c_i^{p-1}`, never
    /// `m_t·p/c_i`, so it is exact at `c_i = 0`.
    @inline(__always)
    func fillValues(_ c: UnsafePointer<Double>, _ x: UnsafeMutablePointer<Double>, termValues: Bool) {
        x[0] = 1
        let linear = x + 1, doubled = x + doubledBase
        for i in 0 ..< coefficientCount {
            linear[i] = c[i]
            doubled[i] = 2 * c[i]
        }
        if termValues {
            let squares = x + squareBase, coefficients = squareCoefficients
            for q in 0 ..< squareCount {
                let v = c[coefficients[q]]
                squares[q] = v * v
            }
            let crosses = x + crossBase, first = crossFirst, second = crossSecond
            for q in 0 ..< crossCount { crosses[q] = c[first[q]] * c[second[q]] }
        }
        let d = x + derivativeBase
        for g in 0 ..< generalCount {
            let lo = generalOffsets[g], hi = generalOffsets[g + 1]
            switch hi - lo {
            case 1:
                let (a, da) = Self.powerAndDerivative(c[generalCoefficients[lo]], generalPowers[lo])
                x[generalBase + g] = a
                d[lo] = da
            case 2:
                let (a, da) = Self.powerAndDerivative(c[generalCoefficients[lo]], generalPowers[lo])
                let (b, db) = Self.powerAndDerivative(c[generalCoefficients[lo + 1]], generalPowers[lo + 1])
                x[generalBase + g] = a * b
                d[lo] = da * b
                d[lo + 1] = a * db
            default:
                // ∂m/∂c_f = (product of the factors before f) · p c^{p−1} · (product of those after f):
                // a forward pass leaves the prefix products in d, a backward pass multiplies in the
                // suffix products, so F factors cost O(F) and no division by c (exact at c = 0).
                var prefix = 1.0
                for f in lo ..< hi {
                    d[f] = prefix
                    prefix *= integerPower(c[generalCoefficients[f]], generalPowers[f])
                }
                var suffix = 1.0
                for f in (lo ..< hi).reversed() {
                    let (value, derivative) = Self.powerAndDerivative(c[generalCoefficients[f]], generalPowers[f])
                    d[f] *= derivative * suffix
                    suffix *= value
                }
                x[generalBase + g] = prefix
            }
        }
    }

    /// `y_b = Σ_t m_t C_tb` and, if `jacobian` is given, `J[i·B + b] = Σ_t (∂m_t/∂c_i) C_tb`, from
    /// the value vector `x` of ``fillValues(_:_:termValues:)``.
    ///
    /// With dense templates only, a column feeds the yields and the Jacobian rows of its factors in
    /// one vectorised pass. Otherwise the Jacobian is zeroed and its non-zero elements are written
    /// once each from ``jacobianRows``; nothing is read-modify-written.
    @inline(__always)
    func combine(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ jacobian: UnsafeMutablePointer<Double>?) {
        let B = binCount, denseSlots = denseSlots, denseValues = denseValues
        y.update(repeating: 0, count: B)
        guard let jacobian, !elementwiseJacobian else {
            for j in 0 ..< denseCount {
                let w = x[denseSlots[j]]
                let column = denseValues + j * B
                for b in 0 ..< B { y[b] += w * column[b] }
            }
            gatherSparse(x, y)
            if let jacobian {
                jacobian.update(repeating: 0, count: coefficientCount * B)
                jacobianRows.sum(x, into: jacobian)
            }
            return
        }
        jacobian.update(repeating: 0, count: coefficientCount * B)
        let offsets = denseFactorOffsets, coefficients = denseFactorCoefficients, multipliers = denseFactorMultipliers
        for j in 0 ..< denseCount {
            let w = x[denseSlots[j]]
            let column = denseValues + j * B
            let lo = offsets[j], hi = offsets[j + 1]
            switch hi - lo {
            case 0:
                for b in 0 ..< B { y[b] += w * column[b] }
            case 1:
                let w0 = x[multipliers[lo]], row0 = jacobian + coefficients[lo] * B
                for b in 0 ..< B {
                    let v = column[b]
                    y[b] += w * v
                    row0[b] += w0 * v
                }
            case 2:
                let w0 = x[multipliers[lo]], row0 = jacobian + coefficients[lo] * B
                let w1 = x[multipliers[lo + 1]], row1 = jacobian + coefficients[lo + 1] * B
                for b in 0 ..< B {
                    let v = column[b]
                    y[b] += w * v
                    row0[b] += w0 * v
                    row1[b] += w1 * v
                }
            default:
                for b in 0 ..< B { y[b] += w * column[b] }
                for f in lo ..< hi {
                    let wf = x[multipliers[f]], row = jacobian + coefficients[f] * B
                    for b in 0 ..< B { row[b] += wf * column[b] }
                }
            }
        }
        gatherSparse(x, y)
    }

    /// `y_b += Σ_{(t, v) ∈ bin b} m_t v` over the sparse entries, bin-major with four partial sums
    /// (the additions are independent, so a bin's entries do not wait on one accumulator's latency).
    @inline(__always)
    func gatherSparse(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
        let offsets = binOffsets, slots = binSlots, values = binValues
        var k = offsets[0]
        for b in 0 ..< binCount {
            let end = offsets[b + 1]
            var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
            while k &+ 4 <= end {
                let (i0, i1) = _indexPair(slots + k), (i2, i3) = _indexPair(slots + (k &+ 2))
                s0 += x[i0] * values[k]
                s1 += x[i1] * values[k &+ 1]
                s2 += x[i2] * values[k &+ 2]
                s3 += x[i3] * values[k &+ 3]
                k &+= 4
            }
            while k < end {
                s0 += x[Int(slots[k])] * values[k]
                k &+= 1
            }
            y[b] += (s0 + s1) + (s2 + s3)
        }
    }

    /// `g_i += Σ_t s_t ∂m_t/∂c_i` with `s_t = Σ_b w_b C_tb`, from the value vector `x` of
    /// ``fillValues(_:_:termValues:)`` (term values not needed); `s` is scratch for `T` doubles.
    ///
    /// Each `s_t` is formed once and each `g_i` accumulated in a register.
    @inline(__always)
    func pullback(_ x: UnsafePointer<Double>, _ s: UnsafeMutablePointer<Double>, _ w: UnsafePointer<Double>, _ g: UnsafeMutablePointer<Double>) {
        let B = binCount, pairTerms = densePairTerms, pairValues = densePairValues
        for p in 0 ..< densePairCount {
            let columns = pairValues + p &* B
            var sum = SIMD2<Double>()
            for b in 0 ..< B { sum += SIMD2(repeating: w[b]) * columns[b] }
            s[pairTerms[2 &* p]] = sum.x
            s[pairTerms[2 &* p &+ 1]] = sum.y
        }
        if let t = denseSingleTerm {
            let column = denseValues + denseSingleColumn &* B
            var sum = 0.0
            for b in 0 ..< B { sum += w[b] * column[b] }
            s[t] = sum
        }
        templateSums.sum(w, into: s)
        let offsets = gradientOffsets, pairs = gradientPairs
        var k = offsets[0]
        for i in 0 ..< coefficientCount {
            let end = offsets[i + 1]
            var sum = g[i]
            while k < end {
                let (t, multiplier) = _indexPair(pairs + 2 &* k)
                sum += s[t] * x[multiplier]
                k &+= 1
            }
            g[i] = sum
        }
    }
}
