import Testing
@testable import HistFactory

/// ``HistFactoryModel/expectedMainDataIsLinear(in:)``'s rule on compiled samples: a parameter that
/// enters a sample as one plain factor per bin is affine; twice on one sample (ν ∝ θ²), through an
/// interpolated normsys or histosys, or through a parameter-dependent modifier it is not. The
/// pyhf schema cannot repeat a factor on one sample except through shapefactor's dummy index
/// (a bin beyond the set reads parameter 0), so the rule is checked on the compiled form.
@Suite struct LinearYieldTests {
    static func sample(scalars: [ScalarTerm] = [], histos: [HistoTerm] = [], binTerms: [BinTerm] = []) -> CompiledSample {
        CompiledSample(channel: "c", sample: "s", binStart: 0, binCount: 2, nominal: [5, 6], scalars: scalars, histos: histos,
                       binTerms: binTerms, dependent: nil)
    }

    @Test func aRepeatedFactorIsNotLinear() {
        // Parameter 0: normfactor on one sample and shapefactor dummy index (bin 1) on it too; 1: a
        // shapesys on another sample; 2: normfactor on both samples once each; 3: a normsys.
        let samples = [
            Self.sample(scalars: [ScalarTerm(parameter: 0, interpolation: nil), ScalarTerm(parameter: 2, interpolation: nil)],
                        binTerms: [BinTerm(parameters: [4, 0])]),
            Self.sample(scalars: [ScalarTerm(parameter: 2, interpolation: nil),
                                  ScalarTerm(parameter: 3, interpolation: FactorInterpolation(code: .code1, up: 1.1, down: 0.9))],
                        binTerms: [BinTerm(parameters: [1, 5])]),
        ]
        let linear = HistFactoryModel.linearYieldParameters(samples, parameterCount: 6)
        #expect(linear == [false, true, true, false, true, true])
        let twice = HistFactoryModel.linearYieldParameters(
            [Self.sample(scalars: [ScalarTerm(parameter: 0, interpolation: nil), ScalarTerm(parameter: 0, interpolation: nil)])], parameterCount: 1)
        #expect(twice == [false])
        let histo = HistFactoryModel.linearYieldParameters(
            [Self.sample(histos: [HistoTerm(parameter: 0, code: .code0, up: [1, 1], down: [1, 1])])], parameterCount: 1)
        #expect(histo == [false])
    }
}
