// THE table of config keys. The unknown-key check, the required-key check, the defaults and
// docs/config.md (ConfigReference.markdown()) all come from here: add a key here first.
import SysGuard

public enum ConfigSection: String, Sendable, Equatable, CaseIterable {
    case server, log, `guard`, listener, backend, stats

    /// `[[listener]]`, `[[backend]]` and `[[stats]]` may appear many times; the others once.
    /// A lone `[stats]` is read as one `[[stats]]` (the form HAProxy users expect for one socket).
    public var isArrayOfTables: Bool {
        switch self {
        case .server, .log, .guard: return false
        case .listener, .backend, .stats: return true
        }
    }

    /// How the section is written: `[server]` or `[[listener]]`.
    public var header: String {
        isArrayOfTables ? "[[\(rawValue)]]" : "[\(rawValue)]"
    }

    public var doc: String {
        switch self {
        case .server: return "Process-wide settings. Optional; every key has a default."
        case .log: return "Logging. Optional; every key has a default."
        case .guard:
            return "Self-protection (SysGuard): process-wide limits, and the defaults of the per-connection limits and TCP options, "
                + "which each [[listener]] may override. Optional; every key has a default or is off when left out. "
                + "Where a key says so, 0 (or \"0s\") switches its limit off."
        case .listener:
            return "A listening socket and where its connections go. At least one is required. "
                + "Keys marked \"inherits [guard].X\" override that [guard] key for this listener only; left out, the [guard] value applies."
        case .backend: return "A named group of backend servers that listeners relay to."
        case .stats:
            return "A control socket for operators (a Unix stream socket, like HAProxy's stats socket). Optional; there may be several, "
                + "for example a read-only one for monitoring and an admin one. Levels: \"user\" reads counters and state; "
                + "\"operator\" also enables and disables listeners and kicks connections; \"admin\" also changes limits, reloads and upgrades. "
                + "Whoever can connect to the socket gets its level: the file's owner, group and mode are the access control."
        }
    }
}

/// Whether a key must be written, and what applies when it is left out.
public enum ConfigKeyPresence: Sendable, Equatable {
    /// Must be written.
    case required
    /// Left out, this value applies (read through the key's kind like a written one).
    case defaulted(TOMLValue)
    /// Left out, the limit is off or the value follows from another key; `absentText` says
    /// which, for the reference ("off", "0.9 × max_load").
    case optional(absentText: String)
    /// A `[[listener]]` override: left out, the key of the same name in `section` applies.
    case inherits(ConfigSection)
}

public struct ConfigKey: Sendable, Equatable {
    public var section: ConfigSection
    public var name: String
    public var kind: ConfigValueKind
    public var presence: ConfigKeyPresence
    /// One line for the reference.
    public var doc: String

    public init(section: ConfigSection, name: String, kind: ConfigValueKind, presence: ConfigKeyPresence, doc: String) {
        self.section = section
        self.name = name
        self.kind = kind
        self.presence = presence
        self.doc = doc
    }

    /// `defaultValue` nil: the key is required.
    public init(section: ConfigSection, name: String, kind: ConfigValueKind, defaultValue: TOMLValue?, doc: String) {
        self.init(section: section, name: name, kind: kind,
                  presence: defaultValue.map(ConfigKeyPresence.defaulted) ?? .required, doc: doc)
    }

    /// The value that applies when the key is left out, if it is a fixed one.
    public var defaultValue: TOMLValue? {
        if case .defaulted(let value) = presence { return value }
        return nil
    }

    public var isRequired: Bool { presence == .required }
    /// The type as shown in the reference.
    public var typeText: String { kind.typeText }
    /// The default as TOML text (`"auto"`, `1024`), `required`, what being left out means
    /// (`off`), or `inherits [guard].max_frame`.
    public var defaultText: String {
        switch presence {
        case .required: return "required"
        case .defaulted(let value): return value.tomlText
        case .optional(let absentText): return absentText
        case .inherits(let section): return "inherits \(section.header).\(name)"
        }
    }

