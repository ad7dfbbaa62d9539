// Walks the parsed TOML: sorts the top-level tables into sections, reads each, runs the checks
// that span sections, and builds the model only when nothing at all was wrong. Every problem is
// collected; none stops the others from being found.
import SysGuard

struct ConfigValidator {
    let file: String
    private(set) var issues: [ConfigIssue] = []

    init(file: String) {
        self.file = file
    }

    mutating func report(line: Int, key: String, _ message: String) {
        issues.append(ConfigIssue(file: file, line: line, key: key, message: message))
    }

    /// Issues by line; issues on the same line keep the order they were found in.
    var sortedIssues: [ConfigIssue] {
        issues.enumerated()
            .sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }
            .map(\.element)
    }

    mutating func validate(_ root: TOMLTable) -> GatewayConfig? {
        let tables = sortSections(root)
        let server = read(.server, from: tables[.server]?.first ?? TOMLTable(line: 0), prefix: "server")
        let log = read(.log, from: tables[.log]?.first ?? TOMLTable(line: 0), prefix: "log")
        let guardValues = read(.guard, from: tables[.guard]?.first ?? TOMLTable(line: 0), prefix: ConfigSection.guard.rawValue)
        let listeners = (tables[.listener] ?? []).enumerated().map { index, table in
            read(.listener, from: table, prefix: "listener[\(index)]")
        }
        let backends = (tables[.backend] ?? []).enumerated().map { index, table in
            read(.backend, from: table, prefix: "backend[\(index)]")
        }
        let stats = (tables[.stats] ?? []).enumerated().map { index, table in
            read(.stats, from: table, prefix: "stats[\(index)]")
        }

        if listeners.isEmpty && root[ConfigSection.listener.rawValue] == nil {
            report(line: 1, key: ConfigSection.listener.rawValue, "no [[listener]] is defined; at least one is required")
        }
        checkUnique(listeners, key: ConfigKeys.listenerName, noun: "listener name")
        checkUnique(backends, key: ConfigKeys.backendName, noun: "backend name")
        checkUnique(stats, key: ConfigKeys.statsSocket, noun: "stats socket path", normalize: Self.normalizedPath)
        checkBindAddresses(listeners.map { ($0, ConfigKeys.listenerBind, "listener") }
                           + stats.map { ($0, ConfigKeys.statsMetricsBind, "stats metrics_bind") })
        checkBackendReferences(listeners: listeners, backends: backends)
        checkMuxFraming(listeners)
        checkMuxBackendConnect(listeners)
        let guardModel = guardConfig(guardValues)
        let listenerSettings = listeners.map { listenerGuardSettings($0, guard: guardValues) }
        checkFileBudget(guard: guardValues, listeners: listeners, backends: backends, stats: stats)

        guard issues.isEmpty,
              let serverConfig = ServerConfig(server),
              let logConfig = LogConfig(log),
              let guardModel else { return nil }
        let listenerConfigs = zip(listeners, listenerSettings).compactMap { values, settings in
            ListenerConfig(values, guardSettings: settings)
        }
        let backendConfigs = backends.compactMap(BackendConfig.init)
        let statsConfigs = stats.compactMap(StatsSocketConfig.init)
        guard listenerConfigs.count == listeners.count, backendConfigs.count == backends.count,
              statsConfigs.count == stats.count else { return nil }
        return GatewayConfig(file: file, server: serverConfig, log: logConfig, guardConfig: guardModel,
                             listeners: listenerConfigs, backends: backendConfigs, stats: statsConfigs)
    }

    /// Top-level entries must be the known sections, in the right shape.
    private mutating func sortSections(_ root: TOMLTable) -> [ConfigSection: [TOMLTable]] {
        var tables: [ConfigSection: [TOMLTable]] = [:]
        let knownTables = ConfigSection.allCases.map(\.header).joined(separator: ", ")
        for entry in root.entries {
            guard let section = ConfigSection(rawValue: entry.key) else {
                switch entry.node.value {
                case .table:
                    report(line: entry.line, key: entry.key, "unknown table [\(TOMLText.key(entry.key))]; known tables: \(knownTables)")
                case .tableArray:
                    report(line: entry.line, key: entry.key, "unknown table [[\(TOMLText.key(entry.key))]]; known tables: \(knownTables)")
                default:
                    report(line: entry.line, key: entry.key, "unknown top-level key; keys belong in a table: \(knownTables)")
                }
                continue
            }
            switch (section.isArrayOfTables, entry.node.value) {
            case (false, .table(let table)):
                tables[section] = [table]
            case (true, .tableArray(let list)):
                tables[section] = list
            case (true, .table(let table)) where section == .stats:
                tables[section] = [table]
            case (false, _):
                report(line: entry.line, key: entry.key, "must be a table: write \(section.header) on a line of its own, then its keys")
            case (true, _):
                report(line: entry.line, key: entry.key, "must be an array of tables: write \(section.header) before each entry")
            }
        }
        return tables
    }
}
