import EFTJSON
import Foundation

/// A modifier type beyond pyhf's seven, read from a workspace of the version it declares.
///
/// The core reads pyhf 1.0.0 and nothing else (``ModifierSet/pyhf``); a module that extends the
/// schema (efthf's `morphing` and `event_database` in `EFTModifiers`) adds its types to a
/// ``ModifierSet``, and workspaces read with that set may use them.
public protocol ModifierType: Sendable {
    /// The modifier's `type` in the JSON.
    var typeName: String { get }
    /// The workspace `version` under which the type may appear.
    var workspaceVersion: String { get }
    /// The kind under which the modifier's parameters are ordered and reported.
    var kind: Modifier.Kind { get }
    /// Reads a modifier's `data` (at `path`) for a sample with nominal `sampleData`. Relative paths
    /// inside it resolve against `reader.baseDirectory`.
    func read(_ data: JSON, at path: JSONPointer, name: String, sampleData: [Double], reader: SpecReader) throws(HistFactoryError)
        -> any ParameterDependentModifier
}

/// The modifier types a workspace may use: pyhf's, plus the types of extensions.
public struct ModifierSet: Sendable, Equatable {
    public let extensions: [any ModifierType]

    /// pyhf 1.0.0's modifiers only.
    public static let pyhf = ModifierSet(extensions: [])

    public init(extensions: [any ModifierType]) {
        self.extensions = extensions
    }

    /// This set with `type` added (replacing one of the same `typeName`).
    public func adding(_ type: any ModifierType) -> ModifierSet {
        ModifierSet(extensions: extensions.filter { $0.typeName != type.typeName } + [type])
    }

    /// The workspace versions readable with the set: pyhf's, then the extensions'.
    public var versions: [String] {
        var out = ["1.0.0"]
        for t in extensions where !out.contains(t.workspaceVersion) { out.append(t.workspaceVersion) }
        return out
    }

    public static func == (a: ModifierSet, b: ModifierSet) -> Bool {
        a.extensions.map(\.typeName) == b.extensions.map(\.typeName) && a.extensions.map(\.workspaceVersion) == b.extensions.map(\.workspaceVersion)
    }
}

/// A parameter that a parameter-dependent modifier introduces.
public struct DependentParameter: Sendable, Equatable {
    /// How the parameter is constrained: a struct with static members rather than an enum, so that
    /// constraint forms can be added without breaking code that uses these.
    public struct Constraint: Sendable, Equatable {
        enum Form: Sendable, Equatable {
            case unconstrained(initial: Double, bounds: ClosedRange<Double>)
            case unitGaussian
        }

        let form: Form

        /// Unconstrained, with its init and bounds.
        public static func unconstrained(initial: Double, bounds: ClosedRange<Double>) -> Constraint {
            Constraint(form: .unconstrained(initial: initial, bounds: bounds))
        }

        /// A unit Gaussian constraint (aux 0, σ 1, init 0, bounds [−5, 5]), as for histosys; shared by
        /// name with histosys and normsys parameters.
        public static let unitGaussian = Constraint(form: .unitGaussian)
    }

    public let name: String
    /// The kind under which the parameter is ordered and reported.
    public let kind: Modifier.Kind
    public let constraint: Constraint

    public init(name: String, kind: Modifier.Kind, constraint: Constraint) {
        self.name = name
        self.kind = kind
        self.constraint = constraint
    }
}

/// One sample of one channel as a parameter-dependent modifier sees it when the model is compiled.
public struct SampleContext: Sendable {
    public let channel: String
    public let sample: String
    /// The sample's `data`.
    public let nominal: [Double]
    /// The model parameter index of each parameter set name that the modifiers declared.
    public let parameterIndex: @Sendable (String) -> Int
}

/// A modifier that makes a sample's nominal (and its MC variance) depend on model parameters.
public protocol ParameterDependentModifier: Sendable {
    /// The JSON it was read from (equality, re-export).
    var source: JSON { get }
    /// The parameters it introduces, in the order of first appearance.
    var declaredParameters: [DependentParameter] { get }
    /// Checks that the parameter-dependent modifiers of one sample (`all`, this one first) go together;
    /// called when a sample has more than one. `path` is the sample's `modifiers`.
    func checkCombination(_ all: [any ParameterDependentModifier], sample: String, at path: JSONPointer) throws(HistFactoryError)
    /// The evaluator of the sample that carries `all` (this one first, in the model's modifier
    /// order, with their names).
    func compile(_ all: [NamedModifier], in context: SampleContext) throws(HistFactoryError) -> any ParameterDependentSample
}

