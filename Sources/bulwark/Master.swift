import BulwarkSys
import Config
import Gateway
import Glibc
import Logging

/// The master process of `bulwark run`. It validates the config, binds every listening socket
/// once, starts one worker process (the engine) that inherits them, and never relays a byte.
/// It restarts a worker that dies (with a back-off), reloads on SIGHUP, re-executes its binary
/// on SIGUSR2 keeping its pid and the sockets, and drains on SIGTERM. One thread: a poll loop
/// over a signalfd and the workers' message channels.
final class Master {
    static let readyTimeoutNanoseconds: Int64 = 30_000_000_000
    /// Past a worker's drain deadline, this long before SIGKILL.
    static let killGraceNanoseconds: Int64 = 2_000_000_000
    static let firstBackoffNanoseconds: Int64 = 1_000_000_000
    static let maximumBackoffNanoseconds: Int64 = 30_000_000_000
    /// A worker that served this long before dying resets the back-off.
    static let stableNanoseconds: Int64 = 60_000_000_000
    static let stateVariable = "BULWARK_MASTER_STATE"
    static let socketsVariable = "BULWARK_MASTER_SOCKETS"

    /// A change waiting for its new worker to be ready.
    enum PendingChange {
        case start
        case reload(config: GatewayConfig, text: String, sockets: InheritedSockets)
        case upgrade(fromVersion: String)
    }

    let configPath: String
    var config: GatewayConfig
    /// The path an upgrade executes: whatever binary is there then.
    let binaryPath: String
    let logger: Logger
    private var sockets = InheritedSockets()
    private var workers: [WorkerProcess] = []
    private let signals: SignalFD
    private var pending: PendingChange?
    private var stopDeadline: Int64?
    private var respawnAt: Int64?
    private var backoff = Master.firstBackoffNanoseconds
    private let watchdogInterval: Int64?
    /// The highest mux session counter a worker reported: the next worker starts above it.
    private var sessionFloor: UInt64 = 0
    private var lastWatchdog: Int64 = 0

    init(configPath: String, config: GatewayConfig, logger: Logger) throws(SystemError) {
        self.configPath = configPath
        self.config = config
        self.logger = logger
        signals = try SignalFD(signals: [SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGCHLD])
        let state = Processes.environment(Self.stateVariable).map(MasterState.init(encoded:))
        binaryPath = state?.binaryPath ?? Processes.executablePath() ?? CommandLine.arguments[0]
        watchdogInterval = Processes.environment("WATCHDOG_USEC").flatMap(Int64.init).map { $0 * 1000 / 2 }
        if let state { restore(state) }
    }

    // MARK: starting

    /// Binds (or, after an upgrade, takes over) the sockets and starts the first worker; then
    /// loops until stopped. Returns the exit status.
    func run() -> Int32 {
        if pending == nil {
            do {
                sockets = try InheritedSockets.bind(for: config, keeping: InheritedSockets())
            } catch {
                logger.critical("cannot start: \(error)")
                return 1
            }
            pending = .start
            _ = startWorker(config: config, sockets: sockets)
        }
        logger.notice("master \(getpid()) running; worker process \(workers.last.map { String($0.pid) } ?? "none") starting")
        while true {
            let channels = workers.map(\.channel).filter { $0 >= 0 }
            let readable = Poll.readable([signals.fd] + channels, timeoutMilliseconds: 100)
            if readable.contains(signals.fd) { handleSignals() }
            for worker in workers where worker.channel >= 0 && readable.contains(worker.channel) { readMessages(worker) }
            reapWorkers()
            checkDeadlines()
            if stopDeadline != nil && workers.isEmpty {
                sockets.closeAll(except: InheritedSockets())
                logger.notice("master: every worker has stopped; exiting")
                return 0
            }
        }
    }

