import ArgumentParser
import BulwarkSys
import Glibc

struct Churn: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connection churn: connect, one verified echo, close; --parallel at a time.",
        discussion: "JSON keys: conn_per_sec, errors, parallel, size, seconds, p50_us, p99_us (connect to echo complete), then extras."
    )

    @OptionGroup var client: ClientOptions
    @OptionGroup var timing: TimedOptions

    @Option(name: .long, help: "Connections in progress at any time.")
    var parallel: Int = 32

    @Option(name: .long, help: "Bytes echoed per connection.")
    var size: Int = 64

    @Option(name: .long, help: "Seconds a single connection may take (connect + echo) before it counts as an error.")
    var stall: Double = 5

    func validate() throws {
        guard parallel >= 1, parallel <= 100_000 else { throw ValidationError("--parallel must be 1...100000") }
        guard size >= 1, size <= 1 << 20 else { throw ValidationError("--size must be 1...1 MiB") }
    }

    func run() throws {
        SignalFD.ignoreBrokenPipe()
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        let (target, sources) = try client.resolve()
        let pattern = Pattern(maximumMessageBytes: size)
        let workers = try split(parallel, into: min(timing.threads, parallel)).map { share in
            try ChurnWorker(
                target: target, sources: sources, firstIndex: share.first, slots: share.count,
                threadCount: min(timing.threads, parallel), size: size, pattern: pattern,
                stallNanoseconds: Int64(stall * 1e9))
        }
        let window = try LoadRunner.run(
            workers: workers, warmup: timing.warmup, duration: timing.duration,
            connectTimeout: client.connectTimeout, cpuPids: try timing.pids())
        var errors = ErrorLog()
        var histogram = LatencyHistogram()
        var measured = 0, total = 0
        for worker in workers {
            errors.merge(worker.errors)
            histogram.merge(worker.histogram)
            measured += worker.measuredConnections
            total += worker.totalConnections
        }
        let rate = Double(measured) / window.seconds
        let p50 = microseconds(histogram.quantile(0.5)), p99 = microseconds(histogram.quantile(0.99))
        if client.json {
            var json = JSONObject()
            json.add("conn_per_sec", rate)
            json.add("errors", errors.count)
            json.add("parallel", parallel)
            json.add("size", size)
            json.add("seconds", window.seconds, decimals: 3)
            json.add("p50_us", p50)
            json.add("p99_us", p99)
            json.add("connections", measured)
            json.add("total_connections", total)
            if let cpu = window.watchedCPUNanoseconds {
                json.add("watched_cpu_seconds", Double(cpu) / 1e9, decimals: 3)
                json.add("watched_cpu_us_per_conn", measured > 0 ? Double(cpu) / 1000 / Double(measured) : .nan, decimals: 2)
            }
            json.add("error_samples", errors.summary)
            printLine(json.text)
        } else {
            printLine("churn \(client.target): \(parallel) in parallel, \(size) B echo each, \(fixed(window.seconds, 1)) s measured")
            printLine("  connections/s  \(fixed(rate, 0))  (\(measured) measured, \(total) in all)")
            printLine("  connect+echo   p50 \(fixed(p50, 1)) us  p99 \(fixed(p99, 1)) us")
            if let cpu = window.watchedCPUNanoseconds {
                printLine("  watched CPU    \(fixed(Double(cpu) / 1e9, 2)) s")
            }
            printLine("  errors         \(errors.count)")
            for sample in errors.summary { printLine("    \(sample)") }
        }
        if errors.count > 0 { throw ExitCode(1) }
    }
}

/// Slots of the churn, on one thread. A slot's socket is registered once, edge-triggered for
/// IN|OUT|RDHUP: the OUT edge says connected, the IN edge brings the echo; then close.
final class ChurnWorker: LoadWorker, @unchecked Sendable {  // @unchecked: used by its own thread between start and join; read by the coordinator after join
    private struct Slot {
        var fd: Int32 = -1
        var connected = false
        var startedAt: Int64 = 0
        var received = 0
        var patternOffset = 0
    }

    private let target: SocketAddress
    private let sources: [SocketAddress]
    private let firstIndex: Int
    private let threadCount: Int
    private let size: Int
    private let pattern: Pattern
    private let stallNanoseconds: Int64
    private let epoll: Epoll
    private var slots: [Slot]
    private let scratch: UnsafeMutableRawBufferPointer
    private var sourceCursor: Int
    private var sequence: UInt64 = 0

    private(set) var errors = ErrorLog()
    private(set) var histogram = LatencyHistogram()
    private(set) var measuredConnections = 0
    private(set) var totalConnections = 0
    private var measureStart: Int64 = 0
    private var measureEnd: Int64 = 0

