/// Frame scanning and rate limiting of one client, on a listener that has framing to scan or
/// rates: the part of a connection's guard that is allocated only there.
final class GuardInspection {
    /// The frames of a tcp listener's stream; nil when the session's own framing cuts frames.
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

    init(settings: ConnectionGuardSettings, scanning: Bool, packetMode: LimitMode, byteMode: LimitMode) {
        self.packetMode = packetMode
        self.byteMode = byteMode
        packets = RateLimiter(softPerSecond: settings.packetRateSoft, hardPerSecond: settings.packetRateHard)
        bytes = RateLimiter(softPerSecond: settings.byteRateSoft, hardPerSecond: settings.byteRateHard)
        scanner = scanning ? FrameScanner(framing: settings.framing, maxFrameBytes: settings.maxFrameBytes) : nil
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

    /// Scans what was read: how much may be forwarded under the soft rates, or a close.
    func inspect(_ input: UnsafeRawBufferPointer, settings: ConnectionGuardSettings, now: Int64,
                 wouldClose: inout CloseReasons) -> GuardAction {
        guard var scanner else { return .forward(count: input.count) }
        let frameLimit = packetMode == .enforce ? packets.allowance(now: now) : .max
        let byteLimit = byteMode == .enforce ? bytes.allowance(now: now) : .max
        let scan = scanner.scan(input, frameLimit: frameLimit, byteLimit: byteLimit, now: now)
        self.scanner = scanner
        if scan.violation != nil {
            guard settings.maxFrameMode != .enforce else { return .close(.frameTooLarge) }
            // A dry run cannot follow frames past a bad header: count it and go on as a byte
            // stream (byte rates still apply; packet rates and the frame timeout no longer can).
            if settings.maxFrameMode == .dryRun { wouldClose.insert(CloseReasons(.frameTooLarge)) }
            self.scanner = FrameScanner(framing: .stream, maxFrameBytes: settings.maxFrameBytes)
            return .forward(count: input.count)
        }
        // Frames are counted even without a packet rate limit, for `show conns`.
        if packets.recordArrived(scan.framesArrived, now: now) == .overHard, packetMode != .off {
            if packetMode == .enforce { return .close(.packetRate) }
            wouldClose.insert(CloseReasons(.packetRate))
        }
        if byteMode != .off, bytes.recordArrived(scan.bytesArrived, now: now) == .overHard {
            if byteMode == .enforce { return .close(.byteRate) }
            wouldClose.insert(CloseReasons(.byteRate))
        }
        packets.recordPassed(scan.framesCompleted, now: now)
        bytes.recordPassed(scan.bytesConsumed, now: now)
        return .forward(count: scan.bytesConsumed)
    }

    /// The hard rates against what the session's framing cut (it has no soft rates).
    func recordHardRates(frames: Int, bytes byteCount: Int, now: Int64, wouldClose: inout CloseReasons) -> GuardAction {
        if byteCount > 0, byteMode != .off, bytes.recordArrived(byteCount, now: now) == .overHard {
            if byteMode == .enforce { return .close(.byteRate) }
            wouldClose.insert(CloseReasons(.byteRate))
        }
        if frames > 0, packetMode != .off, packets.recordArrived(frames, now: now) == .overHard {
            if packetMode == .enforce { return .close(.packetRate) }
            wouldClose.insert(CloseReasons(.packetRate))
        }
        return .proceed
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
public struct HeldBytes {
    private var storage: UnsafeMutableRawBufferPointer?
    private var start = 0

    public init() {}

    public var count: Int { (storage?.count ?? 0) - start }
    public var isEmpty: Bool { count == 0 }

    mutating func replace(with bytes: UnsafeRawBufferPointer) {
        free()
        guard !bytes.isEmpty else { return }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 8)
        block.copyMemory(from: bytes)
        storage = block
    }

    /// The held bytes; valid until the next replace, consume or free.
    public var bytes: UnsafeRawBufferPointer {
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
