import ArgumentParser
import BulwarkSys
import Glibc

/// Push throughput of a mux listener: many sessions wait, one more sends a trigger frame that
/// the backend answers with a BROADCAST, and every waiting session must receive each pushed
/// frame. Reading is one epoll loop, so the reader costs far less than the gateway it measures.
struct Fanout: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push throughput: N sessions wait while one sends --count trigger frames; each waiting session must receive --count frames.",
        discussion: """
            For a mux listener with u16be framing whose backend broadcasts on the trigger (bulwark-chat \
            --echo broadcasts "!all TEXT" as TEXT). Opens --connections, waits --settle s for the \
            backend to see them, sends the trigger --count times on one more connection, then reads \
            until every waiting connection has --count x --frame-bytes bytes (or --timeout s). \
            Time runs from the first trigger sent to the last byte read. --rounds repeats that on the \
            same sessions and reports the medians. JSON keys: connections, complete (the fewest of any \
            round), frames (per round), rounds, seconds, frames_per_sec, first_complete_seconds, \
            round_seconds.
            """
    )

    @OptionGroup var client: ClientOptions

    @Option(name: .long, help: "Sessions that wait for pushed frames.")
    var connections: Int = 8000

    @Option(name: .long, help: "Trigger frames to send (each becomes one pushed frame per session).")
    var count: Int = 10

    @Option(name: .long, help: "The trigger frame's payload (sent with a u16be length).")
    var trigger: String = "!all " + String(repeating: "x", count: 64)

    @Option(name: .customLong("frame-bytes"), help: "Bytes each session receives per trigger (header included).")
    var frameBytes: Int = 66

    @Option(name: .long, help: "Seconds between opening the sessions and the first trigger.")
    var settle: Double = 1

    @Option(name: .long, help: "Seconds allowed for each round's delivery.")
    var timeout: Double = 60

    @Option(name: .long, help: "Rounds on the same sessions: each sends --count triggers and waits until every session has them; the figures are the medians.")
    var rounds: Int = 1

    func validate() throws {
        guard connections >= 1, count >= 1, frameBytes >= 1, rounds >= 1 else { throw ValidationError("counts must be >= 1") }
        guard trigger.utf8.count <= 65535 else { throw ValidationError("--trigger is longer than a u16be frame") }
    }

    func run() throws {
        SignalFD.ignoreBrokenPipe()
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        let (target, sources) = try client.resolve()
        let epoll = try Epoll()
        defer { epoll.close() }
        var errors = ErrorLog()
        let fds = Connector.openOnEpoll(epoll, count: connections, firstIndex: 0, target: target, sources: sources,
                                        deadline: MonotonicClock.nanoseconds() + Int64(client.connectTimeout * 1e9), errors: &errors)
        defer { for fd in fds where fd >= 0 { FileDescriptors.close(fd) } }
        usleep(UInt32(settle * 1e6))
        let triggerFD = try Sockets.connectingSocket(to: target, from: nil).fd
        defer { FileDescriptors.close(triggerFD) }
        let frame = [UInt8(trigger.utf8.count >> 8), UInt8(trigger.utf8.count & 0xFF)] + Array(trigger.utf8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        let capacity: Int32 = 1024
        let events = UnsafeMutablePointer<EpollEventRecord>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        let waiting = fds.filter { $0 >= 0 }.count
        var outcomes: [Round] = []
        for _ in 0..<rounds {
            let outcome = try round(fds: fds, triggerFD: triggerFD, frame: frame, epoll: epoll, events: events, capacity: capacity, buffer: buffer)
            outcomes.append(outcome)
            if outcome.complete < waiting { break }
        }
        let seconds = median(outcomes.map(\.seconds))
        let frames = outcomes.map(\.frames).min() ?? 0
        let complete = outcomes.map(\.complete).min() ?? 0
        if client.json {
            var json = JSONObject()
            json.add("connections", waiting)
            json.add("complete", complete)
            json.add("frames", frames)
            json.add("rounds", outcomes.count)
            json.add("seconds", seconds, decimals: 4)
            json.add("frames_per_sec", seconds > 0 ? Double(frames) / seconds : 0, decimals: 0)
            json.add("first_complete_seconds", median(outcomes.map(\.firstCompleteSeconds)), decimals: 4)
            json.add("round_seconds", outcomes.map { fixed($0.seconds, 4) }.joined(separator: " "))
            json.add("error_samples", errors.summary)
            printLine(json.text)
        } else {
            printLine("fanout \(client.target): \(complete)/\(waiting) sessions got all \(count) frames; \(frames) frames in \(fixed(seconds, 3)) s = \(Int(Double(frames) / max(seconds, 1e-9))) frames/s (median of \(outcomes.count) rounds)")
        }
        if complete < waiting { throw ExitCode(1) }
    }

    /// What one round saw: sessions that got every frame, frames read, and the times from the
    /// first trigger sent to the last frame read and to the first session complete.
    struct Round {
        var complete: Int
        var frames: Int
        var seconds: Double
        var firstCompleteSeconds: Double
    }

    /// Sends the triggers, then reads until every waiting session has all its frames.
    private func round(fds: [Int32], triggerFD: Int32, frame: [UInt8], epoll: Epoll, events: UnsafeMutablePointer<EpollEventRecord>,
                       capacity: Int32, buffer: UnsafeMutableRawBufferPointer) throws -> Round {
        let expected = count * frameBytes
        var received = [Int](repeating: 0, count: fds.count)
        var complete = 0
        var firstCompleteNanoseconds: Int64 = 0
        let started = MonotonicClock.nanoseconds()
        try sendAll(triggerFD, frames: frame, times: count, deadline: started + 10_000_000_000)
        let deadline = started + Int64(timeout * 1e9)
        let waiting = fds.filter { $0 >= 0 }.count
        var finished = started
        while complete < waiting && MonotonicClock.nanoseconds() < deadline {
            let ready = (try? epoll.wait(into: events, capacity: capacity, timeoutMilliseconds: 100)) ?? 0
            for slot in 0..<ready {
                let index = Int(events[slot].token)
                let fd = fds[index]
                guard fd >= 0, received[index] < expected else { continue }
                // Edge-triggered: read until the socket is empty.
                while case .transferred(let bytes)? = try? Sockets.receive(fd, into: buffer), bytes > 0 {
                    received[index] += bytes
                }
                if received[index] >= expected {
                    complete += 1
                    finished = MonotonicClock.nanoseconds()
                    if complete == 1 { firstCompleteNanoseconds = finished - started }
                }
            }
        }
        return Round(complete: complete, frames: received.reduce(0, +) / frameBytes, seconds: Double(finished - started) / 1e9,
                     firstCompleteSeconds: Double(firstCompleteNanoseconds) / 1e9)
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// Sends the trigger frame `times` times on a blocking-style loop over the non-blocking socket.
    private func sendAll(_ fd: Int32, frames frame: [UInt8], times: Int, deadline: Int64) throws {
        let all = Array([[UInt8]](repeating: frame, count: times).joined())
        var offset = 0
        while offset < all.count {
            guard MonotonicClock.nanoseconds() < deadline else { throw ValidationError("the trigger could not be sent in time") }
            let outcome = all.withUnsafeBytes { try? Sockets.send(fd, from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch outcome {
            case .transferred(let sent)?: offset += sent
            default: _ = Poll.writable([fd], timeoutMilliseconds: 100)
            }
        }
    }
}
