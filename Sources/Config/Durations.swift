/// Duration strings: a number with a unit, such as `"250ms"`, `"3s"`, `"1.5s"`, `"1m"`, `"1h"`,
/// `"500us"`, and sums of them (`"1m30s"`). Units: ns, us (or µs), ms, s, m, h.
/// A bare number has no unit and is refused, except `"0"`; negative durations are refused.
public enum Durations {
    private static let units: [(name: String, nanoseconds: Int128)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
        ("ms", 1_000_000), ("us", 1_000), ("µs", 1_000), ("ns", 1),
    ]

    public static func parse(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var totalNanoseconds: Int128 = 0
        var position = 0
        while position < bytes.count {
            // The number: digits, then optionally "." and more digits.
            var whole: Int128 = 0
            var wholeDigits = 0
            while position < bytes.count, ASCII.isDecimalDigit(bytes[position]) {
                whole = whole * 10 + Int128(bytes[position] - UInt8(ascii: "0"))
                guard whole <= Int128(Int64.max) else { return nil }
                wholeDigits += 1
                position += 1
            }
            guard wholeDigits > 0 else { return nil }
            var fraction: Int128 = 0
            var fractionScale: Int128 = 1
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                var fractionDigits = 0
                while position < bytes.count, ASCII.isDecimalDigit(bytes[position]) {
                    // Digits past the 18th are below a nanosecond even for hours: dropped.
                    if fractionScale < 1_000_000_000_000_000_000 {
                        fraction = fraction * 10 + Int128(bytes[position] - UInt8(ascii: "0"))
                        fractionScale *= 10
                    }
                    fractionDigits += 1
                    position += 1
                }
                guard fractionDigits > 0 else { return nil }
            }
            // The unit: everything up to the next number.
            let unitStart = position
            while position < bytes.count, !ASCII.isDecimalDigit(bytes[position]) { position += 1 }
            let unitName = String(decoding: bytes[unitStart..<position], as: UTF8.self)
            guard let unit = units.first(where: { $0.name == unitName }) else { return nil }
            totalNanoseconds += whole * unit.nanoseconds + fraction * unit.nanoseconds / fractionScale
            guard totalNanoseconds <= Int128(Int64.max) else { return nil }
        }
        return .nanoseconds(Int64(totalNanoseconds))
    }

    /// The largest unit that shows the duration exactly: `3s`, `250ms`, `1500ms` for 1.5 s,
    /// `90s`, `1h`. Whatever `format` returns, `parse` reads back (below a nanosecond is dropped).
    public static func format(_ duration: Duration) -> String {
        let components = duration.components
        let nanoseconds = Int128(components.seconds) * 1_000_000_000 + Int128(components.attoseconds / 1_000_000_000)
        if nanoseconds == 0 { return "0s" }
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        for unit in units where unit.name != "µs" && magnitude % UInt128(unit.nanoseconds) == 0 {
            return sign + String(magnitude / UInt128(unit.nanoseconds)) + unit.name
        }
        return sign + String(magnitude) + "ns"
    }
}
