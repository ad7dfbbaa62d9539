// The validated configuration. Defaults come from the key table in ConfigKeys.swift; the
// `defaults` values below are produced by running an empty section through the same reader.
import SysGuard

public struct GatewayConfig: Sendable, Equatable {
    /// The file name the config was read from, as given to the parser (used in messages).
    public var file: String
    public var server: ServerConfig
    public var log: LogConfig
    /// `[guard]` (`guard` is a Swift keyword).
    public var guardConfig: GuardConfig
    public var listeners: [ListenerConfig]
    public var backends: [BackendConfig]
    /// `[[stats]]`: the control sockets, in file order; maybe none.
    public var stats: [StatsSocketConfig]

    public init(file: String, server: ServerConfig, log: LogConfig, guardConfig: GuardConfig = GuardConfig.defaults,
                listeners: [ListenerConfig], backends: [BackendConfig], stats: [StatsSocketConfig] = []) {
        self.file = file
        self.server = server
        self.log = log
        self.guardConfig = guardConfig
        self.listeners = listeners
        self.backends = backends
        self.stats = stats
    }

    public func backend(named name: String) -> BackendConfig? {
        backends.first { $0.name == name }
    }

    public func listener(named name: String) -> ListenerConfig? {
        listeners.first { $0.name == name }
    }
}

public struct ServerConfig: Sendable, Equatable {
    /// Worker threads; nil means one per CPU (`workers = "auto"`).
    public var workers: Int?
    /// Per-direction relay queue high-water mark: above it the other side stops being read.
    public var highWaterBytes: Int
    /// How long a draining worker keeps serving open connections before closing them.
    public var drainTimeout: Duration
    /// How long a new worker has to be ready before the master kills it.
    public var startTimeout: Duration
    /// How long an upgrade's worker must stay up, standby, before it takes over.
    public var upgradeProbation: Duration
    /// The top 16 bits of every mux session id.
    public var nodeID: Int
    /// The worker's user and group (names or numeric ids); nil: as started.
    public var user: String?
    public var group: String?

    public init(workers: Int?, highWaterBytes: Int, drainTimeout: Duration = .seconds(30), startTimeout: Duration = .seconds(30),
                upgradeProbation: Duration = .seconds(3), nodeID: Int = 0, user: String? = nil, group: String? = nil) {
        self.workers = workers
        self.highWaterBytes = highWaterBytes
        self.drainTimeout = drainTimeout
        self.startTimeout = startTimeout
        self.upgradeProbation = upgradeProbation
        self.nodeID = nodeID
        self.user = user
        self.group = group
    }

    /// `[server]` with every key left out.
    public static let defaults: ServerConfig = ConfigDefaults.server
}

public enum LogLevel: String, Sendable, Equatable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

public struct LogConfig: Sendable, Equatable {
    public var level: LogLevel

    public init(level: LogLevel) {
        self.level = level
    }

    /// `[log]` with every key left out.
    public static let defaults: LogConfig = ConfigDefaults.log
}

/// When a `mode = "tcp"` listener connects to its backend for a new client.
public enum BackendConnect: String, Sendable, Equatable, CaseIterable {
    /// At once, as HAProxy and nginx do: a server that speaks first is heard at once.
    case accept
    /// Once the client's first bytes have passed SysGuard's frame and rate checks: a client
    /// that sends nothing or breaks a limit at once never costs a backend connection.
    case firstData = "first_data"
}

public enum ListenerMode: String, Sendable, Equatable, CaseIterable {
    /// Bytes relayed unchanged between a client and one backend server.
    case tcp
    /// Each client is a session; its frames share the backend's persistent connections.
    case mux
}

