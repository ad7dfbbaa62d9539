import Config
import Foundation
import Testing

/// A valid listener and backend (9 lines) to put after the section under test.
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

/// `[server]` with one key on line 2, then a valid rest.
private func serverIssues(_ keyValue: String) -> [String] {
    issues("[server]\n\(keyValue)\n\n" + listenerAndBackend)
}

/// One listener (keys on lines 2...) whose key/value lines are given, then a valid backend
/// starting on the line after them plus one blank line.
private func listenerIssues(_ keyValues: [String]) -> [String] {
    issues((["[[listener]]"] + keyValues).joined(separator: "\n") + "\n\n[[backend]]\nname = \"b\"\nservers = [\"127.0.0.1:7001\"]\n")
}

private let validListenerKeys = ["name = \"a\"", "bind = \"127.0.0.1:7000\"", "mode = \"tcp\"", "backend = \"b\""]

/// The valid listener's keys with one replaced (or added), in the given position.
private func listenerKeys(replacing name: String, with line: String) -> [String] {
    var keys = validListenerKeys
    if let index = keys.firstIndex(where: { $0.hasPrefix(name + " =") }) {
        keys[index] = line
    } else {
        keys.append(line)
    }
    return keys
}

@Suite("Config: every error names file, line and key")
struct ConfigValidationTests {
    // MARK: [server]

