import SysGuard

/// The per-connection limits of one relayed client: frame scanning (max_frame), packet and
/// byte rates, the bytes held back by a soft rate limit, and the idle and frame timeouts that
/// share the session's timerfd. Bookkeeping only: the session does the I/O and asks this what
/// to forward, what to hold, when to wake, and when to close. Touched only under the session's
/// lock.
struct ClientGuard {
    /// What to do with bytes just read from the client.
    enum Inspection {
        /// Forward the first `count` bytes; hold the rest until the rate window ends.
        case forward(count: Int)
        case close(CloseReason)
    }

    let limits: RelayLimits
    private var scanner: FrameScanner?
    private var packets: RateLimiter
    private var bytes: RateLimiter
    private let packetMode: LimitMode
    private let byteMode: LimitMode
    private(set) var timers: ConnectionTimers?
    /// A dry-run frame timeout was counted for the frame that started at this time.
    private var frameTimeoutCountedFor: Int64?
    /// Client bytes read but not yet forwarded (a soft rate limit held them back).
    private(set) var held = HeldBytes()
    /// Close reasons a dry-run limit would have applied (the session counts and clears them).
    var wouldClose: [CloseReason] = []

    /// `bypassLimits`: an allow-listed client, exempt from the rate limits.
    init(limits: RelayLimits, bypassLimits: Bool, now: Int64) {
        self.limits = limits
        packetMode = bypassLimits ? .off : limits.packetRateMode
        byteMode = bypassLimits ? .off : limits.byteRateMode
        packets = RateLimiter(softPerSecond: limits.packetRateSoft, hardPerSecond: limits.packetRateHard)
        bytes = RateLimiter(softPerSecond: limits.byteRateSoft, hardPerSecond: limits.byteRateHard)
        if limits.framing != .stream || packetMode != .off || byteMode != .off {
            scanner = FrameScanner(framing: limits.framing, maxFrameBytes: limits.maxFrameBytes)
        }
        let idle = limits.idleMode == .off ? nil : limits.idleTimeoutNanoseconds
        let frame = limits.frameTimeoutMode == .off ? nil : limits.frameTimeoutNanoseconds
        if idle != nil || frame != nil {
            timers = ConnectionTimers(idleTimeoutNanoseconds: idle, frameTimeoutNanoseconds: frame, now: now)
        }
    }

    /// Whether reads must pass through `inspect` (else they are forwarded untouched).
    var inspects: Bool { scanner != nil }

    /// Traffic in either direction: the connection is not idle.
    @inline(__always)
    mutating func touch(now: Int64) { timers?.touch(now: now) }

    /// Scans bytes read from the client (after any held bytes, which `inspectHeld` handles).
    mutating func inspect(_ input: UnsafeRawBufferPointer, now: Int64) -> Inspection {
        guard var scanner else { return .forward(count: input.count) }
        let frameLimit = packetMode == .enforce ? packets.allowance(now: now) : .max
        let byteLimit = byteMode == .enforce ? bytes.allowance(now: now) : .max
        let scan = scanner.scan(input, frameLimit: frameLimit, byteLimit: byteLimit, now: now)
        self.scanner = scanner
        if scan.violation != nil {
            guard limits.maxFrameMode != .enforce else { return .close(.frameTooLarge) }
            // A dry run cannot follow the stream past a bad header: count it, stop inspecting.
            if limits.maxFrameMode == .dryRun { wouldClose.append(.frameTooLarge) }
            self.scanner = nil
            return .forward(count: input.count)
        }
        if packetMode != .off, packets.recordArrived(scan.framesArrived, now: now) == .overHard {
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

    /// Keeps `bytes` (what `inspect` did not let through) until the rate window ends; false when
    /// that would pass the receive buffer cap (the session then closes the client).
    mutating func hold(_ remainder: UnsafeRawBufferPointer) -> Bool {
        if remainder.count > limits.maxReceiveBufferBytes {
            if limits.bufferMode == .enforce { return false }
            if limits.bufferMode == .dryRun { wouldClose.append(.receiveBuffer) }
        }
        held.replace(with: remainder)
        return true
    }

    /// When reading may resume: the end of the rate window that held bytes back.
    var resumeAtNanoseconds: Int64? {
        guard !held.isEmpty else { return nil }
        return min(packetMode == .enforce ? packets.windowEndNanoseconds : .max,
                   byteMode == .enforce ? bytes.windowEndNanoseconds : .max)
    }

    /// The window ended: inspects the held bytes again. Returns what to forward from them (the
    /// rest stays held) or a close.
    mutating func inspectHeld(now: Int64) -> Inspection {
        let pending = held.bytes  // stays valid: inspect never touches `held`
        return inspect(pending, now: now)
    }

    /// Drops the first `count` held bytes (forwarded).
    mutating func consumeHeld(_ count: Int) { held.consume(count) }

    mutating func releaseHeld() { held.free() }

    // MARK: timers

    /// The frame start the frame timeout counts from; nil while the gateway itself pauses reading.
    private func frameStart(readingPaused: Bool) -> Int64? {
        guard !readingPaused, let started = scanner?.frameStartedAtNanoseconds,
              started != frameTimeoutCountedFor else { return nil }
        return started
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
    mutating func timerFired(now: Int64, readingPaused: Bool) -> CloseReason? {
        guard let timers else { return nil }
        let start = frameStart(readingPaused: readingPaused)
        guard case .close(let reason) = timers.onTimerFired(now: now, frameStartedAtNanoseconds: start) else { return nil }
        let mode = reason == .idleTimeout ? limits.idleMode : limits.frameTimeoutMode
        if mode == .enforce { return reason }
        wouldClose.append(reason)
        if reason == .idleTimeout { self.timers?.touch(now: now) } else { frameTimeoutCountedFor = start }
        return nil
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
