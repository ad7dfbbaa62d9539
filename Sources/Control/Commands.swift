import BulwarkSys
import Config
import Gateway
import SysGuard

/// The stats socket's commands, in `help` order. Field order in every answer is stable; new
/// fields go at the end.
public enum Commands {
    /// The most rows one answer holds (`limit` above it is clamped): bounds one answer's memory.
    public static let maxRows = 100_000

    public static let all: [Command] = [
        Command(words: ["help"], arguments: "", summary: "list every command with its usage", level: .user) { _, _ in
            .table(columns: ["usage", "level", "summary"],
                   rows: all.map { [.string($0.usage), .string($0.level.rawValue), .string($0.summary)] })
        },
        Command(words: ["show", "info"], arguments: "[json]",
                summary: "version, pid, uptime, workers, connections, memory, open files, guard states, config",
                level: .user) { _, context in info(context) },
        Command(words: ["show", "stat"], arguments: "[json]",
                summary: "per listener and per backend: connections, bytes, refusals and closes by reason",
                level: .user) { _, context in statistics(context) },
        Command(words: ["show", "guard"], arguments: "[json]",
                summary: "each limit: its value, state, counters, dry run",
                level: .user) { _, context in guardReport(context) },
        Command(words: ["show", "backends"], arguments: "[json]",
                summary: "each server: its state, live connections, failures and last error, and the address a host name resolves to",
                level: .user) { _, context in backends(context) },
        Command(words: ["show", "ips"], arguments: "[limit N] [json]",
                summary: "the per-IP table, most connections first (default limit 100)",
                level: .user) { arguments, context throws(CommandError) in try ips(arguments, context) },
        Command(words: ["show", "conns"],
                arguments: "[listener NAME] [ip ADDR|CIDR] [idle-gt DURATION] [sort FIELD] [limit N] [json]",
                summary: "one line per connection, filtered, sorted (id, age, idle, bytes_in, bytes_out, buffered) and capped (default 100)",
                level: .user) { arguments, context throws(CommandError) in try connections(arguments, context) },
        Command(words: ["show", "channels"], arguments: "[json]",
                summary: "mux channels and their member counts",
                level: .user) { _, context in
            .table(columns: ["channel", "members"], rows: context.runtime.channels.map { [.string($0.channel), .integer($0.members)] })
        },
        Command(words: ["show", "metrics"], arguments: "[json]",
                summary: "the counters in Prometheus text format",
                level: .user) { _, context in
            let families = Metrics.families(context)
            return .preformatted(text: Metrics.exposition(families), json: Metrics.json(families))
        },
        Command(words: ["set", "guard"], arguments: "KEY VALUE",
                summary: "change a [guard] limit live (validated like the file; applies from the next decision)",
                level: .admin) { arguments, context throws(CommandError) in try setGuard(arguments, context) },
        Command(words: ["reload"], arguments: "",
                summary: "ask the master to reload the config file (as SIGHUP); the outcome shows in show info",
                level: .admin) { arguments, context throws(CommandError) in try lifecycle("reload", arguments, context) },
        Command(words: ["upgrade"], arguments: "",
                summary: "ask the master to start the binary at its path (as SIGUSR2); the outcome shows in show info",
                level: .admin) { arguments, context throws(CommandError) in try lifecycle("upgrade", arguments, context) },
        Command(words: ["disable", "listener"], arguments: "NAME",
                summary: "stop accepting on a listener; its connections are untouched",
                level: .operator) { arguments, context throws(CommandError) in
            try setAccepting(false, arguments, context)
        },
        Command(words: ["kick", "conn"], arguments: "ID",
                summary: "close one connection (counted as kicked)",
                level: .operator) { arguments, context throws(CommandError) in
            guard arguments.count == 1, let id = UInt64(arguments[0]) else { throw CommandError("usage: kick conn ID") }
            guard context.runtime.sessions.kick(id) else { throw CommandError("no connection \(id)") }
            return .message("kicked connection \(id)")
        },
        Command(words: ["kick", "ip"], arguments: "ADDR|CIDR",
                summary: "close every connection from an address or prefix (counted as kicked)",
                level: .operator) { arguments, context throws(CommandError) in
            guard arguments.count == 1 else { throw CommandError("usage: kick ip ADDR|CIDR") }
            let count = context.runtime.sessions.kick(matching: try prefix(arguments[0]))
            return .message("kicked \(count) connection\(count == 1 ? "" : "s") from \(arguments[0])")
        },
        Command(words: ["kick", "user"], arguments: "ID",
                summary: "close every mux session a backend bound to this user id (counted as kicked)",
                level: .operator) { arguments, context throws(CommandError) in
            guard arguments.count == 1 else { throw CommandError("usage: kick user ID") }
            let count = context.runtime.kickUser(arguments[0])
            return .message("kicked \(count) session\(count == 1 ? "" : "s") of user \(arguments[0])")
        },
        Command(words: ["enable", "listener"], arguments: "NAME",
                summary: "resume accepting on a listener",
                level: .operator) { arguments, context throws(CommandError) in
            try setAccepting(true, arguments, context)
        },
    ]

