import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Testing

/// POPxf export (issue 7): the polynomials in the file reproduce the model's yields; popxf-validator accepts the file.
@Suite struct POPxfTests {
    static let root = ReferencePaths.repositoryRoot.path
    static let files = ["Data/vh/workspace_morphing.json", "Data/vh/workspace_events.json", "Specs/examples/eft_coefficient_absolute.json"]

    /// Σ_k o_k Π c over the keys of a POPxf polynomial object, per observable.
    static func evaluate(_ poly: JSON, at c: [String: Double], count: Int) throws -> [Double] {
        var out = [Double](repeating: 0, count: count)
        for (key, values) in poly.objectValue!.pairs {
            // "('', 'cHW')" → ["", "cHW"]
            let inner = key.dropFirst().dropLast()
            let names = inner.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.map { String($0.dropFirst().dropLast()) }
            let m = try names.reduce(1.0) { p, n in
                guard let v = c[n] ?? (n.isEmpty ? 1 : nil) else { throw HistFactoryError(.parameter, "key \(key) names \(n)") }
                return p * v
            }
            for (i, v) in values.arrayValue!.enumerated() { out[i] += v.doubleValue! * m }
        }
        return out
    }

    /// Random points, nuisance parameters at their inits (nominal here): the channel-level POPxf
    /// polynomials equal the model's expected main data, the sample-level ones the exported plain
    /// workspace's evaluated samples, to 1e-12 relative.
    @Test(arguments: [0, 1, 2])
    func polynomialsReproduceTheModel(_ k: Int) throws {
        let ws = try Workspace(contentsOf: Self.root + "/" + Self.files[k], modifiers: .efthf)
        let model = try HistFactoryModel(workspace: ws)
        let coefficients = ws.wilsonCoefficients
        let channels = try JSONParser.parse(try ws.popxf(POPxfOptions(observables: .channels, scale: 125)).serialized(.pretty))
        let samples = try JSONParser.parse(try ws.popxf(POPxfOptions(observables: .samples, scale: 125)).serialized(.pretty))
        let channelNames = channels["metadata"]!["observable_names"]!.arrayValue!.map { $0.stringValue! }
        let sampleNames = samples["metadata"]!["observable_names"]!.arrayValue!.map { $0.stringValue! }
        var generator = SystemRandomNumberGenerator()
        var worst = 0.0
        for _ in 0 ..< 8 {
            var point: [String: Double] = [:]
            for c in coefficients { point[c] = Double.random(in: -0.05 ... 0.05, using: &generator) }
            var x = model.suggestedInits
            for c in coefficients { x[try model.parameterIndex(named: c)] = point[c]! }
            let expected = model.expectedMainData(x)
            let fromPOPxf = try Self.evaluate(channels["data"]!["observable_central"]!, at: point, count: channelNames.count)
            var offset = 0
            for (ci, channel) in model.channels.enumerated() {
                for b in 0 ..< model.channelBinCounts[ci] {
                    let i = channelNames.firstIndex(of: "\(channel)/bin\(b)")!
                    let rel = abs(fromPOPxf[i] - expected[offset + b]) / abs(expected[offset + b])
                    worst = max(worst, rel)
                    #expect(rel <= 1e-12, "\(Self.files[k]) \(channel) bin \(b): POPxf \(fromPOPxf[i]) model \(expected[offset + b])")
                }
                offset += model.channelBinCounts[ci]
            }
            let plain = try ws.evaluated(at: point, poi: "lumi")
            let perSample = try Self.evaluate(samples["data"]!["observable_central"]!, at: point, count: sampleNames.count)
            for channel in plain.channels {
                for sample in channel.samples {
                    for (b, v) in sample.data.enumerated() {
                        guard let i = sampleNames.firstIndex(of: "\(channel.name)/\(sample.name)/bin\(b)") else { continue }
                        #expect(abs(perSample[i] - v) <= 1e-12 * abs(v), "\(channel.name)/\(sample.name) bin \(b): POPxf \(perSample[i]) export \(v)")
                    }
                }
            }
        }
        print("POPxfTests \(Self.files[k]): largest relative difference to the model \(worst)")
    }