    /// The same key in `[[listener]]`, overriding this `[guard]` key for one listener.
    /// Its doc repeats what switches the limit off (the `0: off.` sentence of this key's doc).
    func listenerOverride() -> ConfigKey {
        var doc = "Overrides \(section.header).\(name) for this listener."
        if let off = [" 0: ", " \"0s\": "].lazy.compactMap({ self.doc.firstRange(of: $0) }).first {
            doc += self.doc[off.lowerBound...]
        }
        return ConfigKey(section: .listener, name: name, kind: kind, presence: .inherits(section), doc: doc)
    }
}

public enum ConfigKeys {
    // MARK: [server]

    public static let workers = ConfigKey(
        section: .server, name: "workers", kind: .integerOrAuto(1...1024), defaultValue: .string("auto"),
        doc: "Worker threads sharing one epoll; \"auto\" starts one per CPU.")
    public static let highWater = ConfigKey(
        section: .server, name: "high_water", kind: .byteSize(1...(1 << 30)), defaultValue: .string("256KiB"),
        doc: "Per-direction relay queue high-water mark: above it the other side stops being read.")
    public static let nodeID = ConfigKey(
        section: .server, name: "node_id", kind: .integer(0...65_535), defaultValue: .integer(0),
        doc: "This gateway's number among the gateways in front of the same backends: the top 16 bits of every mux session id, "
            + "so that ids stay unique across gateways. Give each gateway its own.")
    public static let drainTimeout = ConfigKey(
        section: .server, name: "drain_timeout", kind: .duration(.zero...Duration.seconds(86_400)), defaultValue: .string("30s"),
        doc: "On a graceful stop (SIGTERM), an upgrade or a reload that needs a new worker: how long a worker that stopped accepting "
            + "keeps serving its open connections before closing the rest; \"0s\" closes them at once.")
    public static let startTimeout = ConfigKey(
        section: .server, name: "start_timeout", kind: .duration(.seconds(1)...Duration.seconds(3600)), defaultValue: .string("30s"),
        doc: "How long a new worker (at start, after a crash, for a reload or an upgrade) has to be ready before the master kills it: "
            + "a reload or upgrade whose worker is not ready in time is undone, and the running worker goes on serving.")
    public static let upgradeProbation = ConfigKey(
        section: .server, name: "upgrade_probation", kind: .duration(.zero...Duration.seconds(600)), defaultValue: .string("3s"),
        doc: "On an upgrade, how long the new binary's worker must stay up, ready but accepting nothing, before the master "
            + "re-executes the new binary and that worker takes over; if it dies meanwhile, the upgrade is refused and nothing changed.")
    public static let user = ConfigKey(
        section: .server, name: "user", kind: .owner, presence: .optional(absentText: "the user bulwark is started as"),
        doc: "The user the worker process runs as: a user name, or a numeric uid as a string. Needs bulwark started as root: the "
            + "master binds every socket, then the worker switches user (and group) before serving, with no capabilities left.")
    public static let group = ConfigKey(
        section: .server, name: "group", kind: .owner, presence: .optional(absentText: "user's primary group"),
        doc: "The worker's group: a group name, or a numeric gid as a string. Left out with user set: that user's primary group.")

    // MARK: [log]

    public static let logLevel = ConfigKey(
        section: .log, name: "level", kind: .choice(supported: LogLevel.allCases.map(\.rawValue), notYetSupported: []),
        defaultValue: .string("info"),
        doc: "The least severe level that is logged.")

    // MARK: [guard]: process-wide

