import Foundation
import Morphing
import Testing
@testable import EventDatabase

@Suite("Event database: weight statistics")
struct WeightStatisticsTests {
    /// The statistics by a plain loop over ``EventDatabase/weight(ofEvent:at:)``.
    static func bruteForce(_ database: EventDatabase, at c: [Double]) -> (n: Int, sum: Double, sum2: Double, low: Double, high: Double, negative: Int) {
        let w = (0 ..< database.eventCount).map { database.weight(ofEvent: $0, at: c) }
        return (w.count, w.reduce(0, +), w.reduce(0) { $0 + $1 * $1 }, w.min()!, w.max()!, w.filter { $0 < 0 }.count)
    }

    @Test("the one-pass statistics equal the per-event loop, in memory and streamed (1e-12 relative)", arguments: [false, true])
    func statisticsMatchBruteForce(_ streamed: Bool) throws {
        // Streamed: a budget of 300 events per worker for the 10 columns, below the N·80 bytes
        // the columns take in memory.
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let database = try Fixtures.database(events: 400 * workers, seed: 7)
        let budgetBytes: Int? = streamed ? 80 * 300 * workers : nil
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("events.h5")
        try database.write(to: url)
        let file = try EventFile(contentsOf: url, memory: try budgetBytes.map { try EventMemoryBudget(bytes: $0) })
        for c in [[0.0, 0, 0], [0.7, -1.3, 0.2], [0, 2, 0]] {
            let s = try file.weightStatistics(at: c)
            let r = Self.bruteForce(database, at: c)
            #expect(s.eventCount == r.n)
            #expect(abs(s.sumOfWeights - r.sum) <= 1e-12 * abs(r.sum) + 1e-12)
            #expect(abs(s.sumOfSquaredWeights - r.sum2) <= 1e-12 * r.sum2)
            #expect(abs(s.minimum! - r.low) <= 1e-12 * abs(r.low) && abs(s.maximum! - r.high) <= 1e-12 * abs(r.high))
            #expect(s.negativeCount == r.negative)
            #expect(abs(s.effectiveEventCount - r.sum * r.sum / r.sum2) <= 1e-10 * s.effectiveEventCount)
        }
        // The fixture negates about 5% of the events: some weights are negative at the SM.
        #expect(try file.weightStatistics(at: [0, 0, 0]).negativeCount > 0)
    }

    @Test("a point of the wrong length is refused, naming the file")
    func wrongLengthIsRefused() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("events.h5")
        try Fixtures.database(events: 10).write(to: url)
        let error = #expect(throws: EventDatabaseError.self) { try EventFile(contentsOf: url).weightStatistics(at: [0]) }
        #expect(error?.description.contains("events.h5") == true)
    }
}
