import Glibc

public enum Files {
    /// Reads a whole file (a config, a /proc file) with open/read/close.
    public static func readAll(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = retryingInterrupts { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw SystemError.last("open(\(path))") }
        defer { Glibc.close(fd) }
        return try readToEnd(fd, path: path, maximumBytes: .max)
    }

    /// Reads an open fd to its end; throws EFBIG past `maximumBytes`.
    private static func readToEnd(_ fd: Int32, path: String, maximumBytes: Int) throws(SystemError) -> [UInt8] {
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingInterrupts { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            }
            if count < 0 { throw SystemError.last("read(\(path))") }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
            if contents.count > maximumBytes { throw SystemError("larger than \(maximumBytes) bytes", errno: EFBIG) }
        }
    }

    public static func readText(_ path: String) throws(SystemError) -> String {
        String(decoding: try readAll(path), as: UTF8.self)
    }

    /// A config file: opened without blocking (a FIFO with no writer, a device), and refused
    /// unless it is a regular file of at most `maximumBytes`.
    public static func readRegularFile(_ path: String, maximumBytes: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        let fd = retryingInterrupts { open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        if fd < 0 { throw SystemError.last("open(\(path))") }
        defer { Glibc.close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw SystemError.last("fstat(\(path))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw SystemError("not a regular file", errno: EINVAL) }
        guard info.st_size <= maximumBytes else { throw SystemError("larger than \(maximumBytes) bytes", errno: EFBIG) }
        return try readToEnd(fd, path: path, maximumBytes: maximumBytes)
    }

    /// What identifies a file's content at a path: device, inode, size and modification time.
    public struct Identity: Equatable, Sendable {
        public let device: UInt64
        public let inode: UInt64
        public let size: Int64
        public let modifiedNanoseconds: Int64
    }

    /// The identity of the file `path` names (symbolic links followed).
    public static func identity(_ path: String) throws(SystemError) -> Identity {
        var info = stat()
        if stat(path, &info) != 0 { throw SystemError.last("stat(\(path))") }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                        modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    /// Whether `path` is a regular file this process may execute.
    public static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }
}
