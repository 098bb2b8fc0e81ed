import Foundation
import HistFactory
import EFTModifiers

/// Small workspaces written in the tests, loaded through the ordinary JSON path.
enum SyntheticModels {
    static func load(_ json: String) throws -> (model: HistFactoryModel, data: ModelData) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-inference-\(UUID().uuidString).json")
        try json.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let workspace = try Workspace(contentsOf: url.path, modifiers: .efthf)
        let model = try HistFactoryModel(workspace: workspace)
        return (model, try model.observedData(from: workspace))
    }

    /// pyhf's `simplemodels.uncorrelated_background([12, 11], [50, 52], [3, 7])` with the given
    /// observations and POI bounds.
    static func simple(observed: [Double] = [51, 48], poiBounds: [Double] = [0, 10]) throws -> (model: HistFactoryModel, data: ModelData) {
        try load("""
        {"channels": [{"name": "singlechannel", "samples": [
          {"name": "signal", "data": [12.0, 11.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": null}]},
          {"name": "background", "data": [50.0, 52.0], "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}]}]}],
         "observations": [{"name": "singlechannel", "data": [\(observed[0]), \(observed[1])]}],
         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[\(poiBounds[0]), \(poiBounds[1])]]}]}}],
         "version": "1.0.0"}
        """)
    }

    /// A yield with two separated minima in a Wilson-coefficient-like parameter c.
    ///
    /// Two histosys modifiers named c (Gaussian constraint, σ = 1) on two samples: "quadratic"
    /// with up = down = nominal + 40, which under code 4p gives the even response 40·E(c)
    /// (E = c²(15/8 − 5/4 c² + 3/8 c⁴) for |c| ≤ 1, |c| beyond), and "linear" with
    /// up/down = nominal ± `linear`, giving linear·c. With 196 observed events and the background
    /// of 100 the yield 121 + 40E(c) + linear·c matches the data at c = +1.5 and c = −2.5 (for
    /// linear = 10); the constraint pulls both towards 0 (the minima sit near +1.3 and −2.1) and
    /// makes the positive one lower by about 3 in 2NLL. With linear = 0 and 181 events the two
    /// minima are exact mirror images ±c, degenerate.
    static func twoMinima(linear: Double) throws -> (model: HistFactoryModel, data: ModelData) {
        let observed = linear == 0 ? 181.0 : 196.0
        return try load("""
        {"channels": [{"name": "sr", "samples": [
          {"name": "background", "data": [100.0], "modifiers": []},
          {"name": "quadratic", "data": [1.0], "modifiers": [{"name": "c", "type": "histosys", "data": {"hi_data": [41.0], "lo_data": [41.0]}}]},
          {"name": "linear", "data": [20.0], "modifiers": [{"name": "c", "type": "histosys", "data": {"hi_data": [\(20 + linear)], "lo_data": [\(20 - linear)]}}]}]}],
         "observations": [{"name": "sr", "data": [\(observed)]}],
         "measurements": [{"name": "m", "config": {"poi": "c", "parameters": []}}],
         "version": "1.0.0"}
        """)
    }
}
