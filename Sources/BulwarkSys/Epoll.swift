import CBulwarkShims
import Glibc

/// Interest and readiness bits, as epoll spells them.
public struct EpollEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = EpollEvents(rawValue: EPOLLIN.rawValue)
    public static let writable = EpollEvents(rawValue: EPOLLOUT.rawValue)
    public static let readHangup = EpollEvents(rawValue: EPOLLRDHUP.rawValue)
    public static let hangup = EpollEvents(rawValue: EPOLLHUP.rawValue)
    public static let error = EpollEvents(rawValue: EPOLLERR.rawValue)
    public static let oneShot = EpollEvents(rawValue: EPOLLONESHOT.rawValue)
    public static let edgeTriggered = EpollEvents(rawValue: EPOLLET.rawValue)
}

/// One epoll instance. The wrappers are named after the C calls so grep finds them.
public struct Epoll: Sendable {
    public let fd: Int32

    public init() throws(SystemError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if fd < 0 { throw SystemError.last("epoll_create1") }
        self.fd = fd
    }

    @inline(__always)
    private func control(_ operation: Int32, _ target: Int32, _ events: EpollEvents, _ data: UInt64) -> Int32 {
        var event = epoll_event()
        event.events = events.rawValue
        event.data.u64 = data
        return epoll_ctl(fd, operation, target, &event)
    }

    public func add(_ target: Int32, events: EpollEvents, data: UInt64) throws(SystemError) {
        if control(EPOLL_CTL_ADD, target, events, data) < 0 { throw SystemError.last("epoll_ctl(ADD)") }
    }

    @inline(__always)
    public func modify(_ target: Int32, events: EpollEvents, data: UInt64) throws(SystemError) {
        if control(EPOLL_CTL_MOD, target, events, data) < 0 { throw SystemError.last("epoll_ctl(MOD)") }
    }

    public func remove(_ target: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, target, &event)
    }

    /// epoll_wait(2); EINTR comes back as zero events. `timeoutMilliseconds` -1 waits forever.
    @inline(__always)
    public func wait(into events: UnsafeMutablePointer<epoll_event>, capacity: Int32, timeoutMilliseconds: Int32) throws(SystemError) -> Int {
        let count = epoll_wait(fd, events, capacity, timeoutMilliseconds)
        if count >= 0 { return Int(count) }
        if errno == EINTR { return 0 }
        throw SystemError.last("epoll_wait")
    }

    public func close() { Glibc.close(fd) }
}

/// One harvested event, as the kernel writes it (a packed 12-byte struct).
public typealias EpollEventRecord = epoll_event

extension epoll_event {
    /// The 64-bit data given at add/modify time.
    @inline(__always) public var token: UInt64 { data.u64 }
    @inline(__always) public var readiness: EpollEvents { EpollEvents(rawValue: events) }
}
