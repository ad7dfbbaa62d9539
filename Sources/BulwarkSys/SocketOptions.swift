import CBulwarkShims
import Glibc

extension Sockets {
    /// accept4(2) that also returns the peer's address (for per-IP limits and allow/deny lists).
    @inline(__always)
    public static func accept4(_ fd: Int32, peer: inout SocketAddress) throws(SystemError) -> AcceptOutcome {
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        var client: Int32 = -1
        peer = SocketAddress(filling: { address, length in
            client = retryingInterrupts { bulwark_accept4(fd, address, length, flags) }
        })
        if client >= 0 { return .accepted(client) }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("accept4")
    }

    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT.
    public static func setKeepAlive(_ fd: Int32, idleSeconds: Int32, intervalSeconds: Int32, count: Int32) throws(SystemError) {
        try setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, idleSeconds)
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, intervalSeconds)
        try setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, count)
    }

    /// TCP_DEFER_ACCEPT: the listener reports a connection only once it has data (or after
    /// about `seconds`), so clients that connect and say nothing cost no accept.
    public static func setDeferAccept(_ fd: Int32, seconds: Int32) throws(SystemError) {
        try setOption(fd, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, seconds)
    }

    /// SO_RCVTIMEO: a blocking read on `fd` gives up (EAGAIN) after `seconds`.
    public static func setReceiveTimeout(_ fd: Int32, seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// getsockopt(level, name) of an int option (tests read back what was set).
    public static func option(_ fd: Int32, _ level: Int32, _ name: Int32) throws(SystemError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, level, name, &value, &length) < 0 { throw SystemError.last("getsockopt(\(level), \(name))") }
        return value
    }
}

extension SocketAddress {
    /// The address bytes (4 or 16) without allocating; IPv4-mapped IPv6 stays 16 bytes.
    @inline(__always)
    public func withAddressBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeBytes(of: storage) { raw in
            switch family {
            case AF_INET: return body(UnsafeRawBufferPointer(rebasing: raw[4..<8]))
            case AF_INET6: return body(UnsafeRawBufferPointer(rebasing: raw[8..<24]))
            default: return body(UnsafeRawBufferPointer(rebasing: raw[0..<0]))
            }
        }
    }
}
