import EFTJSON
import Foundation
import Testing
@testable import Morphing

/// The coefficient form built from ROOT's tutorial templates against `RooLagrangianMorphFunc`.
@Suite(.enabled(if: References.sharedAvailable, "needs ../shared/reference/eft (ROOT tutorial templates)"))
struct ROOTReferenceTests {
    static let cases: [(observable: String, configuration: Int)] = ["pTV", "mbb", "MET", "deletabb"].flatMap { o in (0 ..< 3).map { (o, $0) } }

    /// ROOT writes `createTH1` contents as float32 after computing in double, so a correct double
    /// result differs from `root` by at most half a float32 ulp, `2⁻²⁴|root| ≈ 6e-8|root|`
    /// (the files show ≤ 5.7e-8). We allow one ulp, `2⁻²³|root|`, plus `1e-12` of the bin's sum
    /// of absolute term contributions for bins where cancellation leaves ROOT's value near 0.
    static let float32Tolerance = 0x1p-23

    @Test("morphed histograms reproduce RooLagrangianMorphFunc (float32) and the float64 polynomial", arguments: cases)
    func reproducesROOT(observable: String, configuration: Int) throws {
        let reference = try References.rootReference(observable)
        let config = try #require(reference["configs"]?.arrayValue?[configuration])
        let operators = (config["ops"]?.arrayValue ?? []).compactMap(\.stringValue)
        try #require(!operators.isEmpty)
        let templates = try ROOTLagrangianMorph.templates(from: try #require(References.templates), observable: observable, operators: operators)
        #expect(templates.yields.termCount == config["n_samples"]?.doubleValue.map { Int($0) })
        let checks = try #require(config["checks"]?.arrayValue)
        #expect(checks.count == 7)
        for check in checks {
            let point = operators.map { check["point"]?[$0]?.doubleValue ?? .nan }
            let y = templates.yields.yields(at: point)
            let m = templates.yields.monomialValues(at: point)
            let root = check["root"]!.doubles, poly = check["poly"]!.doubles
            try #require(root.count == y.count && poly.count == y.count)
            for b in y.indices {
                var scale = 0.0
                for t in 0 ..< templates.yields.termCount { scale += abs(m[t] * templates.yields.template(ofTerm: t)[b]) }
                #expect(abs(y[b] - poly[b]) <= 1e-13 * scale, "\(observable) \(operators.count) ops bin \(b): \(y[b]) vs poly \(poly[b])")
                #expect(abs(y[b] - root[b]) <= Self.float32Tolerance * abs(root[b]) + 1e-12 * scale,
                        "\(observable) \(operators.count) ops bin \(b) at \(point): \(y[b]) vs ROOT \(root[b])")
            }
        }
    }

    @Test("any subset and order of the six operators loads, and agrees with the full set restricted to it")
    func subsetsAgreeWithFullSet() throws {
        let json = try #require(References.templates)
        let all = ["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"]
        let full = try ROOTLagrangianMorph.templates(from: json, observable: "pTl0", operators: all)
        let subset = ["cll1", "cHW", "cHl3"]
        let part = try ROOTLagrangianMorph.templates(from: json, observable: "pTl0", operators: subset)
        #expect(part.yields.termCount == 10)
        let c: [Double] = [0.3, -1.1, 0.7]
        var cFull = [Double](repeating: 0, count: 6)
        for (k, op) in subset.enumerated() { cFull[all.firstIndex(of: op)!] = c[k] }
        for (a, b) in zip(part.yields.yields(at: c), full.yields.yields(at: cFull)) {
            #expect(abs(a - b) <= 1e-12 * max(1, abs(b)))
        }
    }

    @Test("the folder variance at the SM point is the SM template's squared errors")
    func varianceAtSMIsSMErrors() throws {
        let json = try #require(References.templates)
        let t = try ROOTLagrangianMorph.templates(from: json, observable: "pTV", operators: ["cHq3", "cHW"])
        let variance = try #require(t.monteCarloVariance)
        let errors = try #require(json["folders"]?["SM_NPsq0"]?["histograms"]?["pTV"]?["errors"]).doubles
        for (v, e) in zip(variance.polynomial.yields(at: [0, 0]), errors) { #expect(abs(v - e * e) <= 1e-12 * e * e) }
        // At c_A = c_B = 1 the morphed yield is Σ of SM, both NPsq1, and the cross folder (the
        // squares cancel), so its variance is the sum of those four folders' squared errors.
        let folders = ["SM_NPsq0", "cHq3_NPsq1", "cHW_NPsq1", "cHW_cHq3_NPsq2"]
        let expected = folders.map { json["folders"]![$0]!["histograms"]!["pTV"]!["errors"]!.doubles }
        for (b, v) in variance.polynomial.yields(at: [1, 1]).enumerated() {
            let e = expected.reduce(0) { $0 + $1[b] * $1[b] }
            #expect(abs(v - e) <= 1e-10 * max(e, 1e-300))
        }
    }
}
