import EFTJSON
import Foundation
import HistFactory
import EFTModifiers
import Testing

/// Locations of the reference material: `../shared/reference` beside the repository (never
/// copied into it) and the committed `Tests/References`.
enum ReferencePaths {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference").path
    static let committed = repositoryRoot.appendingPathComponent("Tests/References").path

    static var sharedAvailable: Bool { FileManager.default.fileExists(atPath: shared + "/reference-values.json") }

    static func json(_ path: String) throws -> JSON {
        try loadJSON(path)
    }
}

/// The eight reference cases of `../shared/reference/reference-values.json`, with their patches.
struct ReferenceCase: CustomTestStringConvertible, Sendable {
    let name: String
    let json: JSON

    var testDescription: String { name }

    static let all: [ReferenceCase] = {
        guard ReferencePaths.sharedAvailable,
              let root = try? ReferencePaths.json(ReferencePaths.shared + "/reference-values.json"),
              let cases = root["cases"]?.arrayValue
        else {
            print("note: ../shared/reference is absent; the reference-workspace tests have no cases")
            return []
        }
        return cases.map { ReferenceCase(name: $0["name"]!.stringValue!, json: $0) }
    }()

    /// The workspace with its patch applied as reference-values.json says.
    func workspace() throws -> Workspace {
        let dir = ReferencePaths.shared + "/workspaces/" + name
        var ws = try Workspace(contentsOf: dir + "/" + json["workspace"]!.stringValue!)
        if let patch = json["patch"]?.stringValue {
            let parts = patch.split(separator: ":", maxSplits: 1).map(String.init)
            ws = try ws.applying(patchFile: dir + "/" + parts[0], name: parts.count > 1 ? parts[1] : nil)
        }
        return ws
    }
}

/// A parameter vector from a `{name: [values]}` object, starting from the inits.
func parameterVector(_ pars: JSON, model: HistFactoryModel) throws -> [Double] {
    var point = model.suggestedInits
    for (name, values) in pars.objectValue!.pairs {
        let set = try #require(model.parameterSet(named: name), "pyhf parameter \(name) missing in efthf")
        let numbers = values.arrayValue!.map { $0.doubleValue! }
        #expect(numbers.count == set.count)
        for (i, v) in numbers.enumerated() { point[set.offset + i] = v }
    }
    return point
}

func relativeDifference(_ a: Double, _ b: Double) -> Double {
    a == b ? 0 : abs(a - b) / max(abs(a), abs(b))
}

/// Five-point central finite differences of log L (truncation error O(h⁴)), step h·max(1, |θ|).
///
/// A larger step than the plain two-point rule: log L is a small sum of large terms (n ln ν with
/// n ~ 1e4), so rounding noise ε·Σ|terms|/h, not truncation, limits a small step.
func finiteDifferenceGradient(_ model: HistFactoryModel, _ point: [Double], _ data: ModelData, step: Double = 1e-4) -> [Double] {
    (0..<point.count).map { i in
        let h = step * max(1, abs(point[i]))
        func f(_ k: Double) -> Double {
            var x = point
            x[i] += k * h
            return model.logLikelihood(x, data: data)
        }
        return (8 * (f(1) - f(-1)) - (f(2) - f(-2))) / (12 * h)
    }
}

/// Runs `args` through /usr/bin/env (e.g. `["python3", "script.py", …]`) and returns its exit status
/// and its standard output and error together.
func runCommand(_ args: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = args
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    // Read before waiting: a child that fills the pipe would otherwise block forever.
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
