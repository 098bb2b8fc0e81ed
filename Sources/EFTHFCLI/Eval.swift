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
                """
        )

        @OptionGroup var model: ModelOptions

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
                let hf = try HistFactoryModel(workspace: ws, measurement: model.measurement)
                let data = try hf.observedData(from: ws)
                var point = hf.suggestedInits
                if let at { try ParameterAssignment.apply(text: at, to: &point, model: hf) }
                if let pars { try ParameterAssignment.apply(file: pars, to: &point, model: hf) }
                var gradient: [Double] = []
                let logL = hf.logLikelihoodAndGradient(point, data: data, gradient: &gradient)
                let names = hf.parameterNames
                var out = JSONObject()
                out["workspace"] = .string(model.workspace)
                out["measurement"] = .string(hf.measurementName)
                out["logpdf"] = .number(logL)
                out["twice_nll"] = .number(-2 * logL)
                out["parameters"] = .object(JSONObject(zip(names, point.map { JSON.number($0) }).map { ($0, $1) }))
                out["gradient"] = .object(JSONObject(zip(names, gradient.map { JSON.number($0) }).map { ($0, $1) }))
                let expected = hf.expectedMainData(point)
                var offset = 0
                var byChannel = JSONObject()
                for (c, n) in zip(hf.channels, hf.channelBinCounts) {
                    byChannel[c] = .numbers(Array(expected[offset..<offset + n]))
                    offset += n
                }
                out["expected_data"] = .object(byChannel)
                if let problem = hf.evaluationProblem(point) {
                    out["warning"] = .string("outside the model's domain (log L = -inf): \(problem)")
                } else if !logL.isFinite {
                    let bad = expected.indices.filter { !(expected[$0] > 0) && data.main[$0] > 0 || expected[$0] < 0 || expected[$0].isNaN }
                    out["warning"] = .string("the log-likelihood is not finite: expected yields are negative or zero with observed events in \(bad.count) bin(s) (global bins \(bad.prefix(10).map(String.init).joined(separator: ", ")))")
                }
                print(JSON.object(out).serialized(.pretty))
            } catch let error as HistFactoryError {
                fail(error)
            }
        }
    }
}

/// Parsing of `name=value` lists and parameter JSON files against a model.
enum ParameterAssignment {
    static func apply(text: String, to point: inout [Double], model: HistFactoryModel) throws(HistFactoryError) {
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
                throw HistFactoryError(.parameter, "cannot read \"\(item)\" as name=value")
            }
            try set(parts[0], [value], in: &point, model: model)
        }
    }

    static func apply(file: String, to point: inout [Double], model: HistFactoryModel) throws(HistFactoryError) {
        guard case .object(let o) = try loadJSON(file) else {
            throw HistFactoryError(.schema, "expected an object {name: value or [values]}", file: file)
        }
        for (name, value) in o.pairs {
            let values: [Double]
            if let v = value.doubleValue {
                values = [v]
            } else if let a = value.arrayValue, a.allSatisfy({ $0.doubleValue != nil }) {
                values = a.map { $0.doubleValue! }
            } else {
                throw HistFactoryError(.schema, "expected a number or an array of numbers", file: file, path: JSONPointer(tokens: [name]))
            }
            do { try set(name, values, in: &point, model: model) } catch { throw error.inFile(file) }
        }
    }

    /// Sets a scalar, one component (`name[i]`), or a whole vector (one value for all, or one each).
    static func set(_ name: String, _ values: [Double], in point: inout [Double], model: HistFactoryModel) throws(HistFactoryError) {
        if let v = values.first(where: { !$0.isFinite }) {
            throw HistFactoryError(.invalidValue, "\(name) = \(v) is not finite")
        }
        if let set = model.parameterSet(named: name), !set.isScalar {
            guard values.count == 1 || values.count == set.count else {
                throw HistFactoryError(.parameter, "\(name) has \(set.count) components, \(values.count) values given")
            }
            for i in 0..<set.count { point[set.offset + i] = values.count == 1 ? values[0] : values[i] }
            return
        }
        guard values.count == 1 else { throw HistFactoryError(.parameter, "\(name) is scalar, \(values.count) values given") }
        point[try model.parameterIndex(named: name)] = values[0]
    }
}
