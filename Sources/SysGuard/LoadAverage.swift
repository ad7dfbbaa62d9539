/// The 1-minute load average from /proc/loadavg.
public enum LoadAverage {
    /// Parses "0.52 0.58 0.59 1/467 12345\n" and returns the first field. Nil unless the text
    /// has its five fields with three decimal load figures first (a file cut short, or garbage).
    public static func parse(_ text: String) -> Double? {
        let fields = text.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
        guard fields.count == 5, fields[3].contains(UInt8(ascii: "/")) else { return nil }
        guard let oneMinute = ProcText.decimalNumber(fields[0]),
              ProcText.decimalNumber(fields[1]) != nil, ProcText.decimalNumber(fields[2]) != nil else { return nil }
        return oneMinute
    }
}
