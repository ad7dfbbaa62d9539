import BulwarkSys
import Synchronization

// The leader-follower engine.
//
// N equal worker threads share ONE epoll. The leader lock (a pthread mutex, so followers can
// wait on a condition variable with it) guards the shared ready list and the leader's role. A thread takes the
// next event from the ready list; when the list is empty and no thread is polling, it becomes
// the leader and calls epoll_wait (outside the lock: only the leader writes the list, and only
// while it is empty), and when another thread already polls, it sleeps as a follower.
//
// Followers are woken only when there is work for them: events left in the ready list after
// one is taken, a scheduled action, or stop(). A harvest of one event is handled by the thread
// that polled, which then polls again while the followers sleep on. (Handing leadership on
// after every harvest, as a plain mutex does, cost two context switches per harvest: on a
// loaded machine two workers then spent more CPU per request than one; docs/design.md.) A
// handler about to do long work calls `letAnotherThreadPoll` so the epoll is watched meanwhile.
//
// Rules that make this safe:
// 1. An fd is armed EPOLLONESHOT (the default): once an event for it is harvested the kernel
//    reports nothing more for it until it is re-armed, so one thread at a time handles it. The
//    handler re-arms it (Engine.rearm) with the interest it now needs, or leaves it disarmed.
//    Or it is added edge-triggered (Triggering.edge) by a handler that serialises itself with its
//    own lock: the kernel may then report the fd again while a thread still handles it, and the
//    second thread waits on that lock, so still one thread at a time works on the fd. This saves
//    the epoll_ctl re-arm after every event (a third of all syscalls of a relay round trip); the
//    handler must read until a short read or EAGAIN, and call `retrigger` if it stops early.
// 2. epoll data is a Registration token (slot, generation, source), never a pointer. An event for
//    a slot freed (and maybe reused) since it was harvested fails the generation check and is
//    dropped (counted in staleEvents).
// 3. A handler owning several fds (a relay session: client, backend, timer) may be entered by two
//    threads at once for two different fds; it serialises itself with its own lock, and while
//    holding it may re-arm any of its fds.
// 4. Anything else that touches a handler from another thread goes through that handler's lock.
//
// A slot's states:
//   free --add--> live(gen) --remove--> free(gen+1)
//   event(token gen) on live(gen)  -> handler.handle
//   event(token gen) on free/live(gen') with gen' != gen -> dropped (stale)
//
// The wake-up eventfd is level-triggered (not one-shot): once stop() signals it, the thread
// polling sees it and leaves, and so does every thread that polls after it; stop() wakes the
// sleeping followers itself. Signals come through a signalfd on the same epoll.
public final class Engine: @unchecked Sendable {  // @unchecked: readyNext/readyCount/polling/sleepingFollowers/pendingWakes are only touched under leaderLock, readyEvents under it or by the one polling thread while the list is empty, wakeActions under wakeLock; the rest is immutable or atomic
    public let workerCount: Int
    public let epoll: Epoll
    private let registry = Registry()
    private let leaderLock = PthreadLock()
    private let followerWake = PthreadCondition()
    private let readyCapacity: Int32
    private let readyEvents: UnsafeMutablePointer<EpollEventRecord>
    private var readyNext = 0
    private var readyCount = 0
    /// A thread is in epoll_wait (or on its way in, or just back and not yet holding the lock).
    private var polling = false
    /// schedule() found a thread polling: its harvest may not hold the wake-up, so a follower
    /// is woken once that thread is back (see workerLoop).
    private var scheduledWhilePolling = false
    /// Followers asleep and not yet asked to wake.
    private var sleepingFollowers = 0
    /// Wake-ups signalled and not yet taken by a follower (a spurious wake-up takes none).
    private var pendingWakes = 0
    private let stopping = Atomic<Bool>(false)
    private let waker: EventFD
    private let scratchBytes: Int
    private let staleEventCount = Atomic<Int>(0)
    private let rearmFailureCount = Atomic<Int>(0)
    private let handledEventCount = Atomic<Int>(0)
    private let wakeLock = PthreadLock()
    private var wakeActions: [@Sendable () -> Void] = []

