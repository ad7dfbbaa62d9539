import BulwarkSys
import Glibc
import Testing

@Suite struct SocketAddressTests {
    @Test func ipv4RoundTrip() throws {
        let address = try #require(SocketAddress(addressBytes: [127, 0, 0, 1], port: 7000))
        #expect(address.family == AF_INET)
        #expect(address.port == 7000)
        #expect(address.addressBytes == [127, 0, 0, 1])
        #expect(address.description == "127.0.0.1:7000")
    }

    @Test func ipv6RoundTrip() throws {
        let bytes: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let address = try #require(SocketAddress(addressBytes: bytes, port: 443))
        #expect(address.family == AF_INET6)
        #expect(address.port == 443)
        #expect(address.description == "[2001:db8::1]:443")
    }

    @Test func boundPortIsReadBack() throws {
        let fd = try Sockets.listeningSocket(at: SocketAddress(addressBytes: [127, 0, 0, 1], port: 0)!, backlog: 4)
        defer { FileDescriptors.close(fd) }
        let local = try Sockets.localAddress(fd)
        #expect(local.family == AF_INET)
        #expect(local.port != 0)
        #expect(local.addressBytes == [127, 0, 0, 1])
    }

    @Test func wrongLengthIsRejected() {
        #expect(SocketAddress(addressBytes: [1, 2, 3], port: 1) == nil)
    }
}
