// The parsed TOML tree. Every key, table header and value keeps the line it started on, because
// every config error has to name FILE:LINE.

/// A TOML value. Arrays hold `TOMLNode`s so each element keeps its own line.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([TOMLNode])
    case table(TOMLTable)
    case tableArray([TOMLTable])
}

/// A value and the line it starts on (for a table: its header line).
public struct TOMLNode: Sendable, Equatable {
    public var value: TOMLValue
    public var line: Int

    public init(_ value: TOMLValue, line: Int) {
        self.value = value
        self.line = line
    }
}

/// `key = value` (or a sub-table) inside a table; `line` is the line of the key or header.
public struct TOMLEntry: Sendable, Equatable {
    public var key: String
    public var line: Int
    public var node: TOMLNode

    public init(key: String, line: Int, node: TOMLNode) {
        self.key = key
        self.line = line
        self.node = node
    }
}

/// A table with its entries in file order (so errors come out in a stable order).
public struct TOMLTable: Sendable, Equatable {
    /// Line of the header that defined the table; 0 for the root table.
    public internal(set) var line: Int
    /// False for a table only mentioned as the parent in a header such as `[a.b]`; it may still
    /// be defined by its own header later, once.
    var isExplicit: Bool
    public internal(set) var entries: [TOMLEntry]

    public init(line: Int) {
        self.init(line: line, isExplicit: true)
    }

    init(line: Int, isExplicit: Bool) {
        self.line = line
        self.isExplicit = isExplicit
        self.entries = []
    }

    public subscript(key: String) -> TOMLEntry? {
        entries.first { $0.key == key }
    }

    func index(of key: String) -> Int? {
        entries.firstIndex { $0.key == key }
    }
}

extension TOMLValue {
    /// What the value is, for "expected X, got Y" messages: `the integer 3`, `an array`.
    public var summary: String {
        switch self {
        case .string(let text): return "the string \(TOMLText.quoted(text))"
        case .integer(let number): return "the integer \(number)"
        case .float(let number): return "the float \(number)"
        case .boolean(let flag): return "the boolean \(flag)"
        case .array: return "an array"
        case .table: return "a table"
        case .tableArray: return "an array of tables"
        }
    }

    /// The value written back as TOML (used to show defaults in the reference).
    public var tomlText: String {
        switch self {
        case .string(let text): return TOMLText.quoted(text)
        case .integer(let number): return String(number)
        case .float(let number): return String(number)
        case .boolean(let flag): return String(flag)
        case .array(let items): return "[" + items.map(\.value.tomlText).joined(separator: ", ") + "]"
        case .table: return "{...}"
        case .tableArray: return "[{...}]"
        }
    }
}

/// Writing keys and strings back as TOML text, for messages and the reference.
public enum TOMLText {
    /// A basic string with the escapes the parser understands.
    public static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// A key as written in a header or before `=`: bare when it can be, quoted otherwise.
    public static func key(_ key: String) -> String {
        let isBare = !key.isEmpty && key.utf8.allSatisfy(TOMLCharacters.isBareKeyByte)
        return isBare ? key : quoted(key)
    }

    /// A dotted header path such as `a."b c".d`.
    public static func path(_ path: [String]) -> String {
        path.map(key).joined(separator: ".")
    }
}
