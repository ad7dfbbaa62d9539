import BulwarkSys
import Config

/// `bulwark check`'s look at backend servers given by host name: each is looked up now, and
/// one that does not resolve is a warning (the gateway would start with that server down and
/// keep trying), never an error: DNS may well answer by the time the gateway runs.
enum HostNameCheck {
    static let timeoutMilliseconds = 5_000
    /// Set by the master when it checks a new binary before an upgrade: no lookups then.
    static let skipVariable = "BULWARK_CHECK_SKIP_LOOKUPS"

    static func warnings(config: GatewayConfig, path: String) -> [String] {
        let named = config.backends.enumerated().flatMap { backendIndex, backend in
            backend.servers.enumerated().filter { $0.element.isHostName }.map { (backendIndex, backend, $0.offset, $0.element) }
        }
        let outcomes = NameLookup.resolveAll(named.map { (host: $0.3.host, port: $0.3.port) }, timeoutMilliseconds: timeoutMilliseconds)
        return zip(named, outcomes).compactMap { entry, outcome in
            let (backendIndex, backend, serverIndex, server) = entry
            guard case .failed(let reason) = outcome else { return nil }
            return "\(path):\(backend.serversLine): warning: backend[\(backendIndex)].servers[\(serverIndex)]: \"\(server)\" does not resolve now"
                + " (\(reason)); bulwark would start with that server down and look it up again every \(Durations.format(backend.resolveInterval))"
        }
    }
}
