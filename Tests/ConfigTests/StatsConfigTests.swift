import Config
import Testing

/// A valid listener and backend to put after the `[[stats]]` tables under test.
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

/// `[[stats]]` tables from line 1, each its header line and then its key lines, then a valid rest.
private func statsText(_ tables: [[String]]) -> String {
    tables.map { (["[[stats]]"] + $0).joined(separator: "\n") + "\n" }.joined() + listenerAndBackend
}

private func statsIssues(_ tables: [[String]]) -> [String] {
    issues(statsText(tables))
}

/// One `[[stats]]` on line 1 with its socket on line 2 and `keyValue` on line 3.
private func statsIssues(_ keyValue: String) -> [String] {
    statsIssues([[#"socket = "/tmp/a.sock""#, keyValue]])
}

private func stats(_ tables: [[String]]) throws -> [StatsSocketConfig] {
    try ConfigParser.parse(text: statsText(tables), file: "t.toml").stats
}

@Suite("Config: [[stats]] sockets")
struct StatsConfigTests {
    // MARK: defaults and the model

    @Test func defaults() throws {
        #expect(try stats([]) == [])
        #expect(try stats([[#"socket = "/run/bulwark/admin.sock""#]]) == [StatsSocketConfig(
            path: "/run/bulwark/admin.sock", mode: 0o600, user: nil, group: nil, level: .user, maxClients: 16, line: 1)])
        #expect(StatsSocketConfig.defaultMode == 0o600)
        #expect(StatsSocketConfig.defaultLevel == .user)
        #expect(StatsSocketConfig.defaultMaxClients == 16)
        #expect(StatsSocketConfig.maxPathBytes == 107)
        #expect(StatsSocketConfig(path: "/s") == StatsSocketConfig(path: "/s", mode: 0o600, level: .user, maxClients: 16))
        // Existing call sites of the memberwise init need no stats.
        #expect(GatewayConfig(file: "f", server: .defaults, log: .defaults, listeners: [], backends: []).stats == [])
    }

    @Test func everyKeySetAndSeveralSockets() throws {
        let sockets = try stats([
            [#"socket = "/run/bulwark/admin.sock""#, #"mode = "0660""#, #"user = "bulwark""#, #"group = "1000""#,
             #"level = "admin""#, "max_clients = 1024"],
            [#"socket = "/run/bulwark/ops.sock""#, #"level = "operator""#, "max_clients = 1"],
            [#"socket = "/tmp/ro.sock""#, #"mode = "666""#, #"user = "0""#, #"group = "www-data""#],
        ])
        #expect(sockets == [
            StatsSocketConfig(path: "/run/bulwark/admin.sock", mode: 0o660, user: "bulwark", group: "1000",
                              level: .admin, maxClients: 1024, line: 1),
            StatsSocketConfig(path: "/run/bulwark/ops.sock", level: .operator, maxClients: 1, line: 8),
            StatsSocketConfig(path: "/tmp/ro.sock", mode: 0o666, user: "0", group: "www-data", line: 12),
        ])
    }

    // MARK: level

    @Test func levelsAreOrderedByPrivilege() {
        #expect(StatsLevel.allCases == [.user, .operator, .admin])
        #expect(StatsLevel.user < .operator)
        #expect(StatsLevel.operator < .admin)
        #expect(StatsLevel.user < .admin)
        #expect(!(StatsLevel.admin < .admin))
        #expect(StatsLevel.admin >= .operator)
        #expect(!(StatsLevel.user >= .operator))
        #expect([StatsLevel.admin, .user, .operator].sorted() == [.user, .operator, .admin])
        #expect(StatsLevel.allCases.map(\.rawValue) == ["user", "operator", "admin"])
    }

    @Test(arguments: [
        (#"level = "root""#, #"unknown level "root"; supported: user, operator, admin"#),
        (#"level = "Admin""#, #"unknown level "Admin"; supported: user, operator, admin"#),
        ("level = 2", #"expected a string, one of "user", "operator", "admin", got the integer 2"#),
    ])
    func badLevel(keyValue: String, message: String) {
        #expect(statsIssues(keyValue) == ["t.toml:3: stats[0].level: \(message)"])
    }

    // MARK: mode

    /// 3 or 4 octal digits in a string, as chmod(1) takes them.
    @Test(arguments: [
        ("0600", 0o600), ("660", 0o660), ("0660", 0o660), ("0640", 0o640), ("755", 0o755), ("0777", 0o777),
        ("0000", 0), ("000", 0),
    ] as [(String, UInt32)])
    func goodMode(text: String, mode: UInt32) throws {
        #expect(try stats([[#"socket = "/tmp/a.sock""#, "mode = \"\(text)\""]]).first?.mode == mode)
    }

    /// A "0o" prefix and integers are refused: one way to write a mode, never read as decimal.
    @Test(arguments: [
        (#"mode = "0o600""#, #"invalid mode "0o600"; write the octal digits without a prefix, like "0600""#),
        (#"mode = "0O660""#, #"invalid mode "0O660"; write the octal digits without a prefix, like "0600""#),
        (#"mode = "0800""#, #"invalid mode "0800"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = "0609""#, #"invalid mode "0609"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = "60""#, #"invalid mode "60"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = "00600""#, #"invalid mode "00600"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = """#, #"invalid mode ""; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = " 600""#, #"invalid mode " 600"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = "rw-""#, #"invalid mode "rw-"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#),
        (#"mode = "1777""#, #"mode "1777" sets setuid, setgid or sticky bits; use at most "0777""#),
        (#"mode = "4600""#, #"mode "4600" sets setuid, setgid or sticky bits; use at most "0777""#),
        ("mode = 600", #"expected a string of octal digits like "0600", got the integer 600 (octal 1130): write the mode as a string, like "0600""#),
        ("mode = 0o600", #"expected a string of octal digits like "0600", got the integer 384 (octal 0600): write the mode as a string, like "0600""#),
        ("mode = -1", #"expected a string of octal digits like "0600", got the integer -1: write the mode as a string, like "0600""#),
        ("mode = true", #"expected a string of octal digits like "0600", got the boolean true"#),
    ])
    func badMode(keyValue: String, message: String) {
        #expect(statsIssues(keyValue) == ["t.toml:3: stats[0].mode: \(message)"])
    }

    // MARK: socket

    @Test func socketIsRequired() {
        #expect(statsIssues([[#"level = "admin""#]]) == [#"t.toml:1: stats[0].socket: required key "socket" is missing in [[stats]]"#])
    }

    @Test(arguments: [
        (#"socket = "bulwark.sock""#, #"must be an absolute path (starting with "/"), got "bulwark.sock""#),
        (#"socket = "./run/bulwark.sock""#, #"must be an absolute path (starting with "/"), got "./run/bulwark.sock""#),
        (#"socket = """#, #"must be an absolute path (starting with "/"), got """#),
        (#"socket = "/run/bulwark/""#, #"must name a file, not a directory: "/run/bulwark/" ends with "/""#),
        (#"socket = "/tmp/a\u0000b""#, "must not contain a NUL character"),
        ("socket = 1", #"expected a string like "/run/bulwark/admin.sock", got the integer 1"#),
    ])
    func badSocket(keyValue: String, message: String) {
        #expect(statsIssues([[keyValue]]) == ["t.toml:2: stats[0].socket: \(message)"])
    }

    /// sockaddr_un holds 108 bytes with the NUL: 107 fit, 108 do not (bytes, not characters).
    @Test func socketPathLength() throws {
        let fits = "/tmp/" + String(repeating: "s", count: 102)
        #expect(fits.utf8.count == 107)
        #expect(try stats([["socket = \"\(fits)\""]]).first?.path == fits)
        #expect(statsIssues([["socket = \"\(fits)x\""]]) == [
            "t.toml:2: stats[0].socket: is 108 bytes long; a Unix socket path holds at most 107",
        ])
        let wide = "/tmp/" + String(repeating: "é", count: 52)  // 5 + 104 bytes
        #expect(statsIssues([["socket = \"\(wide)\""]]) == [
            "t.toml:2: stats[0].socket: is 109 bytes long; a Unix socket path holds at most 107",
        ])
    }

    @Test func duplicateSocketPathsNameTheFirstLine() {
        #expect(statsIssues([
            [#"socket = "/tmp/a.sock""#],
            [#"socket = "/tmp/b.sock""#],
            [#"level = "admin""#, #"socket = "/tmp/a.sock""#],
            [#"socket = "/tmp//./a.sock""#],
        ]) == [
            #"t.toml:7: stats[2].socket: duplicate stats socket path "/tmp/a.sock" (first defined on line 2)"#,
            #"t.toml:9: stats[3].socket: duplicate stats socket path "/tmp//./a.sock" (first defined on line 2)"#,
        ])
    }

    // MARK: user and group

    @Test(arguments: ["bulwark", "www-data", "adm", "_bulwark", "svc.bulwark", "host$", "0", "1000", "4294967294"])
    func goodOwner(name: String) throws {
        let socket = try stats([[#"socket = "/tmp/a.sock""#, "user = \"\(name)\"", "group = \"\(name)\""]]).first
        #expect(socket?.user == name)
        #expect(socket?.group == name)
    }

    @Test(arguments: [
        (#"user = """#, "user", "must not be empty"),
        (#"group = "a b""#, "group", #"invalid group "a b"; use a name of letters, digits, "_", "." and "-", or a numeric id like "1000""#),
        (#"user = "-r""#, "user", #"invalid user "-r"; use a name of letters, digits, "_", "." and "-", or a numeric id like "1000""#),
        (#"user = "root:root""#, "user", #"invalid user "root:root"; use a name of letters, digits, "_", "." and "-", or a numeric id like "1000""#),
        (#"group = "$""#, "group", #"invalid group "$"; use a name of letters, digits, "_", "." and "-", or a numeric id like "1000""#),
        (#"user = "4294967295""#, "user", "user id 4294967295 is out of range; ids are 0...4294967294"),
        (#"group = "99999999999""#, "group", "group id 99999999999 is out of range; ids are 0...4294967294"),
        ("user = 1000", "user", #"expected a string, a name or a numeric id like "1000", got the integer 1000"#),
    ])
    func badOwner(keyValue: String, key: String, message: String) {
        #expect(statsIssues(keyValue) == ["t.toml:3: stats[0].\(key): \(message)"])
    }

    // MARK: max_clients and the table itself

    @Test(arguments: [
        ("max_clients = 0", "must be between 1 and 1024, got 0"),
        ("max_clients = 1025", "must be between 1 and 1024, got 1025"),
        (#"max_clients = "16""#, #"expected an integer, got the string "16""#),
    ])
    func badMaxClients(keyValue: String, message: String) {
        #expect(statsIssues(keyValue) == ["t.toml:3: stats[0].max_clients: \(message)"])
    }

    @Test func unknownKeysAndShape() {
        #expect(statsIssues([[#"socket = "/tmp/a.sock""#, #"path = "/tmp/b.sock""#]]) == [
            #"t.toml:3: stats[0].path: unknown key "path" in [[stats]]; known keys: socket, mode, user, group, level, max_clients, idle_timeout, metrics_bind"#,
        ])
        #expect(issues("stats = 1\n" + listenerAndBackend) == [
            "t.toml:1: stats: must be an array of tables: write [[stats]] before each entry",
        ])
    }

    /// A lone `[stats]` table is one stats socket (the way the HAProxy-minded write it).
    @Test func aSingleStatsTableIsOneSocket() throws {
        let config = try ConfigParser.parse(text: "[stats]\nsocket = \"/tmp/a.sock\"\nmetrics_bind = \"127.0.0.1:9145\"\nidle_timeout = \"5s\"\n"
                                            + listenerAndBackend, file: "t.toml")
        #expect(config.stats.map(\.path) == ["/tmp/a.sock"])
        #expect(config.stats.first?.metricsBind == .ipv4(127, 0, 0, 1, port: 9145))
        #expect(config.stats.first?.idleTimeout == .seconds(5))
    }

    @Test func metricsBindIsCheckedLikeAListenerAddress() {
        #expect(statsIssues([[#"socket = "/tmp/a.sock""#, #"metrics_bind = "localhost:9145""#]]).first?
            .hasPrefix("t.toml:3: stats[0].metrics_bind: ") == true)
        let clash = issues("[[stats]]\nsocket = \"/tmp/a.sock\"\nmetrics_bind = \"127.0.0.1:7000\"\n"
                           + listenerAndBackend)
        #expect(clash.contains { $0.contains("metrics_bind: address 127.0.0.1:7000 is already bound by listener") }, "\(clash)")
        #expect(statsIssues([[#"socket = "/tmp/a.sock""#, #"idle_timeout = "0s""#]]).first?
            .hasPrefix("t.toml:3: stats[0].idle_timeout: ") == true)
    }

    /// Every error of every socket is reported at once, by line.
    @Test func everyErrorAtOnce() {
        #expect(statsIssues([
            [#"socket = "a.sock""#, #"mode = "0800""#],
            [#"level = "root""#, "max_clients = 0"],
        ]) == [
            #"t.toml:2: stats[0].socket: must be an absolute path (starting with "/"), got "a.sock""#,
            #"t.toml:3: stats[0].mode: invalid mode "0800"; use 3 or 4 octal digits (0-7), like "0600" or "0660""#,
            #"t.toml:4: stats[1].socket: required key "socket" is missing in [[stats]]"#,
            #"t.toml:5: stats[1].level: unknown level "root"; supported: user, operator, admin"#,
            "t.toml:6: stats[1].max_clients: must be between 1 and 1024, got 0",
        ])
    }

    /// Each stats socket holds its listening socket and up to max_clients clients: 17 files by
    /// default, on top of 32 + 2 (one listener) + 1 (one server).
    @Test func statsClientsCountInTheFileBudget() {
        let guardSection = "[guard]\nmax_files = 20000\nmax_connections = 6655\n"
        #expect(issues(guardSection + listenerAndBackend) == [])
        #expect(issues(guardSection + statsText([[#"socket = "/tmp/a.sock""#]])) == [
            "t.toml:3: guard.max_connections: 6655 connections need 20017 open files (socket, timerfd and backend socket each, plus 52 reserved), more than guard.max_files (20000)",
        ])
        #expect(issues("[guard]\nmax_files = 20060\nmax_connections = 6655\n" + statsText([
            [#"socket = "/tmp/a.sock""#], [#"socket = "/tmp/b.sock""#, "max_clients = 40"],
        ])) == [])
    }
}
