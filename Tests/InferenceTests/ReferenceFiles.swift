import Foundation
import HistFactory
import EFTModifiers

/// Locates the shared reference folder (`../shared/reference` next to the repository, or
/// $EFTHF_REFERENCE_DIR) and the repository's own pyhf references, and loads the reference cases.
enum ReferenceFiles {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared reference folder, or nil (tests then skip with a message) when it is absent.
    static let sharedDirectory: URL? = {
        let candidates = [
            ProcessInfo.processInfo.environment["EFTHF_REFERENCE_DIR"].map { URL(fileURLWithPath: $0) },
            repository.deletingLastPathComponent().appendingPathComponent("shared/reference"),
        ].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("reference-values.json").path) }
    }()

    static let missingMessage = "the shared reference folder (../shared/reference or $EFTHF_REFERENCE_DIR) is absent; reference comparisons skipped"

    static var available: Bool { sharedDirectory != nil }

    /// reference-values.json's cases by name. (`nonisolated(unsafe)`: written once by the lazy
    /// initialiser, only read afterwards.)
    nonisolated(unsafe) static let referenceValues: [String: [String: Any]] = {
        guard let dir = sharedDirectory, let cases = loadJSON(dir.appendingPathComponent("reference-values.json"))?["cases"] as? [[String: Any]] else { return [:] }
        return Dictionary(uniqueKeysWithValues: cases.map { ($0["name"] as! String, $0) })
    }()

    /// Tests/References/pyhf/fits.json's cases by name (Minuit HESSE, hypotests, upper limits).
    nonisolated(unsafe) static let fits: [String: [String: Any]] = {
        let url = repository.appendingPathComponent("Tests/References/pyhf/fits.json")
        guard let cases = loadJSON(url)?["cases"] as? [[String: Any]] else { return [:] }
        return Dictionary(uniqueKeysWithValues: cases.map { ($0["name"] as! String, $0) })
    }()

    static func loadJSON(_ url: URL) -> [String: Any]? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// The eight reference cases with the patch make_reference.py applies.
    static let cases: [(name: String, workspace: String, patch: String?, patchName: String?)] = [
        ("01_pyhf_example", "example_bkgonly.json", "example_patchset.json", "patch_channel1_signal_syst1"),
        ("02_cms_combine2pyhf_one-bin-stat-full", "workspace.json", nil, nil),
        ("03_atlas_susy2018_14_comb", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
        ("04_atlas_susy2018_22_simplified_MB-SSd", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
        ("05_atlas_susy2018_31_sbottom_RegionA", "BkgOnly.json", "patch.sbottom_1300_205_60.json", nil),
        ("06_atlas_susy2019_08_1Lbb", "BkgOnly.json", "patchset.json", "C1N2_Wh_hbb_700_150"),
        ("07_atlas_susy2018_16_ewkinos_SR2l", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
        ("08_atlas_susy2019_09_offshell", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    ]

    /// The patched workspace's model and observed data.
    static func load(_ name: String) throws -> (model: HistFactoryModel, data: ModelData) {
        let c = cases.first { $0.name == name }!
        let folder = sharedDirectory!.appendingPathComponent("workspaces/\(c.name)").path
        var workspace = try Workspace(contentsOf: "\(folder)/\(c.workspace)", modifiers: .efthf)
        if let patch = c.patch { workspace = try workspace.applying(patchFile: "\(folder)/\(patch)", name: c.patchName) }
        let model = try HistFactoryModel(workspace: workspace)
        return (model, try model.observedData(from: workspace))
    }

    /// A by-name parameter dictionary ({name: [values]}) flattened in the model's order.
    static func flatten(_ byName: [String: Any], model: HistFactoryModel) -> [Double] {
        model.parameterSets.flatMap { set in (byName[set.name] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    }
}

func doubles(_ value: Any?) -> [Double] { (value as! [Any]).map { ($0 as! NSNumber).doubleValue } }
func double(_ value: Any?) -> Double { (value as! NSNumber).doubleValue }
