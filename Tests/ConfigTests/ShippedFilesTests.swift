import Config
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
        #expect(config.listeners.map(\.name) == ["echo"])
        #expect(config.listeners.first?.bind == .ipv4(127, 0, 0, 1, port: 7000))
        #expect(config.listeners.first?.mode == .tcp)
        #expect(config.listeners.first?.backend == "echo")
        #expect(config.listeners.first?.backlog == 1024)
        #expect(config.backends.map(\.name) == ["echo"])
        #expect(config.backends.first?.servers == [.ipv4(127, 0, 0, 1, port: 7001)])
        #expect(config.backends.first?.connectTimeout == .seconds(3))
    }

    /// The shipped file documents by example: every key of the table is written out in it.
    @Test func shippedConfigSetsEveryKey() throws {
        let root = try TOMLParser.parse(text: try PackageFiles.read("etc/bulwark.toml"), file: "etc/bulwark.toml")
        for key in ConfigKeys.all {
            let table: TOMLTable?
            switch root[key.section.rawValue]?.node.value {
            case .table(let found)?: table = found
            case .tableArray(let found)?: table = found.first
            default: table = nil
            }
            #expect(table?[key.name] != nil, "etc/bulwark.toml does not show \(key.section.header) \(key.name)")
        }
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
