/// What happened on a connection, as its guard hears it.
public enum GuardEvent {
    /// Bytes read from the client, on a connection whose guard scans frames itself (a tcp
    /// listener): what may be forwarded now.
    case bytesRead(UnsafeRawBufferPointer)
    /// The rate window that held bytes back ended: what of them may be forwarded now.
    case heldWindowEnded
    /// What the session's own framing read (a mux session), for the hard rates: the bytes of a
    /// read before it is cut, then the frames it completed.
    case arrived(frames: Int, bytes: Int)
    /// Bytes a soft limit did not let through: kept until the window ends, within the receive cap.
    case holding(UnsafeRawBufferPointer)
    /// The queue toward the client holds this many bytes now (the slow-reader cap).
    case queuedToClient(bytes: Int)
    /// The connection's timer fired. `readingPaused`: the gateway itself is not reading the
    /// client; `frameStartedAt`: where the session's own framing says the frame in progress
    /// began (ignored when the guard scans frames itself).
    case timerFired(readingPaused: Bool, frameStartedAt: Int64?)
}

/// The one thing to do about it.
public enum GuardAction: Equatable, Sendable {
    case proceed
    /// Forward this many of the bytes the event was about (a soft rate holds the rest).
    case forward(count: Int)
    case close(CloseReason)
}

/// Every per-connection limit of one client, for both session kinds: idle and frame timeouts
/// sharing one timer, packet and byte rates (soft: hold reading; hard: close), the frame size,
/// the receive and send caps, and dry runs (each reason counted once per connection). Pure: it
/// takes `now` and an event and returns one action; the session does the I/O. The settings are
/// the listener's, passed on each call, never stored per connection.
///
/// Memory: a client with neither framing to scan nor rates holds only its timers (a few words);
/// the scanner, rate limiters, held bytes and paused-time credit live in a box allocated only
/// where the listener has them.
public struct ConnectionGuard {
    // In this order the struct packs into 46 bytes (the box pointer first, the two bit sets last).
    private var inspection: GuardInspection?
    public private(set) var timers: ConnectionTimers?
    /// Dry-run verdicts already reported (once per connection and reason), and those not yet
    /// taken by the session for counting.
    private var dryRunsReported = CloseReasons()
    private var dryRunsPending = CloseReasons()

    /// `scansFrames`: the guard cuts nothing but scans the stream for frames itself (a tcp
    /// listener); otherwise the session's framing reports frames (`arrived`). `bypassRates`:
    /// an allow-listed client, exempt from the rate limits.
    public init(settings: ConnectionGuardSettings, scansFrames: Bool, bypassRates: Bool, now: Int64) {
        let packetMode = bypassRates ? .off : settings.packetRateMode
        let byteMode = bypassRates ? .off : settings.byteRateMode
        if scansFrames && settings.framing != .stream || packetMode != .off || byteMode != .off {
            inspection = GuardInspection(settings: settings, scanning: scansFrames, packetMode: packetMode, byteMode: byteMode)
        }
        let idle = settings.idleMode == .off ? nil : settings.idleTimeoutNanoseconds
        let frame = settings.frameTimeoutMode == .off ? nil : settings.frameTimeoutNanoseconds
        if idle != nil || frame != nil {
            timers = ConnectionTimers(idleTimeoutNanoseconds: idle, frameTimeoutNanoseconds: frame, now: now)
        }
    }

    public mutating func handle(_ event: GuardEvent, settings: ConnectionGuardSettings, now: Int64) -> GuardAction {
        switch event {
        case .bytesRead(let bytes):
            guard let inspection else { return .forward(count: bytes.count) }
            return noting { inspection.inspect(bytes, settings: settings, now: now, wouldClose: &$0) }
        case .heldWindowEnded:
            guard let inspection else { return .forward(count: 0) }
            let pending = inspection.held.bytes  // stays valid: inspect never touches `held`
            return noting { inspection.inspect(pending, settings: settings, now: now, wouldClose: &$0) }
        case .arrived(let frames, let bytes):
            guard let inspection else { return .proceed }
            return noting { inspection.recordHardRates(frames: frames, bytes: bytes, now: now, wouldClose: &$0) }
        case .holding(let remainder):
            if remainder.count > settings.maxReceiveBufferBytes, case .close = verdict(.receiveBuffer, settings: settings) {
                return .close(.receiveBuffer)
            }
            inspection?.held.replace(with: remainder)
            return .proceed
        case .queuedToClient(let bytes):
            guard bytes > settings.maxSendBufferBytes else { return .proceed }
            return verdict(.sendBuffer, settings: settings)
        case .timerFired(let readingPaused, let external):
            return timerFired(readingPaused: readingPaused, externalFrameStart: external, settings: settings, now: now)
        }
    }

    /// Runs `body`, then notes the dry runs it found.
    private mutating func noting(_ body: (inout CloseReasons) -> GuardAction) -> GuardAction {
        var wouldClose = CloseReasons()
        let action = body(&wouldClose)
        for reason in CloseReason.allCases where wouldClose.contains(reason) { noteDryRun(reason) }
        return action
    }

