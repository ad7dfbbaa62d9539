import ArgumentParser
import BulwarkSys
import Glibc

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Throughput: each connection keeps --pipeline messages in flight and verifies the echo.",
        discussion: "JSON keys: mb_per_sec (10^6 echoed payload bytes per second), messages_per_sec, errors, connections, pipeline, size, seconds."
    )

    @OptionGroup var client: ClientOptions
    @OptionGroup var timing: TimedOptions

    @Option(name: .long, help: "Connections.")
    var connections: Int = 16

    @Option(name: .long, help: "Messages in flight per connection.")
    var pipeline: Int = 16

    @Option(name: .long, help: "Message size in bytes.")
    var size: Int = 4096

    func validate() throws {
        guard connections >= 1 else { throw ValidationError("--connections must be >= 1") }
        guard pipeline >= 1, pipeline <= 1_000_000 else { throw ValidationError("--pipeline must be >= 1") }
        guard size >= 1, size <= 64 << 20 else { throw ValidationError("--size must be 1...64 MiB") }
    }

    func run() throws {
        SignalFD.ignoreBrokenPipe()
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        let (target, sources) = try client.resolve()
        let pattern = Pattern(maximumMessageBytes: size)
        let workers = try split(connections, into: min(timing.threads, connections)).map { share in
            try StreamWorker(
                target: target, sources: sources, firstIndex: share.first, count: share.count,
                size: size, pipeline: pipeline, pattern: pattern)
        }
        let window = try LoadRunner.run(
            workers: workers, warmup: timing.warmup, duration: timing.duration,
            connectTimeout: client.connectTimeout, cpuPids: try timing.pids())
        var errors = ErrorLog()
        var bytes = 0, messages = 0, connected = 0
        for worker in workers {
            errors.merge(worker.errors)
            bytes += worker.measuredBytes
            messages += worker.measuredMessages
            connected += worker.connectedCount
        }
        let megabytes = Double(bytes) / 1e6 / window.seconds
        let messageRate = Double(messages) / window.seconds
        if client.json {
            var json = JSONObject()
            json.add("mb_per_sec", megabytes)
            json.add("messages_per_sec", messageRate)
            json.add("errors", errors.count)
            json.add("connections", connections)
            json.add("pipeline", pipeline)
            json.add("size", size)
            json.add("seconds", window.seconds, decimals: 3)
            json.add("connected", connected)
            json.add("bytes", bytes)
            if let cpu = window.watchedCPUNanoseconds {
                json.add("watched_cpu_seconds", Double(cpu) / 1e9, decimals: 3)
                json.add("watched_cpu_us_per_mb", bytes > 0 ? Double(cpu) / 1000 / (Double(bytes) / 1e6) : .nan, decimals: 2)
            }
            json.add("error_samples", errors.summary)
            printLine(json.text)
        } else {
            printLine("stream \(client.target): \(connected)/\(connections) connections x \(pipeline) in flight x \(size) B, \(fixed(window.seconds, 1)) s measured")
            printLine("  MB/s echoed    \(fixed(megabytes, 1))  (\(fixed(messageRate, 0)) messages/s)")
            if let cpu = window.watchedCPUNanoseconds {
                printLine("  watched CPU    \(fixed(Double(cpu) / 1e9, 2)) s")
            }
            printLine("  errors         \(errors.count)")
            for sample in errors.summary { printLine("    \(sample)") }
        }
        if errors.count > 0 || connected < connections { throw ExitCode(1) }
    }
}

/// A share of the stream connections on one thread. The echo of a connection is one byte
/// stream; `received` walks it message by message and checks each piece against the pattern.
final class StreamWorker: LoadWorker, @unchecked Sendable {  // @unchecked: used by its own thread between start and join; read by the coordinator after join
    private struct Connection {
        var fd: Int32 = -1
        var sentMessages: UInt64 = 0  // fully sent
        var sentInMessage = 0
        var sendOffset = 0
        var receivedMessages: UInt64 = 0  // fully received
        var receivedInMessage = 0
        var receiveOffset = 0
    }

