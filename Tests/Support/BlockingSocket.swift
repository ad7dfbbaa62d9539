import BulwarkSys
import Glibc

/// A blocking TCP socket with send/receive timeouts, for test clients and scripted backends.
public final class BlockingSocket: @unchecked Sendable {  // @unchecked: I/O happens on one thread at a time; `closed` is guarded by `lock` (close and interrupt may come from another thread)
    public let fd: Int32
    private let lock = PthreadLock()
    private var closed = false

    public init(fd: Int32, timeoutMilliseconds: Int = 10_000) {
        self.fd = fd
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    /// Connects (blocking, bounded by the timeout) to `address`, optionally from `source`.
    public static func connect(to address: SocketAddress, from source: SocketAddress? = nil,
                               timeoutMilliseconds: Int = 10_000) throws -> BlockingSocket {
        let fd = try Sockets.socket(family: address.family)
        let socket = BlockingSocket(fd: fd, timeoutMilliseconds: timeoutMilliseconds)
        if let source { try Sockets.bind(fd, to: source) }
        let status = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if status < 0 { throw SystemError("connect(\(address))", errno: errno) }
        return socket
    }

    public func sendAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError("send", errno: errno)
            }
            offset += count
        }
    }

    public func send(_ text: String) throws { try sendAll(Array(text.utf8)) }

    /// Reads at most `maximum` bytes; an empty array means end of stream.
    public func receive(maximum: Int = 65536) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError("recv", errno: errno)
            }
            return Array(buffer[0..<count])
        }
    }

    /// Reads exactly `count` bytes or throws (end of stream or timeout).
    public func receiveExactly(_ count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let chunk = try receive(maximum: min(65536, count - bytes.count))
            if chunk.isEmpty { throw SystemError("recv: end of stream after \(bytes.count) of \(count) bytes", errno: 0) }
            bytes += chunk
        }
        return bytes
    }

    /// Reads until the peer's end of stream.
    public func receiveToEnd() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let chunk = try receive()
            if chunk.isEmpty { return bytes }
            bytes += chunk
        }
    }

    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Closes with SO_LINGER 0: the peer gets a reset.
    public func reset() {
        Sockets.setResetOnClose(fd)
        close()
    }

    public func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            Glibc.close(fd)
        }
    }

    /// Wakes a thread blocked in I/O on this socket (shutdown both ways), unless it is closed.
    public func interrupt() {
        lock.withLock {
            if !closed { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }
}

/// Deterministic test bytes: position-dependent, so a lost, duplicated or reordered byte shows.
public func patternBytes(count: Int, seed: UInt32 = 1) -> [UInt8] {
    var state = seed &* 2654435761
    return (0..<count).map { index in
        state = state &* 1103515245 &+ 12345
        return UInt8(truncatingIfNeeded: (state >> 16) ^ UInt32(truncatingIfNeeded: index))
    }
}

public func loopback(port: UInt16 = 0) -> SocketAddress {
    SocketAddress(addressBytes: [127, 0, 0, 1], port: port)!
}

public func loopbackIPv6(port: UInt16 = 0) -> SocketAddress {
    SocketAddress(addressBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: port)!
}

/// Sleeps the calling thread.
public func sleepMilliseconds(_ milliseconds: Int) {
    usleep(UInt32(milliseconds * 1000))
}

/// Polls `condition` every 10 ms until it holds or `timeoutMilliseconds` pass.
public func eventually(timeoutMilliseconds: Int = 5000, _ condition: () -> Bool) -> Bool {
    let deadline = MonotonicClock.nanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
    while MonotonicClock.nanoseconds() < deadline {
        if condition() { return true }
        sleepMilliseconds(10)
    }
    return condition()
}
