import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of long work on standard error: a redrawn bar with done/total, elapsed time and ETA (or
/// a spinner, when the total is unknown) on a terminal, plain "label: k/n" lines about every 10 %
/// in a pipe or log file, so that logs stay readable.
///
/// `EFTHF_PROGRESS=0` silences it, `=plain` forces lines, `=bar` forces the bar.
final class Progress: @unchecked Sendable {
    enum Style { case bar, lines, silent }

    let label: String
    let style: Style
    private let start = Date()
    private let lock = NSLock()
    // Guarded by `lock`: the count, the last printed line-mode decile, and the spinner state.
    private var done = 0
    private var totalSteps: Int?
    private var lastReported = -1
    private var finished = false
    private var ticker: DispatchSourceTimer?

    init(_ label: String, total: Int?) {
        self.label = label
        self.totalSteps = total
        switch ProcessInfo.processInfo.environment["EFTHF_PROGRESS"] {
        case "0", "off": style = .silent
        case "plain", "lines": style = .lines
        case "bar": style = .bar
        default: style = isatty(STDERR_FILENO) != 0 ? .bar : .lines
        }
        switch style {
        case .silent: break
        case .lines: Self.write("\(label): started\(total.map { " (\($0) steps)" } ?? "")\n")
        case .bar:
            draw()
            // Redraw every 0.2 s so the elapsed time and spinner move even without step updates.
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now() + 0.2, repeating: 0.2)
            timer.setEventHandler { [weak self] in self?.draw() }
            timer.resume()
            ticker = timer
        }
    }

    /// The number of steps, if known (it may grow, e.g. in an adaptive scan).
    var total: Int? {
        lock.lock()
        defer { lock.unlock() }
        return totalSteps
    }

    /// A callback for the `progress:` parameters of Inference: sets done and total.
    var callback: @Sendable (_ done: Int, _ total: Int) -> Void {
        { [self] done, total in self.update(done: done, total: total) }
    }

    /// Marks `k` more steps done.
    func advance(by k: Int = 1) {
        lock.lock()
        done += k
        lock.unlock()
        report()
    }

    /// Sets the count of steps done and the total (from a worker thread's progress callback).
    func update(done newDone: Int, total newTotal: Int) {
        lock.lock()
        done = max(done, newDone)
        totalSteps = newTotal
        lock.unlock()
        report()
    }

    private func report() {
        lock.lock()
        let count = done
        let total = totalSteps
        lock.unlock()
        switch style {
        case .silent: break
        case .bar: draw()
        case .lines:
            guard let total, total > 0 else { return }
            // At most about ten lines: one per completed tenth.
            let decile = count * 10 / total
            lock.lock()
            let report = decile > lastReported && count < total
            if report { lastReported = decile }
            lock.unlock()
            if report { Self.write("\(label): \(count)/\(total) (\(elapsed)\(eta(count, total).map { ", ETA \($0)" } ?? ""))\n") }
        }
    }

    /// Ends the display with a summary line.
    func finish(_ summary: String = "done") {
        lock.lock()
        guard !finished else { lock.unlock(); return }
        finished = true
        lock.unlock()
        ticker?.cancel()
        switch style {
        case .silent: break
        case .bar: Self.write("\r\u{1B}[2K\(label): \(summary) in \(elapsed)\n")
        case .lines: Self.write("\(label): \(summary) in \(elapsed)\n")
        }
    }

    private var elapsed: String { Self.duration(Date().timeIntervalSince(start)) }

    /// The remaining time extrapolated from the rate so far, once a step is done.
    private func eta(_ count: Int, _ total: Int) -> String? {
        guard count > 0, count < total else { return nil }
        return Self.duration(Date().timeIntervalSince(start) * Double(total - count) / Double(count))
    }

    static func duration(_ t: Double) -> String {
        t < 60 ? String(format: "%.1f s", t) : String(format: "%d min %02d s", Int(t) / 60, Int(t) % 60)
    }

    private func draw() {
        lock.lock()
        let count = done
        let over = finished
        let total = totalSteps
        lock.unlock()
        guard !over else { return }
        let line: String
        if let total, total > 0 {
            let width = 30
            let filled = min(width, count * width / total)
            let percent = min(100, count * 100 / total)
            line = "\(label) [\(String(repeating: "█", count: filled))\(String(repeating: "·", count: width - filled))] \(count)/\(total) \(percent)%  \(elapsed)\(eta(count, total).map { "  ETA \($0)" } ?? "")"
        } else {
            let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
            line = "\(frames[Int(Date().timeIntervalSince(start) * 5) % frames.count]) \(label)  \(elapsed)"
        }
        Self.write("\r\u{1B}[2K" + line)
    }

    private static func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }

    /// ``run(_:total:_:)`` when `show` (work long enough to report), else `body` alone.
    static func runIf<T>(_ show: Bool, _ label: String, _ body: () throws -> T) rethrows -> T {
        show ? try run(label) { _ in try body() } : try body()
    }

    /// Runs `body` between a start and a finish line, finishing (with "failed") also on error.
    static func run<T>(_ label: String, total: Int? = nil, _ body: (Progress) throws -> T) rethrows -> T {
        let progress = Progress(label, total: total)
        do {
            let result = try body(progress)
            progress.finish()
            return result
        } catch {
            progress.finish("failed")
            throw error
        }
    }
}
