import EFTHF
import EFTJSON
import Foundation
import HistFactory
import Testing

/// A fit without some modifiers (`efthf fit --exclude`, a fit job's `exclude`) against pyhf's
/// `Workspace.prune(modifiers=…)` and fit (Tests/References/pyhf/exclude_fits.json, made by
/// make_exclude_fits.py).
@Suite struct FitExcludeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    @Test("fits without the excluded modifiers agree with pyhf's pruned fits: 2NLL to 1e-6, values to 1e-4")
    func againstPyhf() throws {
        let reference = try JSONParser.parse(Data(contentsOf: URL(fileURLWithPath: Self.path("Tests/References/pyhf/exclude_fits.json"))))
        let cases = try #require(reference["cases"]?.arrayValue)
        #expect(cases.count == 4)
        let loaded = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        var minima: [Double] = []
        for c in cases {
            let exclude = try #require(c["exclude"]?.arrayValue).compactMap(\.stringValue)
            let fix: JSONObject = try #require(c["fix"]?.objectValue)
            let fixText = fix.pairs.map { key, value in "\(key)=\(value.doubleValue!)" }.joined(separator: ",")
            let task = FitTask(fix: fixText.isEmpty ? ParameterValues() : try ParameterValues(parsing: fixText), uncertainties: false, exclude: exclude)
            let report = try task.run(on: loaded)
            let expected = try #require(c["twice_nll"]?.doubleValue)
            #expect(abs(report.twiceNLL - expected) < 1e-6, "exclude \(exclude): 2NLL \(report.twiceNLL), pyhf \(expected)")
            let bestfit: JSONObject = try #require(c["bestfit"]?.objectValue)
            // The same parameters as pyhf's pruned model: none of the excluded ones.
            let names: [String] = bestfit.pairs.flatMap { key, value -> [String] in
                let n = value.arrayValue!.count
                return n == 1 ? [key] : (0..<n).map { "\(key)[\($0)]" }
            }
            #expect(Set(report.parameters.entries.map(\.name)) == Set(names), "exclude \(exclude)")
            for (set, values) in bestfit.pairs {
                let list = values.arrayValue!.compactMap(\.doubleValue)
                for (k, value) in list.enumerated() {
                    let name = list.count == 1 ? set : "\(set)[\(k)]"
                    let ours = try #require(report.parameters[name]?.value)
                    #expect(abs(ours - value) < 1e-4, "exclude \(exclude): \(name) = \(ours), pyhf \(value)")
                }
            }
            minima.append(report.twiceNLL)
        }
        // The contrast: every pruned fit's minimum differs from the full model's by far more than the tolerance.
        for m in minima.dropFirst() { #expect(abs(m - minima[0]) > 1) }
    }

    @Test("the main data are kept and the kept parameters' auxiliary data too, when the data are not the observed ones")
    func dataCarriedOver() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        let model = loaded.model
        var main = loaded.data.main
        main[0] += 3
        var auxiliary = loaded.data.auxiliary
        // The auxiliary datum of lumi (Gaussian) and of jes (Gaussian), in the model's order.
        var offsets: [String: Int] = [:]
        var at = 0
        for set in model.parameterSets where set.isConstrained { offsets[set.name] = at; at += set.count }
        auxiliary[try #require(offsets["lumi"])] = 1.01
        auxiliary[try #require(offsets["jes"])] = 0.25
        let given = loaded.replacingData(try model.data(main: main, auxiliary: auxiliary))
        let reduced = try given.excluding(modifiers: ["wjets_xsec"])
        #expect(reduced.data.main == main)
        #expect(reduced.model.parameterSet(named: "wjets_xsec") == nil)
        var reducedOffsets: [String: Int] = [:]
        at = 0
        for set in reduced.model.parameterSets where set.isConstrained { reducedOffsets[set.name] = at; at += set.count }
        #expect(reduced.data.auxiliary[try #require(reducedOffsets["lumi"])] == 1.01)
        #expect(reduced.data.auxiliary[try #require(reducedOffsets["jes"])] == 0.25)
        #expect(reduced.data.auxiliary.count == auxiliary.count - 1)
    }

    @Test("yields without a modifier are the full model's with its parameter at the nominal value, to 1e-12")
    func yieldsWithoutAModifier() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        let at = try ParameterValues(parsing: "mu=1.3,ttbar_norm=0.9,lumi=1.02")
        let without = try YieldsTask(at: at, exclude: ["jes", "wjets_xsec"]).run(on: loaded).jsonValue
        let nominal = try YieldsTask(at: try ParameterValues(parsing: "mu=1.3,ttbar_norm=0.9,lumi=1.02,jes=0,wjets_xsec=0")).run(on: loaded).jsonValue
        let moved = try YieldsTask(at: try ParameterValues(parsing: "mu=1.3,ttbar_norm=0.9,lumi=1.02,jes=0.5,wjets_xsec=0")).run(on: loaded).jsonValue
        func numbers(_ json: JSON) -> [Double] {
            switch json {
            case .number(let x): [x]
            case .integer(let i): [Double(i)]
            case .array(let a): a.flatMap(numbers)
            case .object(let o): o.pairs.flatMap { _, value in numbers(value) }
            default: []
            }
        }
        let a = numbers(without), b = numbers(nominal), c = numbers(moved)
        #expect(a.count == b.count && a.count > 10)
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-12 * max(1, abs(y))) }
        #expect(zip(a, c).contains { abs($0 - $1) > 1e-3 })
    }

    @Test("an unknown modifier, the POI and too many names are refused, naming the value and /exclude")
    func refusals() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        func message(_ exclude: [String]) -> String? {
            do { _ = try FitTask(exclude: exclude).model(for: loaded); return nil } catch {
                #expect(error.path?.description == "/exclude")
                return error.message
            }
        }
        #expect(message(["alpha_nope"])?.contains("\"alpha_nope\"") == true)
        #expect(message(["mu"])?.contains("parameter of interest") == true)
        #expect(message(Array(repeating: "jes", count: Limits.excludedModifiers + 1))?.contains("\(Limits.excludedModifiers)") == true)
        #expect(message([]) == nil)
    }
}
