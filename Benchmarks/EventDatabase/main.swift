// Event-database benchmark: the per-event reweight-and-fill pass beside a streaming read of the same
// run, the smoothed kernel of a fit with per-event systematics, and the cold and warm load of an HDF5
// event database against `dd` of the same file in the same run. The kernel's fraction of a streaming
// read, both in CPU time, is Benchmarks/run.py's (its per-event table); the wall-clock figures here
// depend on the machine's load and are not a ceiling.
//
//   swift build -c release --scratch-path .build-eventdb-release --product EventDatabaseBenchmark
//   .build-eventdb-release/release/EventDatabaseBenchmark [--events N] [--rounds R] [--file PATH]
//       [--no-kernel] [--no-smoothed] [--no-load] [--example Data/vh/vh_smeft_events.h5] [--repeats R]
//   .build-eventdb-release/release/EventDatabaseBenchmark --stream FILE [--budget SIZE] [--passes P]
//       (passes under a memory budget, Streaming.swift; run by streaming.py)
//
// Target: 10⁷ events × 15 coefficients loaded in ≤ 2 s. `--file PATH` keeps the written database (reused when it exists, so load-only
// runs skip the generation). Cold reads drop the page cache (`/proc/sys/vm/drop_caches`, as root;
// otherwise `POSIX_FADV_DONTNEED` on the file) before every run, of `dd` and of the loader alike.
// `--repeats R` sets the smoothed kernel's evaluations per timing (200; e.g. 2 under callgrind).
// Both kernels also report events per CPU-second of the process (best of 5), the figure that a
// shared machine's load does not inflate, and the smoothed kernel its ratio to the sharp one's.
import Dispatch
import EventDatabase
import Foundation
import Morphing
import _SeededRandom

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return now() - start
}

/// CPU time of the whole process (every thread), in seconds.
func cpuNow() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
}

/// Wall-clock and CPU seconds of `body`: on a shared machine the CPU time is the figure that does
/// not depend on what else runs.
func wallAndCPU(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    let (start, cpuStart) = (now(), cpuNow())
    try body()
    return (now() - start, cpuNow() - cpuStart)
}

/// Events per CPU-second of the sharp kernel at θ = 0.5, for the smoothed kernel's ratio.
nonisolated(unsafe) var sharpEventsPerCPUSecond: Double? = nil

func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
}

let arguments = CommandLine.arguments
func option(_ name: String) -> String? { arguments.firstIndex(of: name).map { arguments[$0 + 1] } }
if let path = option("--stream") {
    // The passes of a model under a memory budget (Streaming.swift; driven by streaming.py).
    try runStreamingBenchmark(file: path, budget: option("--budget"), passes: option("--passes").map { Int($0)! } ?? 3)
    exit(0)
}
let events = option("--events").map { Int($0)! } ?? 10_000_000
let rounds = option("--rounds").map { Int($0)! } ?? 3
let keptFile = option("--file")
let cores = ProcessInfo.processInfo.activeProcessorCount
print("load average \(loadAverage()), \(cores) cores")

func column(_ count: Int, _ value: (Int) -> Double) -> [Double] {
    [Double](unsafeUninitializedCapacity: count) { buffer, n in
        for i in 0 ..< count { buffer[i] = value(i) }
        n = count
    }
}

// MARK: A synthetic database: 4 operators, all 15 monomials up to degree 2.

let names = ["cHq3", "cHW", "cHDD", "cHbox"]
let monomials = Monomial.all(upToDegree: 2, coefficientCount: names.count)
precondition(monomials.count == 15)

struct Synthetic {
    let database: EventDatabase
    let pT: [Double]
    let columns: [[Double]]
}

func syntheticDatabase() throws -> Synthetic {
    let start = now()
    var rng = SplitMix64(state: 2026)
    let pT = column(events) { _ in 20 + 580 * rng.uniform() * rng.uniform() }
    // Deterministic, positive, varying per event and term; values do not matter for the timing.
    let columns = monomials.indices.map { t in
        let scale: Double = t == 0 ? 1 : 0.1
        return column(events) { e in scale * (1 + 0.001 * Double((e &* 7 &+ t) % 997)) }
    }
    let database = try EventDatabase(
        provenance: .init(generator: "EventDatabaseBenchmark (synthetic)", eftBasis: "SMEFT Warsaw (synthetic)", lambda: 1000,
                          normalisation: "arbitrary", weightUnit: "events"),
        coefficientNames: names, monomials: monomials, basisCoefficients: columns,
        observables: [.init(name: "pTV", unit: "GeV", values: pT)],
        observableShifts: [.init(name: "JES", observable: "pTV", up: pT.map { 0.02 * $0 }, down: pT.map { -0.02 * $0 })])
    print(String(format: "generated %d events × %d monomials in %.1f s", events, monomials.count, now() - start))
    return Synthetic(database: database, pT: pT, columns: columns)
}