    public static let guardMaxFiles = ConfigKey(
        section: .guard, name: "max_files", kind: .integer(64...16_777_216), defaultValue: .integer(1_048_576),
        doc: "RLIMIT_NOFILE is raised to this at start (clamped to the hard limit, with a warning). "
            + "max_connections must fit in it: each connection needs a socket and a timerfd, plus a backend socket when relayed over TCP.")
    public static let guardMaxConnections = ConfigKey(
        section: .guard, name: "max_connections", kind: .integer(0...16_777_216), defaultValue: .integer(0),
        doc: "Client connections of the whole process; past it new ones are refused at accept. 0: unlimited.")
    public static let guardSampleInterval = ConfigKey(
        section: .guard, name: "sample_interval", kind: .duration(.milliseconds(100)...Duration.seconds(60)),
        defaultValue: .string("1s"),
        doc: "How often the load average and /proc/meminfo are read.")
    public static let guardMaxLoad = ConfigKey(
        section: .guard, name: "max_load", kind: .decimal(above: 0, atMost: 1_000_000), presence: .optional(absentText: "off"),
        doc: "New connections are refused while the 1-minute load average is above this (about 0.8 × CPUs is a start). Left out: off.")
    public static let guardLoadClear = ConfigKey(
        section: .guard, name: "load_clear", kind: .decimal(above: 0, atMost: 1_000_000),
        presence: .optional(absentText: "0.9 × max_load"),
        doc: "Once tripped, the load guard clears only when the load average falls below this; at most max_load.")
    public static let guardMaxMemoryUsedPercent = ConfigKey(
        section: .guard, name: "max_memory_used_percent", kind: .integer(2...100), presence: .optional(absentText: "off"),
        doc: "New connections are refused while memory used (MemTotal − MemAvailable) is above this percent of MemTotal. Left out: off.")
    public static let guardMemoryUsedClearPercent = ConfigKey(
        section: .guard, name: "memory_used_clear_percent", kind: .integer(1...99),
        presence: .optional(absentText: "max_memory_used_percent − 5"),
        doc: "Once tripped, the memory-used guard clears only below this percent; less than max_memory_used_percent.")
    public static let guardMinMemoryAvailable = ConfigKey(
        section: .guard, name: "min_memory_available", kind: .byteSize((1 << 20)...(1 << 40)), presence: .optional(absentText: "off"),
        doc: "New connections are refused while MemAvailable is below this. Left out: off.")
    public static let guardMemoryAvailableClear = ConfigKey(
        section: .guard, name: "memory_available_clear", kind: .byteSize((1 << 20)...(1 << 41)),
        presence: .optional(absentText: "1.25 × min_memory_available"),
        doc: "Once tripped, the MemAvailable guard clears only above this; more than min_memory_available.")
    public static let guardMaxSwapUsedPercent = ConfigKey(
        section: .guard, name: "max_swap_used_percent", kind: .integer(2...100), presence: .optional(absentText: "off"),
        doc: "New connections are refused while swap used is above this percent of SwapTotal (never trips without swap). Left out: off.")
    public static let guardSwapUsedClearPercent = ConfigKey(
        section: .guard, name: "swap_used_clear_percent", kind: .integer(1...99),
        presence: .optional(absentText: "max_swap_used_percent − 5"),
        doc: "Once tripped, the swap guard clears only below this percent; less than max_swap_used_percent.")
    public static let guardMaxConnectionsPerIP = ConfigKey(
        section: .guard, name: "max_connections_per_ip", kind: .integer(0...1_000_000), defaultValue: .integer(0),
        doc: "Client connections from one address (or one prefix, see per_ip_prefix_v4/v6); addresses in allow are exempt. 0: off.")
    public static let guardPerIPPrefixV4 = ConfigKey(
        section: .guard, name: "per_ip_prefix_v4", kind: .integer(1...32), defaultValue: .integer(32),
        doc: "IPv4 clients are counted per prefix of this length for max_connections_per_ip; 32: per address.")
    public static let guardPerIPPrefixV6 = ConfigKey(
        section: .guard, name: "per_ip_prefix_v6", kind: .integer(1...128), defaultValue: .integer(128),
        doc: "IPv6 clients are counted per prefix of this length for max_connections_per_ip; 128: per address, 64: per subnet.")
    public static let guardPerIPTableSize = ConfigKey(
        section: .guard, name: "per_ip_table_size", kind: .integer(1...16_777_216), defaultValue: .integer(65_536),
        doc: "Addresses (or prefixes) the per-IP table holds; while it is full, connections from new addresses are refused.")
    public static let guardAllow = ConfigKey(
        section: .guard, name: "allow", kind: .addressPrefixes, defaultValue: .array([]),
        doc: "Clients exempt from the per-IP and rate limits.")
    public static let guardDeny = ConfigKey(
        section: .guard, name: "deny", kind: .addressPrefixes, defaultValue: .array([]),
        doc: "Clients refused at accept.")
    public static let guardDryRun = ConfigKey(
        section: .guard, name: "dry_run", kind: .choices(GuardLimit.allCases.map(\.rawValue)), defaultValue: .array([]),
        doc: "Limits that only count what they would do (on the stats socket) and never refuse or close; for trying limits out.")
    public static let guardMeminfoPath = ConfigKey(
        section: .guard, name: "meminfo_path", kind: .absolutePath, defaultValue: .string("/proc/meminfo"),
        doc: "Where memory and swap readings come from (tests and containers point it elsewhere).")
    public static let guardLoadavgPath = ConfigKey(
        section: .guard, name: "loadavg_path", kind: .absolutePath, defaultValue: .string("/proc/loadavg"),
        doc: "Where the load average comes from.")

