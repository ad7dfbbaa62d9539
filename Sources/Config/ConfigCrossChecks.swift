// Checks that need more than one table: unique names and socket paths, bind addresses that
// cannot both be bound, and listeners naming a backend that does not exist.
import SysGuard

extension ConfigValidator {
    /// `key` must differ between the tables; values are compared after `normalize`.
    mutating func checkUnique(_ sections: [SectionValues], key: ConfigKey, noun: String,
                              normalize: (String) -> String = { $0 }) {
        var firstLines: [String: Int] = [:]
        for section in sections {
            guard let text = section.text(key) else { continue }
            let line = section.line(of: key)
            if let firstLine = firstLines[normalize(text)] {
                report(line: line, key: section.path(key),
                       "duplicate \(noun) \(TOMLText.quoted(text)) (first defined on line \(firstLine))")
            } else {
                firstLines[normalize(text)] = line
            }
        }
    }

    /// `/run//bulwark/./a.sock` as `/run/bulwark/a.sock`, so that spellings of one file compare
    /// equal (".." and symbolic links are left alone: they need the file system).
    static func normalizedPath(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// The same address twice, or a specific address and the wildcard of its family on the same
    /// port: the second bind would fail (or, with SO_REUSEPORT, silently share the port).
    /// Port 0 never conflicts: the kernel gives each such listener its own port.
    /// `sockets`: each table with the key holding its address, and what to call it in a message.
    mutating func checkBindAddresses(_ sockets: [(values: SectionValues, key: ConfigKey, noun: String)]) {
        var earlier: [(address: EndpointAddress, line: Int, name: String)] = []
        for (listener, key, noun) in sockets {
            guard let address = listener.address(key), address.port != 0 else { continue }
            let line = listener.line(of: key)
            let conflict = earlier.first {
                $0.address.family == address.family && $0.address.port == address.port
                    && ($0.address == address || $0.address.isWildcard || address.isWildcard)
            }
            if let conflict {
                let other = "\(conflict.name) (line \(conflict.line))"
                if conflict.address == address {
                    report(line: line, key: listener.path(key), "address \(address) is already bound by \(other)")
                } else {
                    report(line: line, key: listener.path(key), "address \(address) overlaps \(conflict.address) of \(other)")
                }
            }
            let name = listener.rawString(ConfigKeys.listenerName).map { "\(noun) \(TOMLText.quoted($0))" } ?? "\(noun) of \(listener.prefix)"
            earlier.append((address, line, name))
        }
    }

    mutating func checkBackendReferences(listeners: [SectionValues], backends: [SectionValues]) {
        let key = ConfigKeys.listenerBackend
        let backendNames = backends.compactMap { $0.rawString(ConfigKeys.backendName) }
        for listener in listeners {
            guard let name = listener.text(key), !backendNames.contains(name) else { continue }
            let known = backendNames.isEmpty
                ? "no [[backend]] is defined"
                : "defined backends: " + backendNames.map(TOMLText.quoted).joined(separator: ", ")
            report(line: listener.line(of: key), key: listener.path(key),
                   "backend \(TOMLText.quoted(name)) is not defined; \(known)")
        }
    }

    /// A mux listener cuts its clients' bytes into frames: it needs to know where one ends.
    mutating func checkMuxFraming(_ listeners: [SectionValues]) {
        for listener in listeners where listener.text(ConfigKeys.listenerMode) == ListenerMode.mux.rawValue {
            guard let framing = listener.text(ConfigKeys.listenerFraming), framing == Framing.stream.rawValue else { continue }
            let key = ConfigKeys.listenerFraming
            let line = listener.isWritten(key) ? listener.line(of: key) : listener.line(of: ConfigKeys.listenerMode)
            report(line: line, key: listener.path(key),
                   "mode \"mux\" needs framing \"u16be\", \"u32be\" or \"line\": each client frame becomes one DATA message")
        }
    }

    /// A mux session is announced to the backend (OPEN) when it is accepted: there is no
    /// per-client connection to put off.
    mutating func checkMuxBackendConnect(_ listeners: [SectionValues]) {
        let key = ConfigKeys.listenerBackendConnect
        for listener in listeners where listener.text(ConfigKeys.listenerMode) == ListenerMode.mux.rawValue {
            guard listener.text(key) == BackendConnect.firstData.rawValue else { continue }
            report(line: listener.line(of: key), key: listener.path(key),
                   "backend_connect \"first_data\" applies to mode \"tcp\"; mux sessions share the backend's persistent connections")
        }
    }
}
