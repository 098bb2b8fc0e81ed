import Foundation

/// A number for people: `digits` significant digits (`%g`), `nan`/`inf` as Swift writes them.
public func formatted(_ x: Double, _ digits: Int = 6) -> String {
    x.isFinite ? String(format: "%.\(digits)g", x) : "\(x)"
}
