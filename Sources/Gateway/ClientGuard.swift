import SysGuard

/// The per-connection limits of one relayed client: the idle and frame timeouts that share the
/// session's timerfd and, on listeners with framing or rate limits, the frame scanner, the rate
/// limiters and the bytes a soft limit held back (`ClientInspection`, allocated only there, so
/// a plain TCP client pays a few words). Bookkeeping only: the session does the I/O and asks this
/// what to forward, hold, when to wake, and when to close. Touched only under the session's lock.
/// The listener's `RelayLimits` is passed in on each call rather than stored per client.
struct ClientGuard {
    /// What to do with bytes just read from the client.
    enum Inspection {
        /// Forward the first `count` bytes; hold the rest until the rate window ends.
        case forward(count: Int)
        case close(CloseReason)
    }

    private(set) var timers: ConnectionTimers?
    private var inspection: ClientInspection?
    /// Close reasons a dry-run limit would have applied, not yet counted (the session counts
    /// and clears them). Each reason is reported once per connection, not per packet.
    var wouldClose: [CloseReason] = []
    private var dryRunsReported: Set<CloseReason> = []

    /// `bypassLimits`: an allow-listed client, exempt from the rate limits.
    init(limits: RelayLimits, bypassLimits: Bool, now: Int64) {
        let packetMode = bypassLimits ? .off : limits.packetRateMode
        let byteMode = bypassLimits ? .off : limits.byteRateMode
        if limits.framing != .stream || packetMode != .off || byteMode != .off {
            inspection = ClientInspection(limits: limits, packetMode: packetMode, byteMode: byteMode)
        }
        let idle = limits.idleMode == .off ? nil : limits.idleTimeoutNanoseconds
        let frame = limits.frameTimeoutMode == .off ? nil : limits.frameTimeoutNanoseconds
        if idle != nil || frame != nil {
            timers = ConnectionTimers(idleTimeoutNanoseconds: idle, frameTimeoutNanoseconds: frame, now: now)
        }
    }

    /// Frames received in about the last second; nil on a byte-stream listener.
    func framesPerSecond(now: Int64) -> Int? {
        guard let inspection, inspection.scanner?.framing ?? .stream != .stream else { return nil }
        return inspection.framesPerSecond(now: now)
    }

    /// Whether reads must pass through `inspect` (else they are forwarded untouched).
    var inspects: Bool { inspection?.scanner != nil }

    /// Client bytes read but not yet forwarded (a soft rate limit held them back).
    var held: HeldBytes { inspection?.held ?? HeldBytes() }

    /// Traffic in either direction: the connection is not idle.
    @inline(__always)
    mutating func touch(now: Int64) { timers?.touch(now: now) }

    /// Notes a dry-run verdict, once per connection and reason.
    mutating func noteDryRun(_ reason: CloseReason) {
        if dryRunsReported.insert(reason).inserted { wouldClose.append(reason) }
    }

    /// The gateway stopped reading this client (its backend is slow, or a rate limit holds).
    mutating func readingPaused(now: Int64) { inspection?.readingPaused(now: now) }

    /// Reading resumes: the paused time is credited to the frame in progress.
    mutating func readingResumed(now: Int64) { inspection?.readingResumed(now: now) }

    /// Scans bytes read from the client (after any held bytes, which `inspectHeld` handles).
    mutating func inspect(_ input: UnsafeRawBufferPointer, limits: RelayLimits, now: Int64) -> Inspection {
        guard let inspection else { return .forward(count: input.count) }
        var dryRuns: [CloseReason] = []
        let verdict = inspection.inspect(input, limits: limits, now: now, wouldClose: &dryRuns)
        for reason in dryRuns { noteDryRun(reason) }
        return verdict
    }

