// IPv4 and IPv6 literals in pure Swift (no inet_pton: Config stays free of libc).

import SysGuard

public enum IPLiteral {
    /// Dotted quad, four decimal parts 0...255. Leading zeros are refused ("010" could be
    /// read as octal by other tools, as inet_pton also refuses it).
    public static func parseIPv4<S: StringProtocol>(_ text: S) -> [UInt8]? {
        parseIPv4(bytes: text.utf8)
    }

    /// Full RFC 4291 text form: up to 8 groups of 1...4 hex digits, one `::` standing for one
    /// or more zero groups, and an optional dotted IPv4 tail (`::ffff:1.2.3.4`).
    /// Zone ids (`%eth0`) are refused. Returns 16 bytes in network order.
    public static func parseIPv6<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let characters = Array(text.utf8)
        let colon = UInt8(ascii: ":")
        var compression: Int?
        var position = 0
        while position + 1 < characters.count {
            if characters[position] == colon && characters[position + 1] == colon {
                guard compression == nil else { return nil }
                compression = position
                position += 2
            } else {
                position += 1
            }
        }
        let groups: [UInt16]
        if let compression {
            guard let head = parseGroups(characters[..<compression], allowsIPv4Tail: false),
                  let tail = parseGroups(characters[(compression + 2)...], allowsIPv4Tail: true),
                  head.count + tail.count <= 7 else { return nil }
            groups = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = parseGroups(characters[...], allowsIPv4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// `a.b.c.d`.
    public static func formatIPv4(_ bytes: [UInt8]) -> String {
        bytes.map { String($0) }.joined(separator: ".")
    }

    /// RFC 5952 canonical text: lowercase, no leading zeros, the longest run of two or more
    /// zero groups (the first on a tie) written as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`.
    public static func formatIPv6(_ bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return "?" }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return "::ffff:" + formatIPv4(Array(bytes[12..<16]))
        }
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return AddressText.ipv6(high: high, low: low)  // SysGuard's RFC 5952 form, one copy
    }

    static func parseIPv4<C: Collection<UInt8>>(bytes text: C) -> [UInt8]? {
        var result: [UInt8] = []
        var value = 0
        var digitCount = 0
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard digitCount > 0, result.count < 3 else { return nil }
                result.append(UInt8(value))
                value = 0
                digitCount = 0
            } else if ASCII.isDecimalDigit(byte) {
                guard !(digitCount > 0 && value == 0) else { return nil }  // leading zero
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digitCount += 1
                guard value <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digitCount > 0, result.count == 3 else { return nil }
        result.append(UInt8(value))
        return result
    }

    /// Colon-separated groups; an empty part gives no groups. Only the last group may be a
    /// dotted IPv4 address, and only when nothing follows it in the whole address.
    private static func parseGroups(_ part: ArraySlice<UInt8>, allowsIPv4Tail: Bool) -> [UInt16]? {
        if part.isEmpty { return [] }
        let pieces = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (offset, piece) in pieces.enumerated() {
            if allowsIPv4Tail && offset == pieces.count - 1 && piece.contains(UInt8(ascii: ".")) {
                guard let ipv4 = parseIPv4(bytes: piece) else { return nil }
                groups.append(UInt16(ipv4[0]) << 8 | UInt16(ipv4[1]))
                groups.append(UInt16(ipv4[2]) << 8 | UInt16(ipv4[3]))
                continue
            }
            guard (1...4).contains(piece.count), piece.allSatisfy(ASCII.isHexDigit),
                  let group = UInt16(String(decoding: piece, as: UTF8.self), radix: 16) else { return nil }
            groups.append(group)
        }
        return groups
    }
}
