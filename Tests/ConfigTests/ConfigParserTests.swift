import Config
import Testing

@Suite("Config: valid files become the model")
struct ConfigParserTests {
    @Test func minimalConfigTakesEveryDefault() throws {
        let config = try ConfigParser.parse(text: """
            [[listener]]
            name = "echo"
            bind = "127.0.0.1:7000"
            mode = "tcp"
            backend = "echo"

            [[backend]]
            name = "echo"
            servers = ["127.0.0.1:7001"]
            """, file: "t.toml")
        #expect(config == GatewayConfig(
            file: "t.toml",
            server: ServerConfig(workers: nil, highWaterBytes: 262_144),
            log: LogConfig(level: .info),
            listeners: [ListenerConfig(name: "echo", bind: .ipv4(127, 0, 0, 1, port: 7000), mode: .tcp,
                                       backend: "echo", backlog: 1024, line: 1)],
            backends: [BackendConfig(name: "echo", servers: [.ipv4(127, 0, 0, 1, port: 7001)],
                                     connectTimeout: .seconds(3), line: 7, serversLine: 9)]))
        #expect(config.backend(named: "echo")?.line == 7)
        #expect(config.backend(named: "missing") == nil)
        #expect(config.listener(named: "echo")?.bind.description == "127.0.0.1:7000")
    }

    @Test func everyKeySet() throws {
        let config = try ConfigParser.parse(text: """
            [server]
            workers = 4
            high_water = "1MiB"
            [log]
            level = "debug"
            [[listener]]
            name = "v6"
            bind = "[::1]:0"
            mode = "tcp"
            backend = "pool"
            backlog = 128
            [[listener]]
            name = "all.v4-1"
            bind = "*:7100"
            mode = "tcp"
            backend = "pool"
            [[backend]]
            name = "pool"
            servers = [
              "10.0.0.1:7001",
              "[fd00::1]:7002",
            ]
            connect_timeout = "250ms"
            """, file: "full.toml")
        #expect(config.file == "full.toml")
        #expect(config.server == ServerConfig(workers: 4, highWaterBytes: 1 << 20))
        #expect(config.log.level == .debug)
        #expect(config.listeners.count == 2)
        #expect(config.listeners[0] == ListenerConfig(
            name: "v6", bind: EndpointAddress(family: .ipv6, bytes: Array(repeating: 0, count: 15) + [1], port: 0),
            mode: .tcp, backend: "pool", backlog: 128, line: 6))
        #expect(config.listeners[1] == ListenerConfig(
            name: "all.v4-1", bind: .ipv4(0, 0, 0, 0, port: 7100), mode: .tcp, backend: "pool", backlog: 1024, line: 12))
        #expect(config.backends == [BackendConfig(
            name: "pool",
            servers: [.ipv4(10, 0, 0, 1, port: 7001),
                      EndpointAddress(family: .ipv6, bytes: [0xFD] + Array(repeating: 0, count: 14) + [1], port: 7002)],
            connectTimeout: .milliseconds(250), line: 17, serversLine: 19)])
    }

    @Test func highWaterAsPlainBytesAndWorkersAuto() throws {
        var text = ConfigText()
        text.set(.server, "high_water", "65536")
        text.set(.server, "workers", "\"auto\"")
        let config = try ConfigParser.parse(text: text.text, file: "t.toml")
        #expect(config.server == ServerConfig(workers: nil, highWaterBytes: 65536))
    }

    @Test func portZeroListenersDoNotConflict() throws {
        let config = try ConfigParser.parse(text: """
            [[listener]]
            name = "a"
            bind = "127.0.0.1:0"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "c"
            bind = "127.0.0.1:0"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "d"
            bind = "[::]:7000"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "e"
            bind = "0.0.0.0:7000"
            mode = "tcp"
            backend = "b"
            [[backend]]
            name = "b"
            servers = ["127.0.0.1:7001"]
            """, file: "t.toml")
        #expect(config.listeners.map(\.name) == ["a", "c", "d", "e"])
    }

    @Test func defaultsComeFromTheKeyTable() {
        #expect(ServerConfig.defaults == ServerConfig(workers: nil, highWaterBytes: 262_144))
        #expect(LogConfig.defaults == LogConfig(level: .info))
        #expect(ListenerConfig.defaultBacklog == 1024)
        #expect(BackendConfig.defaultConnectTimeout == .seconds(3))
    }
}
