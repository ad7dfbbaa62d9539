import Config
import SysGuard

/// A listener's per-connection limits in the form the relay uses: nanoseconds, SysGuard's
/// framing, and how each limit acts (off, enforced, or counted only in a dry run).
struct RelayLimits: Sendable {
    let framing: Framing
    let maxFrameBytes: Int
    let idleTimeoutNanoseconds: Int64?
    let frameTimeoutNanoseconds: Int64?
    let packetRateSoft: Int?
    let packetRateHard: Int?
    let byteRateSoft: Int?
    let byteRateHard: Int?
    let maxReceiveBufferBytes: Int
    let maxSendBufferBytes: Int
    let idleMode: LimitMode
    let frameTimeoutMode: LimitMode
    let packetRateMode: LimitMode
    let byteRateMode: LimitMode
    let bufferMode: LimitMode
    let maxFrameMode: LimitMode

    init(listener: ListenerConfig, guardConfig: GuardConfig) {
        let limits = listener.limits
        framing = listener.framing
        maxFrameBytes = limits.maxFrameBytes
        idleTimeoutNanoseconds = limits.idleTimeout.map(\.nanosecondCount)
        frameTimeoutNanoseconds = framing == .stream ? nil : limits.frameTimeout.map(\.nanosecondCount)
        packetRateSoft = framing == .stream ? nil : limits.packetRateSoft
        packetRateHard = framing == .stream ? nil : limits.packetRateHard
        byteRateSoft = limits.byteRateSoft
        byteRateHard = limits.byteRateHard
        maxReceiveBufferBytes = limits.maxReceiveBufferBytes
        maxSendBufferBytes = limits.maxSendBufferBytes
        idleMode = guardConfig.mode(.idleTimeout, configured: idleTimeoutNanoseconds != nil)
        frameTimeoutMode = guardConfig.mode(.frameTimeout, configured: frameTimeoutNanoseconds != nil)
        packetRateMode = guardConfig.mode(.packetRate, configured: packetRateSoft != nil || packetRateHard != nil)
        byteRateMode = guardConfig.mode(.byteRate, configured: byteRateSoft != nil || byteRateHard != nil)
        bufferMode = guardConfig.mode(.buffers, configured: true)
        maxFrameMode = guardConfig.mode(.maxFrame, configured: framing != .stream)
    }

    /// Whether client bytes must go through the frame scanner and rate limiters at all; when
    /// not, the relay forwards reads untouched (the fast path).
    var inspectsClientBytes: Bool {
        framing != .stream || packetRateMode != .off || byteRateMode != .off
    }

}
