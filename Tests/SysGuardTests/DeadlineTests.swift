import SysGuard
import Testing

@Suite("Idle and frame deadlines")
struct DeadlineTests {
    static let second: Int64 = 1_000_000_000

    @Test func untouchedConnectionExpiresAtTheTimeout() {
        let idle = IdleDeadline(timeoutNanoseconds: 10 * Self.second, now: 0)
        #expect(idle.onTimerFired(now: 10 * Self.second) == .expired)
        #expect(idle.onTimerFired(now: 11 * Self.second) == .expired)
    }

    @Test func activityRearmsForTheRemainder() {
        var idle = IdleDeadline(timeoutNanoseconds: 10 * Self.second, now: 0)
        idle.touch(now: 4 * Self.second)
        #expect(idle.lastActivityNanoseconds == 4 * Self.second)
        #expect(idle.onTimerFired(now: 10 * Self.second) == .rearm(afterNanoseconds: 4 * Self.second))
        #expect(idle.onTimerFired(now: 14 * Self.second - 1) == .rearm(afterNanoseconds: 1))
        #expect(idle.onTimerFired(now: 14 * Self.second) == .expired)
        #expect(idle.deadlineNanoseconds == 14 * Self.second)
    }

    @Test func timerFiringEarlyRearmsForTheRest() {
        let idle = IdleDeadline(timeoutNanoseconds: Self.second, now: 100)
        #expect(idle.onTimerFired(now: 100 + Self.second - 1_000_000) == .rearm(afterNanoseconds: 1_000_000))
    }

    @Test func frameTimeoutClosesAHalfSentFrame() {
        var timers = ConnectionTimers(idleTimeoutNanoseconds: 60 * Self.second, frameTimeoutNanoseconds: 5 * Self.second, now: 0)
        timers.touch(now: 100 * Self.second)
        let frameStart = 100 * Self.second
        #expect(timers.nextDeadlineNanoseconds(frameStartedAtNanoseconds: frameStart) == 105 * Self.second)
        #expect(timers.onTimerFired(now: 103 * Self.second, frameStartedAtNanoseconds: frameStart)
            == .rearm(afterNanoseconds: 2 * Self.second))
        #expect(timers.onTimerFired(now: 105 * Self.second, frameStartedAtNanoseconds: frameStart) == .close(.frameTimeout))
        // The frame completed in time: only the idle deadline is left.
        #expect(timers.onTimerFired(now: 105 * Self.second, frameStartedAtNanoseconds: nil)
            == .rearm(afterNanoseconds: 55 * Self.second))
        #expect(timers.onTimerFired(now: 160 * Self.second, frameStartedAtNanoseconds: nil) == .close(.idleTimeout))
    }

    @Test func frameTimeoutWinsATie() {
        let timers = ConnectionTimers(idleTimeoutNanoseconds: 5 * Self.second, frameTimeoutNanoseconds: 5 * Self.second, now: 0)
        #expect(timers.onTimerFired(now: 5 * Self.second, frameStartedAtNanoseconds: 0) == .close(.frameTimeout))
    }

    @Test func withoutApplicableTimeoutsTheTimerIsDisarmed() {
        let none = ConnectionTimers(idleTimeoutNanoseconds: nil, frameTimeoutNanoseconds: nil, now: 0)
        #expect(none.nextDeadlineNanoseconds(frameStartedAtNanoseconds: 5) == nil)
        #expect(none.onTimerFired(now: 10, frameStartedAtNanoseconds: 5) == .disarm)
        let frameOnly = ConnectionTimers(idleTimeoutNanoseconds: nil, frameTimeoutNanoseconds: Self.second, now: 0)
        #expect(frameOnly.onTimerFired(now: 10, frameStartedAtNanoseconds: nil) == .disarm)
        #expect(frameOnly.onTimerFired(now: 10, frameStartedAtNanoseconds: 5) == .rearm(afterNanoseconds: Self.second - 5))
        let idleOnly = ConnectionTimers(idleTimeoutNanoseconds: Self.second, frameTimeoutNanoseconds: nil, now: 0)
        #expect(idleOnly.nextDeadlineNanoseconds(frameStartedAtNanoseconds: 0) == Self.second)
    }
}

@Suite("File budget")
struct FileBudgetTests {
    @Test func reserveAndPerConnectionCosts() {
        #expect(FileBudget.reserveFiles(listenerCount: 2, backendServerCount: 3, statsSockets: 1) == 40)
        #expect(FileBudget.filesPerConnection(relayMode: true) == 3)
        #expect(FileBudget.filesPerConnection(relayMode: false) == 2)
    }

    @Test func tcpRelayAtTheEdgeOfTheBudget() {
        func check(_ connections: Int) -> FileBudgetResult {
            FileBudget.check(maxFiles: 20_000, maxConnections: connections, listenerCount: 2, backendServerCount: 3,
                             statsSockets: 1, relayMode: true)
        }
        #expect(check(6_000) == .fits(neededFiles: 18_040))
        #expect(check(6_653) == .fits(neededFiles: 19_999))
        #expect(check(6_654) == .exceeds(neededFiles: 20_002, availableFiles: 20_000))
        #expect(FileBudget.maxConnectionsThatFit(maxFiles: 20_000, listenerCount: 2, backendServerCount: 3,
                                                 statsSockets: 1, relayMode: true) == 6_653)
    }

    @Test func muxCostsTwoPerConnection() {
        // Reserve 32 + 2 for one listener: 495 connections fill 1024 files exactly.
        let result = FileBudget.check(maxFiles: 1_024, maxConnections: 495, listenerCount: 1, backendServerCount: 0,
                                      statsSockets: 0, relayMode: false)
        #expect(result == .fits(neededFiles: 1_024))
        let over = FileBudget.check(maxFiles: 1_024, maxConnections: 496, listenerCount: 1, backendServerCount: 0,
                                    statsSockets: 0, relayMode: false)
        #expect(over == .exceeds(neededFiles: 1_026, availableFiles: 1_024))
    }

    @Test func hugeAndNegativeInputsDoNotOverflow() {
        #expect(FileBudget.check(maxFiles: 1_000_000, maxConnections: .max, listenerCount: .max, backendServerCount: .max,
                                 statsSockets: .max, relayMode: true) == .exceeds(neededFiles: .max, availableFiles: 1_000_000))
        #expect(FileBudget.check(maxFiles: 100, maxConnections: -5, listenerCount: -1, backendServerCount: -1,
                                 statsSockets: -1, relayMode: true) == .fits(neededFiles: 32))
        #expect(FileBudget.maxConnectionsThatFit(maxFiles: 10, listenerCount: 0, backendServerCount: 0, statsSockets: 0,
                                                 relayMode: true) == 0)
    }
}
