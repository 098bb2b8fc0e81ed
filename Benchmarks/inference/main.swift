// Times efthf's inference on the reference workspaces and prints one JSON object per case, with
// the numbers it computed so that bench_pyhf.py can check them against pyhf:
//
//     swift run -c release InferenceBenchmark [--reference DIR] [--cases 05,06,07,08] [--repeat N]
//
// Per case: model build, one free fit, one q̃μ hypotest at POI = 1 (all five fits from scratch),
// and the observed + expected upper limit, each the median of N runs.
import Dispatch
import Foundation
import HistFactory
import Inference

let cases: [(name: String, workspace: String, patch: String?, patchName: String?)] = [
    ("01_pyhf_example", "example_bkgonly.json", "example_patchset.json", "patch_channel1_signal_syst1"),
    ("02_cms_combine2pyhf_one-bin-stat-full", "workspace.json", nil, nil),
    ("03_atlas_susy2018_14_comb", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    ("04_atlas_susy2018_22_simplified_MB-SSd", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    ("05_atlas_susy2018_31_sbottom_RegionA", "BkgOnly.json", "patch.sbottom_1300_205_60.json", nil),
    ("06_atlas_susy2019_08_1Lbb", "BkgOnly.json", "patchset.json", "C1N2_Wh_hbb_700_150"),
    ("07_atlas_susy2018_16_ewkinos_SR2l", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
    ("08_atlas_susy2019_09_offshell", "BkgOnly.json", "patchset_SYNTHETIC.json", "synthetic_signal"),
]

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let referenceDirectory = option("--reference") ?? ProcessInfo.processInfo.environment["EFTHF_REFERENCE_DIR"] ?? "/work/shared/reference"
let selected = (option("--cases") ?? "05,06,07,08").split(separator: ",").map(String.init)
let repeats = Int(option("--repeat") ?? "3") ?? 3
let skipLimit = arguments.contains("--no-limit")

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ values: [Double]) -> Double { let s = values.sorted(); return s[s.count / 2] }

func json(_ value: Any) -> String {
    let data = try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

for c in cases where selected.contains(where: { c.name.hasPrefix($0) }) {
    let folder = "\(referenceDirectory)/workspaces/\(c.name)"
    var model: HistFactoryModel! = nil
    var data: ModelData! = nil
    let build = try seconds {
        var workspace = try Workspace(contentsOf: "\(folder)/\(c.workspace)")
        if let patch = c.patch { workspace = try workspace.applying(patchFile: "\(folder)/\(patch)", name: c.patchName) }
        model = try HistFactoryModel(workspace: workspace)
        data = try model.observedData(from: workspace)
    }
    var fit: FitResult! = nil
    var hypotest: HypotestResult! = nil
    var limit: UpperLimitResult? = nil
    var fitTimes: [Double] = [], hypotestTimes: [Double] = [], limitTimes: [Double] = []
    for _ in 0..<repeats {
        fitTimes.append(try seconds { fit = try model.fit(data) })
        hypotestTimes.append(try seconds { hypotest = try model.hypotest(poiValue: 1, data: data) })
        if !skipLimit { limitTimes.append(try seconds { limit = try model.upperLimit(data: data) }) }
    }
    var record: [String: Any] = [
        "case": c.name, "parameters": model.parameterCount, "bins": model.mainBinCount,
        "build_seconds": build,
        "fit_seconds": median(fitTimes), "fit_twice_nll": fit.twiceNLL, "fit_status": fit.status.description,
        "fit_function_calls": fit.functionCalls,
        "hypotest_seconds": median(hypotestTimes), "cls_obs": hypotest.clsObserved, "cls_exp": hypotest.clsExpected,
    ]
    if let limit {
        record["upper_limit_seconds"] = median(limitTimes)
        record["upper_limit_obs"] = limit.observed
        record["upper_limit_exp"] = limit.expected
        record["upper_limit_fits"] = limit.fits
    }
    print(json(record))
}
