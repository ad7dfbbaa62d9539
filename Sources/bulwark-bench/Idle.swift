import ArgumentParser
import BulwarkSys
import Glibc

struct Idle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Idle connections: open N, optionally echo one burst on each, hold them, check each is still alive.",
        discussion: """
            Steps, each bounded in time: open the connections (--connect-timeout); write --opened-file; \
            wait for --burst-when-file (at most --hold s); echo one --burst on each connection, \
            --burst-parallel at a time (--burst-timeout); write --ready-file; hold until \
            --hold-until-file exists or --hold s have passed; then send 1 byte on each and read it \
            back (--check-timeout). A script reads the gateway's memory between the files. \
            JSON keys: opened, alive, failed, then extras.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(name: .long, help: "Connections to open and hold.")
    var connections: Int = 1000

    @Option(name: .long, help: "Seconds to hold them (the longest wait for --hold-until-file and --burst-when-file).")
    var hold: Double = 5

    @Option(name: .long, help: "Bytes each connection echoes once after opening (0: none).")
    var burst: Int = 0

    @Option(name: .customLong("burst-parallel"), help: "Connections bursting at the same time.")
    var burstParallel: Int = 128

    @Option(name: .customLong("burst-timeout"), help: "Seconds allowed for all bursts.")
    var burstTimeout: Double = 120

    @Option(name: .customLong("connect-parallel"), help: "Connects in flight at the same time.")
    var connectParallel: Int = 256

    @Option(name: .customLong("check-timeout"), help: "Seconds allowed for the final alive check.")
    var checkTimeout: Double = 15

    @Option(name: .customLong("opened-file"), help: "Written (\"opened\") once every connection is open, before the bursts.")
    var openedFile: String?

    @Option(name: .customLong("burst-when-file"), help: "Bursts start only once this file exists (waiting at most --hold s).")
    var burstWhenFile: String?

    @Option(name: .customLong("ready-file"), help: "Written (\"ready\") once the connections are open and the bursts done.")
    var readyFile: String?

    @Option(name: .customLong("hold-until-file"), help: "End the hold as soon as this file exists (at most --hold s).")
    var holdUntilFile: String?

    func validate() throws {
        guard connections >= 1, connections <= 1_000_000 else { throw ValidationError("--connections must be >= 1") }
        guard hold >= 0, burstTimeout > 0, checkTimeout > 0 else { throw ValidationError("times must be positive") }
        guard burst >= 0, burst <= 64 << 20 else { throw ValidationError("--burst must be 0...64 MiB") }
        guard burstParallel >= 1, connectParallel >= 1 else { throw ValidationError("parallelism must be >= 1") }
    }

    func run() throws {
        SignalFD.ignoreBrokenPipe()
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        let (target, sources) = try client.resolve()
        let session = try IdleSession(count: connections, burst: burst, pattern: Pattern(maximumMessageBytes: max(burst, 1)))

        let connectStart = MonotonicClock.nanoseconds()
        let opened = Connector.open(
            count: connections, firstIndex: 0, target: target, sources: sources,
            parallel: connectParallel, deadline: connectStart + Int64(client.connectTimeout * 1e9))
        let connectSeconds = Double(MonotonicClock.nanoseconds() - connectStart) / 1e9
        session.adopt(opened)
        if let openedFile { try writeMarker(openedFile, "opened") }

        let holdNanoseconds = Int64(hold * 1e9)
        var burstSeconds = 0.0
        if burst > 0 {
            if let burstWhenFile {
                session.pump(until: MonotonicClock.nanoseconds() + holdNanoseconds) { fileExists(burstWhenFile) }
            }
            let burstStart = MonotonicClock.nanoseconds()
            session.exchangeOnAll(.burst, parallel: burstParallel, deadline: burstStart + Int64(burstTimeout * 1e9))
            burstSeconds = Double(MonotonicClock.nanoseconds() - burstStart) / 1e9
        }
        if let readyFile { try writeMarker(readyFile, "ready") }
        session.pump(until: MonotonicClock.nanoseconds() + holdNanoseconds) {
            holdUntilFile.map(fileExists) ?? false
        }
        let diedDuringHold = session.deadCount - session.failedBeforeHold
        session.exchangeOnAll(.check, parallel: connections, deadline: MonotonicClock.nanoseconds() + Int64(checkTimeout * 1e9))
        session.closeAll()

        let openedCount = opened.fds.filter { $0 >= 0 }.count
        let alive = session.aliveCount
        if client.json {
            var json = JSONObject()
            json.add("opened", openedCount)
            json.add("alive", alive)
            json.add("failed", connections - alive)
            json.add("requested", connections)
            json.add("connect_failures", connections - openedCount)
            json.add("burst", burst)
            json.add("burst_failures", session.burstFailures)
            json.add("died_during_hold", diedDuringHold)
            json.add("connect_seconds", connectSeconds, decimals: 3)
            json.add("burst_seconds", burstSeconds, decimals: 3)
            json.add("error_samples", session.errors.summary)
            printLine(json.text)
        } else {
            printLine("idle \(client.target): \(openedCount)/\(connections) opened in \(fixed(connectSeconds, 2)) s")
            if burst > 0 { printLine("  burst          \(burst) B each, \(session.burstFailures) failed, \(fixed(burstSeconds, 2)) s") }
            printLine("  alive at end   \(alive)  (died during hold: \(diedDuringHold))")
            printLine("  errors         \(session.errors.count)")
            for sample in session.errors.summary { printLine("    \(sample)") }
        }
        if alive < connections { throw ExitCode(1) }
    }
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// Writes "<word>\n" to `path` through a temporary name and rename(2), so a watcher never sees
/// a half-written file.
func writeMarker(_ path: String, _ word: String) throws {
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchFailure("cannot write \(temporary): \(Errno.describe(errno))") }
    let line = word + "\n"
    defer { FileDescriptors.close(fd) }
    var copy = line
    try copy.withUTF8 { bytes in try FileDescriptors.writeAll(fd, UnsafeRawBufferPointer(bytes)) }
    guard rename(temporary, path) == 0 else { throw BenchFailure("cannot rename to \(path): \(Errno.describe(errno))") }
}

/// The held connections and their per-connection exchange state (one thread, one epoll).
final class IdleSession {
    enum Phase: UInt8 { case unopened, idle, burst, check, alive, dead }
    enum Exchange { case burst, check }

    private let epoll: Epoll
    private let burst: Int
    private let pattern: Pattern
    private var fds: [Int32]
    private var phases: [Phase]
    private var sent: [Int]
    private var received: [Int]
    private var offsets: [Int]
    private let scratch: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutablePointer<EpollEventRecord>
    private static let eventCapacity: Int32 = 1024
    private var active = 0

    private(set) var errors = ErrorLog()
    private(set) var deadCount = 0
    private(set) var burstFailures = 0
    private(set) var failedBeforeHold = 0

    init(count: Int, burst: Int, pattern: Pattern) throws {
        epoll = try Epoll()
        self.burst = burst
        self.pattern = pattern
        fds = Array(repeating: -1, count: count)
        phases = Array(repeating: .unopened, count: count)
        sent = Array(repeating: 0, count: count)
        received = Array(repeating: 0, count: count)
        offsets = Array(repeating: 0, count: count)
        scratch = .allocate(byteCount: 262_144, alignment: 64)
        events = .allocate(capacity: Int(Self.eventCapacity))
    }

    deinit {
        scratch.deallocate()
        events.deallocate()
        epoll.close()
    }

    var aliveCount: Int { phases.reduce(0) { $0 + ($1 == .alive ? 1 : 0) } }

    func adopt(_ opened: OpenedConnections) {
        errors.merge(opened.errors)
        for (index, fd) in opened.fds.enumerated() where fd >= 0 {
            do {
                try epoll.add(fd, events: [.readable, .writable, .readHangup, .edgeTriggered], data: UInt64(index))
                fds[index] = fd
                phases[index] = .idle
            } catch {
                FileDescriptors.close(fd)
                errors.note("\(error)")
            }
        }
    }

    /// Services events until `deadline` or until `stop()` says so (checked at least every 100 ms).
    func pump(until deadline: Int64, stop: () -> Bool) {
        while !stop() {
            let now = MonotonicClock.nanoseconds()
            if now >= deadline { return }
            waitOnce(timeoutMilliseconds: Int32(min(100, (deadline - now) / 1_000_000 + 1)))
        }
    }

    private func waitOnce(timeoutMilliseconds: Int32) {
        let count = (try? epoll.wait(into: events, capacity: Self.eventCapacity, timeoutMilliseconds: timeoutMilliseconds)) ?? 0
        for slot in 0..<count { service(Int(events[slot].token)) }
    }

    /// Runs one exchange (a burst of `burst` bytes, or the 1-byte alive check) on every idle
    /// connection, `parallel` at a time, until all are done or `deadline` passes.
    func exchangeOnAll(_ exchange: Exchange, parallel: Int, deadline: Int64) {
        if exchange == .check { failedBeforeHold = deadCount }
        let phase: Phase = exchange == .burst ? .burst : .check
        var next = 0
        active = 0
        while true {
            while active < parallel && next < fds.count {
                let index = next
                next += 1
                guard phases[index] == .idle else { continue }
                phases[index] = phase
                sent[index] = 0
                received[index] = 0
                offsets[index] = pattern.offset(connection: index, sequence: exchange == .burst ? 1 : 2)
                active += 1
                service(index)
            }
            if active == 0 && next >= fds.count { return }
            let now = MonotonicClock.nanoseconds()
            if now >= deadline { break }
            waitOnce(timeoutMilliseconds: Int32(min(100, (deadline - now) / 1_000_000 + 1)))
        }
        for index in fds.indices where phases[index] == phase {
            kill(index, exchange == .burst ? "burst not echoed in time" : "no answer to the alive check in time")
        }
        for index in next..<fds.count where phases[index] == .idle && exchange == .check {
            kill(index, "alive check not started in time")
        }
    }

    func closeAll() {
        for index in fds.indices where fds[index] >= 0 {
            FileDescriptors.close(fds[index])
            fds[index] = -1
        }
    }

    private func kill(_ index: Int, _ message: String) {
        switch phases[index] {
        case .burst:
            burstFailures += 1
            active -= 1
        case .check:
            active -= 1
        default:
            break
        }
        errors.note(message)
        phases[index] = .dead
        deadCount += 1
        FileDescriptors.close(fds[index])
        fds[index] = -1
    }

    private func service(_ index: Int) {
        let phase = phases[index]
        switch phase {
        case .unopened, .dead:
            return
        case .idle, .alive:
            // Nothing is expected: an event with data or end of stream means the peer broke it.
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(fds[index], into: scratch) } catch {
                kill(index, "\(error)")
                return
            }
            switch outcome {
            case .wouldBlock: return
            case .endOfStream: kill(index, "connection closed by the peer while idle")
            case .transferred: kill(index, "unexpected bytes on an idle connection")
            }
        case .burst, .check:
            let size = phase == .burst ? burst : 1
            let fd = fds[index]
            while sent[index] < size {
                do {
                    guard case .transferred(let count) = try Sockets.send(fd, from: pattern.slice(at: offsets[index] + sent[index], count: size - sent[index])) else { break }
                    sent[index] += count
                } catch {
                    kill(index, "\(error)")
                    return
                }
            }
            while true {
                let outcome: IOOutcome
                do { outcome = try Sockets.receive(fd, into: scratch) } catch {
                    kill(index, "\(error)")
                    return
                }
                switch outcome {
                case .wouldBlock:
                    return
                case .endOfStream:
                    kill(index, "connection closed by the peer during the echo")
                    return
                case .transferred(let count):
                    if received[index] + count > sent[index] {
                        kill(index, "echo longer than what was sent")
                        return
                    }
                    if !pattern.matches(scratch.baseAddress!, count: count, at: offsets[index] + received[index]) {
                        kill(index, "echoed bytes differ from the bytes sent")
                        return
                    }
                    received[index] += count
                    if received[index] == size {
                        phases[index] = phase == .burst ? .idle : .alive
                        active -= 1
                        return
                    }
                }
            }
        }
    }
}
