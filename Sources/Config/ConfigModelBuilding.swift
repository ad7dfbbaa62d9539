// From read section values to the public model, and the model's defaults, which are the key
// table's defaults run through the same reader.
import SysGuard

extension ServerConfig {
    init?(_ values: SectionValues) {
        let workers: Int?
        switch values.value(ConfigKeys.workers) {
        case .auto?: workers = nil
        case .integer(let count)?: workers = count
        default: return nil
        }
        guard let highWaterBytes = values.integer(ConfigKeys.highWater),
              let drainTimeout = values.duration(ConfigKeys.drainTimeout),
              let startTimeout = values.duration(ConfigKeys.startTimeout),
              let upgradeProbation = values.duration(ConfigKeys.upgradeProbation),
              let nodeID = values.integer(ConfigKeys.nodeID) else { return nil }
        self.init(workers: workers, highWaterBytes: highWaterBytes, drainTimeout: drainTimeout, startTimeout: startTimeout,
                  upgradeProbation: upgradeProbation, nodeID: nodeID,
                  user: values.text(ConfigKeys.user), group: values.text(ConfigKeys.group))
    }
}

extension LogConfig {
    init?(_ values: SectionValues) {
        guard let name = values.text(ConfigKeys.logLevel), let level = LogLevel(rawValue: name) else { return nil }
        self.init(level: level)
    }
}

extension ListenerConfig {
    /// `guardSettings`: [guard]'s limits and TCP options with this listener's overrides applied.
    init?(_ values: SectionValues, guardSettings: (limits: ConnectionLimits, tcp: TCPOptions)?) {
        guard let name = values.text(ConfigKeys.listenerName),
              let bind = values.address(ConfigKeys.listenerBind),
              let modeName = values.text(ConfigKeys.listenerMode),
              let mode = ListenerMode(rawValue: modeName),
              let backend = values.text(ConfigKeys.listenerBackend),
              let backlog = values.integer(ConfigKeys.listenerBacklog),
              let framingName = values.text(ConfigKeys.listenerFraming),
              let framing = Framing(rawValue: framingName),
              let maxConnections = values.integer(ConfigKeys.listenerMaxConnections),
              let backendConnectName = values.text(ConfigKeys.listenerBackendConnect),
              let backendConnect = BackendConnect(rawValue: backendConnectName),
              let guardSettings else { return nil }
        self.init(name: name, bind: bind, mode: mode, backend: backend, backlog: backlog, framing: framing,
                  maxConnections: maxConnections, backendConnect: backendConnect, limits: guardSettings.limits, tcp: guardSettings.tcp,
                  line: values.table.line)
    }
}

extension BackendConfig {
    init?(_ values: SectionValues) {
        guard let name = values.text(ConfigKeys.backendName),
              let servers = values.servers(ConfigKeys.backendServers),
              let resolveInterval = values.duration(ConfigKeys.backendResolveInterval),
              let connectTimeout = values.duration(ConfigKeys.backendConnectTimeout),
              let connections = values.integer(ConfigKeys.backendConnections),
              let pickTries = values.integer(ConfigKeys.backendPickTries),
              let heartbeat = values.duration(ConfigKeys.backendHeartbeat),
              let reconnectMin = values.duration(ConfigKeys.backendReconnectMin),
              let reconnectMax = values.duration(ConfigKeys.backendReconnectMax),
              let backendGrace = values.duration(ConfigKeys.backendGrace) else { return nil }
        let pool = MuxPoolConfig(connections: connections, pickTries: pickTries, heartbeat: heartbeat, reconnectMin: reconnectMin,
                                 reconnectMax: max(reconnectMin, reconnectMax), backendGrace: backendGrace)
        self.init(name: name, servers: servers, connectTimeout: connectTimeout, resolveInterval: resolveInterval, pool: pool,
                  line: values.table.line, serversLine: values.values[ConfigKeys.backendServers.name]?.line)
    }
}

extension StatsSocketConfig {
    init?(_ values: SectionValues) {
        guard let path = values.text(ConfigKeys.statsSocket),
              let mode = values.integer(ConfigKeys.statsMode),
              let levelName = values.text(ConfigKeys.statsLevel),
              let level = StatsLevel(rawValue: levelName),
              let maxClients = values.integer(ConfigKeys.statsMaxClients),
              let idleTimeout = values.duration(ConfigKeys.statsIdleTimeout) else { return nil }
        self.init(path: path, mode: UInt32(mode), user: values.text(ConfigKeys.statsUser),
                  group: values.text(ConfigKeys.statsGroup), level: level, maxClients: maxClients,
                  idleTimeout: idleTimeout, metricsBind: values.address(ConfigKeys.statsMetricsBind), line: values.table.line)
    }
}

/// Defaults derived from ConfigKeys. A failure here is a broken key table (a programming
/// error caught by the tests), never bad user input.
enum ConfigDefaults {
    static let server: ServerConfig = {
        guard let config = ServerConfig(readEmpty(.server)) else { preconditionFailure("ConfigKeys: [server] defaults do not decode") }
        return config
    }()

    static let log: LogConfig = {
        guard let config = LogConfig(readEmpty(.log)) else { preconditionFailure("ConfigKeys: [log] defaults do not decode") }
        return config
    }()

    static let guardConfig: GuardConfig = {
        var validator = ConfigValidator(file: "<defaults>")
        let values = validator.read(.guard, from: TOMLTable(line: 0), prefix: ConfigSection.guard.rawValue)
        guard let config = validator.guardConfig(values), validator.issues.isEmpty else {
            preconditionFailure("ConfigKeys: [guard] defaults do not decode: \(validator.issues)")
        }
        return config
    }()

    static let backlog: Int = {
        guard let backlog = readEmpty(.listener).integer(ConfigKeys.listenerBacklog) else {
            preconditionFailure("ConfigKeys: the listener backlog default does not decode")
        }
        return backlog
    }()

    static let connectTimeout: Duration = {
        guard let timeout = readEmpty(.backend).duration(ConfigKeys.backendConnectTimeout) else {
            preconditionFailure("ConfigKeys: the backend connect_timeout default does not decode")
        }
        return timeout
    }()

    static let stats: (mode: UInt32, level: StatsLevel, maxClients: Int, idleTimeout: Duration) = {
        let values = readEmpty(.stats)
        guard let mode = values.integer(ConfigKeys.statsMode),
              let level = values.text(ConfigKeys.statsLevel).flatMap(StatsLevel.init(rawValue:)),
              let maxClients = values.integer(ConfigKeys.statsMaxClients),
              let idleTimeout = values.duration(ConfigKeys.statsIdleTimeout) else {
            preconditionFailure("ConfigKeys: the [[stats]] defaults do not decode")
        }
        return (UInt32(mode), level, maxClients, idleTimeout)
    }()

    /// A section with every key left out: required keys are missing, the rest take defaults.
    private static func readEmpty(_ section: ConfigSection) -> SectionValues {
        var validator = ConfigValidator(file: "<defaults>")
        return validator.read(section, from: TOMLTable(line: 0), prefix: section.rawValue)
    }
}
