import Synchronization

/// A request to stop, shared by a caller and the fits it started on other threads: once
/// ``cancel()`` is called, every likelihood evaluation of a fit with this
/// ``FitOptions/cancellation`` answers NaN, so the minimiser stops at its next step, and
/// ``DifferentiableLikelihood/fit(_:options:)`` throws ``InferenceError/Code/cancelled``. Scans, intervals
/// and toys made of such fits end within one evaluation of each fit that is left.
public final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .relaxed) }

    public var isCancelled: Bool { flag.load(ordering: .relaxed) }

    /// Throws ``InferenceError/Code/cancelled`` once cancelled.
    public func check() throws(InferenceError) {
        if isCancelled { throw InferenceError(.cancelled, "the computation was cancelled") }
    }
}
