import Config

/// One command line of a stats socket turned into its answer: the part of a stats connection
/// that needs no socket, shared with the stats fuzz target (Sources/BulwarkFuzzChecks).
public enum StatsCommandLine {
    public enum Kind: Equatable, Sendable {
        /// Toggles interactive mode (answered by the connection).
        case prompt
        /// Closes the connection (answered by the connection).
        case quit
        /// Anything else: run it with `answer`.
        case command(String)
    }

    /// What a received line asks for. A "\r" at its end (telnet, `nc -C`) and blanks around
    /// it do not count.
    public static func classify(_ rawLine: String) -> Kind {
        let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : rawLine
        let trimmed = line.trimmingCharacters(in: " \t")
        switch trimmed {
        case "prompt": return .prompt
        case "quit": return .quit
        default: return .command(trimmed)
        }
    }

    /// The answer to one command, as text or JSON as it asked; a failure is an answer too
    /// (`error: ...`, or {"error": ...} when the line ended in `json`).
    public static func answer(_ command: String, level: StatsLevel, context: ControlContext) -> String {
        // Decided from the line itself (split as the parser splits it), so that an error answers
        // in the form that was asked for.
        let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let json = words.count > 1 && words.last == "json"
        do {
            let invocation = try CommandTable.parse(command, in: Commands.all)
            let report = try CommandTable.execute(invocation, level: level, context: context)
            return invocation.json ? report.json.rendered + "\n" : report.text
        } catch {
            return json ? JSONValue.object([("error", .string(error.message))]).rendered + "\n" : "error: \(error.message)\n"
        }
    }
}

extension String {
    func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        var slice = self[...]
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
