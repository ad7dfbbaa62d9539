import BulwarkSys

/// A flat JSON object written by hand (the tool stays Foundation-free); keys keep their order.
struct JSONObject {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: Int) { fields.append("\"\(key)\": \(value)") }
    mutating func add(_ key: String, _ value: UInt64) { fields.append("\"\(key)\": \(value)") }
    mutating func add(_ key: String, _ value: Double, decimals: Int = 1) {
        fields.append("\"\(key)\": \(value.isFinite ? fixed(value, decimals) : "null")")
    }
    mutating func add(_ key: String, _ value: String) { fields.append("\"\(key)\": \(quoted(value))") }
    mutating func add(_ key: String, _ values: [String]) {
        fields.append("\"\(key)\": [" + values.map(quoted).joined(separator: ", ") + "]")
    }
    mutating func addNull(_ key: String) { fields.append("\"\(key)\": null") }

    var text: String { "{" + fields.joined(separator: ", ") + "}" }

    private func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// `value` with `decimals` digits after the point (no Foundation formatting).
func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "nan" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return String(value) }
    let whole = UInt64(scaled)
    let divisor = UInt64(scale)
    var text = (value < 0 && whole != 0 ? "-" : "") + String(whole / divisor)
    if decimals > 0 {
        let fraction = String(whole % divisor)
        text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
    return text
}

func microseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }

/// Up to a few distinct error messages, with how often each happened.
struct ErrorLog {
    private(set) var count = 0
    private(set) var samples: [String] = []
    private var sampleCounts: [Int] = []

    mutating func note(_ message: String) {
        count += 1
        if let index = samples.firstIndex(of: message) {
            sampleCounts[index] += 1
        } else if samples.count < 8 {
            samples.append(message)
            sampleCounts.append(1)
        }
    }

    mutating func merge(_ other: ErrorLog) {
        count += other.count - other.sampleCounts.reduce(0, +)
        for (message, times) in zip(other.samples, other.sampleCounts) {
            for _ in 0..<times { note(message) }
        }
    }

    var summary: [String] { zip(samples, sampleCounts).map { "\($0.0) (x\($0.1))" } }
}

func printLine(_ text: String) {
    StandardStreams.writeOutput(text)
}
