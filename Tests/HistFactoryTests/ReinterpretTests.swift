import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Testing

/// Reinterpretation for another operator set (issue 7; Specs/eft-extension.md §15).
@Suite struct ReinterpretTests {
    static let root = ReferencePaths.repositoryRoot.path
    static let morphing = root + "/Data/vh/workspace_morphing.json"
    static let events = root + "/Data/vh/workspace_events.json"

    /// Writes a result into a fresh directory and reads it back (event databases included); the
    /// directory is removed unless `keep` (then the caller removes `workspace.file`'s directory).
    static func materialise(_ r: ReinterpretedWorkspace, keep: Bool = false) throws -> Workspace {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-reinterpret-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for d in r.databases { try d.database.write(to: URL(fileURLWithPath: directory + "/" + d.file)) }
        try Data(r.json.serialized(.pretty).utf8).write(to: URL(fileURLWithPath: directory + "/ws.json"))
        let ws = try Workspace(contentsOf: directory + "/ws.json", modifiers: .efthf)
        _ = try HistFactoryModel(workspace: ws)  // reads the databases before they go
        if !keep { try? FileManager.default.removeItem(atPath: directory) }
        return ws
    }

    /// The two models at corresponding points: `newPoint` in the new model, `oldPoint(newPoint)` in
    /// the original, the other parameters at shifted inits (γ ≠ 1, so the MC variance matters).
    /// Expected data to 1e-12 relative; ln L (which contains the staterror σ(c) of the exact MC
    /// variance) to 1e-10 relative.
    static func compare(original: Workspace, new: Workspace, points: Int = 6,
                        newPoint: () -> [String: Double], oldPoint: ([String: Double]) -> [String: Double]) throws -> (Double, Double) {
        let a = try HistFactoryModel(workspace: original), b = try HistFactoryModel(workspace: new)
        let dataA = try a.observedData(from: original), dataB = try b.observedData(from: new)
        let coefficientsA = Set(original.wilsonCoefficients), coefficientsB = Set(new.wilsonCoefficients)
        var worstYield = 0.0, worstLogL = 0.0
        for _ in 0 ..< points {
            let pn = newPoint(), po = oldPoint(pn)
            var xa = a.suggestedInits
            for i in xa.indices { xa[i] += 0.01 * Double(i % 3 - 1) }
            for (i, name) in a.parameterNames.enumerated() where coefficientsA.contains(name) { xa[i] = po[name] ?? 0 }
            let xb = try b.parameterNames.map { name throws -> Double in
                if coefficientsB.contains(name) { return pn[name] ?? 0 }
                return xa[try a.parameterIndex(named: name)]
            }
            let ya = a.expectedMainData(xa), yb = b.expectedMainData(xb)
            for k in ya.indices {
                let rel = abs(ya[k] - yb[k]) / abs(ya[k])
                worstYield = max(worstYield, rel)
                #expect(rel <= 1e-12, "bin \(k): original \(ya[k]) reinterpreted \(yb[k]) at \(pn)")
            }
            let la = a.logLikelihood(xa, data: dataA), lb = b.logLikelihood(xb, data: dataB)
            let rel = abs(la - lb) / abs(la)
            worstLogL = max(worstLogL, rel)
            #expect(rel <= 1e-10, "ln L: original \(la) reinterpreted \(lb) at \(pn)")
        }
        return (worstYield, worstLogL)
    }

    static let from = ["cHW", "cHq3"], to = ["cWtilde", "cQ"]
    static let matrix = [[0.8, 0.3], [-0.2, 1.1]]

