import Glibc

public enum Files {
    /// Reads a whole file (a config, a /proc file) with open/read/close.
    public static func readAll(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = retryingInterrupts { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw SystemError.last("open(\(path))") }
        defer { Glibc.close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingInterrupts { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            }
            if count < 0 { throw SystemError.last("read(\(path))") }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
        }
    }

    public static func readText(_ path: String) throws(SystemError) -> String {
        String(decoding: try readAll(path), as: UTF8.self)
    }
}
