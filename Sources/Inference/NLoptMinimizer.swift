import CNLopt

/// NLopt's LD_LBFGS (Lukšan's limited-memory BFGS with box constraints, NLopt ≥ 2.4 from Debian's
/// libnlopt-dev): the independent algorithm the fit falls back to when ``BoundedQuasiNewton``
/// fails. The caller re-runs ``BoundedQuasiNewton`` from its answer to measure the EDM, so NLopt's
/// own stopping rule (relative changes of f and x) needs no interpretation here.
///
/// A non-finite objective is reported to NLopt as +∞ with a zero gradient; its line search then
/// shortens the step.
///
/// - Returns: the final point and value, and NLopt's result name when it reported an error.
func minimizeWithNLopt(
    start: [Double], lower: [Double], upper: [Double], maxEvaluations: Int,
    objective: ([Double], inout [Double]) -> Double
) -> (x: [Double], value: Double, evaluations: Int, error: String?) {
    let n = start.count
    guard n > 0, let optimizer = nlopt_create(NLOPT_LD_LBFGS, UInt32(n)) else {
        return (start, .nan, 0, "nlopt_create failed")
    }
    defer { nlopt_destroy(optimizer) }
    return withoutActuallyEscaping(objective) { objective in
        let context = NLoptContext(objective: objective, n: n)
        var lo = lower, hi = upper
        nlopt_set_lower_bounds(optimizer, &lo)
        nlopt_set_upper_bounds(optimizer, &hi)
        nlopt_set_ftol_rel(optimizer, 1e-15)
        nlopt_set_xtol_rel(optimizer, 1e-12)
        nlopt_set_maxeval(optimizer, Int32(clamping: maxEvaluations))
        nlopt_set_vector_storage(optimizer, 20)
        // Sound: the context outlives nlopt_optimize, the only place NLopt calls back.
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        nlopt_set_min_objective(optimizer, { count, x, gradient, data in
            let context = Unmanaged<NLoptContext>.fromOpaque(data!).takeUnretainedValue()
            let point = Array(UnsafeBufferPointer(start: x, count: Int(count)))
            let f = context.objective(point, &context.gradient)
            context.evaluations += 1
            let finite = f.isFinite && context.gradient.allSatisfy(\.isFinite)
            if let gradient {
                for i in 0..<Int(count) { gradient[i] = finite ? context.gradient[i] : 0 }
            }
            return finite ? f : .infinity
        }, unmanaged.toOpaque())
        var x = (0..<n).map { min(max(start[$0], lower[$0]), upper[$0]) }
        var value = 0.0
        let result = nlopt_optimize(optimizer, &x, &value)
        let error: String? = result.rawValue < 0 ? String(cString: nlopt_result_to_string(result)) : nil
        return (x, value, context.evaluations, error)
    }
}

/// The objective and scratch handed through NLopt's `void*` (used by one thread at a time).
private final class NLoptContext {
    let objective: ([Double], inout [Double]) -> Double
    var gradient: [Double]
    var evaluations = 0

    init(objective: @escaping ([Double], inout [Double]) -> Double, n: Int) {
        self.objective = objective
        gradient = [Double](repeating: 0, count: n)
    }
}