let loadFileExists = keptFile.map { FileManager.default.fileExists(atPath: $0) } ?? false
let needSynthetic = !arguments.contains("--no-kernel") || (!arguments.contains("--no-load") && !loadFileExists)
var synthetic: Synthetic? = needSynthetic ? try syntheticDatabase() : nil

// MARK: Streaming read bandwidth against the per-event kernel, interleaved.

if !arguments.contains("--no-kernel"), let synthetic {
    let database = synthetic.database, pT = synthetic.pT, columns = synthetic.columns
    // A STREAM-like read: a sum over 1 GiB (well beyond the caches) with the kernel's threading:
    // the same `concurrentPerform` over 32 contiguous chunks, one thread per core, each with 4
    // independent accumulators.
    let streamCount = 1 << 27
    let stream = column(streamCount) { Double($0 & 1023) }
    var streamPartials = [Double](repeating: 0, count: 32)
    func streamPass() {
        stream.withUnsafeBufferPointer { s in
            streamPartials.withUnsafeMutableBufferPointer { out in
                // Sound: each chunk reads its own slice of `stream` and writes its own element of `out`.
                nonisolated(unsafe) let s = s, out = out
                DispatchQueue.concurrentPerform(iterations: 32) { chunk in
                    let range = chunk * streamCount / 32 ..< (chunk + 1) * streamCount / 32
                    var a = 0.0, b = 0.0, c = 0.0, d = 0.0
                    var i = range.lowerBound
                    while i + 4 <= range.upperBound {
                        a += s[i]; b += s[i + 1]; c += s[i + 2]; d += s[i + 3]
                        i += 4
                    }
                    while i < range.upperBound { a += s[i]; i += 1 }
                    out[chunk] = a + b + c + d
                }
            }
        }
    }

    let binning = try Binning.uniform(observable: "pTV", count: 30, lower: 0, upper: 600)
    let kernel = try EventReweightingKernel(database: database, binning: binning, shift: "JES")
    let point = [0.3, -0.2, 0.1, 0.05]
    let thetas = [0.0, 0.5]
    var sums = thetas.map { _ in [Double](repeating: 0, count: 30) }, squares = sums
    // Interleaved, best of 5 each: under a shared load the reference and the kernel see the same machine.
    var streamSeconds = Double.infinity
    var kernelSeconds = thetas.map { _ in Double.infinity }, kernelCPUSeconds = kernelSeconds
    for _ in 0 ..< 5 {
        streamSeconds = min(streamSeconds, seconds(streamPass))
        for (k, theta) in thetas.enumerated() {
            let (wall, cpu) = wallAndCPU {
                sums[k].withUnsafeMutableBufferPointer { s in
                    squares[k].withUnsafeMutableBufferPointer { kernel.fill(at: point, shift: theta, sumOfWeights: s, sumOfSquaredWeights: $0) }
                }
            }
            kernelSeconds[k] = min(kernelSeconds[k], wall)
            kernelCPUSeconds[k] = min(kernelCPUSeconds[k], cpu)
        }
    }
    precondition(streamPartials.reduce(0, +) == Double(streamCount / 1024) * 1023 * 1024 / 2, "streaming sum is wrong")
    let streamBandwidth = Double(streamCount * 8) / streamSeconds
    print(String(format: "streaming read, %d threads: %.2f GB/s (1 GiB in %.1f ms)", cores, streamBandwidth / 1e9, streamSeconds * 1e3))
    let m = monomials.map { $0.value(at: point) }
    for (k, theta) in thetas.enumerated() {
        // Check: every bin against a plain per-event loop.
        var expected = [Double](repeating: 0, count: 30), expectedSquares = expected
        for e in 0 ..< events {
            let x = pT[e] + (theta >= 0 ? theta * 0.02 * pT[e] : 0)
            guard x >= 0 && x < 600 else { continue }
            var w = 0.0
            for t in 0 ..< monomials.count { w += columns[t][e] * m[t] }
            let b = min(29, Int(x / 20))
            expected[b] += w
            expectedSquares[b] += w * w
        }
        for b in 0 ..< 30 {
            precondition(abs(sums[k][b] - expected[b]) <= 1e-10 * abs(expected[b]), "kernel bin \(b): \(sums[k][b]) ≠ \(expected[b])")
            precondition(abs(squares[k][b] - expectedSquares[b]) <= 1e-10 * abs(expectedSquares[b]), "kernel Σw² bin \(b)")
        }
        // The coefficient columns and the observable, and the shift column unless θ = 0.
        let bytesPerEvent = 8 * (monomials.count + 1 + (theta == 0 ? 0 : 1))
        let bytes = Double(bytesPerEvent * kernel.eventCount)
        let s = kernelSeconds[k]
        print(String(format: "kernel θ=%.1f: %.1f ms, %.0f Mevents/s, %.2f GB/s wall (%d B/event); %.1f Mevents, %.2f GB per CPU-second",
                     theta, s * 1e3, Double(events) / s / 1e6, bytes / s / 1e9, bytesPerEvent,
                     Double(events) / kernelCPUSeconds[k] / 1e6, bytes / kernelCPUSeconds[k] / 1e9))
        if theta != 0 { sharpEventsPerCPUSecond = Double(events) / kernelCPUSeconds[k] }
    }
    print("load average \(loadAverage())")
}

