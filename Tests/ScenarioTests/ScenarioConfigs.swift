import BulwarkSys

/// The config most scenario tests run the binary with: one TCP listener relaying to one echo
/// backend. `server` holds `[server]` keys, `rest` more sections after the backend.
func echoRelayConfig(port: UInt16, backend: SocketAddress, listener: String = "front",
                     server: String = "", rest: String = "") -> String {
    """
    [server]
    \(server)
    [[listener]]
    name = "\(listener)"
    bind = "127.0.0.1:\(port)"
    mode = "tcp"
    backend = "echo"
    [[backend]]
    name = "echo"
    servers = ["\(backend)"]
    \(rest)
    """
}
