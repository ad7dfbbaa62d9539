import Config
import Testing

@Suite("TOML parser: accepted syntax")
struct TOMLParserTests {
    private func parse(_ text: String) throws -> TOMLTable {
        try TOMLParser.parse(text: text, file: "t.toml")
    }

    @Test func scalarsCommentsAndLines() throws {
        let root = try parse("""
            # a comment on line 1

            text = "hello" # trailing comment
            count = 42
            ratio = 1.5
            enabled = true
            disabled = false
            """)
        #expect(root.entries.map(\.key) == ["text", "count", "ratio", "enabled", "disabled"])
        #expect(root["text"] == TOMLEntry(key: "text", line: 3, node: TOMLNode(.string("hello"), line: 3)))
        #expect(root["count"]?.node == TOMLNode(.integer(42), line: 4))
        #expect(root["ratio"]?.node == TOMLNode(.float(1.5), line: 5))
        #expect(root["enabled"]?.node.value == .boolean(true))
        #expect(root["disabled"]?.node.value == .boolean(false))
        #expect(root["disabled"]?.line == 7)
        #expect(root["missing"] == nil)
    }

    @Test func basicStringEscapes() throws {
        let root = try parse(#"""
            a = "quote \" backslash \\ newline \n tab \t"
            b = "\u00E9\U0001F600"
            c = ""
            d = "\b\f\r\e"
            e = "tab	inside"
            """#)
        #expect(root["a"]?.node.value == .string("quote \" backslash \\ newline \n tab \t"))
        #expect(root["b"]?.node.value == .string("é😀"))
        #expect(root["c"]?.node.value == .string(""))
        #expect(root["d"]?.node.value == .string("\u{08}\u{0C}\r\u{1B}"))
        #expect(root["e"]?.node.value == .string("tab\tinside"))
    }

    @Test func literalStringsKeepBackslashes() throws {
        let root = try parse(#"path = 'C:\temp\n "quoted"'"#)
        #expect(root["path"]?.node.value == .string(#"C:\temp\n "quoted""#))
    }

    @Test func quotedAndBareKeys() throws {
        let root = try parse("""
            bare-key_1 = 1
            "quoted key" = 2
            'literal key' = 3
            "" = 4
            "a.b" = 5
            """)
        #expect(root.entries.map(\.key) == ["bare-key_1", "quoted key", "literal key", "", "a.b"])
    }

    @Test(arguments: [
        ("0", 0), ("42", 42), ("+17", 17), ("-17", -17), ("1_000_000", 1_000_000),
        ("0x1F", 31), ("0xdead_beef", 0xDEAD_BEEF), ("0o17", 15), ("0b101", 5),
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
    ])
    func integers(text: String, expected: Int) throws {
        #expect(try parse("n = \(text)")["n"]?.node.value == .integer(expected))
    }

    @Test(arguments: [
        ("1.5", 1.5), ("-0.25", -0.25), ("+3.0", 3.0), ("1e3", 1000.0), ("6.25E+2", 625.0),
        ("5e-1", 0.5), ("1_000.5", 1000.5), ("0.0", 0.0), ("inf", Double.infinity), ("-inf", -Double.infinity),
    ])
    func floats(text: String, expected: Double) throws {
        #expect(try parse("x = \(text)")["x"]?.node.value == .float(expected))
    }

    @Test func notANumber() throws {
        guard case .float(let value)? = try parse("x = nan")["x"]?.node.value else {
            Issue.record("nan is not a float")
            return
        }
        #expect(value.isNaN)
    }

    @Test func arraysAcrossLinesWithCommentsAndTrailingComma() throws {
        let root = try parse("""
            servers = [
                "a", # first
                # a comment line
                "b",
            ]
            empty = []
            nested = [[1, 2], ["x"]]
            """)
        #expect(root["servers"]?.node == TOMLNode(.array([
            TOMLNode(.string("a"), line: 2),
            TOMLNode(.string("b"), line: 4),
        ]), line: 1))
        #expect(root["empty"]?.node == TOMLNode(.array([]), line: 6))
        #expect(root["nested"]?.node.value == .array([
            TOMLNode(.array([TOMLNode(.integer(1), line: 7), TOMLNode(.integer(2), line: 7)]), line: 7),
            TOMLNode(.array([TOMLNode(.string("x"), line: 7)]), line: 7),
        ]))
    }

    @Test func tablesAndHeaderLines() throws {
        let root = try parse("""
            top = 1

            [server]
            workers = 2

            [a.b]
            c = 3
            ["quoted header"]
            d = 4
            """)
        #expect(root.entries.map(\.key) == ["top", "server", "a", "quoted header"])
        guard case .table(let server)? = root["server"]?.node.value else {
            Issue.record("server is not a table")
            return
        }
        #expect(server.line == 3)
        #expect(root["server"]?.line == 3)
        #expect(server["workers"]?.node == TOMLNode(.integer(2), line: 4))
        guard case .table(let a)? = root["a"]?.node.value, case .table(let b)? = a["b"]?.node.value else {
            Issue.record("a.b is not a table")
            return
        }
        #expect(b.line == 6)
        #expect(b["c"]?.node == TOMLNode(.integer(3), line: 7))
        guard case .table(let quoted)? = root["quoted header"]?.node.value else {
            Issue.record("quoted header is not a table")
            return
        }
        #expect(quoted["d"]?.node.value == .integer(4))
    }

    @Test func implicitTableMayBeDefinedLater() throws {
        let root = try parse("""
            [a.b]
            x = 1
            [a]
            y = 2
            """)
        guard case .table(let a)? = root["a"]?.node.value else {
            Issue.record("a is not a table")
            return
        }
        #expect(a.line == 3)
        #expect(a.entries.map(\.key) == ["b", "y"])
    }

    @Test func arraysOfTablesAndSubTablesGoIntoTheLastElement() throws {
        let root = try parse("""
            [[listener]]
            name = "a"

            [[listener]]
            name = "b"
            [listener.extra]
            x = 1
            [[listener.rule]]
            y = 2
            """)
        guard case .tableArray(let listeners)? = root["listener"]?.node.value else {
            Issue.record("listener is not an array of tables")
            return
        }
        #expect(listeners.count == 2)
        #expect(listeners.map(\.line) == [1, 4])
        #expect(listeners[0]["name"]?.node == TOMLNode(.string("a"), line: 2))
        #expect(listeners[0]["extra"] == nil)
        #expect(listeners[1]["name"]?.node == TOMLNode(.string("b"), line: 5))
        guard case .table(let extra)? = listeners[1]["extra"]?.node.value,
              case .tableArray(let rules)? = listeners[1]["rule"]?.node.value else {
            Issue.record("sub-tables missing from the last listener")
            return
        }
        #expect(extra["x"]?.node == TOMLNode(.integer(1), line: 7))
        #expect(rules.count == 1)
        #expect(rules[0]["y"]?.node == TOMLNode(.integer(2), line: 9))
    }

    @Test func lineEndingsAndByteOrderMark() throws {
        let root = try parse("\u{FEFF}a = 1\r\nb = 2\r\n\r\nc = 3")
        #expect(root["a"]?.line == 1)
        #expect(root["b"]?.line == 2)
        #expect(root["c"]?.line == 4)
    }

    @Test func emptyDocument() throws {
        #expect(try parse("").entries.isEmpty)
        #expect(try parse("# only a comment\n\n   \n").entries.isEmpty)
    }

    @Test func valuesWrittenBack() {
        #expect(TOMLValue.string("a\"b\\c\n").tomlText == #""a\"b\\c\n""#)
        #expect(TOMLValue.integer(1024).tomlText == "1024")
        #expect(TOMLValue.array([TOMLNode(.string("x"), line: 1), TOMLNode(.boolean(true), line: 1)]).tomlText == #"["x", true]"#)
        #expect(TOMLText.key("bare_key") == "bare_key")
        #expect(TOMLText.key("needs quotes") == #""needs quotes""#)
        #expect(TOMLValue.integer(3).summary == "the integer 3")
        #expect(TOMLValue.string("x").summary == #"the string "x""#)
    }
}
