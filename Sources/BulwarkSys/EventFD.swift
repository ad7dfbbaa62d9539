import CBulwarkShims
import Glibc

/// An eventfd used to wake the epoll from any thread.
public struct EventFD: Sendable {
    public let fd: Int32

    public init() throws(SystemError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if fd < 0 { throw SystemError.last("eventfd") }
        self.fd = fd
    }

    public func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    /// Reads and resets the counter (0 when it was not signalled).
    @discardableResult
    public func drain() -> UInt64 {
        var value: UInt64 = 0
        return Glibc.read(fd, &value, 8) == 8 ? value : 0
    }

    public func close() { Glibc.close(fd) }
}
