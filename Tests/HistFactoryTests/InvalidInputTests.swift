import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Testing

/// Bad input gets one clear error naming where and what, never a crash or a hang.
@Suite struct InvalidInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let key: String
        let json: JSON
        var testDescription: String { key }
    }

    static let invalid: JSON? = try? loadJSON(ReferencePaths.committed + "/pyhf/invalid_cases.json")

    /// Workspaces pyhf 0.7.6 rejects when building the workspace, model or data.
    static let rejected: [Case] = (invalid?["rejected"]?.arrayValue ?? []).compactMap { c in
        let stage = c["stage"]!.stringValue!
        guard ["workspace", "model", "data", "logpdf"].contains(stage) else { return nil }  // fit-time ones belong to Inference
        return Case(key: c["key"]!.stringValue!, json: c)
    }

    static let accepted: [Case] = (invalid?["accepted"]?.arrayValue ?? []).map { Case(key: $0["key"]!.stringValue!, json: $0) }

    /// Loads, builds and makes the data, applying the case's model options.
    static func build(_ c: Case) throws(HistFactoryError) -> (HistFactoryModel, ModelData) {
        let ws = try Workspace(json: c.json["spec"]!, file: "\(c.key).json", modifiers: .efthf)
        var settings = InterpolationSettings.pyhfDefault
        var measurement: String? = nil
        if let kwargs = c.json["model_kwargs"]?.objectValue {
            measurement = kwargs["measurement_name"]?.stringValue
            if let ms = kwargs["modifier_settings"] {
                guard let n = InterpolationCode(rawValue: ms["normsys"]!["interpcode"]!.stringValue!),
                      let h = InterpolationCode(rawValue: ms["histosys"]!["interpcode"]!.stringValue!)
                else { throw HistFactoryError(.parameter, "unknown code") }
                settings = try InterpolationSettings(normsys: n, histosys: h)
            }
        }
        let model = try HistFactoryModel(workspace: ws, measurement: measurement, interpolation: settings)
        return (model, try model.observedData(from: ws))
    }

    @Test func theReferenceListsAreThere() {
        #expect(Self.rejected.count >= 25)
        #expect(Self.accepted.count >= 5)
    }

    @Test(arguments: rejected)
    func workspacesPyhfRejectsAreRejectedWithAMessage(_ c: Case) {
        do {
            _ = try Self.build(c)
            Issue.record("\(c.key) was accepted; pyhf says: \(c.json["message"]!.serialized())")
        } catch {
            #expect(!error.message.isEmpty)
            #expect(error.description.contains("\(c.key).json") || error.code == .parameter, "the error names the file: \(error)")
        }
    }

    @Test(arguments: accepted)
    func workspacesPyhfAcceptsAreAcceptedWithItsNumbers(_ c: Case) throws {
        let (model, data) = try Self.build(c)
        #expect(model.parameterNames == c.json["par_names"]!.arrayValue!.map { $0.stringValue! })
        let expected = model.expectedMainData(model.suggestedInits)
        for (a, b) in zip(expected, c.json["expected_main_at_init"]!.arrayValue!.map { $0.doubleValue! }) {
            #expect(abs(a - b) <= 1e-9 * max(1, abs(b)))
        }
        let logL = model.logLikelihood(model.suggestedInits, data: data)
        if let reference = c.json["logpdf_at_init"]?.doubleValue {
            #expect(relativeDifference(logL, reference) < 1e-9)
        } else {
            #expect(!logL.isFinite, "pyhf gives NaN here")
        }
    }

    static let base = """
        {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]},
          {"name": "b", "data": [50.0, 60.0], "modifiers": [{"name": "unc", "type": "shapesys", "data": [5.0, 6.0]}]}]}],
         "observations": [{"name": "SR", "data": [55.0, 64.0]}],
         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}
        """

    /// Hand-made hostile inputs: the error's JSON path and text.
    @Test(arguments: [
        ("{\"channels\": [", "truncated"),
        (base.replacingOccurrences(of: "[5.0, 6.0], \"modifiers\": [{\"name\": \"mu\"", with: "[5.0, NaN], \"modifiers\": [{\"name\": \"mu\""), "/channels/0/samples/0/data/1"),
        (base.replacingOccurrences(of: "[5.0, 6.0], \"modifiers\": [{\"name\": \"mu\"", with: "[5.0, 1e999], \"modifiers\": [{\"name\": \"mu\""), "/channels/0/samples/0/data/1"),
        (base.replacingOccurrences(of: "\"data\": [5.0, 6.0]}]}]}]", with: "\"data\": [5.0, -6.0]}]}]}]"), "negative uncertainty"),
        (base.replacingOccurrences(of: "\"data\": [55.0, 64.0]", with: "\"data\": [55.0]"), "/observations/0/data"),
        (base.replacingOccurrences(of: "\"data\": [55.0, 64.0]", with: "\"data\": \"many\""), "expected an array"),
        (base.replacingOccurrences(of: "\"poi\": \"mu\"", with: "\"poi\": \"nu\""), "POI \"nu\""),
        (base.replacingOccurrences(of: "\"version\": \"1.0.0\"", with: "\"version\": \"1.0.0\", \"extra\": 1"), "unknown key \"extra\""),
        (base.replacingOccurrences(of: "\"name\": \"b\"", with: "\"name\": \"s\""), "duplicate sample name"),
        (String(repeating: "[", count: 100_000), "nesting deeper"),
        ("{\"a\": 1} x", "after the JSON document"),
        ("{\"a\": \"\\ud800\"}", "surrogate"),
    ])
    func hostileInputGivesOneClearError(text: String, expectedFragment: String) {
        do {
            let json = try JSONParser.parse(text)
            let ws = try Workspace(json: json, file: "input.json", modifiers: .efthf)
            _ = try HistFactoryModel(workspace: ws)
            Issue.record("accepted: \(text.prefix(80))")
        } catch let error as JSONSyntaxError {
            #expect(error.description.contains(expectedFragment), "\(error)")
        } catch {
            #expect("\(error)".contains(expectedFragment), "\(error)")
        }
    }

    /// A very large array parses and validates in bounded time and memory.
    @Test func aMillionBinsAreReadWithoutTrouble() throws {
        let bins = 1_000_000
        let numbers = Array(repeating: "1.5", count: bins).joined(separator: ",")
        let text = """
            {"channels": [{"name": "c", "samples": [{"name": "s", "data": [\(numbers)], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]}]}],
             "observations": [{"name": "c", "data": [\(numbers)]}], "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}
            """
        let ws = try Workspace(json: try JSONParser.parse(text), modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        #expect(model.mainBinCount == bins)
        let data = try model.observedData(from: ws)
        #expect(model.logLikelihood(model.suggestedInits, data: data).isFinite)
    }
}
