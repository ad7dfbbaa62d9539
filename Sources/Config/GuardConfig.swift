// The SysGuard part of the config model: `[guard]` (process-wide limits, and the defaults of
// the per-connection limits) and the per-listener overrides. Parsing fills these from the key
// table like every other section; a value of 0 (or an absent optional) switches a limit off.

/// The limits a dry run can apply to: counted as if enforced, never enforced.
public enum GuardLimit: String, Sendable, Equatable, CaseIterable {
    case maxConnections = "max_connections"
    case listenerMaxConnections = "listener_max_connections"
    case perIP = "per_ip"
    case load
    case memory
    case swap
    case packetRate = "packet_rate"
    case byteRate = "byte_rate"
    case buffers
    case idleTimeout = "idle_timeout"
    case frameTimeout = "frame_timeout"
    case maxFrame = "max_frame"
}

/// An address or CIDR prefix of an allow or deny list: 4 or 16 bytes (network order, host
/// bits zero) and a prefix length.
public struct AddressPrefix: Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]
    public var length: Int

    public init(bytes: [UInt8], length: Int) {
        self.bytes = bytes
        self.length = length
    }

    public var description: String {
        let host = bytes.count == 4 ? IPLiteral.formatIPv4(bytes) : IPLiteral.formatIPv6(bytes)
        return "\(host)/\(length)"
    }
}

/// A guard on a sampled reading: trips above `trip`, clears only below `clear` (hysteresis).
public struct SampledThreshold: Sendable, Equatable {
    public var trip: Double
    public var clear: Double

    public init(trip: Double, clear: Double) {
        self.trip = trip
        self.clear = clear
    }
}

/// Limits on one client connection: set in `[guard]`, overridable per `[[listener]]`.
public struct ConnectionLimits: Sendable, Equatable {
    /// Largest frame (payload bytes; for "line", the line with its "\n").
    public var maxFrameBytes: Int
    /// nil: no idle timeout.
    public var idleTimeout: Duration?
    /// First to last byte of one frame; nil: off.
    public var frameTimeout: Duration?
    /// Frames per second: above soft, reading pauses until the next second; above hard, close.
    public var packetRateSoft: Int?
    public var packetRateHard: Int?
    /// Bytes per second, the same way.
    public var byteRateSoft: Int?
    public var byteRateHard: Int?
    /// Bytes read from the client but not yet forwarded (held back by a soft rate limit).
    public var maxReceiveBufferBytes: Int
    /// Bytes waiting to be written to the client; past it the client is closed.
    public var maxSendBufferBytes: Int

    public init(maxFrameBytes: Int, idleTimeout: Duration?, frameTimeout: Duration?,
                packetRateSoft: Int?, packetRateHard: Int?, byteRateSoft: Int?, byteRateHard: Int?,
                maxReceiveBufferBytes: Int, maxSendBufferBytes: Int) {
        self.maxFrameBytes = maxFrameBytes
        self.idleTimeout = idleTimeout
        self.frameTimeout = frameTimeout
        self.packetRateSoft = packetRateSoft
        self.packetRateHard = packetRateHard
        self.byteRateSoft = byteRateSoft
        self.byteRateHard = byteRateHard
        self.maxReceiveBufferBytes = maxReceiveBufferBytes
        self.maxSendBufferBytes = maxSendBufferBytes
    }
}

/// TCP options on a listener and its accepted sockets.
public struct TCPOptions: Sendable, Equatable {
    /// TCP_DEFER_ACCEPT: wake the listener only once data arrived (nil: off).
    public var deferAccept: Duration?
    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (nil: keepalive off).
    public var keepAliveIdle: Duration?
    public var keepAliveInterval: Duration
    public var keepAliveCount: Int

    public init(deferAccept: Duration?, keepAliveIdle: Duration?, keepAliveInterval: Duration, keepAliveCount: Int) {
        self.deferAccept = deferAccept
        self.keepAliveIdle = keepAliveIdle
        self.keepAliveInterval = keepAliveInterval
        self.keepAliveCount = keepAliveCount
    }
}

/// `[guard]`.
public struct GuardConfig: Sendable, Equatable {
    /// RLIMIT_NOFILE is raised to this at start (clamped to the hard limit, with a warning).
    public var maxFiles: Int
    /// Client connections of the whole process; 0: unlimited.
    public var maxConnections: Int
    /// How often load and memory are read.
    public var sampleInterval: Duration
    /// 1-minute load average; nil: off.
    public var load: SampledThreshold?
    /// Memory used, percent of MemTotal; nil: off.
    public var memoryUsedPercent: SampledThreshold?
    /// MemAvailable in bytes: trips BELOW `trip`, clears above `clear`; nil: off.
    public var memoryAvailableBytes: SampledThreshold?
    /// Swap used, percent of SwapTotal; nil: off.
    public var swapUsedPercent: SampledThreshold?
    /// Client connections per address (or per prefix); 0: unlimited.
    public var maxConnectionsPerIP: Int
    public var perIPPrefixV4: Int
    public var perIPPrefixV6: Int
    /// Addresses the per-IP table can hold; past it new addresses are refused (counted).
    public var perIPTableSize: Int
    /// Refused at accept.
    public var deny: [AddressPrefix]
    /// Bypass the per-IP and rate limits.
    public var allow: [AddressPrefix]
    /// Limits counted as if enforced, but not enforced.
    public var dryRun: Set<GuardLimit>
    /// Where /proc is read (tests and containers point these elsewhere).
    public var meminfoPath: String
    public var loadavgPath: String
    /// Defaults of the per-connection limits.
    public var connection: ConnectionLimits
    /// Defaults of the TCP options.
    public var tcp: TCPOptions

    public init(maxFiles: Int, maxConnections: Int, sampleInterval: Duration, load: SampledThreshold?,
                memoryUsedPercent: SampledThreshold?, memoryAvailableBytes: SampledThreshold?,
                swapUsedPercent: SampledThreshold?, maxConnectionsPerIP: Int, perIPPrefixV4: Int,
                perIPPrefixV6: Int, perIPTableSize: Int, deny: [AddressPrefix], allow: [AddressPrefix],
                dryRun: Set<GuardLimit>, meminfoPath: String, loadavgPath: String,
                connection: ConnectionLimits, tcp: TCPOptions) {
        self.maxFiles = maxFiles
        self.maxConnections = maxConnections
        self.sampleInterval = sampleInterval
        self.load = load
        self.memoryUsedPercent = memoryUsedPercent
        self.memoryAvailableBytes = memoryAvailableBytes
        self.swapUsedPercent = swapUsedPercent
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.perIPPrefixV4 = perIPPrefixV4
        self.perIPPrefixV6 = perIPPrefixV6
        self.perIPTableSize = perIPTableSize
        self.deny = deny
        self.allow = allow
        self.dryRun = dryRun
        self.meminfoPath = meminfoPath
        self.loadavgPath = loadavgPath
        self.connection = connection
        self.tcp = tcp
    }
}

extension GuardConfig {
    /// `[guard]` with every key left out (from the key table, like the other defaults).
    public static let defaults: GuardConfig = ConfigDefaults.guardConfig
}
