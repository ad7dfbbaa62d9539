import BulwarkSys

/// Per-thread state handed to every handler call: the scratch buffer every read lands in first
/// (connections keep only what they could not pass on), and the thread's index.
public final class WorkerContext: @unchecked Sendable {  // @unchecked: each context is used by exactly one worker thread
    public let index: Int
    public let scratch: UnsafeMutableRawBufferPointer

    init(index: Int, scratchBytes: Int) {
        self.index = index
        scratch = .allocate(byteCount: scratchBytes, alignment: 16)
    }

    deinit { scratch.deallocate() }
}

/// Something that owns fds on the engine's epoll. `handle` is called on a worker thread for an
/// event on one of its fds; with EPOLLONESHOT that fd is disarmed until the handler re-arms it.
public protocol EventHandler: AnyObject, Sendable {
    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext)
    /// The engine has stopped (no more events will come): release the fds now.
    func engineStopped()
}
