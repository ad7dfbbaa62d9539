import BulwarkSys
import Gateway
import SysGuard

/// The counters in Prometheus' text exposition format (version 0.0.4), written by hand: it is a
/// few lines of text, and swift-prometheus would bring its own registry and a second copy of
/// every counter. Names follow Prometheus practice: `bulwark_` prefix, base units, `_total` on
/// counters, one label per dimension.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge }
    public let name: String
    public let help: String
    public let kind: Kind
    public var samples: [(labels: [(String, String)], value: Double)]

    init(_ name: String, _ kind: Kind, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }
}

public enum Metrics {
    public static func families(_ context: ControlContext) -> [MetricFamily] {
        let runtime = context.runtime
        let guardRuntime = runtime.guardRuntime
        let counters = guardRuntime.counters
        let listeners = runtime.listeners
        let backends = runtime.backends.values.sorted { $0.name < $1.name }
        func perListener(_ value: (Listener) -> Int) -> [(labels: [(String, String)], value: Double)] {
            listeners.map { ([("listener", $0.name)], Double(value($0))) }
        }
        func perBackend(_ value: (BackendPool) -> Int) -> [(labels: [(String, String)], value: Double)] {
            backends.map { ([("backend", $0.name)], Double(value($0))) }
        }
        /// One sample per server that `value` gives a number for (nil leaves the server out).
        func perServer(_ value: (BackendServer, ServerStatistics) -> Double?) -> [(labels: [(String, String)], value: Double)] {
            backends.flatMap { backend in
                zip(backend.servers, backend.serverStatistics).compactMap { server, stats in
                    value(server, stats).map { ([("backend", backend.name), ("server", server.description)], $0) }
                }
            }
        }
        let pressure = guardRuntime.pressure
        let allocated = Jemalloc.allocatedBytes
        var families: [MetricFamily] = [
            MetricFamily("bulwark_connections", .gauge, "Client connections open now.",
                         perListener { $0.statistics.active.value }),
            MetricFamily("bulwark_connections_accepted_total", .counter, "Client connections accepted.",
                         perListener { $0.statistics.accepted.value }),
            MetricFamily("bulwark_connections_closed_total", .counter, "Client connections closed, by how they ended.",
                         listeners.flatMap { listener -> [(labels: [(String, String)], value: Double)] in
                             let stats = listener.statistics
                             return [([("listener", listener.name), ("how", "normal")], Double(stats.closedNormally.value)),
                                     ([("listener", listener.name), ("how", "error")], Double(stats.closedOnError.value)),
                                     ([("listener", listener.name), ("how", "backend_unavailable")], Double(stats.backendUnavailable.value)),
                                     ([("listener", listener.name), ("how", "refused")], Double(stats.refused.value))]
                         }),
            MetricFamily("bulwark_accept_pauses_total", .counter, "Times accepting paused for lack of file descriptors or memory.",
                         perListener { $0.statistics.acceptPauses.value }),
            MetricFamily("bulwark_client_received_bytes_total", .counter, "Bytes read from clients (counted when a connection closes).",
                         perListener { $0.statistics.bytesFromClients.value }),
            MetricFamily("bulwark_client_sent_bytes_total", .counter, "Bytes relayed toward clients (counted when a connection closes).",
                         perListener { $0.statistics.bytesToClients.value }),
            MetricFamily("bulwark_backend_connect_attempts_total", .counter, "Connects started to backend servers.",
                         perBackend { $0.statistics.connectAttempts.value }),
            MetricFamily("bulwark_backend_connect_failures_total", .counter, "Backend connects refused or failed.",
                         perBackend { $0.statistics.connectFailures.value }),
            MetricFamily("bulwark_backend_connect_timeouts_total", .counter, "Backend connects that timed out.",
                         perBackend { $0.statistics.connectTimeouts.value }),
            MetricFamily("bulwark_backend_unavailable_total", .counter, "Client connections closed because every server of the backend failed.",
                         perBackend { $0.statistics.exhausted.value }),
            MetricFamily("bulwark_server_up", .gauge, "1 when the last connect to the server succeeded, 0 when it failed (absent before the first).",
                         perServer { _, stats in stats.state == .unknown ? nil : stats.state == .up ? 1 : 0 }),
            MetricFamily("bulwark_server_connections", .gauge, "Relayed connections open to the server.",
                         perServer { _, stats in Double(stats.live.value) }),
            MetricFamily("bulwark_server_lookup_failures_total", .counter, "Failed lookups of a server given by host name.",
                         perServer { server, _ in server.endpoint.isHostName ? Double(server.lookupFailures) : nil }),
            MetricFamily("bulwark_guard_refusals_total", .counter, "New connections refused by SysGuard, by reason.",
                         RefusalReason.allCases.map { ([("reason", $0.rawValue)], Double(counters.refusals($0))) }),
            MetricFamily("bulwark_guard_closes_total", .counter, "Connections closed by a SysGuard limit, by reason.",
                         SysGuard.CloseReason.allCases.map { ([("reason", $0.rawValue)], Double(counters.closes($0))) }),
            MetricFamily("bulwark_guard_dry_run_refusals_total", .counter, "Refusals a dry-run limit would have made.",
                         RefusalReason.allCases.map { ([("reason", $0.rawValue)], Double(counters.dryRunRefusals($0))) }),
            MetricFamily("bulwark_guard_dry_run_closes_total", .counter, "Closes a dry-run limit would have made.",
                         SysGuard.CloseReason.allCases.map { ([("reason", $0.rawValue)], Double(counters.dryRunCloses($0))) }),
            MetricFamily("bulwark_guard_tripped", .gauge, "1 while a sampled guard refuses new connections.",
                         [([("guard", "load")], pressure.loadTripped ? 1 : 0),
                          ([("guard", "memory")], pressure.memoryTripped ? 1 : 0),
                          ([("guard", "memory_available")], pressure.memoryAvailableTripped ? 1 : 0),
                          ([("guard", "swap")], pressure.swapTripped ? 1 : 0)]),
            MetricFamily("bulwark_guard_sample_failures_total", .counter, "Readings of /proc that could not be read or parsed.",
                         [([], Double(guardRuntime.sampleFailures.value))]),
            MetricFamily("bulwark_open_files", .gauge, "File descriptors open in the process.",
                         FileDescriptors.openCount().map { [([], Double($0))] } ?? []),
            MetricFamily("bulwark_epoll_rearm_failures_total", .counter,
                         "epoll re-arms that failed; each closed its connection or was logged.",
                         [([], Double(context.runtime.engine.rearmFailures))]),
            MetricFamily("bulwark_open_files_limit", .gauge, "RLIMIT_NOFILE (soft).",
                         [([], Double(ProcessFacts.openFileLimit().soft))]),
            MetricFamily("bulwark_uptime_seconds", .gauge, "Seconds since the gateway started.",
                         [([], Double((MonotonicClock.nanoseconds() - context.startedAtNanoseconds) / 1_000_000_000))]),
        ]
        if let resident = ProcessFacts.residentBytes() {
            families.append(MetricFamily("bulwark_resident_memory_bytes", .gauge, "Resident set size.", [([], Double(resident))]))
        }
        if allocated >= 0 {
            families.append(MetricFamily("bulwark_allocated_memory_bytes", .gauge, "Bytes allocated through jemalloc.",
                                         [([], Double(allocated))]))
        }
        return families
    }

    /// The text exposition format.
    public static func exposition(_ families: [MetricFamily]) -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                text += family.name
                if !sample.labels.isEmpty {
                    text += "{" + sample.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
                }
                text += " " + format(sample.value) + "\n"
            }
        }
        return text
    }

    static func json(_ families: [MetricFamily]) -> JSONValue {
        .array(families.map { family in
            .object([("name", .string(family.name)), ("type", .string(family.kind.rawValue)), ("help", .string(family.help)),
                     ("samples", .array(family.samples.map { sample in
                         .object([("labels", .object(sample.labels.map { ($0.0, .string($0.1)) })), ("value", .number(sample.value))])
                     }))])
        })
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Label values escape backslash, double quote and newline.
    private static func escape(_ value: String) -> String {
        var escaped = ""
        for scalar in value.unicodeScalars {  // scalars: "\r\n" is one Character
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            case "\r": escaped += " "
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
