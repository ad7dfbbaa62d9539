import BulwarkSys
import Config

/// One server of a backend: the endpoint as configured and the address connects go to now. A
/// literal has its address from the start; a host name has none until its first lookup
/// succeeds (the server is down meanwhile), and then follows later lookups (ServerResolver).
public final class BackendServer: @unchecked Sendable, CustomStringConvertible {  // @unchecked: `current`, `lookupErrorText` and `lookupFailureCount` are only touched while holding `lock`
    /// A lookup changed where the server is.
    struct AddressChange {
        var previous: SocketAddress?
        var current: SocketAddress
    }

    public let endpoint: ServerEndpoint
    private let lock = PthreadLock()
    private var current: SocketAddress?
    private var lookupErrorText: String?
    private var lookupFailureCount = 0

    public init(_ endpoint: ServerEndpoint) {
        self.endpoint = endpoint
        current = endpoint.literal.map(SocketAddress.init(endpoint:))
    }

    /// A server at a fixed address (tests, and literals).
    public convenience init(address: SocketAddress) {
        let literal = EndpointAddress(family: address.isIPv6 ? .ipv6 : .ipv4,
                                      bytes: address.addressBytes, port: address.port)
        self.init(ServerEndpoint(literal))
    }

    /// `chat.internal:7001` or `10.0.0.1:7001`: what the config says.
    public var description: String { endpoint.description }

    /// Where a connect goes now; nil while a host name has never resolved.
    public var address: SocketAddress? { lock.withLock { current } }

    /// The last lookup's failure, nil once one succeeds (always nil for a literal).
    public var lookupError: String? { lock.withLock { lookupErrorText } }

    public var lookupFailures: Int { lock.withLock { lookupFailureCount } }

    /// Takes a lookup's answer: the current address stays while the answer still has it (so a
    /// name with several addresses does not move connections around); otherwise the first
    /// address of the answer. Returns the change, if any.
    func resolved(_ addresses: [SocketAddress]) -> AddressChange? {
        lock.withLock {
            lookupErrorText = nil
            guard let first = addresses.first else { return nil }
            if let current, addresses.contains(current) { return nil }
            let change = AddressChange(previous: current, current: first)
            current = first
            return change
        }
    }

    /// A lookup failed: the last good address (if any) stays.
    func lookupFailed(_ reason: String) {
        lock.withLock {
            lookupErrorText = reason
            lookupFailureCount += 1
        }
    }
}