    /// Keeps what `inspect` did not let through until the rate window ends; false when that
    /// would pass the receive buffer cap (the session then closes the client).
    mutating func hold(_ remainder: UnsafeRawBufferPointer, limits: RelayLimits) -> Bool {
        if remainder.count > limits.maxReceiveBufferBytes {
            if limits.bufferMode == .enforce { return false }
            if limits.bufferMode == .dryRun { noteDryRun(.receiveBuffer) }
        }
        inspection?.held.replace(with: remainder)
        return true
    }

    /// When reading may resume: the end of the rate window that held bytes back.
    var resumeAtNanoseconds: Int64? { inspection?.resumeAtNanoseconds }

    /// The window ended: inspects the held bytes again (what to forward of them, or a close).
    mutating func inspectHeld(limits: RelayLimits, now: Int64) -> Inspection {
        guard let inspection else { return .forward(count: 0) }
        let pending = inspection.held.bytes  // stays valid: inspect never touches `held`
        var dryRuns: [CloseReason] = []
        let verdict = inspection.inspect(pending, limits: limits, now: now, wouldClose: &dryRuns)
        for reason in dryRuns { noteDryRun(reason) }
        return verdict
    }

    /// Drops the first `count` held bytes (forwarded).
    mutating func consumeHeld(_ count: Int) { inspection?.held.consume(count) }

    mutating func releaseHeld() { inspection?.held.free() }

    // MARK: timers

    /// The frame start the frame timeout counts from, moved later by the time the gateway itself
    /// paused reading during this frame; nil while it is paused.
    private func frameStart(readingPaused: Bool) -> Int64? {
        guard !readingPaused else { return nil }
        return inspection?.frameStart
    }

    /// The earliest moment the timer must fire: idle, frame or rate-window deadline.
    func nextDeadline(readingPaused: Bool) -> Int64? {
        let timerDeadline = timers?.nextDeadlineNanoseconds(frameStartedAtNanoseconds: frameStart(readingPaused: readingPaused))
        switch (timerDeadline, resumeAtNanoseconds) {
        case let (deadline?, resume?): return min(deadline, resume)
        case let (deadline?, nil): return deadline
        case let (nil, resume?): return resume
        case (nil, nil): return nil
        }
    }

    /// The timer fired: a close reason if a timeout really expired (dry runs are noted in
    /// `wouldClose` and the connection lives on).
    mutating func timerFired(now: Int64, readingPaused: Bool, limits: RelayLimits) -> CloseReason? {
        guard let timers else { return nil }
        let start = frameStart(readingPaused: readingPaused)
        guard case .close(let reason) = timers.onTimerFired(now: now, frameStartedAtNanoseconds: start) else { return nil }
        let mode = reason == .idleTimeout ? limits.idleMode : limits.frameTimeoutMode
        if mode == .enforce { return reason }
        noteDryRun(reason)
        if reason == .idleTimeout { self.timers?.touch(now: now) } else { inspection?.frameTimeoutCountedFor = start }
        return nil
    }
}

/// Frame scanning and rate limiting of one client on a listener that has framing or rates.
final class ClientInspection {
    private(set) var scanner: FrameScanner?
    private var packets: RateLimiter
    private var bytes: RateLimiter
    private let packetMode: LimitMode
    private let byteMode: LimitMode
    var held = HeldBytes()
    /// A dry-run frame timeout was counted for the frame that started at this time.
    var frameTimeoutCountedFor: Int64?
    /// Since when the gateway itself has paused reading this client (high water or a rate hold).
    private var pausedSince: Int64?
    /// Time the current frame spent paused by the gateway: it does not count against the client.
    private var pausedCredit: Int64 = 0
    private var pausedCreditFrame: Int64?

    init(limits: RelayLimits, packetMode: LimitMode, byteMode: LimitMode) {
        self.packetMode = packetMode
        self.byteMode = byteMode
        packets = RateLimiter(softPerSecond: limits.packetRateSoft, hardPerSecond: limits.packetRateHard)
        bytes = RateLimiter(softPerSecond: limits.byteRateSoft, hardPerSecond: limits.byteRateHard)
        scanner = FrameScanner(framing: limits.framing, maxFrameBytes: limits.maxFrameBytes)
    }

