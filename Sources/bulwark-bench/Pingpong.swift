import ArgumentParser
import BulwarkSys
import Glibc

struct Pingpong: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Round-trip latency: each connection sends a message, waits for its whole echo, verifies it, repeats.",
        discussion: "JSON keys: rtt_per_sec, p50_us, p99_us, p999_us, errors, connections, size, seconds, then extras."
    )

    @OptionGroup var client: ClientOptions
    @OptionGroup var timing: TimedOptions

    @Option(name: .long, help: "Connections.")
    var connections: Int = 64

    @Option(name: .long, help: "Message size in bytes.")
    var size: Int = 64

    @Option(name: .long, help: "Seconds without an echo after which an outstanding message counts as an error.")
    var stall: Double = 5

    @Flag(name: .long, help: "Start each message with a 2-byte big-endian length of the rest (a u16be frame), for a mux listener whose backend echoes payloads.")
    var u16beFrames = false

    func validate() throws {
        guard connections >= 1, connections <= 1_000_000 else { throw ValidationError("--connections must be >= 1") }
        guard size >= 1, size <= 64 << 20 else { throw ValidationError("--size must be 1...64 MiB") }
        guard !u16beFrames || (3...65_537).contains(size) else { throw ValidationError("--u16be-frames needs --size 3...65537") }
    }

    func run() throws {
        SignalFD.ignoreBrokenPipe()
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        let (target, sources) = try client.resolve()
        let pattern = Pattern(maximumMessageBytes: size)
        let threadCount = min(timing.threads, connections)
        let workers = try split(connections, into: threadCount).map { share in
            try PingpongWorker(
                target: target, sources: sources, firstIndex: share.first, count: share.count,
                size: size, pattern: pattern, stallNanoseconds: Int64(stall * 1e9),
                header: u16beFrames ? [UInt8((size - 2) >> 8), UInt8((size - 2) & 0xFF)] : [])
        }
        let window = try LoadRunner.run(
            workers: workers, warmup: timing.warmup, duration: timing.duration,
            connectTimeout: client.connectTimeout, cpuPids: try timing.pids())

        var histogram = LatencyHistogram()
        var errors = ErrorLog()
        var measured = 0, total = 0, connected = 0
        for worker in workers {
            histogram.merge(worker.histogram)
            errors.merge(worker.errors)
            measured += worker.measuredRoundTrips
            total += worker.totalRoundTrips
            connected += worker.connectedCount
        }
        let rate = Double(measured) / window.seconds
        let p50 = microseconds(histogram.quantile(0.5)), p99 = microseconds(histogram.quantile(0.99))
        let p999 = microseconds(histogram.quantile(0.999)), maximum = microseconds(histogram.maximum)
        let cpuPerRoundTrip = window.watchedCPUNanoseconds.map { measured > 0 ? Double($0) / 1000 / Double(measured) : .nan }

        if client.json {
            var json = JSONObject()
            json.add("rtt_per_sec", rate)
            json.add("p50_us", p50)
            json.add("p99_us", p99)
            json.add("p999_us", p999)
            json.add("errors", errors.count)
            json.add("connections", connections)
            json.add("size", size)
            json.add("seconds", window.seconds, decimals: 3)
            json.add("connected", connected)
            json.add("round_trips", measured)
            json.add("total_round_trips", total)
            json.add("mean_us", histogram.mean / 1000)
            json.add("max_us", maximum)
            if let cpu = window.watchedCPUNanoseconds {
                json.add("watched_cpu_seconds", Double(cpu) / 1e9, decimals: 3)
                json.add("watched_cpu_us_per_rt", cpuPerRoundTrip ?? .nan, decimals: 3)
            }
            json.add("error_samples", errors.summary)
            printLine(json.text)
        } else {
            printLine("pingpong \(client.target): \(connected)/\(connections) connections, \(size) B, \(fixed(window.seconds, 1)) s measured")
            printLine("  round trips/s  \(fixed(rate, 0))  (\(measured) measured, \(total) in all)")
            printLine("  latency us     p50 \(fixed(p50, 1))  p99 \(fixed(p99, 1))  p99.9 \(fixed(p999, 1))  max \(fixed(maximum, 1))  mean \(fixed(histogram.mean / 1000, 1))")
            if let cpuPerRoundTrip, let cpu = window.watchedCPUNanoseconds {
                printLine("  watched CPU    \(fixed(Double(cpu) / 1e9, 2)) s, \(fixed(cpuPerRoundTrip, 2)) us per round trip")
            }
            printLine("  errors         \(errors.count)")
            for sample in errors.summary { printLine("    \(sample)") }
        }
        if errors.count > 0 || connected < connections { throw ExitCode(1) }
    }
}

