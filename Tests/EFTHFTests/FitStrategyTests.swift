import EFTHF
import Foundation
import Testing

/// The fit task's search for the global minimum: its options, its report, and its cost on the
/// regression workspace of issue 13.
@Suite struct FitStrategyTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// ../shared/reference/regressions/slow_fit_2ops_asimov.json (or under $EFTHF_REFERENCE_DIR), or nil.
    static let regression: String? = {
        let candidates = [
            ProcessInfo.processInfo.environment["EFTHF_REFERENCE_DIR"].map { URL(fileURLWithPath: $0) },
            repository.deletingLastPathComponent().appendingPathComponent("shared/reference"),
        ].compactMap { $0 }.map { $0.appendingPathComponent("regressions/slow_fit_2ops_asimov.json").path }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }()

    /// Asimov data at cA = 0.5, cB = −0.3: `fit --ops cA,cB` (fit, search, profile intervals) made
    /// 761 139 evaluations before issue 13; the bound is 20 000.
    @Test(.enabled(if: regression != nil, "the shared reference folder (../shared/reference or $EFTHF_REFERENCE_DIR) is absent"))
    func theRegressionFitMakesAtMostTwentyThousandEvaluations() throws {
        let loaded = try ModelSource(workspace: Self.regression!).load()
        let report = try FitTask(ops: ["cA", "cB"]).run(on: loaded)
        #expect(report.converged)
        #expect(abs(try #require(report.parameters["cA"]).value - 0.5) < 1e-5)
        #expect(abs(try #require(report.parameters["cB"]).value + 0.3) < 1e-5)
        let e = report.evaluations
        #expect(e.total <= 20_000, "local fit \(e.localFit), multistart \(e.multistart), uncertainties \(e.uncertainties), intervals \(e.profileIntervals)")
        #expect(e.localFit > 0 && e.uncertainties > 0 && e.profileIntervals > 0)
        #expect(e.localFit + e.multistart + e.uncertainties == report.functionCalls)
        #expect(report.search?.globalMinimumAssured == true)
        let interval = try #require(report.profileIntervals?["cA"])
        #expect(interval.failures == nil)
        #expect(interval.oneSigma.allSatisfy { $0 != nil })
        // The JSON says the same.
        let json = report.jsonValue
        #expect(json["evaluations"]?["total"]?.doubleValue == Double(e.total))
        #expect(json["multistart"]?["global_minimum_assured"] == .bool(true))
    }

    @Test("the strategy and budget decode from the task's JSON, with the limits checked")
    func strategyOptionsDecode() throws {
        let task = try TaskCoding.decode(FitTask.self, from: #"{"ops": ["cHW"], "multistart": "grid", "max_starts": 30}"#, what: "fit")
        #expect(task.multistart == .grid && task.maxStarts == 30)
        #expect(try TaskCoding.decode(FitTask.self, from: "{}", what: "fit").multistart == .auto)
        #expect(try TaskCoding.decode(HypotestTask.self, from: #"{"multistart": "none"}"#, what: "hypotest").multistart == .none)
        #expect(try TaskCoding.decode(LimitTask.self, from: #"{"max_starts": 0}"#, what: "limit").maxStarts == 0)
        #expect { try TaskCoding.decode(FitTask.self, from: #"{"multistart": "random"}"#, what: "fit") } throws: { error in
            "\(error)".contains("/multistart") && "\(error)".contains("none, auto or grid")
        }
        #expect { try TaskCoding.decode(FitTask.self, from: #"{"max_starts": 10001}"#, what: "fit") } throws: { error in
            "\(error)".contains("/max_starts") && "\(error)".contains("10000")
        }
        // The grid's size is checked against the budget before any fit.
        let loaded = try ModelSource(workspace: Self.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path).load()
        #expect { try FitTask(ops: ["cHW", "cHq3"], multistart: .grid, maxStarts: 10).run(on: loaded) } throws: { error in
            "\(error)".contains("25 points") && "\(error)".contains("max_starts")
        }
    }

    @Test("without a search the report has no minima; with one it lists them and the stages")
    func reportsTheSearch() throws {
        let loaded = try ModelSource(workspace: Self.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path).load()
        let none = try FitTask(ops: ["cHW"], multistart: .none).run(on: loaded)
        #expect(none.search == nil && none.minima.isEmpty && none.evaluations.multistart == 0)
        let auto = try FitTask(ops: ["cHW"]).run(on: loaded)
        #expect(auto.search?.strategy == "auto")
        #expect(auto.minima.first?.values.names == ["cHW"])
        #expect(abs((auto.minima.first?.twiceNLL ?? .nan) - auto.twiceNLL) < 1e-6)
        #expect(abs(try #require(auto.parameters["cHW"]).value - (try #require(none.parameters["cHW"]).value)) < 1e-6 || auto.twiceNLL < none.twiceNLL)
    }
}
