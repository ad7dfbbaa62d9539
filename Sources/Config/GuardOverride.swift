// `set guard KEY VALUE` on the stats socket: a `[guard]` key given a new value on top of the
// loaded file. The whole config is then validated again, so a live change meets exactly the
// checks a written one does (types, ranges, a clear mark below its trip mark, the file budget).

public struct GuardOverride: Sendable, Equatable {
    public let key: ConfigKey
    /// The value as TOML; text that is not a TOML value (`30s`, `10.0.0.0/8`) is taken as a string.
    public let value: TOMLValue

    /// Refuses a name that is not a `[guard]` key, naming the known ones.
    public init(keyName: String, valueText: String) throws(ConfigErrors) {
        guard let key = ConfigKeys.key(named: keyName, in: .guard) else {
            let known = ConfigKeys.keys(in: .guard).map(\.name).joined(separator: ", ")
            throw ConfigErrors(issues: [ConfigIssue(file: "set guard", line: 0, key: keyName,
                                                    message: "not a [guard] key; keys: \(known)")])
        }
        self.key = key
        if let parsed = try? TOMLParser.parse(text: "value = \(valueText)\n", file: "set guard"),
           let node = parsed["value"]?.node, parsed.entries.count == 1 {
            value = node.value
        } else {
            value = .string(valueText)
        }
    }

    /// `root` with this key written in its `[guard]` table (added when the file has none).
    /// The value's line is 0: a problem with it is about the command, not about the file.
    func applied(to root: TOMLTable) -> TOMLTable {
        var root = root
        let section = ConfigSection.guard.rawValue
        let entry = TOMLEntry(key: key.name, line: 0, node: TOMLNode(value, line: 0))
        if let index = root.index(of: section), case .table(var table) = root.entries[index].node.value {
            if let keyIndex = table.index(of: key.name) {
                table.entries[keyIndex] = entry
            } else {
                table.entries.append(entry)
            }
            root.entries[index].node.value = .table(table)
        } else if root.index(of: section) == nil {
            var table = TOMLTable(line: 0)
            table.entries.append(entry)
            root.entries.append(TOMLEntry(key: section, line: 0, node: TOMLNode(.table(table), line: 0)))
        }
        return root
    }
}