// MARK: The smoothed kernel of `efthf fit Data/vh/workspace_events_syst.json`.

if !arguments.contains("--no-smoothed") {
    let path = option("--example") ?? "Data/vh/vh_smeft_events.h5"
    if FileManager.default.fileExists(atPath: path) {
        let database = try EventDatabase(contentsOf: URL(fileURLWithPath: path))
        let binning = try Binning(observable: "pTV", edges: [0, 60, 100, 140, 200, 260, 340, 440, 600])
        let systematics = [EventSystematic(name: "pTV_scale", kind: .shift), EventSystematic(name: "btag", kind: .weight)]
        let kernel = try SmoothedReweightingKernel(database: database, binning: binning, systematics: systematics, smoothingWidth: 2)
        var c = [Double](repeating: 0, count: database.coefficientNames.count)
        c[database.coefficientNames.firstIndex(of: "cHW")!] = 0.3
        c[database.coefficientNames.firstIndex(of: "cHq3")!] = -0.05
        let theta = [0.4, -0.7]
        // Check: ν against the spec's formula evaluated per event and per edge, without truncation.
        let result = kernel.evaluate(coefficients: c, nuisance: theta, jacobian: true)
        let x = database.observables[try database.observableIndex("pTV")].values
        let shift = database.observableShifts.first { $0.name == "pTV_scale" && $0.observable == "pTV" }!
        let btag = database.weightVariations.first { $0.name == "btag" }!
        func code4p(_ a: Double, _ up: Double, _ down: Double) -> Double {
            if a > 1 { return a * up }
            if a < -1 { return a * down }
            return a * 0.5 * (up + down) + 0.0625 * (up - down) * (3 * pow(a, 6) - 10 * pow(a, 4) + 15 * a * a)
        }
        var expected = [Double](repeating: 0, count: binning.binCount), scale = expected
        let m = database.monomials.map { $0.value(at: c) }
        for e in 0 ..< database.eventCount {
            var w = 0.0
            for t in 0 ..< database.termCount { w += database.basisCoefficients[t][e] * m[t] }
            w *= 1 + code4p(theta[1], btag.up[e] - 1, 1 - btag.down[e])
            let xe = x[e] + code4p(theta[0], shift.up[e], -shift.down[e])
            for b in 0 ..< binning.binCount {
                let p = 1 / (1 + exp(-(binning.edges[b + 1] - xe) / 2)) - 1 / (1 + exp(-(binning.edges[b] - xe) / 2))
                expected[b] += w * p
                scale[b] += abs(w * p)
            }
        }
        for b in 0 ..< binning.binCount {
            precondition(abs(result.yields[b] - expected[b]) <= 1e-10 * scale[b], "smoothed ν bin \(b): \(result.yields[b]) ≠ \(expected[b])")
        }
        for jacobian in [false, true] {
            let repeats = option("--repeats").map { Int($0)! } ?? 200
            var best = Double.infinity, bestCPU = Double.infinity
            for _ in 0 ..< 5 {
                let (wall, cpu) = wallAndCPU {
                    // A new point each time (θ moves by 10⁻¹² per call), as in a fit: the kernel's memo
                    // of recent points must not answer.
                    for r in 0 ..< repeats {
                        _ = kernel.evaluate(coefficients: c, nuisance: [theta[0] + 1e-12 * Double(r), theta[1]], jacobian: jacobian)
                    }
                }
                best = min(best, wall / Double(repeats))
                bestCPU = min(bestCPU, cpu / Double(repeats))
            }
            let perCPUSecond = Double(kernel.eventCount) / bestCPU
            let ratio = sharpEventsPerCPUSecond.map { String(format: " = %.0f%% of the sharp kernel's (θ = 0.5)", 100 * perCPUSecond / $0) } ?? ""
            print(String(format: "smoothed kernel (Data/vh example, %d events × %d terms, %d bins, shift + weight, h = 2 GeV)%@: %.1f µs per evaluation, %.1f Mevents/s; %.1f Mevents per CPU-second%@",
                         kernel.eventCount, database.termCount, binning.binCount, jacobian ? " with Jacobian" : "", best * 1e6,
                         Double(kernel.eventCount) / best / 1e6, perCPUSecond / 1e6, ratio))
        }
        print("load average \(loadAverage())")
    } else {
        print("smoothed kernel: \(path) not found (run from the repository root or pass --example)")
    }
}

