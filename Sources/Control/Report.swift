/// What a command answers, rendered as text (for people and scripts: one record per line,
/// fields separated by tabs, no empty lines, since an empty line ends the answer) or as one
/// JSON document.
public indirect enum Report: Sendable {
    /// Named values: `key: value` lines; a JSON object.
    case fields([(String, JSONValue)])
    /// A header line and one line per row; a JSON array of objects.
    case table(columns: [String], rows: [[JSONValue]])
    /// Named parts: `# name` then the part; a JSON object of parts.
    case sections([(String, Report)])
    /// A line of text; {"message": ...}.
    case message(String)
    /// Text and JSON given as they are (the Prometheus exposition of `show metrics`).
    case preformatted(text: String, json: JSONValue)

    public var text: String {
        var output = ""
        appendText(to: &output)
        return output
    }

    /// Appends every line, each ended by "\n", to one growing string.
    private func appendText(to output: inout String) {
        switch self {
        case .fields(let fields):
            for (key, value) in fields {
                output += key
                output += ": "
                value.appendPlainText(to: &output)
                output += "\n"
            }
        case .table(let columns, let rows):
            // About 80 bytes a row: one allocation for most tables instead of one per doubling.
            output.reserveCapacity(output.utf8.count + 80 * (rows.count + 1))
            output += columns.joined(separator: "\t")
            output += "\n"
            for row in rows {
                for (index, value) in row.enumerated() {
                    if index > 0 { output += "\t" }
                    value.appendPlainText(to: &output)
                }
                output += "\n"
            }
        case .sections(let sections):
            for (name, report) in sections {
                output += "# \(name)\n"
                report.appendText(to: &output)
            }
        case .message(let text), .preformatted(let text, _):
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                output += line
                output += "\n"
            }
        }
    }

    public var json: JSONValue {
        switch self {
        case .fields(let fields): return .object(fields)
        case .table(let columns, let rows):
            return .array(rows.map { row in .object(Array(zip(columns, row))) })
        case .sections(let sections): return .object(sections.map { ($0.0, $0.1.json) })
        case .message(let text): return .object([("message", .string(text))])
        case .preformatted(_, let json): return json
        }
    }
}
