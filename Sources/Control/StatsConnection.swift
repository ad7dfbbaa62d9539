import BulwarkSys
import Config
import Engine

/// One client of a stats socket: reads command lines, answers each, and (unless it asked for
/// `prompt`) closes once the answer is written. A line longer than 4 KiB is refused and the
/// client closed, so a client cannot make the gateway buffer without bound.
final class StatsConnection: EventHandler, @unchecked Sendable {  // @unchecked: every var is only touched while holding `lock`
    static let maxLineBytes = 4096
    /// Answers queued beyond this wait: further lines are answered only as the client reads.
    static let maxQueuedOutputBytes = 64 * 1024

    private let lock = PthreadLock()
    private let fd: Int32
    private let server: StatsServer
    private var registration: Registration?
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var interactive = false
    private var closeWhenFlushed = false
    /// After an overlong line: the error is sent and our side shut, and what the client still
    /// sends is read and dropped (bounded), so that closing does not reset the connection
    /// before the client has read the error.
    private var discardedBytes: Int?
    static let maxDiscardBytes = 256 * 1024
    /// Last time the client sent or read anything; the server closes clients idle too long.
    private var lastActivityNanoseconds = MonotonicClock.nanoseconds()
    /// On a `metrics_bind` server: the HTTP request being read (its lines come in as commands do).
    private var httpRequest: MetricsHTTPRequest?
    /// A command is running on the background queue: nothing more is answered until it is done.
    private var commandRunning = false
    /// The client shut its side: once the running command is answered, close.
    private var peerFinished = false

    init(fd: Int32, server: StatsServer) {
        self.fd = fd
        self.server = server
        if server.service == .metrics { httpRequest = MetricsHTTPRequest() }
    }

