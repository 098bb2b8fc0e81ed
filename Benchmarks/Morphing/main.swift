// Evaluation + gradient of morphing polynomials: ROOT's six-operator pTV templates (30 bins × 28
// terms) and the CMS STXS production parametrisation (64 bins × 57 operators, sparse). Each figure is
// the median over batches of the thread CPU time per call; every result is checked against the reference first.
//
//   swift run -c release --scratch-path .build-morphing MorphingBenchmark [--reference DIR]
import Foundation
import Morphing

let arguments = CommandLine.arguments
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let shared = URL(fileURLWithPath: arguments.firstIndex(of: "--reference").map { arguments[$0 + 1] }
    ?? ProcessInfo.processInfo.environment["EFTHF_REFERENCE_DIR"]
    ?? repository.deletingLastPathComponent().appendingPathComponent("shared/reference").path).appendingPathComponent("eft")
let localReferences = repository.appendingPathComponent("Tests/References/root")

func object(_ url: URL) -> [String: Any] {
    guard let data = try? Data(contentsOf: url), let value = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        FileHandle.standardError.write(Data("MorphingBenchmark: cannot read \(url.path)\n".utf8))
        exit(2)
    }
    return value
}

/// This thread's CPU time in nanoseconds. The benchmark shares two cores with builds, so wall time
/// would count the time other processes hold the core; thread CPU time does not.
func cpuNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// `EFTHF_BENCH_QUICK=1` runs a handful of calls per figure, for instruction counts under callgrind.
let quick = ProcessInfo.processInfo.environment["EFTHF_BENCH_QUICK"] == "1"

/// Median CPU nanoseconds per call of `body`, over `batches` batches of `calls` calls.
///
/// Not inlined, so that under callgrind each figure is a function of its own (a specialisation for
/// its closure) whose inclusive cost / 400 is its instruction count per call in the quick mode.
@inline(never)
func medianNanoseconds(batches: Int = 201, calls: Int, _ body: () -> Void) -> Double {
    let (batches, calls) = quick ? (3, 100) : (batches, calls)
    for _ in 0 ..< calls { body() } // warm caches and branch predictors
    var times: [Double] = []
    for _ in 0 ..< batches {
        let start = cpuNanoseconds()
        for _ in 0 ..< calls { body() }
        times.append(Double(cpuNanoseconds() - start) / Double(calls))
    }
    return times.sorted()[batches / 2]
}

func report(_ label: String, _ ns: Double, note: String = "") {
    print(String(format: "  %-44@ %9.1f ns/call  %8.2f M calls/s%@", label as NSString, ns, 1e3 / ns, note as NSString))
}

var failures = 0
@MainActor func check(_ ok: Bool, _ message: String) {
    if !ok {
        failures += 1
        print("  CHECK FAILED: \(message)")
    }
}

/// The largest difference between `jacobian` (coefficient-major) and central finite differences of
/// `polynomial` at `c`, relative to the largest derivative.
func jacobianError(_ polynomial: PolynomialTemplates, at c: [Double]) -> Double {
    let (_, jacobian) = polynomial.yieldsAndJacobian(at: c)
    var worst = 0.0, scale = 0.0
    for i in c.indices {
        let h = 1e-5 * max(1, abs(c[i]))
        var up = c, down = c
        up[i] += h
        down[i] -= h
        let yu = polynomial.yields(at: up), yd = polynomial.yields(at: down)
        for b in 0 ..< polynomial.binCount {
            let numeric = (yu[b] - yd[b]) / (2 * h)
            worst = max(worst, abs(jacobian[i * polynomial.binCount + b] - numeric))
            scale = max(scale, abs(numeric))
        }
    }
    return worst / max(scale, 1e-300)
}

// MARK: ROOT tutorial, pTV, six operators.
let rootReference = object(shared.appendingPathComponent("root_morph_reference_pTV.json"))
let configs = rootReference["configs"] as! [[String: Any]]
let six = configs.first { ($0["n_ops"] as! Int) == 6 }!
let operators = six["ops"] as! [String]
let templates = try ROOTLagrangianMorph.templates(contentsOf: shared.appendingPathComponent("rf_lagrangianmorph_templates.json"), observable: "pTV", operators: operators)
let yieldsPolynomial = templates.yields
let variancePolynomial = templates.monteCarloVariance!.polynomial
let checkPoint = (six["checks"] as! [[String: Any]])[2]
let point = operators.map { (checkPoint["point"] as! [String: Double])[$0]! }
let rootValues = checkPoint["root"] as! [Double]
for (label, polynomial) in [("yields", yieldsPolynomial), ("variance", variancePolynomial)] {
    let e = jacobianError(polynomial, at: point)
    check(e <= 1e-8, "ROOT \(label) Jacobian vs finite differences: \(e)")
    print(String(format: "  check: %@ Jacobian vs central differences, max error / max derivative = %.1e", label as NSString, e))
}

