import Glibc

// What the test and benchmark tools (bulwark-echo, bulwark-bench) need beyond the gateway's own
// socket calls: numeric address parsing, SO_REUSEPORT listeners, and client sockets bound to a
// chosen source address before connect.

extension SocketAddress {
    /// Parses a numeric "a.b.c.d:port" or "[v6]:port" (no name lookup). Nil when malformed.
    public static func parseNumeric(_ text: String) -> SocketAddress? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText) else { return nil }
        return parseNumeric(host: String(host), port: port)
    }

    /// inet_pton(3) of a numeric IPv4 or IPv6 host (without brackets).
    public static func parseNumeric(host: String, port: UInt16) -> SocketAddress? {
        if host.contains(":") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, host, &raw) == 1 else { return nil }
            let bytes = withUnsafeBytes(of: raw) { Array($0) }
            return SocketAddress(addressBytes: bytes, port: port)
        }
        var raw = in_addr()
        guard inet_pton(AF_INET, host, &raw) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: raw) { Array($0) }
        return SocketAddress(addressBytes: bytes, port: port)
    }
}

extension Sockets {
    /// Opens a non-blocking TCP socket with TCP_NODELAY, binds it to `source` when given (port 0
    /// with IP_BIND_ADDRESS_NO_PORT, so the port is picked at connect time per 4-tuple and many
    /// source addresses multiply the ephemeral ports), and starts connect(2). The caller owns fd.
    public static func connectingSocket(to target: SocketAddress, from source: SocketAddress?) throws(SystemError) -> (fd: Int32, outcome: ConnectOutcome) {
        let fd = try socket(family: target.family)
        do {
            setNoDelay(fd)
            if let source {
                if source.family == AF_INET { try setOption(fd, Int32(IPPROTO_IP), IP_BIND_ADDRESS_NO_PORT, 1) }
                try bind(fd, to: source)
            }
            let outcome = try connect(fd, to: target)
            return (fd, outcome)
        } catch {
            FileDescriptors.close(fd)
            throw error
        }
    }
}
