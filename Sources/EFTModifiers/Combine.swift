import EFTJSON
import Foundation
import HistFactory
import Morphing

/// The scaling data of CMS Combine's `InterferenceModel` physics model (`--PO scalingData=FILE`;
/// HiggsAnalysis-CombinedLimit `python/InterferenceModels.py`, `src/CMSInterferenceFunc.cxx`, docs
/// "Physics models", "Multi-process interference"): a list of
/// `{"channel", "process", "parameters": [p_0 … p_{n−1}], "scaling": [[M_b entries] per bin]}`
/// that multiplies the process's template y0_b by
///
/// ```
/// s_b(v) = vᵀ M_b v = Σ_i M_b,ii v_i² + 2 Σ_{j<i} M_b,ij v_i v_j,     v_i = value of parameter p_i
/// ```
///
/// with M_b symmetric and each row of `scaling` its lower triangle read row by row,
/// `(0,0), (1,0), (1,1), (2,0), (2,1), (2,2), …` (n(n+1)/2 numbers; CMSInterferenceFunc fills
/// `M(i,j) = M(j,i)` in that order). Parameters are RooFit factory expressions; efthf reads the
/// forms Combine's documentation uses: `name[value]` (a constant, e.g. the SM entry `1`),
/// `name[init,min,max]` and `name[min,max]` (a free parameter), a bare `name` declared earlier in
/// the file, and `expr::name('formula', args…)` whose formula is a product of `@k`, argument names
/// and numbers. Each v_i is then a constant times a monomial in the free parameters, and s_b is
/// expanded exactly into a polynomial in them (Specs/combine.md).
public struct CombineScaling: Sendable {
    /// A free parameter declared in the file (`name[init,min,max]`).
    public struct Variable: Sendable, Equatable {
        public let name: String
        public let initial: Double
        public let bounds: ClosedRange<Double>
    }

    /// One `{"channel", "process", …}` entry.
    public struct Item: Sendable {
        public let channel: String
        public let process: String
        /// The `parameters` as written.
        public let parameters: [String]
        /// s_b as a polynomial in the entry's free parameters (``PolynomialTemplates/coefficientNames``).
        public let scaling: PolynomialTemplates
        /// The entry's place in the file (`/k`).
        public let path: JSONPointer
    }

    public let variables: [Variable]
    public let items: [Item]
    public let file: String?

    /// Limits on what one file may declare.
    public static let maximumParameters = 100, maximumBins = 100_000, maximumItems = 10_000

    /// A parameter v_i: a constant times a monomial in the file's variables (indices into `variables`).
    struct Term {
        var factor: Double
        var powers: [Int: Int]
    }