/// A share of the pingpong connections, on one thread with one epoll. Each fd is registered
/// once, edge-triggered for IN|OUT|RDHUP: the loop never calls epoll_ctl.
final class PingpongWorker: LoadWorker, @unchecked Sendable {  // @unchecked: used by its own thread between start and join; read by the coordinator after join
    private struct Connection {
        var fd: Int32 = -1
        var sequence: UInt64 = 0
        var patternOffset = 0
        var sent = 0
        var received = 0
        var sentAt: Int64 = 0
    }

    private let target: SocketAddress
    private let sources: [SocketAddress]
    private let firstIndex: Int
    private let size: Int
    private let pattern: Pattern
    private let stallNanoseconds: Int64
    /// Bytes every message starts with (a frame header) before its pattern bytes; maybe none.
    private let header: [UInt8]
    private let epoll: Epoll
    private var connections: [Connection]
    private let scratch: UnsafeMutableRawBufferPointer
    private static let scratchBytes = 262_144

    private(set) var histogram = LatencyHistogram()
    private(set) var errors = ErrorLog()
    private(set) var measuredRoundTrips = 0
    private(set) var totalRoundTrips = 0
    private(set) var connectedCount = 0
    private var measureStart: Int64 = 0
    private var measureEnd: Int64 = 0

    init(target: SocketAddress, sources: [SocketAddress], firstIndex: Int, count: Int, size: Int, pattern: Pattern,
         stallNanoseconds: Int64, header: [UInt8] = []) throws {
        self.header = header
        self.target = target
        self.sources = sources
        self.firstIndex = firstIndex
        self.size = size
        self.pattern = pattern
        self.stallNanoseconds = stallNanoseconds
        epoll = try Epoll()
        connections = Array(repeating: Connection(), count: count)
        scratch = .allocate(byteCount: Self.scratchBytes, alignment: 64)
    }

    deinit {
        scratch.deallocate()
        epoll.close()
    }

    func connect(deadline: Int64) {
        let fds = Connector.openOnEpoll(epoll, count: connections.count, firstIndex: firstIndex, target: target,
                                        sources: sources, deadline: deadline, errors: &errors)
        for (index, fd) in fds.enumerated() where fd >= 0 {
            connections[index].fd = fd
            connectedCount += 1
        }
    }

    func run(measureStart: Int64, measureEnd: Int64) {
        self.measureStart = measureStart
        self.measureEnd = measureEnd
        let capacity: Int32 = 512
        let events = UnsafeMutablePointer<EpollEventRecord>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        for index in connections.indices where connections[index].fd >= 0 {
            begin(index, now: MonotonicClock.nanoseconds())
        }
        while true {
            let now = MonotonicClock.nanoseconds()
            if now >= measureEnd { break }
            let timeout = Int32(min(100, (measureEnd - now) / 1_000_000 + 1))
            let count: Int
            do {
                count = try epoll.wait(into: events, capacity: capacity, timeoutMilliseconds: timeout)
            } catch {
                errors.note("\(error)")
                break
            }
            for slot in 0..<count { service(Int(events[slot].token)) }
        }
        let stallLimit = measureEnd - stallNanoseconds
        for index in connections.indices where connections[index].fd >= 0 {
            if connections[index].received < size && connections[index].sentAt < stallLimit {
                errors.note("no complete echo within \(fixed(Double(stallNanoseconds) / 1e9, 1)) s")
            }
            FileDescriptors.close(connections[index].fd)
            connections[index].fd = -1
        }
    }

