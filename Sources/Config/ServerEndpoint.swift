/// A backend server as the config gives it: an IP literal, or a host name that the gateway
/// looks up asynchronously at run time (and again every `resolve_interval`).
public struct ServerEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The IP literal or host name as written (an IPv6 literal without brackets).
    public var host: String
    public var port: UInt16
    /// Set when `host` is an IP literal: nothing to look up.
    public var literal: EndpointAddress?

    public init(_ address: EndpointAddress) {
        host = address.host
        port = address.port
        literal = address
    }

    public init(hostName: String, port: UInt16) {
        host = hostName
        self.port = port
        literal = nil
    }

    public static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> ServerEndpoint {
        ServerEndpoint(.ipv4(a, b, c, d, port: port))
    }

    public var isHostName: Bool { literal == nil }

    /// `10.0.0.1:7001`, `[fd00::1]:7001` or `chat.internal:7001`.
    public var description: String { literal?.description ?? "\(host):\(port)" }
}

/// What makes a host name acceptable: letters, digits, `-` and `_` in dot-separated labels of
/// 1 to 63 bytes, 253 bytes in all (an optional final dot aside). The underscore is allowed
/// because /etc/hosts and container DNS names use it, and glibc resolves them.
public enum HostName {
    static func isHostByte(_ byte: UInt8) -> Bool {
        ASCII.isLetterOrDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }

    /// Why `name` is not a valid host name, or nil when it is.
    public static func problem(_ name: Substring) -> String? {
        let trimmed = name.hasSuffix(".") ? name.dropLast() : name
        if trimmed.utf8.count > 253 { return "host name \"\(name)\" is longer than 253 bytes" }
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty { return "host name \"\(name)\" has an empty label (two dots in a row, or a dot first)" }
            if label.utf8.count > 63 { return "host name \"\(name)\" has a label longer than 63 bytes" }
            if label.hasPrefix("-") || label.hasSuffix("-") {
                return "host name \"\(name)\" has a label that starts or ends with \"-\""
            }
        }
        return nil
    }
}
