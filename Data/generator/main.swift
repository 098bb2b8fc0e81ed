// MakeExampleData: writes the bundled VH(→bb) SMEFT example of Data/vh (see Data/README.md).
//
//   swift run MakeExampleData [--templates FILE] [--output DIR] [--seed N] [--event-scale X]
//
// What is derived and what is simulated:
// - DERIVED: the 28 coefficient templates of pTV (SM, 6 interference, 6 square, 15 cross terms of
//   cHq3, cHl3, cHDD, cHbox, cHW, cll1) from ROOT's RooLagrangianMorphFunc tutorial input
//   (../shared/reference/eft/rf_lagrangianmorph_templates.json beside the repository, the JSON dump of
//   input_histos_rf_lagrangianmorph.root), read with Morphing.ROOTLagrangianMorph; the per-bin MC
//   event count (T_SM/σ_SM)² of its SM pTV histogram; the SM shapes of mbb and MET that the
//   simulated observables imitate.
// - SIMULATED (invented here, deterministic): the events. In each 20 GeV pTV bin b of the ROOT
//   histogram, N_b events get a pTV inside the bin and, for every term t, a share of the bin's
//   template T_tb through smooth random per-event fractions f_et > 0 with Σ_e f_et = 1 exactly, so
//   that a_et = f_et T_tb and Σ_{e∈b} a_et = T_tb for all 28 terms (to rounding). mbb, MET, the
//   systematics (pTV scale, JES on mbb and MET, b-tagging weights), the backgrounds and their
//   uncertainties are invented; the pseudo-data are the Asimov expectation at cHW = 0.3,
//   cHq3 = −0.05 (others 0).
//
// Outputs in DIR: vh_smeft_events.h5 (efthf event database), workspace_morphing.json (efthf
// 1.0.0+efthf.1, coefficient-form morphing modifier with the database's per-bin sums).
import EventDatabase
import Foundation
import Morphing
import _SeededRandom

// MARK: Options

var templatesPath = "../shared/reference/eft/rf_lagrangianmorph_templates.json"
var outputDirectory = "Data/vh"
var seed: UInt64 = 20_261_122
var eventScale = 1.0
do {
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        guard let value = arguments.next() else { fatalError("\(argument) needs a value") }
        switch argument {
        case "--templates": templatesPath = value
        case "--output": outputDirectory = value
        case "--seed": seed = UInt64(value)!
        case "--event-scale": eventScale = Double(value)!
        default: fatalError("unknown option \(argument); options: --templates FILE --output DIR --seed N --event-scale X")
        }
    }
}

let operators = ["cHq3", "cHl3", "cHDD", "cHbox", "cHW", "cll1"]
let injected: [String: Double] = ["cHW": 0.3, "cHq3": -0.05]
/// The workspace's pTV bins: merged 20 GeV bins of the ROOT histogram, so that the database's
/// projection onto them is a sum of whole ROOT bins.
let workspaceEdges: [Double] = [0, 60, 100, 140, 200, 260, 340, 440, 600]

// MARK: Random numbers
var rng = SplitMix64(state: seed)

// MARK: Inputs (derived)

let templatesURL = URL(fileURLWithPath: templatesPath)
let rootTemplates = try ROOTLagrangianMorph.templates(contentsOf: templatesURL, observable: "pTV", operators: operators, includeUncertainties: false)
let polynomial = rootTemplates.yields
let monomials = polynomial.monomials
let T = monomials.count, rootBins = polynomial.binCount
precondition(T == 28 && rootBins == 30, "expected 28 terms × 30 bins, got \(T) × \(rootBins)")
let terms = (0 ..< T).map { polynomial.template(ofTerm: $0) }

