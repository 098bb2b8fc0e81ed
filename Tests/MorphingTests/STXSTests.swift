import EFTJSON
import Foundation
import Testing
@testable import Morphing

/// The CMS STXS→SMEFT relative form against `Tests/References/root/cms_stxs_reference.json`.
@Suite(.enabled(if: References.sharedAvailable, "needs ../shared/reference/eft/cms_stxs_to_smeft"))
struct STXSTests {
    static let directory = References.sharedEFT.appendingPathComponent("cms_stxs_to_smeft")

    static func parameters() throws -> [STXSParameterOfInterest] {
        try STXSParametrisation.parametersOfInterest(yaml: String(contentsOf: directory.appendingPathComponent("pois.yaml"), encoding: .utf8))
    }

    static func load(_ file: String, _ variables: STXSParametrisation.Variables = .wilsonCoefficients) throws -> MorphingTemplates {
        try STXSParametrisation.relativeScalings(
            json: References.json(directory.appendingPathComponent(file)), parameters: parameters(), variables: variables, context: file)
    }

    static func reference() throws -> JSON { try References.json(References.root.appendingPathComponent("cms_stxs_reference.json")) }

    /// `s = 1 + Σ A c + Σ B c c` evaluated in a different order than numpy, so they agree to
    /// rounding of the largest contribution: relative 1e-12 of `Σ |terms|` (≥ |s|).
    static func agree(_ ours: [Double], _ names: [String], _ expected: JSON, _ m: [Double], _ p: PolynomialTemplates, label: String) {
        for (b, name) in names.enumerated() {
            guard let e = expected[name]?.doubleValue else {
                Issue.record("\(label): no reference for \(name)")
                continue
            }
            var scale = 0.0
            for t in 0 ..< p.termCount { scale += abs(m[t] * p.template(ofTerm: t)[b]) }
            #expect(abs(ours[b] - e) <= 1e-12 * scale, "\(label) \(name): \(ours[b]) vs \(e)")
        }
    }

    @Test("pois.yaml gives 57 operators with exponents and ranges")
    func parsesPOIs() throws {
        let pois = try Self.parameters()
        #expect(pois.count == 57)
        let ref = try #require(try Self.reference()["operators"]?.arrayValue)
        for (p, r) in zip(pois, ref) {
            #expect(p.name == r["name"]?.stringValue)
            #expect(Double(p.exponent) == r["exponent"]?.doubleValue)
            #expect(p.minimum == r["min"]?.doubleValue && p.maximum == r["max"]?.doubleValue)
        }
    }

    @Test("μ_prod, the partial widths and BR scalings equal the reference at every point, in c and in POI variables")
    func matchesReference() throws {
        let prod = try Self.load("prod.json"), decay = try Self.load("decay.json")
        let prodPOI = try Self.load("prod.json", .parametersOfInterest)
        let pois = try Self.parameters()
        #expect(prod.yields.binCount == 64)
        #expect(prod.yields.coefficientCount == 57)
        let reference = try Self.reference()
        let counts = try #require(reference["term_counts"]?["prod"])
        let nonZero = (0 ..< prod.yields.termCount).reduce(0) { n, t in n + prod.yields.template(ofTerm: t).filter { $0 != 0 }.count }
        let stored = nonZero - 64 // minus the constant 1 of each bin
        #expect(Double(stored) == (counts["A_nonzero"]?.doubleValue ?? 0) + (counts["B_square_nonzero"]?.doubleValue ?? 0) + (counts["B_cross_nonzero"]?.doubleValue ?? 0))
        let points = try #require(reference["points"]?.arrayValue)
        #expect(points.count == 9)
        for point in points {
            let label = point["label"]?.stringValue ?? "?"
            let c = pois.map { point["c"]?[$0.name]?.doubleValue ?? .nan }
            let p = pois.map { point["poi"]?[$0.name]?.doubleValue ?? .nan }
            let m = prod.yields.monomialValues(at: c)
            Self.agree(prod.yields.yields(at: c), prod.binLabels!, point["mu_prod"]!, m, prod.yields, label: "\(label) μ_prod")
            Self.agree(prodPOI.yields.yields(at: p), prod.binLabels!, point["mu_prod"]!, m, prod.yields, label: "\(label) μ_prod(POI)")
            let linear = prod.truncated(.linear).yields
            Self.agree(linear.yields(at: c), prod.binLabels!, point["mu_prod_linear"]!, linear.monomialValues(at: c), linear, label: "\(label) μ_prod linear")
            let gamma = decay.yields.yields(at: c)
            Self.agree(gamma, decay.binLabels!, point["gamma"]!, decay.yields.monomialValues(at: c), decay.yields, label: "\(label) Γ")
            let tot = try #require(decay.binLabels!.firstIndex(of: "tot"))
            for (b, channel) in decay.binLabels!.enumerated() where b != tot {
                let e = try #require(point["br_scaling"]?[channel]?.doubleValue)
                #expect(abs(gamma[b] / gamma[tot] - e) <= 1e-11 * max(abs(e), 1e-3), "\(label) BR \(channel)")
            }
        }
    }

    @Test("the MC variance is Σ_t (m_t u_t)² in either variable set")
    func uncertainties() throws {
        let prod = try Self.load("prod.json"), prodPOI = try Self.load("prod.json", .parametersOfInterest)
        let pois = try Self.parameters()
        let json = try References.json(Self.directory.appendingPathComponent("prod.json"))
        let p = pois.map { ($0.minimum + $0.maximum) / 2 + 0.3 * ($0.maximum - $0.minimum) / 7 }
        let c = zip(p, pois).map { $0 * $1.scale }
        let index = Dictionary(uniqueKeysWithValues: pois.enumerated().map { ($1.name, $0) })
        let v = try #require(prod.monteCarloVariance).polynomial.yields(at: c)
        let vPOI = try #require(prodPOI.monteCarloVariance).polynomial.yields(at: p)
        for (b, bin) in prod.binLabels!.enumerated() {
            var expected = 0.0
            for (key, value) in json[bin]!.objectValue!.pairs where key.hasPrefix("u_") {
                let parts = key.split(separator: "_").dropFirst()
                let i = index[String(parts[parts.startIndex + 1])]!
                let m: Double = parts.first == "A" ? c[i] : (parts.last == "2" ? c[i] * c[i] : c[i] * c[index[String(parts.last!)]!])
                expected += (m * value.doubleValue!) * (m * value.doubleValue!)
            }
            #expect(abs(v[b] - expected) <= 1e-12 * expected + 1e-300, "\(bin)")
            #expect(abs(vPOI[b] - expected) <= 1e-12 * expected + 1e-300, "\(bin) (POI)")
        }
    }

    @Test("malformed keys and unknown operators are rejected with the entry named")
    func rejectsBadKeys() throws {
        let pois = [STXSParameterOfInterest(name: "ca", exponent: 0, minimum: -1, maximum: 1, value: 0)]
        for bad in [#"{"bin1": {"A_cz": 1.0}}"#, #"{"bin1": {"C_ca": 1.0}}"#, #"{"bin1": {"A_ca": "x"}}"#] {
            #expect { try STXSParametrisation.relativeScalings(json: JSONParser.parse(bad), parameters: pois) } throws: { error in
                (error as? MorphingError)?.context?.contains("bin1") == true
            }
        }
    }
}
