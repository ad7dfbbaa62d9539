/// Byte sizes: a plain integer, or an integer with a suffix, all powers of 1024:
/// `KiB`/`K`/`k`, `MiB`/`M`/`m`, `GiB`/`G`/`g`. No fractions, no spaces, no decimal (`KB`) units,
/// so there is never a doubt whether 1000 or 1024 is meant.
public enum ByteSizes {
    private static let units: [(suffixes: [String], bytes: Int)] = [
        (["GiB", "G", "g"], 1 << 30),
        (["MiB", "M", "m"], 1 << 20),
        (["KiB", "K", "k"], 1 << 10),
    ]

    public static func parse(_ text: String) -> Int? {
        let digitsEnd = text.utf8.firstIndex { !ASCII.isDecimalDigit($0) } ?? text.utf8.endIndex
        let digits = text[..<digitsEnd]
        let suffix = String(text[digitsEnd...])
        guard !digits.isEmpty, let number = Int(digits) else { return nil }
        if suffix.isEmpty { return number }
        guard let unit = units.first(where: { $0.suffixes.contains(suffix) }) else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit.bytes)
        return overflow ? nil : bytes
    }

    /// `256KiB`, `1MiB`, `1GiB` when exact, otherwise the plain number of bytes.
    public static func format(_ bytes: Int) -> String {
        for unit in units where bytes != 0 && bytes % unit.bytes == 0 {
            return "\(bytes / unit.bytes)\(unit.suffixes[0])"
        }
        return String(bytes)
    }
}