    // MARK: show info

    static func info(_ context: ControlContext) -> Report {
        let runtime = context.runtime
        let guardRuntime = runtime.guardRuntime
        let limits = ProcessFacts.openFileLimit()
        let uptimeSeconds = (MonotonicClock.nanoseconds() - context.startedAtNanoseconds) / 1_000_000_000
        let allocated = Jemalloc.allocatedBytes
        let pressure = guardRuntime.pressure
        return .fields([
            ("version", .string(context.version)),
            ("pid", .integer(Int(ProcessFacts.processID()))),
            ("uptime_seconds", .integer(Int(uptimeSeconds))),
            ("workers", .integer(runtime.engine.workerCount)),
            ("connections", .integer(guardRuntime.connections)),
            ("connections_total", .integer(runtime.listeners.reduce(0) { $0 + $1.statistics.accepted.value })),
            ("memory_rss_bytes", ProcessFacts.residentBytes().map { .integer($0) } ?? .null),
            ("memory_allocated_bytes", allocated >= 0 ? .integer(Int(allocated)) : .null),
            ("open_files", FileDescriptors.openCount().map { .integer($0) } ?? .null),
            ("open_files_limit", .integer(Int(limits.soft))),
            ("guard_load_tripped", .boolean(pressure.loadTripped)),
            ("guard_memory_tripped", .boolean(pressure.memoryTripped)),
            ("guard_memory_available_tripped", .boolean(pressure.memoryAvailableTripped)),
            ("guard_swap_tripped", .boolean(pressure.swapTripped)),
            ("config_file", .string(context.configPath)),
            ("config_loaded_at", .integer(Int(context.loadedAtEpochSeconds))),
            ("master_pid", context.masterPID.map { .integer(Int($0)) } ?? .null),
            ("last_reload", context.note("last_reload").map { .string($0) } ?? .null),
            ("last_upgrade", context.note("last_upgrade").map { .string($0) } ?? .null),
            ("draining", .boolean(runtime.isDraining)),
            ("epoll_rearm_failures", .integer(runtime.engine.rearmFailures)),
        ])
    }

    // MARK: show stat

    static func statistics(_ context: ControlContext) -> Report {
        let listeners: [[JSONValue]] = context.runtime.listeners.map { listener in
            let stats = listener.statistics
            return [.string(listener.name), .string(listener.address.description),
                    .string(listener.isAccepting ? "accepting" : "disabled"),
                    .integer(stats.active.value), .integer(stats.accepted.value), .integer(stats.refused.value),
                    .integer(stats.closedNormally.value), .integer(stats.closedOnError.value),
                    .integer(stats.backendUnavailable.value), .integer(stats.acceptPauses.value),
                    .integer(stats.bytesFromClients.value), .integer(stats.bytesToClients.value)]
        }
        let backends: [[JSONValue]] = context.runtime.backends.values.sorted { $0.name < $1.name }.map { backend in
            let stats = backend.statistics
            return [.string(backend.name), .integer(backend.servers.count), .integer(stats.connectAttempts.value),
                    .integer(stats.connectFailures.value), .integer(stats.connectTimeouts.value),
                    .integer(stats.exhausted.value)]
        }
        let counters = context.runtime.guardRuntime.counters
        let refusals: [[JSONValue]] = RefusalReason.allCases.map {
            [.string($0.rawValue), .integer(counters.refusals($0)), .integer(counters.dryRunRefusals($0))]
        }
        let closes: [[JSONValue]] = SysGuard.CloseReason.allCases.map {
            [.string($0.rawValue), .integer(counters.closes($0)), .integer(counters.dryRunCloses($0))]
        }
        return .sections([
            ("listeners", .table(columns: ["name", "bind", "state", "connections", "accepted", "refused",
                                           "closed_normally", "closed_on_error", "backend_unavailable",
                                           "accept_pauses", "bytes_in", "bytes_out"], rows: listeners)),
            ("backends", .table(columns: ["name", "servers", "connect_attempts", "connect_failures",
                                          "connect_timeouts", "all_servers_failed"], rows: backends)),
            ("refusals", .table(columns: ["reason", "count", "dry_run_count"], rows: refusals)),
            ("closes", .table(columns: ["reason", "count", "dry_run_count"], rows: closes)),
            ("mux", .table(columns: ["counter", "value"], rows: context.runtime.muxCounters.map { [.string("mux_" + $0.name), .integer($0.value)] })),
        ])
    }

