import CBulwarkShims
import Glibc

/// A memory file (memfd) sealed against every change: how the master hands the one validated
/// config to its workers. A worker reads exactly the bytes the master checked, whatever the
/// file on disk says now and whatever its permissions are.
public enum SealedFile {
    /// A new sealed memory file holding `bytes`; close-on-exec.
    public static func create(name: String, bytes: [UInt8]) throws(SystemError) -> Int32 {
        let fd = bulwark_memfd_create(name)
        if fd < 0 { throw SystemError.last("memfd_create") }
        do throws(SystemError) {
            try bytes.withUnsafeBytes { buffer in Result { () throws(SystemError) in try FileDescriptors.writeAll(fd, buffer) } }.get()
            if bulwark_memfd_seal(fd) != 0 { throw SystemError.last("fcntl(F_ADD_SEALS)") }
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// Every byte of the file, read with pread from offset 0 (the offset is shared with every
    /// process holding the same file, so read(2) is not used).
    public static func read(_ fd: Int32, maximumBytes: Int = 16 << 20) throws(SystemError) -> [UInt8] {
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while contents.count <= maximumBytes {
            let offset = off_t(contents.count)
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingInterrupts { pread(fd, buffer.baseAddress, buffer.count, offset) }
            }
            if count < 0 { throw SystemError.last("pread") }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
        }
        throw SystemError("pread: more than \(maximumBytes) bytes", errno: EFBIG)
    }
}
