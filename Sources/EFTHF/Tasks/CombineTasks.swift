import EFTJSON
import Foundation
import EFTModifiers
import HistFactory

/// CMS Combine's InterferenceModel scaling data applied to a workspace as relative-form morphing
/// modifiers (`efthf import combine-scaling`; Specs/combine.md §1).
public struct CombineScalingImportTask: Sendable, Codable, Equatable {
    /// The scaling data file (Combine's `--PO scalingData=`).
    public var scaling: String
    /// The name of the morphing modifier added to each scaled sample.
    public var modifier: String

    public init(scaling: String, modifier: String = "combine_scaling") {
        self.scaling = scaling
        self.modifier = modifier
    }

    public func run(on workspace: Workspace) throws(HistFactoryError) -> Workspace {
        let data = try CombineScaling(json: try loadJSON(scaling), file: scaling)
        return try workspace.addingCombineScaling(data, modifierName: modifier)
    }
}

/// An EFT2Obs / CMS STXS→SMEFT coefficient table (`prod.json`) applied to samples as relative-form
/// morphing modifiers with the tables' uncertainties (`efthf import eft2obs`; Specs/combine.md §3).
public struct EFT2ObsImportTask: Sendable, Codable, Equatable {
    public var table: String
    public var assignments: [STXSAssignment]
    /// Keep only terms in these operators (nil: every operator of the selected entries).
    public var coefficients: [String]?
    public var modifier: String
    /// Carry the tables' `u_` uncertainties as the terms' MC uncertainties.
    public var uncertainties: Bool

    public static let maximumAssignments = 10_000

    public init(table: String, assignments: [STXSAssignment], coefficients: [String]? = nil, modifier: String = "stxs_scaling", uncertainties: Bool = true) {
        self.table = table
        self.assignments = assignments
        self.coefficients = coefficients
        self.modifier = modifier
        self.uncertainties = uncertainties
    }

    /// Reads `CHANNEL/SAMPLE=ENTRY[,ENTRY…]`.
    public static func assignment(parsing text: String) throws(HistFactoryError) -> STXSAssignment {
        guard let eq = text.firstIndex(of: "="), let slash = text[..<eq].firstIndex(of: "/") else {
            throw HistFactoryError(.parameter, "expected CHANNEL/SAMPLE=ENTRY[,ENTRY...], found \"\(text)\"")
        }
        let entries = text[text.index(after: eq)...].split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let channel = String(text[..<slash]), sample = String(text[text.index(after: slash) ..< eq])
        guard !channel.isEmpty, !sample.isEmpty, !entries.isEmpty, !entries.contains("") else {
            throw HistFactoryError(.parameter, "expected CHANNEL/SAMPLE=ENTRY[,ENTRY...], found \"\(text)\"")
        }
        return STXSAssignment(channel: channel, sample: sample, entries: entries)
    }

    public func run(on workspace: Workspace) throws(HistFactoryError) -> Workspace {
        guard !assignments.isEmpty, assignments.count <= Self.maximumAssignments else {
            throw HistFactoryError(.parameter, "give 1 to \(Self.maximumAssignments) samples to scale, found \(assignments.count)")
        }
        return try workspace.addingSTXSScaling(table: try loadJSON(table), file: table, assignments: assignments, coefficients: coefficients,
                                               modifierName: modifier, includeUncertainties: uncertainties)
    }
}

/// Every morphed sample as CMS Combine InterferenceModel scaling data, with the pyhf workspace of
/// the SM templates (`efthf export --combine-scaling`; Specs/combine.md §2).
public struct CombineScalingExportTask: Sendable, Codable, Equatable {
    public var measurement: String?

    public init(measurement: String? = nil) {
        self.measurement = measurement
    }

    public func run(on workspace: Workspace) throws(HistFactoryError) -> CombineScalingExport {
        try workspace.combineScaling(measurement: measurement)
    }
}