    // MARK: [guard]: per-connection limits ([[listener]] may override each)

    public static let guardMaxFrame = ConfigKey(
        section: .guard, name: "max_frame", kind: .byteSize(1...(16 << 20)), defaultValue: .string("64KiB"),
        doc: "Largest frame on a framed listener (payload bytes; for \"line\", the line with its \"\\n\"); a larger one closes the connection.")
    public static let guardIdleTimeout = ConfigKey(
        section: .guard, name: "idle_timeout", kind: .duration(.zero...Duration.seconds(86_400)), defaultValue: .string("5m"),
        doc: "A connection with no bytes in either direction for this long is closed (with its backend connection). \"0s\": off.")
    public static let guardFrameTimeout = ConfigKey(
        section: .guard, name: "frame_timeout", kind: .duration(.zero...Duration.seconds(3600)), defaultValue: .string("30s"),
        doc: "On a framed listener, the first to the last byte of one frame may take at most this long. \"0s\": off.")
    public static let guardPacketRateSoft = ConfigKey(
        section: .guard, name: "packet_rate_soft", kind: .integer(0...10_000_000), defaultValue: .integer(0),
        doc: "Frames per second per connection on a framed listener; above it, reading pauses until the next second. 0: off.")
    public static let guardPacketRateHard = ConfigKey(
        section: .guard, name: "packet_rate_hard", kind: .integer(0...10_000_000), defaultValue: .integer(0),
        doc: "Frames per second per connection on a framed listener; above it, the connection is closed. At least packet_rate_soft. 0: off.")
    public static let guardByteRateSoft = ConfigKey(
        section: .guard, name: "byte_rate_soft", kind: .byteSize(0...(4 << 30)), defaultValue: .integer(0),
        doc: "Bytes per second per connection from the client; above it, reading pauses until the next second. 0: off.")
    public static let guardByteRateHard = ConfigKey(
        section: .guard, name: "byte_rate_hard", kind: .byteSize(0...(4 << 30)), defaultValue: .integer(0),
        doc: "Bytes per second per connection from the client; above it, the connection is closed. At least byte_rate_soft. 0: off.")
    public static let guardMaxReceiveBuffer = ConfigKey(
        section: .guard, name: "max_receive_buffer", kind: .byteSize(1...(1 << 30)), defaultValue: .string("64KiB"),
        doc: "Bytes read from a client but not yet forwarded (held back by a soft rate limit); past it the connection is closed.")
    public static let guardMaxSendBuffer = ConfigKey(
        section: .guard, name: "max_send_buffer", kind: .byteSize(1...(1 << 30)), defaultValue: .string("1MiB"),
        doc: "Bytes waiting to be written to a client; past it the client reads too slowly and is closed.")

    // MARK: [guard]: TCP options ([[listener]] may override each)