    /// Reads the JSON list (Combine's `read_scaling` checks: a list of objects with the four fields,
    /// string parameters, rows of n(n+1)/2 numbers), and expands every entry.
    ///
    /// - Throws: ``HistFactoryError`` naming `file`, the JSON path and the value: a missing field, a
    ///   row of the wrong length for the parameter count, a non-numeric or non-finite entry, a
    ///   parameter expression outside the forms above, an undeclared name, a limit exceeded.
    public init(json: JSON, file: String? = nil) throws(HistFactoryError) {
        self.file = file
        let root = JSONPointer(tokens: [])
        func fail(_ message: String, _ path: JSONPointer) -> HistFactoryError {
            HistFactoryError(.schema, "Combine scaling data: " + message, file: file, path: path)
        }
        guard case .array(let list) = json else { throw fail("expected a list of {channel, process, parameters, scaling}, found \(json.kindName)", root) }
        guard list.count <= Self.maximumItems else { throw fail("\(list.count) entries; at most \(Self.maximumItems)", root) }
        var variables: [Variable] = []
        var constants: [String: Double] = [:]
        var items: [Item] = []
        var seen = Set<[String]>()
        for (k, entry) in list.enumerated() {
            let p = root.appending(k)
            guard case .object(let o) = entry else { throw fail("an entry must be an object, found \(entry.kindName)", p) }
            for key in ["channel", "process", "parameters", "scaling"] where o[key] == nil {
                throw fail("the entry has no \"\(key)\"", p)
            }
            guard let channel = o["channel"]?.stringValue else { throw fail("channel must be a string, found \(o["channel"]!.serialized())", p.appending("channel")) }
            guard let process = o["process"]?.stringValue else { throw fail("process must be a string, found \(o["process"]!.serialized())", p.appending("process")) }
            guard seen.insert([channel, process]).inserted else { throw fail("a second entry for channel \"\(channel)\" process \"\(process)\"", p) }
            guard case .array(let parameterList) = o["parameters"]!, !parameterList.isEmpty, parameterList.count <= Self.maximumParameters else {
                throw fail("parameters must be a list of 1 to \(Self.maximumParameters) strings, found \(o["parameters"]!.serialized().prefix(200))", p.appending("parameters"))
            }
            var parameters: [String] = []
            var terms: [Term] = []
            var local: [Int] = []  // the entry's variables, in first-appearance order
            for (i, value) in parameterList.enumerated() {
                let pp = p.appending("parameters").appending(i)
                guard let text = value.stringValue else { throw fail("a parameter must be a string (RooFit factory syntax), found \(value.serialized())", pp) }
                var parser = FactoryParser(text: text)
                let term: Term
                do { term = try parser.parameter(variables: &variables, constants: &constants) } catch {
                    throw fail("parameter \"\(text)\": \(error.message)", pp)
                }
                for v in term.powers.keys.sorted() where !local.contains(v) { local.append(v) }
                parameters.append(text)
                terms.append(term)
            }
            let n = terms.count, width = n * (n + 1) / 2
            guard case .array(let rows) = o["scaling"]!, !rows.isEmpty, rows.count <= Self.maximumBins else {
                throw fail("scaling must be a list of 1 to \(Self.maximumBins) rows (one per bin), found \(o["scaling"]!.kindName)", p.appending("scaling"))
            }
            // The expansion: s_b = Σ_{j≤i} w_ij M_b[k(i,j)] (factor_i factor_j) m_i m_j, w = 1 on the diagonal, 2 off it.
            let names = local.map { variables[$0].name }
            var entries: [Monomial: [Double]] = [:]
            var order: [Monomial] = []
            var products: [(Monomial, Double)] = []
            for i in 0 ..< n {
                for j in 0 ... i {
                    var powers: [Int: Int] = [:]
                    for (v, e) in terms[i].powers { powers[local.firstIndex(of: v)!, default: 0] += e }
                    for (v, e) in terms[j].powers { powers[local.firstIndex(of: v)!, default: 0] += e }
                    let m = Monomial(powers: powers)
                    products.append((m, (i == j ? 1 : 2) * terms[i].factor * terms[j].factor))
                    if entries[m] == nil { entries[m] = [Double](repeating: 0, count: rows.count); order.append(m) }
                }
            }
            for (b, row) in rows.enumerated() {
                let rp = p.appending("scaling").appending(b)
                guard case .array(let values) = row else { throw fail("bin \(b): a row must be a list of numbers, found \(row.serialized().prefix(200))", rp) }
                guard values.count == width else {
                    throw fail("bin \(b) has \(values.count) entries, but \(n) parameters need n(n+1)/2 = \(width) (the lower triangle of M, row by row)", rp)
                }
                for (kk, value) in values.enumerated() {
                    guard let x = value.doubleValue, x.isFinite else {
                        throw fail("bin \(b) entry \(kk) is \(value.serialized()), not a finite number", rp.appending(kk))
                    }
                    entries[products[kk].0]![b] += products[kk].1 * x
                }
            }
            let scaling: PolynomialTemplates
            do {
                scaling = try PolynomialTemplates(coefficientNames: names, binCount: rows.count, monomials: order, templates: order.map { entries[$0]! })
            } catch {
                throw HistFactoryError(.invalidModel, "Combine scaling data: \(error)", file: file, path: p, underlying: error)
            }
            items.append(Item(channel: channel, process: process, parameters: parameters, scaling: scaling, path: p))
        }
        self.variables = variables
        self.items = items
    }

    /// A hand-written reader of the RooFit factory forms listed on ``CombineScaling``.
    struct FactoryParser {
        struct Failure: Error { let message: String }
        let characters: [Character]
        var position = 0

        init(text: String) { characters = Array(text) }

        mutating func skipSpaces() { while position < characters.count, characters[position].isWhitespace { position += 1 } }

        mutating func expect(_ c: Character) throws(Failure) {
            skipSpaces()
            guard position < characters.count, characters[position] == c else {
                throw Failure(message: "expected '\(c)' at character \(position + 1)")
            }
            position += 1
        }

        mutating func name() throws(Failure) -> String {
            skipSpaces()
            let start = position
            while position < characters.count, characters[position].isLetter || characters[position].isNumber || characters[position] == "_" || characters[position] == "." { position += 1 }
            guard position > start, !characters[start].isNumber else { throw Failure(message: "expected a name at character \(start + 1)") }
            return String(characters[start ..< position])
        }

