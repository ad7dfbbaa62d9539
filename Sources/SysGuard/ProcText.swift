/// Small helpers for the text of /proc files; no Foundation.
enum ProcText {
    /// Unsigned decimal digits only ("0", "16318412"); nil when empty, not a number or too big.
    static func decimalInteger<Digits: Collection<UInt8>>(_ digits: Digits) -> Int? {
        guard !digits.isEmpty else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            let (sum, sumOverflow) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !sumOverflow else { return nil }
            value = sum
        }
        return value
    }

    /// "12.34" or "7": digits, then optionally "." and at least one digit.
    static func decimalNumber<Text: Collection<UInt8>>(_ text: Text) -> Double? {
        guard let dot = text.firstIndex(of: UInt8(ascii: ".")) else {
            return decimalInteger(text).map(Double.init)
        }
        let fraction = text[text.index(after: dot)...]
        guard let whole = decimalInteger(text[..<dot]), !fraction.isEmpty, fraction.count <= 18,
              let fractionValue = decimalInteger(fraction) else { return nil }
        var scale = 1.0
        for _ in 0..<fraction.count { scale *= 10 }
        return Double(whole) + Double(fractionValue) / scale
    }
}