    public static let guardTCPDeferAccept = ConfigKey(
        section: .guard, name: "tcp_defer_accept", kind: .wholeSeconds(0...3600), defaultValue: .string("0s"),
        doc: "TCP_DEFER_ACCEPT: a connection is accepted only once its first data arrived (or this time passed). \"0s\": off.")
    public static let guardKeepAliveIdle = ConfigKey(
        section: .guard, name: "keepalive_idle", kind: .wholeSeconds(0...32767), defaultValue: .string("0s"),
        doc: "TCP keepalive (SO_KEEPALIVE, TCP_KEEPIDLE): the first probe after this long without traffic. \"0s\": keepalive off.")
    public static let guardKeepAliveInterval = ConfigKey(
        section: .guard, name: "keepalive_interval", kind: .wholeSeconds(1...32767), defaultValue: .string("10s"),
        doc: "TCP_KEEPINTVL: time between keepalive probes (used when keepalive_idle is on).")
    public static let guardKeepAliveCount = ConfigKey(
        section: .guard, name: "keepalive_count", kind: .integer(1...127), defaultValue: .integer(5),
        doc: "TCP_KEEPCNT: unanswered probes before the connection is dropped (used when keepalive_idle is on).")

    /// The `[guard]` keys that `[[listener]]` may override, in reference order.
    public static let guardConnectionKeys: [ConfigKey] = [
        guardMaxFrame, guardIdleTimeout, guardFrameTimeout, guardPacketRateSoft, guardPacketRateHard,
        guardByteRateSoft, guardByteRateHard, guardMaxReceiveBuffer, guardMaxSendBuffer,
    ]
    public static let guardTCPKeys: [ConfigKey] = [
        guardTCPDeferAccept, guardKeepAliveIdle, guardKeepAliveInterval, guardKeepAliveCount,
    ]

    // MARK: [[listener]]

    public static let listenerName = ConfigKey(
        section: .listener, name: "name", kind: .name, defaultValue: nil,
        doc: "Unique among listeners; used in logs and on the stats socket.")
    public static let listenerBind = ConfigKey(
        section: .listener, name: "bind", kind: .listenAddress, defaultValue: nil,
        doc: "Address to listen on: \"127.0.0.1:7000\", \"[::1]:7000\", or \"*:7000\" for every IPv4 address; port 0 lets the kernel pick one.")
    public static let listenerMode = ConfigKey(
        section: .listener, name: "mode", kind: .choice(supported: ListenerMode.allCases.map(\.rawValue), notYetSupported: []),
        defaultValue: nil,
        doc: "How connections are relayed: \"tcp\" relays bytes unchanged to one server of the backend; \"mux\" makes each client a session "
            + "whose frames travel over the backend's persistent connections (docs/protocol.md); needs a framing other than \"none\". "
            + "On mux sessions the idle and frame timeouts, max_frame, max_send_buffer and the hard rates apply; soft rates are refused (not supported there yet).")
    public static let listenerBackend = ConfigKey(
        section: .listener, name: "backend", kind: .reference(.backend), defaultValue: nil,
        doc: "The name of the [[backend]] this listener relays to.")
    public static let listenerBacklog = ConfigKey(
        section: .listener, name: "backlog", kind: .integer(1...65535), defaultValue: .integer(1024),
        doc: "Length of the queue of connections not yet accepted, for listen(2); the kernel caps it at net.core.somaxconn.")
    public static let listenerFraming = ConfigKey(
        section: .listener, name: "framing", kind: .choice(supported: Framing.allCases.map(\.rawValue), notYetSupported: []),
        defaultValue: .string("none"),
        doc: "Where one frame ends, for the frame limits (max_frame, frame_timeout, packet_rate_*): \"none\" (a byte stream: only byte limits apply), "
            + "\"u16be\" or \"u32be\" (a 2- or 4-byte big-endian payload length, then the payload), \"line\" (ended by \"\\n\"). Bytes are relayed unchanged either way. "
            + "A frame limit other than 0 written in a listener with framing \"none\" is an error, as it would do nothing.")
    public static let listenerMaxConnections = ConfigKey(
        section: .listener, name: "max_connections", kind: .integer(0...16_777_216), defaultValue: .integer(0),
        doc: "Client connections of this listener; past it new ones are refused at accept. 0: unlimited (only [guard].max_connections applies).")
    public static let listenerBackendConnect = ConfigKey(
        section: .listener, name: "backend_connect", kind: .choice(supported: BackendConnect.allCases.map(\.rawValue), notYetSupported: []),
        defaultValue: .string("accept"),
        doc: "Mode \"tcp\": when the backend connection of a new client is made. \"accept\": at once, as HAProxy and nginx do (a server that speaks first, like SMTP, "
            + "needs this). \"first_data\": once the client's first bytes have passed the frame and rate limits; a client that sends nothing, or breaks a limit "
            + "with its first bytes, never costs a backend connection (like HAProxy's tcp-request inspect-delay). Mux sessions are opened at accept; "
            + "\"first_data\" is an error there.")