    @Test(arguments: [
        ("workers = 0", #"must be between 1 and 1024 (or "auto"), got 0"#),
        ("workers = 1025", #"must be between 1 and 1024 (or "auto"), got 1025"#),
        ("workers = -1", #"must be between 1 and 1024 (or "auto"), got -1"#),
        (#"workers = "four""#, #"expected an integer or "auto", got the string "four""#),
        (#"workers = "2""#, #"expected an integer or "auto", got the string "2""#),
        ("workers = 2.5", #"expected an integer or "auto", got the float 2.5"#),
    ])
    func workers(keyValue: String, message: String) {
        #expect(serverIssues(keyValue) == ["t.toml:2: server.workers: \(message)"])
    }

    @Test(arguments: [
        (#"high_water = "12x""#, #"invalid size "12x"; use a number of bytes, or a number with KiB, MiB or GiB, like "256KiB""#),
        (#"high_water = "1.5MiB""#, #"invalid size "1.5MiB"; use a number of bytes, or a number with KiB, MiB or GiB, like "256KiB""#),
        (#"high_water = "2GiB""#, "must be between 1 and 1GiB, got 2GiB"),
        ("high_water = 0", "must be between 1 and 1GiB, got 0"),
        ("high_water = -5", "must be between 1 and 1GiB, got -5"),
        ("high_water = true", #"expected an integer number of bytes or a string like "256KiB", got the boolean true"#),
    ])
    func highWater(keyValue: String, message: String) {
        #expect(serverIssues(keyValue) == ["t.toml:2: server.high_water: \(message)"])
    }

    @Test func unknownKeyInServer() {
        #expect(serverIssues("wrkers = 2")
            == [#"t.toml:2: server.wrkers: unknown key "wrkers" in [server]; known keys: workers, high_water, node_id, drain_timeout, start_timeout, upgrade_probation, user, group"#])
    }

    @Test func subTableOfAKnownSectionIsAnUnknownKey() {
        #expect(issues("[server.extra]\nx = 1\n\n" + listenerAndBackend)
            == [#"t.toml:1: server.extra: unknown key "extra" in [server]; known keys: workers, high_water, node_id, drain_timeout, start_timeout, upgrade_probation, user, group"#])
    }

    // MARK: [log]

    @Test func logLevel() {
        #expect(issues("[log]\nlevel = \"verbose\"\n" + listenerAndBackend)
            == [#"t.toml:2: log.level: unknown level "verbose"; supported: trace, debug, info, notice, warning, error, critical"#])
        #expect(issues("[log]\nlevel = 3\n" + listenerAndBackend)
            == [#"t.toml:2: log.level: expected a string, one of "trace", "debug", "info", "notice", "warning", "error", "critical", got the integer 3"#])
        #expect(issues("[log]\nlevel = \"notice\"\n" + listenerAndBackend) == [])
    }

    // MARK: top level

    @Test func unknownTopLevelTablesAndKeys() {
        #expect(issues("[foo]\nx = 1\n" + listenerAndBackend)
            == ["t.toml:1: foo: unknown table [foo]; known tables: [server], [log], [guard], [[listener]], [[backend]], [[stats]]"])
        #expect(issues(listenerAndBackend + "[[foo]]\n")
            == ["t.toml:10: foo: unknown table [[foo]]; known tables: [server], [log], [guard], [[listener]], [[backend]], [[stats]]"])
        #expect(issues("workers = 2\n" + listenerAndBackend)
            == ["t.toml:1: workers: unknown top-level key; keys belong in a table: [server], [log], [guard], [[listener]], [[backend]], [[stats]]"])
    }

    @Test func sectionsInTheWrongShape() {
        #expect(issues("[[server]]\nworkers = 2\n" + listenerAndBackend)
            == ["t.toml:1: server: must be a table: write [server] on a line of its own, then its keys"])
        #expect(issues("[listener]\nname = \"a\"\n")
            == ["t.toml:1: listener: must be an array of tables: write [[listener]] before each entry"])
        #expect(issues("log = \"info\"\n" + listenerAndBackend)
            == ["t.toml:1: log: must be a table: write [log] on a line of its own, then its keys"])
    }

    @Test func noListenerAtAll() {
        #expect(issues("") == ["t.toml:1: listener: no [[listener]] is defined; at least one is required"])
        #expect(issues("[[backend]]\nname = \"b\"\nservers = [\"127.0.0.1:7001\"]\n")
            == ["t.toml:1: listener: no [[listener]] is defined; at least one is required"])
    }

    // MARK: [[listener]]

    @Test func requiredListenerKeysAreReportedAtTheHeader() {
        #expect(listenerIssues(["name = \"a\""]) == [
            #"t.toml:1: listener[0].bind: required key "bind" is missing in [[listener]]"#,
            #"t.toml:1: listener[0].mode: required key "mode" is missing in [[listener]]"#,
            #"t.toml:1: listener[0].backend: required key "backend" is missing in [[listener]]"#,
        ])
    }

    @Test(arguments: [
        (#"mode = "mux""#, 4, "listener[0].framing", #"mode "mux" needs framing "u16be", "u32be" or "line": each client frame becomes one DATA message"#),
        (#"backend_connect = "later""#, 6, "listener[0].backend_connect", #"unknown backend_connect "later"; supported: accept, first_data"#),
        (#"mode = "udp""#, 4, "listener[0].mode", #"unknown mode "udp"; supported: tcp, mux"#),
        ("mode = true", 4, "listener[0].mode", #"expected a string, one of "tcp", "mux", got the boolean true"#),
        (#"bind = "localhost:7000""#, 3, "listener[0].bind",
         #"a host name cannot be bound; use an IP literal, like "0.0.0.0:7000" or "[::]:7000""#),
        (#"bind = "127.0.0.1""#, 3, "listener[0].bind", #"missing port; expected "IP:port", like "127.0.0.1:7000""#),
        (#"bind = "127.0.0.1:70000""#, 3, "listener[0].bind", #"invalid port "70000"; expected a number 0...65535"#),
        (#"bind = "::1:7000""#, 3, "listener[0].bind", #"an IPv6 address needs brackets around it, like "[::1]:7000""#),
        (#"bind = "[::g]:7000""#, 3, "listener[0].bind", #"invalid IPv6 address "::g""#),
        (#"bind = "256.0.0.1:7000""#, 3, "listener[0].bind", #"invalid IPv4 address "256.0.0.1""#),
        ("bind = 7000", 3, "listener[0].bind", #"expected a string like "127.0.0.1:7000", got the integer 7000"#),
        (#"name = "a b""#, 2, "listener[0].name", #"invalid name "a b"; use only letters, digits, "_", "." and "-""#),
        (#"name = """#, 2, "listener[0].name", "must not be empty"),
        ("name = 5", 2, "listener[0].name", "expected a string, got the integer 5"),
        ("backlog = 0", 6, "listener[0].backlog", "must be between 1 and 65535, got 0"),
        ("backlog = 65536", 6, "listener[0].backlog", "must be between 1 and 65535, got 65536"),
        (#"backlog = "1024""#, 6, "listener[0].backlog", #"expected an integer, got the string "1024""#),
        ("backend = 1", 5, "listener[0].backend", #"expected a string naming a [[backend]], got the integer 1"#),
        (#"backend = "nope""#, 5, "listener[0].backend", #"backend "nope" is not defined; defined backends: "b""#),
        ("port = 7000", 6, "listener[0].port", #"unknown key "port" in [[listener]]; known keys: name, bind, mode, backend, backlog, framing, max_connections, backend_connect, max_frame, idle_timeout, frame_timeout, packet_rate_soft, packet_rate_hard, byte_rate_soft, byte_rate_hard, max_receive_buffer, max_send_buffer, tcp_defer_accept, keepalive_idle, keepalive_interval, keepalive_count"#),
    ])
    func listenerValues(keyValue: String, line: Int, key: String, message: String) {
        let name = String(keyValue.prefix { $0 != " " })
        #expect(listenerIssues(listenerKeys(replacing: name, with: keyValue)) == ["t.toml:\(line): \(key): \(message)"])
    }

    @Test func firstDataIsRefusedOnAMuxListener() {
        let keys = validListenerKeys.map { $0.hasPrefix("mode") ? #"mode = "mux""# : $0 }
            + [#"framing = "u16be""#, #"backend_connect = "first_data""#]
        #expect(listenerIssues(keys) == [
            #"t.toml:7: listener[0].backend_connect: backend_connect "first_data" applies to mode "tcp"; mux sessions share the backend's persistent connections"#,
        ])
    }

    @Test func listenerNamingABackendWhenThereAreNone() {
        #expect(issues("[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:7000\"\nmode = \"tcp\"\nbackend = \"b\"\n")
            == [#"t.toml:5: listener[0].backend: backend "b" is not defined; no [[backend]] is defined"#])
    }

    @Test func backendWithAnInvalidNameStillCountsAsDefined() {
        let text = listenerAndBackend.replacingOccurrences(of: "backend = \"b\"", with: "backend = \"b b\"")
            .replacingOccurrences(of: "name = \"b\"", with: "name = \"b b\"")
        #expect(issues(text) == [#"t.toml:8: backend[0].name: invalid name "b b"; use only letters, digits, "_", "." and "-""#])
    }

    @Test func duplicateListenerNamesAndBindAddresses() {
        let text = """
            [[listener]]
            name = "a"
            bind = "127.0.0.1:7000"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "a"
            bind = "127.0.0.1:7000"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "c"
            bind = "*:7000"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "d"
            bind = "[::1]:7000"
            mode = "tcp"
            backend = "b"
            [[listener]]
            name = "e"
            bind = "[::]:7000"
            mode = "tcp"
            backend = "b"
            [[backend]]
            name = "b"
            servers = ["127.0.0.1:7001"]
            """
        #expect(issues(text) == [
            #"t.toml:7: listener[1].name: duplicate listener name "a" (first defined on line 2)"#,
            #"t.toml:8: listener[1].bind: address 127.0.0.1:7000 is already bound by listener "a" (line 3)"#,
            #"t.toml:13: listener[2].bind: address 0.0.0.0:7000 overlaps 127.0.0.1:7000 of listener "a" (line 3)"#,
            #"t.toml:23: listener[4].bind: address [::]:7000 overlaps [::1]:7000 of listener "d" (line 18)"#,
        ])
    }

    @Test func unknownKeyInTheSecondListener() {
        var text = listenerAndBackend
        text += "[[listener]]\nname = \"z\"\nbind = \"127.0.0.1:7002\"\nmode = \"tcp\"\nbackend = \"b\"\ntimeout = \"1s\"\n"
        #expect(issues(text)
            == [#"t.toml:15: listener[1].timeout: unknown key "timeout" in [[listener]]; known keys: name, bind, mode, backend, backlog, framing, max_connections, backend_connect, max_frame, idle_timeout, frame_timeout, packet_rate_soft, packet_rate_hard, byte_rate_soft, byte_rate_hard, max_receive_buffer, max_send_buffer, tcp_defer_accept, keepalive_idle, keepalive_interval, keepalive_count"#])
    }

    // MARK: [[backend]]

    @Test(arguments: [
        (#"servers = "127.0.0.1:7001""#, 3, "backend[0].servers", #"expected an array of strings like ["127.0.0.1:7001"], got the string "127.0.0.1:7001""#),
        ("servers = []", 3, "backend[0].servers", "must list at least one server"),
        (#"servers = ["127.0.0.1:0"]"#, 3, "backend[0].servers[0]", #"invalid port "0"; expected a number 1...65535"#),
        (#"servers = ["db..internal:5432"]"#, 3, "backend[0].servers[0]",
         #"host name "db..internal" has an empty label (two dots in a row, or a dot first)"#),
        ("connect_timeout = 3", 4, "backend[0].connect_timeout", #"expected a string like "3s", got the integer 3: a duration needs a unit"#),
        (#"connect_timeout = "3""#, 4, "backend[0].connect_timeout",
         #"invalid duration "3"; use a number with a unit (ns, us, ms, s, m, h), like "3s" or "250ms""#),
        (#"connect_timeout = "fast""#, 4, "backend[0].connect_timeout",
         #"invalid duration "fast"; use a number with a unit (ns, us, ms, s, m, h), like "3s" or "250ms""#),
        (#"connect_timeout = "2h""#, 4, "backend[0].connect_timeout", "must be between 1ms and 1h, got 2h"),
        (#"connect_timeout = "0s""#, 4, "backend[0].connect_timeout", "must be between 1ms and 1h, got 0s"),
        ("connect_timeout = 1.5", 4, "backend[0].connect_timeout", #"expected a string like "3s", got the float 1.5"#),
        ("weight = 3", 4, "backend[0].weight", #"unknown key "weight" in [[backend]]; known keys: name, servers, resolve_interval, connect_timeout, connections, pick_tries, heartbeat, reconnect_min, reconnect_max, backend_grace"#),
    ])
    func backendValues(keyValue: String, line: Int, key: String, message: String) {
        var lines = ["[[backend]]", "name = \"b\"", "servers = [\"127.0.0.1:7001\"]"]
        if keyValue.hasPrefix("servers") { lines[2] = keyValue } else { lines.append(keyValue) }
        let text = lines.joined(separator: "\n") + "\n\n[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:7000\"\nmode = \"tcp\"\nbackend = \"b\"\n"
        #expect(issues(text) == ["t.toml:\(line): \(key): \(message)"])
    }

    @Test func serverElementsReportTheirOwnLines() {
        let text = listenerAndBackend.replacingOccurrences(of: "servers = [\"127.0.0.1:7001\"]", with: """
            servers = [
              "127.0.0.1:7001",
              "[::1:7002",
              7003,
              "127.0.0.1:0",
              "127.0.0.1:7001",
            ]
            """)
        #expect(issues(text) == [
            #"t.toml:11: backend[0].servers[1]: missing "]" after the IPv6 address"#,
            #"t.toml:12: backend[0].servers[2]: expected a string like "127.0.0.1:7001", got the integer 7003"#,
            #"t.toml:13: backend[0].servers[3]: invalid port "0"; expected a number 1...65535"#,
            #"t.toml:14: backend[0].servers[4]: server 127.0.0.1:7001 is listed twice (first on line 10)"#,
        ])
    }

    @Test func requiredBackendKeysAndDuplicateNames() {
        let text = listenerAndBackend + """
            [[backend]]
            name = "b"
            servers = ["127.0.0.2:7001"]
            [[backend]]
            connect_timeout = "1s"
            """
        #expect(issues(text) == [
            #"t.toml:11: backend[1].name: duplicate backend name "b" (first defined on line 8)"#,
            #"t.toml:13: backend[2].name: required key "name" is missing in [[backend]]"#,
            #"t.toml:13: backend[2].servers: required key "servers" is missing in [[backend]]"#,
        ])
    }

    // MARK: all at once

    @Test func everyProblemIsCollectedAndSortedByLine() {
        let text = """
            [[backend]]
            name = "b"
            servers = ["10.0.0.1:99999"]
            connect_timeout = "soon"

            [server]
            workers = 0
            colour = "blue"

            [[listener]]
            name = "a"
            bind = "127.0.0.1:7000"
            mode = "mux"
            backend = "missing"

            [extra]
            """
        let expected = [
            #"f.toml:3: backend[0].servers[0]: invalid port "99999"; expected a number 1...65535"#,
            #"f.toml:4: backend[0].connect_timeout: invalid duration "soon"; use a number with a unit (ns, us, ms, s, m, h), like "3s" or "250ms""#,
            #"f.toml:7: server.workers: must be between 1 and 1024 (or "auto"), got 0"#,
            #"f.toml:8: server.colour: unknown key "colour" in [server]; known keys: workers, high_water, node_id, drain_timeout, start_timeout, upgrade_probation, user, group"#,
            #"f.toml:13: listener[0].framing: mode "mux" needs framing "u16be", "u32be" or "line": each client frame becomes one DATA message"#,
            #"f.toml:14: listener[0].backend: backend "missing" is not defined; defined backends: "b""#,
            "f.toml:16: extra: unknown table [extra]; known tables: [server], [log], [guard], [[listener]], [[backend]], [[stats]]",
        ]
        #expect(issues(text, file: "f.toml") == expected)
        do throws(ConfigErrors) {
            _ = try ConfigParser.parse(text: text, file: "f.toml")
            Issue.record("an invalid config was accepted")
        } catch {
            #expect(error.description == expected.joined(separator: "\n"))
            #expect(error.issues[2] == ConfigIssue(file: "f.toml", line: 7, key: "server.workers",
                                                   message: #"must be between 1 and 1024 (or "auto"), got 0"#))
        }
    }

    @Test func issueDescriptions() {
        #expect(ConfigIssue(file: "a.toml", line: 3, key: "server.workers", message: "bad").description
            == "a.toml:3: server.workers: bad")
        #expect(ConfigIssue(file: "a.toml", line: 3, key: "", message: "bad").description == "a.toml:3: bad")
        #expect(ConfigErrors(issues: [
            ConfigIssue(file: "a", line: 1, key: "k", message: "x"),
            ConfigIssue(file: "a", line: 2, key: "l", message: "y"),
        ]).description == "a:1: k: x\na:2: l: y")
    }
}
