// Event-database benchmark: the per-event reweight-and-fill pass against this machine's memory
// bandwidth measured in the same run, and the load time of an HDF5 event database.
//
//   swift run -c release --scratch-path .build-eventdb EventDatabaseBenchmark [--events N] [--no-load] [--write PATH]
//
// Issue 5 targets: kernel ≥ 70% of the streaming bandwidth; 10⁷ events × 15 coefficients loaded in ≤ 2 s.
import Dispatch
import EventDatabase
import Foundation
import Morphing

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
}

/// The fastest of `repeats` runs of `body`, in seconds.
func best(_ repeats: Int, _ body: () -> Void) -> Double {
    var fastest = Double.infinity
    for _ in 0 ..< repeats {
        let start = now()
        body()
        fastest = min(fastest, now() - start)
    }
    return fastest
}

let arguments = CommandLine.arguments
let events = arguments.firstIndex(of: "--events").map { Int(arguments[$0 + 1])! } ?? 10_000_000
let measureLoad = !arguments.contains("--no-load")
let cores = ProcessInfo.processInfo.activeProcessorCount

// MARK: Streaming bandwidth: a read-only sum over 1 GiB split over all cores (the kernel's access pattern).

let streamCount = 1 << 27
let stream = [Double](unsafeUninitializedCapacity: streamCount) { buffer, n in
    for i in 0 ..< streamCount { buffer[i] = Double(i & 1023) }
    n = streamCount
}
let streamChunks = 32
var streamPartials = [Double](repeating: 0, count: streamChunks)
let streamSeconds = best(5) {
    stream.withUnsafeBufferPointer { s in
        streamPartials.withUnsafeMutableBufferPointer { out in
            // Sound: each chunk reads its own slice of `stream` and writes its own element of `out`.
            nonisolated(unsafe) let s = s, out = out
            DispatchQueue.concurrentPerform(iterations: streamChunks) { chunk in
                let range = chunk * streamCount / streamChunks ..< (chunk + 1) * streamCount / streamChunks
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
let streamExpected = Double(streamCount / 1024) * 1023 * 1024 / 2
precondition(streamPartials.reduce(0, +) == streamExpected, "streaming sum is wrong")
let streamBandwidth = Double(streamCount * 8) / streamSeconds
print(String(format: "streaming sum, %d threads: %.2f GB/s (1 GiB in %.1f ms)", cores, streamBandwidth / 1e9, streamSeconds * 1e3))

// MARK: A synthetic database: 4 operators, all 15 monomials up to degree 2.

let names = ["cHq3", "cHW", "cHDD", "cHbox"]
let monomials = Monomial.all(upToDegree: 2, coefficientCount: names.count)
precondition(monomials.count == 15)
var generationStart = now()
var rng = SystemRandomNumberGenerator()
let pT = (0 ..< events).map { _ in 20 + 580 * Double.random(in: 0 ..< 1, using: &rng) * Double.random(in: 0 ..< 1, using: &rng) }
// Deterministic, positive, varying per event and term; values do not matter for the timing.
let columns: [[Double]] = monomials.indices.map { t in
    let scale: Double = t == 0 ? 1 : 0.1
    return (0 ..< events).map { e in
        let jitter = 0.001 * Double((e &* 7 &+ t) % 997)
        return scale * (1 + jitter)
    }
}
let database = try EventDatabase(
    provenance: .init(generator: "EventDatabaseBenchmark (synthetic)", eftBasis: "SMEFT Warsaw (synthetic)", lambda: 1000,
                      normalisation: "arbitrary", weightUnit: "events"),
    coefficientNames: names, monomials: monomials, basisCoefficients: columns,
    observables: [.init(name: "pTV", unit: "GeV", values: pT)],
    observableShifts: [.init(name: "JES", observable: "pTV", up: pT.map { 0.02 * $0 }, down: pT.map { -0.02 * $0 })])
print(String(format: "generated %d events × %d monomials in %.1f s", events, monomials.count, now() - generationStart))

// MARK: The per-event kernel.

let binning = try Binning.uniform(observable: "pTV", count: 30, lower: 0, upper: 600)
let kernel = try EventReweightingKernel(database: database, binning: binning, shift: "JES")
let point = [0.3, -0.2, 0.1, 0.05]
var sum = [Double](repeating: 0, count: 30), squares = sum
for theta in [0.0, 0.5] {
    let seconds = best(5) {
        sum.withUnsafeMutableBufferPointer { s in
            squares.withUnsafeMutableBufferPointer { kernel.fill(at: point, shift: theta, sumOfWeights: s, sumOfSquaredWeights: $0) }
        }
    }
    // Check: the total against a plain per-event sum over the events inside the axis.
    let m = monomials.map { $0.value(at: point) }
    var expected = 0.0
    for e in 0 ..< events {
        let x = pT[e] + (theta >= 0 ? theta * 0.02 * pT[e] : 0)
        guard x >= 0 && x < 600 else { continue }
        var w = 0.0
        for t in 0 ..< monomials.count { w += columns[t][e] * m[t] }
        expected += w
    }
    let total = sum.reduce(0, +)
    precondition(abs(total - expected) <= 1e-9 * abs(expected), "kernel total \(total) ≠ \(expected)")
    let bytes = Double(8 * (monomials.count + 1 + (theta == 0 ? 0 : 1)) * events)
    print(String(format: "kernel θ=%.1f: %.1f ms, %.0f Mevents/s, %.2f GB/s = %.0f%% of streaming bandwidth (%d B/event)",
                 theta, seconds * 1e3, Double(events) / seconds / 1e6, bytes / seconds / 1e9, 100 * bytes / seconds / streamBandwidth,
                 Int(bytes) / events))
}

// MARK: Loading from HDF5.

// `--write PATH` keeps a copy of the synthetic database, e.g. to inspect the layout with h5py.
if let i = arguments.firstIndex(of: "--write") { try database.write(to: URL(fileURLWithPath: arguments[i + 1])) }

if measureLoad {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("efthf-eventdb-bench-\(getpid()).h5")
    defer { try? FileManager.default.removeItem(at: url) }
    let writeSeconds = best(1) { try! database.write(to: url) }
    let size = Double((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0)
    print(String(format: "write: %.2f s for %.2f GB", writeSeconds, size / 1e9))

    // Evict the file from the page cache (clean pages only, no privileges needed) for a cold read.
    func evict() {
        let fd = open(url.path, O_RDONLY)
        fsync(fd)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
    }
    evict()
    var loaded: EventDatabase? = nil
    let cold = best(1) { loaded = try! EventDatabase(contentsOf: url) }
    precondition(loaded!.basisCoefficients[14][events - 1] == columns[14][events - 1])
    loaded = nil
    let warm = best(3) { loaded = try! EventDatabase(contentsOf: url) }
    print(String(format: "load %d events × %d coefficients: cold (page cache evicted) %.2f s = %.2f GB/s, warm %.2f s = %.2f GB/s",
                 events, monomials.count, cold, size / cold / 1e9, warm, size / warm / 1e9))
}
