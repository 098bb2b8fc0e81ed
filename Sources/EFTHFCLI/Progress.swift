import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of long work on standard error: a redrawn bar with done/total, elapsed time and ETA (or
/// a spinner, when the total is unknown) when standard error is a terminal; nothing in a pipe or a
/// log file, and nothing with `--json`, so that captured output stays exactly the result.
///
/// `EFTHF_PROGRESS=0` silences it, `=plain` forces plain "label: k/n" lines about every 10 % (for
/// batch logs), `=bar` forces the bar.
final class Progress: @unchecked Sendable {
    enum Style { case bar, lines, silent }

    /// The style for the environment's `EFTHF_PROGRESS` (which wins), else the bar on a terminal and
    /// nothing otherwise or when `quiet` (`--json`).
    static func style(environment: String?, isTerminal: Bool, quiet: Bool) -> Style {
        switch environment {
        case "0", "off": return .silent
        case "plain", "lines": return .lines
        case "bar": return .bar
        default: return isTerminal && !quiet ? .bar : .silent
        }
    }

    let label: String
    let style: Style
    private let start = Date()
    private let lock = NSLock()
    // Guarded by `lock`: the count, the time it last grew, the last printed line-mode decile, and
    // the spinner state.
    private var done = 0
    private var lastStep: Date? = nil
    private var totalSteps: Int?
    private var lastReported = -1
    private var finished = false
    private var ticker: DispatchSourceTimer?

    init(_ label: String, total: Int?, quiet: Bool = false) {
        self.label = label
        self.totalSteps = total
        style = Self.style(environment: ProcessInfo.processInfo.environment["EFTHF_PROGRESS"], isTerminal: isatty(STDERR_FILENO) != 0, quiet: quiet)
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
        if k > 0 { lastStep = Date() }
        lock.unlock()
        report()
    }

    /// Sets the count of steps done and the total (from a worker thread's progress callback).
    func update(done newDone: Int, total newTotal: Int) {
        lock.lock()
        if newDone > done { lastStep = Date() }
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
            if report { Self.write("\(label): \(count)/\(total) (\(elapsed)\(eta(count, total, now: Date()).map { ", ETA \($0)" } ?? ""))\n") }
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

    /// The remaining time, once a step is done: ``remaining(elapsedAtLastStep:sinceLastStep:done:total:)``.
    private func eta(_ count: Int, _ total: Int, now: Date) -> String? {
        lock.lock()
        let last = lastStep
        lock.unlock()
        guard count > 0, count < total, let last else { return nil }
        return Self.duration(Self.remaining(elapsedAtLastStep: last.timeIntervalSince(start), sinceLastStep: now.timeIntervalSince(last),
                                            done: count, total: total))
    }

    /// The remaining time from the mean rate up to the last completed step, counted down since then
    /// (so that it keeps moving between steps instead of stalling or growing), never below zero:
    ///
    /// ```
    /// ETA = max(0, t_last · (total − done) / done − (now − t_last))
    /// ```
    static func remaining(elapsedAtLastStep: Double, sinceLastStep: Double, done: Int, total: Int) -> Double {
        max(0, elapsedAtLastStep * Double(total - done) / Double(done) - sinceLastStep)
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
            line = "\(label) [\(String(repeating: "█", count: filled))\(String(repeating: "·", count: width - filled))] \(count)/\(total) \(percent)%  \(elapsed)\(eta(count, total, now: Date()).map { "  ETA \($0)" } ?? "")"
        } else {
            let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
            line = "\(frames[Int(Date().timeIntervalSince(start) * 5) % frames.count]) \(label)  \(elapsed)"
        }
        Self.write("\r\u{1B}[2K" + line)
    }

    private static func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }

    /// ``run(_:total:quiet:_:)`` when `show` (work long enough to report), else `body` alone.
    static func runIf<T>(_ show: Bool, _ label: String, quiet: Bool = false, _ body: () throws -> T) rethrows -> T {
        show ? try run(label, quiet: quiet) { _ in try body() } : try body()
    }

    /// Runs `body` between a start and a finish line, finishing (with "failed") also on error;
    /// `quiet` (`--json`) silences it unless `EFTHF_PROGRESS` asks for it.
    static func run<T>(_ label: String, total: Int? = nil, quiet: Bool = false, _ body: (Progress) throws -> T) rethrows -> T {
        let progress = Progress(label, total: total, quiet: quiet)
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
