import Foundation
import Morphing
import Testing
@testable import EventDatabase

/// The bundled example of Data/vh, written by Data/generator (MakeExampleData).
enum ExampleData {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Data/vh")
    static let database = directory.appendingPathComponent("vh_smeft_events.h5")
    static let workspace = directory.appendingPathComponent("workspace_morphing.json")
    static let templates = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/reference/eft/rf_lagrangianmorph_templates.json")
    static let operators = ["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"]
    static var available: Bool { [database, workspace, templates].allSatisfy { FileManager.default.fileExists(atPath: $0.path) } }
}

@Suite("Bundled VH example (Data/vh)", .enabled(if: ExampleData.available))
struct ImportExampleDataTests {
    @Test("per-bin sums of all 28 coefficients reproduce ROOT's pTV templates in every 20 GeV bin")
    func perBinSumsReproduceTheROOTTemplates() throws {
        let database = try EventDatabase(contentsOf: ExampleData.database)
        let size = try FileManager.default.attributesOfItem(atPath: ExampleData.database.path)[.size] as! Int
        #expect(size <= 20_000_000)
        #expect(database.coefficientNames == ExampleData.operators && database.termCount == 28)
        #expect(Set(database.observables.map(\.name)) == ["pTV", "mbb", "MET"])
        let root = try ROOTLagrangianMorph.templates(contentsOf: ExampleData.templates, observable: "pTV", operators: ExampleData.operators, includeUncertainties: false)
        let projection = try database.projection(binning: .uniform(observable: "pTV", count: 30, lower: 0, upper: 600))
        for (t, monomial) in root.yields.monomials.enumerated() {
            let expected = root.yields.template(ofTerm: t)
            let sums = try #require(projection.templates.yields.template(of: monomial))
            for b in 0 ..< 30 {
                #expect(abs(sums[b] - expected[b]) <= 1e-12 * abs(expected[b]), "term \(monomial.description(names: ExampleData.operators)), bin \(b)")
            }
        }
    }

    @Test("the coefficient-form workspace carries the database's projection onto its pTV bins")
    func workspaceMatchesTheProjection() throws {
        let database = try EventDatabase(contentsOf: ExampleData.database)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: ExampleData.workspace)) as! [String: Any]
        #expect(json["version"] as? String == "1.0.0+efthf.1")
        let channel = (json["channels"] as! [[String: Any]])[0]
        let vh = (channel["samples"] as! [[String: Any]]).first { $0["name"] as? String == "VH" }!
        let morphing = (vh["modifiers"] as! [[String: Any]]).first { $0["type"] as? String == "morphing" }!["data"] as! [String: Any]
        let terms = morphing["terms"] as! [[String: Any]]
        #expect(terms.count == 28)
        let edges: [Double] = [0, 60, 100, 140, 200, 260, 340, 440, 600]
        let projection = try database.projection(binning: Binning(observable: "pTV", edges: edges))
        for term in terms {
            let powers = term["powers"] as! [String: Int]
            let monomial = Monomial(powers: Dictionary(uniqueKeysWithValues: powers.map { (ExampleData.operators.firstIndex(of: $0.key)!, $0.value) }))
            let data = (term["data"] as! [NSNumber]).map(\.doubleValue)
            let sums = try #require(projection.templates.yields.template(of: monomial))
            for b in edges.indices.dropLast() { #expect(abs(data[b] - sums[b]) <= 1e-9 * abs(sums[b])) }
        }
        // SM-limit consistency (extension spec §3.1): the sample's data are the SM term.
        let sm = terms.first { ($0["powers"] as! [String: Any]).isEmpty }!
        #expect((vh["data"] as! [NSNumber]).map(\.doubleValue) == (sm["data"] as! [NSNumber]).map(\.doubleValue))
    }
}
