import BulwarkSys
import Foundation

/// `bulwarkctl watch`: a live view redrawn every second from `show info`, `show stat` and
/// `show ips` (as JSON): connections, accept rate, bytes/s, refusals/s by reason, guard
/// states, top IPs. Rates are differences between two readings.
enum Watch {
    struct Reading {
        var time: Double
        var accepted = 0
        var bytesIn = 0
        var bytesOut = 0
        var refusals: [String: Int] = [:]
    }

    static func run(socketPath: String, intervalSeconds: Double, count: Int?) throws {
        var previous: Reading?
        var shown = 0
        while count.map({ shown < $0 }) ?? true {
            let info = try object(StatsClient.send("show info json", to: socketPath))
            let stat = try object(StatsClient.send("show stat json", to: socketPath))
            let ips = try array(StatsClient.send("show ips limit 5 json", to: socketPath))
            let reading = Reading(
                time: Double(MonotonicClock.nanoseconds()) / 1e9,
                accepted: sum(stat["listeners"], "accepted"),
                bytesIn: sum(stat["listeners"], "bytes_in"),
                bytesOut: sum(stat["listeners"], "bytes_out"),
                refusals: Dictionary(uniqueKeysWithValues: ((stat["refusals"] as? [[String: Any]]) ?? []).compactMap { row in
                    (row["reason"] as? String).map { ($0, row["count"] as? Int ?? 0) }
                }))
            StandardStreams.writeOutput(render(info: info, ips: ips, now: reading, before: previous, clear: count == nil))
            previous = reading
            shown += 1
            if count.map({ shown >= $0 }) ?? false { break }
            usleep(UInt32(intervalSeconds * 1_000_000))
        }
    }

    static func render(info: [String: Any], ips: [[String: Any]], now: Reading, before: Reading?, clear: Bool) -> String {
        let seconds = before.map { max(0.001, now.time - $0.time) }
        func rate(_ value: Int, _ old: Int?) -> String {
            guard let old, let seconds else { return "-" }
            return String(format: "%.1f", Double(value - old) / seconds)
        }
        var lines: [String] = []
        if clear { lines.append("\u{1B}[H\u{1B}[2J") }
        lines.append("bulwark \(info["version"] ?? "?")  pid \(info["pid"] ?? "?")  up \(info["uptime_seconds"] ?? 0)s  workers \(info["workers"] ?? "?")")
        lines.append("connections \(info["connections"] ?? 0)  accepts/s \(rate(now.accepted, before?.accepted))  "
            + "in B/s \(rate(now.bytesIn, before?.bytesIn))  out B/s \(rate(now.bytesOut, before?.bytesOut))")
        lines.append("memory rss \(info["memory_rss_bytes"] ?? "-")  open files \(info["open_files"] ?? "-")/\(info["open_files_limit"] ?? "-")")
        let guards = ["load", "memory", "memory_available", "swap"].map { name in
            "\(name) \((info["guard_\(name)_tripped"] as? Bool) == true ? "TRIPPED" : "ok")"
        }
        lines.append("guards: " + guards.joined(separator: "  "))
        let refusals = now.refusals.keys.sorted().compactMap { reason -> String? in
            let perSecond = rate(now.refusals[reason] ?? 0, before?.refusals[reason])
            return perSecond == "-" || perSecond == "0.0" ? nil : "\(reason) \(perSecond)"
        }
        lines.append("refusals/s: " + (refusals.isEmpty ? "none" : refusals.joined(separator: "  ")))
        lines.append("top IPs: " + (ips.isEmpty ? "(per-IP table off or empty)"
            : ips.map { "\($0["address"] ?? "?") \($0["connections"] ?? 0)" }.joined(separator: "  ")))
        return lines.joined(separator: "\n")
    }

    private static func sum(_ rows: Any?, _ key: String) -> Int {
        ((rows as? [[String: Any]]) ?? []).reduce(0) { $0 + ($1[key] as? Int ?? 0) }
    }

    private static func object(_ text: String) throws -> [String: Any] {
        guard let value = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw SystemError("unexpected answer: \(text.prefix(80))", errno: EPROTO)
        }
        return value
    }

    private static func array(_ text: String) throws -> [[String: Any]] {
        guard let value = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw SystemError("unexpected answer: \(text.prefix(80))", errno: EPROTO)
        }
        return value
    }
}