    /// `eventsPerWait` bounds one epoll_wait harvest; `scratchBytes` is each thread's read buffer.
    public init(workers: Int, eventsPerWait: Int = 64, scratchBytes: Int = 64 * 1024) throws(SystemError) {
        precondition(workers >= 1)
        workerCount = workers
        epoll = try Epoll()
        waker = try EventFD()
        readyCapacity = Int32(eventsPerWait)
        readyEvents = .allocate(capacity: eventsPerWait)
        self.scratchBytes = scratchBytes
        try epoll.add(waker.fd, events: .readable, data: Engine.wakeToken)
    }

    deinit {
        readyEvents.deallocate()
        waker.close()
        epoll.close()
    }

    private static let wakeToken = UInt64.max

    // MARK: registrations

    /// Gives `handler` a slot; its fds are then added with `add(fd:source:...)`.
    public func register(_ handler: any EventHandler) -> Registration { registry.add(handler) }

    /// Frees the slot: events already harvested for it are dropped from now on. Close the fds
    /// (which removes them from the epoll) before or after, under the handler's lock.
    public func unregister(_ registration: Registration) { registry.remove(registration) }

    /// How an fd reports readiness; see rule 1 above.
    public enum Triggering: Sendable {
        /// EPOLLONESHOT: disarmed after each event until `rearm`.
        case oneShot
        /// EPOLLET: an event per change of readiness, never disarmed; for self-locking handlers.
        case edge

        @inline(__always) var flags: EpollEvents { self == .oneShot ? .oneShot : .edgeTriggered }
    }

    /// EPOLL_CTL_ADD. If the fd is already ready, the event comes at once.
    public func add(fd: Int32, source: Int, of registration: Registration, interest: EpollEvents,
                    triggering: Triggering = .oneShot) throws(SystemError) {
        try epoll.add(fd, events: interest.union(triggering.flags), data: registration.token(source: source))
    }

