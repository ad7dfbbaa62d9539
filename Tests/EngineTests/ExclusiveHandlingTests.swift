import BulwarkSys
import BulwarkTestSupport
import Engine
import Glibc
import Synchronization
import Testing

/// Shared tallies of the stress test.
final class StressLedger: @unchecked Sendable {  // @unchecked: `threads` is guarded by `lock`
    let violations = Atomic<Int>(0)
    let events = Atomic<Int>(0)
    private let lock = PthreadLock()
    private var threads: Set<Int> = []

    func saw(thread index: Int) { lock.withLock { _ = threads.insert(index) } }
    var threadsSeen: Set<Int> { lock.withLock { threads } }
}

/// Echo handler that records any moment when two threads are inside it at once.
final class ExclusiveEchoHandler: EventHandler, @unchecked Sendable {  // @unchecked: `registration` is guarded by `lock`, which handle takes only after the exclusivity check
    let fd: Int32
    let engine: Engine
    let ledger: StressLedger
    let lock = PthreadLock()
    var registration: Registration?
    private let inside = Atomic<Bool>(false)

    init(fd: Int32, engine: Engine, ledger: StressLedger) {
        self.fd = fd
        self.engine = engine
        self.ledger = ledger
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        if inside.exchange(true, ordering: .acquiringAndReleasing) { ledger.violations.add(1, ordering: .relaxed) }
        ledger.events.add(1, ordering: .relaxed)
        ledger.saw(thread: worker.index)
        var open = true
        // One receive decides each step: a second look after the loop could swallow the next
        // round, which the client sends as soon as it has read this echo.
        receiving: while true {
            switch try? Sockets.receive(fd, into: worker.scratch) {
            case .transferred(let count)?:
                // Small echoes: the socket buffer has room (the client reads each reply before sending more).
                _ = try? Sockets.send(fd, from: UnsafeRawBufferPointer(rebasing: worker.scratch[0..<count]))
                sched_yield()  // widen the window in which a second delivery would be caught
            case .wouldBlock?:
                break receiving
            default:
                open = false
                break receiving
            }
        }
        inside.store(false, ordering: .releasing)
        let registration = lock.withLock { self.registration }
        if open, let registration {
            try? engine.rearm(fd: fd, source: 0, of: registration, interest: .readable)
        } else if let registration {
            engine.unregister(registration)
            FileDescriptors.close(fd)
        }
    }

    func engineStopped() { FileDescriptors.close(fd) }
}

/// Accepts connections and gives each an ExclusiveEchoHandler.
final class AcceptingHandler: EventHandler, @unchecked Sendable {  // @unchecked: `registration` is guarded by `lock`
    let fd: Int32
    let engine: Engine
    let ledger: StressLedger
    let lock = PthreadLock()
    var registration: Registration?

    init(fd: Int32, engine: Engine, ledger: StressLedger) {
        self.fd = fd
        self.engine = engine
        self.ledger = ledger
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        while case .accepted(let client)? = try? Sockets.accept4(fd) {
            let handler = ExclusiveEchoHandler(fd: client, engine: engine, ledger: ledger)
            let registration = engine.register(handler)
            handler.lock.withLock { handler.registration = registration }
            try? engine.add(fd: client, source: 0, of: registration, interest: .readable)
        }
        if let registration = lock.withLock({ self.registration }) {
            try? engine.rearm(fd: fd, source: 0, of: registration, interest: .readable)
        }
    }

    func engineStopped() { FileDescriptors.close(fd) }
}

@Suite struct ExclusiveHandlingTests {
    /// Many connections on 2 worker threads: no fd is ever handled by two threads at once, and
    /// both threads do handle events (so the check is not vacuous).
    @Test func noFdIsHandledByTwoThreadsAtOnce() throws {
        let engine = try Engine(workers: 2)
        let ledger = StressLedger()
        let listenFD = try Sockets.listeningSocket(at: loopback(), backlog: 512)
        let address = try Sockets.localAddress(listenFD)
        let acceptor = AcceptingHandler(fd: listenFD, engine: engine, ledger: ledger)
        let acceptorRegistration = engine.register(acceptor)
        acceptor.lock.withLock { acceptor.registration = acceptorRegistration }
        try engine.add(fd: listenFD, source: 0, of: acceptorRegistration, interest: .readable)

        let clientThreads = 4
        let connectionsPerThread = 32
        let roundsPerConnection = 60
        let failures = Atomic<Int>(0)
        try withRunningEngine(engine) {
            var threads: [NativeThread] = []
            for threadIndex in 0..<clientThreads {
                threads.append(try NativeThread.start(name: "stress-client") {
                    do {
                        // Generous timeouts: the whole suite runs in parallel on 2 CPUs (and again under TSan).
                        let sockets = try (0..<connectionsPerThread).map { _ in try BlockingSocket.connect(to: address, timeoutMilliseconds: 60_000) }
                        for round in 0..<roundsPerConnection {
                            // Send on every connection first, so many fds are ready at once.
                            for (index, socket) in sockets.enumerated() {
                                try socket.sendAll(patternBytes(count: 48, seed: UInt32(threadIndex * 100_000 + index * 100 + round)))
                            }
                            for (index, socket) in sockets.enumerated() {
                                let expected = patternBytes(count: 48, seed: UInt32(threadIndex * 100_000 + index * 100 + round))
                                if try socket.receiveExactly(48) != expected { failures.add(1, ordering: .relaxed) }
                            }
                        }
                        for socket in sockets { socket.close() }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                })
            }
            for thread in threads { thread.join() }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(ledger.violations.load(ordering: .relaxed) == 0)
        #expect(ledger.events.load(ordering: .relaxed) >= clientThreads * connectionsPerThread * roundsPerConnection / 4)
        #expect(ledger.threadsSeen == [0, 1])
    }
}