print("ROOT tutorial pTV, \(operators.count) operators: \(yieldsPolynomial.binCount) bins × \(yieldsPolynomial.termCount) terms; variance \(variancePolynomial.termCount) terms")
var y = [Double](repeating: 0, count: yieldsPolynomial.binCount)
var jacobian = [Double](repeating: 0, count: yieldsPolynomial.binCount * operators.count)
var variance = y, varianceJacobian = jacobian
var gradient = [Double](repeating: 0, count: operators.count)
let cotangent = (0 ..< yieldsPolynomial.binCount).map { 1 / Double($0 + 1) }
point.withUnsafeBufferPointer { c in
    y.withUnsafeMutableBufferPointer { yb in
        jacobian.withUnsafeMutableBufferPointer { jb in
            yieldsPolynomial.evaluate(at: c, yields: yb, jacobian: jb)
            let maxRelative = zip(yb, rootValues).map { abs($0 - $1) / abs($1) }.max()!
            check(maxRelative <= 0x1p-23, "ROOT pTV max relative difference \(maxRelative) > 2^-23")
            print(String(format: "  check: max |ν − ROOT|/|ROOT| = %.2e (float32 ulp 1.19e-07)", maxRelative))
            let tYield = medianNanoseconds(calls: 2000) { yieldsPolynomial.evaluate(at: c, yields: yb) }
            let tBoth = medianNanoseconds(calls: 2000) { yieldsPolynomial.evaluate(at: c, yields: yb, jacobian: jb) }
            let rootCreateTH1 = six["t_createTH1_per_point_s"] as! Double * 1e9
            let rootGetVal = six["t_getVal_per_point_s"] as! Double * 1e9
            report("yields", tYield, note: String(format: "   ROOT createTH1 %.0f ns: ×%.0f faster", rootCreateTH1, rootCreateTH1 / tYield))
            report("yields + Jacobian (30×6)", tBoth, note: String(format: "   ROOT createTH1 (no gradient) ×%.0f, getVal %.0f ns ×%.0f", rootCreateTH1 / tBoth, rootGetVal, rootGetVal / tBoth))
            check(tBoth <= 1000, "30×28 evaluation with gradient \(tBoth) ns > 1 µs target")
            cotangent.withUnsafeBufferPointer { w in
                gradient.withUnsafeMutableBufferPointer { g in
                    let tPull = medianNanoseconds(calls: 2000) {
                        yieldsPolynomial.evaluate(at: c, yields: yb)
                        yieldsPolynomial.accumulateVectorJacobianProduct(at: c, cotangent: w, into: g)
                    }
                    report("yields + vector–Jacobian product", tPull)
                }
            }
            variance.withUnsafeMutableBufferPointer { vb in
                varianceJacobian.withUnsafeMutableBufferPointer { vj in
                    let tVar = medianNanoseconds(calls: 1000) { variancePolynomial.evaluate(at: c, yields: vb, jacobian: vj) }
                    report("MC variance + Jacobian (folder quadratic form)", tVar)
                }
            }
        }
    }
}

// MARK: CMS STXS production, 57 operators.
let stxsDirectory = shared.appendingPathComponent("cms_stxs_to_smeft")
let pois = try STXSParametrisation.parametersOfInterest(contentsOf: stxsDirectory.appendingPathComponent("pois.yaml"))
let prod = try STXSParametrisation.relativeScalings(contentsOf: stxsDirectory.appendingPathComponent("prod.json"), parameters: pois)
let stxsReference = object(localReferences.appendingPathComponent("cms_stxs_reference.json"))
let stxsPoint = (stxsReference["points"] as! [[String: Any]]).first { ($0["label"] as! String) == "random0" }!
let c = pois.map { (stxsPoint["c"] as! [String: Double])[$0.name]! }
let muReference = stxsPoint["mu_prod"] as! [String: Double]
let stxs = prod.yields
let stxsJacobianError = jacobianError(stxs, at: c)
check(stxsJacobianError <= 1e-8, "STXS Jacobian vs finite differences: \(stxsJacobianError)")
print("CMS STXS production: \(stxs.binCount) bins × \(stxs.coefficientCount) operators, \(stxs.termCount) terms, \(stxs.storedCoefficientCount) stored coefficients")
var mu = [Double](repeating: 0, count: stxs.binCount)
var muJacobian = [Double](repeating: 0, count: stxs.binCount * stxs.coefficientCount)
var stxsGradient = [Double](repeating: 0, count: stxs.coefficientCount)
let stxsCotangent = (0 ..< stxs.binCount).map { 1 / Double($0 + 1) }
c.withUnsafeBufferPointer { cb in
    mu.withUnsafeMutableBufferPointer { mb in
        muJacobian.withUnsafeMutableBufferPointer { jb in
            stxs.evaluate(at: cb, yields: mb, jacobian: jb)
            let maxRelative = zip(prod.binLabels!, mb).map { abs($1 - muReference[$0]!) / abs(muReference[$0]!) }.max()!
            check(maxRelative <= 1e-12, "STXS μ max relative difference \(maxRelative)")
            print(String(format: "  check: max |μ − numpy|/|numpy| = %.2e at point random0; Jacobian vs central differences %.1e", maxRelative, stxsJacobianError))
            let tYield = medianNanoseconds(calls: 1000) { stxs.evaluate(at: cb, yields: mb) }
            let tBoth = medianNanoseconds(calls: 1000) { stxs.evaluate(at: cb, yields: mb, jacobian: jb) }
            report("μ", tYield)
            report("μ + Jacobian (64×57)", tBoth)
            check(tBoth <= 5000, "STXS evaluation with gradient \(tBoth) ns > 5 µs target")
            stxsCotangent.withUnsafeBufferPointer { w in
                stxsGradient.withUnsafeMutableBufferPointer { g in
                    let tPull = medianNanoseconds(calls: 1000) {
                        stxs.evaluate(at: cb, yields: mb)
                        stxs.accumulateVectorJacobianProduct(at: cb, cotangent: w, into: g)
                    }
                    report("μ + vector–Jacobian product", tPull)
                }
            }
        }
    }
}

if failures > 0 {
    print("\(failures) check(s) failed")
    exit(1)
}
print("all checks passed")
