import Foundation
import HistFactory

extension FitProblem {
    /// Fits from the initial values and every point of the multi-start grid (in parallel), keeps
    /// the lowest converged minimum and lists the distinct minima found.
    ///
    /// Two minima are the same when every free parameter agrees to 10⁻³·max(1, |θ|) or, when the
    /// covariance is known, to 10⁻²σ.
    func runMultiStart(_ multiStart: MultiStart) throws(InferenceError) -> FitResult {
        var axes: [(index: Int, values: [Double])] = []
        for name in multiStart.parameters {
            let i: Int
            do { i = try model.parameterIndex(named: name) } catch { throw InferenceError(.invalidOptions, error.message) }
            guard !fixed[i] else { throw InferenceError(.invalidOptions, "multi-start parameter \(name) is fixed") }
            let range = multiStart.ranges[name] ?? lower[i]...upper[i]
            guard range.lowerBound.isFinite, range.upperBound.isFinite else {
                throw InferenceError(.invalidOptions, "multi-start parameter \(name) needs a finite range, has \(range)")
            }
            let m = max(2, multiStart.pointsPerParameter)
            // Cell centres: the grid avoids the bounds themselves.
            let values = (0..<m).map { range.lowerBound + (Double($0) + 0.5) / Double(m) * (range.upperBound - range.lowerBound) }
            axes.append((i, values))
        }
        var starts = [start]
        var grid: [[Double]] = [start]
        for axis in axes {
            grid = grid.flatMap { point in axis.values.map { v in var p = point; p[axis.index] = v; return p } }
        }
        starts += grid
        let allStarts = starts
        let fits = parallelMap(starts.count) { self.run(from: allStarts[$0], warmStart: nil) }
        let converged = fits.filter(\.status.isConverged).sorted { $0.twiceNLL < $1.twiceNLL }
        let best = converged.first ?? fits.min { $0.twiceNLL < $1.twiceNLL }!
        var distinct: [FitResult] = []
        for candidate in converged where !distinct.contains(where: { sameMinimum($0, candidate) }) {
            distinct.append(candidate)
        }
        let calls = fits.reduce(0) { $0 + $1.functionCalls }
        // The best minimum again with uncertainties, when they were asked for, from its own warm start.
        var final = best
        if options.computeUncertainties && best.covarianceStorage == nil && best.status.isConverged {
            final = run(from: best.values, warmStart: best.warmStart)
        }
        return FitResult(
            parameterNames: final.parameterNames, values: final.values, twiceNLL: final.twiceNLL, status: final.status,
            edm: final.edm, fixed: final.fixed, functionCalls: calls + (final.functionCalls == best.functionCalls ? 0 : final.functionCalls),
            covarianceStorage: final.covarianceStorage, minuitUncertainties: final.minuitUncertainties,
            localMinima: distinct.map { LocalMinimum(values: $0.values, twiceNLL: $0.twiceNLL) },
            degeneracyTolerance: multiStart.degeneracyTolerance, warmStart: final.warmStart)
    }

    private func sameMinimum(_ a: FitResult, _ b: FitResult) -> Bool {
        freeIndices.allSatisfy { i in
            let tolerance = 1e-3 * max(1, abs(a.values[i]), abs(b.values[i]))
            return abs(a.values[i] - b.values[i]) <= tolerance
        }
    }
}