    /// A limit was passed: close when it is enforced, else note a dry run and go on.
    private mutating func verdict(_ reason: CloseReason, settings: ConnectionGuardSettings) -> GuardAction {
        switch settings.mode(for: reason) {
        case .enforce: return .close(reason)
        case .dryRun: noteDryRun(reason)
        case .off: break
        }
        return .proceed
    }

    /// Notes a dry-run verdict, once per connection and reason.
    private mutating func noteDryRun(_ reason: CloseReason) {
        guard !dryRunsReported.contains(reason) else { return }
        dryRunsReported.insert(CloseReasons(reason))
        dryRunsPending.insert(CloseReasons(reason))
    }

    /// The dry-run verdicts not counted yet (each reason once per connection); the session counts them.
    public mutating func takeDryRuns() -> CloseReasons {
        defer { dryRunsPending = [] }
        return dryRunsPending
    }

    public var hasPendingDryRuns: Bool { !dryRunsPending.isEmpty }

    // MARK: activity and reading

    /// Traffic in either direction: the connection is not idle.
    @inline(__always)
    public mutating func touch(now: Int64) { timers?.touch(now: now) }

    /// Whether reads must pass through `.bytesRead` (else they are forwarded untouched).
    public var inspects: Bool { inspection?.scanner != nil }

    /// Whether the guard has anything to time (timeouts); with rates, a window can hold too.
    public var hasTimers: Bool { timers != nil }

    /// The gateway stopped reading this client (its peer is slow, or a rate limit holds): the
    /// paused time is not held against the frame in progress.
    public mutating func readingPaused(now: Int64) { inspection?.readingPaused(now: now) }

    public mutating func readingResumed(now: Int64) { inspection?.readingResumed(now: now) }

    /// Client bytes read but not yet forwarded (a soft rate limit held them back).
    public var held: HeldBytes { inspection?.held ?? HeldBytes() }

    /// Drops the first `count` held bytes (forwarded).
    public mutating func consumeHeld(_ count: Int) { inspection?.held.consume(count) }

    public mutating func releaseHeld() { inspection?.held.free() }

    /// When reading may resume: the end of the rate window that held bytes back.
    public var resumeAtNanoseconds: Int64? { inspection?.resumeAtNanoseconds }

    /// Frames received in about the last second; nil without frames to count.
    public func framesPerSecond(now: Int64) -> Int? {
        guard let inspection, inspection.scanner?.framing ?? .stream != .stream else { return nil }
        return inspection.framesPerSecond(now: now)
    }

    /// When the connection was last active, if it has an idle timeout.
    public var lastActivityNanoseconds: Int64? { timers?.idle?.lastActivityNanoseconds }

    // MARK: the timer

    /// The frame start the frame timeout counts from: the scanner's (moved later by the time the
    /// gateway paused reading during that frame), or the session framing's; nil while paused.
    private func frameStart(readingPaused: Bool, external: Int64?) -> Int64? {
        guard !readingPaused else { return nil }
        if let inspection, inspection.scanner != nil { return inspection.frameStart }
        return external
    }

    /// The earliest moment the timer must fire: idle, frame or rate-window deadline.
    public func nextDeadline(readingPaused: Bool, frameStartedAt external: Int64? = nil) -> Int64? {
        let timerDeadline = timers?.nextDeadlineNanoseconds(frameStartedAtNanoseconds: frameStart(readingPaused: readingPaused, external: external))
        switch (timerDeadline, resumeAtNanoseconds) {
        case let (deadline?, resume?): return min(deadline, resume)
        case let (deadline?, nil): return deadline
        case let (nil, resume?): return resume
        case (nil, nil): return nil
        }
    }

    /// A close if a timeout really expired; a dry run is noted and the connection lives on
    /// (idle counts from now; that frame is not timed again).
    private mutating func timerFired(readingPaused: Bool, externalFrameStart: Int64?, settings: ConnectionGuardSettings,
                                     now: Int64) -> GuardAction {
        guard let current = timers else { return .proceed }
        let start = frameStart(readingPaused: readingPaused, external: externalFrameStart)
        guard case .close(let reason) = current.onTimerFired(now: now, frameStartedAtNanoseconds: start) else { return .proceed }
        if settings.mode(for: reason) == .enforce { return .close(reason) }
        noteDryRun(reason)
        if reason == .idleTimeout {
            timers?.touch(now: now)
        } else if let inspection, inspection.scanner != nil {
            inspection.frameTimeoutCountedFor = start
        } else {
            // The session's framing keeps no mark of the frame: the frame timeout is not looked
            // at again for this connection (it was counted once).
            let idle = settings.idleMode == .off ? nil : settings.idleTimeoutNanoseconds
            timers = ConnectionTimers(idleTimeoutNanoseconds: idle, frameTimeoutNanoseconds: nil, now: now)
        }
        return .proceed
    }
}