    /// With independent per-term uncertainties, MC_stats σ_k and the exact variance polynomial in
    /// misc agree: Σ_k (m_k σ_k)² = var(c), to 1e-12 relative.
    @Test func mcStatsMatchTheVariancePolynomial() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Specs/examples/eft_coefficient_absolute.json", modifiers: .efthf)
        let json = try ws.popxf(POPxfOptions(observables: .samples, scale: 91.1876))
        let sigma = json["data"]!["observable_uncertainties"]!["MC_stats"]!
        let variance = json["metadata"]!["misc"]!["efthf"]!["mc_variance"]!["terms"]!
        let n = json["metadata"]!["observable_names"]!.arrayValue!.count
        for c in [-0.7, 0.3, 1.4] {
            // Σ_k (m_k σ_k)²: square each term's contribution separately.
            var fromSigma = [Double](repeating: 0, count: n)
            for (key, values) in sigma.objectValue!.pairs {
                let single = JSON.object(JSONObject([(key, values)]))
                let term = try Self.evaluate(single, at: ["cHq3": c], count: n)
                for i in 0 ..< n { fromSigma[i] += term[i] * term[i] }
            }
            let exact = try Self.evaluate(variance, at: ["cHq3": c], count: n)
            for i in 0 ..< n { #expect(abs(fromSigma[i] - exact[i]) <= 1e-12 * exact[i], "bin \(i) at cHq3 = \(c): \(fromSigma[i]) vs \(exact[i])") }
        }
    }

    @Test func badOptionsAreErrors() throws {
        let ws = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_morphing.json", modifiers: .efthf)
        #expect(throws: HistFactoryError.self) { try ws.popxf(POPxfOptions(scale: -1)) }
        #expect(Workspace.popxfKey(.one, names: ["a"], degree: 2) == "('', '')")
        // A sample evaluated per event is refused by name, not written from its static templates.
        let events = try Workspace(contentsOf: Self.root + "/Data/vh/workspace_events_syst.json", modifiers: .efthf)
        #expect { try events.popxf(POPxfOptions(scale: 125)) } throws: { "\($0)".contains("\"VH\"") && "\($0)".contains("evaluated per event") }
    }

    /// popxf-validator on the export, through Tests/References/popxf/check_popxf.py (skipped, with a
    /// message, when python3 cannot import popxf.validator; scripts/setup.sh installs it).
    @Test(arguments: [("Data/vh/workspace_morphing.json", "samples"), ("Data/vh/workspace_events.json", "channels")])
    func validatorAcceptsTheExport(_ file: String, _ observables: String) throws {
        guard (try? runCommand(["python3", "-c", "import popxf.validator"]))?.0 == 0 else {
            print("POPxfTests.validatorAcceptsTheExport skipped: python3 cannot import popxf.validator (pip install popxf-validator, or scripts/setup.sh)")
            return
        }
        let ws = try Workspace(contentsOf: Self.root + "/" + file, modifiers: .efthf)
        let json = try ws.popxf(POPxfOptions(observables: POPxfOptions.Observables(rawValue: observables)!, scale: 125, basis: .wcxf(eft: "SMEFT", basis: "Warsaw"), toolVersion: "test"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-popxf-\(UUID().uuidString).json").path
        try Data(json.serialized(.pretty).utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (status, output) = try runCommand(["python3", Self.root + "/Tests/References/popxf/check_popxf.py", path])
        print(output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(status == 0, "\(output)")
    }
}

/// `export --measurement`: the exported workspaces keep only the chosen measurement; an unknown one is an error.
@Suite struct ExportMeasurementTests {
    @Test func exportKeepsOnlyTheChosenMeasurement() throws {
        let ws = try Workspace(contentsOf: POPxfTests.root + "/Data/vh/workspace_morphing.json", modifiers: .efthf)
        let name = ws.measurements[0].name
        let exported = try ws.evaluated(at: ["cHW": 0.1], poi: "lumi", measurement: name)
        #expect(exported.measurements.map(\.name) == [name])
        let export = try ws.patchSet(grid: [GridValues(name: "cHW", values: [0, 0.1])], poi: "lumi", measurement: name)
        let background = export.backgroundOnly
        #expect(background.measurements.map(\.name) == [name])
        #expect { try ws.evaluated(at: [:], poi: "lumi", measurement: "nope") } throws: { e in "\(e)".contains("no measurement \"nope\"") && "\(e)".contains(name) }
    }
}
