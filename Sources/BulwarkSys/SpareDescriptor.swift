import CBulwarkShims
import Glibc

/// One fd held in reserve, so that a process out of fds can still accept one connection that
/// matters (the stats socket: an operator must be able to ask a gateway why it is full). On
/// EMFILE the owner lets the spare go, accepts into its slot, and takes a spare again once that
/// connection has closed. Another thread may take the freed slot first; then nothing is worse
/// than without the spare.
public final class SpareDescriptor: @unchecked Sendable {  // @unchecked: `fd` is only touched while holding `lock`
    private let lock = PthreadLock()
    private var fd: Int32 = -1

    public init() { reacquire() }

    /// Frees the slot; false when no spare was held.
    public func release() -> Bool {
        lock.withLock {
            guard fd >= 0 else { return false }
            Glibc.close(fd)
            fd = -1
            return true
        }
    }

    /// Takes a spare again if none is held (an eventfd: no file system needed).
    public func reacquire() {
        lock.withLock {
            if fd < 0 { fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}
