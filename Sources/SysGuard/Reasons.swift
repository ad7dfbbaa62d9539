/// Why a new connection was refused. The order is the stats socket's field order: it is stable,
/// and new reasons go at the end.
public enum RefusalReason: String, CaseIterable, Sendable {
    case denyList = "deny_list"
    case maxConnections = "max_connections"
    case listenerMaxConnections = "listener_max_connections"
    case perIP = "per_ip"
    case load
    /// Memory used % above its mark.
    case memory
    case swap
    /// MemAvailable below its mark.
    case memoryAvailable = "memory_available"
    /// The per-IP table tracks `capacity` addresses already (size it >= max_connections).
    case perIPTableFull = "per_ip_table_full"
}

extension RefusalReason {
    /// The position in `allCases`, without building that array on the accept path.
    var bitPosition: Int {
        switch self {
        case .denyList: 0
        case .maxConnections: 1
        case .listenerMaxConnections: 2
        case .perIP: 3
        case .load: 4
        case .memory: 5
        case .swap: 6
        case .memoryAvailable: 7
        case .perIPTableFull: 8
        }
    }
}

/// Why an established connection was closed by a guard. Stable order, new reasons at the end.
public enum CloseReason: String, CaseIterable, Sendable {
    case idleTimeout = "idle_timeout"
    case frameTimeout = "frame_timeout"
    case packetRate = "packet_rate"
    case byteRate = "byte_rate"
    case frameTooLarge = "frame_too_large"
    case receiveBuffer = "receive_buffer"
    case sendBuffer = "send_buffer"
    /// Closed by an operator (`kick` on the stats socket).
    case kicked
}

/// A set of refusal reasons in one word: what dry-run limits would have refused.
public struct RefusalReasons: OptionSet, Equatable, Sendable {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public init(_ reason: RefusalReason) {
        rawValue = 1 << UInt32(reason.bitPosition)
    }

    public func contains(_ reason: RefusalReason) -> Bool {
        contains(RefusalReasons(reason))
    }

    public mutating func insert(_ reason: RefusalReason) {
        insert(RefusalReasons(reason))
    }

    /// The reasons in stats order (allocates: for counting and logging, not per packet).
    public var reasons: [RefusalReason] {
        RefusalReason.allCases.filter { contains($0) }
    }
}

extension CloseReason {
    /// The position in `allCases`, without building that array on the hot path.
    var bitPosition: Int {
        switch self {
        case .idleTimeout: 0
        case .frameTimeout: 1
        case .packetRate: 2
        case .byteRate: 3
        case .frameTooLarge: 4
        case .receiveBuffer: 5
        case .sendBuffer: 6
        case .kicked: 7
        }
    }
}

/// A set of close reasons in one word: what dry-run limits would have closed.
public struct CloseReasons: OptionSet, Equatable, Sendable {
    public let rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public init(_ reason: CloseReason) {
        rawValue = 1 << UInt16(reason.bitPosition)
    }

    public func contains(_ reason: CloseReason) -> Bool { contains(CloseReasons(reason)) }

    /// The reasons in stats order (allocates: for counting, once per reason and connection).
    public var reasons: [CloseReason] { CloseReason.allCases.filter { contains($0) } }
}
