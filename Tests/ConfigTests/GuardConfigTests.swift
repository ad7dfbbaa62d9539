import Config
import SysGuard
import Foundation
import Testing

/// A valid listener (lines 1...5 of its part) and backend, to put after a `[guard]` section.
private let listenerAndBackend = """
    [[listener]]
    name = "a"
    bind = "127.0.0.1:7000"
    mode = "tcp"
    backend = "b"

    [[backend]]
    name = "b"
    servers = ["127.0.0.1:7001"]

    """

/// `[guard]` on line 1 with the given lines from line 2, then a valid listener and backend.
private func guardText(_ lines: [String]) -> String {
    (["[guard]"] + lines).joined(separator: "\n") + "\n\n" + listenerAndBackend
}

private func guardIssues(_ lines: [String]) -> [String] {
    issues(guardText(lines))
}

private func guardConfig(_ lines: [String]) throws -> GuardConfig {
    try ConfigParser.parse(text: guardText(lines), file: "t.toml").guardConfig
}

/// `[guard]` with `guardLines` (from line 2), then listeners each with their extra lines after
/// name, bind, mode and backend, then a backend.
private func text(guard guardLines: [String] = [], listeners: [[String]]) -> String {
    var lines = ["[guard]"] + guardLines
    for (index, extra) in listeners.enumerated() {
        lines += ["[[listener]]", "name = \"l\(index)\"", "bind = \"127.0.0.1:\(7000 + index)\"", "mode = \"tcp\"", "backend = \"b\""]
        lines += extra
    }
    lines += ["[[backend]]", "name = \"b\"", "servers = [\"127.0.0.1:7001\"]"]
    return lines.joined(separator: "\n") + "\n"
}

private let mebibyte = 1_048_576

@Suite("Config: [guard] and the per-listener limits")
struct GuardConfigTests {
    // MARK: defaults