    /// `[[listener]]` keys overriding `[guard]`'s per-connection limits and TCP options.
    public static let listenerOverrides: [ConfigKey] = (guardConnectionKeys + guardTCPKeys).map { $0.listenerOverride() }

    // MARK: [[backend]]

    public static let backendName = ConfigKey(
        section: .backend, name: "name", kind: .name, defaultValue: nil,
        doc: "Unique among backends; listeners refer to it.")
    public static let backendServers = ConfigKey(
        section: .backend, name: "servers", kind: .serverAddresses, defaultValue: nil,
        doc: "The backend's servers with ports, as IP literals or host names, like [\"10.0.0.1:7001\", \"[fd00::1]:7001\", \"chat.internal:7001\"]. A host name is looked up asynchronously (getaddrinfo: /etc/hosts, then DNS), and the server uses the first address of the answer; until a name resolves, its server is down.")
    public static let backendResolveInterval = ConfigKey(
        section: .backend, name: "resolve_interval", kind: .duration(.seconds(1)...Duration.seconds(86400)), defaultValue: .string("30s"),
        doc: "How often host names in servers are looked up again. A lookup that fails keeps the last good address (and is retried sooner, from 1s doubling up to this interval); new connections follow a changed address, open ones stay.")
    public static let backendConnectTimeout = ConfigKey(
        section: .backend, name: "connect_timeout", kind: .duration(.milliseconds(1)...Duration.seconds(3600)),
        defaultValue: .string("3s"),
        doc: "How long a connection to a server may take before it counts as failed.")
    public static let backendConnections = ConfigKey(
        section: .backend, name: "connections", kind: .integer(1...1024), defaultValue: .integer(4),
        doc: "Mux listeners: persistent connections to each server, connected asynchronously at start and kept up by the reconnect strategy.")
    public static let backendPickTries = ConfigKey(
        section: .backend, name: "pick_tries", kind: .integer(1...64), defaultValue: .integer(3),
        doc: "Mux listeners: random picks for a live connection before scanning all of them, for a new session.")
    public static let backendHeartbeat = ConfigKey(
        section: .backend, name: "heartbeat", kind: .duration(.milliseconds(100)...Duration.seconds(3600)), defaultValue: .string("5s"),
        doc: "Mux listeners: PING after this long without sending; a connection silent for 3 times this long is dead.")
    public static let backendReconnectMin = ConfigKey(
        section: .backend, name: "reconnect_min", kind: .duration(.milliseconds(1)...Duration.seconds(3600)), defaultValue: .string("100ms"),
        doc: "Mux listeners: the first back-off after a failed connect; it doubles with each failure (with jitter) up to reconnect_max.")
    public static let backendReconnectMax = ConfigKey(
        section: .backend, name: "reconnect_max", kind: .duration(.milliseconds(1)...Duration.seconds(3600)), defaultValue: .string("10s"),
        doc: "Mux listeners: the longest back-off between connect attempts to a server.")
    public static let backendGrace = ConfigKey(
        section: .backend, name: "backend_grace", kind: .duration(.zero...Duration.seconds(3600)), defaultValue: .string("10s"),
        doc: "Mux listeners: how long a session may stay without a live backend connection before its client is closed.")

    // MARK: [[stats]]

