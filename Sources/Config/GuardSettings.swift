// `[guard]` and the per-listener overrides: turning the read values into GuardConfig,
// ConnectionLimits and TCPOptions, with the checks between keys (a clear mark on the right
// side of its trip mark, hard rates at least the soft ones, frame limits only where there are
// frames, and max_connections within the open-file budget).

import SysGuard

/// A per-connection key as one table sees it: its own value, or for a `[[listener]]` that
/// does not write the key, the value of `[guard]`.
struct LayeredValues {
    let own: SectionValues
    /// `[guard]` when `own` is a listener; nil when `own` is `[guard]` itself.
    let inherited: SectionValues?

    /// A key written but invalid gives nil (its problem is reported already), never the
    /// inherited value, so no second error follows from a value the user did not write.
    func value(_ key: ConfigKey) -> ConfigValue? {
        if let inherited, !own.isWritten(key) { return inherited.value(key) }
        return own.value(key)
    }

    func integer(_ key: ConfigKey) -> Int? {
        guard case .integer(let number)? = value(key) else { return nil }
        return number
    }

    func duration(_ key: ConfigKey) -> Duration? {
        guard case .duration(let duration)? = value(key) else { return nil }
        return duration
    }

    /// The path to show for a key's value in a message: `packet_rate_soft` when it is this
    /// table's own, `[guard].packet_rate_soft` when it is inherited.
    func name(_ key: ConfigKey) -> String {
        inherited != nil && !own.isWritten(key) ? "\(ConfigSection.guard.header).\(key.name)" : key.name
    }

    var connectionLimits: ConnectionLimits? {
        guard let maxFrameBytes = integer(ConfigKeys.guardMaxFrame),
              let idleTimeout = duration(ConfigKeys.guardIdleTimeout),
              let frameTimeout = duration(ConfigKeys.guardFrameTimeout),
              let packetRateSoft = integer(ConfigKeys.guardPacketRateSoft),
              let packetRateHard = integer(ConfigKeys.guardPacketRateHard),
              let byteRateSoft = integer(ConfigKeys.guardByteRateSoft),
              let byteRateHard = integer(ConfigKeys.guardByteRateHard),
              let maxReceiveBufferBytes = integer(ConfigKeys.guardMaxReceiveBuffer),
              let maxSendBufferBytes = integer(ConfigKeys.guardMaxSendBuffer) else { return nil }
        return ConnectionLimits(
            maxFrameBytes: maxFrameBytes, idleTimeout: idleTimeout.nilIfZero, frameTimeout: frameTimeout.nilIfZero,
            packetRateSoft: packetRateSoft.nilIfZero, packetRateHard: packetRateHard.nilIfZero,
            byteRateSoft: byteRateSoft.nilIfZero, byteRateHard: byteRateHard.nilIfZero,
            maxReceiveBufferBytes: maxReceiveBufferBytes, maxSendBufferBytes: maxSendBufferBytes)
    }

    var tcpOptions: TCPOptions? {
        guard let deferAccept = duration(ConfigKeys.guardTCPDeferAccept),
              let keepAliveIdle = duration(ConfigKeys.guardKeepAliveIdle),
              let keepAliveInterval = duration(ConfigKeys.guardKeepAliveInterval),
              let keepAliveCount = integer(ConfigKeys.guardKeepAliveCount) else { return nil }
        return TCPOptions(deferAccept: deferAccept.nilIfZero, keepAliveIdle: keepAliveIdle.nilIfZero,
                          keepAliveInterval: keepAliveInterval, keepAliveCount: keepAliveCount)
    }
}

private extension Int {
    /// 0 switches a limit off.
    var nilIfZero: Int? { self == 0 ? nil : self }
}

private extension Duration {
    /// "0s" switches a timeout off.
    var nilIfZero: Duration? { self == .zero ? nil : self }
}

extension ConfigValidator {
    // MARK: [guard]

