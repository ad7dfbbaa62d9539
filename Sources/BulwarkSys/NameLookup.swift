import CBulwarkShims
import Glibc

/// One asynchronous host-name lookup (getaddrinfo_a). glibc signals completion by writing to
/// the eventfd given at start, so the owner learns of it through its epoll and then reads
/// `outcome`. Dropping the lookup lets go of it, even while it is still running.
public final class NameLookup: @unchecked Sendable {  // @unchecked: the C lookup is only read through gai_error/result, which glibc makes safe while its thread finishes it
    public enum Outcome: Sendable, Equatable {
        case pending
        /// Every address of the answer, in getaddrinfo's order (RFC 6724, /etc/gai.conf).
        case resolved([SocketAddress])
        case failed(String)
    }

    public let host: String
    /// Given to every address of the answer.
    public let port: UInt16
    private let lookup: OpaquePointer

    /// Starts looking `host` up; glibc writes to `eventFD` when the answer (or the failure) is in.
    public init(host: String, port: UInt16, eventFD: Int32) throws(NameLookupError) {
        self.host = host
        self.port = port
        var code: Int32 = 0
        guard let started = bulwark_lookup_start(host, eventFD, &code) else {
            throw NameLookupError(host: host, reason: Self.describe(code))
        }
        lookup = started
    }

    deinit { bulwark_lookup_release(lookup) }

    public var outcome: Outcome {
        let status = bulwark_lookup_status(lookup)
        if status == bulwark_lookup_in_progress_code() { return .pending }
        if status != 0 { return .failed(Self.describe(status)) }
        var addresses: [SocketAddress] = []
        var entry = bulwark_lookup_result(lookup)
        while let current = entry {
            let family = current.pointee.ai_family
            if family == AF_INET || family == AF_INET6, let address = current.pointee.ai_addr {
                let length = Int(current.pointee.ai_addrlen)
                let answer = SocketAddress { target, targetLength in
                    UnsafeMutableRawPointer(target).copyMemory(from: address, byteCount: min(length, Int(targetLength.pointee)))
                    targetLength.pointee = socklen_t(length)
                }
                // The same address comes once per protocol unless the hints pin one; keep it once.
                if let withPort = SocketAddress(addressBytes: answer.addressBytes, port: port), !addresses.contains(withPort) {
                    addresses.append(withPort)
                }
            }
            entry = UnsafePointer(current.pointee.ai_next)
        }
        return addresses.isEmpty ? .failed("no IPv4 or IPv6 address") : .resolved(addresses)
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: bulwark_lookup_error_text(code))
    }
}

public struct NameLookupError: Error, Sendable, CustomStringConvertible {
    public let host: String
    public let reason: String
    public var description: String { "cannot look up \(host): \(reason)" }
}

extension NameLookup {
    /// Looks every (host, port) up at once and waits at most `timeoutMilliseconds` for all of
    /// them, for one-off tools (`bulwark check`); the gateway itself never waits. A lookup
    /// without an answer in time is reported as failed and left to finish on its own.
    public static func resolveAll(_ hosts: [(host: String, port: UInt16)], timeoutMilliseconds: Int) -> [Outcome] {
        guard !hosts.isEmpty else { return [] }
        guard let eventFD = try? EventFD() else { return hosts.map { _ in .failed("no eventfd") } }
        defer { eventFD.close() }
        var lookups: [NameLookup?] = []
        var outcomes: [Outcome] = []
        for entry in hosts {
            do {
                lookups.append(try NameLookup(host: entry.host, port: entry.port, eventFD: eventFD.fd))
                outcomes.append(.pending)
            } catch {
                lookups.append(nil)
                outcomes.append(.failed(error.reason))
            }
        }
        let deadline = MonotonicClock.nanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        while true {
            for index in lookups.indices where outcomes[index] == .pending {
                if let lookup = lookups[index] { outcomes[index] = lookup.outcome }
            }
            let remaining = (deadline - MonotonicClock.nanoseconds()) / 1_000_000
            guard outcomes.contains(.pending), remaining > 0 else { break }
            _ = Poll.readable([eventFD.fd], timeoutMilliseconds: Int32(clamping: remaining))
            eventFD.drain()
        }
        // Drop the lookups (they stop writing to the eventfd) before the deferred close.
        lookups.removeAll()
        let seconds = Double(timeoutMilliseconds) / 1000
        return outcomes.map { $0 == .pending ? .failed("no answer within \(seconds)s") : $0 }
    }
}