    /// Starts a worker on `sockets` with the config file as it is now. Nil when it cannot start.
    private func startWorker(config: GatewayConfig, sockets: InheritedSockets) -> WorkerProcess? {
        do {
            let (masterEnd, workerEnd) = try MessageChannel.pair()
            let environment = Processes.environment().filter { entry in
                !["BULWARK_", "NOTIFY_SOCKET=", "WATCHDOG_", "LISTEN_"].contains { entry.hasPrefix($0) }
            } + ["BULWARK_MASTER_FD=\(workerEnd)", "BULWARK_MASTER_PID=\(getpid())", "BULWARK_SOCKETS=\(sockets.encoded)",
                 // Reported once a second: a margin of one second at 16 ids a millisecond.
                 "BULWARK_SESSION_FLOOR=\(sessionFloor == 0 ? 0 : sessionFloor + 16_000)"]
            // /proc/self/exe: a worker always runs the master's own version, even once the file
            // at the path was replaced and before an upgrade is asked for.
            let pid: Int32
            do {
                pid = try Processes.spawn(path: "/proc/self/exe", argv0: binaryPath, arguments: ["worker", "-c", configPath], environment: environment,
                                          keepFDs: [workerEnd] + sockets.allFDs)
            } catch {
                FileDescriptors.close(masterEnd)
                FileDescriptors.close(workerEnd)
                throw error
            }
            FileDescriptors.close(workerEnd)
            let now = MonotonicClock.nanoseconds()
            let worker = WorkerProcess(pid: pid, channel: masterEnd, role: .starting(deadlineNanoseconds: now + Self.readyTimeoutNanoseconds), now: now)
            workers.append(worker)
            return worker
        } catch {
            logger.error("master: cannot start a worker: \(error)")
            return nil
        }
    }

    // MARK: messages from workers

    private func readMessages(_ worker: WorkerProcess) {
        let (messages, closed) = MessageChannel.receive(worker.channel)
        for message in messages {
            let (verb, rest) = Self.split(message)
            switch verb {
            case "ready": workerReady(worker)
            case "alive": worker.aliveAtNanoseconds = MonotonicClock.nanoseconds()
            case "floor": sessionFloor = max(sessionFloor, UInt64(rest) ?? 0)
            case "status":
                worker.status = rest
                if worker.isServing { SystemdNotify.send("STATUS=\(rest)") }
            case "request":
                logger.notice("master: \(rest) requested on the stats socket (worker \(worker.pid))")
                if rest == "reload" { reload() } else if rest == "upgrade" { upgrade() }
            default:
                logger.warning("master: unknown message from worker \(worker.pid): \(message)")
            }
        }
        if closed { worker.closeChannel() }
    }

    private static func split(_ message: String) -> (String, String) {
        guard let space = message.firstIndex(of: " ") else { return (message, "") }
        return (String(message[..<space]), String(message[message.index(after: space)...]))
    }

    /// The new worker serves: the ones before it drain, and the change it carried is done.
    private func workerReady(_ worker: WorkerProcess) {
        guard worker.isStarting else { return }
        worker.role = .serving
        let drainDeadline = MonotonicClock.nanoseconds() + config.server.drainTimeout.nanosecondCount
        for old in workers where old !== worker && (old.isServing || old.isStarting) {
            old.role = .draining(deadlineNanoseconds: drainDeadline)
            Processes.signal(old.pid, SIGTERM)
            logger.notice("master: worker \(old.pid) draining (up to \(Durations.format(config.server.drainTimeout)))")
        }
        switch pending {
        case .start?:
            logger.notice("master: worker \(worker.pid) serving")
        case .reload(let newConfig, _, let newSockets)?:
            sockets.closeAll(except: newSockets)
            sockets = newSockets
            config = newConfig
            let text = "applied at \(Self.timestamp()) by a new worker (\(worker.pid))"
            logger.notice("master: reload \(text)")
            worker.note("last_reload", text)
        case .upgrade(let fromVersion)?:
            let text = "from \(fromVersion) to \(VersionText.version) at \(Self.timestamp()): worker \(worker.pid) serving"
            logger.notice("master: upgrade \(text)")
            worker.note("last_upgrade", text)
        case nil:
            logger.notice("master: worker \(worker.pid) serving again")
        }
        pending = nil
        SystemdNotify.send("READY=1\nMAINPID=\(getpid())\nSTATUS=serving (worker \(worker.pid))")
    }

    // MARK: children