/// A parameter-dependent modifier with its name in the sample.
public struct NamedModifier: Sendable {
    public let name: String
    public let modifier: any ParameterDependentModifier

    public init(name: String, modifier: any ParameterDependentModifier) {
        self.name = name
        self.modifier = modifier
    }
}

/// A sample whose nominal ν⁰_b(p) and MC variance depend on model parameters p, evaluated by one
/// call for the likelihood, its gradient, exports and plots alike (Specs/eft-extension.md (N1), (S2)).
///
/// The likelihood uses ν̃⁰_b in place of the sample's data (its histosys Δ scaled by r_b = ν̃⁰_b/data_b,
/// ATL-PHYS-PUB-2019-029 Eq. 3 with a moving nominal), and, where a staterror width follows the
/// sample, var_sb = δ_b² s_b(p) + V_b(p) in place of δ_b² (δ the staterror's declared uncertainty).
public protocol ParameterDependentSample: Sendable {
    /// The model parameters the sample depends on, in the order of the Jacobians' rows.
    var parameters: [Int] { get }
    /// The parameters named when a point is outside the domain (for example the Wilson coefficients).
    var domainParameters: [Int] { get }
    var binCount: Int { get }
    /// Whether the sample knows its MC variance, so that a staterror it carries follows the point.
    var hasVariance: Bool { get }
    /// How domain problems name the sample's modifier, e.g. `morphing "smeft"`.
    var label: String { get }
    /// Evaluates at `values` (the values of ``parameters``), with Jacobians when `derivatives` and the
    /// variance terms when `variance`.
    func evaluate(_ values: [Double], derivatives: Bool, variance: Bool) -> DependentSampleValue
    /// Evaluates as ``evaluate(_:derivatives:variance:)``, with Jacobians whose rows j with
    /// `wanted[j]` (one entry per ``parameters``) are those of the full Jacobians, the same doubles;
    /// the other rows are unspecified (0, or computed anyway) and the likelihood does not read them.
    /// No row wanted: as `derivatives` false. The default computes every row; a sample whose rows
    /// are costly (per-event kernels) computes the wanted ones only.
    func evaluate(_ values: [Double], derivativesFor wanted: [Bool], variance: Bool) -> DependentSampleValue
    /// Why an evaluation returned NaN yields for want of its input (an event file that could no
    /// longer be read), the first such error; nil when none did. The default: nil.
    var evaluationFailure: (any Error & Sendable)? { get }
}

extension ParameterDependentSample {
    public func evaluate(_ values: [Double], derivativesFor wanted: [Bool], variance: Bool) -> DependentSampleValue {
        evaluate(values, derivatives: wanted.contains(true), variance: variance)
    }

    public var evaluationFailure: (any Error & Sendable)? { nil }
}

/// A ``ParameterDependentSample`` at one point. Jacobians are parameter-major: entry `j·bins + b` is
/// ∂(·)_b/∂p_j; they are empty unless requested, the variance terms likewise.
public struct DependentSampleValue: Sendable, Equatable {
    /// ν⁰_b before any protection against negative yields.
    public var raw: [Double]
    /// ν̃⁰_b, the nominal the likelihood uses.
    public var nominal: [Double]
    /// Bins where the sample refuses the point (a negative yield under an "error" policy).
    public var rejectedBins: [Int]
    /// ∂ν̃⁰_b/∂p_j.
    public var nominalJacobian: [Double]
    /// s_b: the declared staterror δ_b² scales by it.
    public var staterrorScale: [Double]
    /// V_b: the variance added to δ_b² s_b.
    public var variance: [Double]
    public var staterrorScaleJacobian: [Double]
    public var varianceJacobian: [Double]

    public init(raw: [Double], nominal: [Double], rejectedBins: [Int] = [], nominalJacobian: [Double] = [],
                staterrorScale: [Double] = [], variance: [Double] = [], staterrorScaleJacobian: [Double] = [], varianceJacobian: [Double] = []) {
        self.raw = raw
        self.nominal = nominal
        self.rejectedBins = rejectedBins
        self.nominalJacobian = nominalJacobian
        self.staterrorScale = staterrorScale
        self.variance = variance
        self.staterrorScaleJacobian = staterrorScaleJacobian
        self.varianceJacobian = varianceJacobian
    }

    /// var_sb = δ_b² s_b + V_b, the sample's part of the staterror width (S2).
    @inline(__always)
    public func staterrorVariance(bin b: Int, delta: Double) -> Double {
        delta * delta * staterrorScale[b] + variance[b]
    }
}
