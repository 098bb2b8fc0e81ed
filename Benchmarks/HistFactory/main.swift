// Times efthf's HistFactory core on one workspace and prints JSON for Benchmarks/HistFactory/run.py,
// which times pyhf in the same run and prints the ratios.
//
//   HistFactoryBenchmark WORKSPACE [PATCHFILE[:NAME]] [--repeat N]
import EFTJSON
import Foundation
import HistFactory

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

var args = Array(CommandLine.arguments.dropFirst())
var repeats = 5
if let k = args.firstIndex(of: "--repeat") {
    repeats = Int(args[k + 1])!
    args.removeSubrange(k...(k + 1))
}
guard !args.isEmpty else {
    FileHandle.standardError.write(Data("usage: HistFactoryBenchmark WORKSPACE [PATCHFILE[:NAME]] [--repeat N]\n".utf8))
    exit(2)
}
let workspacePath = args[0]
var patchFile: String? = nil
var patchName: String? = nil
if args.count > 1 {
    let p = args[1]
    if let colon = p.lastIndex(of: ":"), !FileManager.default.fileExists(atPath: p) {
        patchFile = String(p[..<colon])
        patchName = String(p[p.index(after: colon)...])
    } else {
        patchFile = p
    }
}

do {
    // Build: read + parse + validate the workspace and the patch file, verify, patch, build the model.
    var buildTimes: [Double] = []
    var model: HistFactoryModel! = nil
    var data: ModelData! = nil
    for _ in 0..<repeats {
        let t0 = now()
        var ws = try Workspace(contentsOf: workspacePath)
        if let patchFile { ws = try ws.applying(patchFile: patchFile, name: patchName) }
        model = try HistFactoryModel(workspace: ws)
        data = try model.observedData(from: ws)
        buildTimes.append(now() - t0)
    }
    let inits = model.suggestedInits
    var gradient: [Double] = []
    var value = 0.0
    // Calibrate the batch so that one sample takes ~20 ms.
    var batch = 1
    while true {
        let t0 = now()
        for _ in 0..<batch { value = model.logLikelihoodAndGradient(inits, data: data, gradient: &gradient) }
        if now() - t0 > 0.02 { break }
        batch *= 2
    }
    var withGradient: [Double] = []
    var valueOnly: [Double] = []
    for _ in 0..<15 {
        var t0 = now()
        for _ in 0..<batch { value = model.logLikelihoodAndGradient(inits, data: data, gradient: &gradient) }
        withGradient.append((now() - t0) / Double(batch))
        t0 = now()
        for _ in 0..<batch { value = model.logLikelihood(inits, data: data) }
        valueOnly.append((now() - t0) / Double(batch))
    }
    let out: JSON = [
        "workspace": .string(workspacePath),
        "parameters": .integer(Int64(model.parameterCount)),
        "bins": .integer(Int64(model.mainBinCount)),
        "logpdf_at_init": .number(value),
        "build_seconds_median": .number(median(buildTimes)),
        "logpdf_grad_seconds_median": .number(median(withGradient)),
        "logpdf_seconds_median": .number(median(valueOnly)),
    ]
    print(out.serialized(.pretty))
} catch {
    FileHandle.standardError.write(Data("HistFactoryBenchmark: \(error)\n".utf8))
    exit(1)
}
