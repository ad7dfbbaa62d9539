import BulwarkSys
import BulwarkTestSupport
import Engine
import Synchronization
import Testing

/// Counts calls; used to see which registration an event reached.
final class CountingHandler: EventHandler {
    let calls = Atomic<Int>(0)
    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) { calls.add(1, ordering: .relaxed) }
    func engineStopped() {}
}

/// Runs `engine` on a background thread for the duration of `body`, then stops it.
func withRunningEngine(_ engine: Engine, _ body: () throws -> Void) throws {
    let thread = try NativeThread.start(name: "test-engine") { try? engine.run() }
    defer {
        engine.stop()
        thread.join()
        engine.closeRemaining()
    }
    try body()
}

@Suite struct EngineTests {
    @Test func staleEventForAReusedSlotIsDropped() throws {
        let engine = try Engine(workers: 2)
        try withRunningEngine(engine) {
            let first = CountingHandler()
            let firstRegistration = engine.register(first)
            let wake = try EventFD()
            defer { wake.close() }
            try engine.add(fd: wake.fd, source: 0, of: firstRegistration, interest: .readable)

            // The handler goes away but its fd stays on the epoll with the old token; the slot is reused.
            engine.unregister(firstRegistration)
            let second = CountingHandler()
            let secondRegistration = engine.register(second)
            #expect(secondRegistration.slot == firstRegistration.slot)
            #expect(secondRegistration.generation == firstRegistration.generation + 1)

            wake.signal()  // epoll now reports the OLD token
            #expect(eventually { engine.staleEvents == 1 })
            #expect(first.calls.load(ordering: .relaxed) == 0)
            #expect(second.calls.load(ordering: .relaxed) == 0)

            // The new registration's own fd still reaches it.
            let other = try EventFD()
            defer { other.close() }
            try engine.add(fd: other.fd, source: 1, of: secondRegistration, interest: .readable)
            other.signal()
            #expect(eventually { second.calls.load(ordering: .relaxed) == 1 })
            engine.unregister(secondRegistration)
        }
    }

    /// The eventfd wakes a leader blocked in epoll_wait; the action runs on a worker thread.
    @Test func scheduledActionWakesTheEngine() throws {
        let engine = try Engine(workers: 2)
        let ranOn = Atomic<Int>(0)
        try withRunningEngine(engine) {
            sleepMilliseconds(50)  // let a leader block in epoll_wait first
            let caller = Int(ThreadIdentity.current())
            engine.schedule { ranOn.store(Int(ThreadIdentity.current()), ordering: .releasing) }
            #expect(eventually(timeoutMilliseconds: 2000) { ranOn.load(ordering: .acquiring) != 0 })
            #expect(ranOn.load(ordering: .acquiring) != caller)
        }
    }

    @Test func stopReturnsEveryThreadFromRun() throws {
        let engine = try Engine(workers: 3)
        let returned = Atomic<Bool>(false)
        let thread = try NativeThread.start(name: "test-engine") {
            try? engine.run()
            returned.store(true, ordering: .releasing)
        }
        sleepMilliseconds(50)
        engine.stop()
        #expect(eventually(timeoutMilliseconds: 2000) { returned.load(ordering: .acquiring) })
        thread.join()
    }

    @Test func injectedStaleTokenIsDropped() throws {
        let engine = try Engine(workers: 1)
        let handler = CountingHandler()
        let registration = engine.register(handler)
        engine.deliverForTesting(token: registration.token(source: 0), events: .readable)
        #expect(handler.calls.load(ordering: .relaxed) == 1)
        engine.unregister(registration)
        let reused = engine.register(CountingHandler())
        engine.deliverForTesting(token: registration.token(source: 0), events: .readable)
        #expect(handler.calls.load(ordering: .relaxed) == 1)
        #expect(engine.staleEvents == 1)
        engine.unregister(reused)
    }

    @Test func tokensRoundTripSlotGenerationAndSource() throws {
        let engine = try Engine(workers: 1)
        var registrations: [Registration] = []
        for _ in 0..<5 { registrations.append(engine.register(CountingHandler())) }
        for (index, registration) in registrations.enumerated() {
            #expect(registration.slot == UInt32(index))
            for source in 0..<Registration.sourcesPerRegistration {
                let token = registration.token(source: source)
                #expect(token >> 32 == UInt64(index))
                #expect(Int(token & 3) == source)
            }
        }
        for registration in registrations { engine.unregister(registration) }
        #expect(engine.liveRegistrations == 0)
    }
}
