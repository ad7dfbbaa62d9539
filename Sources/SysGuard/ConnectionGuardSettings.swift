/// One listener's per-connection limits as the connection guard applies them: nanoseconds,
/// the framing, and how each limit acts (off, enforced, or counted only in a dry run). Built by
/// Config from the listener and `[guard]` (`ListenerConfig.guardSettings`); shared, never
/// copied per connection.
public struct ConnectionGuardSettings: Sendable, Equatable {
    public var framing: Framing
    public var maxFrameBytes: Int
    public var idleTimeoutNanoseconds: Int64?
    /// Only with framing: a byte stream has no frames to time.
    public var frameTimeoutNanoseconds: Int64?
    public var packetRateSoft: Int?
    public var packetRateHard: Int?
    public var byteRateSoft: Int?
    public var byteRateHard: Int?
    public var maxReceiveBufferBytes: Int
    public var maxSendBufferBytes: Int
    public var idleMode: LimitMode
    public var frameTimeoutMode: LimitMode
    public var packetRateMode: LimitMode
    public var byteRateMode: LimitMode
    public var bufferMode: LimitMode
    public var maxFrameMode: LimitMode

    public init(framing: Framing, maxFrameBytes: Int, idleTimeoutNanoseconds: Int64?, frameTimeoutNanoseconds: Int64?,
                packetRateSoft: Int?, packetRateHard: Int?, byteRateSoft: Int?, byteRateHard: Int?,
                maxReceiveBufferBytes: Int, maxSendBufferBytes: Int, idleMode: LimitMode, frameTimeoutMode: LimitMode,
                packetRateMode: LimitMode, byteRateMode: LimitMode, bufferMode: LimitMode, maxFrameMode: LimitMode) {
        self.framing = framing
        self.maxFrameBytes = maxFrameBytes
        self.idleTimeoutNanoseconds = idleTimeoutNanoseconds
        self.frameTimeoutNanoseconds = frameTimeoutNanoseconds
        self.packetRateSoft = packetRateSoft
        self.packetRateHard = packetRateHard
        self.byteRateSoft = byteRateSoft
        self.byteRateHard = byteRateHard
        self.maxReceiveBufferBytes = maxReceiveBufferBytes
        self.maxSendBufferBytes = maxSendBufferBytes
        self.idleMode = idleMode
        self.frameTimeoutMode = frameTimeoutMode
        self.packetRateMode = packetRateMode
        self.byteRateMode = byteRateMode
        self.bufferMode = bufferMode
        self.maxFrameMode = maxFrameMode
    }

    /// Whether client bytes must go through the frame scanner and rate limiters at all; when
    /// not, reads are forwarded untouched (the fast path).
    public var inspectsClientBytes: Bool {
        framing != .stream || packetRateMode != .off || byteRateMode != .off
    }

    /// Whether a connection needs a timer for its limits once connected: an idle or frame
    /// timeout, or a rate window to wait for.
    public var needsTimer: Bool {
        idleMode != .off || frameTimeoutMode != .off || packetRateMode != .off || byteRateMode != .off
    }

    /// How a limit given as `mode` acts on `reason` (the timeouts' own modes, for a timer verdict).
    func mode(for reason: CloseReason) -> LimitMode {
        switch reason {
        case .idleTimeout: idleMode
        case .frameTimeout: frameTimeoutMode
        case .packetRate: packetRateMode
        case .byteRate: byteRateMode
        case .frameTooLarge: maxFrameMode
        case .receiveBuffer, .sendBuffer: bufferMode
        case .kicked: .enforce
        }
    }
}