    static func randomPoint(_ names: [String]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, Double.random(in: -0.04 ... 0.04)) })
    }

    /// c_old = M c_new: the reinterpreted model at c_new equals the original at M c_new (the other
    /// coefficients equal), for term templates with per-term uncertainties (which become variance
    /// pairs) and for an event database (transformed per event).
    @Test(arguments: [morphing, events])
    func basisChangeEqualsTheOriginalAtTheMappedPoint(_ file: String) throws {
        let ws = try Workspace(contentsOf: file, modifiers: .efthf)
        let result = try ws.reinterpreted(.basisChange(from: Self.from, to: Self.to, matrix: Self.matrix), poi: "cWtilde")
        let new = try Self.materialise(result)
        #expect(Set(new.wilsonCoefficients) == Set(ws.wilsonCoefficients).subtracting(Self.from).union(Self.to))
        let others = ws.wilsonCoefficients.filter { !Self.from.contains($0) }
        let (y, l) = try Self.compare(original: ws, new: new, newPoint: { Self.randomPoint(others + Self.to) }, oldPoint: { pn in
            var po = pn
            for (i, name) in Self.from.enumerated() { po[name] = zip(Self.matrix[i], Self.to).reduce(0) { $0 + $1.0 * pn[$1.1]! } }
            return po
        })
        print("ReinterpretTests basis change \(URL(fileURLWithPath: file).lastPathComponent): largest relative differences: yields \(y), ln L \(l)")
    }

    /// Restricting to a subset equals the original with the dropped coefficients at 0; their
    /// parameter configs leave the measurement.
    @Test(arguments: [morphing, events])
    func restrictionEqualsTheOriginalWithDroppedCoefficientsAtZero(_ file: String) throws {
        let ws = try Workspace(contentsOf: file, modifiers: .efthf)
        let kept = ["cHW", "cHq3"]
        let new = try Self.materialise(try ws.reinterpreted(.restrict(to: kept)))
        #expect(new.wilsonCoefficients.sorted() == kept.sorted())
        #expect(new.measurements[0].parameters.allSatisfy { !["cHl3", "cHDD", "cHbox", "cll1"].contains($0.name) })
        let (y, l) = try Self.compare(original: ws, new: new, newPoint: { Self.randomPoint(kept) }, oldPoint: { $0 })
        print("ReinterpretTests restriction \(URL(fileURLWithPath: file).lastPathComponent): largest relative differences: yields \(y), ln L \(l)")
    }

    /// Split the event database's operators in two and merge them back: at points where either
    /// group is 0 (the cross terms between the groups are in neither part) the merged workspace
    /// equals the original restricted to both groups.
    @Test func addOperatorsRoundTrip() throws {
        let ws = try Workspace(contentsOf: Self.events, modifiers: .efthf)
        let first = ["cHW", "cHq3"], second = ["cHl3", "cHDD"]
        let base = try Self.materialise(try ws.reinterpreted(.restrict(to: first)), keep: true)
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: base.file!).deletingLastPathComponent().path) }
        let extra = try ws.reinterpreted(.restrict(to: second), poi: "lumi").databases[0].database
        let merged = try base.reinterpreted(.addOperators(extra, file: "extra.h5", modifier: nil))
        #expect(merged.coefficients == ["cHq3", "cHW", "cHl3", "cHDD"])  // the database's order, then the added names
        let new = try Self.materialise(merged)
        for group in [first, second] {
            _ = try Self.compare(original: ws, new: new, points: 3, newPoint: { Self.randomPoint(group) }, oldPoint: { $0 })
        }
        // A shared monomial that disagrees is a conflict naming it.
        let conflicting = try ws.reinterpreted(.basisChange(from: ["cHW"], to: ["cHW"], matrix: [[1.5]])).databases[0].database
        #expect { try base.reinterpreted(.addOperators(conflicting, file: "conflict.h5", modifier: nil)) } throws: { e in
            "\(e)".contains("conflict.h5") && "\(e)".contains("conflicting shared monomial") && "\(e)".contains("cHW")
        }
        // A modifier name that does not exist.
        #expect { try base.reinterpreted(.addOperators(extra, file: "extra.h5", modifier: "nope")) } throws: { e in "\(e)".contains("nope") }
    }

    @Test func badInputsGiveClearErrors() throws {
        let ws = try Workspace(contentsOf: Self.morphing, modifiers: .efthf)
        #expect { try ws.reinterpreted(.restrict(to: ["cHW", "cXYZ"])) } throws: { e in "\(e)".contains("\"cXYZ\"") && "\(e)".contains("workspace_morphing.json") }
        #expect { try ws.reinterpreted(.basisChange(from: ["cNope"], to: ["a"], matrix: [[1]])) } throws: { e in "\(e)".contains("\"cNope\"") }
        #expect { try ws.reinterpreted(.basisChange(from: ["cHW"], to: ["cHq3"], matrix: [[1]])) } throws: { e in "\(e)".contains("\"cHq3\"") }
        #expect { try ws.reinterpreted(.basisChange(from: ["cHW", "cHq3"], to: ["a"], matrix: [[1], [1, 2]])) } throws: { e in "\(e)".contains("row 1") }
        let badMap = try JSONParser.parse(#"{"from": ["cHW", "cHq3"], "to": ["a", "b"], "matrix": [[1, 0], [0, 1, 2]]}"#)
        #expect { try Reinterpretation.basisChange(json: badMap, file: "map.json") } throws: { e in
            "\(e)".contains("map.json") && "\(e)".contains("/matrix/1") && "\(e)".contains("3 entries")
        }
        let shortMap = try JSONParser.parse(#"{"from": ["cHW", "cHq3"], "to": ["a"], "matrix": [[1]]}"#)
        #expect { try Reinterpretation.basisChange(json: shortMap, file: "map.json") } throws: { e in "\(e)".contains("/matrix") && "\(e)".contains("1 rows") }
        // The POI (cHW) dropped.
        #expect { try ws.reinterpreted(.restrict(to: ["cHq3"])) } throws: { e in "\(e)".contains("POI \"cHW\"") && "\(e)".contains("/measurements/0/config/poi") }
    }
}
