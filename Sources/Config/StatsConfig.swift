// `[[stats]]`: the operator's control sockets (Unix stream sockets), like HAProxy's stats socket.
// The config only checks and stores; creating the socket, chown/chmod and resolving user and
// group names happen at run time.

/// What the clients of one stats socket may do. Ordered by privilege: each level may do what
/// the levels below it may (`level >= .operator` asks "may this client kick connections?").
public enum StatsLevel: String, Sendable, Equatable, CaseIterable, Comparable {
    /// Reads counters and state only.
    case user
    /// Also enables and disables listeners and kicks connections.
    case `operator`
    /// Also changes limits, reloads and upgrades.
    case admin

    public static func < (lhs: StatsLevel, rhs: StatsLevel) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .user: return 0
        case .operator: return 1
        case .admin: return 2
        }
    }
}

/// One `[[stats]]` socket.
public struct StatsSocketConfig: Sendable, Equatable {
    /// Absolute path of the socket file, at most `maxPathBytes` bytes, unique among stats sockets.
    public var path: String
    /// Permission bits of the socket file, 0...0o777.
    public var mode: UInt32
    /// Owner of the socket file as written: a user name or a numeric uid ("1000"); nil: left as
    /// created (the user Bulwark runs as). Resolved at run time.
    public var user: String?
    /// Group of the socket file as written: a group name or a numeric gid; nil: left as created.
    public var group: String?
    public var level: StatsLevel
    /// Clients connected at once, 1...1024; past it new ones are closed at once.
    public var maxClients: Int
    /// A client silent (sending and reading nothing) this long is closed.
    public var idleTimeout: Duration
    /// Where GET /metrics is served over HTTP; nil: not served.
    public var metricsBind: EndpointAddress?
    /// Line of the `[[stats]]` header, for messages at run time.
    public var line: Int

    public init(
        path: String, mode: UInt32 = StatsSocketConfig.defaultMode, user: String? = nil, group: String? = nil,
        level: StatsLevel = StatsSocketConfig.defaultLevel, maxClients: Int = StatsSocketConfig.defaultMaxClients,
        idleTimeout: Duration = StatsSocketConfig.defaultIdleTimeout, metricsBind: EndpointAddress? = nil, line: Int = 0
    ) {
        self.idleTimeout = idleTimeout
        self.metricsBind = metricsBind
        self.path = path
        self.mode = mode
        self.user = user
        self.group = group
        self.level = level
        self.maxClients = maxClients
        self.line = line
    }

    /// sockaddr_un's sun_path holds 108 bytes, the path and its NUL.
    public static let maxPathBytes = 107

    public static let defaultMode: UInt32 = ConfigDefaults.stats.mode
    public static let defaultLevel: StatsLevel = ConfigDefaults.stats.level
    public static let defaultMaxClients: Int = ConfigDefaults.stats.maxClients
    public static let defaultIdleTimeout: Duration = ConfigDefaults.stats.idleTimeout
}

/// `mode` values: 3 or 4 octal digits in a string ("0600", "660"), at most "0777". No "0o"
/// prefix and no integers, so that there is one way to write a mode and 600 is never read as
/// decimal.
enum FileModes {
    static func parse(_ text: String) -> Result<UInt32, EndpointParseError> {
        let bytes = Array(text.utf8)
        if bytes.count > 2, bytes[0] == UInt8(ascii: "0"), (bytes[1] | 0x20) == UInt8(ascii: "o") {
            return .failure(EndpointParseError(
                "invalid mode \(TOMLText.quoted(text)); write the octal digits without a prefix, like \"0600\""))
        }
        guard (3...4).contains(bytes.count), bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) else {
            return .failure(EndpointParseError(
                "invalid mode \(TOMLText.quoted(text)); use 3 or 4 octal digits (0-7), like \"0600\" or \"0660\""))
        }
        let mode = bytes.reduce(UInt32(0)) { $0 * 8 + UInt32($1 - UInt8(ascii: "0")) }
        guard mode <= 0o777 else {
            return .failure(EndpointParseError(
                "mode \(TOMLText.quoted(text)) sets setuid, setgid or sticky bits; use at most \"0777\""))
        }
        return .success(mode)
    }

    /// `0o600` as "0600".
    static func format(_ mode: Int) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// `user` and `group` values: a name (letters, digits, "_", "." and "-", not starting with "-",
/// maybe ending in "$") or a numeric id below 2^32 − 1 ((uid_t)-1 means "unchanged" to chown).
enum OwnerNames {
    static func check(_ text: String, noun: String) -> EndpointParseError? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return EndpointParseError("must not be empty") }
        if bytes.allSatisfy(ASCII.isDecimalDigit) {
            guard let id = UInt32(text), id < UInt32.max else {
                return EndpointParseError("\(noun) id \(text) is out of range; ids are 0...\(UInt32.max - 1)")
            }
            return nil
        }
        let body = bytes.last == UInt8(ascii: "$") ? bytes.dropLast() : bytes[...]
        guard let first = body.first, first != UInt8(ascii: "-"), body.allSatisfy(ConfigValueKind.isNameByte) else {
            return EndpointParseError(
                "invalid \(noun) \(TOMLText.quoted(text)); use a name of letters, digits, \"_\", \".\" and \"-\", or a numeric id like \"1000\"")
        }
        return nil
    }
}
