// The supervisor's state as text, handed from one master image to the next across an
// upgrade's execve (with the shell's sockets and fds beside it). A newer binary reads what an
// older one wrote; a format it does not know is refused by its upgrade check, before any exec.
//
// One fact a line, "KEY FIELD FIELD ...", fields separated by spaces; text fields are escaped
// (`\s` space, `\n` newline, `\\` backslash, `\-` empty) and times are monotonic nanoseconds.

public enum SnapshotError: Error, Equatable, CustomStringConvertible {
    case unknownFormat(String)
    case malformed(line: Int, text: String)

    public var description: String {
        switch self {
        case .unknownFormat(let header): return "unknown supervisor state format \"\(header)\""
        case .malformed(let line, let text): return "supervisor state line \(line) not understood: \(text)"
        }
    }
}

extension Supervisor {
    public static let snapshotFormat = "bulwark-supervisor 1"

    public var encoded: String {
        var lines = [Self.snapshotFormat]
        func add(_ fields: String...) { lines.append(fields.joined(separator: " ")) }
        add("version", Snapshot.escape(runningVersion), Snapshot.escape(upgradedFrom ?? ""))
        add("config", Snapshot.config(configInForce))
        add("lifecycle", Snapshot.lifecycle(lifecycle))
        add("change", Snapshot.change(change))
        add("queued", queued.isEmpty ? "-" : queued.map(\.rawValue).joined(separator: ","))
        add("respawn", Snapshot.instant(respawnAt))
        add("counters", String(crashStreak), String(nextWorkerNumber), Snapshot.instant(lastWatchdog), String(now.nanoseconds))
        add("timings", Snapshot.timings(timings))
        for topic in OutcomeTopic.allCases {
            if let outcome = records[topic] { add("record", topic.rawValue, Snapshot.escape(outcome.word), Snapshot.escape(outcome.detail)) }
        }
        for worker in workers { add("worker", Snapshot.worker(worker)) }
        return lines.joined(separator: "\n")
    }

    public init(encoded text: String) throws(SnapshotError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.first == Self.snapshotFormat else { throw .unknownFormat(lines.first ?? "") }
        var reader = Snapshot.Reader()
        for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            guard reader.take(line) else { throw .malformed(line: index + 1, text: line) }
        }
        guard let state = reader.state else { throw .malformed(line: lines.count, text: "a required line is missing") }
        self = state
    }
}

