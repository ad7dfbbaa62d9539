import Config

/// Fuzz target `config`: the TOML reader and the config validator. Whatever the text, parsing
/// never traps, and a refusal names this file and a line of it with a message, in line order;
/// a text that parses once parses again to the same config.
public enum ConfigParserCheck {
    static let file = "fuzz.toml"

    public static func run(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let lineCount = text.utf8.count { $0 == UInt8(ascii: "\n") } + 1
        do throws(ConfigErrors) {
            let config = try ConfigParser.parse(text: text, file: file)
            let again = try? ConfigParser.parse(text: text, file: file)
            require(again == config, "the same text parsed to a different config")
        } catch {
            require(!error.issues.isEmpty, "a refusal without an issue")
            for issue in error.issues {
                require(issue.file == file, "an issue names file \(issue.file)")
                require((1...lineCount).contains(issue.line), "an issue names line \(issue.line) of \(lineCount): \(issue)")
                require(!issue.message.isEmpty, "an issue without a message: \(issue)")
                require(!issue.message.hasPrefix("internal error"), "\(issue)")
            }
            require(error.issues.map(\.line) == error.issues.map(\.line).sorted(), "issues out of line order")
        }
    }
}
