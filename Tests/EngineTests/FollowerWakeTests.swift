import BulwarkSys
import BulwarkTestSupport
import Engine
import Synchronization
import Testing

/// On its event, waits (bounded) until `enough` returns true; records whether it did in time.
final class WaitingHandler: EventHandler {
    let entered = Atomic<Int>(0)
    let satisfied = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)
    private let enough: @Sendable () -> Bool

    init(until enough: @escaping @Sendable () -> Bool) { self.enough = enough }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        entered.add(1, ordering: .acquiringAndReleasing)
        satisfied.store(eventually(timeoutMilliseconds: 3000) { enough() }, ordering: .releasing)
        finished.store(true, ordering: .releasing)
    }

    func engineStopped() {}
}

/// The engine wakes a sleeping follower only when there is work for it (Engine.swift): these
/// check that the work does reach one. Each would block a thread until its timeout, and fail,
/// if the wake-up were missing.
@Suite struct FollowerWakeTests {
    /// Two events harvested by one epoll_wait: the thread that polled takes the first and wakes
    /// a follower for the second, so both handlers run at once.
    @Test func eventsHarvestedTogetherRunOnTwoThreadsAtOnce() throws {
        let engine = try Engine(workers: 2)
        let first = try EventFD(), second = try EventFD()
        defer { first.close(); second.close() }
        let handlers = Locked<[WaitingHandler]>([])
        let bothEntered: @Sendable () -> Bool = {
            handlers.withLock { $0.reduce(0) { $0 + $1.entered.load(ordering: .acquiring) } } == 2
        }
        let a = WaitingHandler(until: bothEntered), b = WaitingHandler(until: bothEntered)
        handlers.withLock { $0 = [a, b] }
        let release = Atomic<Bool>(false)
        let holding = Atomic<Bool>(false)
        try withRunningEngine(engine) {
            #expect(eventually { engine.followerStateForTesting == (sleeping: 1, polling: true) })
            // Hold the polling thread in an action while both fds become ready, so that its next
            // epoll_wait harvests the two events together.
            engine.schedule {
                holding.store(true, ordering: .releasing)
                _ = eventually(timeoutMilliseconds: 3000) { release.load(ordering: .acquiring) }
            }
            #expect(eventually { holding.load(ordering: .acquiring) })
            // The other thread went back to sleep, and nobody polls while the action holds.
            #expect(eventually { engine.followerStateForTesting == (sleeping: 1, polling: false) })
            first.signal()
            second.signal()
            let registrationA = engine.register(a), registrationB = engine.register(b)
            try engine.add(fd: first.fd, source: 0, of: registrationA, interest: .readable)
            try engine.add(fd: second.fd, source: 0, of: registrationB, interest: .readable)
            release.store(true, ordering: .releasing)
            #expect(eventually(timeoutMilliseconds: 5000) {
                a.finished.load(ordering: .acquiring) && b.finished.load(ordering: .acquiring)
            })
            let aSawBoth = a.satisfied.load(ordering: .acquiring), bSawBoth = b.satisfied.load(ordering: .acquiring)
            #expect(aSawBoth)
            #expect(bSawBoth)
            engine.unregister(registrationA)
            engine.unregister(registrationB)
        }
    }

    /// A handler waits for an action it scheduled. The other thread sleeps as a follower and
    /// nobody polls, so schedule() must wake it to poll and run the action.
    @Test func aScheduledActionRunsWhileTheOnlyAwakeThreadIsBusy() throws {
        let engine = try Engine(workers: 2)
        let ready = try EventFD()
        defer { ready.close() }
        let ran = Atomic<Bool>(false)
        let handler = WaitingHandler(until: { ran.load(ordering: .acquiring) })
        try withRunningEngine(engine) {
            #expect(eventually { engine.followerStateForTesting == (sleeping: 1, polling: true) })
            let registration = engine.register(handler)
            try engine.add(fd: ready.fd, source: 0, of: registration, interest: .readable)
            ready.signal()
            #expect(eventually { handler.entered.load(ordering: .acquiring) == 1 })
            // The handler's harvest was one event: the other thread sleeps on, and nobody polls.
            #expect(eventually { engine.followerStateForTesting == (sleeping: 1, polling: false) })
            engine.schedule { ran.store(true, ordering: .releasing) }
            #expect(eventually(timeoutMilliseconds: 5000) { handler.finished.load(ordering: .acquiring) })
            let actionRanMeanwhile = handler.satisfied.load(ordering: .acquiring)
            #expect(actionRanMeanwhile)
            engine.unregister(registration)
        }
    }
}
