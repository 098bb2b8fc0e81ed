import EFTJSON
import Foundation

extension ROOTLagrangianMorph {
    /// ``templates(from:observable:operators:includeUncertainties:)`` of the JSON file at `url`.
    public static func templates(contentsOf url: URL, observable: String, operators: [String], includeUncertainties: Bool = true) throws(MorphingError) -> MorphingTemplates {
        try templates(from: readJSON(url), observable: observable, operators: operators, includeUncertainties: includeUncertainties)
    }
}

extension STXSParametrisation {
    /// The operators of the `pois.yaml` file at `url`.
    public static func parametersOfInterest(contentsOf url: URL) throws(MorphingError) -> [STXSParameterOfInterest] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw MorphingError(.format, "cannot read: \(error)", context: url.path)
        }
        return try parametersOfInterest(yaml: text)
    }

    /// ``relativeScalings(json:parameters:variables:includeUncertainties:context:)`` of the JSON file at `url`.
    public static func relativeScalings(
        contentsOf url: URL, parameters: [STXSParameterOfInterest], variables: Variables = .wilsonCoefficients, includeUncertainties: Bool = true
    ) throws(MorphingError) -> MorphingTemplates {
        try relativeScalings(json: readJSON(url), parameters: parameters, variables: variables, includeUncertainties: includeUncertainties, context: url.lastPathComponent)
    }
}

private func readJSON(_ url: URL) throws(MorphingError) -> JSON {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw MorphingError(.format, "cannot read: \(error)", context: url.path) }
    do { return try JSONParser.parse(data) } catch { throw MorphingError(.format, "not JSON: \(error)", context: url.path) }
}
