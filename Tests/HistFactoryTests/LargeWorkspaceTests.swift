import EFTJSON
import Foundation
import HistFactory
import Testing

/// A 2 MB generated workspace (Benchmarks/large_workspace.py with 250 channels of 100 bins: 25 251
/// parameters, one staterror set per channel) against pyhf 0.7.6
/// (Tests/References/pyhf/make_large_workspace.py). The build's speed on 5-50 MB workspaces is
/// measured by Benchmarks/build_scaling.py; this checks that the model it builds is pyhf's.
@Suite struct LargeWorkspaceTests {
    static let channels = 250

    /// The workspace text, with the generator's formulas (Swift's `description` of a Double is the
    /// shortest text that reads back to it, as Python's `repr`).
    static func workspaceText(channels: Int, bins: Int = 100) -> String {
        func list(_ values: [Double]) -> String { "[" + values.map(\.description).joined(separator: ",") + "]" }
        var channelTexts: [String] = [], observations: [String] = []
        for c in 0..<channels {
            let signal: [Double] = (0..<bins).map { b in 2.0 + 1.5 * sin(0.1 * Double(b) + Double(c)) }
            let background: [Double] = (0..<bins).map { b in 50.0 + 20.0 * cos(0.07 * Double(b) + 0.3 * Double(c)) }
            let name = "ch" + String(repeating: "0", count: 5 - String(c).count) + String(c)
            channelTexts.append("""
                {"name":"\(name)","samples":[{"name":"signal","data":\(list(signal)),"modifiers":[{"name":"mu","type":"normfactor","data":null},\
                {"name":"stat_\(name)","type":"staterror","data":\(list(signal.map { 0.1 * $0 }))}]},\
                {"name":"background","data":\(list(background)),"modifiers":[{"name":"bkg_norm_\(name)","type":"normsys","data":{"hi":1.05,"lo":0.95}},\
                {"name":"stat_\(name)","type":"staterror","data":\(list(background.map { 0.05 * $0 }))}]}]}
                """)
            var observed: [Double] = []
            for b in 0..<bins {
                let wiggle: Double = 3 * sin(0.37 * Double(b) + 1.3 * Double(c))
                let total: Double = signal[b] + background[b] + wiggle
                observed.append(total.rounded(.toNearestOrEven))
            }
            observations.append("{\"name\":\"\(name)\",\"data\":\(list(observed))}")
        }
        return """
            {"channels":[\(channelTexts.joined(separator: ","))],"observations":[\(observations.joined(separator: ","))],"version":"1.0.0",\
            "measurements":[{"name":"meas","config":{"poi":"mu","parameters":[]}}]}
            """
    }

    static let reference = try! ReferencePaths.json(ReferencePaths.committed + "/pyhf/large_workspace.json")

    @Test func modelOfAGeneratedTwoMegabyteWorkspaceIsPyhfs() throws {
        let text = Self.workspaceText(channels: Self.channels)
        #expect(text.utf8.count > 2_000_000, "\(text.utf8.count) bytes")
        let workspace = try Workspace(json: try JSONParser.parse(text))
        let model = try HistFactoryModel(workspace: workspace)
        let data = try model.observedData(from: workspace)
        let ref = Self.reference

        #expect(Double(model.parameterCount) == ref["parameter_count"]!.doubleValue!)
        let order = model.parameterOrder, names = model.parameterNames
        #expect(Array(order.prefix(3)) == ref["par_order_head"]!.arrayValue!.map { $0.stringValue! })
        #expect(Array(order.suffix(3)) == ref["par_order_tail"]!.arrayValue!.map { $0.stringValue! })
        #expect(Array(names.prefix(3)) == ref["par_names_head"]!.arrayValue!.map { $0.stringValue! })
        #expect(Array(names.suffix(3)) == ref["par_names_tail"]!.arrayValue!.map { $0.stringValue! })
        let offsets = ref["offsets"]!.objectValue!
        for (name, offset) in zip(offsets.keys, offsets.values) {
            #expect(model.parameterSet(named: name).map { Double($0.offset) } == offset.doubleValue, "\(name)")
        }

        // log L at the inits and at a moved point, relative tolerance 1e-10 (25 000 bins summed in
        // another order than numpy's).
        let inits = model.suggestedInits
        let atInits = model.logLikelihood(inits, data: data)
        let expectedInits = ref["logpdf_init"]!.doubleValue!
        #expect(abs(atInits - expectedInits) <= 1e-10 * abs(expectedInits), "\(atInits) vs pyhf \(expectedInits)")

        var moved = inits
        moved[try model.parameterIndex(named: "mu")] = 1.3
        moved[try model.parameterIndex(named: "bkg_norm_ch00007")] = 0.5
        let stat = try #require(model.parameterSet(named: "stat_ch00003"))
        for k in 0..<stat.count { moved[stat.offset + k] = 1 + 0.01 * Double(k - 50) }
        let atMoved = model.logLikelihood(moved, data: data)
        let expectedMoved = ref["logpdf_moved"]!.doubleValue!
        #expect(abs(atMoved - expectedMoved) <= 1e-10 * abs(expectedMoved), "\(atMoved) vs pyhf \(expectedMoved)")

        // The gradient against central finite differences for the normfactor, a normsys and
        // staterror components of the first, a middle and the last set. h = 1e-4: log L (≈ 2·10⁴, a
        // sum of 50 000 terms) carries a rounding error near 10⁻¹⁰, which h = 1e-6 would turn into
        // 10⁻⁴ in the quotient; the truncation error h²·f'''/6 stays below 10⁻⁶.
        var gradient = [Double](repeating: 0, count: model.parameterCount)
        let value = model.logLikelihoodAndGradient(moved, data: data, gradient: &gradient)
        #expect(value == atMoved)
        let checked = [0, 1, 8, 251, 551 + 7, 25_250]
        for i in checked {
            let h = 1e-4
            var up = moved, down = moved
            up[i] += h
            down[i] -= h
            let numeric = (model.logLikelihood(up, data: data) - model.logLikelihood(down, data: data)) / (2 * h)
            #expect(abs(gradient[i] - numeric) <= 1e-4 * max(1, abs(numeric)), "∂ log L/∂\(names[i]): \(gradient[i]) vs \(numeric)")
        }
    }
}
