/// What a config key holds. The kind gives the type text of the reference, the "expected ..."
/// of type errors, and the decoding (ConfigValueDecoding.swift), so the three cannot drift apart.
public enum ConfigValueKind: Sendable, Equatable {
    case integer(ClosedRange<Int>)
    /// An integer in range, or the string "auto".
    case integerOrAuto(ClosedRange<Int>)
    /// Bytes: an integer, or a string such as "256KiB" (see ByteSizes).
    case byteSize(ClosedRange<Int>)
    /// A string such as "3s" (see Durations).
    case duration(ClosedRange<Duration>)
    /// One of fixed strings; `notYetSupported` ones are refused with "not supported yet".
    case choice(supported: [String], notYetSupported: [String])
    /// A name made of letters, digits, "_", "." and "-".
    case name
    /// The name of an entry of another section (checked after every section is read).
    case reference(ConfigSection)
    /// "IP:port" to listen on; port 0 allowed.
    case listenAddress
    /// A non-empty array of "IP:port" strings, ports 1...65535.
    case serverAddresses

    /// The type column of the reference.
    public var typeText: String {
        switch self {
        case .integer(let range):
            return "integer \(range.lowerBound)...\(range.upperBound)"
        case .integerOrAuto(let range):
            return "integer \(range.lowerBound)...\(range.upperBound), or \"auto\""
        case .byteSize(let range):
            return "size \(ByteSizes.format(range.lowerBound))...\(ByteSizes.format(range.upperBound)): bytes, or a string like \"64KiB\", \"1MiB\", \"1GiB\""
        case .duration(let range):
            return "duration \(Durations.format(range.lowerBound))...\(Durations.format(range.upperBound)): a string like \"250ms\", \"3s\", \"1.5s\", \"1m\""
        case .choice(let supported, _):
            return "one of " + supported.map(TOMLText.quoted).joined(separator: ", ")
        case .name:
            return "string of letters, digits, \"_\", \".\" and \"-\""
        case .reference(let section):
            return "string: the name of a \(section.header)"
        case .listenAddress:
            return "string \"IP:port\""
        case .serverAddresses:
            return "non-empty array of \"IP:port\" strings"
        }
    }

    /// Completes "expected ..." when a value has the wrong TOML type.
    public var expectation: String {
        switch self {
        case .integer: return "an integer"
        case .integerOrAuto: return "an integer or \"auto\""
        case .byteSize: return "an integer number of bytes or a string like \"256KiB\""
        case .duration: return "a string like \"3s\""
        case .choice(let supported, _):
            return "a string, one of " + supported.map(TOMLText.quoted).joined(separator: ", ")
        case .name: return "a string"
        case .reference(let section): return "a string naming a \(section.header)"
        case .listenAddress: return "a string like \"127.0.0.1:7000\""
        case .serverAddresses: return "an array of strings like [\"127.0.0.1:7001\"]"
        }
    }
}
