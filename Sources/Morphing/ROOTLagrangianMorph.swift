import EFTJSON

/// Reads the templates of ROOT's `RooLagrangianMorphFunc` tutorial (the JSON dump of
/// `input_histos_rf_lagrangianmorph.root`, `rf_lagrangianmorph_templates.json`) as coefficient templates.
///
/// Folder convention (checked against ROOT 6.40 to 6e-8): `SM_NPsq0` is the SM; `X_NPsq1` the pure
/// interference of `X` made at `c_X = v_X`; `X_NPsq2` the pure `|A_X|²` at `c_X = v_X`; `A_B_NPsq2`
/// (or `B_A_NPsq2`) the full NP² part at `(c_A, c_B) = (a, b)`, i.e. `a²Q_A + b²Q_B + ab X_AB`. With
/// the `param_card` values `v` (all 1 in the tutorial):
///
/// ```
/// C_1 = T[SM],  C_{c_X} = T[X_NPsq1]/v_X,  C_{c_X²} = T[X_NPsq2]/v_X²,
/// C_{c_A c_B} = (T[A_B_NPsq2] − (a/v_A)² T[A_NPsq2] − (b/v_B)² T[B_NPsq2]) / (ab)
/// ```
///
/// Bins are `1…nbins` of each histogram, without under- or overflow. The folders are independent
/// MC samples, so the variance of the morphed yield is the exact ``MonteCarloVariance`` of this
/// linear map of the folders' `errors`.
public enum ROOTLagrangianMorph {
    /// The coefficient templates of `observable` for `operators` (any subset of the folders'
    /// couplings), terms ordered `1, c_X, c_X²` per operator, then `c_A c_B` for `A` before `B`.
    ///
    /// - Throws: ``MorphingError`` naming the missing folder, histogram or key.
    public static func templates(
        from json: JSON, observable: String, operators: [String], includeUncertainties: Bool = true
    ) throws(MorphingError) -> MorphingTemplates {
        guard let folders = json["folders"]?.objectValue else {
            throw MorphingError(.format, "no object \"folders\"", context: "ROOT morphing templates")
        }
        guard Set(operators).count == operators.count else { throw MorphingError(.shape, "repeated operator in \(operators)") }

        struct Folder {
            let name: String
            let contents: [Double]
            let errors: [Double]
            let card: JSONObject
        }
        func folder(_ names: [String]) throws(MorphingError) -> Folder {
            guard let name = names.first(where: { folders[$0] != nil }), let f = folders[name] else {
                throw MorphingError(.unknownName, "no folder \(names.joined(separator: " or "))", context: "ROOT morphing templates")
            }
            guard let h = f["histograms"]?[observable] else {
                throw MorphingError(.unknownName, "no histogram \"\(observable)\"", context: "folder \(name)")
            }
            guard let contents = h["contents"]?.arrayValue?.compactMap(\.doubleValue),
                let errors = h["errors"]?.arrayValue?.compactMap(\.doubleValue),
                contents.count == errors.count, !contents.isEmpty
            else {
                throw MorphingError(.format, "histogram needs equally long numeric \"contents\" and \"errors\"", context: "folder \(name), \(observable)")
            }
            guard let card = f["param_card"]?.objectValue else {
                throw MorphingError(.format, "no \"param_card\"", context: "folder \(name)")
            }
            return Folder(name: name, contents: contents, errors: errors, card: card)
        }
        /// The folder's value of coupling `op`, checking that no other selected coupling is switched on.
        func cardValue(_ f: Folder, _ on: [String]) throws(MorphingError) -> [Double] {
            for op in operators where !on.contains(op) {
                if let v = f.card[op]?.doubleValue, v != 0 {
                    throw MorphingError(.invalidValue, "param_card sets \(op) = \(v), expected 0", context: "folder \(f.name)")
                }
            }
            var values: [Double] = []
            for op in on {
                guard let v = f.card[op]?.doubleValue, v != 0, v.isFinite else {
                    throw MorphingError(.invalidValue, "param_card lacks a non-zero \(op)", context: "folder \(f.name)")
                }
                values.append(v)
            }
            return values
        }

        var monomials: [Monomial] = [.one]
        var inputs: [Folder] = [try folder(["SM_NPsq0"])]
        // Each row maps the folders to one term: C_t = Σ_k P_tk T_k.
        var rows: [[Int: Double]] = [[0: 1]]
        var squareFolder: [Int: (index: Int, value: Double)] = [:]
        for (i, op) in operators.enumerated() {
            let linear = try folder(["\(op)_NPsq1"])
            let v1 = try cardValue(linear, [op])[0]
            inputs.append(linear)
            monomials.append(.linear(i))
            rows.append([inputs.count - 1: 1 / v1])
            let square = try folder(["\(op)_NPsq2"])
            let v2 = try cardValue(square, [op])[0]
            inputs.append(square)
            monomials.append(.square(i))
            rows.append([inputs.count - 1: 1 / (v2 * v2)])
            squareFolder[i] = (inputs.count - 1, v2)
        }
        for i in operators.indices {
            for j in operators.indices where j > i {
                let (a, b) = (operators[i], operators[j])
                let cross = try folder(["\(a)_\(b)_NPsq2", "\(b)_\(a)_NPsq2"])
                let v = try cardValue(cross, [a, b])
                inputs.append(cross)
                monomials.append(.product(i, j))
                let (qa, qb) = (squareFolder[i]!, squareFolder[j]!)
                let ab = v[0] * v[1]
                var row: [Int: Double] = [inputs.count - 1: 1 / ab]
                row[qa.index, default: 0] -= (v[0] / qa.value) * (v[0] / qa.value) / ab
                row[qb.index, default: 0] -= (v[1] / qb.value) * (v[1] / qb.value) / ab
                rows.append(row)
            }
        }
        let binCount = inputs[0].contents.count
        for f in inputs where f.contents.count != binCount {
            throw MorphingError(.shape, "\(f.contents.count) bins, SM has \(binCount)", context: "folder \(f.name), \(observable)")
        }
        let mixing = rows.map { row in inputs.indices.map { row[$0] ?? 0 } }
        var labels: [String]?
        if let edges = folders["SM_NPsq0"]?["histograms"]?[observable]?["edges"]?.arrayValue?.compactMap(\.doubleValue), edges.count == binCount + 1 {
            labels = (0 ..< binCount).map { "[\(edges[$0]), \(edges[$0 + 1]))" }
        }
        return try MorphingTemplates.linearCombination(
            coefficientNames: operators, monomials: monomials, mixing: mixing, inputs: inputs.map(\.contents),
            inputUncertainties: includeUncertainties ? inputs.map(\.errors) : nil, binLabels: labels
        )
    }
}
