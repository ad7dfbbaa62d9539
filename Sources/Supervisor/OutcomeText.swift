/// Reasons made fit for one line of `show info` and for the log: a refusal may carry thousands
/// of errors, and the channel to a worker carries one message of bounded size.
public enum OutcomeText {
    /// Lines shown in a record before "(and N more)".
    public static let recordLines = 10
    /// The longest record detail, in UTF-8 bytes.
    public static let maximumBytes = 2048

    /// The first `recordLines` lines joined by "; ", with the count of the rest, at most
    /// `maximumBytes`.
    public static func summary(_ text: String) -> String {
        let lines = nonEmptyLines(text)
        var summary = lines.prefix(recordLines).joined(separator: "; ")
        if lines.count > recordLines { summary += " (and \(lines.count - recordLines) more)" }
        return truncated(summary)
    }

    /// The first `count` lines, and a last one saying how many were left out.
    public static func firstLines(_ text: String, count: Int) -> String {
        let lines = nonEmptyLines(text)
        guard lines.count > count else { return lines.joined(separator: "\n") }
        return (lines.prefix(count) + ["(and \(lines.count - count) more lines)"]).joined(separator: "\n")
    }

    /// One line (newlines become "; "), at most `maximumBytes`.
    public static func oneLine(_ text: String) -> String {
        truncated(nonEmptyLines(text).joined(separator: "; "))
    }

    private static func nonEmptyLines(_ text: String) -> [Substring] {
        text.split(whereSeparator: \.isNewline)
    }

    private static func truncated(_ text: String) -> String {
        guard text.utf8.count > maximumBytes else { return text }
        var cut = ""
        for character in text {
            if cut.utf8.count + character.utf8.count > maximumBytes - 4 { break }
            cut.append(character)
        }
        return cut + " ..."
    }
}
