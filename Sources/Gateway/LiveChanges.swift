import Config

/// What of a new config a running worker can take on as it is. Limits and timeouts can: the
/// next decision uses them. Sockets, pools, threads and the fixed sizes of tables cannot: they
/// need a new worker (or, for `set guard`, an edit of the file and a reload).
public enum LiveChanges {
    /// The settings that differ between `old` and `new` and cannot change in a running worker,
    /// as config paths (`guard.max_files`, `listener[edge]`); empty when `new` can be applied live.
    public static func restartOnly(from old: GatewayConfig, to new: GatewayConfig) -> [String] {
        var changed: [String] = []
        let oldGuard = old.guardConfig, newGuard = new.guardConfig
        func check<Value: Equatable>(_ key: ConfigKey, _ value: (GuardConfig) -> Value) {
            if value(oldGuard) != value(newGuard) { changed.append("guard.\(key.name)") }
        }
        check(ConfigKeys.guardMaxFiles) { $0.maxFiles }
        check(ConfigKeys.guardSampleInterval) { $0.sampleInterval }
        check(ConfigKeys.guardPerIPPrefixV4) { $0.perIPPrefixV4 }
        check(ConfigKeys.guardPerIPPrefixV6) { $0.perIPPrefixV6 }
        check(ConfigKeys.guardPerIPTableSize) { $0.perIPTableSize }
        check(ConfigKeys.guardMeminfoPath) { $0.meminfoPath }
        check(ConfigKeys.guardLoadavgPath) { $0.loadavgPath }
        if oldGuard.tcp != newGuard.tcp { changed.append("guard.tcp_* (socket options)") }
        if old.server != new.server { changed.append("server") }
        if old.log != new.log { changed.append("log") }
        // Compared without their line numbers: a line added above a table is not a change.
        if old.backends.map(\.withoutLine) != new.backends.map(\.withoutLine) { changed.append("backend") }
        if old.stats.map(\.withoutLine) != new.stats.map(\.withoutLine) { changed.append("stats") }
        if old.listeners.map(\.withoutLimits) != new.listeners.map(\.withoutLimits) { changed.append("listener") }
        return changed
    }
}

extension ListenerConfig {
    /// The listener with its per-connection limits blanked: what must stay equal for a live change.
    fileprivate var withoutLimits: ListenerConfig {
        var copy = self
        copy.limits = GuardConfig.defaults.connection
        copy.line = 0
        return copy
    }
}

extension BackendConfig {
    fileprivate var withoutLine: BackendConfig {
        var copy = self
        copy.line = 0
        return copy
    }
}

extension StatsSocketConfig {
    fileprivate var withoutLine: StatsSocketConfig {
        var copy = self
        copy.line = 0
        return copy
    }
}