    private let target: SocketAddress
    private let sources: [SocketAddress]
    private let firstIndex: Int
    private let size: Int
    private let pipeline: UInt64
    private let pattern: Pattern
    private let epoll: Epoll
    private var connections: [Connection]
    private let scratch: UnsafeMutableRawBufferPointer
    private static let scratchBytes = 262_144

    private(set) var errors = ErrorLog()
    private(set) var measuredBytes = 0
    private(set) var measuredMessages = 0
    private(set) var connectedCount = 0
    private var measureStart: Int64 = 0
    private var measureEnd: Int64 = 0

    init(target: SocketAddress, sources: [SocketAddress], firstIndex: Int, count: Int, size: Int, pipeline: Int, pattern: Pattern) throws {
        self.target = target
        self.sources = sources
        self.firstIndex = firstIndex
        self.size = size
        self.pipeline = UInt64(pipeline)
        self.pattern = pattern
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
        for index in connections.indices where connections[index].fd >= 0 { fill(index) }
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
        for index in connections.indices where connections[index].fd >= 0 {
            FileDescriptors.close(connections[index].fd)
            connections[index].fd = -1
        }
    }

    private func fail(_ index: Int, _ message: String) {
        errors.note(message)
        FileDescriptors.close(connections[index].fd)
        connections[index].fd = -1
    }

    /// Sends until `pipeline` messages are in flight or the socket is full.
    private func fill(_ index: Int) {
        while true {
            var connection = connections[index]
            if connection.sentInMessage == 0 {
                guard connection.sentMessages - connection.receivedMessages < pipeline else { return }
                connection.sendOffset = pattern.offset(connection: firstIndex + index, sequence: connection.sentMessages)
            }
            let piece = pattern.slice(at: connection.sendOffset + connection.sentInMessage, count: size - connection.sentInMessage)
            let outcome: IOOutcome
            do {
                outcome = try Sockets.send(connection.fd, from: piece)
            } catch {
                fail(index, "\(error)")
                return
            }
            guard case .transferred(let count) = outcome else { return }  // the OUT edge brings us back
            connection.sentInMessage += count
            if connection.sentInMessage == size {
                connection.sentMessages += 1
                connection.sentInMessage = 0
            }
            connections[index] = connection
        }
    }

    private func service(_ index: Int) {
        guard connections[index].fd >= 0 else { return }
        while true {
            let outcome: IOOutcome
            do {
                outcome = try Sockets.receive(connections[index].fd, into: scratch)
            } catch {
                fail(index, "\(error)")
                return
            }
            guard case .transferred(let count) = outcome else {
                if outcome == .endOfStream {
                    fail(index, "connection closed by the peer")
                    return
                }
                break
            }
            guard consume(index, count) else { return }
            if count < Self.scratchBytes { break }
        }
        if MonotonicClock.nanoseconds() < measureEnd { fill(index) }
    }

    /// Checks `count` received bytes in the scratch buffer against the messages sent.
    private func consume(_ index: Int, _ count: Int) -> Bool {
        var connection = connections[index]
        let sentBytes = connection.sentMessages * UInt64(size) + UInt64(connection.sentInMessage)
        let receivedBytes = connection.receivedMessages * UInt64(size) + UInt64(connection.receivedInMessage)
        if receivedBytes + UInt64(count) > sentBytes {
            fail(index, "echo longer than what was sent")
            return false
        }
        var position = 0
        var completed = 0
        while position < count {
            if connection.receivedInMessage == 0 {
                connection.receiveOffset = pattern.offset(connection: firstIndex + index, sequence: connection.receivedMessages)
            }
            let piece = min(count - position, size - connection.receivedInMessage)
            if !pattern.matches(scratch.baseAddress! + position, count: piece, at: connection.receiveOffset + connection.receivedInMessage) {
                fail(index, "echoed bytes differ from the bytes sent")
                return false
            }
            position += piece
            connection.receivedInMessage += piece
            if connection.receivedInMessage == size {
                connection.receivedMessages += 1
                connection.receivedInMessage = 0
                completed += 1
            }
        }
        connections[index] = connection
        let now = MonotonicClock.nanoseconds()
        if now >= measureStart && now < measureEnd {
            measuredBytes += count
            measuredMessages += completed
        }
        return true
    }
}
