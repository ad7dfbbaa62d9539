import BulwarkSys
import Config
import Synchronization

/// The servers of one [[backend]] and the round-robin cursor shared by its listeners.
public final class BackendPool: Sendable {
    public let name: String
    public let servers: [SocketAddress]
    public let connectTimeoutNanoseconds: Int64
    public let statistics = BackendStatistics()
    /// One per server, in `servers` order.
    public let serverStatistics: [ServerStatistics]
    let failureLog = RateLimitedLog()
    private let cursor = Atomic<Int>(0)

    public init(name: String, servers: [SocketAddress], connectTimeout: Duration) {
        precondition(!servers.isEmpty)
        self.name = name
        self.servers = servers
        serverStatistics = servers.map { _ in ServerStatistics() }
        connectTimeoutNanoseconds = max(1, connectTimeout.nanosecondCount)
    }

    convenience init(_ config: BackendConfig) {
        self.init(name: config.name, servers: config.servers.map(SocketAddress.init(endpoint:)),
                  connectTimeout: config.connectTimeout)
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