    // MARK: show guard

    static func guardReport(_ context: ControlContext) -> Report {
        let guardRuntime = context.runtime.guardRuntime
        let config = guardRuntime.config
        let counters = guardRuntime.counters
        let pressure = guardRuntime.pressure
        let readings = guardRuntime.lastReadings
        func limit(_ name: String, _ value: JSONValue, state: String, count: Int, dryRunCount: Int, dryRun: GuardLimit?) -> [JSONValue] {
            [.string(name), value, .string(state), .integer(count), .integer(dryRunCount),
             .boolean(dryRun.map(config.dryRun.contains) ?? false)]
        }
        func sampled(_ threshold: SampledThreshold?, tripped: Bool) -> String {
            guard threshold != nil else { return "off" }
            return tripped ? "tripped" : "clear"
        }
        func threshold(_ value: SampledThreshold?) -> JSONValue {
            guard let value else { return .null }
            return .string("trip \(value.trip) clear \(value.clear)")
        }
        let memoryReading = readings.memory.map { "used \(Int($0.usedPercent))%, available \($0.availableBytes / 1_048_576) MiB, swap \(Int($0.swapUsedPercent))%" }
        let rows: [[JSONValue]] = [
            limit("max_connections", .integer(config.maxConnections), state: config.maxConnections > 0 ? "on" : "off",
                  count: counters.refusals(.maxConnections), dryRunCount: counters.dryRunRefusals(.maxConnections), dryRun: .maxConnections),
            limit("max_connections_per_ip", .integer(config.maxConnectionsPerIP), state: config.maxConnectionsPerIP > 0 ? "on" : "off",
                  count: counters.refusals(.perIP), dryRunCount: counters.dryRunRefusals(.perIP), dryRun: .perIP),
            limit("max_load", threshold(config.load), state: sampled(config.load, tripped: pressure.loadTripped),
                  count: counters.refusals(.load), dryRunCount: counters.dryRunRefusals(.load), dryRun: .load),
            limit("max_memory_used_percent", threshold(config.memoryUsedPercent),
                  state: sampled(config.memoryUsedPercent, tripped: pressure.memoryTripped),
                  count: counters.refusals(.memory), dryRunCount: counters.dryRunRefusals(.memory), dryRun: .memory),
            limit("min_memory_available", threshold(config.memoryAvailableBytes),
                  state: sampled(config.memoryAvailableBytes, tripped: pressure.memoryAvailableTripped),
                  count: counters.refusals(.memoryAvailable), dryRunCount: counters.dryRunRefusals(.memoryAvailable), dryRun: .memory),
            limit("max_swap_used_percent", threshold(config.swapUsedPercent),
                  state: sampled(config.swapUsedPercent, tripped: pressure.swapTripped),
                  count: counters.refusals(.swap), dryRunCount: counters.dryRunRefusals(.swap), dryRun: .swap),
            limit("deny", .integer(config.deny.count), state: config.deny.isEmpty ? "off" : "on",
                  count: counters.refusals(.denyList), dryRunCount: 0, dryRun: nil),
            limit("idle_timeout", config.connection.idleTimeout.map { .string(Durations.format($0)) } ?? .null,
                  state: config.connection.idleTimeout == nil ? "off" : "on",
                  count: counters.closes(.idleTimeout), dryRunCount: counters.dryRunCloses(.idleTimeout), dryRun: .idleTimeout),
            limit("frame_timeout", config.connection.frameTimeout.map { .string(Durations.format($0)) } ?? .null,
                  state: config.connection.frameTimeout == nil ? "off" : "on",
                  count: counters.closes(.frameTimeout), dryRunCount: counters.dryRunCloses(.frameTimeout), dryRun: .frameTimeout),
            limit("max_frame", .integer(config.connection.maxFrameBytes), state: "on",
                  count: counters.closes(.frameTooLarge), dryRunCount: counters.dryRunCloses(.frameTooLarge), dryRun: .maxFrame),
            limit("packet_rate_hard", config.connection.packetRateHard.map { .integer($0) } ?? .null,
                  state: config.connection.packetRateHard == nil ? "off" : "on",
                  count: counters.closes(.packetRate), dryRunCount: counters.dryRunCloses(.packetRate), dryRun: .packetRate),
            limit("byte_rate_hard", config.connection.byteRateHard.map { .integer($0) } ?? .null,
                  state: config.connection.byteRateHard == nil ? "off" : "on",
                  count: counters.closes(.byteRate), dryRunCount: counters.dryRunCloses(.byteRate), dryRun: .byteRate),
            limit("max_receive_buffer", .integer(config.connection.maxReceiveBufferBytes), state: "on",
                  count: counters.closes(.receiveBuffer), dryRunCount: counters.dryRunCloses(.receiveBuffer), dryRun: .buffers),
            limit("max_send_buffer", .integer(config.connection.maxSendBufferBytes), state: "on",
                  count: counters.closes(.sendBuffer), dryRunCount: counters.dryRunCloses(.sendBuffer), dryRun: .buffers),
        ]
        return .sections([
            ("limits", .table(columns: ["limit", "value", "state", "count", "dry_run_count", "dry_run"], rows: rows)),
            ("readings", .fields([
                ("load_average", readings.loadAverage.map { .number($0) } ?? .null),
                ("memory", memoryReading.map { .string($0) } ?? .null),
                ("sample_failures", .integer(guardRuntime.sampleFailures.value)),
            ])),
            ("set_live", .table(columns: ["key", "value"], rows: context.guardOverrides.map {
                [.string($0.key.name), .string($0.value.tomlText)]
            })),
        ])
    }

