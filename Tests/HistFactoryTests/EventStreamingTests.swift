import EFTJSON
import EFTModifiers
import EventDatabase
import Foundation
import HistFactory
import Morphing
import Testing

/// Event databases larger than the memory budget (Specs/event-database.md, "Memory budget and
/// streaming"): with a budget far below the columns' size, projections and per-event kernels read
/// the columns from the file in many pieces, and give the in-memory results bit for bit.
@Suite struct EventStreamingTests {
    static let vh = ReferencePaths.repositoryRoot.appendingPathComponent("Data/vh").path
    static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// A budget that holds `events` events of `columns` streamed columns per worker: far below the
    /// columns' size, so passes read many pieces.
    static func budget(events: Int, columns: Int) throws -> EventMemoryBudget {
        try EventMemoryBudget(bytes: 8 * columns * workers * events)
    }

    /// A private copy of Data/vh (a new inode: no columns of it are in memory from other tests).
    static func copyOfExample() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["vh_smeft_events.h5", "workspace_events.json", "workspace_events_syst.json"] {
            try FileManager.default.copyItem(atPath: vh + "/" + name, toPath: directory.appendingPathComponent(name).path)
        }
        return directory
    }

    static func expectIdentical(_ a: EventProjection, _ b: EventProjection) {
        #expect(a.binnedEventCount == b.binnedEventCount && a.negativeWeightEventCount == b.negativeWeightEventCount)
        for t in 0 ..< a.templates.yields.termCount {
            #expect(a.templates.yields.template(ofTerm: t) == b.templates.yields.template(ofTerm: t), "term \(t)")
        }
        let pa = a.templates.monteCarloVariance!.pairs, pb = b.templates.monteCarloVariance!.pairs
        #expect(pa.count == pb.count)
        for (x, y) in zip(pa, pb) { #expect(x.first == y.first && x.second == y.second && x.weights == y.weights) }
    }

    @Test func budgetParsesSizesAndRejectsNonsense() throws {
        #expect(try EventMemoryBudget(parsing: "4GiB").bytes == 4 << 30)
        #expect(try EventMemoryBudget(parsing: "512M").bytes == 512 << 20)
        #expect(try EventMemoryBudget(parsing: "1.5 GiB").bytes == 3 << 29)
        #expect(try EventMemoryBudget(parsing: "2GB").bytes == 2_000_000_000)
        #expect(try EventMemoryBudget(parsing: "65536").bytes == 65536)
        for bad in ["", "0", "-1GiB", "4 parsecs", "2PiB", "GiB", "nan"] {
            #expect(throws: EventDatabaseError.self, "\(bad)") { try EventMemoryBudget(parsing: bad) }
        }
    }

    /// The static projection of Data/vh/vh_smeft_events.h5 (with and without a selection) made in
    /// one streamed pass with pieces of ~700 events equals the in-memory projection bit for bit.
    @Test(arguments: [Selection.all, Selection([.init(observable: "MET", lower: 20, upper: 300)])])
    func streamedProjectionEqualsInMemory(selection: Selection) throws {
        let directory = try Self.copyOfExample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("vh_smeft_events.h5")
        let binning = try Binning(observable: "pTV", edges: [0, 60, 100, 140, 200, 260, 340, 440, 600], flow: .foldIntoEdgeBins)
        let memory = try EventDatabase(contentsOf: url).projection(binning: binning, selection: selection)
        let file = try EventFile(contentsOf: url, memory: Self.budget(events: 700, columns: 31))
        let streamed = try file.projection(binning: binning, selection: selection)
        #expect(file.residentBytes == 0, "nothing read into memory")
        Self.expectIdentical(memory, streamed)
    }

    /// The smoothed per-event kernel (a shift and a weight systematic, smoothing, both flow
    /// options, a selection) on columns streamed in pieces of 300 events gives the in-memory
    /// kernel's template, variance and Jacobians bit for bit at several (c, θ).
    @Test(arguments: [(Binning.Flow.drop, false), (.foldIntoEdgeBins, true), (.drop, true)])
    func streamedSmoothedKernelEqualsInMemory(flow: Binning.Flow, cut: Bool) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try EventSystematicsModelTests.database()
        let url = directory.appendingPathComponent("db.h5")
        try database.write(to: url)
        let binning = try Binning(observable: "pTV", edges: EventSystematicsModelTests.edges, flow: flow)
        let selection = cut ? Selection([.init(observable: "eta", lower: -2, upper: 2)]) : .all
        let systematics: [EventSystematic] = [.init(name: "JES", kind: .shift), .init(name: "btag", kind: .weight)]
        let memory = try SmoothedReweightingKernel(
            database: database, binning: binning, selection: selection, systematics: systematics, smoothingWidth: 4, normalisation: 1.3)
        let file = try EventFile(contentsOf: url, memory: Self.budget(events: 300, columns: 11))
        let streamed = try SmoothedReweightingKernel(
            file: file, binning: binning, selection: selection, systematics: systematics, smoothingWidth: 4, normalisation: 1.3)
        let resident = try SmoothedReweightingKernel(
            file: EventFile(contentsOf: url, memory: EventMemoryBudget(parsing: "1GiB")), binning: binning, selection: selection,
            systematics: systematics, smoothingWidth: 4, normalisation: 1.3)
        #expect(streamed.isStreamed && !memory.isStreamed && !resident.isStreamed)
        #expect(streamed.eventCount == memory.eventCount && (cut ? memory.eventCount < 3000 : memory.eventCount == 3000))
        for (c, theta) in [([0.0, 0.0], [0.0, 0.0]), ([0.7, -0.4], [0.6, -1.3]), ([-1.1, 0.3], [-2.2, 0.4])] {
            let a = memory.evaluate(coefficients: c, nuisance: theta, jacobian: true)
            for b in [try streamed.checkedEvaluation(coefficients: c, nuisance: theta, jacobian: true),
                      resident.evaluate(coefficients: c, nuisance: theta, jacobian: true)] {
                #expect(a.yields == b.yields && a.variances == b.variances, "c = \(c), θ = \(theta)")
                #expect(a.yieldJacobian == b.yieldJacobian && a.varianceJacobian == b.varianceJacobian, "c = \(c), θ = \(theta)")
            }
            #expect(a.yields.allSatisfy(\.isFinite) && a.yields.contains { $0 != 0 })
        }
        // Sharp bins (h = 0) with the weight systematic only.
        let sharpMemory = try SmoothedReweightingKernel(database: database, binning: binning, systematics: [systematics[1]], smoothingWidth: 0)
        let sharpStreamed = try SmoothedReweightingKernel(file: file, binning: binning, systematics: [systematics[1]], smoothingWidth: 0)
        let a = sharpMemory.evaluate(coefficients: [0.2, 0.5], nuisance: [0.8], jacobian: true)
        let b = try sharpStreamed.checkedEvaluation(coefficients: [0.2, 0.5], nuisance: [0.8], jacobian: true)
        #expect(a.yields == b.yields && a.variances == b.variances && a.yieldJacobian == b.yieldJacobian)
    }

    /// Models of Data/vh/workspace_events.json (static projection) and workspace_events_syst.json
    /// (per-event systematics with smoothing) built under a budget of ~700 events per piece equal
    /// the in-memory models bit for bit in log L and its gradient; the streamed gradient matches
    /// finite differences.
    @Test(arguments: ["workspace_events.json", "workspace_events_syst.json"])
    func streamedModelEqualsInMemory(name: String) throws {
        let directory = try Self.copyOfExample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(name).path
        let memoryWorkspace = try Workspace(contentsOf: Self.vh + "/" + name, modifiers: .efthf(eventMemory: EventMemoryBudget(parsing: "1GiB")))
        let streamedWorkspace = try Workspace(contentsOf: path, modifiers: .efthf(eventMemory: Self.budget(events: 700, columns: 33)))
        #expect(try EventFile(contentsOf: directory.appendingPathComponent("vh_smeft_events.h5")).residentBytes == 0, "streamed: nothing resident")
        let memory = try HistFactoryModel(workspace: memoryWorkspace), streamed = try HistFactoryModel(workspace: streamedWorkspace)
        let data = try memory.observedData(from: memoryWorkspace)
        #expect(memory.parameterNames == streamed.parameterNames)
        var point = memory.suggestedInits
        for (i, parameter) in memory.parameterNames.enumerated() {
            if parameter.hasPrefix("c") { point[i] = 0.3 - 0.1 * Double(i % 5) }
            if parameter.hasPrefix("alpha") { point[i] = 0.7 - 0.4 * Double(i % 3) }
        }
        var gm: [Double] = [], gs: [Double] = []
        let lm = memory.logLikelihoodAndGradient(point, data: data, gradient: &gm)
        let ls = streamed.logLikelihoodAndGradient(point, data: data, gradient: &gs)
        #expect(lm.isFinite && lm == ls && gm == gs)
        let numeric = finiteDifferenceGradient(streamed, point, data)
        for i in point.indices {
            #expect(abs(gs[i] - numeric[i]) <= 1e-5 * max(1, abs(numeric[i])), "∂/∂\(streamed.parameterNames[i]): \(gs[i]) vs \(numeric[i])")
        }
    }

    /// Only the columns a sample uses are read (pTV, the nominal weights and the 28 coefficients,
    /// not MET, mbb or the systematics), once per file: a second sample of the same file reads nothing.
    @Test func inMemoryReadsOnlyUsedColumnsOncePerFile() throws {
        let directory = try Self.copyOfExample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("vh_smeft_events.h5")
        let budget = try EventMemoryBudget(parsing: "1GiB")
        let first = try EventFile(contentsOf: url, memory: budget)
        let binning = try Binning(observable: "pTV", edges: [0, 100, 200, 600])
        _ = try first.projection(binning: binning)
        #expect(first.residentBytes == 8 * 18018 * 30)
        let second = try EventFile(contentsOf: url, memory: budget)
        _ = try second.projection(binning: Binning(observable: "pTV", edges: [0, 300, 600]))
        #expect(second.residentBytes == 8 * 18018 * 30 && first.residentBytes == second.residentBytes)
    }

    /// A budget that cannot hold one piece is one error naming the file, a dataset and the sizes.
    @Test func budgetTooSmallForOnePieceIsOneClearError() throws {
        let directory = try Self.copyOfExample()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("workspace_events_syst.json").path
        do {
            _ = try Workspace(contentsOf: path, modifiers: .efthf(eventMemory: EventMemoryBudget(parsing: "4KiB")))
            Issue.record("expected an error")
        } catch let error as HistFactoryError {
            let text = String(describing: error)
            #expect(text.contains("vh_smeft_events.h5") && text.contains("/observables/pTV") && text.contains("4 KiB") && text.contains("cannot hold one piece"), "\(text)")
        }
    }
}
