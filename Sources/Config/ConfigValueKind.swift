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
    /// A number, integer or not, with `above < value <= atMost`.
    case decimal(above: Double, atMost: Double)
    /// A duration in whole seconds (for socket options the kernel counts in seconds).
    case wholeSeconds(ClosedRange<Int>)
    /// An array (maybe empty) of IP addresses and CIDR prefixes, each listed once.
    case addressPrefixes
    /// An array (maybe empty) of fixed strings, each listed once.
    case choices([String])
    /// A string starting with "/".
    case absolutePath
    /// An absolute path that fits a sockaddr_un (StatsSocketConfig.maxPathBytes) and names a file.
    case unixSocketPath
    /// File permission bits as 3 or 4 octal digits in a string, "0000"..."0777" (see FileModes).
    case fileMode
    /// A user or group: a name, or a numeric id in a string (see OwnerNames).
    case owner

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
        case .decimal(let above, let atMost):
            return "number above \(DecimalText.format(above)), up to \(DecimalText.format(atMost)): like 1.6 or 4"
        case .wholeSeconds(let range):
            return "duration \(Durations.format(.seconds(range.lowerBound)))...\(Durations.format(.seconds(range.upperBound))) in whole seconds: a string like \"30s\", \"2m\""
        case .addressPrefixes:
            return "array of IP addresses and CIDR prefixes, like [\"10.0.0.0/8\", \"192.168.1.7\", \"2001:db8::/32\"]"
        case .choices(let supported):
            return "array of strings, each one of " + supported.map(TOMLText.quoted).joined(separator: ", ")
        case .absolutePath:
            return "string: an absolute path"
        case .unixSocketPath:
            return "string: an absolute path of at most \(StatsSocketConfig.maxPathBytes) bytes"
        case .fileMode:
            return "string of 3 or 4 octal digits, at most \"0777\": like \"0600\", \"0660\""
        case .owner:
            return "string: a name, or a numeric id like \"1000\""
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
        case .decimal: return "a number like 1.6"
        case .wholeSeconds: return "a string like \"30s\""
        case .addressPrefixes: return "an array of strings like [\"10.0.0.0/8\", \"::1\"]"
        case .choices(let supported):
            return "an array of strings, each one of " + supported.map(TOMLText.quoted).joined(separator: ", ")
        case .absolutePath: return "a string like \"/proc/meminfo\""
        case .unixSocketPath: return "a string like \"/run/bulwark/admin.sock\""
        case .fileMode: return "a string of octal digits like \"0600\""
        case .owner: return "a string, a name or a numeric id like \"1000\""
        }
    }
}

/// Numbers of `.decimal` keys in messages and the reference: `4` for a whole number, `1.6`
/// otherwise.
enum DecimalText {
    static func format(_ number: Double) -> String {
        if number.isFinite, number == number.rounded(), abs(number) < 1e15 {
            return String(Int(number))
        }
        return String(number)
    }
}
