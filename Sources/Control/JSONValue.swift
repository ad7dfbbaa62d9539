/// A JSON document built in a fixed key order (the stats socket's schema is stable: fields keep
/// their order and new ones are added at the end).
public indirect enum JSONValue: Sendable, Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case null

    public static func == (left: JSONValue, right: JSONValue) -> Bool { left.rendered == right.rendered }

    /// Compact JSON text.
    public var rendered: String {
        var output = ""
        render(into: &output)
        return output
    }

    func render(into output: inout String) {
        switch self {
        case .object(let members):
            output += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output += "," }
                Self.renderString(key, into: &output)
                output += ":"
                value.render(into: &output)
            }
            output += "}"
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                element.render(into: &output)
            }
            output += "]"
        case .string(let text): Self.renderString(text, into: &output)
        case .integer(let value): output += String(value)
        case .number(let value): output += value.isFinite ? String(value) : "null"
        case .boolean(let value): output += value ? "true" : "false"
        case .null: output += "null"
        }
    }

    /// The value as one text field: no quotes, tabs or newlines.
    var plainText: String {
        var text = ""
        appendPlainText(to: &text)
        return text
    }

    /// Appends the text form: tabs and line breaks inside a string become spaces (a line is a
    /// record, a tab separates fields). In place: a table of thousands of rows grows one string
    /// instead of making a string per cell.
    func appendPlainText(to output: inout String) {
        switch self {
        case .string(let text):
            if !text.utf8.contains(where: { $0 == 9 || $0 == 10 || $0 == 13 }) {
                output += text
                return
            }
            // Scalars, not Characters: "\r\n" is one Character and would slip past a "\n" match.
            for scalar in text.unicodeScalars {
                output.unicodeScalars.append(scalar == "\t" || scalar == "\n" || scalar == "\r" ? " " : scalar)
            }
        case .integer(let value): output += String(value)
        case .number(let value): output += String(value)
        case .boolean(let value): output += value ? "yes" : "no"
        case .null: output += "-"
        case .object, .array: render(into: &output)
        }
    }

    private static func renderString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
