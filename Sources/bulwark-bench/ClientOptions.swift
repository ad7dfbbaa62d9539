import ArgumentParser
import BulwarkSys

/// Options every subcommand shares.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Echo service to load: a.b.c.d:port or [v6]:port.")
    var target: String = "127.0.0.1:7000"

    @Option(name: .long, help: "Client source addresses, bound round-robin before connect: 'auto' (127.0.0.2-127.0.0.254 for a 127.x target, else none), 'none', a range A-B, or a comma list.")
    var sources: String = "auto"

    @Option(name: .customLong("connect-timeout"), help: "Seconds allowed for opening all connections.")
    var connectTimeout: Double = 30

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        _ = try resolve()
    }

    /// The target address and the list of source addresses (empty: let the kernel choose).
    func resolve() throws -> (target: SocketAddress, sources: [SocketAddress]) {
        guard let address = SocketAddress.parseNumeric(target) else {
            throw ValidationError("--target must be a.b.c.d:port or [v6]:port, got '\(target)'")
        }
        return (address, try SourceAddresses.parse(sources, target: address))
    }
}

/// Extra options of the commands that run for a fixed time.
struct TimedOptions: ParsableArguments {
    @Option(name: .long, help: "Seconds measured.")
    var duration: Double = 10

    @Option(name: .long, help: "Seconds of traffic before the measured window (not counted).")
    var warmup: Double = 2

    @Option(name: .long, help: "Client threads, each with its own epoll; connections are split between them.")
    var threads: Int = 1

    @Option(name: .customLong("cpu-pids"), help: "Comma-separated pids whose CPU time (utime+stime) is measured over the window, e.g. the gateway's processes.")
    var cpuPids: String = ""

    func validate() throws {
        guard duration > 0, duration <= 86400 else { throw ValidationError("--duration must be in (0, 86400]") }
        guard warmup >= 0, warmup <= 3600 else { throw ValidationError("--warmup must be in [0, 3600]") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
        _ = try pids()
    }

    func pids() throws -> [Int32] {
        try cpuPids.split(separator: ",").map { text in
            guard let pid = Int32(text.trimmingSpaces()), pid > 0 else { throw ValidationError("--cpu-pids: bad pid '\(text)'") }
            return pid
        }
    }
}

enum SourceAddresses {
    static func parse(_ text: String, target: SocketAddress) throws -> [SocketAddress] {
        switch text {
        case "none", "":
            return []
        case "auto":
            let bytes = target.addressBytes
            if bytes.count == 4 && bytes[0] == 127 { return try parse("127.0.0.2-127.0.0.254", target: target) }
            return []
        default:
            break
        }
        var result: [SocketAddress] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "-", maxSplits: 1).map { String($0).trimmingSpaces() }
            guard let first = SocketAddress.parseNumeric(host: parts[0], port: 0) else {
                throw ValidationError("--sources: bad address '\(parts[0])'")
            }
            if parts.count == 1 {
                result.append(first)
                continue
            }
            guard first.addressBytes.count == 4,
                let last = SocketAddress.parseNumeric(host: parts[1], port: 0), last.addressBytes.count == 4
            else { throw ValidationError("--sources: ranges are IPv4 only ('\(item)')") }
            let low = ipv4Number(first.addressBytes), high = ipv4Number(last.addressBytes)
            guard low <= high, high - low < 65536 else { throw ValidationError("--sources: bad range '\(item)'") }
            for value in low...high {
                let bytes = [UInt8(value >> 24), UInt8((value >> 16) & 255), UInt8((value >> 8) & 255), UInt8(value & 255)]
                result.append(SocketAddress(addressBytes: bytes, port: 0)!)
            }
        }
        for source in result where source.family != target.family {
            throw ValidationError("--sources: \(source) is not of the target's address family")
        }
        return result
    }

    private static func ipv4Number(_ bytes: [UInt8]) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
