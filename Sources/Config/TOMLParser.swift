/// A small TOML reader for the config file. It keeps the line of every key, header and value.
///
/// Supported: comments, `[table]`, `[[array.of.tables]]`, `key = value` with bare and quoted
/// keys, basic and literal strings, integers, floats, booleans, arrays. Refused with a clear
/// message: dates, inline tables, multi-line strings, dotted keys.
public enum TOMLParser {
    public static func parse(text: String, file: String) throws(TOMLSyntaxError) -> TOMLTable {
        var scanner = TOMLScanner(text: text, file: file)
        var builder = TOMLDocumentBuilder(file: file)
        while true {
            scanner.skipBlanks()
            try scanner.skipComment()
            guard let byte = scanner.current else { break }
            if try scanner.consumeLineEnd() { continue }
            if byte == TOMLCharacters.openBracket {
                let line = scanner.line
                let (path, isArray) = try parseHeader(&scanner)
                try builder.openTable(path: path, isArray: isArray, line: line)
                try scanner.expectLineEnd(after: "the table header")
            } else {
                let line = scanner.line
                let (key, node) = try parseKeyValue(&scanner)
                try builder.insert(key: key, line: line, node: node)
                try scanner.expectLineEnd(after: "the value of \(TOMLText.key(key))")
            }
        }
        return builder.root
    }

    /// `[a.b]` or `[[a.b]]`; dots are allowed in header paths.
    private static func parseHeader(_ scanner: inout TOMLScanner) throws(TOMLSyntaxError) -> (path: [String], isArray: Bool) {
        scanner.advance()
        let isArray = scanner.current == TOMLCharacters.openBracket
        if isArray { scanner.advance() }
        var path: [String] = []
        while true {
            scanner.skipBlanks()
            path.append(try scanner.parseKey())
            scanner.skipBlanks()
            guard scanner.current == TOMLCharacters.dot else { break }
            // The builder recurses once per part: keep that bounded.
            guard path.count < TOMLScanner.maximumNesting else {
                throw scanner.error("a table header has more than \(TOMLScanner.maximumNesting) parts")
            }
            scanner.advance()
        }
        let closing = isArray ? "]]" : "]"
        guard scanner.current == TOMLCharacters.closeBracket,
              !isArray || scanner.peek(1) == TOMLCharacters.closeBracket else {
            // For "[[a]x" say what follows the first "]".
            let found = scanner.current == TOMLCharacters.closeBracket ? scanner.peek(1) : scanner.current
            throw scanner.error("expected \"\(closing)\" to close the header, found \(TOMLCharacters.describe(found))")
        }
        scanner.advance(isArray ? 2 : 1)
        return (path, isArray)
    }

    private static func parseKeyValue(_ scanner: inout TOMLScanner) throws(TOMLSyntaxError) -> (key: String, node: TOMLNode) {
        let key = try scanner.parseKey()
        scanner.skipBlanks()
        if scanner.current == TOMLCharacters.dot {
            throw scanner.error("dotted keys are not supported (\(TOMLText.key(key)).…); use a [table] header instead")
        }
        guard scanner.current == TOMLCharacters.equals else {
            throw scanner.error("expected \"=\" after key \(TOMLText.key(key)), found \(TOMLCharacters.describe(scanner.current))")
        }
        scanner.advance()
        scanner.skipBlanks()
        if scanner.isAtLineEnd || scanner.current == TOMLCharacters.hash {
            throw scanner.error("missing value after \(TOMLText.key(key)) =")
        }
        return (key, try scanner.parseValue())
    }
}
