import BulwarkSys

/// One command over a stats socket: send the line, read the answer until the gateway closes
/// the connection (it does after answering a non-interactive client).
enum StatsClient {
    /// One line out, then our side is shut (the gateway answers, then closes); the answer ends
    /// at its empty line. Bounded: a gateway that says nothing for 10 s is an error.
    static func send(_ line: String, to path: String) throws -> String {
        let fd = try UnixSockets.connect(path: path)
        defer { FileDescriptors.close(fd) }
        Sockets.setReceiveTimeout(fd, seconds: 10)
        let request = Array((line + "\n").utf8)
        try request.withUnsafeBytes { bytes in try FileDescriptors.writeAll(fd, bytes) }
        Sockets.shutdown(fd, .write)
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !answer.ends(with: [10, 10]) {
            let outcome = try chunk.withUnsafeMutableBytes { buffer in try FileDescriptors.read(fd, into: buffer) }
            guard case .transferred(let count) = outcome, count > 0 else { break }
            answer += chunk[0..<count]
        }
        guard answer.ends(with: [10, 10]) else {
            throw SystemError("the gateway closed the connection without a complete answer", errno: Errno.protocolError)
        }
        return String(decoding: answer, as: UTF8.self)
    }

    /// A sentence for the usual failures: no socket, no permission, nobody listening.
    static func explain(_ error: any Error, socketPath: String) -> String {
        guard let error = error as? SystemError else { return "\(socketPath): \(error)" }
        switch error.errno {
        case Errno.noSuchFile: return "\(socketPath) does not exist: is bulwark running, with a [[stats]] socket at that path? (-s PATH)"
        case Errno.accessDenied, Errno.notPermitted: return "permission denied on \(socketPath): its mode and owner come from [[stats]] mode/user/group"
        case Errno.connectionRefused: return "nothing listens on \(socketPath): bulwark is not running (a stale socket file)"
        case Errno.wouldBlock: return "\(socketPath): no answer within 10 s"
        case Errno.protocolError, Errno.connectionReset, Errno.brokenPipe: return "\(socketPath): the gateway closed the connection without a complete answer (too many stats clients?)"
        default: return "\(socketPath): \(error)"
        }
    }
}

/// Aligns tab-separated lines into columns for people; other lines are left as they are.
enum TableLayout {
    static func aligned(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var output: [String] = []
        var block: [[String]] = []
        func flush() {
            guard !block.isEmpty else { return }
            let columns: Int = block.map(\.count).max() ?? 0
            var widths = [Int](repeating: 0, count: columns)
            for row in block {
                for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
            }
            for row in block {
                output.append(row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index])
                }.joined(separator: "  "))
            }
            block.removeAll()
        }
        for line in lines {
            if line.contains("\t") {
                block.append(line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init))
            } else {
                flush()
                output.append(line)
            }
        }
        flush()
        return output.joined(separator: "\n")
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

enum ProcessEnvironment {
    static func value(_ name: String) -> String? {
        Processes.environment(name)
    }
}
