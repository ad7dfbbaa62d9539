import SysGuard
import Testing

/// The one guard of every connection, without sockets or clocks: events in, one action out.
@Suite struct PureConnectionGuardTests {
    static let second: Int64 = 1_000_000_000

    static func settings(framing: Framing = .u16be, maxFrame: Int = 1024, idle: Int64? = nil, frame: Int64? = nil,
                         packetSoft: Int? = nil, packetHard: Int? = nil, byteSoft: Int? = nil, byteHard: Int? = nil,
                         maxReceive: Int = 4096, maxSend: Int = 8192, dryRun: Bool = false) -> ConnectionGuardSettings {
        let on: LimitMode = dryRun ? .dryRun : .enforce
        return ConnectionGuardSettings(
            framing: framing, maxFrameBytes: maxFrame, idleTimeoutNanoseconds: idle, frameTimeoutNanoseconds: frame,
            packetRateSoft: packetSoft, packetRateHard: packetHard, byteRateSoft: byteSoft, byteRateHard: byteHard,
            maxReceiveBufferBytes: maxReceive, maxSendBufferBytes: maxSend,
            idleMode: idle == nil ? .off : on, frameTimeoutMode: frame == nil ? .off : on,
            packetRateMode: packetSoft == nil && packetHard == nil ? .off : on,
            byteRateMode: byteSoft == nil && byteHard == nil ? .off : on, bufferMode: on, maxFrameMode: framing == .stream ? .off : on)
    }

