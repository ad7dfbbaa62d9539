import Config
import Testing

@Suite("TOML parser: syntax errors name the line")
struct TOMLSyntaxErrorTests {
    @Test func descriptionIsFileLineMessage() {
        let error = TOMLSyntaxError(file: "etc/bulwark.toml", line: 7, message: "boom")
        #expect(error.description == "etc/bulwark.toml:7: boom")
    }

    @Test func duplicateKeyNamesBothLines() {
        let error = syntaxError("""
            [server]
            workers = 1

            workers = 2
            """)
        #expect(error?.description == "t.toml:4: duplicate key workers (first defined on line 2)")
    }

    @Test func duplicateKeyInAnArrayOfTablesElement() {
        let error = syntaxError("""
            [[listener]]
            name = "a"
            [[listener]]
            name = "b"
            "name" = "c"
            """)
        #expect(error?.description == "t.toml:5: duplicate key name (first defined on line 4)")
    }

    @Test func keyClashingWithASubTable() {
        let error = syntaxError("""
            [a.b]
            [a]
            b = 1
            """)
        #expect(error?.description == "t.toml:3: duplicate key b (first defined on line 1)")
    }

    @Test(arguments: [
        ("[a]\n[a]", 2, "table [a] is already defined on line 1"),
        ("[a]\nx = 1\n[b]\n[a]", 4, "table [a] is already defined on line 1"),
        ("[[a]]\n[a]", 2, "cannot define [a]: a is already an array of tables (line 1)"),
        ("[a]\n[[a]]", 2, "cannot define [[a]]: a is already a table (line 1)"),
        ("a = 1\n[a]", 2, "cannot define [a]: key a already holds a value (line 1)"),
        ("a = [1]\n[[a]]", 2, "cannot define [[a]]: key a already holds a value (line 1)"),
        ("a = 1\n[a.b]", 2, "cannot define [a.b]: key a already holds a value (line 1)"),
    ])
    func tableRedefinitions(text: String, line: Int, message: String) {
        let error = syntaxError(text)
        #expect(error?.line == line)
        #expect(error?.message == message)
    }

    @Test(arguments: [
        ("a = { x = 1 }", 1, "inline tables are not supported; use a [table] header"),
        ("\na = \"\"\"text\"\"\"", 2, "multi-line strings are not supported; write the string on one line"),
        ("a = '''text'''", 1, "multi-line strings are not supported; write the string on one line"),
        ("\n\nserver.workers = 2", 3, "dotted keys are not supported (server.…); use a [table] header instead"),
        ("d = 1979-05-27", 1, "dates and times are not supported; write durations as strings like \"3s\""),
        ("t = 07:32:00", 1, "dates and times are not supported; write durations as strings like \"3s\""),
        ("\na = \"open", 2, "unterminated string: missing closing \""),
        ("a = 'open", 1, "unterminated string: missing closing '"),
        ("a = \"line\nbreak\"", 1, "unterminated string: missing closing \""),
        ("a = \"bad \\q escape\"", 1, "invalid escape \"\\q\" in a string"),
        ("a = \"\\u12\"", 1, "invalid unicode escape: expected 4 hexadecimal digits"),
        ("a = \"\\uD800\"", 1, "invalid unicode escape: U+D800 is not a Unicode scalar value"),
        ("a = \"bell \u{07}\"", 1, "control character byte 0x7 in a string; escape it"),
        ("a 1", 1, "expected \"=\" after key a, found \"1\""),
        ("\na =", 2, "missing value after a ="),
        ("a = # nothing", 1, "missing value after a ="),
        ("level = info", 1, "invalid value info; strings must be quoted, like \"info\""),
        ("a = 1 2", 1, "unexpected \"2\" after the value of a; expected the end of the line"),
        ("[a] x = 1", 1, "unexpected \"x\" after the table header; expected the end of the line"),
        ("[a", 1, "expected \"]\" to close the header, found end of file"),
        ("[[a]", 1, "expected \"]]\" to close the header, found end of file"),
        ("[[a] ]", 1, "expected \"]]\" to close the header, found a space"),
        ("[[a", 1, "expected \"]]\" to close the header, found end of file"),
        ("n = _1", 1, "invalid value _1; strings must be quoted, like \"_1\""),
        ("[]", 1, "expected a key, found \"]\""),
        ("= 1", 1, "expected a key, found \"=\""),
        ("a = 1\rb = 2", 1, "carriage return not followed by a line feed"),
        ("a = [1, 2", 1, "unterminated array: missing \"]\""),
        ("a = [\n  1,\n  2\n", 1, "unterminated array: missing \"]\""),
        ("a = [1 2]", 1, "expected \",\" or \"]\" in an array, found \"2\""),
        ("a = [1,,2]", 1, "expected a value, found \",\""),
        ("a = [,]", 1, "expected a value, found \",\""),
    ])
    func malformed(text: String, line: Int, message: String) {
        let error = syntaxError(text)
        #expect(error?.line == line)
        #expect(error?.message == message)
    }

    @Test(arguments: ["01", "1__0", "1_", "0x", "+0x1", "0xG", "1.", "1.e5", ".5", "1e", "1e+", "-", "+", "1.5.5", "0b2", "0o8", "00.5", "1x"])
    func invalidNumbers(text: String) {
        let error = syntaxError("n = \(text)")
        #expect(error?.message == "invalid number \(text)")
        #expect(error?.line == 1)
    }

    @Test(arguments: ["9223372036854775808", "-9223372036854775809", "0x1_0000_0000_0000_0000", "1e400"])
    func numbersOutOfRange(text: String) {
        #expect(syntaxError("n = \(text)")?.message == "number \(text) is out of range")
    }

    @Test func nestingIsBounded() {
        let deepArray = "a = " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(syntaxError(deepArray) == nil)
        let tooDeepArray = "a = " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(syntaxError(tooDeepArray)?.message == "arrays are nested more than 64 deep")
        let longHeader = "[" + Array(repeating: "a", count: 64).joined(separator: ".") + "]"
        #expect(syntaxError(longHeader) == nil)
        let tooLongHeader = "[" + Array(repeating: "a", count: 65).joined(separator: ".") + "]"
        #expect(syntaxError(tooLongHeader)?.message == "a table header has more than 64 parts")
    }

    @Test func errorLineInsideAMultiLineArray() {
        let error = syntaxError("""
            servers = [
                "a",
                bad,
            ]
            """)
        #expect(error?.description == #"t.toml:3: invalid value bad; strings must be quoted, like "bad""#)
    }

    @Test func syntaxErrorsReachConfigErrorsWithoutAKey() {
        #expect(issues("[server]\nworkers = { n = 1 }\n", file: "etc/b.toml")
            == ["etc/b.toml:2: inline tables are not supported; use a [table] header"])
    }
}
