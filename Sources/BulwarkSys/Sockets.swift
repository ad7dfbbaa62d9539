import CBulwarkShims
import Glibc

/// Result of a non-blocking connect(2).
public enum ConnectOutcome: Equatable, Sendable {
    case connected
    case inProgress
}

/// Result of a non-blocking accept4(2).
public enum AcceptOutcome: Sendable {
    case accepted(Int32)
    case wouldBlock
}

public enum Sockets {
    /// socket(2), non-blocking and close-on-exec.
    public static func socket(family: Int32) throws(SystemError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let fd = Glibc.socket(family, type, 0)
        if fd < 0 { throw SystemError.last("socket") }
        return fd
    }

    public static func bind(_ fd: Int32, to address: SocketAddress) throws(SystemError) {
        let status = address.withSockaddr { Glibc.bind(fd, $0, $1) }
        if status < 0 { throw SystemError.last("bind(\(address))") }
    }

    public static func listen(_ fd: Int32, backlog: Int32) throws(SystemError) {
        if Glibc.listen(fd, backlog) < 0 { throw SystemError.last("listen") }
    }

    /// Creates, configures, binds and listens: the whole of a listening socket. With `reusePort`
    /// several sockets (one per thread) can share the port and the kernel spreads connections.
    public static func listeningSocket(at address: SocketAddress, backlog: Int32, reusePort: Bool = false) throws(SystemError) -> Int32 {
        let fd = try socket(family: address.family)
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            if address.family == AF_INET6 { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            try bind(fd, to: address)
            try listen(fd, backlog: backlog)
            return fd
        } catch {
            FileDescriptors.close(fd)
            throw error
        }
    }

    /// accept4(2) with SOCK_NONBLOCK|SOCK_CLOEXEC; EAGAIN comes back as `.wouldBlock`.
    @inline(__always)
    public static func accept4(_ fd: Int32) throws(SystemError) -> AcceptOutcome {
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let client = retryingInterrupts { bulwark_accept4(fd, nil, nil, flags) }
        if client >= 0 { return .accepted(client) }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("accept4")
    }

    /// Non-blocking connect(2): `.inProgress` means wait for writable, then read SO_ERROR.
    public static func connect(_ fd: Int32, to address: SocketAddress) throws(SystemError) -> ConnectOutcome {
        let status = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if status == 0 { return .connected }
        if errno == EINPROGRESS || errno == EINTR { return .inProgress }
        throw SystemError.last("connect(\(address))")
    }

    /// getsockopt(SO_ERROR): the outcome of an asynchronous connect (0 = connected).
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) < 0 { return errno }
        return value
    }

    /// recv(2) into `buffer`.
    @inline(__always)
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOOutcome {
        let count = retryingInterrupts { Glibc.recv(fd, buffer.baseAddress, buffer.count, 0) }
        if count > 0 { return .transferred(count) }
        if count == 0 { return .endOfStream }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("recv")
    }

    /// send(2) with MSG_NOSIGNAL (a closed peer is EPIPE, never SIGPIPE).
    @inline(__always)
    public static func send(_ fd: Int32, from buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOOutcome {
        let count = retryingInterrupts { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
        if count >= 0 { return .transferred(count) }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("send")
    }

    /// sendmsg(2) of three buffers at once (a frame's header, payload and trailer; any may be
    /// empty): one syscall, the iovecs on the stack.
    public static func send(_ fd: Int32, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
                            _ third: UnsafeRawBufferPointer) throws(SystemError) -> IOOutcome {
        func vector(_ part: UnsafeRawBufferPointer) -> iovec {
            iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress), iov_len: part.count)
        }
        var vectors = (vector(first), vector(second), vector(third))
        let count = withUnsafeMutableBytes(of: &vectors) { raw -> Int in
            var message = msghdr()
            message.msg_iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
            message.msg_iovlen = 3
            return retryingInterrupts { Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
        }
        if count >= 0 { return .transferred(count) }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("sendmsg")
    }

    public enum Direction: Sendable {
        case write, read, both
    }

    /// shutdown(2). ENOTCONN (the peer is already gone) is not an error worth reporting.
    public static func shutdown(_ fd: Int32, _ direction: Direction) {
        let how: Int32
        switch direction {
        case .write: how = Int32(SHUT_WR)
        case .read: how = Int32(SHUT_RD)
        case .both: how = Int32(SHUT_RDWR)
        }
        _ = Glibc.shutdown(fd, how)
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(SystemError) {
        var value = value
        if setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) < 0 {
            throw SystemError.last("setsockopt(\(level), \(name))")
        }
    }

    @inline(__always)
    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// SO_LINGER with a zero timeout: close(2) then sends RST (used to pass on a peer's reset).
    public static func setResetOnClose(_ fd: Int32) {
        var value = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    public static func localAddress(_ fd: Int32) throws(SystemError) -> SocketAddress {
        var status: Int32 = 0
        let address = SocketAddress(filling: { pointer, length in status = getsockname(fd, pointer, length) })
        if status < 0 { throw SystemError.last("getsockname") }
        return address
    }

    public static func peerAddress(_ fd: Int32) throws(SystemError) -> SocketAddress {
        var status: Int32 = 0
        let address = SocketAddress(filling: { pointer, length in status = getpeername(fd, pointer, length) })
        if status < 0 { throw SystemError.last("getpeername") }
        return address
    }
}
