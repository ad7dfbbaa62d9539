import Config
import Foundation

/// Paths in the package, found from this file's location (Tests/ConfigTests/TestSupport.swift).
enum PackageFiles {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // ConfigTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root

    static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    static func read(_ relativePath: String) throws -> String {
        try String(contentsOf: url(relativePath), encoding: .utf8)
    }
}

/// The issues a config text produces, as `FILE:LINE: KEY: MESSAGE` strings; empty when valid.
func issues(_ text: String, file: String = "t.toml") -> [String] {
    do throws(ConfigErrors) {
        _ = try ConfigParser.parse(text: text, file: file)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

/// The TOML syntax error for a text, or nil when it parses.
func syntaxError(_ text: String, file: String = "t.toml") -> TOMLSyntaxError? {
    do throws(TOMLSyntaxError) {
        _ = try TOMLParser.parse(text: text, file: file)
        return nil
    } catch {
        return error
    }
}

/// A valid config (one listener "a" relaying to backend "b", one stats socket) whose keys tests
/// can change.
struct ConfigText {
    var sections: [(section: ConfigSection, keys: [(name: String, value: String)])] = [
        (.server, []),
        (.log, []),
        (.guard, []),
        (.listener, [("name", "\"a\""), ("bind", "\"127.0.0.1:7000\""), ("mode", "\"tcp\""), ("backend", "\"b\"")]),
        (.backend, [("name", "\"b\""), ("servers", "[\"127.0.0.1:7001\"]")]),
        (.stats, [("socket", "\"/tmp/t.sock\"")]),
    ]

    /// Sets (or adds) `name = value` in the section; `value` is TOML text.
    mutating func set(_ section: ConfigSection, _ name: String, _ value: String) {
        guard let index = sections.firstIndex(where: { $0.section == section }) else { return }
        if let keyIndex = sections[index].keys.firstIndex(where: { $0.name == name }) {
            sections[index].keys[keyIndex].value = value
        } else {
            sections[index].keys.append((name, value))
        }
    }

    var text: String {
        sections.map { section, keys in
            ([section.header] + keys.map { "\($0.name) = \($0.value)" }).joined(separator: "\n")
        }.joined(separator: "\n\n") + "\n"
    }
}
