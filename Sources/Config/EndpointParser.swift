/// Why an address string was refused; the message is meant for the user.
public struct EndpointParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// `IPv4:port`, `[IPv6]:port` or `*:port` (= `0.0.0.0`); for backend servers also `name:port`.
public enum EndpointParser {
    /// Said of a host name where an IP literal is needed (a listener binds an address).
    public static let hostNameMessage = "a host name cannot be bound; use an IP literal, like \"0.0.0.0:7000\" or \"[::]:7000\""

    /// An address with port 1...65535 (what a backend server needs).
    public static func parse(_ text: String) -> EndpointAddress? {
        parse(text, allowingPortZero: false)
    }

    /// `allowingPortZero`: true for listeners, where port 0 lets the kernel pick a free port.
    public static func parse(_ text: String, allowingPortZero: Bool) -> EndpointAddress? {
        try? parseDetailed(text, allowingPortZero: allowingPortZero).get()
    }

    /// Like `parse`, but says what is wrong.
    public static func parseDetailed(_ text: String, allowingPortZero: Bool = false) -> Result<EndpointAddress, EndpointParseError> {
        if text.isEmpty {
            return .failure(EndpointParseError("the address is empty; expected \"IP:port\", like \"127.0.0.1:7000\""))
        }
        if text.hasPrefix("[") {
            return parseBracketed(text, allowingPortZero: allowingPortZero)
        }
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(EndpointParseError("missing port; expected \"IP:port\", like \"127.0.0.1:7000\""))
        }
        let host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        if host.contains(":") {
            return .failure(EndpointParseError("an IPv6 address needs brackets around it, like \"[::1]:7000\""))
        }
        let bytes: [UInt8]
        if host == "*" {
            bytes = [0, 0, 0, 0]
        } else if let ipv4 = IPLiteral.parseIPv4(host) {
            bytes = ipv4
        } else {
            return .failure(explainBadHost(host))
        }
        return parsePort(portText, allowingZero: allowingPortZero).map {
            EndpointAddress(family: .ipv4, bytes: bytes, port: $0)
        }
    }

    private static func parseBracketed(_ text: String, allowingPortZero: Bool) -> Result<EndpointAddress, EndpointParseError> {
        guard let close = text.firstIndex(of: "]") else {
            return .failure(EndpointParseError("missing \"]\" after the IPv6 address"))
        }
        let host = text[text.index(after: text.startIndex)..<close]
        let rest = text[text.index(after: close)...]
        guard rest.first == ":" else {
            return .failure(EndpointParseError("missing port after \"]\"; expected \"[IPv6]:port\", like \"[::1]:7000\""))
        }
        guard let bytes = IPLiteral.parseIPv6(host) else {
            return .failure(EndpointParseError("invalid IPv6 address \"\(host)\""))
        }
        return parsePort(rest.dropFirst(), allowingZero: allowingPortZero).map {
            EndpointAddress(family: .ipv6, bytes: bytes, port: $0)
        }
    }

    /// A backend server: an IP literal, or `name:port` with a host name that is looked up
    /// asynchronously at run time.
    public static func parseServer(_ text: String) -> Result<ServerEndpoint, EndpointParseError> {
        let literal = parseDetailed(text, allowingPortZero: false)
        guard case .failure(let error) = literal else { return literal.map(ServerEndpoint.init) }
        guard !text.hasPrefix("["), let colon = text.lastIndex(of: ":") else { return .failure(error) }
        let host = text[..<colon]
        guard looksLikeHostName(host) else { return .failure(error) }
        if let problem = HostName.problem(host) { return .failure(EndpointParseError(problem)) }
        return parsePort(text[text.index(after: colon)...], allowingZero: false).map {
            ServerEndpoint(hostName: String(host), port: $0)
        }
    }

    private static func looksLikeHostName(_ host: Substring) -> Bool {
        let utf8 = host.utf8
        return !utf8.isEmpty && !utf8.allSatisfy({ ASCII.isDecimalDigit($0) || $0 == UInt8(ascii: ".") })
            && utf8.allSatisfy(HostName.isHostByte)
    }

    private static func explainBadHost(_ host: Substring) -> EndpointParseError {
        if host.isEmpty {
            return EndpointParseError("missing host before the port; use \"*:port\" for every IPv4 address")
        }
        let utf8 = host.utf8
        if utf8.allSatisfy({ ASCII.isDecimalDigit($0) || $0 == UInt8(ascii: ".") }) {
            return EndpointParseError("invalid IPv4 address \"\(host)\"")
        }
        if looksLikeHostName(host) {
            return EndpointParseError(hostNameMessage)
        }
        return EndpointParseError("invalid host \"\(host)\"; use an IP literal")
    }

    private static func parsePort(_ text: Substring, allowingZero: Bool) -> Result<UInt16, EndpointParseError> {
        let range = allowingZero ? "0...65535" : "1...65535"
        guard !text.isEmpty else {
            return .failure(EndpointParseError("missing port after \":\"; expected a number \(range)"))
        }
        // At most 5 digits, so the value cannot overflow before the range check.
        guard text.utf8.count <= 5, text.utf8.allSatisfy(ASCII.isDecimalDigit),
              let value = Int(text), value <= 65535, allowingZero || value > 0 else {
            return .failure(EndpointParseError("invalid port \"\(text)\"; expected a number \(range)"))
        }
        return .success(UInt16(value))
    }
}
