import Foundation
import Morphing

/// The statistics of a file's event weights at one point in Wilson-coefficient space: how many
/// events, their range and sign, and how many unweighted events they are worth.
public struct WeightStatistics: Sendable, Codable, Equatable {
    /// The number of events `N`.
    public let eventCount: Int
    /// `Σ_e w_e(c)`.
    public let sumOfWeights: Double
    /// `Σ_e w_e(c)²`.
    public let sumOfSquaredWeights: Double
    /// `min_e w_e(c)`, `max_e w_e(c)` (nil for a file without events).
    public let minimum: Double?
    public let maximum: Double?
    /// The number of events with `w_e(c) < 0`.
    public let negativeCount: Int

    /// The fraction of events with a negative weight.
    public var negativeFraction: Double { eventCount > 0 ? Double(negativeCount) / Double(eventCount) : 0 }

    /// Kish's effective number of events, `N_eff = (Σ w)² / Σ w²`: the number of unit-weight events
    /// with the same relative statistical uncertainty of the sum (L. Kish, *Survey Sampling*, 1965,
    /// §11.7); 0 when every weight is 0.
    public var effectiveEventCount: Double { sumOfSquaredWeights > 0 ? sumOfWeights * sumOfWeights / sumOfSquaredWeights : 0 }

    enum CodingKeys: String, CodingKey {
        case eventCount = "events", sumOfWeights = "sum_of_weights", sumOfSquaredWeights = "sum_of_squared_weights", minimum, maximum
        case negativeCount = "negative_events", negativeFraction = "negative_fraction", effectiveEventCount = "effective_events"
    }

    public init(eventCount: Int, sumOfWeights: Double, sumOfSquaredWeights: Double, minimum: Double?, maximum: Double?, negativeCount: Int) {
        self.eventCount = eventCount
        self.sumOfWeights = sumOfWeights
        self.sumOfSquaredWeights = sumOfSquaredWeights
        self.minimum = minimum
        self.maximum = maximum
        self.negativeCount = negativeCount
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(eventCount: try c.decode(Int.self, forKey: .eventCount), sumOfWeights: try c.decode(Double.self, forKey: .sumOfWeights),
                  sumOfSquaredWeights: try c.decode(Double.self, forKey: .sumOfSquaredWeights), minimum: try c.decodeIfPresent(Double.self, forKey: .minimum),
                  maximum: try c.decodeIfPresent(Double.self, forKey: .maximum), negativeCount: try c.decode(Int.self, forKey: .negativeCount))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(eventCount, forKey: .eventCount)
        try c.encode(sumOfWeights, forKey: .sumOfWeights)
        try c.encode(sumOfSquaredWeights, forKey: .sumOfSquaredWeights)
        if let minimum { try c.encode(minimum, forKey: .minimum) } else { try c.encodeNil(forKey: .minimum) }
        if let maximum { try c.encode(maximum, forKey: .maximum) } else { try c.encodeNil(forKey: .maximum) }
        try c.encode(negativeCount, forKey: .negativeCount)
        try c.encode(negativeFraction, forKey: .negativeFraction)
        try c.encode(effectiveEventCount, forKey: .effectiveEventCount)
    }
}

extension EventFile {
    /// The statistics of the weights `w_e(c) = Σ_t a_et m_t(c)` of every event of the file (no
    /// binning, no selection) at `coefficients` (in ``coefficientNames`` order), in one pass over
    /// the coefficient columns, streamed when they do not fit the memory budget.
    ///
    /// - Throws: ``EventDatabaseError`` when `coefficients` has the wrong length or a column cannot be read.
    /// - Complexity: O(N·T); reads `8T` bytes per event.
    public func weightStatistics(at coefficients: [Double]) throws(EventDatabaseError) -> WeightStatistics {
        let layout = _file.layout
        guard coefficients.count == layout.coefficientNames.count, coefficients.allSatisfy(\.isFinite) else {
            throw EventDatabaseError(.invalidValue, "\(coefficients.count) finite coefficient values are needed, one for each of \(layout.coefficientNames)", file: path)
        }
        // Only the monomials that do not vanish at c are read.
        let terms = layout.monomials.indices.compactMap { t -> (column: Int, value: Double)? in
            let m = layout.monomials[t].value(at: coefficients)
            return m == 0 ? nil : (layout.coefficientColumns[t], m)
        }
        let N = layout.eventCount
        var sum = 0.0, sum2 = 0.0, negative = 0
        var low = Double.infinity, high = -Double.infinity
        if terms.isEmpty {
            // Every weight is 0 at this point.
            return WeightStatistics(eventCount: N, sumOfWeights: 0, sumOfSquaredWeights: 0, minimum: N > 0 ? 0 : nil, maximum: N > 0 ? 0 : nil, negativeCount: 0)
        }
        let source = try _ColumnSource(file: _file, columns: terms.map(\.column), budget: budget)
        let values = terms.map(\.value)
        do throws(EventDatabaseError) {
            try source.forEachPiece(of: 0 ..< N) { _, count, columns in
                for i in 0 ..< count {
                    var w = 0.0
                    for j in values.indices { w += columns[j][i] * values[j] }
                    sum += w
                    sum2 += w * w
                    if w < 0 { negative += 1 }
                    low = min(low, w)
                    high = max(high, w)
                }
            }
        } catch {
            throw EventDatabaseError(error.code, error.message, file: path, dataset: error.dataset)
        }
        return WeightStatistics(eventCount: N, sumOfWeights: sum, sumOfSquaredWeights: sum2, minimum: N > 0 ? low : nil, maximum: N > 0 ? high : nil,
                                negativeCount: negative)
    }
}
