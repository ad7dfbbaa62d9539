/// What a reload changes, compared by value: where a setting sits in the file (its line, a
/// comment above it, the file's name) is not a change. Limits and timeouts a running worker can
/// take on as they are (the next decision uses them); sockets, pools, threads and the fixed
/// sizes of tables need a new worker.
public enum LiveChanges {
    /// The settings that differ between `old` and `new` and cannot change in a running worker,
    /// as config paths (`guard.max_files`, `listener`); empty when `new` can be applied live.
    public static func restartOnly(from old: GatewayConfig, to new: GatewayConfig) -> [String] {
        let old = old.withoutSourcePositions, new = new.withoutSourcePositions
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
        if old.server.withoutMasterSettings != new.server.withoutMasterSettings { changed.append("server") }
        if old.log != new.log { changed.append("log") }
        if old.backends != new.backends { changed.append("backend") }
        if old.stats != new.stats { changed.append("stats") }
        if old.listeners.map(\.withoutLimits) != new.listeners.map(\.withoutLimits) { changed.append("listener") }
        return changed
    }

    /// Whether `new` holds the same settings as `old` (layout and comments aside).
    public static func isUnchanged(from old: GatewayConfig, to new: GatewayConfig) -> Bool {
        old.withoutSourcePositions == new.withoutSourcePositions
    }
}

extension GatewayConfig {
    /// The config with every source position (file name, lines) blanked: what two configs
    /// must share to hold the same settings. Every position the model keeps is blanked here;
    /// `LiveChangesTests` checks it by inserting comment lines all through the shipped config.
    public var withoutSourcePositions: GatewayConfig {
        var copy = self
        copy.file = ""
        for index in copy.listeners.indices { copy.listeners[index].line = 0 }
        for index in copy.backends.indices {
            copy.backends[index].line = 0
            copy.backends[index].serversLine = 0
        }
        for index in copy.stats.indices { copy.stats[index].line = 0 }
        return copy
    }
}

extension ServerConfig {
    /// `[server]` without what only the master uses (drain, start and probation times): those
    /// apply to the next worker the master starts or drains, so they change live.
    fileprivate var withoutMasterSettings: ServerConfig {
        var copy = self
        copy.drainTimeout = .zero
        copy.startTimeout = .zero
        copy.upgradeProbation = .zero
        return copy
    }
}

extension ListenerConfig {
    /// The listener with its per-connection limits blanked: what must stay equal for a live change.
    fileprivate var withoutLimits: ListenerConfig {
        var copy = self
        copy.limits = GuardConfig.defaults.connection
        return copy
    }
}
