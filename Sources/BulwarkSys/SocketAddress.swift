import Glibc

/// An IPv4 or IPv6 socket address in the kernel's own layout, ready for bind/connect.
public struct SocketAddress: Sendable, CustomStringConvertible {
    public private(set) var storage = sockaddr_storage()
    public private(set) var length: socklen_t = 0

    public init() {}

    /// `bytes` holds 4 (IPv4) or 16 (IPv6) address bytes in network order.
    public init?(addressBytes bytes: [UInt8], port: UInt16) {
        switch bytes.count {
        case 4:
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin_addr) { $0.copyBytes(from: bytes) }
            self.init(copying: address)
        case 16:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
            self.init(copying: address)
        default:
            return nil
        }
    }

    /// Wraps a sockaddr_in / sockaddr_in6 value.
    public init<Address>(copying address: Address) {
        withUnsafeMutableBytes(of: &storage) { target in
            withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<Address>.size)
    }

    /// Fills the address through a libc call that writes a sockaddr (getsockname, accept4).
    public init(filling body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Void) {
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, &length) }
        }
        self.length = length
    }

    public var family: Int32 { Int32(storage.ss_family) }
    public var isIPv6: Bool { family == AF_INET6 }

    public var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            switch family {
            case AF_INET: return UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
            case AF_INET6: return UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
            default: return 0
            }
        }
    }

    /// The address bytes (4 or 16), network order.
    public var addressBytes: [UInt8] {
        withUnsafeBytes(of: storage) { raw in
            switch family {
            case AF_INET: return Array(raw[4..<8])
            case AF_INET6: return Array(raw[8..<24])
            default: return []
            }
        }
    }

    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    public var description: String {
        let bytes = addressBytes
        switch family {
        case AF_INET:
            return bytes.map(String.init).joined(separator: ".") + ":\(port)"
        case AF_INET6:
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
            let length = text.firstIndex(of: 0) ?? text.count
            let host = String(decoding: text[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "[" + host + "]:\(port)"
        default:
            return "unknown"
        }
    }
}

extension SocketAddress: Equatable {
    /// Same family, address and port (the bytes past the address, such as an IPv6 scope, aside).
    public static func == (left: SocketAddress, right: SocketAddress) -> Bool {
        left.family == right.family && left.port == right.port && left.addressBytes == right.addressBytes
    }
}
