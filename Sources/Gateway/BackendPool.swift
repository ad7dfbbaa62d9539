import BulwarkSys
import Config
import Synchronization

/// The servers of one [[backend]] and the round-robin cursor shared by its listeners.
public final class BackendPool: Sendable {
    public let name: String
    public let servers: [BackendServer]
    public let connectTimeoutNanoseconds: Int64
    public let statistics = BackendStatistics()
    /// One per server, in `servers` order.
    public let serverStatistics: [ServerStatistics]
    let failureLog = RateLimitedLog()
    private let cursor = Atomic<Int>(0)

    /// How often the host names among `servers` are looked up again.
    let resolveIntervalNanoseconds: Int64

    public init(name: String, servers: [BackendServer], connectTimeout: Duration, resolveInterval: Duration = .seconds(30)) {
        precondition(!servers.isEmpty)
        self.name = name
        self.servers = servers
        serverStatistics = servers.map { _ in ServerStatistics() }
        connectTimeoutNanoseconds = max(1, connectTimeout.nanosecondCount)
        resolveIntervalNanoseconds = max(1, resolveInterval.nanosecondCount)
    }

    /// Servers at fixed addresses.
    public convenience init(name: String, servers: [SocketAddress], connectTimeout: Duration) {
        self.init(name: name, servers: servers.map(BackendServer.init(address:)), connectTimeout: connectTimeout)
    }

    convenience init(_ config: BackendConfig) {
        self.init(name: config.name, servers: config.servers.map(BackendServer.init), connectTimeout: config.connectTimeout,
                  resolveInterval: config.resolveInterval)
    }

    /// Index of the first server to try for a new connection (round robin). When it fails the
    /// caller moves on to the following ones in order.
    func nextFirstServer() -> Int {
        let ticket = cursor.add(1, ordering: .relaxed).newValue - 1
        return ticket % servers.count
    }
}

extension SocketAddress {
    public init(endpoint: EndpointAddress) {
        // The config layer has validated the address: 4 or 16 bytes.
        self = SocketAddress(addressBytes: endpoint.bytes, port: endpoint.port)!
    }
}