    /// EPOLL_CTL_MOD on an edge-triggered fd: the kernel re-checks readiness and reports it again
    /// if it still holds (a handler that stopped reading before EAGAIN comes back this way).
    public func retrigger(fd: Int32, source: Int, of registration: Registration, interest: EpollEvents) throws(SystemError) {
        do {
            try epoll.modify(fd, events: interest.union(.edgeTriggered), data: registration.token(source: source))
        } catch {
            rearmFailureCount.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// EPOLL_CTL_MOD, one-shot: the handler's way to say what it wants next for this fd.
    @inline(__always)
    public func rearm(fd: Int32, source: Int, of registration: Registration, interest: EpollEvents) throws(SystemError) {
        do {
            try epoll.modify(fd, events: interest.union(.oneShot), data: registration.token(source: source))
        } catch {
            rearmFailureCount.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// Re-arms (and retriggers) that failed since start: each also closed its connection or was
    /// logged by its owner, which must never swallow one (an fd not re-armed is deaf for good).
    public var rearmFailures: Int { rearmFailureCount.load(ordering: .relaxed) }

    public var liveRegistrations: Int { registry.liveCount }
    public var staleEvents: Int { staleEventCount.load(ordering: .relaxed) }
    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    // MARK: running

    /// Runs the worker threads; returns when stop() was called and every thread has left. The
    /// calling thread is one of the workers. Block signals (SignalFD) before calling this: the
    /// threads inherit the calling thread's mask.
    public func run() throws(SystemError) {
        var threads: [NativeThread] = []
        for index in 1..<workerCount {
            let context = WorkerContext(index: index, scratchBytes: scratchBytes)
            threads.append(try NativeThread.start(name: "bulwark-w\(index)") { [self] in workerLoop(context) })
        }
        workerLoop(WorkerContext(index: 0, scratchBytes: scratchBytes))
        for thread in threads { thread.join() }
    }

    /// Asks every thread to leave; safe from any thread (a handler, a signal handler's event).
    public func stop() {
        stopping.store(true, ordering: .releasing)
        waker.signal()
        leaderLock.withLock { followerWake.broadcast() }
    }

    /// Runs `action` on a worker thread soon (the eventfd wakes the thread polling; when every
    /// thread is busy or asleep, a follower is woken to poll).
    public func schedule(_ action: @escaping @Sendable () -> Void) {
        wakeLock.withLock { wakeActions.append(action) }
        // Before the eventfd: otherwise the poller it wakes often clears `polling` first, and a
        // follower is woken for nothing.
        leaderLock.withLock {
            if polling { scheduledWhilePolling = true } else { wakeOneFollower() }
        }
        waker.signal()
    }

    /// For a handler about to do long work (a config reload, a push to many sessions): if no
    /// thread is polling, wakes a sleeping follower to poll, so other connections' events are
    /// not left waiting meanwhile.
    public func letAnotherThreadPoll() {
        leaderLock.withLock {
            if !polling { wakeOneFollower() }
        }
    }

    /// Test hook: (followers asleep and not yet asked to wake, whether a thread polls).
    public var followerStateForTesting: (sleeping: Int, polling: Bool) {
        leaderLock.withLock { (sleepingFollowers, polling) }
    }

    /// Under leaderLock.
    @inline(__always)
    private func wakeOneFollower() {
        guard sleepingFollowers > 0 else { return }
        sleepingFollowers -= 1
        pendingWakes += 1
        followerWake.signal()
    }

    /// After run() returned: tells every remaining handler to release its fds.
    public func closeRemaining() {
        for handler in registry.allHandlers() { handler.engineStopped() }
    }

    private func workerLoop(_ context: WorkerContext) {
        StripedCounter.assignStripe(workerIndex: context.index)
        leaderLock.lock()
        while true {
            if stopping.load(ordering: .acquiring) {
                leaderLock.unlock()
                return
            }
            if readyNext < readyCount {
                let event = readyEvents[readyNext]
                readyNext += 1
                if readyNext < readyCount { wakeOneFollower() }  // more than this thread can take now
                leaderLock.unlock()
                dispatch(data: event.token, events: event.readiness, worker: context)
                leaderLock.lock()
            } else if polling {
                // Another thread polls: sleep until there is work for this one.
                sleepingFollowers += 1
                repeat {
                    followerWake.wait(releasing: leaderLock)
                } while pendingWakes == 0 && !stopping.load(ordering: .acquiring)
                if pendingWakes > 0 { pendingWakes -= 1 } else { sleepingFollowers -= 1 }
            } else {
                // This thread leads: wait for the kernel. The list is empty, so nobody reads it.
                polling = true
                leaderLock.unlock()
                let harvested = (try? epoll.wait(into: readyEvents, capacity: readyCapacity, timeoutMilliseconds: -1)) ?? 0
                leaderLock.lock()
                polling = false
                readyNext = 0
                readyCount = harvested
                if scheduledWhilePolling {
                    // An action came while this thread was coming back from epoll_wait: if the
                    // harvest missed its wake-up, nobody would poll for it until a handler
                    // returns, so a follower does.
                    scheduledWhilePolling = false
                    if !harvestHoldsWakeUp() { wakeOneFollower() }
                }
            }
        }
    }

    /// Under leaderLock: whether the ready list holds the eventfd's wake-up.
    private func harvestHoldsWakeUp() -> Bool {
        (readyNext..<readyCount).contains { readyEvents[$0].token == Engine.wakeToken }
    }

    /// Routes one harvested event to its handler, or drops it as stale.
    @inline(__always)
    func dispatch(data: UInt64, events: EpollEvents, worker: WorkerContext) {
        if data == Engine.wakeToken {
            runWakeActions()
            return
        }
        let (registration, source) = Registration.decode(data)
        guard let handler = registry.resolve(registration) else {
            staleEventCount.add(1, ordering: .relaxed)
            return
        }
        handler.handle(events, source: source, worker: worker)
    }

    private func runWakeActions() {
        if stopping.load(ordering: .acquiring) { return }  // stays readable so every thread sees the stop
        waker.drain()
        if stopping.load(ordering: .acquiring) {
            // stop() came between the check and the drain, which took its signal: put it back,
            // or the thread polling now would never see it.
            waker.signal()
            return
        }
        let actions = wakeLock.withLock {
            let taken = wakeActions
            wakeActions.removeAll()
            return taken
        }
        for action in actions { action() }
    }

    /// Test hook: delivers a raw epoll token as if epoll_wait had returned it.
    public func deliverForTesting(token: UInt64, events: EpollEvents) {
        let context = WorkerContext(index: -1, scratchBytes: 16)
        dispatch(data: token, events: events, worker: context)
    }
}
