import BulwarkSys
import BulwarkTestSupport
import Glibc

/// A loopback listener whose accept queue is full: it drops SYNs, so a connect to it hangs
/// until the connector's timeout.
struct BlackHole {
    let address: SocketAddress
    /// The listening socket and the connections that fill its queue.
    private let fds: [Int32]

    init() throws {
        let listening = try Sockets.listeningSocket(at: loopback(), backlog: 0)
        var fds = [listening]
        address = try Sockets.localAddress(listening)
        // Backlog 0 holds one connection; a second makes sure.
        for _ in 0..<2 {
            let fd = try Sockets.socket(family: AF_INET)
            _ = try Sockets.connect(fd, to: address)
            fds.append(fd)
        }
        self.fds = fds
        sleepMilliseconds(50)
    }

    func close() { for fd in fds { FileDescriptors.close(fd) } }
}
