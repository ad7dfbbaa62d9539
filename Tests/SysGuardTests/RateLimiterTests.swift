import SysGuard
import Testing

@Suite("RateLimiter: fixed 1-second windows")
struct RateLimiterTests {
    static let second = RateLimiter.windowNanoseconds

    @Test func staysSmall() {
        #expect(MemoryLayout<RateLimiter>.size == 24)
    }

    @Test func withoutLimitsEverythingPasses() {
        var limiter = RateLimiter(softPerSecond: nil, hardPerSecond: nil)
        #expect(limiter.allowance(now: 0) == .max)
        #expect(limiter.recordArrived(.max, now: 0) == .ok)
        #expect(limiter.recordArrived(.max, now: 0) == .ok)
        #expect(limiter.hasSoftLimit == false)
        #expect(limiter.hasHardLimit == false)
    }

    @Test func softAllowanceIsUsedUpAndRenewedAtTheWindowEnd() {
        var limiter = RateLimiter(softPerSecond: 10, hardPerSecond: nil)
        let start: Int64 = 5_000_000_000
        #expect(limiter.allowance(now: start) == 10)
        #expect(limiter.windowEndNanoseconds == start + Self.second)
        limiter.recordPassed(4, now: start + 1)
        #expect(limiter.allowance(now: start + 2) == 6)
        limiter.recordPassed(6, now: start + 3)
        #expect(limiter.allowance(now: start + Self.second - 1) == 0)
        #expect(limiter.allowance(now: start + Self.second) == 10)
        #expect(limiter.windowEndNanoseconds == start + 2 * Self.second)
    }

    @Test func passingMoreThanTheAllowanceNeverGoesNegative() {
        var limiter = RateLimiter(softPerSecond: 3, hardPerSecond: nil)
        limiter.recordPassed(7, now: 0)
        #expect(limiter.allowance(now: 1) == 0)
    }

    @Test func hardLimitCountsArrivalsNotWhatPassed() {
        var limiter = RateLimiter(softPerSecond: 2, hardPerSecond: 5)
        #expect(limiter.allowance(now: 0) == 2)
        // One read brings 6 units; only 2 may pass, but 6 arrived: over the hard limit.
        #expect(limiter.recordArrived(6, now: 0) == .overHard)
    }

    @Test func hardLimitIsMoreThanTheLimitWithinOneWindow() {
        var limiter = RateLimiter(softPerSecond: nil, hardPerSecond: 5)
        #expect(limiter.recordArrived(3, now: 0) == .ok)
        #expect(limiter.recordArrived(2, now: Self.second - 1) == .ok)
        #expect(limiter.recordArrived(1, now: Self.second - 1) == .overHard)
    }

    @Test func arrivalsInTheNextWindowStartAgain() {
        var limiter = RateLimiter(softPerSecond: nil, hardPerSecond: 5)
        #expect(limiter.recordArrived(5, now: 0) == .ok)
        #expect(limiter.recordArrived(5, now: Self.second) == .ok)
        #expect(limiter.recordArrived(1, now: Self.second + 10) == .overHard)
    }

    @Test func aWindowOpensWithTheFirstUseAfterThePreviousEnded() {
        var limiter = RateLimiter(softPerSecond: 1, hardPerSecond: nil)
        _ = limiter.allowance(now: 0)
        #expect(limiter.windowEndNanoseconds == Self.second)
        limiter.recordPassed(1, now: 2_500_000_000)
        #expect(limiter.windowEndNanoseconds == 3_500_000_000)
        #expect(limiter.allowance(now: 3_499_999_999) == 0)
        #expect(limiter.allowance(now: 3_500_000_000) == 1)
    }

    @Test func countsSaturateInsteadOfOverflowing() {
        var limiter = RateLimiter(softPerSecond: nil, hardPerSecond: Int(Int32.max) - 1)
        #expect(limiter.recordArrived(Int(Int32.max) - 1, now: 0) == .ok)
        #expect(limiter.recordArrived(.max, now: 0) == .overHard)
        var soft = RateLimiter(softPerSecond: 1_000, hardPerSecond: nil)
        soft.recordPassed(.max, now: 0)
        soft.recordPassed(.max, now: 0)
        #expect(soft.allowance(now: 0) == 0)
    }

    @Test func negativeCountsAreIgnoredAndNegativeLimitsAreZero() {
        var limiter = RateLimiter(softPerSecond: -4, hardPerSecond: 1)
        #expect(limiter.allowance(now: 0) == 0)
        #expect(limiter.recordArrived(-10, now: 0) == .ok)
        #expect(limiter.recordArrived(1, now: 0) == .ok)
        #expect(limiter.recordArrived(1, now: 0) == .overHard)
    }

    @Test func relayLoopPausesAndResumes() {
        // 3 frames/s soft: a read with 5 frames forwards 3, holds 2 until the window ends.
        var packets = RateLimiter(softPerSecond: 3, hardPerSecond: 100)
        var harness = ScanHarness(.u16be, maxFrameBytes: 4)
        let stream = Array([[UInt8]](repeating: Frames.u16be([9]), count: 5).joined())
        let first = harness.feed(stream, frameLimit: packets.allowance(now: 0), now: 0)
        #expect(packets.recordArrived(first.framesArrived, now: 0) == .ok)
        packets.recordPassed(first.framesCompleted, now: 0)
        #expect(first.framesCompleted == 3)
        #expect(packets.allowance(now: 1) == 0)
        let resumeAt = packets.windowEndNanoseconds
        let second = harness.feed([], frameLimit: packets.allowance(now: resumeAt), now: resumeAt)
        packets.recordPassed(second.framesCompleted, now: resumeAt)
        #expect(second.framesCompleted == 2)
        #expect(packets.allowance(now: resumeAt) == 1)
        #expect(harness.forwarded == stream)
    }
}
