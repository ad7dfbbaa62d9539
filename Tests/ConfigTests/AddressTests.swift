import Config
import Testing

@Suite("IP literals and endpoint addresses")
struct AddressTests {
    @Test(arguments: [
        ("0.0.0.0", [0, 0, 0, 0]), ("127.0.0.1", [127, 0, 0, 1]), ("255.255.255.255", [255, 255, 255, 255]),
        ("10.20.30.40", [10, 20, 30, 40]), ("1.0.10.100", [1, 0, 10, 100]),
    ] as [(String, [UInt8])])
    func validIPv4(text: String, bytes: [UInt8]) {
        #expect(IPLiteral.parseIPv4(text) == bytes)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-4", "01.2.3.4", "1.2.3.04", "1..3.4", ".1.2.3",
                      "1.2.3.4.", "a.b.c.d", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/8", "1000.1.1.1", "0x7f.0.0.1", "٣.1.1.1"])
    func invalidIPv4(text: String) {
        #expect(IPLiteral.parseIPv4(text) == nil)
    }

    private static func v6(_ groups: [UInt16]) -> [UInt8] {
        groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    @Test(arguments: [
        ("::", v6([0, 0, 0, 0, 0, 0, 0, 0])),
        ("::1", v6([0, 0, 0, 0, 0, 0, 0, 1])),
        ("1::", v6([1, 0, 0, 0, 0, 0, 0, 0])),
        ("2001:db8::8:800:200c:417a", v6([0x2001, 0xDB8, 0, 0, 0x8, 0x800, 0x200C, 0x417A])),
        ("2001:DB8:0:0:8:800:200C:417A", v6([0x2001, 0xDB8, 0, 0, 0x8, 0x800, 0x200C, 0x417A])),
        ("fe80::1:2", v6([0xFE80, 0, 0, 0, 0, 0, 1, 2])),
        ("1:2:3:4:5:6:7::", v6([1, 2, 3, 4, 5, 6, 7, 0])),
        ("::2:3:4:5:6:7:8", v6([0, 2, 3, 4, 5, 6, 7, 8])),
        ("1:2:3::5:6:7:8", v6([1, 2, 3, 0, 5, 6, 7, 8])),
        ("0001:02:003:4:5:6:7:8", v6([1, 2, 3, 4, 5, 6, 7, 8])),
        ("::ffff:1.2.3.4", v6([0, 0, 0, 0, 0, 0xFFFF, 0x0102, 0x0304])),
        ("::1.2.3.4", v6([0, 0, 0, 0, 0, 0, 0x0102, 0x0304])),
        ("1:2:3:4:5:6:1.2.3.4", v6([1, 2, 3, 4, 5, 6, 0x0102, 0x0304])),
        ("64:ff9b::192.0.2.33", v6([0x64, 0xFF9B, 0, 0, 0, 0, 0xC000, 0x0221])),
    ] as [(String, [UInt8])])
    func validIPv6(text: String, bytes: [UInt8]) {
        #expect(IPLiteral.parseIPv6(text) == bytes)
    }

    @Test(arguments: ["", ":", ":::", "1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "1:::2", ":1::2", "1::2:",
                      "12345::", "g::1", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1.2.3.4::", "::1.2.3.4:5",
                      "::1.2.3", "::256.1.1.1", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "[::1]", " ::1", "::1 "])
    func invalidIPv6(text: String) {
        #expect(IPLiteral.parseIPv6(text) == nil)
    }

    @Test(arguments: [
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2001:DB8:0:0:8:800:200C:417A", "2001:db8::8:800:200c:417a"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:2:2:0:0:3", "1::2:2:0:0:3"), ("::ffff:1.2.3.4", "::ffff:1.2.3.4"), ("0:0:0:0:0:ffff:102:304", "::ffff:1.2.3.4"),
    ])
    func formatsIPv6Canonically(text: String, expected: String) {
        guard let bytes = IPLiteral.parseIPv6(text) else {
            Issue.record("\(text) did not parse")
            return
        }
        #expect(IPLiteral.formatIPv6(bytes) == expected)
    }

    @Test func endpoints() {
        #expect(EndpointParser.parse("127.0.0.1:80") == .ipv4(127, 0, 0, 1, port: 80))
        #expect(EndpointParser.parse("*:8080") == .ipv4(0, 0, 0, 0, port: 8080))
        #expect(EndpointParser.parse("[::1]:65535") == EndpointAddress(family: .ipv6, bytes: Array(repeating: 0, count: 15) + [1], port: 65535))
        #expect(EndpointParser.parse("[::ffff:10.0.0.1]:1")?.description == "[::ffff:10.0.0.1]:1")
        #expect(EndpointParser.parse("1.2.3.4:080")?.port == 80)
        #expect(EndpointParser.parse("127.0.0.1:80")?.description == "127.0.0.1:80")
        #expect(EndpointParser.parse("[2001:DB8::1]:443")?.description == "[2001:db8::1]:443")
        #expect(EndpointParser.parse("[::]:7000")?.isWildcard == true)
        #expect(EndpointParser.parse("10.0.0.1:7000")?.isWildcard == false)
        #expect(EndpointParser.parse("[::1]:80")?.host == "::1")
    }

    @Test func portZeroOnlyWhenAllowed() {
        #expect(EndpointParser.parse("127.0.0.1:0") == nil)
        #expect(EndpointParser.parse("127.0.0.1:0", allowingPortZero: true) == .ipv4(127, 0, 0, 1, port: 0))
        #expect(EndpointParser.parse("[::1]:0", allowingPortZero: true)?.port == 0)
        #expect(EndpointParser.parse("127.0.0.1:65536", allowingPortZero: true) == nil)
    }

    @Test(arguments: [
        ("", #"the address is empty; expected "IP:port", like "127.0.0.1:7000""#),
        ("127.0.0.1", #"missing port; expected "IP:port", like "127.0.0.1:7000""#),
        ("127.0.0.1:", #"missing port after ":"; expected a number 1...65535"#),
        ("127.0.0.1:http", #"invalid port "http"; expected a number 1...65535"#),
        ("127.0.0.1:-1", #"invalid port "-1"; expected a number 1...65535"#),
        ("127.0.0.1:65536", #"invalid port "65536"; expected a number 1...65535"#),
        ("127.0.0.1:0", #"invalid port "0"; expected a number 1...65535"#),
        ("127.0.0.1:0000080", #"invalid port "0000080"; expected a number 1...65535"#),
        (":80", #"missing host before the port; use "*:port" for every IPv4 address"#),
        ("1.2.3:80", #"invalid IPv4 address "1.2.3""#),
        ("localhost:80", #"a host name cannot be bound; use an IP literal, like "0.0.0.0:7000" or "[::]:7000""#),
        ("backend-1.example.com:80", #"a host name cannot be bound; use an IP literal, like "0.0.0.0:7000" or "[::]:7000""#),
        ("h@st:80", #"invalid host "h@st"; use an IP literal"#),
        ("::1:80", #"an IPv6 address needs brackets around it, like "[::1]:7000""#),
        ("[::1:80", #"missing "]" after the IPv6 address"#),
        ("[::1]", #"missing port after "]"; expected "[IPv6]:port", like "[::1]:7000""#),
        ("[::1]80", #"missing port after "]"; expected "[IPv6]:port", like "[::1]:7000""#),
        ("[1.2.3.4]:80", #"invalid IPv6 address "1.2.3.4""#),
        ("[*]:80", #"invalid IPv6 address "*""#),
    ])
    func explainsBadEndpoints(text: String, message: String) {
        #expect(EndpointParser.parseDetailed(text) == .failure(EndpointParseError(message)))
        #expect(EndpointParser.parse(text) == nil)
    }

    @Test func serversMayBeHostNames() {
        let named = try? EndpointParser.parseServer("chat-1.internal:7001").get()
        #expect(named == ServerEndpoint(hostName: "chat-1.internal", port: 7001))
        #expect(named?.isHostName == true)
        #expect(named?.description == "chat-1.internal:7001")
        #expect((try? EndpointParser.parseServer("my_service:80").get())?.host == "my_service")
        #expect((try? EndpointParser.parseServer("localhost.:80").get())?.host == "localhost.")
        let literal = try? EndpointParser.parseServer("[::1]:80").get()
        #expect(literal?.literal == EndpointParser.parse("[::1]:80") && literal?.isHostName == false)
        #expect(literal?.description == "[::1]:80")
    }

    @Test(arguments: [
        ("a..b:80", #"host name "a..b" has an empty label (two dots in a row, or a dot first)"#),
        (".a:80", #"host name ".a" has an empty label (two dots in a row, or a dot first)"#),
        ("-a.b:80", #"host name "-a.b" has a label that starts or ends with "-""#),
        (String(repeating: "x", count: 64) + ".b:80", #"host name "\#(String(repeating: "x", count: 64)).b" has a label longer than 63 bytes"#),
        (Array(repeating: String(repeating: "x", count: 60), count: 5).joined(separator: ".") + ":80",
         #"host name "\#(Array(repeating: String(repeating: "x", count: 60), count: 5).joined(separator: "."))" is longer than 253 bytes"#),
        ("name:0", #"invalid port "0"; expected a number 1...65535"#),
        ("name", #"missing port; expected "IP:port", like "127.0.0.1:7000""#),
        ("1.2.3:80", #"invalid IPv4 address "1.2.3""#),
        ("h@st:80", #"invalid host "h@st"; use an IP literal"#),
    ])
    func explainsBadServers(text: String, message: String) {
        #expect(EndpointParser.parseServer(text) == .failure(EndpointParseError(message)))
    }

    @Test func listenerPortRangeInMessages() {
        #expect(EndpointParser.parseDetailed("1.2.3.4:x", allowingPortZero: true)
            == .failure(EndpointParseError(#"invalid port "x"; expected a number 0...65535"#)))
    }
}
