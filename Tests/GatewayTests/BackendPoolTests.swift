import BulwarkSys
import Testing

@testable import Gateway

/// Round robin decides without sockets: the first server of each new connection.
@Suite struct BackendPoolTests {
    private func pool(servers count: Int) -> BackendPool {
        let servers = (0..<count).map { SocketAddress(addressBytes: [10, 0, 0, UInt8($0 + 1)], port: 80)! }
        return BackendPool(name: "p", servers: servers, connectTimeout: .milliseconds(250))
    }

    @Test func firstServersCycleInOrder() {
        let backend = pool(servers: 3)
        #expect((0..<7).map { _ in backend.nextFirstServer() } == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test func aSingleServerIsAlwaysFirst() {
        let backend = pool(servers: 1)
        #expect((0..<4).map { _ in backend.nextFirstServer() } == [0, 0, 0, 0])
    }

    @Test func concurrentPicksStayBalanced() throws {
        let backend = pool(servers: 4)
        let counts = PthreadLockedCounts(size: 4)
        var threads: [NativeThread] = []
        for _ in 0..<4 {
            threads.append(try NativeThread.start(name: "rr") {
                for _ in 0..<1000 { counts.add(backend.nextFirstServer()) }
            })
        }
        for thread in threads { thread.join() }
        #expect(counts.values == [1000, 1000, 1000, 1000])
    }

    @Test func connectTimeoutIsKeptInNanoseconds() {
        #expect(pool(servers: 1).connectTimeoutNanoseconds == 250_000_000)
    }
}

private final class PthreadLockedCounts: @unchecked Sendable {  // @unchecked: `counts` is guarded by `lock`
    private let lock = PthreadLock()
    private var counts: [Int]
    init(size: Int) { counts = Array(repeating: 0, count: size) }
    func add(_ index: Int) { lock.withLock { counts[index] += 1 } }
    var values: [Int] { lock.withLock { counts } }
}
