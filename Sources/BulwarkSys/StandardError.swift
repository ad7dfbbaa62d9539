import Glibc

public enum StandardStreams {
    /// Writes a line to stderr unbuffered (logs, fatal start-up errors).
    public static func writeError(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        line.withUTF8 { bytes in try? FileDescriptors.writeAll(2, UnsafeRawBufferPointer(bytes)) }
    }

    public static func writeOutput(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        line.withUTF8 { bytes in try? FileDescriptors.writeAll(1, UnsafeRawBufferPointer(bytes)) }
    }
}
