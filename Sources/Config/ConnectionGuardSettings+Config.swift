import SysGuard

extension ListenerConfig {
    /// This listener's per-connection limits as its connections' guards apply them.
    public func guardSettings(in guardConfig: GuardConfig) -> ConnectionGuardSettings {
        let limits = self.limits
        let framed = framing != .stream
        let idle = limits.idleTimeout.map(\.wholeNanoseconds)
        let frame = framed ? limits.frameTimeout.map(\.wholeNanoseconds) : nil
        let packetSoft = framed ? limits.packetRateSoft : nil
        let packetHard = framed ? limits.packetRateHard : nil
        return ConnectionGuardSettings(
            framing: framing, maxFrameBytes: limits.maxFrameBytes, idleTimeoutNanoseconds: idle, frameTimeoutNanoseconds: frame,
            packetRateSoft: packetSoft, packetRateHard: packetHard, byteRateSoft: limits.byteRateSoft, byteRateHard: limits.byteRateHard,
            maxReceiveBufferBytes: limits.maxReceiveBufferBytes, maxSendBufferBytes: limits.maxSendBufferBytes,
            idleMode: guardConfig.mode(.idleTimeout, configured: idle != nil),
            frameTimeoutMode: guardConfig.mode(.frameTimeout, configured: frame != nil),
            packetRateMode: guardConfig.mode(.packetRate, configured: packetSoft != nil || packetHard != nil),
            byteRateMode: guardConfig.mode(.byteRate, configured: limits.byteRateSoft != nil || limits.byteRateHard != nil),
            bufferMode: guardConfig.mode(.buffers, configured: true),
            maxFrameMode: guardConfig.mode(.maxFrame, configured: framed))
    }
}

extension GuardConfig {
    /// How a limit acts: off when not configured, else enforced or (listed in dry_run) counted only.
    public func mode(_ limit: GuardLimit, configured: Bool) -> LimitMode {
        guard configured else { return .off }
        return dryRun.contains(limit) ? .dryRun : .enforce
    }
}

extension Duration {
    /// Whole nanoseconds (the config's durations are at most days).
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
