public enum AddressFamily: Sendable, Hashable {
    case ipv4, ipv6
}

/// An IP address and port, as bytes in network order, ready for a sockaddr.
public struct EndpointAddress: Sendable, Hashable, CustomStringConvertible {
    public var family: AddressFamily
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    public var bytes: [UInt8]
    public var port: UInt16

    public init(family: AddressFamily, bytes: [UInt8], port: UInt16) {
        self.family = family
        self.bytes = bytes
        self.port = port
    }

    public static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> EndpointAddress {
        EndpointAddress(family: .ipv4, bytes: [a, b, c, d], port: port)
    }

    /// `0.0.0.0` or `::`: every local address of the family.
    public var isWildcard: Bool { bytes.allSatisfy { $0 == 0 } }

    /// The address without the port: `1.2.3.4` or `::1`.
    public var host: String {
        switch family {
        case .ipv4: return IPLiteral.formatIPv4(bytes)
        case .ipv6: return IPLiteral.formatIPv6(bytes)
        }
    }

    /// `1.2.3.4:80` or `[::1]:80`.
    public var description: String {
        switch family {
        case .ipv4: return "\(host):\(port)"
        case .ipv6: return "[\(host)]:\(port)"
        }
    }
}
