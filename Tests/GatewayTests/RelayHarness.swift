import Buffers
import BulwarkSys
import BulwarkTestSupport
import Config
import Gateway
import Logging

/// An in-process gateway on 127.0.0.1:0 with one tcp listener in front of `servers`.
final class RelayHarness {
    let runtime: GatewayRuntime
    let pool: BufferPool
    private let thread: NativeThread

    /// `guardSection` and `listenerKeys` are extra TOML lines for `[guard]` and the listener.
    init(servers: [SocketAddress], connectTimeout: String = "3s", highWater: String = "256KiB",
         workers: Int = 2, bind: String = "127.0.0.1:0", guardSection: String = "", listenerKeys: String = "") throws {
        let serverList = servers.map { "\"\($0)\"" }.joined(separator: ", ")
        let text = """
            [server]
            workers = \(workers)
            high_water = "\(highWater)"
            [log]
            level = "warning"
            [guard]
            \(guardSection)
            [[listener]]
            name = "test"
            bind = "\(bind)"
            mode = "tcp"
            backend = "pool"
            \(listenerKeys)
            [[backend]]
            name = "pool"
            servers = [\(serverList)]
            connect_timeout = "\(connectTimeout)"
            """
        let config = try ConfigParser.parse(text: text, file: "test.toml")
        var logger = Logger(label: "test")
        logger.logLevel = .error
        pool = BufferPool(chunkBytes: 16 * 1024, maxCachedChunks: 4)
        runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: false, pool: pool)
        let runtime = self.runtime
        thread = try NativeThread.start(name: "test-gateway") { try? runtime.run() }
    }

    var address: SocketAddress { runtime.listeners[0].address }
    var statistics: ListenerStatistics { runtime.listeners[0].statistics }
    var backendStatistics: BackendStatistics { runtime.backends["pool"]!.statistics }

    var guardCounters: GuardCounters { runtime.guardRuntime.counters }

    func connect() throws -> BlockingSocket { try BlockingSocket.connect(to: address) }

    /// A client bound to 127.0.0.`host` (port picked by the kernel).
    func connect(fromHost host: UInt8) throws -> BlockingSocket {
        try BlockingSocket.connect(to: address, from: SocketAddress(addressBytes: [127, 0, 0, host], port: 0)!)
    }

    func stop() {
        runtime.stop()
        thread.join()
    }
}
