import EFTJSON
import Foundation
@testable import Morphing
import _SeededRandom

/// Locations of reference data, found relative to this file so tests run from any directory.
enum References {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `../shared/reference/eft` beside the repository (read-only, not committed).
    static let sharedEFT = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference/eft")
    /// `Tests/References/root` in the repository.
    static let root = repositoryRoot.appendingPathComponent("Tests/References/root")

    static var sharedAvailable: Bool { FileManager.default.fileExists(atPath: sharedEFT.appendingPathComponent("rf_lagrangianmorph_templates.json").path) }

    static func json(_ url: URL) throws -> JSON { try JSONParser.parse(Data(contentsOf: url)) }

    /// The ROOT tutorial templates, parsed once.
    static let templates: JSON? = try? json(sharedEFT.appendingPathComponent("rf_lagrangianmorph_templates.json"))

    /// The reference file of ROOT morphing outputs for `observable`.
    static func rootReference(_ observable: String) throws -> JSON {
        observable == "pTV"
            ? try json(sharedEFT.appendingPathComponent("root_morph_reference_pTV.json"))
            : try json(root.appendingPathComponent("root_morph_reference_\(observable).json"))
    }
}

extension JSON {
    var doubles: [Double] { arrayValue?.compactMap(\.doubleValue) ?? [] }
}

/// Central finite differences of `f` at `x` with step `h·max(1, |x_i|)`, coefficient-major like the Jacobian.
func finiteDifferenceJacobian(_ f: ([Double]) -> [Double], at x: [Double], step h: Double = 1e-5) -> [Double] {
    var result: [Double] = []
    for i in x.indices {
        let s = h * max(1, abs(x[i]))
        var up = x, down = x
        up[i] += s
        down[i] -= s
        let fu = f(up), fd = f(down)
        result += zip(fu, fd).map { ($0 - $1) / (2 * s) }
    }
    return result
}
