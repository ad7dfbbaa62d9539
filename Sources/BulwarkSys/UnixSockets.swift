import CBulwarkShims
import Glibc

/// Unix stream sockets (the stats socket and its client).
public enum UnixSockets {
    /// sockaddr_un for `path`; nil when the path does not fit (108 bytes with its NUL).
    private static func address(_ path: String) -> (sockaddr_un, socklen_t)? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return (address, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
    }

    /// Binds and listens on `path` (a stale socket file nobody listens on is replaced), then
    /// sets its permission bits; non-blocking and close-on-exec.
    public static func listeningSocket(path: String, mode: UInt32, backlog: Int32 = 64) throws(SystemError) -> Int32 {
        guard let (bound, length) = address(path) else { throw SystemError("bind(\(path)): path too long", errno: ENAMETOOLONG) }
        var address = bound
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError.last("socket(AF_UNIX)") }
        removeIfStale(path)
        // Bind with a umask that leaves the file private until chmod sets the configured mode.
        let previousMask = umask(0o177)
        let status = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        umask(previousMask)
        if status < 0 {
            let error = SystemError.last("bind(\(path))")
            Glibc.close(fd)
            throw error
        }
        if chmod(path, mode_t(mode)) < 0 || Glibc.listen(fd, backlog) < 0 {
            let error = SystemError.last("chmod/listen(\(path))")
            Glibc.close(fd)
            unlink(path)
            throw error
        }
        return fd
    }

    /// Removes `path` if it is a socket file nobody listens on any more (left by a dead
    /// process): only when connecting is refused; any other answer leaves it alone.
    private static func removeIfStale(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return }
        do {
            Glibc.close(try connect(path: path))  // alive: bind then fails with EADDRINUSE, the right error
        } catch {
            if error.errno == ECONNREFUSED { unlink(path) }
        }
    }

    /// (device, inode) of the file at `path`, to recognise it later.
    public static func fileIdentity(path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// A blocking connection to `path` (the client side: bulwarkctl, tests).
    public static func connect(path: String) throws(SystemError) -> Int32 {
        guard let (target, length) = address(path) else { throw SystemError("connect(\(path)): path too long", errno: ENAMETOOLONG) }
        var address = target
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw SystemError.last("socket(AF_UNIX)") }
        let status = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        if status < 0 {
            let error = SystemError.last("connect(\(path))")
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// chown(2) of the socket file; nil leaves that id unchanged.
    public static func changeOwner(path: String, user: UInt32?, group: UInt32?) throws(SystemError) {
        if chown(path, user ?? UInt32.max, group ?? UInt32.max) < 0 { throw SystemError.last("chown(\(path))") }
    }

    /// The uid of a user name (or a numeric string), from the passwd database.
    public static func userID(_ name: String) -> UInt32? {
        if let id = UInt32(name) { return id }
        return getpwnam(name).map { $0.pointee.pw_uid }
    }

    public static func groupID(_ name: String) -> UInt32? {
        if let id = UInt32(name) { return id }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }

    public static func remove(path: String) { unlink(path) }
}