        mutating func number() throws(Failure) -> Double {
            skipSpaces()
            let start = position
            while position < characters.count, "0123456789+-.eE".contains(characters[position]) { position += 1 }
            guard let x = Double(String(characters[start ..< position])), x.isFinite else {
                throw Failure(message: "expected a number at character \(start + 1), found \"\(String(characters[start ..< position]))\"")
            }
            return x
        }

        /// The whole text is one parameter.
        mutating func parameter(variables: inout [Variable], constants: inout [String: Double]) throws(Failure) -> Term {
            let term = try argument(variables: &variables, constants: &constants)
            skipSpaces()
            guard position == characters.count else { throw Failure(message: "unexpected text after character \(position)") }
            return term
        }

        /// `name[…]`, `name`, or `expr::name('formula', args…)`.
        mutating func argument(variables: inout [Variable], constants: inout [String: Double]) throws(Failure) -> Term {
            let first = try name()
            if first == "expr" {
                try expect(":")
                try expect(":")
                _ = try name()
                try expect("(")
                skipSpaces()
                guard position < characters.count, characters[position] == "'" || characters[position] == "\"" else {
                    throw Failure(message: "expected a quoted formula at character \(position + 1)")
                }
                let quote = characters[position]
                position += 1
                let start = position
                while position < characters.count, characters[position] != quote { position += 1 }
                guard position < characters.count else { throw Failure(message: "the formula's quote is not closed") }
                let formula = String(characters[start ..< position])
                position += 1
                var arguments: [(String, Term)] = []
                skipSpaces()
                while position < characters.count, characters[position] == "," {
                    position += 1
                    skipSpaces()
                    let save = position
                    let argumentName = try name()
                    position = save
                    arguments.append((argumentName, try argument(variables: &variables, constants: &constants)))
                    skipSpaces()
                }
                try expect(")")
                return try Self.product(formula, arguments: arguments)
            }
            skipSpaces()
            guard position < characters.count, characters[position] == "[" else {
                if let i = variables.firstIndex(where: { $0.name == first }) { return Term(factor: 1, powers: [i: 1]) }
                if let c = constants[first] { return Term(factor: c, powers: [:]) }
                throw Failure(message: "\"\(first)\" is not declared before (declare it as \(first)[init,min,max] or \(first)[value])")
            }
            position += 1
            var values: [Double] = [try number()]
            skipSpaces()
            while position < characters.count, characters[position] == "," {
                position += 1
                values.append(try number())
                skipSpaces()
            }
            try expect("]")
            switch values.count {
            case 1:
                // RooFit: a variable with one value is a constant.
                if let i = variables.firstIndex(where: { $0.name == first }) { return Term(factor: 1, powers: [i: 1]) }
                if let c = constants[first], c != values[0] { throw Failure(message: "\"\(first)\" was declared as the constant \(c) before") }
                constants[first] = values[0]
                return Term(factor: values[0], powers: [:])
            case 2, 3:
                let (initial, lower, upper) = values.count == 3 ? (values[0], values[1], values[2]) : ((values[0] + values[1]) / 2, values[0], values[1])
                guard lower < upper, initial >= lower, initial <= upper else {
                    throw Failure(message: "the range [\(lower), \(upper)] must be increasing and hold the initial value \(initial)")
                }
                guard constants[first] == nil else { throw Failure(message: "\"\(first)\" was declared as a constant before") }
                if let i = variables.firstIndex(where: { $0.name == first }) { return Term(factor: 1, powers: [i: 1]) }
                guard variables.count < CombineScaling.maximumParameters else { throw Failure(message: "more than \(CombineScaling.maximumParameters) free parameters") }
                variables.append(Variable(name: first, initial: initial, bounds: lower ... upper))
                return Term(factor: 1, powers: [variables.count - 1: 1])
            default:
                throw Failure(message: "\(first)[…] takes one value (a constant), [min,max] or [init,min,max]; found \(values.count) values")
            }
        }

