// Reads one table of one section by the key table: unknown keys, missing required keys,
// defaults, and each value decoded by its kind. Problems go to the validator's issue list.

/// The decoded values of one table (`[server]`, or one `[[listener]]`), with their lines.
struct SectionValues {
    struct Read {
        var value: ConfigValue
        var line: Int
    }

    let section: ConfigSection
    /// Key path prefix for messages: `server` or `listener[0]`.
    let prefix: String
    let table: TOMLTable
    var values: [String: Read] = [:]

    func value(_ key: ConfigKey) -> ConfigValue? {
        values[key.name]?.value
    }

    func integer(_ key: ConfigKey) -> Int? {
        guard case .integer(let number)? = value(key) else { return nil }
        return number
    }

    func text(_ key: ConfigKey) -> String? {
        guard case .text(let text)? = value(key) else { return nil }
        return text
    }

    func duration(_ key: ConfigKey) -> Duration? {
        guard case .duration(let duration)? = value(key) else { return nil }
        return duration
    }

    func address(_ key: ConfigKey) -> EndpointAddress? {
        guard case .address(let address)? = value(key) else { return nil }
        return address
    }

    func servers(_ key: ConfigKey) -> [ServerEndpoint]? {
        guard case .servers(let servers)? = value(key) else { return nil }
        return servers
    }

    func decimal(_ key: ConfigKey) -> Double? {
        guard case .decimal(let number)? = value(key) else { return nil }
        return number
    }

    func prefixes(_ key: ConfigKey) -> [AddressPrefix]? {
        guard case .prefixes(let prefixes)? = value(key) else { return nil }
        return prefixes
    }

    func texts(_ key: ConfigKey) -> [String]? {
        guard case .texts(let texts)? = value(key) else { return nil }
        return texts
    }

    /// Whether the key is written in this table (rather than defaulted or left out).
    func isWritten(_ key: ConfigKey) -> Bool {
        table[key.name] != nil
    }

    /// The string as written, even when it did not pass its own checks (so that a backend with
    /// a bad name still counts as defined and does not cause a second error at each listener).
    func rawString(_ key: ConfigKey) -> String? {
        guard case .string(let text)? = table[key.name]?.node.value else { return nil }
        return text
    }

    /// Line of the value, or of the table header when the key was left out.
    func line(of key: ConfigKey) -> Int {
        values[key.name]?.line ?? table[key.name]?.node.line ?? table.line
    }

    /// `listener[0].bind`.
    func path(_ key: ConfigKey) -> String {
        "\(prefix).\(key.name)"
    }
}

extension ConfigValidator {
    mutating func read(_ section: ConfigSection, from table: TOMLTable, prefix: String) -> SectionValues {
        var result = SectionValues(section: section, prefix: prefix, table: table)
        let keys = ConfigKeys.keys(in: section)
        for entry in table.entries where !keys.contains(where: { $0.name == entry.key }) {
            let known = keys.map(\.name).joined(separator: ", ")
            report(line: entry.line, key: "\(prefix).\(entry.key)",
                   "unknown key \(TOMLText.quoted(entry.key)) in \(section.header); known keys: \(known)")
        }
        for key in keys {
            let node: TOMLNode
            if let entry = table[key.name] {
                node = entry.node
            } else {
                switch key.presence {
                case .defaulted(let defaultValue):
                    node = TOMLNode(defaultValue, line: table.line)
                case .optional, .inherits:
                    continue
                case .required:
                    report(line: table.line, key: result.path(key), "required key \(TOMLText.quoted(key.name)) is missing in \(section.header)")
                    continue
                }
            }
            switch key.kind.decode(node, keyName: key.name) {
            case .value(let value):
                result.values[key.name] = SectionValues.Read(value: value, line: node.line)
            case .failed(let failures):
                for failure in failures {
                    report(line: failure.line, key: result.path(key) + failure.keySuffix, failure.message)
                }
            }
        }
        return result
    }
}
