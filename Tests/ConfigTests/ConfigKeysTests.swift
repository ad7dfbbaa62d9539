import Config
import Testing

@Suite("The key table drives parsing and the reference")
struct ConfigKeysTests {
    @Test func keyNamesAreUniquePerSection() {
        let names = ConfigKeys.all.map { "\($0.section.rawValue).\($0.name)" }
        #expect(Set(names).count == names.count)
        #expect(names == [
            "server.workers", "server.high_water", "server.node_id", "server.drain_timeout", "server.start_timeout", "server.upgrade_probation", "server.user", "server.group", "log.level",
            "guard.max_files", "guard.max_connections", "guard.sample_interval",
            "guard.max_load", "guard.load_clear", "guard.max_memory_used_percent", "guard.memory_used_clear_percent",
            "guard.min_memory_available", "guard.memory_available_clear",
            "guard.max_swap_used_percent", "guard.swap_used_clear_percent",
            "guard.max_connections_per_ip", "guard.per_ip_prefix_v4", "guard.per_ip_prefix_v6", "guard.per_ip_table_size",
            "guard.allow", "guard.deny", "guard.dry_run", "guard.meminfo_path", "guard.loadavg_path",
            "guard.max_frame", "guard.idle_timeout", "guard.frame_timeout",
            "guard.packet_rate_soft", "guard.packet_rate_hard", "guard.byte_rate_soft", "guard.byte_rate_hard",
            "guard.max_receive_buffer", "guard.max_send_buffer",
            "guard.tcp_defer_accept", "guard.keepalive_idle", "guard.keepalive_interval", "guard.keepalive_count",
            "listener.name", "listener.bind", "listener.mode", "listener.backend", "listener.backlog",
            "listener.framing", "listener.max_connections", "listener.backend_connect",
            "listener.max_frame", "listener.idle_timeout", "listener.frame_timeout",
            "listener.packet_rate_soft", "listener.packet_rate_hard", "listener.byte_rate_soft", "listener.byte_rate_hard",
            "listener.max_receive_buffer", "listener.max_send_buffer",
            "listener.tcp_defer_accept", "listener.keepalive_idle", "listener.keepalive_interval", "listener.keepalive_count",
            "backend.name", "backend.servers", "backend.resolve_interval", "backend.connect_timeout", "backend.connections", "backend.pick_tries",
            "backend.heartbeat", "backend.reconnect_min", "backend.reconnect_max", "backend.backend_grace",
            "stats.socket", "stats.mode", "stats.user", "stats.group", "stats.level", "stats.max_clients", "stats.idle_timeout", "stats.metrics_bind",
        ])
    }

    @Test func requiredKeysAndDefaults() {
        let defaults = ConfigKeys.all.map { "\($0.section.rawValue).\($0.name)=\($0.defaultText)" }
        #expect(defaults == [
            #"server.workers="auto""#, #"server.high_water="256KiB""#, "server.node_id=0", #"server.drain_timeout="30s""#, #"server.start_timeout="30s""#, #"server.upgrade_probation="3s""#,
            "server.user=the user bulwark is started as", "server.group=user's primary group", #"log.level="info""#,
            "guard.max_files=1048576", "guard.max_connections=0", #"guard.sample_interval="1s""#,
            "guard.max_load=off", "guard.load_clear=0.9 × max_load",
            "guard.max_memory_used_percent=off", "guard.memory_used_clear_percent=max_memory_used_percent − 5",
            "guard.min_memory_available=off", "guard.memory_available_clear=1.25 × min_memory_available",
            "guard.max_swap_used_percent=off", "guard.swap_used_clear_percent=max_swap_used_percent − 5",
            "guard.max_connections_per_ip=0", "guard.per_ip_prefix_v4=32", "guard.per_ip_prefix_v6=128",
            "guard.per_ip_table_size=65536", "guard.allow=[]", "guard.deny=[]", "guard.dry_run=[]",
            #"guard.meminfo_path="/proc/meminfo""#, #"guard.loadavg_path="/proc/loadavg""#,
            #"guard.max_frame="64KiB""#, #"guard.idle_timeout="5m""#, #"guard.frame_timeout="30s""#,
            "guard.packet_rate_soft=0", "guard.packet_rate_hard=0", "guard.byte_rate_soft=0", "guard.byte_rate_hard=0",
            #"guard.max_receive_buffer="64KiB""#, #"guard.max_send_buffer="1MiB""#,
            #"guard.tcp_defer_accept="0s""#, #"guard.keepalive_idle="0s""#, #"guard.keepalive_interval="10s""#,
            "guard.keepalive_count=5",
            "listener.name=required", "listener.bind=required", "listener.mode=required",
            "listener.backend=required", "listener.backlog=1024", #"listener.framing="none""#, "listener.max_connections=0", #"listener.backend_connect="accept""#,
            "listener.max_frame=inherits [guard].max_frame", "listener.idle_timeout=inherits [guard].idle_timeout",
            "listener.frame_timeout=inherits [guard].frame_timeout",
            "listener.packet_rate_soft=inherits [guard].packet_rate_soft", "listener.packet_rate_hard=inherits [guard].packet_rate_hard",
            "listener.byte_rate_soft=inherits [guard].byte_rate_soft", "listener.byte_rate_hard=inherits [guard].byte_rate_hard",
            "listener.max_receive_buffer=inherits [guard].max_receive_buffer",
            "listener.max_send_buffer=inherits [guard].max_send_buffer",
            "listener.tcp_defer_accept=inherits [guard].tcp_defer_accept", "listener.keepalive_idle=inherits [guard].keepalive_idle",
            "listener.keepalive_interval=inherits [guard].keepalive_interval",
            "listener.keepalive_count=inherits [guard].keepalive_count",
            "backend.name=required", "backend.servers=required", #"backend.resolve_interval="30s""#, #"backend.connect_timeout="3s""#,
            "backend.connections=4", "backend.pick_tries=3", #"backend.heartbeat="5s""#, #"backend.reconnect_min="100ms""#,
            #"backend.reconnect_max="10s""#, #"backend.backend_grace="10s""#,
            "stats.socket=required", #"stats.mode="0600""#, "stats.user=Bulwark's user", "stats.group=Bulwark's group",
            #"stats.level="user""#, "stats.max_clients=16", #"stats.idle_timeout="30s""#, "stats.metrics_bind=off",
        ])
        #expect(ConfigKeys.all.filter(\.isRequired).map(\.name) == ["name", "bind", "mode", "backend", "name", "servers", "socket"])
        #expect(ConfigKeys.guardMaxFrame.defaultValue == .string("64KiB"))
        #expect(ConfigKeys.guardMaxLoad.defaultValue == nil)
        #expect(ConfigKeys.listenerOverrides.allSatisfy { $0.presence == .inherits(.guard) && $0.defaultValue == nil })
    }

    /// A listener override has the kind of its [guard] key, and says what switches it off.
    @Test func listenerOverridesMirrorTheGuardKeys() {
        let guardKeys = ConfigKeys.guardConnectionKeys + ConfigKeys.guardTCPKeys
        #expect(ConfigKeys.listenerOverrides.map(\.name) == guardKeys.map(\.name))
        #expect(ConfigKeys.listenerOverrides.map(\.kind) == guardKeys.map(\.kind))
        let idle = ConfigKeys.key(named: "idle_timeout", in: .listener)
        #expect(idle?.doc == #"Overrides [guard].idle_timeout for this listener. "0s": off."#)
        #expect(ConfigKeys.key(named: "packet_rate_hard", in: .listener)?.doc
            == "Overrides [guard].packet_rate_hard for this listener. 0: off.")
        #expect(ConfigKeys.key(named: "max_frame", in: .listener)?.doc == "Overrides [guard].max_frame for this listener.")
        #expect(ConfigKeys.key(named: "load_clear", in: .listener) == nil)
    }

    /// Every key in the table is read by the parser: a boolean, which no key accepts, is
    /// reported under that key's own path.
    @Test(arguments: ConfigKeys.all)
    func everyKeyIsReadByTheParser(key: ConfigKey) {
        var text = ConfigText()
        text.set(key.section, key.name, "true")
        let prefix = key.section.isArrayOfTables ? "\(key.section.rawValue)[0]" : key.section.rawValue
        let found = issues(text.text).filter { $0.contains(": \(prefix).\(key.name): ") }
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.contains(": \(prefix).\(key.name): expected ") == true, "\(found)")
        #expect(found.first?.hasSuffix(", got the boolean true") == true, "\(found)")
    }

    @Test func unknownKeysListTheKnownOnesFromTheTable() {
        var text = ConfigText()
        text.set(.backend, "colour", "\"red\"")
        #expect(issues(text.text).first?.hasSuffix(#"unknown key "colour" in [[backend]]; known keys: name, servers, resolve_interval, connect_timeout, connections, pick_tries, heartbeat, reconnect_min, reconnect_max, backend_grace"#) == true)
    }

    @Test func referenceListsEverySectionAndKey() {
        let markdown = ConfigReference.markdown()
        for section in ConfigSection.allCases {
            #expect(markdown.contains("## `\(section.header)`"))
        }
        for key in ConfigKeys.all {
            #expect(markdown.contains("| `\(key.name)` | \(key.typeText) |"), "missing \(key.name)")
        }
        #expect(markdown.contains(#"| `workers` | integer 1...1024, or "auto" | `"auto"` | Worker threads sharing one epoll; "auto" starts one per CPU. |"#))
        #expect(markdown.contains(#"| `bind` | string "IP:port" | required |"#))
        #expect(markdown.contains(#"| `connect_timeout` | duration 1ms...1h: a string like "250ms", "3s", "1.5s", "1m" | `"3s"` |"#))
        #expect(markdown.contains("## `[guard]`"))
        #expect(markdown.contains("| `max_frame` | size 1...16MiB: bytes, or a string like \"64KiB\", \"1MiB\", \"1GiB\" | inherits [guard].max_frame | Overrides [guard].max_frame for this listener. |"))
        #expect(markdown.contains("| `max_load` | number above 0, up to 1000000: like 1.6 or 4 | off |"))
        #expect(markdown.contains("| `load_clear` | number above 0, up to 1000000: like 1.6 or 4 | 0.9 × max_load |"))
        #expect(markdown.contains(#"| `keepalive_idle` | duration 0s...32767s in whole seconds: a string like "30s", "2m" | `"0s"` |"#))
        #expect(markdown.contains(#"| `allow` | array of IP addresses and CIDR prefixes, like ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"] | `[]` |"#))
        #expect(markdown.contains(#"| `dry_run` | array of strings, each one of "max_connections", "listener_max_connections", "per_ip", "load", "memory", "swap", "packet_rate", "byte_rate", "buffers", "idle_timeout", "frame_timeout", "max_frame" | `[]` |"#))
    }

    @Test func referenceExampleShowsRealErrors() {
        let markdown = ConfigReference.markdown()
        #expect(markdown.contains("""
            bulwark.toml:2: server.workers: must be between 1 and 1024 (or "auto"), got 0
            bulwark.toml:6: listener[0].bind: a host name cannot be bound; use an IP literal, like "0.0.0.0:7000" or "[::]:7000"
            bulwark.toml:7: listener[0].framing: mode "mux" needs framing "u16be", "u32be" or "line": each client frame becomes one DATA message
            bulwark.toml:8: listener[0].backend: backend "echo" is not defined; no [[backend]] is defined
            """))
    }
}