    private func fail(_ index: Int, _ message: String) {
        errors.note(message)
        FileDescriptors.close(connections[index].fd)
        connections[index].fd = -1
    }

    /// Starts the next message on connection `index`.
    private func begin(_ index: Int, now: Int64) {
        connections[index].sequence &+= 1
        connections[index].patternOffset = pattern.offset(connection: firstIndex + index, sequence: connections[index].sequence)
        connections[index].sent = 0
        connections[index].received = 0
        connections[index].sentAt = now
        sendRest(index)
    }

    private func sendRest(_ index: Int) {
        while connections[index].sent < size {
            let connection = connections[index]
            do {
                let outcome: IOOutcome
                if connection.sent < header.count {
                    // Header and payload in one sendmsg: one segment per message, as a real
                    // client sends a frame (two sends would cost the gateway a second read and
                    // an ACK of its own for every message).
                    let piece = pattern.slice(at: connection.patternOffset, count: size - header.count)
                    outcome = try header[connection.sent...].withUnsafeBytes { bytes throws(SystemError) in
                        try Sockets.send(connection.fd, bytes, piece, UnsafeRawBufferPointer(start: nil, count: 0))
                    }
                } else {
                    let piece = pattern.slice(at: connection.patternOffset + connection.sent - header.count, count: size - connection.sent)
                    outcome = try Sockets.send(connection.fd, from: piece)
                }
                switch outcome {
                case .transferred(let count): connections[index].sent += count
                case .wouldBlock, .endOfStream: return  // the OUT edge brings us back
                }
            } catch {
                fail(index, "\(error)")
                return
            }
        }
    }

    /// The `count` bytes just read match the message at `received`: header, then pattern.
    private func echoMatches(count: Int, received: Int, patternOffset: Int) -> Bool {
        var checked = 0
        while checked < count && received + checked < header.count {
            if scratch[checked] != header[received + checked] { return false }
            checked += 1
        }
        guard checked < count else { return true }
        return pattern.matches(scratch.baseAddress! + checked, count: count - checked,
                               at: patternOffset + received + checked - header.count)
    }

    private func service(_ index: Int) {
        guard connections[index].fd >= 0 else { return }
        if connections[index].sent < size {
            sendRest(index)
            guard connections[index].fd >= 0 else { return }
        }
        while true {
            let outcome: IOOutcome
            do {
                outcome = try Sockets.receive(connections[index].fd, into: scratch)
            } catch {
                fail(index, "\(error)")
                return
            }
            switch outcome {
            case .wouldBlock:
                return
            case .endOfStream:
                fail(index, "connection closed by the peer")
                return
            case .transferred(let count):
                let connection = connections[index]
                if connection.received + count > connection.sent {
                    fail(index, "echo longer than what was sent")
                    return
                }
                if !echoMatches(count: count, received: connection.received, patternOffset: connection.patternOffset) {
                    fail(index, "echoed bytes differ from the bytes sent")
                    return
                }
                connections[index].received += count
                if connections[index].received == size {
                    let now = MonotonicClock.nanoseconds()
                    totalRoundTrips += 1
                    if now >= measureStart && now < measureEnd {
                        measuredRoundTrips += 1
                        histogram.record(now - connection.sentAt)
                    }
                    if now < measureEnd {
                        begin(index, now: now)
                        guard connections[index].fd >= 0 else { return }
                    }
                }
                if count < Self.scratchBytes { return }  // a short read drained the socket
            }
        }
    }
}
