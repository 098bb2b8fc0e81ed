/// How ``JSON/serialized(_:)`` lays out text.
public enum JSONStyle: Sendable {
    /// No blank space at all.
    case compact
    /// Two-space indentation, keys in their stored order.
    case pretty
    /// Python's `json.dumps(obj, sort_keys=True, ensure_ascii=False)`: `", "` and `": "`
    /// separators, sorted keys, floats as Python's `repr`. pyhf's digests hash exactly this text.
    case pythonSortedKeys
    /// Python's `json.dumps(obj, indent=4, sort_keys=True)`: what pyhf's command line prints
    /// (`pyhf prune`, `combine`, …), so that efthf's output of the same command is the same text.
    /// Four-space indentation, `","` and `": "` separators, sorted keys, non-ASCII characters
    /// escaped as `\uXXXX` (UTF-16, as `ensure_ascii=True` does).
    case pythonIndented
}

extension JSON {
    /// The value as JSON text (RFC 8259). A non-finite number, which JSON cannot represent, comes
    /// out as `null`: documents that can hold one say so with a status member beside it.
    public func serialized(_ style: JSONStyle = .compact) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(into: &out, style: style, indent: 0)
        return out
    }

    private func write(into out: inout String, style: JSONStyle, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += d.isFinite ? JSON.pythonRepr(d) : "null"
        case .string(let s): JSON.writeString(s, into: &out, asciiOnly: style == .pythonIndented)
        case .array(let elements):
            if elements.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (k, element) in elements.enumerated() {
                if k > 0 { out += style == .pythonSortedKeys ? ", " : "," }
                if style == .pretty || style == .pythonIndented { newline(&out, indent + 1, style) }
                element.write(into: &out, style: style, indent: indent + 1)
            }
            if style == .pretty || style == .pythonIndented { newline(&out, indent, style) }
            out += "]"
        case .object(let object):
            if object.count == 0 {
                out += "{}"
                return
            }
            out += "{"
            var order = Array(0..<object.count)
            if style == .pythonSortedKeys || style == .pythonIndented {
                // Python sorts str keys by code point; Swift's String < compares scalars in the same order.
                order.sort { object.keys[$0].unicodeScalars.lexicographicallyPrecedes(object.keys[$1].unicodeScalars) }
            }
            for (n, k) in order.enumerated() {
                if n > 0 { out += style == .pythonSortedKeys ? ", " : "," }
                if style == .pretty || style == .pythonIndented { newline(&out, indent + 1, style) }
                JSON.writeString(object.keys[k], into: &out, asciiOnly: style == .pythonIndented)
                out += style == .compact ? ":" : ": "
                object.values[k].write(into: &out, style: style, indent: indent + 1)
            }
            if style == .pretty || style == .pythonIndented { newline(&out, indent, style) }
            out += "}"
        }
    }

    private func newline(_ out: inout String, _ level: Int, _ style: JSONStyle) {
        out += "\n"
        out += String(repeating: style == .pythonIndented ? "    " : "  ", count: level)
    }

    /// Escapes as Python's `json` does: with `ensure_ascii=False`, or, with `asciiOnly`, with
    /// `ensure_ascii=True` (every non-ASCII character as `\uXXXX`, UTF-16 surrogate pairs above U+FFFF).
    static func writeString(_ s: String, into out: inout String, asciiOnly: Bool = false) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E) {
                    for unit in String(scalar).utf16 {
                        let hex = String(unit, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for decimal
    /// exponents in [-4, 16), otherwise `d.ddde±XX`.
    ///
    /// Swift's `description` already yields the shortest round-trip digits (SwiftDtoa); only the
    /// layout differs, so the digits are taken from it and laid out again.
    public static func pythonRepr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        var text = Substring(value.description)
        var sign = ""
        if text.first == "-" {
            sign = "-"
            text = text.dropFirst()
        }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...])!
            text = text[..<e]
        }
        // text is now "digits[.digits]"; decimalPoint = number of digits before the point.
        var digits = ""
        var pointPosition = 0
        if let dot = text.firstIndex(of: ".") {
            digits = String(text[..<dot]) + String(text[text.index(after: dot)...])
            pointPosition = text.distance(from: text.startIndex, to: dot)
        } else {
            digits = String(text)
            pointPosition = digits.count
        }
        // Normalise: strip leading zeros (adjusting the point) and trailing zeros.
        while digits.first == "0" && digits.count > 1 {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.last == "0" && digits.count > 1 { digits.removeLast() }
        let decimalExponent = pointPosition + exponent - 1  // exponent of the leading digit
        if decimalExponent >= -4 && decimalExponent < 16 {
            let intDigits = decimalExponent + 1
            if intDigits <= 0 {
                return sign + "0." + String(repeating: "0", count: -intDigits) + digits
            } else if intDigits >= digits.count {
                return sign + digits + String(repeating: "0", count: intDigits - digits.count) + ".0"
            } else {
                let i = digits.index(digits.startIndex, offsetBy: intDigits)
                return sign + digits[..<i] + "." + digits[i...]
            }
        }
        var mantissa = String(digits.first!)
        if digits.count > 1 { mantissa += "." + digits.dropFirst() }
        let expSign = decimalExponent < 0 ? "-" : "+"
        let expDigits = String(abs(decimalExponent))
        return sign + mantissa + "e" + expSign + (expDigits.count < 2 ? "0" : "") + expDigits
    }
}
