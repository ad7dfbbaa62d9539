import BulwarkSys
import Glibc

/// Result of opening a batch of connections: fds[i] is -1 where connection i failed.
struct OpenedConnections {
    var fds: [Int32]
    var errors = ErrorLog()
}

enum Connector {
    /// Opens the connections (as `open`) and puts each on `epoll`, edge-triggered for reading
    /// and writing, with its index as the event data. Returns the fd per index (-1 where opening
    /// or adding failed; those are noted in `errors`).
    static func openOnEpoll(
        _ epoll: Epoll, count: Int, firstIndex: Int, target: SocketAddress, sources: [SocketAddress],
        deadline: Int64, errors: inout ErrorLog
    ) -> [Int32] {
        let opened = open(count: count, firstIndex: firstIndex, target: target, sources: sources,
                          parallel: 256, deadline: deadline)
        errors.merge(opened.errors)
        var fds = opened.fds
        for (index, fd) in fds.enumerated() where fd >= 0 {
            do {
                try epoll.add(fd, events: [.readable, .writable, .readHangup, .edgeTriggered], data: UInt64(index))
            } catch {
                FileDescriptors.close(fd)
                errors.note("\(error)")
                fds[index] = -1
            }
        }
        return fds
    }

    /// Opens `count` non-blocking connections to `target`, at most `parallel` connects in flight
    /// (so a listen backlog never overflows), each bound to the next source address. Bounded by
    /// `deadline` (monotonic ns): whatever is still connecting then is closed and counted failed.
    static func open(
        count: Int, firstIndex: Int, target: SocketAddress, sources: [SocketAddress],
        parallel: Int, deadline: Int64
    ) -> OpenedConnections {
        var result = OpenedConnections(fds: [Int32](repeating: -1, count: count))
        guard count > 0 else { return result }
        let epoll: Epoll
        do { epoll = try Epoll() } catch {
            for _ in 0..<count { result.errors.note("\(error)") }
            return result
        }
        defer { epoll.close() }
        let capacity: Int32 = 256
        let events = UnsafeMutablePointer<EpollEventRecord>.allocate(capacity: Int(capacity))
        defer { events.deallocate() }
        var connecting = [Int32](repeating: -1, count: count)
        var next = 0
        var inFlight = 0

        while next < count || inFlight > 0 {
            while next < count && inFlight < parallel {
                let index = next
                next += 1
                let source = sources.isEmpty ? nil : sources[(firstIndex + index) % sources.count]
                do {
                    let (fd, outcome) = try Sockets.connectingSocket(to: target, from: source)
                    if outcome == .connected {
                        result.fds[index] = fd
                    } else {
                        do {
                            try epoll.add(fd, events: [.writable], data: UInt64(index))
                        } catch {
                            FileDescriptors.close(fd)
                            throw error
                        }
                        connecting[index] = fd
                        inFlight += 1
                    }
                } catch {
                    result.errors.note("\(error)")
                }
            }
            let now = MonotonicClock.nanoseconds()
            if now >= deadline {
                for index in 0..<count where connecting[index] >= 0 {
                    FileDescriptors.close(connecting[index])
                    connecting[index] = -1
                    result.errors.note("connect to \(target) timed out")
                }
                break
            }
            let timeout = Int32(min(100, (deadline - now) / 1_000_000 + 1))
            let ready = (try? epoll.wait(into: events, capacity: capacity, timeoutMilliseconds: timeout)) ?? 0
            for slot in 0..<ready {
                let index = Int(events[slot].token)
                let fd = connecting[index]
                guard fd >= 0 else { continue }
                connecting[index] = -1
                inFlight -= 1
                epoll.remove(fd)
                let failure = Sockets.pendingError(fd)
                if failure == 0 {
                    result.fds[index] = fd
                } else {
                    FileDescriptors.close(fd)
                    result.errors.note("connect to \(target): \(Errno.describe(failure))")
                }
            }
        }
        return result
    }
}