// MARK: Loading from HDF5, cold and warm, against dd of the same file.

if !arguments.contains("--no-load") {
    let url = URL(fileURLWithPath: keptFile ?? NSTemporaryDirectory() + "efthf-eventdb-bench-\(getpid()).h5")
    defer { if keptFile == nil { try? FileManager.default.removeItem(at: url) } }
    if !loadFileExists, let database = synthetic?.database {
        let s = try seconds { try database.write(to: url) }
        print(String(format: "write: %.2f s", s))
    }
    let expectedLast = synthetic.map { $0.columns[14][events - 1] }
    synthetic = nil  // the memory of the loaded copies, not two databases
    let size = Double((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0)

    var usesDropCaches = true
    /// Evicts the page cache: all of it when we may (as root), else the file's clean pages.
    func dropCaches() {
        sync()
        if usesDropCaches, let handle = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") {
            handle.write(Data("3\n".utf8))
            try? handle.close()
            return
        }
        usesDropCaches = false
        let fd = open(url.path, O_RDONLY)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
    }
    func dd() throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/dd")
        process.arguments = ["if=" + url.path, "of=/dev/null", "bs=8M"]
        process.standardError = FileHandle.nullDevice
        return try seconds {
            try process.run()
            process.waitUntilExit()
        }
    }
    func load() throws -> Double {
        var database: EventDatabase? = nil
        let s = try seconds { database = try EventDatabase(contentsOf: url) }
        precondition(database!.eventCount > 0 && expectedLast.map { database!.basisCoefficients[14][events - 1] == $0 } ?? true)
        return s
    }
    /// The other floor of a load besides the read: fresh memory for the arrays, 80 MB arrays
    /// totalling the file's size, on huge pages where granted and zero-filled, as the loader prepares them.
    func freshMemory() -> Double {
        let count = 10_000_000
        var arrays: [[Double]] = []
        return seconds {
            for _ in 0 ..< max(1, Int(size) / (8 * count)) {
                arrays.append([Double](unsafeUninitializedCapacity: count) { buffer, n in
                    let huge = 2 << 20, address = Int(bitPattern: buffer.baseAddress!)
                    let first = (address + huge - 1) & ~(huge - 1), last = (address + 8 * count) & ~(huge - 1)
                    _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, MADV_HUGEPAGE)
                    buffer.initialize(repeating: 0)
                    n = count
                })
            }
        }
    }
    let gb = size / 1e9
    print(String(format: "load %@ (%.2f GB):", url.lastPathComponent, gb))
    var coldDD: [Double] = [], coldLoad: [Double] = []
    for round in 0 ..< rounds {
        dropCaches()
        coldDD.append(try dd())
        dropCaches()
        coldLoad.append(try load())
        let memory = freshMemory()
        print(String(format: "  cold round %d: dd bs=8M %.2f s (%.0f MB/s), load %.2f s (%.0f MB/s), load/dd %.2f; fresh memory alone %.2f s  [load average %@]",
                     round, coldDD[round], 1e3 * gb / coldDD[round], coldLoad[round], 1e3 * gb / coldLoad[round],
                     coldLoad[round] / coldDD[round], memory, loadAverage()))
    }
    print("  (page cache dropped before each run: \(usesDropCaches ? "/proc/sys/vm/drop_caches" : "POSIX_FADV_DONTNEED on the file"))")
    let warmDD = try (0 ..< 3).map { _ in try dd() }.min()!
    let warmLoad = try (0 ..< 3).map { _ in try load() }.min()!
    print(String(format: "  warm (page cache), best of 3: dd %.2f s (%.0f MB/s), load %.2f s (%.0f MB/s)", warmDD, 1e3 * gb / warmDD, warmLoad, 1e3 * gb / warmLoad))
    print("load average \(loadAverage())")
}
