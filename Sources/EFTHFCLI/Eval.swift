import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the log-likelihood and its gradient at a point, as JSON.",
            discussion: """
                Parameters not named keep their initial values. Names are pyhf's: a scalar parameter by \
                its name, one component of a vector as name[i]; name=value on a vector sets every component.

                "status" is "ok" inside the model's domain; "outside_domain" where the model refuses the \
                point (log L = -inf) and "not_finite" where log L is not finite (negative or zero expected \
                yields with observed events): then the values JSON cannot hold are null, "warning" says \
                why, and the exit status is 3.
                """
        )

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @Option(help: ArgumentHelp("Parameter values, e.g. mu_SIG=0.5,alpha_JES=-1,staterror_SR[0]=1.02.", valueName: "name=value,..."))
        var at: String?

        @Option(help: ArgumentHelp("A JSON file {name: value or [values]} with parameter values.", valueName: "file.json"))
        var pars: String?

        func validate() throws {
            if at != nil && pars != nil { throw ValidationError("give either --at or --pars, not both") }
        }

        func run() throws {
            do {
                let ws = try model.loadWorkspace()
                let hf = try HistFactoryModel(workspace: ws, measurement: model.measurement, interpolation: interpolation.interpolation)
                let data = try hf.observedData(from: ws)
                var point = hf.suggestedInits
                if let at { try ParameterValues(parsing: at).apply(to: &point, model: hf) }
                if let pars {
                    let values = try ParameterValues(json: try loadJSON(pars), file: pars)
                    do { try values.apply(to: &point, model: hf) } catch { throw error.inFile(pars) }
                }
                var gradient: [Double] = []
                let logL = hf.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
                if let failure = hf.evaluationFailure { throw failure }  // an event file that can no longer be read
                let names = hf.parameterNames
                var out = JSONObject()
                out["workspace"] = .string(model.workspace)
                out["measurement"] = .string(hf.measurementName)
                let problem = hf.evaluationProblem(point)
                out["status"] = .string(problem != nil ? "outside_domain" : logL.isFinite ? "ok" : "not_finite")
                out["logpdf"] = .number(logL)
                out["twice_nll"] = .number(-2 * logL)
                out["parameters"] = .object(JSONObject(zip(names, point.map { JSON.number($0) }).map { ($0, $1) }))
                out["gradient"] = .object(JSONObject(zip(names, gradient.map { JSON.number($0) }).map { ($0, $1) }))
                let expected = hf.expectedMainData(point)
                var offset = 0
                var byChannel: [(String, JSON)] = []
                for (c, n) in zip(hf.channels, hf.channelBinCounts) {
                    byChannel.append((c, .numbers(Array(expected[offset..<offset + n]))))
                    offset += n
                }
                out["expected_data"] = .object(JSONObject(byChannel))
                if let problem {
                    out["warning"] = .string("outside the model's domain (log L = -inf): \(problem)")
                } else if !logL.isFinite {
                    let bad = expected.indices.filter { !(expected[$0] > 0) && data.main[$0] > 0 || expected[$0] < 0 || expected[$0].isNaN }
                    out["warning"] = .string("the log-likelihood is not finite: expected yields are negative or zero with observed events in \(bad.count) bin(s) (global bins \(bad.prefix(10).map(String.init).joined(separator: ", ")))")
                }
                print(JSON.object(out).serialized(.pretty))
                if problem != nil || !logL.isFinite { throw ExitCode(3) }
            } catch let error as HistFactoryError {
                fail(error)
            }
        }
    }
}