    func start() {
        lock.withLock {
            let registration = server.engine.register(self)
            self.registration = registration
            do {
                try server.engine.add(fd: fd, source: 0, of: registration, interest: .readable)
            } catch {
                close()
            }
        }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard registration != nil else { return }
            lastActivityNanoseconds = MonotonicClock.nanoseconds()
            let readable = !events.isDisjoint(with: [.readable, .hangup, .error, .readHangup])
            if commandRunning && !events.isDisjoint(with: [.hangup, .error]) { return close() }  // nobody left to answer
            if discardedBytes != nil {
                if readable { discardInput(scratch: worker.scratch) }
            } else if readable && !closeWhenFlushed && !hasPendingLine && !commandRunning && !peerFinished {
                readCommands(scratch: worker.scratch)
            }
            guard registration != nil else { return }
            flushAndRearm()
        }
    }

    /// Closes the client if it has done nothing for `limit` (called by the server's sweep).
    func closeIfIdle(now: Int64, limitNanoseconds: Int64) {
        lock.withLock {
            if registration != nil && now - lastActivityNanoseconds > limitNanoseconds { close() }
        }
    }

    /// Bytes held for this client: answers not yet sent and input not yet answered.
    var heldBytes: Int { lock.withLock { output.count - outputOffset + input.count } }

    private var hasPendingLine: Bool { input.contains(UInt8(ascii: "\n")) }

    func engineStopped() { lock.withLock { close() } }

    private func readCommands(scratch: UnsafeMutableRawBufferPointer) {
        let outcome: IOOutcome
        do { outcome = try Sockets.receive(fd, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Self.maxLineBytes])) } catch {
            return close()
        }
        switch outcome {
        case .wouldBlock:
            return
        case .endOfStream:
            // A client that sent its command and shut its side (socat, nc -q) still gets the answer.
            peerFinished = true
            if !input.isEmpty && httpRequest == nil && !commandRunning { answer(String(decoding: input, as: UTF8.self)) }
            input.removeAll()
            if !commandRunning { closeWhenFlushed = true }
        case .transferred(let count):
            input.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            // A line over the limit is refused whether or not its end has arrived yet (input is
            // only read while it holds no complete line, so each read's lines are checked here).
            if input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).contains(where: { $0.count > Self.maxLineBytes }) {
                return refuseOverlongLine()
            }
            answerPendingLines()
        }
    }

    /// The error, our side shut once it is sent, and whatever the client still sends dropped.
    private func refuseOverlongLine() {
        input.removeAll()
        write(httpRequest != nil ? MetricsHTTPRequest.response(431, "Request Header Fields Too Large")
                                 : "error: command line longer than \(Self.maxLineBytes) bytes\n\n")
        discardedBytes = 0
    }

    private func discardInput(scratch: UnsafeMutableRawBufferPointer) {
        while let discarded = discardedBytes {
            guard case .transferred(let count)? = try? Sockets.receive(fd, into: scratch) else {
                return close()  // end of stream, error, or nothing more for now after the limit
            }
            discardedBytes = discarded + count
            if discarded + count > Self.maxDiscardBytes { return close() }
            if count < scratch.count { return }
        }
    }

    /// Answers the complete lines received, while the queued output stays small; the rest wait
    /// (reading pauses) until the client has read what is queued.
    private func answerPendingLines() {
        while !closeWhenFlushed, !commandRunning, output.count - outputOffset < Self.maxQueuedOutputBytes,
              let newline = input.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: input[..<newline], as: UTF8.self)
            input.removeSubrange(...newline)
            if httpRequest != nil {
                takeHTTPLine(line)
            } else {
                answer(line)
            }
        }
    }

    /// One line of an HTTP request head; the response once the head is complete, then close.
    private func takeHTTPLine(_ line: String) {
        let context = server.context
        guard let response = httpRequest?.take(line: line, body: { Metrics.exposition(Metrics.families(context)) }) else { return }
        write(response)
        closeWhenFlushed = true
    }

    /// Runs one command line and queues its answer, ended by an empty line. `prompt` and `quit`
    /// are answered here; a command runs on the background work queue (a walk over every
    /// connection must not hold an engine thread) and its answer is delivered back under this
    /// connection's lock.
    private func answer(_ rawLine: String) {
        let command: String
        switch StatsCommandLine.classify(rawLine) {
        case .prompt:
            interactive.toggle()
            write(interactive ? "> " : "")
            return
        case .quit:
            closeWhenFlushed = true
            return
        case .command(let text):
            command = text
        }
        commandRunning = true
        let level = server.config.level
        let context = server.context
        WorkQueue.background.submit { [self] in
            deliver(StatsCommandLine.answer(command, level: level, context: context))
        }
    }

    /// A command's answer is ready (on the work queue's thread): queue it, send what the socket
    /// takes, and go on with the next line or close.
    private func deliver(_ text: String) {
        lock.withLock {
            commandRunning = false
            guard registration != nil else { return }  // closed meanwhile (idle, or the engine stopped)
            write(text)
            write(interactive ? "\n> " : "\n")
            if !interactive || peerFinished { closeWhenFlushed = true }
            flushAndRearm()
        }
    }

    private func write(_ text: String) {
        output.append(contentsOf: text.utf8)
    }

    /// Sends what is queued; then waits for more input, for the socket to drain, or closes.
    private func flushAndRearm() {
        // Lines held back while output was queued are answered as it drains.
        if hasPendingLine && discardedBytes == nil { answerPendingLines() }
        while outputOffset < output.count {
            let outcome = output[outputOffset...].withUnsafeBytes { bytes in
                Result { () throws(SystemError) in try Sockets.send(fd, from: bytes) }
            }
            guard case .success(let sent) = outcome else { return close() }
            guard case .transferred(let count) = sent else { break }
            outputOffset += count
        }
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: false)
            outputOffset = 0
            if closeWhenFlushed { return close() }
            if discardedBytes != nil { Sockets.shutdown(fd, .write) }
            if hasPendingLine && discardedBytes == nil && !commandRunning { return flushAndRearm() }  // more answers to send
        }
        guard let registration else { return }
        // While a command runs, or after the client's end of input, nothing is read: armed for
        // nothing, the socket stays quiet until the answer is delivered (which re-arms it).
        let interest: EpollEvents = outputOffset < output.count ? .writable : (commandRunning || peerFinished ? [] : .readable)
        do {
            try server.engine.rearm(fd: fd, source: 0, of: registration, interest: interest)
        } catch {
            close()
        }
    }

    private func close() {
        guard let registration else { return }
        server.engine.unregister(registration)
        self.registration = nil
        FileDescriptors.close(fd)
        server.connectionClosed(self)
    }
}
