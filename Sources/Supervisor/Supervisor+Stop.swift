// Stopping, and taking over after an upgrade's re-exec.

extension Supervisor {
    /// SIGTERM: stop accepting everywhere, let every worker drain, exit once none is left. A
    /// second SIGTERM stops at once.
    mutating func stopGracefully() {
        guard lifecycle.isRunning else { return stopNow() }
        let deadline = now + configInForce.drainTimeout
        log(.notice, "SIGTERM: closing the listening sockets; workers drain for up to \(configInForce.drainTimeout.shortText)")
        notify(.stopping)
        actions.append(.closeListeners)
        lifecycle = .stopping(deadline: deadline)
        abandonChange(because: "the master is stopping", requeue: false)
        queued = []
        respawnAt = nil
        for worker in workers {
            switch worker.role {
            case .abandoned:
                continue
            case .draining(let own, let killed):
                update(worker.id) { $0.role = .draining(deadline: min(own, deadline), killed: killed) }
            case .starting, .standby, .promoting, .serving:
                update(worker.id) { $0.role = .draining(deadline: deadline, killed: false) }
                actions.append(.signalWorker(worker.id, .drain))
            }
        }
        exitIfDone()
    }

    /// SIGINT (or a second SIGTERM): every worker closes everything now; SIGKILL after the grace.
    mutating func stopNow() {
        if lifecycle.isRunning {
            notify(.stopping)
            actions.append(.closeListeners)
            lifecycle = .stoppingNow(deadline: now)
            abandonChange(because: "the master is stopping", requeue: false)
        }
        lifecycle = .stoppingNow(deadline: now)
        queued = []
        respawnAt = nil
        log(.notice, "stopping every worker now")
        for worker in workers {
            switch worker.role {
            case .abandoned, .draining(_, killed: true):
                continue
            default:
                update(worker.id) { [now] in $0.role = .draining(deadline: now, killed: false) }
                actions.append(.signalWorker(worker.id, .stopNow))
            }
        }
        exitIfDone()
    }

    private mutating func exitIfDone() {
        if workers.isEmpty {
            log(.notice, "no worker left; exiting")
            actions.append(.exit(code: 0))
        }
    }

    /// The image after an upgrade's re-exec takes over `state` (encoded by the previous image
    /// just before its execve). `version` is this image's. With `fallbackReason`, the new
    /// image failed and this one, the previous binary, came back: the upgrade is undone.
    public static func restore(_ state: Supervisor, version: String, fallbackReason: String?,
                               now: Instant) -> (Supervisor, [SupervisorAction]) {
        var supervisor = state
        supervisor.now = max(state.now, now)
        supervisor.actions = []
        if case .upgrading(let id)? = supervisor.change, case .standby(nil)? = supervisor.worker(id)?.role {
            if let fallbackReason {
                supervisor.runningVersion = version
                supervisor.change = nil
                supervisor.abandon(id)
                supervisor.upgradeEnded("failed", "the new master failed after its exec (\(fallbackReason)); "
                    + "the previous binary (version \(version)) took over again and the previous worker keeps serving")
            } else {
                supervisor.upgradedFrom = state.runningVersion
                supervisor.runningVersion = version
                let deadline = supervisor.now + supervisor.configInForce.startTimeout
                supervisor.update(id) { $0.role = .promoting(deadline: deadline) }
                supervisor.log(.notice, "re-executed as version \(version); promoting the new binary's "
                    + "\(supervisor.worker(id)?.name ?? "worker")")
                supervisor.actions.append(.promoteWorker(id))
            }
        } else {
            supervisor.runningVersion = version
            supervisor.log(.warning, "restored without an upgrade in progress; going on as before")
            supervisor.notifyReady()
        }
        supervisor.checkDeadlines()
        let actions = supervisor.takeActions()
        return (supervisor, actions)
    }
}