let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: templatesURL)) as! [String: Any]
@MainActor func smHistogram(_ observable: String) -> (edges: [Double], contents: [Double], errors: [Double]) {
    let folders = raw["folders"] as! [String: Any]
    let sm = (folders["SM_NPsq0"] as! [String: Any])["histograms"] as! [String: Any]
    let h = sm[observable] as! [String: Any]
    func doubles(_ key: String) -> [Double] { (h[key] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    return (doubles("edges"), doubles("contents"), doubles("errors"))
}
let smPTV = smHistogram("pTV")
let rootEdges = smPTV.edges
precondition(zip(smPTV.contents, terms[0]).allSatisfy { abs($0 - $1) <= 1e-12 * abs($1) }, "the SM term is the SM folder: \(zip(smPTV.contents, terms[0]).map { $0 - $1 })")

// MARK: Events (simulated)

/// A slope in [−1.6, 1.6] for a linear density 1 + s(u − ½) inside bin b, from the neighbours of `h`.
@MainActor func slope(_ h: [Double], _ b: Int) -> Double {
    guard h[b] != 0 else { return 0 }
    let left = b > 0 ? h[b - 1] : h[b], right = b + 1 < h.count ? h[b + 1] : h[b]
    let span = Double((b + 1 < h.count ? b + 1 : b) - (b > 0 ? b - 1 : b))
    return max(-1.6, min(1.6, (right - left) / (span * abs(h[b]))))
}

/// u in [0, 1) with density 1 + s(u − ½): the inverse of F(u) = u + s(u² − u)/2.
@MainActor func sampleLinear(_ s: Double, _ r: Double) -> Double {
    let u: Double
    if abs(s) < 1e-9 { u = r } else {
        let b = 1 - s / 2
        u = (-b + (b * b + 2 * s * r).squareRoot()) / s
    }
    return min(max(u, 0), 1 - 0x1p-40)
}

var pTV: [Double] = [], mbb: [Double] = [], met: [Double] = []
var columns = [[Double]](repeating: [], count: T)
var eventsPerBin: [Int] = []
for b in 0 ..< rootBins {
    let effective = smPTV.errors[b] > 0 ? (smPTV.contents[b] / smPTV.errors[b]) * (smPTV.contents[b] / smPTV.errors[b]) : 0
    let n = max(25, Int((eventScale * effective).rounded()))
    eventsPerBin.append(n)
    let lo = rootEdges[b], width = rootEdges[b + 1] - rootEdges[b]
    let sSM = slope(smPTV.contents, b)
    var u: [Double] = []
    for _ in 0 ..< n {
        u.append(sampleLinear(sSM, rng.uniform()))
        let x = lo + width * u.last!
        pTV.append(x)
        // mbb: a H→bb peak whose resolution improves with the boost, plus a combinatorial tail.
        let boost = min(x, 400) / 400
        if rng.uniform() < 0.72 + 0.18 * boost {
            mbb.append(max(10, 108 + (13 - 4 * boost) * rng.normal()))
        } else {
            mbb.append(40 - 110 * log(max(rng.uniform(), 0x1p-60)))
        }
        // MET: the neutrino share of the V's pT, smeared.
        met.append(abs(x * 0.4 * (1 + 0.5 * rng.normal())))
    }
    for t in 0 ..< T {
        let content = terms[t][b]
        let s = slope(terms[t], b)
        var g = u.map { (1 + s * ($0 - 0.5)) * (1 + 0.25 * (rng.uniform() - 0.5)) }
        let total = g.reduce(0, +)
        for k in g.indices { g[k] = content * g[k] / total }
        columns[t].append(contentsOf: g)
    }
}
let N = pTV.count

let btagUp = pTV.map { 1 + 0.03 + 0.04 * min($0, 400) / 400 }
let database = try EventDatabase(
    provenance: .init(
        generator: "efthf MakeExampleData (seed \(seed)): events simulated per pTV bin so that per-bin sums reproduce ROOT 6.40's rf711 VH SMEFT templates",
        eftBasis: "SMEFT Warsaw basis, operators cHq3 cHl3 cHDD cHbox cHW cll1 (ROOT RooLagrangianMorphFunc tutorial input)",
        lambda: 1000,
        normalisation: "Σ_e w_e(c) = the ROOT tutorial's VH yield in pTV (its histogram normalisation, events)",
        weightUnit: "events"),
    coefficientNames: operators, monomials: monomials, basisCoefficients: columns,
    observables: [
        .init(name: "pTV", unit: "GeV", values: pTV),
        .init(name: "mbb", unit: "GeV", values: mbb),
        .init(name: "MET", unit: "GeV", values: met),
    ],
    weightVariations: [.init(name: "btag", up: btagUp, down: btagUp.map { 2 - $0 })],
    observableShifts: [
        .init(name: "pTV_scale", observable: "pTV", up: pTV.map { 0.01 * $0 }, down: pTV.map { -0.01 * $0 }),
        .init(name: "JES", observable: "mbb", up: mbb.map { 0.03 * $0 }, down: mbb.map { -0.03 * $0 }),
        .init(name: "JES", observable: "MET", up: met.map { 0.02 * $0 }, down: met.map { -0.02 * $0 }),
    ])

try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
let databaseURL = URL(fileURLWithPath: outputDirectory).appendingPathComponent("vh_smeft_events.h5")
try database.write(to: databaseURL)

// MARK: Check: per-bin sums equal the ROOT templates, read back from the file

let reread = try EventDatabase(contentsOf: databaseURL)
let rootProjection = try reread.projection(binning: Binning(observable: "pTV", edges: rootEdges))
var worstROOT = 0.0
for t in 0 ..< T {
    let sums = rootProjection.templates.yields.template(ofTerm: rootProjection.templates.yields.termIndex(of: monomials[t])!)
    for b in 0 ..< rootBins {
        let scale = max(abs(terms[t][b]), 1e-300)
        worstROOT = max(worstROOT, abs(sums[b] - terms[t][b]) / scale)
    }
}
precondition(worstROOT < 1e-12, "per-bin sums differ from the ROOT templates by \(worstROOT) relative")

// MARK: Workspace (coefficient form, from the database's per-bin sums)

let binning = try Binning(observable: "pTV", edges: workspaceEdges)
let B = binning.binCount
let projection = try reread.projection(binning: binning)
let signal = (0 ..< T).map { projection.templates.yields.template(ofTerm: projection.templates.yields.termIndex(of: monomials[$0])!) }
// Per-term uncertainty σ_tb = √(Σ_{e∈b} a_et²): exact for the SM term (Σw² at c = 0), and the (V1)
// approximation of the database's exact Σ_{e∈b} w_e(c)² elsewhere.
var termVariance = [[Double]](repeating: [Double](repeating: 0, count: B), count: T)
for e in 0 ..< N {
    guard let b = workspaceEdges.indices.dropLast().last(where: { pTV[e] >= workspaceEdges[$0] }), pTV[e] < workspaceEdges[B] else { continue }
    for t in 0 ..< T { termVariance[t][b] += columns[t][e] * columns[t][e] }
}
let termSigma = termVariance.map { $0.map { $0.squareRoot() } }

/// The ROOT template merged into the workspace bins: the check that the database path and the
/// histogram path agree.
var worstMerged = 0.0
for t in 0 ..< T {
    for b in 0 ..< B {
        var merged = 0.0, scale = 0.0
        for r in 0 ..< rootBins where rootEdges[r] >= workspaceEdges[b] && rootEdges[r + 1] <= workspaceEdges[b + 1] {
            merged += terms[t][r]
            scale += abs(terms[t][r])
        }
        worstMerged = max(worstMerged, abs(signal[t][b] - merged) / max(scale, 1e-300))
    }
}
precondition(worstMerged < 1e-12, "workspace templates differ from the merged ROOT templates by \(worstMerged)")

/// Backgrounds (invented): ∫ over each bin of a pTV density, normalised to `total` events on [0, 600).
@MainActor func integrate(_ density: (Double) -> Double, total: Double) -> [Double] {
    let steps = 200
    func integral(_ a: Double, _ b: Double) -> Double {
        let h = (b - a) / Double(steps)
        var s = density(a) + density(b)
        for i in 1 ..< steps { s += (i % 2 == 1 ? 4 : 2) * density(a + Double(i) * h) }
        return s * h / 3
    }
    let all = integral(workspaceEdges.first!, workspaceEdges.last!)
    return (0 ..< B).map { total * integral(workspaceEdges[$0], workspaceEdges[$0 + 1]) / all }
}
let ttbar = integrate({ $0 * exp(-$0 / 60) }, total: 6000)
let vjets = integrate({ $0 * exp(-$0 / 45) + 2 * exp(-$0 / 150) }, total: 9000)
let diboson = signal[0].map { 0.55 * $0 }

@MainActor func point(_ values: [String: Double]) -> [Double] { operators.map { values[$0] ?? 0 } }
let c0 = point(injected)
let signalAtInjected = (0 ..< B).map { b in (0 ..< T).reduce(0.0) { $0 + monomials[$1].value(at: c0) * signal[$1][b] } }
precondition(signalAtInjected.allSatisfy { $0 > 0 }, "negative signal at the injected point: \(signalAtInjected)")
let observed = (0 ..< B).map { signalAtInjected[$0] + ttbar[$0] + vjets[$0] + diboson[$0] }

// A JSON writer with shortest round-trip numbers, so that the workspace's SM data and the SM term
// (and the staterror δ and the SM term's uncertainty) are bit-identical as §3.1 and §8.2 require.
indirect enum JSON {
    case object([(String, JSON)]), array([JSON]), number(Double), string(String), bool(Bool), null
    func render(_ indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .number(let x): return x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
        case .string(let s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            if items.allSatisfy({ if case .number = $0 { true } else { false } }) {
                return "[" + items.map { $0.render() }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { inner + $0.render(inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{\n" + fields.map { inner + JSON.string($0.0).render() + ": " + $0.1.render(inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        }
    }
}
@MainActor func numbers(_ xs: [Double]) -> JSON { .array(xs.map { .number($0) }) }
@MainActor func normsys(_ name: String, _ hi: Double, _ lo: Double) -> JSON {
    .object([("name", .string(name)), ("type", .string("normsys")), ("data", .object([("hi", .number(hi)), ("lo", .number(lo))]))])
}
@MainActor func staterror(_ delta: [Double]) -> JSON {
    .object([("name", .string("staterror_SR_pTV")), ("type", .string("staterror")), ("data", numbers(delta))])
}
let lumi = JSON.object([("name", .string("lumi")), ("type", .string("lumi")), ("data", .null)])

let morphingTerms: [JSON] = (0 ..< T).map { t in
    let powers = monomials[t].factors.map { (operators[$0.coefficient], JSON.number(Double($0.power))) }
    return .object([("powers", .object(powers)), ("data", numbers(signal[t])), ("uncertainty", numbers(termSigma[t]))])
}
let vhSample = JSON.object([
    ("name", .string("VH")),
    ("data", numbers(signal[0])),
    ("modifiers", .array([
        .object([("name", .string("vh_smeft")), ("type", .string("morphing")), ("data", .object([
            ("coefficients", .array(operators.map { .string($0) })),
            ("form", .string("absolute")),
            ("terms", .array(morphingTerms)),
            ("truncation", .string("quadratic")),
            ("negative_yields", .string("error")),
        ]))]),
        normsys("vh_theory", 1.05, 0.95),
        lumi,
        staterror(termSigma[0]),
    ])),
])
@MainActor func background(_ name: String, _ yields: [Double], _ norm: (String, Double, Double), relativeStat: Double, withLumi: Bool) -> JSON {
    var modifiers = [normsys(norm.0, norm.1, norm.2), staterror(yields.map { relativeStat * $0 })]
    if withLumi { modifiers.append(lumi) }
    return .object([("name", .string(name)), ("data", numbers(yields)), ("modifiers", .array(modifiers))])
}
let measurementParameters: [JSON] = [
    .object([("name", .string("lumi")), ("auxdata", numbers([1])), ("sigmas", numbers([0.017])), ("bounds", .array([numbers([0.9, 1.1])])), ("inits", numbers([1]))]),
] + operators.map { op in
    let free = op == "cHW" || op == "cHq3"
    var fields: [(String, JSON)] = [("name", .string(op)), ("inits", numbers([0])), ("bounds", .array([numbers(op == "cHq3" ? [-0.5, 0.5] : [-2, 2])]))]
    if !free { fields.append(("fixed", .bool(true))) }
    return .object(fields)
}
let workspace = JSON.object([
    ("channels", .array([.object([
        ("name", .string("SR_pTV")),
        ("samples", .array([
            vhSample,
            background("ttbar", ttbar, ("ttbar_xsec", 1.06, 0.94), relativeStat: 0.03, withLumi: false),
            background("Vjets", vjets, ("vjets_xsec", 1.10, 0.90), relativeStat: 0.05, withLumi: false),
            background("diboson", diboson, ("diboson_xsec", 1.15, 0.85), relativeStat: 0.04, withLumi: true),
        ])),
    ])])),
    ("observations", .array([.object([("name", .string("SR_pTV")), ("data", numbers(observed))])])),
    ("measurements", .array([.object([
        ("name", .string("VH_SMEFT")),
        ("config", .object([("poi", .string("cHW")), ("parameters", .array(measurementParameters))])),
    ])])),
    ("version", .string("1.0.0+efthf.1")),
])
let text = workspace.render() + "\n"
try text.write(to: URL(fileURLWithPath: outputDirectory).appendingPathComponent("workspace_morphing.json"), atomically: true, encoding: .utf8)

let size = (try? FileManager.default.attributesOfItem(atPath: databaseURL.path)[.size] as? Int) ?? 0
print("""
    wrote \(databaseURL.path): \(N) events, \(T) terms, \(database.observables.count) observables, \(size) bytes
      events per 20 GeV pTV bin: \(eventsPerBin)
      per-bin sums vs ROOT templates (28 terms × 30 bins): max relative deviation \(worstROOT)
      workspace bins \(workspaceEdges): max relative deviation from merged ROOT bins \(worstMerged)
      VH SM yield \(signal[0].reduce(0, +)); at cHW = 0.3, cHq3 = −0.05: \(signalAtInjected.reduce(0, +))
      backgrounds: ttbar \(ttbar.reduce(0, +)), Vjets \(vjets.reduce(0, +)), diboson \(diboson.reduce(0, +))
    wrote \(outputDirectory)/workspace_morphing.json (observed = Asimov at \(injected))
    """)