    public static let statsSocket = ConfigKey(
        section: .stats, name: "socket", kind: .unixSocketPath, defaultValue: nil,
        doc: "Path of the socket file; unique among stats sockets. As a service, put it under /run/bulwark "
            + "(RuntimeDirectory=bulwark in the unit), like \"/run/bulwark/admin.sock\".")
    public static let statsMode = ConfigKey(
        section: .stats, name: "mode", kind: .fileMode, defaultValue: .string("0600"),
        doc: "Permission bits of the socket file, in octal: \"0600\" (the owner only), \"0660\" (also the group). "
            + "Connecting needs write permission. A \"0o\" prefix and integers are refused.")
    public static let statsUser = ConfigKey(
        section: .stats, name: "user", kind: .owner, presence: .optional(absentText: "Bulwark's user"),
        doc: "Owner of the socket file: a user name, or a numeric uid as a string. Left out: the user Bulwark runs as.")
    public static let statsGroup = ConfigKey(
        section: .stats, name: "group", kind: .owner, presence: .optional(absentText: "Bulwark's group"),
        doc: "Group of the socket file: a group name, or a numeric gid as a string. Left out: Bulwark's group.")
    public static let statsLevel = ConfigKey(
        section: .stats, name: "level", kind: .choice(supported: StatsLevel.allCases.map(\.rawValue), notYetSupported: []),
        defaultValue: .string("user"),
        doc: "What clients of this socket may do: \"user\" reads only; \"operator\" also enables and disables listeners "
            + "and kicks connections; \"admin\" also changes limits, reloads and upgrades.")
    public static let statsMaxClients = ConfigKey(
        section: .stats, name: "max_clients", kind: .integer(1...1024), defaultValue: .integer(16),
        doc: "Clients connected at once on this socket; past it new ones are closed at once.")
    public static let statsIdleTimeout = ConfigKey(
        section: .stats, name: "idle_timeout", kind: .duration(.seconds(1)...Duration.seconds(86_400)),
        defaultValue: .string("30s"),
        doc: "A client that sends and reads nothing for this long is closed (checked every second), so idle clients cannot hold every slot.")
    public static let statsMetricsBind = ConfigKey(
        section: .stats, name: "metrics_bind", kind: .listenAddress, presence: .optional(absentText: "off"),
        doc: "Also serve GET /metrics (Prometheus text format) over HTTP on this TCP address, like \"127.0.0.1:9145\"; "
            + "its clients count against this entry's max_clients and idle_timeout. Anyone who can connect reads the counters: bind to loopback or firewall it.")

    /// Every key, in reference order.
    public static let all: [ConfigKey] =
        [workers, highWater, nodeID, drainTimeout, startTimeout, upgradeProbation, user, group, logLevel]
        + [
            guardMaxFiles, guardMaxConnections, guardSampleInterval,
            guardMaxLoad, guardLoadClear, guardMaxMemoryUsedPercent, guardMemoryUsedClearPercent,
            guardMinMemoryAvailable, guardMemoryAvailableClear, guardMaxSwapUsedPercent, guardSwapUsedClearPercent,
            guardMaxConnectionsPerIP, guardPerIPPrefixV4, guardPerIPPrefixV6, guardPerIPTableSize,
            guardAllow, guardDeny, guardDryRun, guardMeminfoPath, guardLoadavgPath,
        ]
        + guardConnectionKeys + guardTCPKeys
        + [listenerName, listenerBind, listenerMode, listenerBackend, listenerBacklog, listenerFraming, listenerMaxConnections, listenerBackendConnect]
        + listenerOverrides
        + [backendName, backendServers, backendResolveInterval, backendConnectTimeout, backendConnections, backendPickTries, backendHeartbeat,
           backendReconnectMin, backendReconnectMax, backendGrace]
        + [statsSocket, statsMode, statsUser, statsGroup, statsLevel, statsMaxClients, statsIdleTimeout, statsMetricsBind]

    public static func keys(in section: ConfigSection) -> [ConfigKey] {
        all.filter { $0.section == section }
    }

    public static func key(named name: String, in section: ConfigSection) -> ConfigKey? {
        all.first { $0.section == section && $0.name == name }
    }
}