    init(target: SocketAddress, sources: [SocketAddress], firstIndex: Int, slots: Int, threadCount: Int, size: Int, pattern: Pattern, stallNanoseconds: Int64) throws {
        self.target = target
        self.sources = sources
        self.firstIndex = firstIndex
        self.threadCount = threadCount
        self.size = size
        self.pattern = pattern
        self.stallNanoseconds = stallNanoseconds
        epoll = try Epoll()
        self.slots = Array(repeating: Slot(), count: slots)
        scratch = .allocate(byteCount: 65536, alignment: 64)
        sourceCursor = firstIndex
    }

    deinit {
        scratch.deallocate()
        epoll.close()
    }

    func connect(deadline: Int64) {}  // every connection is part of the measured work

    func run(measureStart: Int64, measureEnd: Int64) {
        self.measureStart = measureStart
        self.measureEnd = measureEnd
        let capacity: Int32 = 256
        let events = UnsafeMutablePointer<EpollEventRecord>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        for index in slots.indices { begin(index) }
        var nextStallCheck = MonotonicClock.nanoseconds() + 100_000_000
        while true {
            let now = MonotonicClock.nanoseconds()
            if now >= measureEnd { break }
            if now >= nextStallCheck {
                nextStallCheck = now + 100_000_000
                for index in slots.indices {
                    if slots[index].fd >= 0 {
                        if now - slots[index].startedAt > stallNanoseconds {
                            finish(index, error: slots[index].connected ? "no echo within the stall limit" : "connect timed out")
                        }
                    } else if now - slots[index].startedAt >= 50_000_000 {
                        begin(index)  // retry a slot whose socket could not be opened
                    }
                }
            }
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
        for index in slots.indices where slots[index].fd >= 0 {
            FileDescriptors.close(slots[index].fd)
            slots[index].fd = -1
        }
    }

    /// Opens the slot's next connection.
    private func begin(_ index: Int) {
        let now = MonotonicClock.nanoseconds()
        guard now < measureEnd else { return }
        let source: SocketAddress?
        if sources.isEmpty {
            source = nil
        } else {
            source = sources[sourceCursor % sources.count]
            sourceCursor &+= threadCount  // threads interleave over the sources
        }
        sequence &+= 1
        slots[index] = Slot(fd: -1, connected: false, startedAt: now, received: 0,
                            patternOffset: pattern.offset(connection: firstIndex + index, sequence: sequence))
        do {
            let (fd, _) = try Sockets.connectingSocket(to: target, from: source)
            do {
                try epoll.add(fd, events: [.readable, .writable, .readHangup, .edgeTriggered], data: UInt64(index))
            } catch {
                FileDescriptors.close(fd)
                throw error
            }
            slots[index].fd = fd
        } catch {
            // Not retried at once (that could spin): the periodic check retries the slot.
            errors.note("\(error)")
        }
    }

    private func finish(_ index: Int, error: String?) {
        if slots[index].fd >= 0 {
            FileDescriptors.close(slots[index].fd)
            slots[index].fd = -1
        }
        if let error { errors.note(error) }
        begin(index)
    }

    private func service(_ index: Int) {
        let fd = slots[index].fd
        guard fd >= 0 else { return }
        if !slots[index].connected {
            let failure = Sockets.pendingError(fd)
            if failure != 0 {
                finish(index, error: "connect to \(target): \(Errno.describe(failure))")
                return
            }
            let piece = pattern.slice(at: slots[index].patternOffset, count: size)
            do {
                guard case .transferred(let count) = try Sockets.send(fd, from: piece), count == size else {
                    // An unconnected socket: no OUT edge yet (spurious IN/HUP) — wait for it.
                    return
                }
            } catch {
                finish(index, error: "\(error)")
                return
            }
            slots[index].connected = true
        }
        while true {
            let outcome: IOOutcome
            do {
                outcome = try Sockets.receive(fd, into: scratch)
            } catch {
                finish(index, error: "\(error)")
                return
            }
            switch outcome {
            case .wouldBlock:
                return
            case .endOfStream:
                finish(index, error: "connection closed before the whole echo came back")
                return
            case .transferred(let count):
                let slot = slots[index]
                if slot.received + count > size {
                    finish(index, error: "echo longer than what was sent")
                    return
                }
                if !pattern.matches(scratch.baseAddress!, count: count, at: slot.patternOffset + slot.received) {
                    finish(index, error: "echoed bytes differ from the bytes sent")
                    return
                }
                slots[index].received += count
                if slots[index].received == size {
                    let now = MonotonicClock.nanoseconds()
                    totalConnections += 1
                    if now >= measureStart && now < measureEnd {
                        measuredConnections += 1
                        histogram.record(now - slot.startedAt)
                    }
                    finish(index, error: nil)
                    return
                }
            }
        }
    }
}
