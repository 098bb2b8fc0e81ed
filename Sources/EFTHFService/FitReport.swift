import EFTHF

/// The fit job: the computation and JSON of `efthf fit [--ops …] [--fix …] --json`, built from the
/// same library pieces as the command (`FitOptions.floating(operators:of:)`,
/// `FitResult.jsonObject`, `HistFactoryModel.profileIntervals`), so that a client gets the same
/// document from the service as from the command line.
enum FitReport {
    /// Fits `workspace`. With `ops`, the other Wilson coefficients are fixed at the Standard Model
    /// and the ±1σ and 95% CL profile-likelihood intervals of `ops` are added.
    static func fit(_ workspace: Workspace, ops: [String]?, fix: [String: Double], measurement: String?) throws -> JSON {
        let model = try HistFactoryModel(workspace: workspace, measurement: measurement)
        let data = try model.observedData(from: workspace)
        var options = FitOptions(computeUncertainties: true)
        if let ops { options = try FitOptions.floating(operators: ops, of: model) }
        options.fixedValues = fix
        let result = try model.fit(data, options: options)
        var out = result.jsonObject
        if let ops, result.status.isConverged {
            out["profile_intervals"] = ProfileInterval.json(try model.profileIntervals(ops, data: data, options: options, bestFit: result))
        }
        return .object(out)
    }
}
