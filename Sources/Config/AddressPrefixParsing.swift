// Allow and deny list entries: an IP address (a full-length prefix) or a CIDR prefix.

extension AddressPrefix {
    /// `"10.0.0.0/8"`, `"192.168.1.7"` (= /32), `"::1"` (= /128), `"2001:db8::/32"`. Bits past
    /// the prefix length must be zero, so `"10.0.0.1/8"` is refused rather than guessed at.
    public init?(parsing text: String) {
        guard case .success(let prefix) = Self.parseDetailed(text) else { return nil }
        self = prefix
    }

    /// Like `init?(parsing:)`, but says what is wrong.
    public static func parseDetailed(_ text: String) -> Result<AddressPrefix, EndpointParseError> {
        func fail(_ message: String) -> Result<AddressPrefix, EndpointParseError> {
            .failure(EndpointParseError(message))
        }
        let example = "expected an IP address or a CIDR prefix, like \"10.0.0.0/8\" or \"2001:db8::/32\""
        if text.isEmpty { return fail("the address is empty; \(example)") }
        if text.hasPrefix("[") { return fail("write an IPv6 address without brackets, like \"2001:db8::/32\"") }

        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = parts[0]
        let isIPv6 = host.contains(":")
        let bytes: [UInt8]
        if isIPv6 {
            if host.contains(".") && host.utf8.filter({ $0 == UInt8(ascii: ":") }).count == 1 {
                return fail("an allow or deny entry has no port; \(example)")
            }
            guard let parsed = IPLiteral.parseIPv6(host) else { return fail("invalid IPv6 address \(TOMLText.quoted(String(host)))") }
            bytes = parsed
        } else if let parsed = IPLiteral.parseIPv4(host) {
            bytes = parsed
        } else if host.utf8.contains(where: ASCII.isLetter) && !host.isEmpty {
            return fail("host names are not allowed here; \(example)")
        } else {
            return fail("invalid IPv4 address \(TOMLText.quoted(String(host)))")
        }

        let maxLength = bytes.count * 8
        var length = maxLength
        if parts.count == 2 {
            let lengthText = parts[1]
            let family = isIPv6 ? "IPv6" : "IPv4"
            guard (1...3).contains(lengthText.utf8.count), lengthText.utf8.allSatisfy(ASCII.isDecimalDigit),
                  lengthText == "0" || !lengthText.hasPrefix("0"),
                  let number = Int(lengthText), number <= maxLength else {
                return fail("invalid prefix length \(TOMLText.quoted(String(lengthText))); expected 0...\(maxLength) for \(family)")
            }
            length = number
        }

        let masked = masking(bytes, toLength: length)
        let prefix = AddressPrefix(bytes: masked, length: length)
        guard masked == bytes else {
            return fail("\(text) has host bits set; did you mean \(prefix)?")
        }
        return .success(prefix)
    }

    /// The bytes with every bit past `length` cleared.
    static func masking(_ bytes: [UInt8], toLength length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bitsKept = min(8, max(0, length - index * 8))
            return bitsKept == 8 ? byte : byte & ~(UInt8(0xFF) >> UInt8(bitsKept))
        }
    }
}
