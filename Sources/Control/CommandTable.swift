import Config

/// A command's failure: the reason, shown as `error: ...` (or {"error": ...}).
public struct CommandError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// One stats socket command. The table of them is the interface: `help` prints its usage
/// column, docs/stats.md is checked against it.
public struct Command: Sendable {
    /// The words that name it, like ["show", "info"].
    public let words: [String]
    /// The arguments after the words, as usage text.
    public let arguments: String
    public let summary: String
    /// The least privileged socket level that may run it.
    public let level: StatsLevel
    let run: @Sendable (_ arguments: [String], _ context: ControlContext) throws(CommandError) -> Report

    public var usage: String { (words + (arguments.isEmpty ? [] : [arguments])).joined(separator: " ") }
}

/// A command line split into the command, its arguments and the output form.
public struct Invocation: Sendable {
    public let command: Command
    public let arguments: [String]
    public let json: Bool
}

public enum CommandTable {
    /// Finds the command named by the longest matching prefix of `line`'s words; a trailing
    /// `json` asks for JSON output.
    public static func parse(_ line: String, in commands: [Command]) throws(CommandError) -> Invocation {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !words.isEmpty else { throw CommandError("empty command; try 'help'") }
        let json = words.count > 1 && words.last == "json"
        if json { words.removeLast() }
        let match = commands
            .filter { words.starts(with: $0.words) }
            .max { $0.words.count < $1.words.count }
        guard let command = match else { throw CommandError("unknown command '\(words.joined(separator: " "))'; try 'help'") }
        return Invocation(command: command, arguments: Array(words.dropFirst(command.words.count)), json: json)
    }

    /// Runs a parsed command on a socket of `level`; a command above it is refused.
    public static func execute(_ invocation: Invocation, level: StatsLevel, context: ControlContext) throws(CommandError) -> Report {
        let command = invocation.command
        guard level >= command.level else {
            throw CommandError("permission denied: '\(command.words.joined(separator: " "))' needs level \(command.level.rawValue); this socket is \(level.rawValue)")
        }
        return try command.run(invocation.arguments, context)
    }
}