    // MARK: show backends

    static func backends(_ context: ControlContext) -> Report {
        var rows: [[JSONValue]] = []
        for backend in context.runtime.backends.values.sorted(by: { $0.name < $1.name }) {
            let muxLive = context.runtime.liveMuxConnections(backend: backend.name)
            for (index, (server, stats)) in zip(backend.servers, backend.serverStatistics).enumerated() {
                rows.append([.string(backend.name), .string(server.description), .string(stats.state.rawValue),
                             .integer(stats.live.value), .integer(stats.failures.value),
                             stats.lastError.map { .string($0) } ?? .null,
                             muxLive.map { .integer(index < $0.count ? $0[index] : 0) } ?? .null,
                             server.address.map { .string($0.description) } ?? .null,
                             server.lookupError.map { .string($0) } ?? .null])
            }
        }
        return .table(columns: ["backend", "server", "state", "live", "failures", "last_error", "mux_connections",
                                "address", "lookup_error"], rows: rows)
    }

    // MARK: show conns

    static func prefix(_ text: String) throws(CommandError) -> SysGuard.AddressPrefix {
        switch Config.AddressPrefix.parseDetailed(text) {
        case .success(let parsed):
            guard let prefix = SysGuard.AddressPrefix(bytes: parsed.bytes, length: parsed.length) else {
                throw CommandError("bad address or prefix '\(text)'")
            }
            return prefix
        case .failure(let error):
            throw CommandError("bad address or prefix '\(text)': \(error.message)")
        }
    }

