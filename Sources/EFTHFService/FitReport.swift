import EFTHF

/// The fit job: the computation and JSON of `efthf fit [--ops …] [--fix …] --json`
/// (Sources/EFTHFCLI/Inference.swift), so that a client gets the same document from the service
/// as from the command line.
enum FitReport {
    /// Fits `workspace`. With `ops`, the other Wilson coefficients are fixed at the Standard Model
    /// (0), the named ones float, the fit starts from a grid over them (quadratic EFT yields have
    /// several minima), and the ±1σ and 95% CL profile-likelihood intervals are added.
    static func fit(_ workspace: Workspace, ops: [String]?, fix: [String: Double], measurement: String?) throws -> JSON {
        let model = try HistFactoryModel(workspace: workspace, measurement: measurement)
        let data = try model.observedData(from: workspace)
        var options = FitOptions(computeUncertainties: true)
        if let ops {
            var point = model.suggestedInits
            var fixed = model.suggestedFixed
            let coefficients = model.parameterSets.filter { $0.modifierKinds.contains(.morphing) }
            if coefficients.isEmpty {
                throw HistFactoryError(.parameter, "ops: the workspace has no Wilson coefficients (no morphing modifiers)")
            }
            for op in ops where !coefficients.contains(where: { $0.name == op }) {
                throw HistFactoryError(.parameter, "ops: unknown Wilson coefficient \"\(op)\"; the workspace has: \(coefficients.map(\.name).joined(separator: ", "))")
            }
            for set in coefficients {
                fixed[set.offset] = !ops.contains(set.name)
                if fixed[set.offset] { point[set.offset] = 0 }
            }
            options.initialValues = point
            options.fixed = fixed
            options.multiStart = MultiStart(parameters: ops, pointsPerParameter: ops.count > 2 ? 3 : 5)
        }
        options.fixedValues = fix
        let result = try model.fit(data, options: options)
        var out = json(result)
        if let ops, result.status.isConverged {
            var intervalOptions = options
            intervalOptions.multiStart = nil
            out["profile_intervals"] = .object(JSONObject(try ops.map { op in
                let one = try model.profileInterval(op, data: data, level: DeltaTwiceNLL.oneSigma1D, options: intervalOptions, bestFit: result)
                let cl95 = try model.profileInterval(op, data: data, level: DeltaTwiceNLL.cl95In1D, options: intervalOptions, bestFit: result)
                return (op, JSON.object(JSONObject([
                    ("best_fit", .number(one.bestFit)),
                    ("one_sigma", .array([one.lower.map { .number($0) } ?? .null, one.upper.map { .number($0) } ?? .null])),
                    ("cl95", .array([cl95.lower.map { .number($0) } ?? .null, cl95.upper.map { .number($0) } ?? .null])),
                ])))
            }))
        }
        return .object(out)
    }

    /// The members of `fit --json`: status, 2NLL, EDM, calls, per-parameter value, fixed flag and
    /// uncertainty, correlations, the number of degenerate minima.
    static func json(_ r: FitResult) -> JSONObject {
        var out = JSONObject()
        out["status"] = .string(r.status.description)
        out["converged"] = .bool(r.status.isConverged)
        out["twice_nll"] = .number(r.twiceNLL)
        out["edm"] = .number(r.edm)
        out["function_calls"] = .integer(Int64(r.functionCalls))
        out["parameters"] = .object(JSONObject(r.parameterNames.enumerated().map { i, name in
            var p = JSONObject()
            p["value"] = .number(r.values[i])
            p["fixed"] = .bool(r.fixed[i])
            if let u = r.uncertainties, !r.fixed[i] { p["uncertainty"] = .number(u[i]) }
            return (name, .object(p))
        }))
        if let c = r.correlations { out["correlations"] = .array(c.map { .numbers($0) }) }
        out["degenerate_minima"] = .integer(Int64(r.degenerateMinima.count))
        return out
    }
}
