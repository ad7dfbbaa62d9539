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
        var lines: [String] = []
        appendText(to: &lines)
        return lines.map { $0 + "\n" }.joined()
    }

    private func appendText(to lines: inout [String]) {
        switch self {
        case .fields(let fields):
            for (key, value) in fields { lines.append("\(key): \(value.plainText)") }
        case .table(let columns, let rows):
            lines.append(columns.joined(separator: "\t"))
            for row in rows { lines.append(row.map(\.plainText).joined(separator: "\t")) }
        case .sections(let sections):
            for (name, report) in sections {
                lines.append("# \(name)")
                report.appendText(to: &lines)
            }
        case .message(let text):
            lines.append(contentsOf: text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init))
        case .preformatted(let text, _):
            lines.append(contentsOf: text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init))
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
