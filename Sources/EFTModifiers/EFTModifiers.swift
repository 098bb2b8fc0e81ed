import EFTJSON
import EventDatabase
import HistFactory

/// The workspace versions efthf reads: pyhf's and efthf's extension of it.
public enum WorkspaceVersion {
    public static let pyhf = "1.0.0"
    /// pyhf 1.0.0 plus efthf extension 1 (SemVer build metadata).
    public static let efthfExtended = "1.0.0+efthf.1"
}

extension Modifier.Kind {
    /// efthf's `morphing` and `event_database` modifiers (Specs/eft-extension.md); their Wilson
    /// coefficients come after pyhf's parameter kinds.
    public static let morphing = Modifier.Kind(rawValue: "morphing")
}

extension ModifierSet {
    /// pyhf 1.0.0's modifiers and efthf's extension 1: `morphing` and `event_database`
    /// (workspace version `1.0.0+efthf.1`, Specs/eft-extension.md, Specs/event-database.md).
    public static let efthf = ModifierSet(extensions: [MorphingModifierType(), EventDatabaseModifierType()])

    /// ``efthf`` with a memory budget for the event databases' columns (nil: the environment
    /// variable ``EventMemoryBudget/environmentVariable``, else the memory available).
    public static func efthf(eventMemory: EventMemoryBudget?) -> ModifierSet {
        ModifierSet(extensions: [MorphingModifierType(), EventDatabaseModifierType(eventMemory: eventMemory)])
    }
}

/// The `morphing` modifier type (Specs/eft-extension.md §3).
public struct MorphingModifierType: ModifierType {
    public init() {}
    public var typeName: String { "morphing" }
    public var workspaceVersion: String { WorkspaceVersion.efthfExtended }
    public var kind: Modifier.Kind { .morphing }
    public func read(_ data: JSON, at path: JSONPointer, name: String, sampleData: [Double], reader: SpecReader) throws(HistFactoryError)
        -> any ParameterDependentModifier {
        try reader.morphing(data, at: path, name: name, sampleData: sampleData)
    }
}

/// The `event_database` modifier type (Specs/event-database.md), read as the coefficient-form
/// morphing modifier its static projection defines (or evaluated per event).
public struct EventDatabaseModifierType: ModifierType {
    /// The memory budget for each database file's columns (Specs/event-database.md, "Memory
    /// budget and streaming"); nil: ``EventMemoryBudget/environmentVariable``, else what is available.
    public let eventMemory: EventMemoryBudget?

    public init(eventMemory: EventMemoryBudget? = nil) { self.eventMemory = eventMemory }
    public var typeName: String { "event_database" }
    public var workspaceVersion: String { WorkspaceVersion.efthfExtended }
    public var kind: Modifier.Kind { .morphing }
    public func read(_ data: JSON, at path: JSONPointer, name: String, sampleData: [Double], reader: SpecReader) throws(HistFactoryError)
        -> any ParameterDependentModifier {
        try reader.eventDatabase(data, at: path, name: name, sampleData: sampleData, memory: eventMemory)
    }
}
