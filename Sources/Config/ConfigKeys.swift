// THE table of config keys. The unknown-key check, the required-key check, the defaults and
// docs/config.md (ConfigReference.markdown()) all come from here: add a key here first.

public enum ConfigSection: String, Sendable, Equatable, CaseIterable {
    case server, log, listener, backend

    /// `[[listener]]` and `[[backend]]` may appear many times; `[server]` and `[log]` once.
    public var isArrayOfTables: Bool {
        switch self {
        case .server, .log: return false
        case .listener, .backend: return true
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
        case .listener: return "A listening socket and where its connections go. At least one is required."
        case .backend: return "A named group of backend servers that listeners relay to."
        }
    }
}

public struct ConfigKey: Sendable, Equatable {
    public var section: ConfigSection
    public var name: String
    public var kind: ConfigValueKind
    /// nil: the key is required.
    public var defaultValue: TOMLValue?
    /// One line for the reference.
    public var doc: String

    public init(section: ConfigSection, name: String, kind: ConfigValueKind, defaultValue: TOMLValue?, doc: String) {
        self.section = section
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.doc = doc
    }

    public var isRequired: Bool { defaultValue == nil }
    /// The type as shown in the reference.
    public var typeText: String { kind.typeText }
    /// The default as TOML text (`"auto"`, `1024`), or `required`.
    public var defaultText: String { defaultValue?.tomlText ?? "required" }
}

public enum ConfigKeys {
    public static let workers = ConfigKey(
        section: .server, name: "workers", kind: .integerOrAuto(1...1024), defaultValue: .string("auto"),
        doc: "Worker threads sharing one epoll; \"auto\" starts one per CPU.")
    public static let highWater = ConfigKey(
        section: .server, name: "high_water", kind: .byteSize(1...(1 << 30)), defaultValue: .string("256KiB"),
        doc: "Per-direction relay queue high-water mark: above it the other side stops being read.")
    public static let logLevel = ConfigKey(
        section: .log, name: "level", kind: .choice(supported: LogLevel.allCases.map(\.rawValue), notYetSupported: []),
        defaultValue: .string("info"),
        doc: "The least severe level that is logged.")
    public static let listenerName = ConfigKey(
        section: .listener, name: "name", kind: .name, defaultValue: nil,
        doc: "Unique among listeners; used in logs and on the stats socket.")
    public static let listenerBind = ConfigKey(
        section: .listener, name: "bind", kind: .listenAddress, defaultValue: nil,
        doc: "Address to listen on: \"127.0.0.1:7000\", \"[::1]:7000\", or \"*:7000\" for every IPv4 address; port 0 lets the kernel pick one.")
    public static let listenerMode = ConfigKey(
        section: .listener, name: "mode", kind: .choice(supported: ListenerMode.allCases.map(\.rawValue), notYetSupported: ["mux"]),
        defaultValue: nil,
        doc: "How connections are relayed: \"tcp\" relays bytes unchanged to one server of the backend.")
    public static let listenerBackend = ConfigKey(
        section: .listener, name: "backend", kind: .reference(.backend), defaultValue: nil,
        doc: "The name of the [[backend]] this listener relays to.")
    public static let listenerBacklog = ConfigKey(
        section: .listener, name: "backlog", kind: .integer(1...65535), defaultValue: .integer(1024),
        doc: "Length of the queue of connections not yet accepted, for listen(2); the kernel caps it at net.core.somaxconn.")
    public static let backendName = ConfigKey(
        section: .backend, name: "name", kind: .name, defaultValue: nil,
        doc: "Unique among backends; listeners refer to it.")
    public static let backendServers = ConfigKey(
        section: .backend, name: "servers", kind: .serverAddresses, defaultValue: nil,
        doc: "The backend's servers as IP literals with ports, like [\"10.0.0.1:7001\", \"[fd00::1]:7001\"].")
    public static let backendConnectTimeout = ConfigKey(
        section: .backend, name: "connect_timeout", kind: .duration(.milliseconds(1)...Duration.seconds(3600)),
        defaultValue: .string("3s"),
        doc: "How long a connection to a server may take before it counts as failed.")

    /// Every key, in reference order.
    public static let all: [ConfigKey] = [
        workers, highWater,
        logLevel,
        listenerName, listenerBind, listenerMode, listenerBackend, listenerBacklog,
        backendName, backendServers, backendConnectTimeout,
    ]

    public static func keys(in section: ConfigSection) -> [ConfigKey] {
        all.filter { $0.section == section }
    }

    public static func key(named name: String, in section: ConfigSection) -> ConfigKey? {
        all.first { $0.section == section && $0.name == name }
    }
}
