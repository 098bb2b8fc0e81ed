// `--stream FILE [--budget SIZE] [--passes P]`: the passes of a model over an event database
// under a memory budget (Specs/event-database.md, "Memory budget and streaming"), driven by
// Benchmarks/EventDatabase/streaming.py: the static projection (one pass at model build), the
// smoothed per-event kernel with a shift (`JES` of `pTV`) and a weight systematic (`btag`), with
// and without Jacobians, and the process's peak resident memory. Prints one JSON object.
import EventDatabase
import Foundation
import Morphing

/// The peak resident set of this process in bytes (`VmHWM` of /proc/self/status).
func peakResidentBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
    return (line?.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 1024
}

func runStreamingBenchmark(file path: String, budget: String?, passes: Int) throws {
    let memory = try budget.map { text throws(EventDatabaseError) in try EventMemoryBudget(parsing: text) }
    let opened = now()
    let file = try EventFile(contentsOf: URL(fileURLWithPath: path), memory: memory)
    let N = file.eventCount, T = file.monomials.count
    var report: [String: Any] = ["file": path, "events": N, "terms": T, "budget_bytes": memory?.bytes ?? -1,
                                 "open_seconds": now() - opened, "cores": ProcessInfo.processInfo.activeProcessorCount]
    let edges: [Double] = [0, 60, 100, 140, 200, 260, 340, 440, 600]
    let binning = try Binning(observable: "pTV", edges: edges)

    // The static projection: pTV, the nominal weights and the T coefficients, once.
    var projection: EventProjection? = nil
    let projectionSeconds = try seconds { projection = try file.projection(binning: binning) }
    let projectionBytes = 8 * N * (T + 2)
    report["projection_seconds"] = projectionSeconds
    report["projection_events_per_second"] = Double(N) / projectionSeconds
    report["projection_GB_per_second"] = Double(projectionBytes) / projectionSeconds / 1e9
    report["projection_sm_yields"] = projection!.templates.yields.yields(at: [Double](repeating: 0, count: file.coefficientNames.count))
    report["resident_after_projection_bytes"] = file.residentBytes

    let systematics: [EventSystematic] = [.init(name: "JES", kind: .shift), .init(name: "btag", kind: .weight)]
    var kernel: SmoothedReweightingKernel? = nil
    report["kernel_build_seconds"] = try seconds {
        kernel = try SmoothedReweightingKernel(file: file, binning: binning, systematics: systematics, smoothingWidth: 2)
    }
    let k = kernel!
    report["kernel_streamed"] = k.isStreamed
    let C = file.coefficientNames.count
    // The SM yields of the smoothed sample (a workspace's `data`), also the kernel's first pass.
    var sm: [Double] = []
    report["kernel_first_pass_seconds"] = try seconds {
        sm = try k.checkedEvaluation(coefficients: [Double](repeating: 0, count: C), nuisance: [0, 0], jacobian: false).yields
    }
    report["kernel_sm_yields"] = sm
    let kernelBytes = Double(k.bytesPerEvent * N)
    for jacobian in [false, true] {
        var best = Double.infinity
        for pass in 0 ..< passes {
            let c = (0 ..< C).map { 0.1 * Double($0 + 1) * (pass % 2 == 0 ? 1 : -1) }
            let t = try seconds { _ = try k.checkedEvaluation(coefficients: c, nuisance: [0.4, -0.3], jacobian: jacobian) }
            best = min(best, t)
        }
        let key = jacobian ? "kernel_jacobian" : "kernel"
        report[key + "_seconds"] = best
        report[key + "_events_per_second"] = Double(N) / best
        report[key + "_GB_per_second"] = kernelBytes / best / 1e9
    }
    report["resident_columns_bytes"] = file.residentBytes
    report["peak_rss_bytes"] = peakResidentBytes()
    let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
}
