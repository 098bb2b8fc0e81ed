import HistFactory
import _SeededRandom

/// Random points of `model` (coefficients within ±0.05, every free nuisance parameter moved);
/// the per-bin γ's stay at 1 when `gammasAtOne`.
func randomPoints(_ model: HistFactoryModel, coefficients: Set<String>, gammasAtOne: Bool, count: Int, seed: UInt64) -> [[Double]] {
    var generator = SplitMix64(state: seed)
    return (0 ..< count).map { _ in
        var x = model.suggestedInits
        for set in model.parameterSets {
            if gammasAtOne && !set.isScalar { continue }
            for i in set.indices where !model.suggestedFixed[i] {
                let v: Double
                if coefficients.contains(set.name) { v = Double.random(in: -0.05 ... 0.05, using: &generator) }
                else if x[i] == 0 { v = Double.random(in: -1.2 ... 1.2, using: &generator) }
                else { v = x[i] * Double.random(in: 0.9 ... 1.1, using: &generator) }
                x[i] = min(max(v, model.suggestedBounds[i].lowerBound), model.suggestedBounds[i].upperBound)
            }
        }
        return x
    }
}