    @Test func defaultsComeFromTheKeyTable() {
        #expect(GuardConfig.defaults == GuardConfig(
            maxFiles: 1_048_576, maxConnections: 0, sampleInterval: .seconds(1), load: nil, memoryUsedPercent: nil,
            memoryAvailableBytes: nil, swapUsedPercent: nil, maxConnectionsPerIP: 0, perIPPrefixV4: 32, perIPPrefixV6: 128,
            perIPTableSize: 65536, deny: [], allow: [], dryRun: [], meminfoPath: "/proc/meminfo", loadavgPath: "/proc/loadavg",
            connection: ConnectionLimits(
                maxFrameBytes: 65536, idleTimeout: .seconds(300), frameTimeout: .seconds(30), packetRateSoft: nil,
                packetRateHard: nil, byteRateSoft: nil, byteRateHard: nil, maxReceiveBufferBytes: 65536,
                maxSendBufferBytes: mebibyte),
            tcp: TCPOptions(deferAccept: nil, keepAliveIdle: nil, keepAliveInterval: .seconds(10), keepAliveCount: 5)))
        let listener = ListenerConfig(name: "a", bind: .ipv4(127, 0, 0, 1, port: 1), mode: .tcp, backend: "b")
        #expect(listener.framing == Framing.stream)
        #expect(listener.maxConnections == 0)
        #expect(listener.limits == GuardConfig.defaults.connection)
        #expect(listener.tcp == GuardConfig.defaults.tcp)
    }

    @Test func withoutAGuardSectionEveryDefaultApplies() throws {
        let config = try ConfigParser.parse(text: listenerAndBackend, file: "t.toml")
        #expect(config.guardConfig == GuardConfig.defaults)
        #expect(config.listeners[0] == ListenerConfig(name: "a", bind: .ipv4(127, 0, 0, 1, port: 7000), mode: .tcp,
                                                      backend: "b", line: 1))
        #expect(try guardConfig([]) == GuardConfig.defaults)
    }

    // MARK: every key set

    @Test func everyGuardKeySet() throws {
        let config = try guardConfig([
            "max_files = 20000",
            "max_connections = 5000",
            "sample_interval = \"250ms\"",
            "max_load = 3",
            "load_clear = 2.5",
            "max_memory_used_percent = 90",
            "memory_used_clear_percent = 80",
            "min_memory_available = \"1GiB\"",
            "memory_available_clear = \"2GiB\"",
            "max_swap_used_percent = 30",
            "swap_used_clear_percent = 10",
            "max_connections_per_ip = 20",
            "per_ip_prefix_v4 = 24",
            "per_ip_prefix_v6 = 64",
            "per_ip_table_size = 1000",
            "allow = [\"10.0.0.0/8\", \"::1\"]",
            "deny = [\"192.168.1.7\", \"2001:db8::/32\"]",
            "dry_run = [\"load\", \"per_ip\"]",
            "meminfo_path = \"/tmp/meminfo\"",
            "loadavg_path = \"/tmp/loadavg\"",
            "max_frame = \"16KiB\"",
            "idle_timeout = \"90s\"",
            "frame_timeout = \"5s\"",
            "packet_rate_soft = 100",
            "packet_rate_hard = 100",
            "byte_rate_soft = \"64KiB\"",
            "byte_rate_hard = 131072",
            "max_receive_buffer = \"128KiB\"",
            "max_send_buffer = \"4MiB\"",
            "tcp_defer_accept = \"5s\"",
            "keepalive_idle = \"1m\"",
            "keepalive_interval = \"15s\"",
            "keepalive_count = 3",
        ])
        #expect(config == GuardConfig(
            maxFiles: 20000, maxConnections: 5000, sampleInterval: .milliseconds(250),
            load: SampledThreshold(trip: 3, clear: 2.5),
            memoryUsedPercent: SampledThreshold(trip: 90, clear: 80),
            memoryAvailableBytes: SampledThreshold(trip: Double(1 << 30), clear: Double(2 << 30)),
            swapUsedPercent: SampledThreshold(trip: 30, clear: 10),
            maxConnectionsPerIP: 20, perIPPrefixV4: 24, perIPPrefixV6: 64, perIPTableSize: 1000,
            deny: [AddressPrefix(bytes: [192, 168, 1, 7], length: 32),
                   AddressPrefix(bytes: [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 12), length: 32)],
            allow: [AddressPrefix(bytes: [10, 0, 0, 0], length: 8),
                    AddressPrefix(bytes: Array(repeating: 0, count: 15) + [1], length: 128)],
            dryRun: [.load, .perIP], meminfoPath: "/tmp/meminfo", loadavgPath: "/tmp/loadavg",
            connection: ConnectionLimits(
                maxFrameBytes: 16384, idleTimeout: .seconds(90), frameTimeout: .seconds(5), packetRateSoft: 100,
                packetRateHard: 100, byteRateSoft: 65536, byteRateHard: 131_072, maxReceiveBufferBytes: 131_072,
                maxSendBufferBytes: 4 * mebibyte),
            tcp: TCPOptions(deferAccept: .seconds(5), keepAliveIdle: .seconds(60), keepAliveInterval: .seconds(15),
                            keepAliveCount: 3)))
    }

    @Test func everyDryRunNameIsAccepted() throws {
        let names = GuardLimit.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        #expect(try guardConfig(["dry_run = [\(names)]"]).dryRun == Set(GuardLimit.allCases))
        #expect(GuardLimit.allCases.map(\.rawValue) == [
            "max_connections", "listener_max_connections", "per_ip", "load", "memory", "swap",
            "packet_rate", "byte_rate", "buffers", "idle_timeout", "frame_timeout", "max_frame",
        ])
    }

    // MARK: zero means off

    @Test func zeroSwitchesLimitsOff() throws {
        let config = try guardConfig([
            "idle_timeout = \"0s\"", "frame_timeout = \"0\"", "packet_rate_soft = 0", "packet_rate_hard = 0",
            "byte_rate_soft = 0", "byte_rate_hard = \"0KiB\"", "tcp_defer_accept = \"0\"", "keepalive_idle = \"0s\"",
        ])
        #expect(config.connection.idleTimeout == nil)
        #expect(config.connection.frameTimeout == nil)
        #expect(config.connection.packetRateSoft == nil)
        #expect(config.connection.packetRateHard == nil)
        #expect(config.connection.byteRateSoft == nil)
        #expect(config.connection.byteRateHard == nil)
        #expect(config.tcp.deferAccept == nil)
        #expect(config.tcp.keepAliveIdle == nil)
    }

    @Test func onlyOneRateOfAPairMaySet() throws {
        let config = try guardConfig(["packet_rate_hard = 50", "byte_rate_soft = \"1MiB\""])
        #expect(config.connection.packetRateSoft == nil)
        #expect(config.connection.packetRateHard == 50)
        #expect(config.connection.byteRateSoft == mebibyte)
        #expect(config.connection.byteRateHard == nil)
    }

    // MARK: hysteresis: the clear marks

    @Test func clearMarksDefaultFromTheTripMarks() throws {
        let config = try guardConfig([
            "max_load = 1.6", "max_memory_used_percent = 90", "min_memory_available = \"1GiB\"", "max_swap_used_percent = 6",
        ])
        #expect(config.load == SampledThreshold(trip: 1.6, clear: 1.6 * 0.9))
        #expect(config.memoryUsedPercent == SampledThreshold(trip: 90, clear: 85))
        #expect(config.memoryAvailableBytes == SampledThreshold(trip: Double(1 << 30), clear: 1.25 * Double(1 << 30)))
        #expect(config.swapUsedPercent == SampledThreshold(trip: 6, clear: 1))
    }

    @Test func clearMarksMayEqualOrSitJustInsideTheTripMarks() throws {
        let config = try guardConfig([
            "max_load = 2", "load_clear = 2", "max_memory_used_percent = 2", "memory_used_clear_percent = 1",
            "min_memory_available = \"1MiB\"", "memory_available_clear = 1048577",
        ])
        #expect(config.load == SampledThreshold(trip: 2, clear: 2))
        #expect(config.memoryUsedPercent == SampledThreshold(trip: 2, clear: 1))
        #expect(config.memoryAvailableBytes == SampledThreshold(trip: 1_048_576, clear: 1_048_577))
    }

    @Test(arguments: [
        (["max_load = 1.6", "load_clear = 1.7"], "t.toml:3: guard.load_clear: must be at most max_load (1.6), got 1.7"),
        (["max_load = 2", "load_clear = 3"], "t.toml:3: guard.load_clear: must be at most max_load (2), got 3"),
        (["max_memory_used_percent = 90", "memory_used_clear_percent = 90"],
         "t.toml:3: guard.memory_used_clear_percent: must be below max_memory_used_percent (90), got 90"),
        (["max_swap_used_percent = 40", "swap_used_clear_percent = 41"],
         "t.toml:3: guard.swap_used_clear_percent: must be below max_swap_used_percent (40), got 41"),
        (["min_memory_available = \"1GiB\"", "memory_available_clear = \"1GiB\""],
         "t.toml:3: guard.memory_available_clear: must be more than min_memory_available (1GiB), got 1GiB"),
        (["min_memory_available = \"1GiB\"", "memory_available_clear = \"512MiB\""],
         "t.toml:3: guard.memory_available_clear: must be more than min_memory_available (1GiB), got 512MiB"),
        (["max_memory_used_percent = 5"],
         "t.toml:2: guard.max_memory_used_percent: leaves no room for the default memory_used_clear_percent (max_memory_used_percent − 5 = 0); set memory_used_clear_percent between 1 and 4"),
        (["max_swap_used_percent = 2"],
         "t.toml:2: guard.max_swap_used_percent: leaves no room for the default swap_used_clear_percent (max_swap_used_percent − 5 = -3); set swap_used_clear_percent between 1 and 1"),
        (["load_clear = 1.2"], "t.toml:2: guard.load_clear: has no effect without max_load; set max_load, or remove load_clear"),
        (["memory_used_clear_percent = 80"],
         "t.toml:2: guard.memory_used_clear_percent: has no effect without max_memory_used_percent; set max_memory_used_percent, or remove memory_used_clear_percent"),
        (["memory_available_clear = \"1GiB\""],
         "t.toml:2: guard.memory_available_clear: has no effect without min_memory_available; set min_memory_available, or remove memory_available_clear"),
        (["swap_used_clear_percent = 10"],
         "t.toml:2: guard.swap_used_clear_percent: has no effect without max_swap_used_percent; set max_swap_used_percent, or remove swap_used_clear_percent"),
    ])
    func clearMarkErrors(lines: [String], expected: String) {
        #expect(guardIssues(lines) == [expected])
    }

    @Test func aSmallMaxPercentWorksWithAnExplicitClearMark() throws {
        #expect(try guardConfig(["max_memory_used_percent = 5", "memory_used_clear_percent = 4"]).memoryUsedPercent
            == SampledThreshold(trip: 5, clear: 4))
    }

    /// An invalid trip mark is reported once; its clear mark is not blamed for it.
    @Test func anInvalidTripMarkIsReportedAlone() {
        #expect(guardIssues(["max_load = 0", "load_clear = 1"])
            == ["t.toml:2: guard.max_load: must be above 0 and at most 1000000, got 0"])
    }

    // MARK: values of each key

    @Test(arguments: [
        ("max_files = 63", "must be between 64 and 16777216, got 63"),
        ("max_files = 16777217", "must be between 64 and 16777216, got 16777217"),
        ("max_connections = -1", "must be between 0 and 16777216, got -1"),
        (#"max_connections = "1000""#, #"expected an integer, got the string "1000""#),
        (#"sample_interval = "50ms""#, "must be between 100ms and 1m, got 50ms"),
        (#"sample_interval = "2m""#, "must be between 100ms and 1m, got 2m"),
        ("max_load = 0", "must be above 0 and at most 1000000, got 0"),
        ("max_load = -1.5", "must be above 0 and at most 1000000, got -1.5"),
        ("max_load = inf", "must be above 0 and at most 1000000, got inf"),
        ("max_load = nan", "must be above 0 and at most 1000000, got nan"),
        (#"max_load = "1.6""#, #"expected a number like 1.6, got the string "1.6""#),
        ("max_memory_used_percent = 1", "must be between 2 and 100, got 1"),
        ("max_memory_used_percent = 101", "must be between 2 and 100, got 101"),
        ("max_memory_used_percent = 90.5", "expected an integer, got the float 90.5"),
        (#"min_memory_available = "512KiB""#, "must be between 1MiB and 1024GiB, got 512KiB"),
        ("max_swap_used_percent = 0", "must be between 2 and 100, got 0"),
        ("max_connections_per_ip = 1000001", "must be between 0 and 1000000, got 1000001"),
        ("per_ip_prefix_v4 = 0", "must be between 1 and 32, got 0"),
        ("per_ip_prefix_v4 = 33", "must be between 1 and 32, got 33"),
        ("per_ip_prefix_v6 = 129", "must be between 1 and 128, got 129"),
        ("per_ip_table_size = 0", "must be between 1 and 16777216, got 0"),
        (#"allow = "10.0.0.0/8""#, #"expected an array of strings like ["10.0.0.0/8", "::1"], got the string "10.0.0.0/8""#),
        (#"dry_run = "load""#, #"expected an array of strings, each one of "max_connections", "listener_max_connections", "per_ip", "load", "memory", "swap", "packet_rate", "byte_rate", "buffers", "idle_timeout", "frame_timeout", "max_frame", got the string "load""#),
        (#"meminfo_path = "proc/meminfo""#, #"must be an absolute path (starting with "/"), got "proc/meminfo""#),
        (#"loadavg_path = """#, #"must be an absolute path (starting with "/"), got """#),
        ("loadavg_path = 1", #"expected a string like "/proc/meminfo", got the integer 1"#),
        ("max_frame = 0", "must be between 1 and 16MiB, got 0"),
        (#"max_frame = "17MiB""#, "must be between 1 and 16MiB, got 17MiB"),
        (#"idle_timeout = "25h""#, "must be between 0s and 24h, got 25h"),
        ("idle_timeout = 0", #"expected a string like "3s", got the integer 0: a duration needs a unit"#),
        (#"frame_timeout = "2h""#, "must be between 0s and 1h, got 2h"),
        ("packet_rate_soft = -1", "must be between 0 and 10000000, got -1"),
        ("packet_rate_hard = 10000001", "must be between 0 and 10000000, got 10000001"),
        (#"byte_rate_soft = "5GiB""#, "must be between 0 and 4GiB, got 5GiB"),
        (#"byte_rate_hard = "fast""#, #"invalid size "fast"; use a number of bytes, or a number with KiB, MiB or GiB, like "256KiB""#),
        ("max_receive_buffer = 0", "must be between 1 and 1GiB, got 0"),
        (#"max_send_buffer = "2GiB""#, "must be between 1 and 1GiB, got 2GiB"),
        (#"tcp_defer_accept = "1500ms""#, "must be whole seconds (the kernel counts this option in seconds), got 1500ms"),
        (#"tcp_defer_accept = "2h""#, "must be between 0s and 1h, got 2h"),
        ("tcp_defer_accept = 5", #"expected a string like "30s", got the integer 5: a duration needs a unit"#),
        (#"keepalive_idle = "10""#, #"invalid duration "10"; use a number with a unit (s, m, h), like "30s" or "2m""#),
        (#"keepalive_idle = "32768s""#, "must be between 0s and 32767s, got 32768s"),
        (#"keepalive_interval = "0s""#, "must be between 1s and 32767s, got 0s"),
        ("keepalive_count = 0", "must be between 1 and 127, got 0"),
        ("keepalive_count = 128", "must be between 1 and 127, got 128"),
    ])
    func guardValues(keyValue: String, message: String) {
        let name = String(keyValue.prefix { $0 != " " })
        #expect(guardIssues([keyValue]) == ["t.toml:2: guard.\(name): \(message)"])
    }

    @Test func unknownKeyInGuard() {
        let found = guardIssues(["max_conections = 5"])
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix(#"t.toml:2: guard.max_conections: unknown key "max_conections" in [guard]; known keys: max_files, max_connections, sample_interval, "#) == true)
        #expect(found.first?.hasSuffix(", keepalive_interval, keepalive_count") == true)
    }

    @Test func guardMustBeATable() {
        #expect(issues("[[guard]]\nmax_files = 100\n" + listenerAndBackend)
            == ["t.toml:1: guard: must be a table: write [guard] on a line of its own, then its keys"])
    }

    // MARK: allow and deny

    @Test func allowAndDenyAcceptAddressesAndPrefixes() throws {
        let config = try guardConfig([
            #"allow = ["0.0.0.0/0", "10.1.2.0/23", "172.16.0.0/12", "192.168.1.7", "192.168.1.8/32", "::/0", "fe80::/10", "::ffff:10.0.0.0/104"]"#,
            "deny = [",
            #"  "2001:db8::/32","#,
            #"  "2001:db8:1::1","#,
            "]",
        ])
        #expect(config.allow.map(\.description) == [
            "0.0.0.0/0", "10.1.2.0/23", "172.16.0.0/12", "192.168.1.7/32", "192.168.1.8/32", "::/0", "fe80::/10",
            "::ffff:10.0.0.0/104",
        ])
        #expect(config.deny.map(\.description) == ["2001:db8::/32", "2001:db8:1::1/128"])
        #expect(config.deny[0] == AddressPrefix(bytes: [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 12), length: 32))
    }

    @Test(arguments: [
        ("10.0.0.1/8", "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"),
        ("10.1.3.0/23", "10.1.3.0/23 has host bits set; did you mean 10.1.2.0/23?"),
        ("192.168.1.7/0", "192.168.1.7/0 has host bits set; did you mean 0.0.0.0/0?"),
        ("2001:db8::1/32", "2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?"),
        ("fe80::1:0/111", "fe80::1:0/111 has host bits set; did you mean fe80::/111?"),
        ("10.0.0.0/33", #"invalid prefix length "33"; expected 0...32 for IPv4"#),
        ("10.0.0.0/", #"invalid prefix length ""; expected 0...32 for IPv4"#),
        ("10.0.0.0/08", #"invalid prefix length "08"; expected 0...32 for IPv4"#),
        ("10.0.0.0/8/8", #"invalid prefix length "8/8"; expected 0...32 for IPv4"#),
        ("::/129", #"invalid prefix length "129"; expected 0...128 for IPv6"#),
        ("::/-1", #"invalid prefix length "-1"; expected 0...128 for IPv6"#),
        ("10.0.0.256", #"invalid IPv4 address "10.0.0.256""#),
        ("10.0.0", #"invalid IPv4 address "10.0.0""#),
        ("/8", #"invalid IPv4 address """#),
        ("2001:db8::g/32", #"invalid IPv6 address "2001:db8::g""#),
        ("fe80::1%eth0", #"invalid IPv6 address "fe80::1%eth0""#),
        ("[::1]", #"write an IPv6 address without brackets, like "2001:db8::/32""#),
        ("10.0.0.1:80", #"an allow or deny entry has no port; expected an IP address or a CIDR prefix, like "10.0.0.0/8" or "2001:db8::/32""#),
        ("example.com", #"host names are not allowed here; expected an IP address or a CIDR prefix, like "10.0.0.0/8" or "2001:db8::/32""#),
        ("", #"the address is empty; expected an IP address or a CIDR prefix, like "10.0.0.0/8" or "2001:db8::/32""#),
    ])
    func badPrefixes(entry: String, message: String) {
        #expect(guardIssues(["deny = [\"10.9.9.9\", \"\(entry)\"]"]) == ["t.toml:2: guard.deny[1]: \(message)"])
        #expect(AddressPrefix(parsing: entry) == nil)
    }

    @Test func prefixListsReportEachElementAtItsLine() {
        #expect(guardIssues([
            "allow = [",
            #"  "10.0.0.0/8","#,
            "  8,",
            #"  "10.0.0.0/8","#,
            #"  "192.168.1.7","#,
            #"  "192.168.1.7/32","#,
            #"  "10.0.0.1/8","#,
            "]",
        ]) == [
            #"t.toml:4: guard.allow[1]: expected a string like "10.0.0.0/8", got the integer 8"#,
            "t.toml:5: guard.allow[2]: 10.0.0.0/8 is listed twice (first on line 3)",
            "t.toml:7: guard.allow[4]: 192.168.1.7/32 is listed twice (first on line 6)",
            "t.toml:8: guard.allow[5]: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?",
        ])
    }

    @Test func addressPrefixParsing() {
        #expect(AddressPrefix(parsing: "10.0.0.0/8") == AddressPrefix(bytes: [10, 0, 0, 0], length: 8))
        #expect(AddressPrefix(parsing: "192.168.1.7") == AddressPrefix(bytes: [192, 168, 1, 7], length: 32))
        #expect(AddressPrefix(parsing: "::1") == AddressPrefix(bytes: Array(repeating: 0, count: 15) + [1], length: 128))
        #expect(AddressPrefix(parsing: "2001:DB8::/32")?.description == "2001:db8::/32")
        #expect(AddressPrefix(parsing: "0.0.0.0/0")?.description == "0.0.0.0/0")
        #expect(AddressPrefix(parsing: "10.0.0.1/8") == nil)
    }

    // MARK: dry_run

    @Test func dryRunErrors() {
        #expect(guardIssues([#"dry_run = ["load", "loads", 3, "load"]"#]) == [
            #"t.toml:2: guard.dry_run[1]: unknown dry_run entry "loads"; supported: max_connections, listener_max_connections, per_ip, load, memory, swap, packet_rate, byte_rate, buffers, idle_timeout, frame_timeout, max_frame"#,
            #"t.toml:2: guard.dry_run[2]: expected a string, one of "max_connections", "listener_max_connections", "per_ip", "load", "memory", "swap", "packet_rate", "byte_rate", "buffers", "idle_timeout", "frame_timeout", "max_frame", got the integer 3"#,
            #"t.toml:2: guard.dry_run[3]: "load" is listed twice (first on line 2)"#,
        ])
    }

    // MARK: soft and hard rates

    @Test(arguments: [
        (["packet_rate_soft = 100", "packet_rate_hard = 50"],
         "t.toml:3: guard.packet_rate_hard: must be at least packet_rate_soft (100), got 50"),
        (["packet_rate_hard = 50", "packet_rate_soft = 100"],
         "t.toml:2: guard.packet_rate_hard: must be at least packet_rate_soft (100), got 50"),
        (["byte_rate_soft = \"1MiB\"", "byte_rate_hard = \"512KiB\""],
         "t.toml:3: guard.byte_rate_hard: must be at least byte_rate_soft (1MiB), got 512KiB"),
    ])
    func hardBelowSoftInGuard(lines: [String], expected: String) {
        #expect(guardIssues(lines) == [expected])
    }

    @Test func listenerRatesAreCheckedWithWhatTheyInherit() {
        let framed = "framing = \"u16be\""
        // Both in the listener.
        #expect(issues(text(listeners: [[framed, "packet_rate_soft = 100", "packet_rate_hard = 50"]]))
            == ["t.toml:9: listener[0].packet_rate_hard: must be at least packet_rate_soft (100), got 50"])
        // Hard in the listener, soft from [guard].
        #expect(issues(text(guard: ["packet_rate_soft = 100"], listeners: [[framed, "packet_rate_hard = 50"]]))
            == ["t.toml:9: listener[0].packet_rate_hard: must be at least [guard].packet_rate_soft (100), got 50"])
        // Soft in the listener, hard from [guard].
        #expect(issues(text(guard: ["byte_rate_hard = \"1MiB\""], listeners: [["byte_rate_soft = \"2MiB\""]]))
            == ["t.toml:8: listener[0].byte_rate_soft: must be at most [guard].byte_rate_hard (1MiB), got 2MiB"])
        // Wrong in [guard] only: reported there once, not again at each listener.
        #expect(issues(text(guard: ["byte_rate_soft = 200", "byte_rate_hard = 100"], listeners: [[], []]))
            == ["t.toml:3: guard.byte_rate_hard: must be at least byte_rate_soft (200), got 100"])
        // A listener switching the soft limit off settles it.
        #expect(issues(text(guard: ["packet_rate_hard = 100"], listeners: [[framed, "packet_rate_soft = 0"], [framed]])) == [])
        #expect(issues(text(guard: ["packet_rate_soft = 100"], listeners: [[framed, "packet_rate_hard = 100"]])) == [])
    }

    /// A listener key that is written but invalid does not fall back to [guard]'s value.
    @Test func anInvalidOverrideIsReportedAlone() {
        #expect(issues(text(guard: ["byte_rate_soft = 100"], listeners: [["byte_rate_hard = -5"]]))
            == ["t.toml:8: listener[0].byte_rate_hard: must be between 0 and 4GiB, got -5"])
    }

    // MARK: listener overrides and inheritance

    @Test func listenersInheritAndOverride() throws {
        let config = try ConfigParser.parse(text: text(
            guard: ["idle_timeout = \"1m\"", "packet_rate_soft = 100", "packet_rate_hard = 200", "keepalive_idle = \"30s\"",
                    "max_send_buffer = \"2MiB\""],
            listeners: [
                [],
                ["framing = \"line\"", "max_connections = 500", "idle_timeout = \"0s\"", "packet_rate_hard = 0",
                 "max_frame = \"1KiB\"", "frame_timeout = \"2s\"", "byte_rate_soft = 1000", "byte_rate_hard = 2000",
                 "max_receive_buffer = 4096", "max_send_buffer = \"8KiB\"",
                 "tcp_defer_accept = \"3s\"", "keepalive_idle = \"0s\"", "keepalive_interval = \"1s\"", "keepalive_count = 2"],
                ["framing = \"u32be\"", "keepalive_count = 9"],
            ]), file: "t.toml")
        let guardLimits = ConnectionLimits(
            maxFrameBytes: 65536, idleTimeout: .seconds(60), frameTimeout: .seconds(30), packetRateSoft: 100,
            packetRateHard: 200, byteRateSoft: nil, byteRateHard: nil, maxReceiveBufferBytes: 65536,
            maxSendBufferBytes: 2 * mebibyte)
        let guardTCP = TCPOptions(deferAccept: nil, keepAliveIdle: .seconds(30), keepAliveInterval: .seconds(10), keepAliveCount: 5)
        #expect(config.guardConfig.connection == guardLimits)
        #expect(config.guardConfig.tcp == guardTCP)

        #expect(config.listeners[0].framing == Framing.stream)
        #expect(config.listeners[0].maxConnections == 0)
        #expect(config.listeners[0].limits == guardLimits)
        #expect(config.listeners[0].tcp == guardTCP)

        #expect(config.listeners[1] == ListenerConfig(
            name: "l1", bind: .ipv4(127, 0, 0, 1, port: 7001), mode: .tcp, backend: "b", backlog: 1024,
            framing: .line, maxConnections: 500,
            limits: ConnectionLimits(
                maxFrameBytes: 1024, idleTimeout: nil, frameTimeout: .seconds(2), packetRateSoft: 100, packetRateHard: nil,
                byteRateSoft: 1000, byteRateHard: 2000, maxReceiveBufferBytes: 4096, maxSendBufferBytes: 8192),
            tcp: TCPOptions(deferAccept: .seconds(3), keepAliveIdle: nil, keepAliveInterval: .seconds(1), keepAliveCount: 2),
            line: 12))

        var third = guardTCP
        third.keepAliveCount = 9
        #expect(config.listeners[2].framing == .u32be)
        #expect(config.listeners[2].limits == guardLimits)
        #expect(config.listeners[2].tcp == third)
    }

    @Test func listenerFramingAndMaxConnectionsErrors() {
        #expect(issues(text(listeners: [["framing = \"u8\""]]))
            == [#"t.toml:7: listener[0].framing: unknown framing "u8"; supported: none, u16be, u32be, line"#])
        #expect(issues(text(listeners: [["framing = 2"]]))
            == [#"t.toml:7: listener[0].framing: expected a string, one of "none", "u16be", "u32be", "line", got the integer 2"#])
        #expect(issues(text(listeners: [["max_connections = -1"]]))
            == ["t.toml:7: listener[0].max_connections: must be between 0 and 16777216, got -1"])
        #expect(issues(text(listeners: [["keepalive_count = 200"]]))
            == ["t.toml:7: listener[0].keepalive_count: must be between 1 and 127, got 200"])
        #expect(issues(text(listeners: [["load_clear = 1"]])).first?.hasPrefix(
            #"t.toml:7: listener[0].load_clear: unknown key "load_clear" in [[listener]]; known keys: name, bind, mode, backend, backlog, framing, max_connections, backend_connect, max_frame, "#) == true)
    }

    @Test func frameLimitsNeedFrames() {
        let message = #"has no effect with framing = "none" (a byte stream has no frames); set framing to "u16be", "u32be" or "line", or remove"#
        #expect(issues(text(listeners: [["max_frame = \"1KiB\"", "frame_timeout = \"1s\"", "packet_rate_soft = 5", "packet_rate_hard = 9"]])) == [
            "t.toml:7: listener[0].max_frame: \(message) max_frame",
            "t.toml:8: listener[0].frame_timeout: \(message) frame_timeout",
            "t.toml:9: listener[0].packet_rate_soft: \(message) packet_rate_soft",
            "t.toml:10: listener[0].packet_rate_hard: \(message) packet_rate_hard",
        ])
        #expect(issues(text(listeners: [["framing = \"none\"", "frame_timeout = \"1s\""]]))
            == ["t.toml:8: listener[0].frame_timeout: \(message) frame_timeout"])
        // Switching them off, byte limits, and [guard]'s frame limits are fine on a byte stream.
        #expect(issues(text(guard: ["packet_rate_soft = 10", "max_frame = 100"],
                            listeners: [["frame_timeout = \"0s\"", "packet_rate_soft = 0", "byte_rate_hard = 10"]])) == [])
    }

    // MARK: the open-file budget

    @Test func maxConnectionsMustFitInMaxFiles() {
        // 1 listener, 1 server: 32 + 2 + 1 = 35 reserved; 3 files per relayed connection.
        #expect(issues(text(guard: ["max_files = 20000", "max_connections = 10000"], listeners: [[]])) == [
            "t.toml:3: guard.max_connections: 10000 connections need 30035 open files (socket, timerfd and backend socket each, plus 35 reserved), more than guard.max_files (20000)",
        ])
        #expect(issues(text(guard: ["max_files = 20000", "max_connections = 6655"], listeners: [[]])) == [])
        #expect(issues(text(guard: ["max_files = 20000", "max_connections = 6656"], listeners: [[]])) == [
            "t.toml:3: guard.max_connections: 6656 connections need 20003 open files (socket, timerfd and backend socket each, plus 35 reserved), more than guard.max_files (20000)",
        ])
        // The reserve grows with listeners and backend servers: 32 + 2 * 2 + 3 = 39.
        let text = """
            [guard]
            max_connections = 1000
            max_files = 3000
            [[listener]]
            name = "a"
            bind = "127.0.0.1:7000"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "c"
            bind = "127.0.0.1:7001"
            mode = "tcp"
            backend = "b"
            [[backend]]
            name = "b"
            servers = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
            """
        #expect(issues(text) == [
            "t.toml:2: guard.max_connections: 1000 connections need 3039 open files (socket, timerfd and backend socket each, plus 39 reserved), more than guard.max_files (3000)",
        ])
    }

    @Test func theDefaultsHaveNoBudgetToCheck() {
        // max_connections 0 and listeners without a cap: unlimited, so nothing to compare.
        #expect(issues(text(guard: ["max_files = 64"], listeners: [[], ["max_connections = 100000"]])) == [])
    }

    @Test func listenerCapsAreBoundByTheBudgetWhenEveryListenerHasOne() {
        // 32 + 2 * 2 + 1 = 37 reserved.
        let twoCapped = [["max_connections = 4000"], ["max_connections = 4000"]]
        let expected = "listener[1].max_connections: the listeners' max_connections add up to 8000 connections, which need 24037 open files (socket, timerfd and backend socket each, plus 37 reserved), more than guard.max_files (20000)"
        #expect(issues(text(guard: ["max_files = 20000"], listeners: twoCapped)) == ["t.toml:14: " + expected])
        // A larger global cap does not hide it: the listeners' sum is the real bound.
        #expect(issues(text(guard: ["max_files = 20000", "max_connections = 100000"], listeners: twoCapped)) == ["t.toml:15: " + expected])
        // A smaller global cap is the real bound, and it fits.
        #expect(issues(text(guard: ["max_files = 20000", "max_connections = 5000"], listeners: twoCapped)) == [])
        #expect(issues(text(guard: ["max_files = 20000"], listeners: [["max_connections = 3000"], ["max_connections = 3000"]])) == [])
    }
}
