import BulwarkSys
import Engine
import Synchronization

/// Delivers one push to many sessions on every engine thread at once. A broadcast is one TCP
/// send per client (about 8 µs of kernel time each here), so on one thread 8,000 sessions take
/// 60 ms or more and a million would take seconds; the other workers (asleep as followers,
/// woken by the scheduled chunks, or polling) take chunks of the recipients too. The thread
/// that started it returns only when every chunk is done, so what that thread settles next
/// (a DATA to one of these sessions) cannot overtake the push: each session's frames stay in
/// order. It never waits for a thread that has not started: the chunks are claimed, not
/// assigned, and the starting thread claims chunks until none are left, so two threads fanning
/// out at once cannot wait on each other.
final class Fanout: Sendable {
    /// Below this many recipients one thread does it all (waking another costs more).
    static let parallelThreshold = 1024
    /// From this many sends (about 8 µs each) on, a handler's work is long enough that another
    /// thread should poll the epoll meanwhile (Engine.letAnotherThreadPoll).
    static let sendsWorthAnotherPoller = 64
    static let chunkSize = 256

    private let recipients: [MuxSession]
    private let deliver: @Sendable (MuxSession) -> Void
    private let chunkCount: Int
    private let nextChunk = Atomic<Int>(0)
    private let chunksDone = Atomic<Int>(0)

    private init(recipients: [MuxSession], deliver: @escaping @Sendable (MuxSession) -> Void) {
        self.recipients = recipients
        self.deliver = deliver
        chunkCount = (recipients.count + Self.chunkSize - 1) / Self.chunkSize
    }

    /// Calls `deliver` once for each recipient, spread over the engine's threads; returns once
    /// all calls returned. `deliver` must be safe on any thread (a session takes its own lock).
    static func run(_ recipients: [MuxSession], engine: Engine, deliver: @escaping @Sendable (MuxSession) -> Void) {
        guard recipients.count >= parallelThreshold, engine.workerCount > 1 else {
            if recipients.count >= sendsWorthAnotherPoller { engine.letAnotherThreadPoll() }
            for recipient in recipients { deliver(recipient) }
            return
        }
        let job = Fanout(recipients: recipients, deliver: deliver)
        for _ in 1..<min(engine.workerCount, job.chunkCount) { engine.schedule { job.claimChunks() } }
        job.claimChunks()
        // What is left is in the hands of threads already delivering: a few chunks' worth.
        while job.chunksDone.load(ordering: .acquiring) < job.chunkCount { ThreadIdentity.yield() }
    }

    private func claimChunks() {
        while true {
            let chunk = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
            guard chunk < chunkCount else { return }
            let start = chunk * Self.chunkSize
            for index in start..<min(start + Self.chunkSize, recipients.count) { deliver(recipients[index]) }
            chunksDone.add(1, ordering: .releasing)
        }
    }
}
