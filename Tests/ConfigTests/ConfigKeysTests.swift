import Config
import Testing

@Suite("The key table drives parsing and the reference")
struct ConfigKeysTests {
    @Test func keyNamesAreUniquePerSection() {
        let names = ConfigKeys.all.map { "\($0.section.rawValue).\($0.name)" }
        #expect(Set(names).count == names.count)
        #expect(names == [
            "server.workers", "server.high_water", "log.level",
            "listener.name", "listener.bind", "listener.mode", "listener.backend", "listener.backlog",
            "backend.name", "backend.servers", "backend.connect_timeout",
        ])
    }

    @Test func requiredKeysAndDefaults() {
        let defaults = ConfigKeys.all.map { "\($0.section.rawValue).\($0.name)=\($0.defaultText)" }
        #expect(defaults == [
            #"server.workers="auto""#, #"server.high_water="256KiB""#, #"log.level="info""#,
            "listener.name=required", "listener.bind=required", "listener.mode=required",
            "listener.backend=required", "listener.backlog=1024",
            "backend.name=required", "backend.servers=required", #"backend.connect_timeout="3s""#,
        ])
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
        #expect(issues(text.text).first?.hasSuffix(#"unknown key "colour" in [[backend]]; known keys: name, servers, connect_timeout"#) == true)
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
    }

    @Test func referenceExampleShowsRealErrors() {
        let markdown = ConfigReference.markdown()
        #expect(markdown.contains("""
            bulwark.toml:2: server.workers: must be between 1 and 1024 (or "auto"), got 0
            bulwark.toml:6: listener[0].bind: host names are not supported yet (async DNS arrives with the access-layer issue); use an IP literal
            bulwark.toml:7: listener[0].mode: mode "mux" is not supported yet; supported: tcp
            bulwark.toml:8: listener[0].backend: backend "echo" is not defined; no [[backend]] is defined
            """))
    }
}
