// Builds the table tree from headers and key/value pairs, enforcing TOML's rules: a key is
// defined once per table, a table header once, `[[x]]` appends to an array of tables, and a
// header path through an array of tables goes into its last element.

struct TOMLDocumentBuilder {
    private(set) var root = TOMLTable(line: 0)
    /// The path of the table that key/value pairs currently go into.
    private var currentPath: [String] = []
    let file: String

    init(file: String) {
        self.file = file
    }

    private func error(_ message: String, line: Int) -> TOMLSyntaxError {
        TOMLSyntaxError(file: file, line: line, message: message)
    }

    mutating func openTable(path: [String], isArray: Bool, line: Int) throws(TOMLSyntaxError) {
        let header = isArray ? "[[\(TOMLText.path(path))]]" : "[\(TOMLText.path(path))]"
        try define(in: &root, path: path[...], isArray: isArray, line: line, header: header)
        currentPath = path
    }

    mutating func insert(key: String, line: Int, node: TOMLNode) throws(TOMLSyntaxError) {
        try insert(TOMLEntry(key: key, line: line, node: node), into: &root, path: currentPath[...])
    }

    private func define(
        in table: inout TOMLTable, path: ArraySlice<String>, isArray: Bool, line: Int, header: String
    ) throws(TOMLSyntaxError) {
        guard let key = path.first else { return }
        let rest = path.dropFirst()
        guard let index = table.index(of: key) else {
            let node: TOMLNode
            if !rest.isEmpty {
                // A parent mentioned only in this header: implicit, may be defined later.
                var child = TOMLTable(line: line, isExplicit: false)
                try define(in: &child, path: rest, isArray: isArray, line: line, header: header)
                node = TOMLNode(.table(child), line: line)
            } else if isArray {
                node = TOMLNode(.tableArray([TOMLTable(line: line)]), line: line)
            } else {
                node = TOMLNode(.table(TOMLTable(line: line)), line: line)
            }
            table.entries.append(TOMLEntry(key: key, line: line, node: node))
            return
        }
        let existing = table.entries[index]
        switch existing.node.value {
        case .table(var child):
            if rest.isEmpty {
                guard !isArray else {
                    throw error("cannot define \(header): \(TOMLText.key(key)) is already a table (line \(child.line))", line: line)
                }
                guard !child.isExplicit else {
                    throw error("table \(header) is already defined on line \(child.line)", line: line)
                }
                child.isExplicit = true
                child.line = line
                table.entries[index].line = line
                table.entries[index].node.line = line
            } else {
                try define(in: &child, path: rest, isArray: isArray, line: line, header: header)
            }
            table.entries[index].node.value = .table(child)
        case .tableArray(var children):
            if rest.isEmpty {
                guard isArray else {
                    throw error("cannot define \(header): \(TOMLText.key(key)) is already an array of tables (line \(existing.line))", line: line)
                }
                children.append(TOMLTable(line: line))
            } else if var last = children.popLast() {
                try define(in: &last, path: rest, isArray: isArray, line: line, header: header)
                children.append(last)
            }
            table.entries[index].node.value = .tableArray(children)
        default:
            throw error("cannot define \(header): key \(TOMLText.key(key)) already holds a value (line \(existing.line))", line: line)
        }
    }

    private func insert(_ entry: TOMLEntry, into table: inout TOMLTable, path: ArraySlice<String>) throws(TOMLSyntaxError) {
        guard let key = path.first else {
            if let existing = table[entry.key] {
                throw error("duplicate key \(TOMLText.key(entry.key)) (first defined on line \(existing.line))", line: entry.line)
            }
            table.entries.append(entry)
            return
        }
        // openTable created every table on the current path, so the key is there.
        guard let index = table.index(of: key) else { return }
        let existing = table.entries[index]
        switch existing.node.value {
        case .table(var child):
            try insert(entry, into: &child, path: path.dropFirst())
            table.entries[index].node.value = .table(child)
        case .tableArray(var children):
            if var last = children.popLast() {
                try insert(entry, into: &last, path: path.dropFirst())
                children.append(last)
            }
            table.entries[index].node.value = .tableArray(children)
        default:
            break
        }
    }
}