    /// u16be frames of `count` payload bytes each.
    static func frames(_ sizes: [Int]) -> [UInt8] {
        sizes.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] + [UInt8](repeating: 7, count: $0) }
    }

    @Test func aPlainStreamHoldsNoBoxAndForwardsEverything() {
        let settings = Self.settings(framing: .stream)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        #expect(!guardian.inspects && !guardian.hasTimers)
        let bytes: [UInt8] = Array(repeating: 1, count: 100)
        #expect(bytes.withUnsafeBytes { guardian.handle(.bytesRead($0), settings: settings, now: 1) } == .forward(count: 100))
        #expect(MemoryLayout<ConnectionGuard>.size <= 46, "a million idle connections pay for every byte")
    }

    @Test func theIdleTimeoutClosesOnlyAfterRealIdleness() {
        let settings = Self.settings(framing: .stream, idle: 10 * Self.second)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        #expect(guardian.nextDeadline(readingPaused: false) == 10 * Self.second)
        guardian.touch(now: 6 * Self.second)
        #expect(guardian.handle(.timerFired(readingPaused: false, frameStartedAt: nil), settings: settings, now: 10 * Self.second) == .proceed)
        #expect(guardian.nextDeadline(readingPaused: false) == 16 * Self.second, "re-armed for the remainder")
        #expect(guardian.handle(.timerFired(readingPaused: false, frameStartedAt: nil), settings: settings, now: 16 * Self.second)
                == .close(.idleTimeout))
    }

    @Test func aSlowFrameIsClosedByTheFrameTimeoutButNotForTheGatewaysOwnPause() {
        let settings = Self.settings(frame: Self.second)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        let half = Self.frames([100]).prefix(50)
        _ = Array(half).withUnsafeBytes { guardian.handle(.bytesRead($0), settings: settings, now: 0) }
        #expect(guardian.nextDeadline(readingPaused: false) == Self.second)
        guardian.readingPaused(now: Self.second / 2)
        #expect(guardian.nextDeadline(readingPaused: true) == nil, "not timed while the gateway pauses")
        guardian.readingResumed(now: Self.second)
        #expect(guardian.nextDeadline(readingPaused: false) == Self.second + Self.second / 2, "the pause is credited")
        #expect(guardian.handle(.timerFired(readingPaused: false, frameStartedAt: nil), settings: settings, now: 2 * Self.second)
                == .close(.frameTimeout))
    }

    @Test func theSoftPacketRateForwardsWhatTheWindowAllowsAndHoldsTheRest() {
        let settings = Self.settings(packetSoft: 2)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        let bytes = Self.frames([1, 1, 1, 1])
        let action = bytes.withUnsafeBytes { guardian.handle(.bytesRead($0), settings: settings, now: 0) }
        #expect(action == .forward(count: 6), "two frames of 3 bytes")
        #expect(bytes.withUnsafeBytes { guardian.handle(.holding(UnsafeRawBufferPointer(rebasing: $0[6...])), settings: settings, now: 0) }
                == .proceed)
        #expect(guardian.held.count == 6)
        #expect(guardian.resumeAtNanoseconds == Self.second)
        #expect(guardian.handle(.heldWindowEnded, settings: settings, now: Self.second) == .forward(count: 6))
        guardian.consumeHeld(6)
        #expect(guardian.held.isEmpty && guardian.resumeAtNanoseconds == nil)
    }

    @Test func heldBytesPastTheReceiveCapClose() {
        let settings = Self.settings(byteSoft: 10, maxReceive: 16)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        let bytes = [UInt8](repeating: 0, count: 40)
        #expect(bytes.withUnsafeBytes { guardian.handle(.holding($0), settings: settings, now: 0) } == .close(.receiveBuffer))
    }

    @Test func theHardRatesCloseAndAnAllowListedClientIsExempt() {
        let settings = Self.settings(packetHard: 3)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        let four = Self.frames([1, 1, 1, 1])
        #expect(four.withUnsafeBytes { guardian.handle(.bytesRead($0), settings: settings, now: 0) } == .close(.packetRate))
        var exempt = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: true, now: 0)
        #expect(four.withUnsafeBytes { exempt.handle(.bytesRead($0), settings: settings, now: 0) } == .forward(count: four.count))
    }

    @Test func aDryRunIsCountedOncePerConnectionAndClosesNothing() {
        let settings = Self.settings(packetHard: 1, maxSend: 10, dryRun: true)
        var guardian = ConnectionGuard(settings: settings, scansFrames: true, bypassRates: false, now: 0)
        let two = Self.frames([1, 1])
        for round in 0..<3 {
            let action = two.withUnsafeBytes { guardian.handle(.bytesRead($0), settings: settings, now: Int64(round)) }
            #expect(action == .forward(count: two.count))
        }
        #expect(guardian.handle(.queuedToClient(bytes: 11), settings: settings, now: 0) == .proceed)
        #expect(guardian.handle(.queuedToClient(bytes: 12), settings: settings, now: 0) == .proceed)
        #expect(guardian.takeDryRuns() == [CloseReasons(.packetRate), CloseReasons(.sendBuffer)])
        #expect(guardian.takeDryRuns().isEmpty, "each reason once")
    }

    @Test func theSendCapClosesAQueuePastIt() {
        let settings = Self.settings(maxSend: 100)
        var guardian = ConnectionGuard(settings: settings, scansFrames: false, bypassRates: false, now: 0)
        #expect(guardian.handle(.queuedToClient(bytes: 100), settings: settings, now: 0) == .proceed, "at the cap is within it")
        #expect(guardian.handle(.queuedToClient(bytes: 101), settings: settings, now: 0) == .close(.sendBuffer))
    }

    /// A mux session: its framing cuts frames and reports them; the guard keeps the hard rates
    /// and times the frame the framing says is in progress.
    @Test func aSessionWithItsOwnFramingReportsWhatArrived() {
        let settings = Self.settings(frame: Self.second, byteHard: 100)
        var guardian = ConnectionGuard(settings: settings, scansFrames: false, bypassRates: false, now: 0)
        #expect(!guardian.inspects, "the session's framing cuts the frames")
        #expect(guardian.handle(.arrived(frames: 0, bytes: 60), settings: settings, now: 0) == .proceed)
        #expect(guardian.handle(.arrived(frames: 0, bytes: 60), settings: settings, now: 1) == .close(.byteRate))
        var timed = ConnectionGuard(settings: settings, scansFrames: false, bypassRates: false, now: 0)
        #expect(timed.nextDeadline(readingPaused: false, frameStartedAt: 5) == 5 + Self.second)
        #expect(timed.handle(.timerFired(readingPaused: false, frameStartedAt: 5), settings: settings, now: 5 + Self.second)
                == .close(.frameTimeout))
    }

    @Test func aDryRunFrameTimeoutOfASessionFramingIsNotTimedAgain() {
        let settings = Self.settings(frame: Self.second, dryRun: true)
        var guardian = ConnectionGuard(settings: settings, scansFrames: false, bypassRates: false, now: 0)
        #expect(guardian.handle(.timerFired(readingPaused: false, frameStartedAt: 0), settings: settings, now: Self.second) == .proceed)
        #expect(guardian.takeDryRuns() == CloseReasons(.frameTimeout))
        #expect(guardian.nextDeadline(readingPaused: false, frameStartedAt: 0) == nil)
    }
}
