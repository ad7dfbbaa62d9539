import Config
import Testing

/// A reload compares configs by value (issue 17, case 5): where a key sits in the file is not a
/// change; limits change live; listeners, backends and stats sockets need a new worker.
@Suite struct LiveChangesTests {
    func parse(_ text: String, file: String = "etc/bulwark.toml") throws -> GatewayConfig {
        try ConfigParser.parse(text: text, file: file)
    }

    /// Every line moves (a comment above each), the file is renamed: the same settings.
    @Test(arguments: [false, true])
    func commentsAndLineNumbersAreNotChanges(uncommentingExamples: Bool) throws {
        var text = try PackageFiles.read("etc/bulwark.toml")
        if uncommentingExamples {
            text = ShippedExamples(text).uncommented.replacingOccurrences(of: "framing = \"none\"", with: "framing = \"u16be\"")
        }
        let before = try parse(text)
        let moved = "# moved\n\n" + text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("[") ? "# a comment above the table\n\($0)" : "# a comment\n\($0)" }.joined(separator: "\n")
        let after = try parse(moved, file: "/etc/bulwark/other-name.toml")
        #expect(after.listeners.first?.line != before.listeners.first?.line, "the lines did move")
        #expect(after.backends.first?.serversLine != before.backends.first?.serversLine)
        #expect(LiveChanges.isUnchanged(from: before, to: after))
        #expect(LiveChanges.restartOnly(from: before, to: after) == [])
    }

    @Test func limitsAndTheMastersTimesChangeLive() throws {
        let text = try PackageFiles.read("etc/bulwark.toml")
        let before = try parse(text)
        let after = try parse(text.replacingOccurrences(of: "idle_timeout = \"5m\"", with: "idle_timeout = \"7m\"")
            .replacingOccurrences(of: "drain_timeout = \"30s\"", with: "drain_timeout = \"5s\"")
            .replacingOccurrences(of: "upgrade_probation = \"3s\"", with: "upgrade_probation = \"1s\""))
        #expect(!LiveChanges.isUnchanged(from: before, to: after))
        #expect(LiveChanges.restartOnly(from: before, to: after) == [])
    }

    @Test func listenersBackendsAndProcessSettingsNeedANewWorker() throws {
        let text = try PackageFiles.read("etc/bulwark.toml")
        let before = try parse(text)
        let moved = try parse(text.replacingOccurrences(of: "127.0.0.1:7000", with: "127.0.0.1:7002"))
        #expect(LiveChanges.restartOnly(from: before, to: moved) == ["listener"])
        let servers = try parse(text.replacingOccurrences(of: "127.0.0.1:7001", with: "127.0.0.1:7003"))
        #expect(LiveChanges.restartOnly(from: before, to: servers) == ["backend"])
        let threads = try parse(text.replacingOccurrences(of: "workers = \"auto\"", with: "workers = 3"))
        #expect(LiveChanges.restartOnly(from: before, to: threads) == ["server"])
    }
}
