// The cursor over the file's UTF-8 bytes: position, line counting, blanks, comments and line ends.
// Values and keys are read in TOMLValueScanning.swift; the table structure is in TOMLDocumentBuilder.

enum TOMLCharacters {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let backslash = UInt8(ascii: "\\")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let comma = UInt8(ascii: ",")
    static let dot = UInt8(ascii: ".")
    static let equals = UInt8(ascii: "=")
    static let underscore = UInt8(ascii: "_")

    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        ASCII.isLetterOrDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    /// Control characters TOML does not allow raw in strings and comments (tab is allowed).
    static func isForbiddenControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != tab) || byte == 0x7F
    }

    /// How a byte is shown in "found X" messages.
    static func describe(_ byte: UInt8?) -> String {
        guard let byte else { return "end of file" }
        switch byte {
        case newline, carriageReturn: return "end of line"
        case space: return "a space"
        case tab: return "a tab"
        case 0x21...0x7E: return "\"" + String(UnicodeScalar(byte)) + "\""
        default: return "byte 0x" + String(byte, radix: 16, uppercase: true)
        }
    }
}

struct TOMLScanner {
    let bytes: [UInt8]
    let file: String
    var index = 0
    var line = 1
    /// Arrays being read (nested); bounded so a hostile file cannot exhaust the stack.
    var arrayDepth = 0
    static let maximumNesting = 64

    init(text: String, file: String) {
        var bytes = Array(text.utf8)
        // A UTF-8 byte order mark is not part of the document.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        self.bytes = bytes
        self.file = file
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    func peek(_ offset: Int) -> UInt8? {
        let position = index + offset
        return position < bytes.count ? bytes[position] : nil
    }

    /// Moves past one byte on the current line. Line ends go through `consumeLineEnd`.
    mutating func advance(_ count: Int = 1) {
        index = min(index + count, bytes.count)
    }

    func error(_ message: String, line: Int? = nil) -> TOMLSyntaxError {
        TOMLSyntaxError(file: file, line: line ?? self.line, message: message)
    }

    var isAtLineEnd: Bool {
        current == nil || current == TOMLCharacters.newline || current == TOMLCharacters.carriageReturn
    }

    mutating func skipBlanks() {
        while current == TOMLCharacters.space || current == TOMLCharacters.tab { advance() }
    }

    /// Skips a `#` comment up to (not including) the line end.
    mutating func skipComment() throws(TOMLSyntaxError) {
        guard current == TOMLCharacters.hash else { return }
        while let byte = current, byte != TOMLCharacters.newline, byte != TOMLCharacters.carriageReturn {
            if TOMLCharacters.isForbiddenControl(byte) {
                throw error("control character \(TOMLCharacters.describe(byte)) in a comment")
            }
            advance()
        }
    }

    /// Consumes `\n` or `\r\n` and counts the line; returns false when not at a line end.
    mutating func consumeLineEnd() throws(TOMLSyntaxError) -> Bool {
        switch current {
        case TOMLCharacters.newline:
            advance()
        case TOMLCharacters.carriageReturn:
            guard peek(1) == TOMLCharacters.newline else {
                throw error("carriage return not followed by a line feed")
            }
            advance(2)
        default:
            return false
        }
        line += 1
        return true
    }

    /// Inside arrays: blanks, comments and line ends may appear between elements.
    mutating func skipBlanksCommentsAndLineEnds() throws(TOMLSyntaxError) {
        while true {
            skipBlanks()
            try skipComment()
            if try !consumeLineEnd() { return }
        }
    }

    /// After a key/value pair or a header only a comment may follow on the same line.
    mutating func expectLineEnd(after what: String) throws(TOMLSyntaxError) {
        skipBlanks()
        try skipComment()
        if current == nil { return }
        if try !consumeLineEnd() {
            throw error("unexpected \(TOMLCharacters.describe(current)) after \(what); expected the end of the line")
        }
    }
}