    /// `[guard]` as the model, after checking its keys against each other. Problems are
    /// reported; the result is only used when there were none.
    mutating func guardConfig(_ values: SectionValues) -> GuardConfig? {
        let layered = LayeredValues(own: values, inherited: nil)
        checkRates(layered)
        let load = loadThreshold(values)
        let memoryUsed = percentThreshold(values, max: ConfigKeys.guardMaxMemoryUsedPercent,
                                          clear: ConfigKeys.guardMemoryUsedClearPercent)
        let memoryAvailable = memoryAvailableThreshold(values)
        let swapUsed = percentThreshold(values, max: ConfigKeys.guardMaxSwapUsedPercent,
                                        clear: ConfigKeys.guardSwapUsedClearPercent)
        guard let maxFiles = values.integer(ConfigKeys.guardMaxFiles),
              let maxConnections = values.integer(ConfigKeys.guardMaxConnections),
              let sampleInterval = values.duration(ConfigKeys.guardSampleInterval),
              let maxConnectionsPerIP = values.integer(ConfigKeys.guardMaxConnectionsPerIP),
              let perIPPrefixV4 = values.integer(ConfigKeys.guardPerIPPrefixV4),
              let perIPPrefixV6 = values.integer(ConfigKeys.guardPerIPPrefixV6),
              let perIPTableSize = values.integer(ConfigKeys.guardPerIPTableSize),
              let allow = values.prefixes(ConfigKeys.guardAllow),
              let deny = values.prefixes(ConfigKeys.guardDeny),
              let dryRunNames = values.texts(ConfigKeys.guardDryRun),
              let meminfoPath = values.text(ConfigKeys.guardMeminfoPath),
              let loadavgPath = values.text(ConfigKeys.guardLoadavgPath),
              let connection = layered.connectionLimits,
              let tcp = layered.tcpOptions else { return nil }
        return GuardConfig(
            maxFiles: maxFiles, maxConnections: maxConnections, sampleInterval: sampleInterval, load: load,
            memoryUsedPercent: memoryUsed, memoryAvailableBytes: memoryAvailable, swapUsedPercent: swapUsed,
            maxConnectionsPerIP: maxConnectionsPerIP, perIPPrefixV4: perIPPrefixV4, perIPPrefixV6: perIPPrefixV6,
            perIPTableSize: perIPTableSize, deny: deny, allow: allow,
            dryRun: Set(dryRunNames.compactMap(GuardLimit.init(rawValue:))),
            meminfoPath: meminfoPath, loadavgPath: loadavgPath, connection: connection, tcp: tcp)
    }

    /// A clear mark written without its trip mark does nothing: say so rather than ignore it
    /// (unless the clear mark itself is invalid, which is reported already).
    private mutating func checkClearHasTrip(_ values: SectionValues, trip: ConfigKey, clear: ConfigKey) {
        guard values.value(clear) != nil, !values.isWritten(trip) else { return }
        report(line: values.line(of: clear), key: values.path(clear),
               "has no effect without \(trip.name); set \(trip.name), or remove \(clear.name)")
    }

    /// Trips above max_load, clears below load_clear (default 0.9 × max_load).
    private mutating func loadThreshold(_ values: SectionValues) -> SampledThreshold? {
        let tripKey = ConfigKeys.guardMaxLoad, clearKey = ConfigKeys.guardLoadClear
        checkClearHasTrip(values, trip: tripKey, clear: clearKey)
        guard let trip = values.decimal(tripKey) else { return nil }
        guard values.isWritten(clearKey) else { return SampledThreshold(trip: trip, clear: trip * 0.9) }
        guard let clear = values.decimal(clearKey) else { return nil }
        guard clear <= trip else {
            report(line: values.line(of: clearKey), key: values.path(clearKey),
                   "must be at most \(tripKey.name) (\(DecimalText.format(trip))), got \(DecimalText.format(clear))")
            return nil
        }
        return SampledThreshold(trip: trip, clear: clear)
    }

