import Dispatch
import Foundation

/// The number of worker threads the parallel helpers use: the active processor count.
var inferenceConcurrency: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

/// `(0..<count).map(body)` with the calls spread over the cores (on the calling thread alone when
/// `threads` is 1).
///
/// Results are stored by index, so the output (and anything seeded per index) does not depend on
/// how many threads ran or in which order.
func parallelMap<T: Sendable>(_ count: Int, threads: Int = inferenceConcurrency, _ body: @Sendable (Int) -> T) -> [T] {
    guard count > 1, threads > 1, inferenceConcurrency > 1 else { return (0..<count).map(body) }
    let storage = UnsafeMutablePointer<T?>.allocate(capacity: count)
    storage.initialize(repeating: nil, count: count)
    defer {
        storage.deinitialize(count: count)
        storage.deallocate()
    }
    // Sound: each iteration writes only its own slot, concurrentPerform returns after every
    // iteration has finished, and the slots are read only after that.
    let slots = SendablePointer(storage)
    DispatchQueue.concurrentPerform(iterations: count) { i in
        slots.pointer[i] = body(i)
    }
    return (0..<count).map { storage[$0]! }
}

/// A pointer handed to `concurrentPerform` iterations that write disjoint elements.
private struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