public struct ListenerConfig: Sendable, Equatable {
    public var name: String
    /// May have port 0 (the kernel picks a free port; tests use it).
    public var bind: EndpointAddress
    public var mode: ListenerMode
    /// Name of a `[[backend]]`; validation guarantees it exists.
    public var backend: String
    /// Listen queue length for listen(2), 1...65535.
    public var backlog: Int
    /// Where one frame ends, for the frame limits (`.none`: a byte stream).
    public var framing: Framing
    /// Client connections of this listener; 0: unlimited.
    public var maxConnections: Int
    /// When a tcp listener connects to the backend for a new client.
    public var backendConnect: BackendConnect
    /// `[guard]`'s per-connection limits with this listener's overrides applied.
    public var limits: ConnectionLimits
    /// `[guard]`'s TCP options with this listener's overrides applied.
    public var tcp: TCPOptions
    /// Line of the `[[listener]]` header, for messages at run time.
    public var line: Int

    public init(
        name: String, bind: EndpointAddress, mode: ListenerMode, backend: String,
        backlog: Int = ListenerConfig.defaultBacklog, framing: Framing = .stream, maxConnections: Int = 0,
        backendConnect: BackendConnect = .accept, limits: ConnectionLimits = GuardConfig.defaults.connection, tcp: TCPOptions = GuardConfig.defaults.tcp,
        line: Int = 0
    ) {
        self.name = name
        self.bind = bind
        self.mode = mode
        self.backend = backend
        self.backlog = backlog
        self.framing = framing
        self.maxConnections = maxConnections
        self.backendConnect = backendConnect
        self.limits = limits
        self.tcp = tcp
        self.line = line
    }

    public static let defaultBacklog: Int = ConfigDefaults.backlog
}

public struct BackendConfig: Sendable, Equatable {
    public var name: String
    /// At least one; every port is 1...65535. A host name is looked up at run time.
    public var servers: [ServerEndpoint]
    public var connectTimeout: Duration
    /// How often host names among `servers` are looked up again.
    public var resolveInterval: Duration
    /// The mux pool (used when a mux listener names this backend).
    public var pool: MuxPoolConfig
    /// Line of the `[[backend]]` header, for messages at run time.
    public var line: Int
    /// Line of its `servers` key (the header's when not given).
    public var serversLine: Int

    public init(
        name: String, servers: [ServerEndpoint],
        connectTimeout: Duration = BackendConfig.defaultConnectTimeout, resolveInterval: Duration = .seconds(30),
        pool: MuxPoolConfig = MuxPoolConfig(), line: Int = 0, serversLine: Int? = nil
    ) {
        self.name = name
        self.servers = servers
        self.serversLine = serversLine ?? line
        self.connectTimeout = connectTimeout
        self.resolveInterval = resolveInterval
        self.pool = pool
        self.line = line
    }

    /// Servers given as IP literals only.
    public init(
        name: String, servers: [EndpointAddress],
        connectTimeout: Duration = BackendConfig.defaultConnectTimeout, pool: MuxPoolConfig = MuxPoolConfig(), line: Int = 0,
        serversLine: Int? = nil
    ) {
        self.init(name: name, servers: servers.map(ServerEndpoint.init), connectTimeout: connectTimeout, pool: pool, line: line,
                  serversLine: serversLine)
    }

    public static let defaultConnectTimeout: Duration = ConfigDefaults.connectTimeout

    /// Servers given by host name.
    public var hostNameServers: [ServerEndpoint] { servers.filter(\.isHostName) }
}

/// How a mux listener's backend keeps its persistent connections (docs/protocol.md).
public struct MuxPoolConfig: Sendable, Equatable {
    /// Persistent connections per server.
    public var connections: Int
    /// Random picks for a live connection before a full scan.
    public var pickTries: Int
    public var heartbeat: Duration
    public var reconnectMin: Duration
    public var reconnectMax: Duration
    /// How long a session may go without a live connection before its client is closed.
    public var backendGrace: Duration

    public init(connections: Int = 4, pickTries: Int = 3, heartbeat: Duration = .seconds(5),
                reconnectMin: Duration = .milliseconds(100), reconnectMax: Duration = .seconds(10),
                backendGrace: Duration = .seconds(10)) {
        self.connections = connections
        self.pickTries = pickTries
        self.heartbeat = heartbeat
        self.reconnectMin = reconnectMin
        self.reconnectMax = reconnectMax
        self.backendGrace = backendGrace
    }
}