    /// Trips above the max percent, clears below the clear percent (default max − 5).
    private mutating func percentThreshold(_ values: SectionValues, max tripKey: ConfigKey, clear clearKey: ConfigKey) -> SampledThreshold? {
        checkClearHasTrip(values, trip: tripKey, clear: clearKey)
        guard let trip = values.integer(tripKey) else { return nil }
        let clear: Int
        if values.isWritten(clearKey) {
            guard let written = values.integer(clearKey) else { return nil }
            guard written < trip else {
                report(line: values.line(of: clearKey), key: values.path(clearKey),
                       "must be below \(tripKey.name) (\(trip)), got \(written)")
                return nil
            }
            clear = written
        } else {
            clear = trip - 5
            guard clear >= 1 else {
                report(line: values.line(of: tripKey), key: values.path(tripKey),
                       "leaves no room for the default \(clearKey.name) (\(tripKey.name) − 5 = \(clear)); set \(clearKey.name) between 1 and \(trip - 1)")
                return nil
            }
        }
        return SampledThreshold(trip: Double(trip), clear: Double(clear))
    }

    /// Trips below min_memory_available, clears above memory_available_clear (default 1.25 × min).
    private mutating func memoryAvailableThreshold(_ values: SectionValues) -> SampledThreshold? {
        let tripKey = ConfigKeys.guardMinMemoryAvailable, clearKey = ConfigKeys.guardMemoryAvailableClear
        checkClearHasTrip(values, trip: tripKey, clear: clearKey)
        guard let trip = values.integer(tripKey) else { return nil }
        guard values.isWritten(clearKey) else { return SampledThreshold(trip: Double(trip), clear: Double(trip) * 1.25) }
        guard let clear = values.integer(clearKey) else { return nil }
        guard clear > trip else {
            report(line: values.line(of: clearKey), key: values.path(clearKey),
                   "must be more than \(tripKey.name) (\(ByteSizes.format(trip))), got \(ByteSizes.format(clear))")
            return nil
        }
        return SampledThreshold(trip: Double(trip), clear: Double(clear))
    }

    // MARK: per-connection limits, in [guard] and in each [[listener]]

    /// Hard rates must be at least the soft ones when both are on. In a listener, a pair that
    /// is wrong only through [guard]'s own values was reported at [guard] already.
    mutating func checkRates(_ values: LayeredValues) {
        checkSoftHard(values, soft: ConfigKeys.guardPacketRateSoft, hard: ConfigKeys.guardPacketRateHard, format: { String($0) })
        checkSoftHard(values, soft: ConfigKeys.guardByteRateSoft, hard: ConfigKeys.guardByteRateHard, format: ByteSizes.format)
    }

    private mutating func checkSoftHard(_ values: LayeredValues, soft: ConfigKey, hard: ConfigKey, format: (Int) -> String) {
        guard let softRate = values.integer(soft), let hardRate = values.integer(hard),
              softRate > 0, hardRate > 0, hardRate < softRate else { return }
        let own = values.own
        if own.isWritten(hard) || values.inherited == nil {
            report(line: own.line(of: hard), key: own.path(hard),
                   "must be at least \(values.name(soft)) (\(format(softRate))), got \(format(hardRate))")
        } else if own.isWritten(soft) {
            report(line: own.line(of: soft), key: own.path(soft),
                   "must be at most \(values.name(hard)) (\(format(hardRate))), got \(format(softRate))")
        }
    }

    /// A listener's limits and TCP options: [guard]'s, with the listener's overrides applied.
    mutating func listenerGuardSettings(_ listener: SectionValues, guard guardValues: SectionValues) -> (limits: ConnectionLimits, tcp: TCPOptions)? {
        let layered = LayeredValues(own: listener, inherited: guardValues)
        checkRates(layered)
        checkFrameKeysHaveFrames(listener)
        checkMuxSoftRates(layered)
        guard let limits = layered.connectionLimits, let tcp = layered.tcpOptions else { return nil }
        return (limits, tcp)
    }

    /// A mux session enforces the hard rates but cannot hold frames back yet: a soft rate on a
    /// mux listener (its own, or [guard]'s) would be parsed and not enforced, so it is refused.
    private mutating func checkMuxSoftRates(_ layered: LayeredValues) {
        guard layered.own.text(ConfigKeys.listenerMode) == ListenerMode.mux.rawValue else { return }
        for (key, hard) in [(ConfigKeys.guardPacketRateSoft, ConfigKeys.guardPacketRateHard),
                            (ConfigKeys.guardByteRateSoft, ConfigKeys.guardByteRateHard)] {
            guard let value = layered.integer(key), value != 0 else { continue }
            let written = layered.own.isWritten(key)
            let source = written ? layered.own : (layered.inherited ?? layered.own)
            report(line: source.line(of: key), key: layered.own.path(key),
                   "\(layered.name(key)) = \(value): soft rates are not supported on mux listeners yet (hard rates are); "
                       + "set it to 0 for this listener, or use \(hard.name)")
        }
    }