        /// A formula that is a product of `@k`, argument names and numbers.
        static func product(_ formula: String, arguments: [(String, Term)]) throws(Failure) -> Term {
            var term = Term(factor: 1, powers: [:])
            for factor in formula.split(separator: "*", omittingEmptySubsequences: false) {
                let f = factor.trimmingCharacters(in: .whitespaces)
                let operand: Term
                if f.hasPrefix("@"), let k = Int(f.dropFirst()), k >= 0, k < arguments.count {
                    operand = arguments[k].1
                } else if let a = arguments.first(where: { $0.0 == f }) {
                    operand = a.1
                } else if let x = Double(f), x.isFinite {
                    operand = Term(factor: x, powers: [:])
                } else {
                    throw Failure(message: "the formula '\(formula)' is not a product of @k, argument names and numbers (factor \"\(f)\")")
                }
                term.factor *= operand.factor
                for (v, e) in operand.powers { term.powers[v, default: 0] += e }
            }
            return term
        }
    }
}

extension PolynomialTemplates {
    /// The terms `kept` (indices) over only the coefficients they use (in this polynomial's order).
    func terms(_ kept: [Int]) throws(MorphingError) -> PolynomialTemplates {
        let used = coefficientNames.indices.filter { i in kept.contains { self.monomials[$0].exponent(of: i) > 0 } }
        let reindexed = kept.map { t in
            Monomial(powers: Dictionary(uniqueKeysWithValues: self.monomials[t].factors.map { (used.firstIndex(of: $0.coefficient)!, $0.power) }))
        }
        return try PolynomialTemplates(coefficientNames: used.map { coefficientNames[$0] }, binCount: binCount, monomials: reindexed,
                                       templates: kept.map { template(ofTerm: $0) })
    }
}

extension JSON {
    /// "a list", "an object", … for messages.
    var kindName: String {
        switch self {
        case .array: return "a list"
        case .object: return "an object"
        case .string(let s): return "the string \"\(s.prefix(80))\""
        case .null: return "null"
        case .bool(let b): return "\(b)"
        default: return serialized()
        }
    }
}

extension Workspace {
    /// The workspace with each entry of Combine's scaling data applied to its sample as a
    /// relative-form `morphing` modifier named `modifierName` (Specs/combine.md):
    ///
    /// ```
    /// ν⁰_sb(c) = data_sb · μ_b(c),   μ_b(c) = s_b(c) = 1 + R_b(c),   R_b = s_b − s_b(0)
    /// ```
    ///
    /// The channel is Combine's `channel`, the sample its `process`. The relative form's constant
    /// term is 1: s_b at every free parameter 0 must be 1 within 1e−9 in every bin (the template is
    /// the Standard Model's and the parameter vector holds the SM entry as a constant, as in EFT use).
    /// The free parameters become Wilson coefficients; their `[init,min,max]` go into every
    /// measurement that does not configure them.
    ///
    /// - Throws: ``HistFactoryError`` naming the scaling file, the entry's JSON path and the value: an
    ///   unknown channel or process, a bin count other than the sample's, s_b(0) ≠ 1, a modifier name
    ///   already on the sample.
    public func addingCombineScaling(_ scaling: CombineScaling, modifierName: String = "combine_scaling") throws(HistFactoryError) -> Workspace {
        var modifiersAdded: [(channel: String, sample: String, modifier: JSON)] = []
        var used: [String] = []
        for item in scaling.items {
            let (c, s) = try locate(channel: item.channel, sample: item.process, file: scaling.file,
                                    channelPath: item.path.appending("channel"), samplePath: item.path.appending("process"))
            let bins = channels[c].samples[s].data.count
            guard item.scaling.binCount == bins else {
                throw HistFactoryError(.invalidModel, "Combine scaling data: \(item.scaling.binCount) rows, but sample \"\(item.process)\" of channel \"\(item.channel)\" has \(bins) bins",
                                       file: scaling.file, path: item.path.appending("scaling"))
            }
            let constant = item.scaling.monomials.firstIndex(of: .one).map { item.scaling.template(ofTerm: $0) } ?? [Double](repeating: 0, count: bins)
            for b in 0 ..< bins where abs(constant[b] - 1) > 1e-9 {
                throw HistFactoryError(
                    .invalidModel, "Combine scaling data: in bin \(b) the scaling at every free parameter 0 is \(JSON.pythonRepr(constant[b])), not 1; efthf's relative form scales the sample's Standard-Model template, whose coefficients are 0 (give the SM entry as a constant parameter, e.g. \"sm[1]\", with M_00 = 1)",
                    file: scaling.file, path: item.path.appending("scaling").appending(b))
            }
            let kept = item.scaling.monomials.indices.filter { item.scaling.monomials[$0] != .one && item.scaling.template(ofTerm: $0).contains { $0 != 0 } }
            guard !kept.isEmpty else {
                throw HistFactoryError(.invalidModel, "Combine scaling data: the scaling is 1 in every bin whatever the parameters; there is nothing to import", file: scaling.file, path: item.path)
            }
            let embedded: PolynomialTemplates
            do { embedded = try item.scaling.terms(kept) } catch {
                throw HistFactoryError(.invalidModel, "Combine scaling data: \(error)", file: scaling.file, path: item.path, underlying: error)
            }
            let names = embedded.coefficientNames
            for n in names where !used.contains(n) { used.append(n) }
            modifiersAdded.append((item.channel, item.process, .object(JSONObject([
                ("name", .string(modifierName)), ("type", .string("morphing")),
                ("data", MorphingModifier.coefficientFormJSON(embedded, form: .relative)),
            ]))))
        }
        let configs = scaling.variables.filter { used.contains($0.name) }.map { v in
            JSON.object(JSONObject([("name", .string(v.name)), ("inits", .numbers([v.initial])), ("bounds", .array([.numbers([v.bounds.lowerBound, v.bounds.upperBound])]))]))
        }
        return try adding(modifiersAdded, parameterConfigs: configs, file: scaling.file)
    }

