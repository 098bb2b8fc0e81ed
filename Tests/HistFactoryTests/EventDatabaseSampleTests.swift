import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Testing

/// An `event_database` sample (Data/vh/workspace_events.json → vh_smeft_events.h5) against the
/// same signal given as 28 morphing term templates (workspace_morphing.json, whose terms are the
/// database's per-bin coefficient sums): the yields agree at any point; the likelihood agrees
/// wherever the MC-statistical widths do not matter (γ = 1) and differs elsewhere, since the
/// database gives the exact Σw²(c) and the term templates only independent per-term errors.
@Suite struct EventDatabaseSampleTests {
    static let directory = ReferencePaths.repositoryRoot.appendingPathComponent("Data/vh").path

    static func load(_ name: String) throws -> (HistFactoryModel, ModelData) {
        let ws = try Workspace(contentsOf: directory + "/" + name, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        return (model, try model.observedData(from: ws))
    }

    @Test func yieldsEqualTheTermTemplatesAtSeveralPoints() throws {
        let (events, eventData) = try Self.load("workspace_events.json")
        let (terms, termData) = try Self.load("workspace_morphing.json")
        #expect(events.parameterNames == terms.parameterNames)
        // Fixed points inside the region where every morphed yield is positive.
        let points: [[Double]] = [[0.05, -0.1, 0.1, 0.2, 0.3, -0.05], [-0.02, 0.05, -0.05, -0.1, -0.05, 0.03], [0.02, 0.05, 0.05, 0.1, 0.5, 0.02]]
        for values in points {
            var point = events.suggestedInits
            for (name, value) in zip(["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"], values) {
                point[try events.parameterIndex(named: name)] = value
            }
            try #require(events.evaluationProblem(point) == nil, "the test point must lie inside the domain")
            for (a, b) in zip(events.expectedMainData(point), terms.expectedMainData(point)) { #expect(relativeDifference(a, b) < 1e-12) }
            #expect(relativeDifference(events.logLikelihood(point, data: eventData), terms.logLikelihood(point, data: termData)) < 1e-12)
            var gradient: [Double] = []
            _ = events.logLikelihoodAndGradient(point, data: eventData, gradient: &gradient)
            let numeric = finiteDifferenceGradient(events, point, eventData)
            for i in point.indices {
                #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(events.parameterNames[i])")
            }
        }
    }

    /// Away from γ = 1 the exact per-point Σw² (the database) and the independent-term errors
    /// (the templates) give different widths, and the gradient still matches finite differences.
    @Test func exactMonteCarloVarianceEntersTheLikelihood() throws {
        let (events, eventData) = try Self.load("workspace_events.json")
        let (terms, termData) = try Self.load("workspace_morphing.json")
        var point = events.suggestedInits
        point[try events.parameterIndex(named: "cHW")] = 1.5
        point[try events.parameterIndex(named: "cHq3")] = -0.3
        for i in events.parameterSet(named: "staterror_SR_pTV")!.indices { point[i] = 0.97 }
        let a = events.logLikelihood(point, data: eventData)
        let b = terms.logLikelihood(point, data: termData)
        #expect(a.isFinite && b.isFinite && abs(a - b) > 1e-3)
        var gradient: [Double] = []
        _ = events.logLikelihoodAndGradient(point, data: eventData, gradient: &gradient)
        let numeric = finiteDifferenceGradient(events, point, eventData)
        for i in point.indices {
            #expect(abs(gradient[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(events.parameterNames[i])")
        }
    }

    @Test func aMissingDatabaseNamesTheFileAndPath() throws {
        let text = try String(contentsOfFile: Self.directory + "/workspace_events.json", encoding: .utf8)
            .replacingOccurrences(of: "vh_smeft_events.h5", with: "no_such_file.h5")
        do {
            _ = try Workspace(json: JSONParser.parse(text), file: Self.directory + "/broken.json", modifiers: .efthf)
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("no_such_file.h5"), "\(error)")
            #expect("\(error)".contains("/channels/0/samples/0/modifiers"), "\(error)")
        }
    }
}
