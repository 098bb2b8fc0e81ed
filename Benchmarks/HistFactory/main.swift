// Times efthf's HistFactory core on one workspace and prints JSON for Benchmarks/HistFactory/run.py,
// which times pyhf in the same run and prints the ratios.
//
//   HistFactoryBenchmark WORKSPACE [PATCHFILE[:NAME]] [--repeat N] [--evaluations N [--shift S]]
//
// Besides the inits (where every nuisance parameter sits at its nominal value, a cheap case for
// the kernel) it times a point off the inits, θ_i = init_i + 0.3·sin(i + 1), where every
// interpolation takes its general branch: what a fit sees after its first step.
// `--evaluations N` builds the model once, runs exactly N log-likelihood + gradient evaluations at
// the inits (or at init_i + S·sin(i + 1)) and prints the value, without timing: for instruction counts under
// `valgrind --tool=callgrind`, which are deterministic whatever the machine's load (the cost of one
// evaluation is the difference of two runs with different N, divided by the difference in N).
import EFTJSON
import Foundation
import HistFactory

/// Wall-clock seconds (for the build, which reads files).
func now() -> Double { clockSeconds(CLOCK_MONOTONIC) }

/// CPU seconds of this process (for the evaluations): unlike wall-clock time it does not count the
/// time the process waits for a core, so figures stay comparable on a machine shared with other
/// jobs. run.py times pyhf with the same clock (`time.process_time`).
func cpuNow() -> Double { clockSeconds(CLOCK_PROCESS_CPUTIME_ID) }

func clockSeconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
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
var evaluations: Int? = nil
if let k = args.firstIndex(of: "--evaluations") {
    evaluations = Int(args[k + 1])!
    repeats = 1
    args.removeSubrange(k...(k + 1))
}
var shift = 0.0
if let k = args.firstIndex(of: "--shift") {
    shift = Double(args[k + 1])!
    args.removeSubrange(k...(k + 1))
}
guard !args.isEmpty else {
    FileHandle.standardError.write(Data("usage: HistFactoryBenchmark WORKSPACE [PATCHFILE[:NAME]] [--repeat N] [--evaluations N]\n".utf8))
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
    let shifted = inits.indices.map { inits[$0] + 0.3 * sin(Double($0 + 1)) }
    var gradient: [Double] = []
    var value = 0.0
    if let evaluations {
        let point = inits.indices.map { inits[$0] + shift * sin(Double($0 + 1)) }
        for _ in 0..<evaluations { value = model.logLikelihoodAndGradient(point, data: data, gradient: &gradient) }
        print(value, gradient.reduce(0, +))
        exit(0)
    }
    // Calibrate the batch so that one sample takes ~20 ms.
    var batch = 1
    while true {
        let t0 = cpuNow()
        for _ in 0..<batch { value = model.logLikelihoodAndGradient(inits, data: data, gradient: &gradient) }
        if cpuNow() - t0 > 0.02 { break }
        batch *= 2
    }
    var withGradient: [Double] = []
    var valueOnly: [Double] = []
    var shiftedWithGradient: [Double] = []
    var shiftedValueOnly: [Double] = []
    var shiftedValue = 0.0
    for _ in 0..<15 {
        var t0 = cpuNow()
        for _ in 0..<batch { value = model.logLikelihoodAndGradient(inits, data: data, gradient: &gradient) }
        withGradient.append((cpuNow() - t0) / Double(batch))
        t0 = cpuNow()
        for _ in 0..<batch { value = model.logLikelihood(inits, data: data) }
        valueOnly.append((cpuNow() - t0) / Double(batch))
        t0 = cpuNow()
        for _ in 0..<batch { shiftedValue = model.logLikelihoodAndGradient(shifted, data: data, gradient: &gradient) }
        shiftedWithGradient.append((cpuNow() - t0) / Double(batch))
        t0 = cpuNow()
        for _ in 0..<batch { shiftedValue = model.logLikelihood(shifted, data: data) }
        shiftedValueOnly.append((cpuNow() - t0) / Double(batch))
    }
    let out: JSON = [
        "workspace": .string(workspacePath),
        "parameters": .integer(Int64(model.parameterCount)),
        "bins": .integer(Int64(model.mainBinCount)),
        "logpdf_at_init": .number(value),
        "build_seconds_median": .number(median(buildTimes)),
        "logpdf_grad_seconds_median": .number(median(withGradient)),
        "logpdf_seconds_median": .number(median(valueOnly)),
        "logpdf_at_shifted": .number(shiftedValue),
        "logpdf_grad_shifted_seconds_median": .number(median(shiftedWithGradient)),
        "logpdf_shifted_seconds_median": .number(median(shiftedValueOnly)),
    ]
    print(out.serialized(.pretty))
} catch {
    FileHandle.standardError.write(Data("HistFactoryBenchmark: \(error)\n".utf8))
    exit(1)
}
