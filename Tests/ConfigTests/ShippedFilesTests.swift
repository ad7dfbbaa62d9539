import Config
import SysGuard
import Foundation
import Testing

@Suite("Shipped files: etc/bulwark.toml and docs/config.md")
struct ShippedFilesTests {
    @Test func shippedConfigIsValid() throws {
        let text = try PackageFiles.read("etc/bulwark.toml")
        let config: GatewayConfig
        do throws(ConfigErrors) {
            config = try ConfigParser.parse(text: text, file: "etc/bulwark.toml")
        } catch {
            Issue.record("etc/bulwark.toml is invalid:\n\(error)")
            return
        }
        #expect(config.server == ServerConfig(workers: nil, highWaterBytes: 262_144))
        #expect(config.log == LogConfig(level: .info))
        #expect(config.listeners.map(\.name) == ["echo", "chat"])
        #expect(config.listeners.last?.mode == .mux)
        #expect(config.listeners.last?.framing == .line)
        #expect(config.listeners.last?.backend == "chat")
        #expect(config.listeners.first?.bind == .ipv4(127, 0, 0, 1, port: 7000))
        #expect(config.listeners.first?.mode == .tcp)
        #expect(config.listeners.first?.backend == "echo")
        #expect(config.listeners.first?.backlog == 1024)
        #expect(config.backends.map(\.name) == ["echo", "chat"])
        #expect(config.backends.last?.servers == [.ipv4(127, 0, 0, 1, port: 7101)])
        #expect(config.backends.first?.servers == [.ipv4(127, 0, 0, 1, port: 7001)])
        #expect(config.backends.first?.connectTimeout == .seconds(3))
        #expect(config.guardConfig == GuardConfig.defaults)
        #expect(config.listeners.first?.framing == Framing.stream)
        #expect(config.listeners.first?.maxConnections == 0)
        #expect(config.listeners.first?.limits == GuardConfig.defaults.connection)
        #expect(config.listeners.first?.tcp == GuardConfig.defaults.tcp)
        #expect(config.stats == [StatsSocketConfig(path: "/tmp/bulwark.sock", mode: 0o600, level: .admin, maxClients: 16,
                                                   line: config.stats.first?.line ?? 0)])
    }

    /// The shipped file documents by example: every key of the table is written out in it, set
    /// to its default, or (for a limit that is off unless set, and for listener overrides) as a
    /// commented-out example `# key = value` among the keys of its section.
    @Test func shippedConfigShowsEveryKey() throws {
        let text = try PackageFiles.read("etc/bulwark.toml")
        let root = try TOMLParser.parse(text: text, file: "etc/bulwark.toml")
        let examples = ShippedExamples(text)
        for key in ConfigKeys.all {
            let table: TOMLTable?
            switch root[key.section.rawValue]?.node.value {
            case .table(let found)?: table = found
            case .tableArray(let found)?: table = found.first
            default: table = nil
            }
            let isSet = table?[key.name] != nil
            let isExample = examples.keys[key.section]?.contains(key.name) == true
            #expect(isSet != isExample, "etc/bulwark.toml shows \(key.section.header) \(key.name) \(isSet ? "both set and as an example" : "neither set nor as an example")")
            switch key.presence {
            case .required, .defaulted: #expect(isSet, "\(key.section.header) \(key.name) has a default: show it set")
            case .optional, .inherits: #expect(isExample, "\(key.section.header) \(key.name) is off or inherited unless set: show it commented out")
            }
        }
    }

    /// The commented-out examples are valid: uncommented (in a framed listener, which the frame
    /// limits need), the file is still a valid config, and every example takes effect.
    @Test func shippedExamplesAreValid() throws {
        let examples = ShippedExamples(try PackageFiles.read("etc/bulwark.toml"))
        let text = examples.uncommented.replacingOccurrences(of: "framing = \"none\"", with: "framing = \"u16be\"")
        let config: GatewayConfig
        do throws(ConfigErrors) {
            config = try ConfigParser.parse(text: text, file: "etc/bulwark.toml")
        } catch {
            Issue.record("the examples of etc/bulwark.toml are invalid:\n\(error)")
            return
        }
        #expect(config.guardConfig.load == SampledThreshold(trip: 1.6, clear: 1.4))
        #expect(config.guardConfig.memoryUsedPercent == SampledThreshold(trip: 90, clear: 85))
        #expect(config.guardConfig.memoryAvailableBytes == SampledThreshold(trip: 512 * 1_048_576, clear: 640 * 1_048_576))
        #expect(config.guardConfig.swapUsedPercent == SampledThreshold(trip: 50, clear: 45))
        let limits = try #require(config.listeners.first?.limits)
        #expect(limits != GuardConfig.defaults.connection)
        #expect(limits.packetRateHard == 200)
        #expect(config.listeners.first?.tcp.keepAliveIdle == .seconds(60))
        #expect(config.stats.first?.user == "bulwark")
        #expect(config.stats.first?.group == "adm")
    }

    /// docs/config.md is exactly ConfigReference.markdown(). To regenerate it:
    /// `BULWARK_WRITE_CONFIG_DOC=1 swift test --filter ConfigTests`.
    @Test func referenceDocMatchesTheKeyTable() throws {
        let generated = ConfigReference.markdown()
        let url = PackageFiles.url("docs/config.md")
        if ProcessInfo.processInfo.environment["BULWARK_WRITE_CONFIG_DOC"] == "1" {
            try generated.write(to: url, atomically: true, encoding: .utf8)
        }
        let onDisk = try String(contentsOf: url, encoding: .utf8)
        #expect(onDisk == generated, "docs/config.md is stale; regenerate with BULWARK_WRITE_CONFIG_DOC=1 swift test --filter ConfigTests")
    }
}

/// The commented-out settings of a config file: lines `# key = value` (one space at most after
/// the "#"; indented snippets such as `#   deny = [...]` are prose, not settings).
struct ShippedExamples {
    /// Keys shown commented out, by the section whose part of the file they are in.
    var keys: [ConfigSection: Set<String>] = [:]
    /// The file with those lines uncommented.
    var uncommented = ""

    init(_ text: String) {
        var section: ConfigSection?
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("[") {
                section = ConfigSection(rawValue: String(line.filter { $0 != "[" && $0 != "]" }))
            }
            if let (name, setting) = Self.commentedSetting(line), let section {
                keys[section, default: []].insert(name)
                lines.append(String(setting))
            } else {
                lines.append(String(line))
            }
        }
        uncommented = lines.joined(separator: "\n")
    }

    private static func commentedSetting(_ line: Substring) -> (String, Substring)? {
        guard line.hasPrefix("#") else { return nil }
        var setting = line.dropFirst()
        if setting.hasPrefix(" ") { setting = setting.dropFirst() }
        let name = setting.prefix { $0.isLowercase || $0.isNumber || $0 == "_" }
        guard !name.isEmpty, setting.dropFirst(name.count).drop(while: { $0 == " " }).hasPrefix("=") else { return nil }
        return (String(name), setting)
    }
}
