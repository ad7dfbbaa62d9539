import Glibc

/// Outcome of a non-blocking read or write that did not fail: bytes moved, the peer's end of
/// stream (reads only), or "try again when the fd is ready".
public enum IOOutcome: Equatable, Sendable {
    case transferred(Int)
    case endOfStream
    case wouldBlock
}

public enum FileDescriptors {
    /// close(2). EINTR is not retried: on Linux the fd is released whatever close returns.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// read(2) into `buffer`.
    @inline(__always)
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOOutcome {
        let count = retryingInterrupts { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        if count > 0 { return .transferred(count) }
        if count == 0 { return buffer.count == 0 ? .transferred(0) : .endOfStream }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("read")
    }

    /// write(2) from `buffer`.
    @inline(__always)
    public static func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) throws(SystemError) -> IOOutcome {
        let count = retryingInterrupts { Glibc.write(fd, buffer.baseAddress, buffer.count) }
        if count >= 0 { return .transferred(count) }
        if errno == EAGAIN { return .wouldBlock }
        throw SystemError.last("write")
    }

    /// Writes all of `bytes` to a blocking fd (stderr, a file, a pipe).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let count = retryingInterrupts { Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
            if count < 0 { throw SystemError.last("write") }
            offset += count
        }
    }

    /// fcntl(F_SETFD) clearing or setting FD_CLOEXEC.
    public static func setCloseOnExec(_ fd: Int32, _ enabled: Bool) throws(SystemError) {
        let flags = fcntl(fd, F_GETFD)
        if flags < 0 { throw SystemError.last("fcntl(F_GETFD)") }
        let updated = enabled ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)
        if fcntl(fd, F_SETFD, updated) < 0 { throw SystemError.last("fcntl(F_SETFD)") }
    }

    /// fcntl(F_SETFL) adding O_NONBLOCK.
    public static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = fcntl(fd, F_GETFL)
        if flags < 0 { throw SystemError.last("fcntl(F_GETFL)") }
        if fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 { throw SystemError.last("fcntl(F_SETFL)") }
    }

    /// The fds open in this process: the entries of /proc/self/fd, through a directory opened
    /// once (`prepareOpenCount`) and read again from its start, so counting needs no new fd
    /// and still works when the process is out of them. Nil if it was never opened.
    public static func openCount() -> Int? { OpenFileCounter.shared.count() }

    /// Opens the /proc/self/fd directory the counts read (a worker does this at start, while
    /// it has fds to spare).
    public static func prepareOpenCount() { _ = OpenFileCounter.shared.count() }
}

/// /proc/self/fd kept open: rewinddir + readdir re-list the fd table each time (procfs builds
/// the listing when read).
private final class OpenFileCounter: @unchecked Sendable {  // @unchecked: `directory` is only touched while holding `lock`
    static let shared = OpenFileCounter()
    private let lock = PthreadLock()
    private var directory: OpaquePointer?

    func count() -> Int? {
        lock.withLock {
            if directory == nil { directory = opendir("/proc/self/fd") }
            guard let directory else { return nil }
            rewinddir(directory)
            var count = 0
            while readdir(directory) != nil { count += 1 }
            return count - 3  // ".", ".." and the directory's own fd
        }
    }
}
