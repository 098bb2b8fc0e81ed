import Foundation
import HistFactory
import Inference
import Testing

/// EFT fits on the bundled VH example (Data/vh: the real SMEFT pTV templates of ROOT's morphing
/// tutorial, 6 operators, 28 terms, with MC uncertainties and backgrounds; Asimov data at
/// cHW = 0.3, cHq3 = −0.05).
@Suite struct EFTAsimovTests {
    /// An Asimov fit of two Wilson coefficients, with the MC-statistical uncertainty of the
    /// morphed signal in the likelihood, returns the injected point (to 1e-4 absolute), with the
    /// signal as term templates and as an event database reweighted during the fit.
    @Test(arguments: ["workspace_morphing.json", "workspace_events.json"])
    func asimovFitRecoversTheInjectedCoefficients(file: String) throws {
        let ws = try Workspace(contentsOf: ReferenceFiles.repository.appendingPathComponent("Data/vh/" + file).path)
        let model = try HistFactoryModel(workspace: ws)
        let data = try model.observedData(from: ws)
        var fixed = model.suggestedFixed
        var start = model.suggestedInits
        for name in ["cHl3", "cHDD", "cHbox", "cll1"] {
            let i = try model.parameterIndex(named: name)
            fixed[i] = true
            start[i] = 0
        }
        for name in ["cHW", "cHq3"] { fixed[try model.parameterIndex(named: name)] = false }
        let options = FitOptions(initialValues: start, fixed: fixed, multiStart: MultiStart(parameters: ["cHW", "cHq3"], pointsPerParameter: 5))
        let result = try model.fit(data, options: options)
        #expect(result.status.isConverged)
        #expect(abs(try result.value(of: "cHW") - 0.3) < 1e-4)
        #expect(abs(try result.value(of: "cHq3") + 0.05) < 1e-4)
    }
}
