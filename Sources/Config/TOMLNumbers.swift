// TOML integers and floats: signs, `_` between digits, 0x/0o/0b, exponents, inf and nan.
// The grammar is checked here; the conversion is left to the standard library's Int and Double.

enum TOMLNumbers {
    enum Parsed: Equatable {
        case integer(Int)
        case float(Double)
        case outOfRange
        case invalidNumber
        /// Does not start like a number at all (for example an unquoted word).
        case notANumber
    }

    static func parse(_ token: String) -> Parsed {
        var body = Substring(token)
        var sign = ""
        if let first = body.first, first == "+" || first == "-" {
            sign = first == "-" ? "-" : ""
            body = body.dropFirst()
        }
        let hasSign = body.count != token.count
        if body == "inf" { return .float(sign == "-" ? -Double.infinity : Double.infinity) }
        if body == "nan" { return .float(Double.nan) }
        guard let first = body.utf8.first else { return hasSign ? .invalidNumber : .notANumber }
        guard ASCII.isDecimalDigit(first) else {
            return hasSign || first == TOMLCharacters.dot ? .invalidNumber : .notANumber
        }
        if let radixResult = parsePrefixedInteger(body, hasSign: hasSign) { return radixResult }
        return parseDecimal(body, sign: sign)
    }

    /// `0x1F`, `0o17`, `0b101`: no sign allowed.
    private static func parsePrefixedInteger(_ body: Substring, hasSign: Bool) -> Parsed? {
        let radix: Int
        let isDigit: (UInt8) -> Bool
        if body.hasPrefix("0x") {
            radix = 16
            isDigit = ASCII.isHexDigit
        } else if body.hasPrefix("0o") {
            radix = 8
            isDigit = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }
        } else if body.hasPrefix("0b") {
            radix = 2
            isDigit = { $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") }
        } else {
            return nil
        }
        guard !hasSign, let digits = digitsWithoutSeparators(body.dropFirst(2), isDigit: isDigit) else {
            return .invalidNumber
        }
        guard let number = Int(digits, radix: radix) else { return .outOfRange }
        return .integer(number)
    }

    private static func parseDecimal(_ body: Substring, sign: String) -> Parsed {
        let integerEnd = body.firstIndex { $0 == "." || $0 == "e" || $0 == "E" } ?? body.endIndex
        guard let integerDigits = digitsWithoutSeparators(body[..<integerEnd], isDigit: ASCII.isDecimalDigit),
              integerDigits == "0" || !integerDigits.hasPrefix("0") else {
            return .invalidNumber
        }
        var rest = body[integerEnd...]
        if rest.isEmpty {
            guard let number = Int(sign + integerDigits) else { return .outOfRange }
            return .integer(number)
        }
        var text = sign + integerDigits
        if rest.first == "." {
            rest = rest.dropFirst()
            let fractionEnd = rest.firstIndex { $0 == "e" || $0 == "E" } ?? rest.endIndex
            guard let fraction = digitsWithoutSeparators(rest[..<fractionEnd], isDigit: ASCII.isDecimalDigit) else {
                return .invalidNumber
            }
            text += "." + fraction
            rest = rest[fractionEnd...]
        }
        if !rest.isEmpty {
            rest = rest.dropFirst()  // "e" or "E"
            var exponentSign = ""
            if let first = rest.first, first == "+" || first == "-" {
                exponentSign = String(first)
                rest = rest.dropFirst()
            }
            guard let exponent = digitsWithoutSeparators(rest, isDigit: ASCII.isDecimalDigit) else {
                return .invalidNumber
            }
            text += "e" + exponentSign + exponent
        }
        guard let number = Double(text) else { return .invalidNumber }
        return number.isFinite ? .float(number) : .outOfRange
    }

    /// The digits with `_` removed, or nil unless each `_` sits between two digits.
    private static func digitsWithoutSeparators(_ text: Substring, isDigit: (UInt8) -> Bool) -> String? {
        var digits: [UInt8] = []
        var previousWasDigit = false
        for byte in text.utf8 {
            if byte == TOMLCharacters.underscore {
                guard previousWasDigit else { return nil }
                previousWasDigit = false
            } else {
                guard isDigit(byte) else { return nil }
                digits.append(byte)
                previousWasDigit = true
            }
        }
        guard previousWasDigit else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }

    /// `1979-05-27` or `07:32:00`: TOML dates and times, which the config does not use.
    static func looksLikeDateOrTime(_ token: String) -> Bool {
        let bytes = Array(token.utf8)
        func digits(_ range: Range<Int>) -> Bool {
            range.upperBound <= bytes.count && range.allSatisfy { ASCII.isDecimalDigit(bytes[$0]) }
        }
        let isDate = digits(0..<4) && bytes.count > 4 && bytes[4] == UInt8(ascii: "-")
        let isTime = digits(0..<2) && bytes.count > 2 && bytes[2] == UInt8(ascii: ":")
        return isDate || isTime
    }
}
