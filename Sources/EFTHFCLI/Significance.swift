import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    struct Significance: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Asymptotic discovery significance from q0: observed and expected p0 and Z.",
            discussion: """
                q0 = −2 ln λ(0) for μ̂ ≥ 0, else 0 (arXiv:1007.1727 Eq. 12); p0 = 1 − Φ(√q0), Z = √q0. The \
                expected values come from the Asimov data set at POI = 1, with the ±1σ, ±2σ band of p0.
                """
        )

        @OptionGroup var model: ModelOptions

        @OptionGroup var interpolation: InterpolationOptions

        @Flag(help: "Print the result as JSON.")
        var json = false

        func run() throws {
            try reportingErrors {
                let loaded = try LoadedModel(model, interpolation)
                let r = try Progress.run("discovery test", quiet: json) { _ in try SignificanceTask().run(on: loaded) }
                let poi = r.poi
                if json {
                    print(r.jsonValue.serialized(.pretty))
                } else {
                    print("Discovery test of \(poi) = 0 (q0, asymptotic)")
                    print("  observed  q0 = \(formatted(r.q0))   p0 = \(formatted(r.p0))   Z = \(formatted(r.significance, 4)) σ")
                    print("  expected  Z = \(formatted(r.expectedSignificance, 4)) σ (Asimov, \(poi) = 1)")
                    print("  expected  p0  " + zip(["-2σ", "-1σ", "median", "+1σ", "+2σ"], r.p0Expected).map { "\($0) \(formatted($1, 4))" }.joined(separator: "   "))
                }
            }
        }
    }
}