    deinit { held.free() }

    func readingPaused(now: Int64) {
        if pausedSince == nil { pausedSince = now }
    }

    func readingResumed(now: Int64) {
        guard let since = pausedSince else { return }
        pausedSince = nil
        let frame = scanner?.frameStartedAtNanoseconds
        if frame != pausedCreditFrame {
            pausedCreditFrame = frame
            pausedCredit = 0
        }
        if frame != nil { pausedCredit += now - since }
    }

    /// Where the frame timeout counts from: the frame's first byte, moved later by the time the
    /// gateway paused reading during it; nil while paused, without a frame, or once counted.
    var frameStart: Int64? {
        guard pausedSince == nil, let started = scanner?.frameStartedAtNanoseconds,
              started != frameTimeoutCountedFor else { return nil }
        return started + (pausedCreditFrame == started ? pausedCredit : 0)
    }

    func inspect(_ input: UnsafeRawBufferPointer, limits: RelayLimits, now: Int64,
                 wouldClose: inout [CloseReason]) -> ClientGuard.Inspection {
        guard var scanner else { return .forward(count: input.count) }
        let frameLimit = packetMode == .enforce ? packets.allowance(now: now) : .max
        let byteLimit = byteMode == .enforce ? bytes.allowance(now: now) : .max
        let scan = scanner.scan(input, frameLimit: frameLimit, byteLimit: byteLimit, now: now)
        self.scanner = scanner
        if scan.violation != nil {
            guard limits.maxFrameMode != .enforce else { return .close(.frameTooLarge) }
            // A dry run cannot follow frames past a bad header: count it and go on as a byte
            // stream (byte rates still apply; packet rates and the frame timeout no longer can).
            if limits.maxFrameMode == .dryRun { wouldClose.append(.frameTooLarge) }
            self.scanner = FrameScanner(framing: .stream, maxFrameBytes: limits.maxFrameBytes)
            return .forward(count: input.count)
        }
        // Frames are counted even without a packet rate limit, for `show conns`.
        if packets.recordArrived(scan.framesArrived, now: now) == .overHard, packetMode != .off {
            if packetMode == .enforce { return .close(.packetRate) }
            wouldClose.append(.packetRate)
        }
        if byteMode != .off, bytes.recordArrived(scan.bytesArrived, now: now) == .overHard {
            if byteMode == .enforce { return .close(.byteRate) }
            wouldClose.append(.byteRate)
        }
        packets.recordPassed(scan.framesCompleted, now: now)
        bytes.recordPassed(scan.bytesConsumed, now: now)
        return .forward(count: scan.bytesConsumed)
    }

    func framesPerSecond(now: Int64) -> Int { packets.arrivedPerWindow(now: now) }

    /// The end of the rate window that held bytes back.
    var resumeAtNanoseconds: Int64? {
        guard !held.isEmpty else { return nil }
        return min(packetMode == .enforce ? packets.windowEndNanoseconds : .max,
                   byteMode == .enforce ? bytes.windowEndNanoseconds : .max)
    }
}

/// Client bytes held back by a soft rate limit: one contiguous block (at most one read), so the
/// frame scanner sees them again, unchanged, when the next window opens. Allocated only while a
/// client is over its rate.
struct HeldBytes {
    private var storage: UnsafeMutableRawBufferPointer?
    private var start = 0

    var count: Int { (storage?.count ?? 0) - start }
    var isEmpty: Bool { count == 0 }

    mutating func replace(with bytes: UnsafeRawBufferPointer) {
        free()
        guard !bytes.isEmpty else { return }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        block.copyMemory(from: bytes)
        storage = block
    }

    /// The held bytes; valid until the next replace, consume or free.
    var bytes: UnsafeRawBufferPointer {
        guard let storage else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: storage[start...])
    }

    mutating func consume(_ byteCount: Int) {
        start += byteCount
        if isEmpty { free() }
    }

    mutating func free() {
        storage?.deallocate()
        storage = nil
        start = 0
    }
}
