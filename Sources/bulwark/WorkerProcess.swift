import BulwarkSys
import Supervisor

/// The shell's side of one worker process: what the supervisor's `WorkerID` stands for.
final class WorkerProcess {
    let id: WorkerID
    let pid: Int32
    /// The master's end of the message channel; -1 once the worker closed its end.
    private(set) var channel: Int32

    init(id: WorkerID, pid: Int32, channel: Int32) {
        self.id = id
        self.pid = pid
        self.channel = channel
    }

    /// Sends one message (and maybe a file); false if the worker is gone or its queue is full.
    @discardableResult
    func send(_ message: String, file: Int32? = nil) -> Bool {
        channel >= 0 && MessageChannel.send(channel, message, file: file)
    }

    func closeChannel() {
        if channel >= 0 { FileDescriptors.close(channel) }
        channel = -1
    }
}
