// Reading keys and values: strings, numbers, booleans, arrays. What the config does not need
// (dates, inline tables, multi-line strings) is refused with a message that says so.

extension TOMLScanner {
    mutating func parseKey() throws(TOMLSyntaxError) -> String {
        switch current {
        case TOMLCharacters.quote:
            return try parseBasicString()
        case TOMLCharacters.apostrophe:
            return try parseLiteralString()
        case let byte? where TOMLCharacters.isBareKeyByte(byte):
            let start = index
            while let byte = current, TOMLCharacters.isBareKeyByte(byte) { advance() }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        default:
            throw error("expected a key, found \(TOMLCharacters.describe(current))")
        }
    }

    mutating func parseValue() throws(TOMLSyntaxError) -> TOMLNode {
        let line = self.line
        switch current {
        case TOMLCharacters.quote:
            return TOMLNode(.string(try parseBasicString()), line: line)
        case TOMLCharacters.apostrophe:
            return TOMLNode(.string(try parseLiteralString()), line: line)
        case TOMLCharacters.openBracket:
            return try parseArray()
        case TOMLCharacters.openBrace:
            throw error("inline tables are not supported; use a [table] header")
        default:
            return TOMLNode(try parseBareValue(), line: line)
        }
    }

    // MARK: Strings

    private mutating func refuseMultiLineString(_ delimiter: UInt8) throws(TOMLSyntaxError) {
        if peek(1) == delimiter && peek(2) == delimiter {
            throw error("multi-line strings are not supported; write the string on one line")
        }
    }

    /// `"..."` with escapes `\" \\ \b \t \n \f \r \e`, `\u` with 4 hex digits and `\U` with 8.
    mutating func parseBasicString() throws(TOMLSyntaxError) -> String {
        try refuseMultiLineString(TOMLCharacters.quote)
        let startLine = line
        advance()
        var result: [UInt8] = []
        while true {
            guard let byte = current, byte != TOMLCharacters.newline, byte != TOMLCharacters.carriageReturn else {
                throw error("unterminated string: missing closing \"", line: startLine)
            }
            switch byte {
            case TOMLCharacters.quote:
                advance()
                return String(decoding: result, as: UTF8.self)
            case TOMLCharacters.backslash:
                try parseEscape(into: &result)
            default:
                if TOMLCharacters.isForbiddenControl(byte) {
                    throw error("control character \(TOMLCharacters.describe(byte)) in a string; escape it")
                }
                result.append(byte)
                advance()
            }
        }
    }

    private mutating func parseEscape(into result: inout [UInt8]) throws(TOMLSyntaxError) {
        advance()  // the backslash
        guard let letter = current else { throw error("unterminated string: missing closing \"") }
        advance()
        switch letter {
        case UInt8(ascii: "\""): result.append(TOMLCharacters.quote)
        case UInt8(ascii: "\\"): result.append(TOMLCharacters.backslash)
        case UInt8(ascii: "b"): result.append(0x08)
        case UInt8(ascii: "t"): result.append(TOMLCharacters.tab)
        case UInt8(ascii: "n"): result.append(TOMLCharacters.newline)
        case UInt8(ascii: "f"): result.append(0x0C)
        case UInt8(ascii: "r"): result.append(TOMLCharacters.carriageReturn)
        case UInt8(ascii: "e"): result.append(0x1B)
        case UInt8(ascii: "u"): try parseUnicodeEscape(digits: 4, into: &result)
        case UInt8(ascii: "U"): try parseUnicodeEscape(digits: 8, into: &result)
        default:
            throw error("invalid escape \"\\\(String(decoding: [letter], as: UTF8.self))\" in a string")
        }
    }

    private mutating func parseUnicodeEscape(digits: Int, into result: inout [UInt8]) throws(TOMLSyntaxError) {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let byte = current, ASCII.isHexDigit(byte),
                  let digit = UInt32(String(UnicodeScalar(byte)), radix: 16) else {
                throw error("invalid unicode escape: expected \(digits) hexadecimal digits")
            }
            value = value * 16 + digit
            advance()
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw error("invalid unicode escape: U+\(String(value, radix: 16, uppercase: true)) is not a Unicode scalar value")
        }
        UTF8.encode(scalar) { result.append($0) }
    }

    /// `'...'`: no escapes at all.
    mutating func parseLiteralString() throws(TOMLSyntaxError) -> String {
        try refuseMultiLineString(TOMLCharacters.apostrophe)
        let startLine = line
        advance()
        let start = index
        while true {
            guard let byte = current, byte != TOMLCharacters.newline, byte != TOMLCharacters.carriageReturn else {
                throw error("unterminated string: missing closing '", line: startLine)
            }
            if byte == TOMLCharacters.apostrophe { break }
            if TOMLCharacters.isForbiddenControl(byte) {
                throw error("control character \(TOMLCharacters.describe(byte)) in a string")
            }
            advance()
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        advance()
        return text
    }

    // MARK: Arrays

    /// `[a, b, c]`, possibly over several lines, with comments and a trailing comma.
    mutating func parseArray() throws(TOMLSyntaxError) -> TOMLNode {
        let startLine = line
        guard arrayDepth < Self.maximumNesting else {
            throw error("arrays are nested more than \(Self.maximumNesting) deep")
        }
        arrayDepth += 1
        defer { arrayDepth -= 1 }
        advance()
        var items: [TOMLNode] = []
        while true {
            try skipBlanksCommentsAndLineEnds()
            if current == TOMLCharacters.closeBracket { break }
            if current == nil { throw error("unterminated array: missing \"]\"", line: startLine) }
            items.append(try parseValue())
            try skipBlanksCommentsAndLineEnds()
            if current == TOMLCharacters.comma {
                advance()
            } else if current == TOMLCharacters.closeBracket {
                break
            } else if current == nil {
                throw error("unterminated array: missing \"]\"", line: startLine)
            } else {
                throw error("expected \",\" or \"]\" in an array, found \(TOMLCharacters.describe(current))")
            }
        }
        advance()
        return TOMLNode(.array(items), line: startLine)
    }

    // MARK: Booleans and numbers

    /// Unquoted values: booleans, integers, floats. Anything else gets a message saying what it
    /// looks like, so `level = info` tells the user to quote it.
    private mutating func parseBareValue() throws(TOMLSyntaxError) -> TOMLValue {
        let start = index
        while let byte = current, !Self.endsBareValue(byte) { advance() }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        if token.isEmpty {
            throw error("expected a value, found \(TOMLCharacters.describe(current))")
        }
        if token == "true" { return .boolean(true) }
        if token == "false" { return .boolean(false) }
        if TOMLNumbers.looksLikeDateOrTime(token) {
            throw error("dates and times are not supported; write durations as strings like \"3s\"")
        }
        switch TOMLNumbers.parse(token) {
        case .integer(let number): return .integer(number)
        case .float(let number): return .float(number)
        case .outOfRange: throw error("number \(token) is out of range")
        case .invalidNumber: throw error("invalid number \(token)")
        case .notANumber:
            throw error("invalid value \(token); strings must be quoted, like \(TOMLText.quoted(token))")
        }
    }

    private static func endsBareValue(_ byte: UInt8) -> Bool {
        switch byte {
        case TOMLCharacters.space, TOMLCharacters.tab, TOMLCharacters.newline, TOMLCharacters.carriageReturn,
             TOMLCharacters.comma, TOMLCharacters.closeBracket, TOMLCharacters.hash:
            return true
        default:
            return false
        }
    }
}