    private func reapWorkers() {
        for exit in Processes.reap() {
            guard let index = workers.firstIndex(where: { $0.pid == exit.pid }) else { continue }
            let worker = workers.remove(at: index)
            worker.closeChannel()
            let now = MonotonicClock.nanoseconds()
            switch worker.role {
            case .draining:
                logger.notice("master: worker \(worker.pid) finished draining (\(exit.description))")
            case .starting:
                newWorkerFailed(worker, "its worker \(worker.pid) \(exit.description) before it was ready")
            case .serving where stopDeadline == nil:
                logger.error("master: worker \(worker.pid) \(exit.description) unexpectedly")
                if now - worker.startedAtNanoseconds > Self.stableNanoseconds { backoff = Self.firstBackoffNanoseconds }
                if !workers.contains(where: { $0.isServing || $0.isStarting }) { scheduleRespawn(now: now) }
            case .serving:
                logger.notice("master: worker \(worker.pid) stopped (\(exit.description))")
            }
        }
    }

    private func scheduleRespawn(now: Int64) {
        respawnAt = now + backoff
        logger.notice("master: starting a new worker in \(Durations.format(.nanoseconds(backoff)))")
        backoff = min(backoff * 2, Self.maximumBackoffNanoseconds)
    }

    /// A worker carrying a change died or hung before it was ready: the change is undone, the
    /// workers that were serving go on.
    private func newWorkerFailed(_ worker: WorkerProcess, _ reason: String) {
        let current = workers.first { $0.isServing }
        switch pending {
        case .reload(_, _, let newSockets)?:
            newSockets.closeAll(except: sockets)
            let text = "failed at \(Self.timestamp()): \(reason); the running config stays"
            logger.error("master: reload \(text)")
            current?.note("last_reload", text)
            SystemdNotify.send("READY=1\nSTATUS=reload failed; serving the previous config")
        case .upgrade?:
            let text = "failed at \(Self.timestamp()): \(reason); the previous worker keeps serving"
            logger.error("master: upgrade \(text)")
            current?.note("last_upgrade", text)
            SystemdNotify.send("READY=1\nSTATUS=upgrade failed; serving with the previous worker")
        case .start?, nil:
            logger.error("master: \(reason)")
            if current == nil && stopDeadline == nil { scheduleRespawn(now: MonotonicClock.nanoseconds()) }
            pending = current == nil ? .start : nil
            return
        }
        pending = nil
    }

    private func checkDeadlines() {
        let now = MonotonicClock.nanoseconds()
        for worker in workers {
            switch worker.role {
            case .starting(let deadline) where now >= deadline:
                logger.error("master: worker \(worker.pid) not ready after \(Self.readyTimeoutNanoseconds / 1_000_000_000) s; killing it")
                Processes.signal(worker.pid, SIGKILL)
                worker.role = .draining(deadlineNanoseconds: .max)
                newWorkerFailed(worker, "its worker \(worker.pid) was not ready in time")
            case .draining(let deadline) where deadline != .max && now >= deadline + Self.killGraceNanoseconds:
                logger.warning("master: worker \(worker.pid) still running past drain_timeout; killing it")
                Processes.signal(worker.pid, SIGKILL)
                worker.role = .draining(deadlineNanoseconds: .max)
            default:
                break
            }
        }
        if let respawnAt, now >= respawnAt, stopDeadline == nil {
            self.respawnAt = nil
            pending = pending ?? .start
            if startWorker(config: config, sockets: sockets) == nil { scheduleRespawn(now: now) }
        }
        if let watchdogInterval, now - lastWatchdog >= watchdogInterval,
           let serving = workers.first(where: { $0.isServing }), now - serving.aliveAtNanoseconds < 3_000_000_000 {
            // Pinged only while the worker's engine reports progress: a hung engine lets systemd act.
            lastWatchdog = now
            SystemdNotify.send("WATCHDOG=1")
        }
    }

    // MARK: signals

    private func handleSignals() {
        while let signal = signals.next() {
            switch signal {
            case SIGCHLD: break  // reaped in the loop
            case SIGHUP: reload()
            case SIGUSR2: upgrade()
            case SIGTERM where stopDeadline == nil: stopGracefully()
            default: stopNow(signal)
            }
        }
    }