    /// A frame limit written in a listener without frames would silently do nothing. (Switching
    /// one off there, with 0, is harmless; [guard]'s values apply only where there are frames.)
    private mutating func checkFrameKeysHaveFrames(_ listener: SectionValues) {
        guard listener.text(ConfigKeys.listenerFraming) == Framing.stream.rawValue else { return }
        let frameKeys = [ConfigKeys.guardMaxFrame, ConfigKeys.guardFrameTimeout,
                         ConfigKeys.guardPacketRateSoft, ConfigKeys.guardPacketRateHard]
        for key in frameKeys where listener.isWritten(key) {
            switch listener.value(key) {
            case .integer(0)?, .duration(.zero)?, nil: continue
            default:
                report(line: listener.line(of: key), key: listener.path(key),
                       "has no effect with framing = \"none\" (a byte stream has no frames); set framing to \"u16be\", \"u32be\" or \"line\", or remove \(key.name)")
            }
        }
    }

    // MARK: the open-file budget

    /// Each client connection holds a socket and a timerfd, and a backend socket when relayed
    /// over TCP; the process needs a reserve besides (SysGuard.FileBudget counts both), which
    /// includes each stats socket and its max_clients clients.
    /// The cap that counts is [guard].max_connections, or the sum of the listeners' caps when
    /// every listener has one and that sum is smaller.
    mutating func checkFileBudget(guard guardValues: SectionValues, listeners: [SectionValues], backends: [SectionValues],
                                  stats: [SectionValues]) {
        guard let maxFiles = guardValues.integer(ConfigKeys.guardMaxFiles),
              let globalCap = guardValues.integer(ConfigKeys.guardMaxConnections) else { return }
        let listenerCaps = listeners.compactMap { $0.integer(ConfigKeys.listenerMaxConnections) }
        guard listenerCaps.count == listeners.count else { return }
        // A stats entry with metrics_bind has a second listening socket with its own clients.
        let statsClients = stats.compactMap { entry in
            entry.integer(ConfigKeys.statsMaxClients).map { (1 + $0) * (entry.value(ConfigKeys.statsMetricsBind) == nil ? 1 : 2) }
        }
        guard statsClients.count == stats.count else { return }
        let capsSum: Int? = !listenerCaps.isEmpty && !listenerCaps.contains(0) ? listenerCaps.reduce(0, +) : nil

        let relays = listeners.contains { $0.text(ConfigKeys.listenerMode) == ListenerMode.tcp.rawValue }
        let filesEach = FileBudget.filesPerConnection(relayMode: relays)
        let serverCount = backends.reduce(0) { $0 + ($1.servers(ConfigKeys.backendServers)?.count ?? 0) }
        let reserve = FileBudget.reserveFiles(listenerCount: listeners.count, backendServerCount: serverCount,
                                              statsSockets: statsClients.reduce(0, +))
        let eachText = relays ? "socket, timerfd and backend socket each" : "socket and timerfd each"
        func needed(_ connections: Int) -> Int { connections * filesEach + reserve }
        let tail = "open files (\(eachText), plus \(reserve) reserved), more than guard.max_files (\(maxFiles))"

        if globalCap > 0 && globalCap <= (capsSum ?? .max) {
            guard needed(globalCap) > maxFiles else { return }
            let key = ConfigKeys.guardMaxConnections
            report(line: guardValues.line(of: key), key: guardValues.path(key),
                   "\(globalCap) connections need \(needed(globalCap)) \(tail)")
        } else if let capsSum, let last = listeners.last {
            guard needed(capsSum) > maxFiles else { return }
            let key = ConfigKeys.listenerMaxConnections
            report(line: last.line(of: key), key: last.path(key),
                   "the listeners' max_connections add up to \(capsSum) connections, which need \(needed(capsSum)) \(tail)")
        }
    }
}
