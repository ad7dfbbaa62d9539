import BulwarkSys

/// The master's view of one worker process.
final class WorkerProcess {
    enum Role: Equatable {
        /// Started; not yet serving. Killed if not ready by the deadline.
        case starting(deadlineNanoseconds: Int64)
        /// Accepting and serving.
        case serving
        /// Told to stop accepting and finish its connections; killed past the deadline.
        case draining(deadlineNanoseconds: Int64)
    }

    let pid: Int32
    /// The master's end of the message channel; -1 once the worker closed its end.
    var channel: Int32
    var role: Role
    let startedAtNanoseconds: Int64
    /// The last time the worker's engine reported progress ("alive").
    var aliveAtNanoseconds: Int64
    /// The latest "status" line, for sd_notify STATUS=.
    var status = ""

    init(pid: Int32, channel: Int32, role: Role, now: Int64) {
        self.pid = pid
        self.channel = channel
        self.role = role
        startedAtNanoseconds = now
        aliveAtNanoseconds = now
    }

    var isServing: Bool { role == .serving }
    var isStarting: Bool { if case .starting = role { return true } else { return false } }
    var isDraining: Bool { if case .draining = role { return true } else { return false } }

    /// Tells the worker something for `show info` (advisory: a full or closed channel drops it).
    func note(_ topic: String, _ text: String) {
        if channel >= 0 { MessageChannel.send(channel, "note \(topic) \(text)") }
    }

    func closeChannel() {
        if channel >= 0 { FileDescriptors.close(channel) }
        channel = -1
    }

    /// For the next master image: "pid,channel,role".
    var encoded: String {
        let roleText: String
        switch role {
        case .starting: roleText = "starting"
        case .serving: roleText = "serving"
        case .draining: roleText = "draining"
        }
        return "\(pid),\(channel),\(roleText)"
    }
}