    private func stopGracefully() {
        let timeout = config.server.drainTimeout
        logger.notice("master: SIGTERM: closing the listening sockets; workers drain for up to \(Durations.format(timeout))")
        SystemdNotify.send("STOPPING=1")
        stopDeadline = MonotonicClock.nanoseconds() + timeout.nanosecondCount
        respawnAt = nil
        // Our copies close now, so the kernel stops completing handshakes nobody will accept.
        sockets.closeAll(except: InheritedSockets())
        sockets = InheritedSockets()
        if case .reload(_, _, let newSockets)? = pending { newSockets.closeAll(except: InheritedSockets()) }
        pending = nil
        for worker in workers where !worker.isDraining {  // a second SIGTERM would stop it at once
            worker.role = .draining(deadlineNanoseconds: stopDeadline ?? 0)
            Processes.signal(worker.pid, SIGTERM)
        }
    }

    private func stopNow(_ signal: Int32) {
        logger.notice("master: \(SignalFD.name(signal)): stopping every worker now")
        if stopDeadline == nil {
            SystemdNotify.send("STOPPING=1")
            sockets.closeAll(except: InheritedSockets())
            sockets = InheritedSockets()
        }
        stopDeadline = MonotonicClock.nanoseconds()
        respawnAt = nil
        for worker in workers {
            worker.role = .draining(deadlineNanoseconds: MonotonicClock.nanoseconds())
            Processes.signal(worker.pid, SIGINT)
        }
    }

    // MARK: reload

    private func reload() {
        guard stopDeadline == nil else { return }
        guard pending == nil else {
            logger.warning("master: reload ignored: a reload, upgrade or start is still in progress")
            return
        }
        let current = workers.first { $0.isServing }
        SystemdNotify.send("RELOADING=1")
        defer { if pending == nil { SystemdNotify.send("READY=1") } }
        let text: String
        let newConfig: GatewayConfig
        do {
            text = try Files.readText(configPath)
        } catch {
            return refuseReload("\(configPath): cannot read: \(Errno.describe(error.errno))", current)
        }
        do {
            newConfig = try ConfigParser.parse(text: text, file: configPath)
        } catch {
            return refuseReload(error.description, current)
        }
        let fixed = LiveChanges.restartOnly(from: config, to: newConfig)
        if fixed.isEmpty, let current {
            config = newConfig
            Processes.signal(current.pid, SIGHUP)  // the worker reads the file and applies it live
            let note = "applied live at \(Self.timestamp()) (limits and timeouts)"
            logger.notice("master: reload \(note)")
            current.note("last_reload", note)
            return
        }
        let newSockets: InheritedSockets
        do {
            newSockets = try InheritedSockets.bind(for: newConfig, keeping: sockets)
        } catch {
            return refuseReload(error.description, current)
        }
        logger.notice("master: reload changes \(fixed.joined(separator: ", ")): starting a new worker")
        pending = .reload(config: newConfig, text: text, sockets: newSockets)
        if startWorker(config: newConfig, sockets: newSockets) == nil {
            pending = nil
            newSockets.closeAll(except: sockets)
            refuseReload("cannot start a new worker", current)
        }
    }

    private func refuseReload(_ reason: String, _ current: WorkerProcess?) {
        logger.error("master: reload refused; the running service is unchanged:\n\(reason)")
        current?.note("last_reload", "refused at \(Self.timestamp()): \(reason.split(separator: "\n").joined(separator: "; "))")
    }

    // MARK: upgrade

    /// Checks the binary at the path with the config, then executes it in place of this process
    /// (same pid), handing it the sockets and the workers. If the check or the exec fails, this
    /// master and its worker go on as they were.
    private func upgrade() {
        guard stopDeadline == nil else { return }
        guard pending == nil else {
            logger.warning("master: upgrade ignored: a reload, upgrade or start is still in progress")
            return
        }
        let current = workers.first { $0.isServing }
        if let failure = checkNewBinary() {
            let text = "refused at \(Self.timestamp()): \(binaryPath) \(failure); the running version stays"
            logger.error("master: upgrade \(text)")
            current?.note("last_upgrade", text)
            return
        }
        SystemdNotify.send("RELOADING=1")
        logger.notice("master: upgrade: executing \(binaryPath)")
        let keep = sockets.allFDs + workers.map(\.channel).filter { $0 >= 0 }
        for fd in keep { try? FileDescriptors.setCloseOnExec(fd, false) }
        let state = MasterState(binaryPath: binaryPath, fromVersion: VersionText.version, sessionFloor: sessionFloor,
                                workers: workers.map(\.encoded))
        let environment = Processes.environment().filter { !$0.hasPrefix("BULWARK_MASTER_") }
            + ["\(Self.stateVariable)=\(state.encoded)", "\(Self.socketsVariable)=\(sockets.encoded)"]
        let error = Processes.exec(path: binaryPath, arguments: CommandLine.arguments.dropFirst().map { $0 }, environment: environment)
        for fd in keep { try? FileDescriptors.setCloseOnExec(fd, true) }
        let text = "failed at \(Self.timestamp()): \(error); the running version stays"
        logger.error("master: upgrade \(text)")
        current?.note("last_upgrade", text)
        SystemdNotify.send("READY=1")
    }