/// The field codecs of the snapshot.
enum Snapshot {
    static func escape(_ text: String) -> String {
        if text.isEmpty { return "\\-" }
        var escaped = ""
        for character in text {
            switch character {
            case " ": escaped += "\\s"
            case "\n": escaped += "\\n"
            case "\\": escaped += "\\\\"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func unescape(_ field: Substring) -> String? {
        if field == "\\-" { return "" }
        var text = ""
        var escaping = false
        for character in field {
            if escaping {
                switch character {
                case "s": text += " "
                case "n": text += "\n"
                case "\\": text += "\\"
                default: return nil
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                text.append(character)
            }
        }
        return escaping ? nil : text
    }

    static func instant(_ value: Instant?) -> String { value.map { String($0.nanoseconds) } ?? "-" }

    static func instant(_ field: Substring) -> Instant?? {
        if field == "-" { return .some(nil) }
        return Int64(field).map { .some(Instant(nanoseconds: $0)) }
    }

    static func duration(_ value: Duration?) -> String { value.map { String($0.nanoseconds) } ?? "-" }

    static func duration(_ field: Substring) -> Duration?? {
        if field == "-" { return .some(nil) }
        return Int64(field).map { .some(.nanoseconds($0)) }
    }

    static func config(_ config: SupervisedConfig) -> String {
        "\(config.id.number) \(duration(config.drainTimeout)) \(duration(config.startTimeout)) \(duration(config.upgradeProbation))"
    }

    static func config(_ fields: ArraySlice<Substring>) -> SupervisedConfig? {
        guard fields.count == 4, let id = UInt64(fields[fields.startIndex]),
              let drain = duration(fields[fields.startIndex + 1]) ?? nil,
              let start = duration(fields[fields.startIndex + 2]) ?? nil,
              let probation = duration(fields[fields.startIndex + 3]) ?? nil else { return nil }
        return SupervisedConfig(id: ConfigID(id), drainTimeout: drain, startTimeout: start, upgradeProbation: probation)
    }

    static func lifecycle(_ lifecycle: Lifecycle) -> String {
        switch lifecycle {
        case .running: return "running"
        case .stopping(let deadline): return "stopping \(deadline.nanoseconds)"
        case .stoppingNow(let deadline): return "stopping-now \(deadline.nanoseconds)"
        }
    }

    static func lifecycle(_ fields: [Substring]) -> Lifecycle? {
        switch (fields.first, fields.count) {
        case ("running"?, 1): return .running
        case ("stopping"?, 2): return Int64(fields[1]).map { .stopping(deadline: Instant(nanoseconds: $0)) }
        case ("stopping-now"?, 2): return Int64(fields[1]).map { .stoppingNow(deadline: Instant(nanoseconds: $0)) }
        default: return nil
        }
    }

    static func change(_ change: Change?) -> String {
        switch change {
        case nil: return "-"
        case .replacing(let worker)?: return "replacing \(worker.number)"
        case .readingConfig?: return "reading"
        case .applyingLive(let config, let worker, let deadline)?:
            return "applying \(worker.number) \(self.config(config)) \(deadline.nanoseconds)"
        case .reloading(let config, let worker, let changes)?:
            return "reloading \(worker.number) \(self.config(config))" + changes.map { " " + escape($0) }.joined()
        case .checkingBinary(let deadline)?: return "checking \(deadline.nanoseconds)"
        case .upgrading(let worker)?: return "upgrading \(worker.number)"
        }
    }

    static func change(_ fields: [Substring]) -> Change?? {
        guard let kind = fields.first else { return nil }
        let worker = fields.count > 1 ? UInt64(fields[1]).map(WorkerID.init) : nil
        switch kind {
        case "-" where fields.count == 1: return .some(nil)
        case "replacing" where fields.count == 2: return worker.map { .replacing(worker: $0) }
        case "reading" where fields.count == 1: return .readingConfig
        case "applying" where fields.count == 7:
            guard let worker, let config = config(fields[2..<6]), let deadline = Int64(fields[6]) else { return nil }
            return .applyingLive(config, worker: worker, deadline: Instant(nanoseconds: deadline))
        case "reloading" where fields.count >= 6:
            let changes = fields[6...].map(unescape)
            guard let worker, let config = config(fields[2..<6]), !changes.contains(nil) else { return nil }
            return .reloading(config, worker: worker, changes: changes.compactMap { $0 })
        case "checking" where fields.count == 2:
            return Int64(fields[1]).map { .checkingBinary(deadline: Instant(nanoseconds: $0)) }
        case "upgrading" where fields.count == 2: return worker.map { .upgrading(worker: $0) }
        default: return nil
        }
    }

    static func timings(_ timings: SupervisorTimings) -> String {
        [timings.killGrace, timings.firstBackoff, timings.maximumBackoff, timings.stableAfter, timings.binaryCheckTimeout,
         timings.liveApplyTimeout].map { duration($0) }.joined(separator: " ")
            + " \(duration(timings.watchdogInterval)) \(duration(timings.aliveWithin))"
    }

    static func timings(_ fields: [Substring]) -> SupervisorTimings? {
        guard fields.count == 8 else { return nil }
        let values = fields.map { duration($0) }
        guard !values.contains(where: { $0 == nil }) else { return nil }
        let durations = values.map { $0! }
        guard let grace = durations[0], let first = durations[1], let maximum = durations[2], let stable = durations[3],
              let check = durations[4], let apply = durations[5], let alive = durations[7] else { return nil }
        return SupervisorTimings(killGrace: grace, firstBackoff: first, maximumBackoff: maximum, stableAfter: stable,
                                 binaryCheckTimeout: check, liveApplyTimeout: apply, watchdogInterval: durations[6], aliveWithin: alive)
    }

    static func role(_ role: WorkerRole) -> String {
        switch role {
        case .starting(let deadline): return "starting:\(deadline.nanoseconds)"
        case .standby(let ends): return "standby:\(instant(ends))"
        case .promoting(let deadline): return "promoting:\(deadline.nanoseconds)"
        case .serving: return "serving"
        case .draining(let deadline, let killed): return "draining:\(deadline.nanoseconds):\(killed ? "killed" : "-")"
        case .abandoned: return "abandoned"
        }
    }

    static func role(_ field: Substring) -> WorkerRole? {
        let parts = field.split(separator: ":", omittingEmptySubsequences: false)
        let time = parts.count > 1 ? Int64(parts[1]).map { Instant(nanoseconds: $0) } : nil
        switch (parts[0], parts.count) {
        case ("starting", 2): return time.map { .starting(deadline: $0) }
        case ("standby", 2): return parts[1] == "-" ? .standby(probationEnds: nil) : time.map { .standby(probationEnds: $0) }
        case ("promoting", 2): return time.map { .promoting(deadline: $0) }
        case ("serving", 1): return .serving
        case ("draining", 3): return time.map { .draining(deadline: $0, killed: parts[2] == "killed") }
        case ("abandoned", 1): return .abandoned
        default: return nil
        }
    }

    static func worker(_ worker: WorkerRecord) -> String {
        [String(worker.id.number), worker.pid.map(String.init) ?? "-", worker.binary.rawValue, String(worker.config.number),
         role(worker.role), String(worker.startedAt.nanoseconds), instant(worker.servingSince), String(worker.aliveAt.nanoseconds),
         escape(worker.version ?? "")].joined(separator: " ")
    }

    static func worker(_ fields: [Substring]) -> WorkerRecord? {
        guard fields.count == 9, let id = UInt64(fields[0]), let binary = WorkerBinary(rawValue: String(fields[2])),
              let config = UInt64(fields[3]), let role = role(fields[4]), let started = Int64(fields[5]),
              let serving = instant(fields[6]), let alive = Int64(fields[7]), let version = unescape(fields[8]) else { return nil }
        let pid: Int32?
        if fields[1] == "-" { pid = nil } else if let number = Int32(fields[1]) { pid = number } else { return nil }
        return WorkerRecord(id: WorkerID(id), pid: pid, binary: binary, config: ConfigID(config), role: role,
                            startedAt: Instant(nanoseconds: started), servingSince: serving,
                            aliveAt: Instant(nanoseconds: alive), version: version.isEmpty ? nil : version)
    }

    /// Collects the lines; `state` once every required one was seen.
    struct Reader {
        var version: (String, String?)?
        var config: SupervisedConfig?
        var lifecycle: Lifecycle?
        var change: Change??
        var queued: [Request]?
        var respawn: Instant??
        var counters: (streak: Int, nextWorker: UInt64, watchdog: Instant?, now: Instant)?
        var timings: SupervisorTimings?
        var records: [OutcomeTopic: Outcome] = [:]
        var workers: [WorkerRecord] = []

        mutating func take(_ line: String) -> Bool {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            let rest = Array(fields.dropFirst())
            switch fields[0] {
            case "version" where rest.count == 2:
                guard let running = unescape(rest[0]), let from = unescape(rest[1]) else { return false }
                version = (running, from.isEmpty ? nil : from)
            case "config": config = Snapshot.config(rest[...])
                return config != nil
            case "lifecycle": lifecycle = Snapshot.lifecycle(rest)
                return lifecycle != nil
            case "change": change = Snapshot.change(rest)
                return change != nil
            case "queued" where rest.count == 1:
                if rest[0] == "-" { queued = []; return true }
                let requests = rest[0].split(separator: ",").map { Request(rawValue: String($0)) }
                guard !requests.contains(nil) else { return false }
                queued = requests.compactMap { $0 }
            case "respawn" where rest.count == 1:
                respawn = instant(rest[0])
                return respawn != nil
            case "counters" where rest.count == 4:
                guard let streak = Int(rest[0]), let next = UInt64(rest[1]), let watchdog = instant(rest[2]),
                      let now = Int64(rest[3]) else { return false }
                counters = (streak, next, watchdog, Instant(nanoseconds: now))
            case "timings": timings = Snapshot.timings(rest)
                return timings != nil
            case "record" where rest.count == 3:
                guard let topic = OutcomeTopic(rawValue: String(rest[0])), let word = unescape(rest[1]),
                      let detail = unescape(rest[2]) else { return false }
                records[topic] = Outcome(word, detail)
            case "worker":
                guard let worker = Snapshot.worker(rest) else { return false }
                workers.append(worker)
            default:
                return false
            }
            return true
        }

        var state: Supervisor? {
            guard let version, let config, let lifecycle, let change, let queued, let respawn, let counters, let timings else { return nil }
            var state = Supervisor(configInForce: config, runningVersion: version.0, timings: timings, now: counters.now)
            state.upgradedFrom = version.1
            state.lifecycle = lifecycle
            state.change = change
            state.queued = queued
            state.respawnAt = respawn
            state.crashStreak = counters.streak
            state.nextWorkerNumber = counters.nextWorker
            state.lastWatchdog = counters.watchdog
            state.records = records
            state.workers = workers
            return state
        }
    }
}