    /// The indices of `channel` and its `sample`, or an error naming them and what exists.
    func locate(channel: String, sample: String, file: String?, channelPath: JSONPointer?, samplePath: JSONPointer?) throws(HistFactoryError) -> (Int, Int) {
        guard let c = channels.firstIndex(where: { $0.name == channel }) else {
            throw HistFactoryError(.invalidModel, "channel \"\(channel)\" is not a channel of the workspace; it has \(channels.map { "\"\($0.name)\"" }.joined(separator: ", "))", file: file, path: channelPath)
        }
        guard let s = channels[c].samples.firstIndex(where: { $0.name == sample }) else {
            throw HistFactoryError(.invalidModel, "sample \"\(sample)\" is not a sample of channel \"\(channel)\"; it has \(channels[c].samples.map { "\"\($0.name)\"" }.joined(separator: ", "))", file: file, path: samplePath)
        }
        return (c, s)
    }

    /// The workspace with `modifiers` appended to their samples and `parameterConfigs` added to every
    /// measurement that does not configure that parameter; version `1.0.0+efthf.1`.
    func adding(_ modifiers: [(channel: String, sample: String, modifier: JSON)], parameterConfigs: [JSON], file: String?) throws(HistFactoryError) -> Workspace {
        guard case .object(var root) = json, case .array(var channelList)? = root["channels"] else {
            throw HistFactoryError(.schema, "the workspace has no channels", file: self.file)
        }
        for (channel, sample, modifier) in modifiers {
            guard let c = channelList.firstIndex(where: { $0["name"]?.stringValue == channel }), case .object(var channelObject) = channelList[c],
                  case .array(var samples)? = channelObject["samples"], let s = samples.firstIndex(where: { $0["name"]?.stringValue == sample }),
                  case .object(var sampleObject) = samples[s] else {
                throw HistFactoryError(.invalidModel, "channel \"\(channel)\" sample \"\(sample)\" not found", file: file)
            }
            var list = sampleObject["modifiers"]?.arrayValue ?? []
            let name = modifier["name"]?.stringValue ?? ""
            if list.contains(where: { $0["name"]?.stringValue == name && $0["type"]?.stringValue == "morphing" }) {
                throw HistFactoryError(.invalidModel, "channel \"\(channel)\" sample \"\(sample)\" already has a morphing modifier \"\(name)\"; choose another modifier name", file: file)
            }
            list.append(modifier)
            sampleObject["modifiers"] = .array(list)
            samples[s] = .object(sampleObject)
            channelObject["samples"] = .array(samples)
            channelList[c] = .object(channelObject)
        }
        root["channels"] = .array(channelList)
        if case .array(var measurements)? = root["measurements"] {
            for (k, m) in measurements.enumerated() {
                guard case .object(var mo) = m, case .object(var config)? = mo["config"] else { continue }
                var parameters = config["parameters"]?.arrayValue ?? []
                for p in parameterConfigs where !parameters.contains(where: { $0["name"] == p["name"] }) { parameters.append(p) }
                config["parameters"] = .array(parameters)
                mo["config"] = .object(config)
                measurements[k] = .object(mo)
            }
            root["measurements"] = .array(measurements)
        }
        root["version"] = .string(WorkspaceVersion.efthfExtended)
        return try Workspace(json: .object(root), file: nil, baseDirectory: baseDirectory, modifiers: .efthf)
    }
}
