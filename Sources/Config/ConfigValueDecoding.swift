// Turning one TOML value into a checked config value, by the key's kind. Values that need
// other sections (a listener's backend) are checked later, in ConfigCrossChecks.swift.

/// A decoded value; the section readers pick the case their key's kind produces.
enum ConfigValue: Equatable {
    case integer(Int)
    case auto
    case text(String)
    case duration(Duration)
    case address(EndpointAddress)
    case servers([ServerEndpoint])
    case decimal(Double)
    case prefixes([AddressPrefix])
    case texts([String])
}

/// A problem with a value; `keySuffix` is set for an array element (`[1]`), with its own line.
struct DecodeFailure: Equatable {
    var line: Int
    var keySuffix = ""
    var message: String
}

enum DecodeOutcome: Equatable {
    case value(ConfigValue)
    case failed([DecodeFailure])
}

extension ConfigValueKind {
    func decode(_ node: TOMLNode, keyName: String) -> DecodeOutcome {
        let value = node.value
        func fail(_ message: String) -> DecodeOutcome {
            .failed([DecodeFailure(line: node.line, message: message)])
        }
        let wrongType = fail("expected \(expectation), got \(value.summary)")

        switch self {
        case .integer(let range):
            guard case .integer(let number) = value else { return wrongType }
            guard range.contains(number) else {
                return fail("must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
            }
            return .value(.integer(number))

        case .integerOrAuto(let range):
            if case .string("auto") = value { return .value(.auto) }
            guard case .integer(let number) = value else { return wrongType }
            guard range.contains(number) else {
                return fail("must be between \(range.lowerBound) and \(range.upperBound) (or \"auto\"), got \(number)")
            }
            return .value(.integer(number))

        case .byteSize(let range):
            let bytes: Int
            switch value {
            case .integer(let number):
                bytes = number
            case .string(let text):
                guard let parsed = ByteSizes.parse(text) else {
                    return fail("invalid size \(TOMLText.quoted(text)); use a number of bytes, or a number with KiB, MiB or GiB, like \"256KiB\"")
                }
                bytes = parsed
            default:
                return wrongType
            }
            guard range.contains(bytes) else {
                return fail("must be between \(ByteSizes.format(range.lowerBound)) and \(ByteSizes.format(range.upperBound)), got \(bytes < 0 ? String(bytes) : ByteSizes.format(bytes))")
            }
            return .value(.integer(bytes))

        case .duration(let range):
            if case .integer(let number) = value {
                return fail("expected \(expectation), got the integer \(number): a duration needs a unit")
            }
            guard case .string(let text) = value else { return wrongType }
            guard let duration = Durations.parse(text) else {
                return fail("invalid duration \(TOMLText.quoted(text)); use a number with a unit (ns, us, ms, s, m, h), like \"3s\" or \"250ms\"")
            }
            guard range.contains(duration) else {
                return fail("must be between \(Durations.format(range.lowerBound)) and \(Durations.format(range.upperBound)), got \(Durations.format(duration))")
            }
            return .value(.duration(duration))

        case .choice(let supported, let notYetSupported):
            guard case .string(let text) = value else { return wrongType }
            if supported.contains(text) { return .value(.text(text)) }
            let supportedList = supported.joined(separator: ", ")
            if notYetSupported.contains(text) {
                return fail("\(keyName) \(TOMLText.quoted(text)) is not supported yet; supported: \(supportedList)")
            }
            return fail("unknown \(keyName) \(TOMLText.quoted(text)); supported: \(supportedList)")

        case .name:
            guard case .string(let text) = value else { return wrongType }
            guard !text.isEmpty else { return fail("must not be empty") }
            guard text.utf8.allSatisfy(Self.isNameByte) else {
                return fail("invalid name \(TOMLText.quoted(text)); use only letters, digits, \"_\", \".\" and \"-\"")
            }
            return .value(.text(text))

        case .reference:
            guard case .string(let text) = value else { return wrongType }
            return .value(.text(text))

        case .listenAddress:
            guard case .string(let text) = value else { return wrongType }
            switch EndpointParser.parseDetailed(text, allowingPortZero: true) {
            case .success(let address): return .value(.address(address))
            case .failure(let error): return fail(error.message)
            }

        case .serverAddresses:
            guard case .array(let items) = value else { return wrongType }
            return Self.decodeServers(items, line: node.line)

        case .decimal(let above, let atMost):
            let number: Double
            switch value {
            case .integer(let integer): number = Double(integer)
            case .float(let float): number = float
            default: return wrongType
            }
            guard number > above, number <= atMost else {
                return fail("must be above \(DecimalText.format(above)) and at most \(DecimalText.format(atMost)), got \(DecimalText.format(number))")
            }
            return .value(.decimal(number))

        case .wholeSeconds(let range):
            if case .integer(let number) = value {
                return fail("expected \(expectation), got the integer \(number): a duration needs a unit")
            }
            guard case .string(let text) = value else { return wrongType }
            guard let duration = Durations.parse(text) else {
                return fail("invalid duration \(TOMLText.quoted(text)); use a number with a unit (s, m, h), like \"30s\" or \"2m\"")
            }
            let components = duration.components
            guard components.attoseconds == 0 else {
                return fail("must be whole seconds (the kernel counts this option in seconds), got \(Durations.format(duration))")
            }
            guard components.seconds >= Int64(range.lowerBound), components.seconds <= Int64(range.upperBound) else {
                return fail("must be between \(Durations.format(.seconds(range.lowerBound))) and \(Durations.format(.seconds(range.upperBound))), got \(Durations.format(duration))")
            }
            return .value(.duration(duration))

        case .addressPrefixes:
            guard case .array(let items) = value else { return wrongType }
            return Self.decodeList(items, expectation: "a string like \"10.0.0.0/8\"") { text in
                switch AddressPrefix.parseDetailed(text) {
                case .success(let prefix): return .success((prefix, prefix.description))
                case .failure(let error): return .failure(error)
                }
            }.map { .prefixes($0) }

        case .choices(let supported):
            guard case .array(let items) = value else { return wrongType }
            let supportedList = supported.joined(separator: ", ")
            return Self.decodeList(items, expectation: "a string, one of " + supported.map(TOMLText.quoted).joined(separator: ", ")) { text in
                supported.contains(text)
                    ? .success((text, TOMLText.quoted(text)))
                    : .failure(EndpointParseError("unknown \(keyName) entry \(TOMLText.quoted(text)); supported: \(supportedList)"))
            }.map { .texts($0) }

        case .absolutePath:
            guard case .string(let text) = value else { return wrongType }
            guard text.hasPrefix("/") else {
                return fail("must be an absolute path (starting with \"/\"), got \(TOMLText.quoted(text))")
            }
            guard !text.utf8.contains(0) else { return fail("must not contain a NUL character") }
            return .value(.text(text))

        case .unixSocketPath:
            guard case .string(let text) = value else { return wrongType }
            if case .failed(let failures) = ConfigValueKind.absolutePath.decode(node, keyName: keyName) { return .failed(failures) }
            guard text.utf8.count <= StatsSocketConfig.maxPathBytes else {
                return fail("is \(text.utf8.count) bytes long; a Unix socket path holds at most \(StatsSocketConfig.maxPathBytes)")
            }
            guard !text.hasSuffix("/") else { return fail("must name a file, not a directory: \(TOMLText.quoted(text)) ends with \"/\"") }
            return .value(.text(text))

        case .fileMode:
            if case .integer(let number) = value {
                let octal = number >= 0 ? " (octal \(FileModes.format(number)))" : ""
                return fail("expected \(expectation), got the integer \(number)\(octal): write the mode as a string, like \"0600\"")
            }
            guard case .string(let text) = value else { return wrongType }
            switch FileModes.parse(text) {
            case .success(let mode): return .value(.integer(Int(mode)))
            case .failure(let error): return fail(error.message)
            }

        case .owner:
            guard case .string(let text) = value else { return wrongType }
            if let error = OwnerNames.check(text, noun: keyName) { return fail(error.message) }
            return .value(.text(text))
        }
    }

    /// An array of strings, each parsed by `parse` into a value and the text that names it in a
    /// "listed twice" message; every bad or repeated element is reported at its own line.
    private static func decodeList<Element: Hashable>(
        _ items: [TOMLNode], expectation: String,
        parse: (String) -> Result<(Element, String), EndpointParseError>
    ) -> ListDecodeOutcome<Element> {
        var elements: [Element] = []
        var firstLines: [Element: Int] = [:]
        var failures: [DecodeFailure] = []
        for (index, item) in items.enumerated() {
            let suffix = "[\(index)]"
            guard case .string(let text) = item.value else {
                failures.append(DecodeFailure(line: item.line, keySuffix: suffix, message: "expected \(expectation), got \(item.value.summary)"))
                continue
            }
            switch parse(text) {
            case .success(let (element, name)):
                if let firstLine = firstLines[element] {
                    failures.append(DecodeFailure(line: item.line, keySuffix: suffix,
                                                  message: "\(name) is listed twice (first on line \(firstLine))"))
                } else {
                    firstLines[element] = item.line
                    elements.append(element)
                }
            case .failure(let error):
                failures.append(DecodeFailure(line: item.line, keySuffix: suffix, message: error.message))
            }
        }
        return failures.isEmpty ? .value(elements) : .failed(failures)
    }

    private static func decodeServers(_ items: [TOMLNode], line: Int) -> DecodeOutcome {
        guard !items.isEmpty else {
            return .failed([DecodeFailure(line: line, message: "must list at least one server")])
        }
        var servers: [ServerEndpoint] = []
        var firstLines: [ServerEndpoint: Int] = [:]
        var failures: [DecodeFailure] = []
        for (index, item) in items.enumerated() {
            let suffix = "[\(index)]"
            guard case .string(let text) = item.value else {
                failures.append(DecodeFailure(line: item.line, keySuffix: suffix,
                                              message: "expected a string like \"127.0.0.1:7001\", got \(item.value.summary)"))
                continue
            }
            switch EndpointParser.parseServer(text) {
            case .success(let server):
                if let firstLine = firstLines[server] {
                    failures.append(DecodeFailure(line: item.line, keySuffix: suffix,
                                                  message: "server \(server) is listed twice (first on line \(firstLine))"))
                } else {
                    firstLines[server] = item.line
                    servers.append(server)
                }
            case .failure(let error):
                failures.append(DecodeFailure(line: item.line, keySuffix: suffix, message: error.message))
            }
        }
        return failures.isEmpty ? .value(.servers(servers)) : .failed(failures)
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        ASCII.isLetterOrDigit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }
}

/// The outcome of decoding an array, before it becomes a `ConfigValue`.
private enum ListDecodeOutcome<Element> {
    case value([Element])
    case failed([DecodeFailure])

    func map(_ transform: ([Element]) -> ConfigValue) -> DecodeOutcome {
        switch self {
        case .value(let elements): return .value(transform(elements))
        case .failed(let failures): return .failed(failures)
        }
    }
}
