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

    /// Counts the entries of /proc/self/fd (minus the one opendir itself holds).
    public static func openCount() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        closedir(directory)
        return count - 3  // ".", ".." and the directory's own fd
    }
}