    static func connections(_ arguments: [String], _ context: ControlContext) throws(CommandError) -> Report {
        let usage = "usage: show conns [listener NAME] [ip ADDR|CIDR] [idle-gt DURATION] [sort FIELD] [limit N] [json]"
        var listener: String?
        var within: SysGuard.AddressPrefix?
        var idleAbove: Int64?
        var sortField = "id"
        var limit = 100
        var words = arguments[...]
        while let word = words.popFirst() {
            guard let value = words.popFirst() else { throw CommandError(usage) }
            switch word {
            case "listener": listener = value
            case "ip": within = try prefix(value)
            case "idle-gt":
                guard let duration = Durations.parse(value) else { throw CommandError("bad duration '\(value)', like \"30s\"") }
                idleAbove = duration.nanosecondCount
            case "sort":
                guard ["id", "age", "idle", "bytes_in", "bytes_out", "buffered"].contains(value) else {
                    throw CommandError("cannot sort by '\(value)'; fields: id, age, idle, bytes_in, bytes_out, buffered")
                }
                sortField = value
            case "limit":
                guard let count = Int(value), count > 0 else { throw CommandError("bad limit '\(value)'") }
                limit = min(count, Self.maxRows)
            default: throw CommandError(usage)
            }
        }
        var rows = context.runtime.sessions.snapshots().filter { snapshot in
            (listener == nil || snapshot.listener == listener)
                && (within.map { $0.key.contains(snapshot.peer) } ?? true)
                && (idleAbove.map { (snapshot.idleNanoseconds ?? 0) > $0 } ?? true)
        }
        switch sortField {
        case "age": rows.sort { $0.ageNanoseconds > $1.ageNanoseconds }
        case "idle": rows.sort { ($0.idleNanoseconds ?? 0) > ($1.idleNanoseconds ?? 0) }
        case "bytes_in": rows.sort { $0.bytesIn > $1.bytesIn }
        case "bytes_out": rows.sort { $0.bytesOut > $1.bytesOut }
        case "buffered": rows.sort { $0.bufferedBytes > $1.bufferedBytes }
        default: rows.sort { $0.id < $1.id }
        }
        let table: [[JSONValue]] = rows.prefix(limit).map { snapshot in
            let host = snapshot.peer.description
            let peer = host.contains(":") ? "[\(host)]:\(snapshot.peerPort)" : "\(host):\(snapshot.peerPort)"
            return [.integer(Int(snapshot.id)), .string(snapshot.listener), .string(peer),
                    .integer(Int(snapshot.ageNanoseconds / 1_000_000)),
                    snapshot.idleNanoseconds.map { .integer(Int($0 / 1_000_000)) } ?? .null,
                    .integer(snapshot.bytesIn), .integer(snapshot.bytesOut), .integer(snapshot.bufferedBytes),
                    snapshot.framesPerSecond.map { .integer($0) } ?? .null]
                + muxColumns(snapshot.session, context)
        }
        return .table(columns: ["id", "listener", "peer", "age_ms", "idle_ms", "bytes_in", "bytes_out", "buffered", "frame_rate",
                                "session", "user", "channels"],
                      rows: table)
    }

    /// A mux session's id (hex, as backends log it), user and channels; nulls for a TCP relay.
    private static func muxColumns(_ session: UInt64?, _ context: ControlContext) -> [JSONValue] {
        guard let session else { return [.null, .null, .null] }
        let membership = context.runtime.muxMembership(session)
        return [.string(String(session, radix: 16)), membership.user.map { .string($0) } ?? .null,
                .string(membership.channels.joined(separator: ","))]
    }

    // MARK: show ips

    static func ips(_ arguments: [String], _ context: ControlContext) throws(CommandError) -> Report {
        var limit = 100
        var remaining = arguments[...]
        while let word = remaining.popFirst() {
            guard word == "limit", let text = remaining.popFirst(), let value = Int(text), value > 0 else {
                throw CommandError("usage: show ips [limit N] [json]")
            }
            limit = min(value, Self.maxRows)
        }
        let rows: [[JSONValue]] = context.runtime.guardRuntime.topAddresses(limit).map {
            [.string($0.key.description), .integer($0.count)]
        }
        return .table(columns: ["address", "connections"], rows: rows)
    }

    // MARK: set guard

    static func setGuard(_ arguments: [String], _ context: ControlContext) throws(CommandError) -> Report {
        guard arguments.count >= 2 else { throw CommandError("usage: set guard KEY VALUE") }
        let override: GuardOverride
        do {
            override = try GuardOverride(keyName: arguments[0], valueText: arguments.dropFirst().joined(separator: " "))
        } catch {
            throw CommandError(error.issues.map { "\($0.key): \($0.message)" }.joined(separator: "; "))
        }
        try context.setGuard(override)
        return .message("guard.\(override.key.name) = \(override.value.tomlText)")
    }

    // MARK: reload / upgrade

    static func lifecycle(_ action: String, _ arguments: [String], _ context: ControlContext) throws(CommandError) -> Report {
        guard arguments.isEmpty else { throw CommandError("usage: \(action)") }
        guard let request = context.lifecycleRequest, let master = context.masterPID else {
            throw CommandError("no master process: this gateway was not started by 'bulwark run'")
        }
        guard request(action) else { throw CommandError("cannot reach the master process (pid \(master))") }
        return .message("\(action) requested from the master (pid \(master)); show info reports last_\(action)")
    }

    // MARK: enable / disable listener

    static func setAccepting(_ enabled: Bool, _ arguments: [String], _ context: ControlContext) throws(CommandError) -> Report {
        guard arguments.count == 1 else { throw CommandError("usage: \(enabled ? "enable" : "disable") listener NAME") }
        guard let listener = context.runtime.listener(named: arguments[0]) else {
            let names = context.runtime.listeners.map(\.name).joined(separator: ", ")
            throw CommandError("no listener named '\(arguments[0])'; listeners: \(names)")
        }
        listener.setAccepting(enabled)
        return .message("listener \(listener.name) \(enabled ? "accepting" : "disabled")")
    }
}
