import BulwarkSys
import BulwarkTestSupport
import Config
import Control
import Gateway
import Glibc
import Logging

/// An in-process gateway (listener "front" on 127.0.0.1:0) with a `user`, an `operator` and an
/// `admin` stats socket, for commands checked against what the test did.
final class ControlHarness {
    let runtime: GatewayRuntime
    let servers: [StatsServer]
    let userSocket: String
    let operatorSocket: String
    let adminSocket: String
    private let thread: NativeThread

    convenience init(backend: SocketAddress, guardSection: String = "", listenerKeys: String = "", userStatsKeys: String = "") throws {
        try self.init(backendServers: [backend], guardSection: guardSection, listenerKeys: listenerKeys, userStatsKeys: userStatsKeys)
    }

    /// `userStatsKeys`: more keys for the `user` socket's entry (`metrics_bind`, `idle_timeout`).
    init(backendServers: [SocketAddress], guardSection: String = "", listenerKeys: String = "", userStatsKeys: String = "") throws {
        let stamp = "\(getpid())-\(MonotonicClock.nanoseconds())"
        userSocket = "/tmp/bulwark-test-user-\(stamp).sock"
        operatorSocket = "/tmp/bulwark-test-operator-\(stamp).sock"
        adminSocket = "/tmp/bulwark-test-admin-\(stamp).sock"
        let text = """
            [server]
            workers = 2
            [guard]
            \(guardSection)
            [[listener]]
            name = "front"
            bind = "127.0.0.1:0"
            mode = "tcp"
            backend = "pool"
            \(listenerKeys)
            [[backend]]
            name = "pool"
            servers = [\(backendServers.map { "\"\($0)\"" }.joined(separator: ", "))]
            [[stats]]
            socket = "\(userSocket)"
            level = "user"
            max_clients = 4
            \(userStatsKeys)
            [[stats]]
            socket = "\(operatorSocket)"
            level = "operator"
            [[stats]]
            socket = "\(adminSocket)"
            level = "admin"
            """
        let config = try ConfigParser.parse(text: text, file: "control-test.toml")
        var logger = Logger(label: "test")
        logger.logLevel = .error
        runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: false)
        let context = ControlContext(runtime: runtime, configPath: "control-test.toml", configText: text, version: "test")
        servers = try config.stats.map { try StatsServer(config: $0, context: context) }
            + config.stats.filter { $0.metricsBind != nil }.map { try StatsServer(config: $0, service: .metrics, context: context) }
        for server in servers { try server.start() }
        let runtime = self.runtime
        thread = try NativeThread.start(name: "test-gateway") { try? runtime.run() }
    }

    var address: SocketAddress { runtime.listeners[0].address }

    /// Sends one command line and returns the whole answer (the gateway closes after it).
    func ask(_ line: String, socket: String? = nil) throws -> String {
        let client = BlockingSocket(fd: try UnixSockets.connect(path: socket ?? userSocket))
        try client.send(line + "\n")
        return String(decoding: try client.receiveToEnd(), as: UTF8.self)
    }

    func stop() {
        runtime.stop()
        thread.join()
    }
}