    /// Runs `BINARY check -c CONFIG` (bounded to 10 s): a binary that cannot even do that must
    /// not replace a working master. Nil when it passed, else why not.
    private func checkNewBinary() -> String? {
        let pid: Int32
        do {
            pid = try Processes.spawn(path: binaryPath, arguments: ["check", "-c", configPath],
                                      // Host-name lookups would only add DNS time to the wait: the worker looks names up itself.
                                      environment: Processes.environment().filter { !$0.hasPrefix("BULWARK_") } + ["BULWARK_CHECK_SKIP_LOOKUPS=1"],
                                      keepFDs: [])
        } catch {
            return "cannot be started: \(error)"
        }
        let deadline = MonotonicClock.nanoseconds() + 10_000_000_000
        while MonotonicClock.nanoseconds() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let exit = Processes.Exit(pid: pid, status: status)
                return exit.exitedCleanly ? nil : "failed its config check (\(exit.description))"
            }
            usleep(20_000)
        }
        Processes.signal(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return "did not finish its config check within 10 s"
    }

    /// After an upgrade's exec: the sockets and workers of the previous image; then a new
    /// worker of this version starts, and the old ones drain once it is ready.
    private func restore(_ state: MasterState) {
        sessionFloor = state.sessionFloor
        sockets = Processes.environment(Self.socketsVariable).flatMap(InheritedSockets.init(encoded:)) ?? InheritedSockets()
        let now = MonotonicClock.nanoseconds()
        for line in state.workers {
            let fields = line.split(separator: ",").map(String.init)
            guard fields.count == 3, let pid = Int32(fields[0]), let channel = Int32(fields[1]) else { continue }
            let role: WorkerProcess.Role = fields[2] == "serving" ? .serving
                : .draining(deadlineNanoseconds: now + config.server.drainTimeout.nanosecondCount)
            workers.append(WorkerProcess(pid: pid, channel: channel, role: role, now: now))
        }
        for fd in sockets.allFDs + workers.map(\.channel) where fd >= 0 { try? FileDescriptors.setCloseOnExec(fd, true) }
        pending = .upgrade(fromVersion: state.fromVersion)
        if startWorker(config: config, sockets: sockets) == nil {
            newWorkerFailed(WorkerProcess(pid: 0, channel: -1, role: .serving, now: now), "its worker could not be started")
        }
    }

    static func timestamp() -> String { WallClock.isoTimestamp() }
}

/// What a master hands to its next image across exec (besides the sockets): the binary path,
/// its version, and its workers.
struct MasterState {
    let binaryPath: String
    let fromVersion: String
    let sessionFloor: UInt64
    let workers: [String]

    init(binaryPath: String, fromVersion: String, sessionFloor: UInt64, workers: [String]) {
        self.binaryPath = binaryPath
        self.fromVersion = fromVersion
        self.sessionFloor = sessionFloor
        self.workers = workers
    }

    /// One value a line: the binary path, the version, the session floor, then the workers.
    var encoded: String { ([binaryPath, fromVersion, String(sessionFloor)] + workers).joined(separator: "\n") }

    init(encoded text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        binaryPath = lines.first ?? ""
        fromVersion = lines.count > 1 ? lines[1] : "unknown"
        sessionFloor = lines.count > 2 ? UInt64(lines[2]) ?? 0 : 0
        workers = Array(lines.dropFirst(3)).filter { !$0.isEmpty }
    }
}

