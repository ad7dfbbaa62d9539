// Workers getting ready, dying and missing their deadlines; keeping one serving.

extension Supervisor {
    mutating func workerReady(_ id: WorkerID, version: String) {
        update(id) { [now] worker in
            worker.version = version
            worker.aliveAt = now
        }
        guard let worker = worker(id), case .starting = worker.role else { return }
        switch change {
        case .replacing(id)?:
            change = nil
            becomeServing(id)
            drainServing(except: id)
            log(.notice, "\(worker.name) serving")
            notify(.ready(status: "serving (\(worker.name))"))
            runQueued()
        case .reloading(let config, id, let changes)?:
            change = nil
            becomeServing(id)
            drainServing(except: id)  // with the drain timeout of the config they run on
            commit(config)
            log(.notice, "reload applied by a new \(worker.name)")
            record(.lastReload, "applied", "by a new \(worker.name): \(changes.joined(separator: ", ")) changed")
            notifyReady()
            runQueued()
        case .upgrading(id)?:
            upgradeWorkerReady(id)
        default:
            // Nothing waits for it any more (its change was given up meanwhile).
            log(.warning, "\(worker.name) is ready but no change waits for it; stopping it")
            abandon(id)
        }
    }

    /// A worker process is gone (exited, killed, or never started).
    mutating func workerEnded(_ id: WorkerID, how: String) {
        guard let index = workers.firstIndex(where: { $0.id == id }) else { return }
        let worker = workers.remove(at: index)
        switch worker.role {
        case .abandoned:
            break
        case .draining:
            log(.notice, "\(worker.name) finished draining (\(how))")
        case .serving where lifecycle.isRunning:
            log(.error, "\(worker.name) \(how) unexpectedly")
            serviceLost(worker)
        case .starting where lifecycle.isRunning:
            changeWorkerFailed(worker, "\(how) before it was ready")
        case .standby where lifecycle.isRunning:
            changeWorkerFailed(worker, "\(how) during its probation")
        case .promoting where lifecycle.isRunning:
            changeWorkerFailed(worker, "\(how) before it served")
        case .serving, .starting, .standby, .promoting:
            log(.notice, "\(worker.name) stopped (\(how))")
        }
        if !lifecycle.isRunning && workers.isEmpty {
            log(.notice, "every worker has stopped; exiting")
            actions.append(.exit(code: 0))
        }
    }

    /// The worker a change waited for died or missed its deadline: the change is undone.
    mutating func changeWorkerFailed(_ worker: WorkerRecord, _ reason: String) {
        switch change {
        case .replacing(worker.id)?:
            change = nil
            log(.error, "\(worker.name) \(reason)")
            crashStreak += 1
            scheduleRespawn()
            runQueued()  // a reload waiting meanwhile may replace the respawn (a fix for what keeps dying)
        case .reloading(let config, worker.id, _)?:
            change = nil
            actions.append(.releaseConfig(config.id))
            log(.error, "reload failed: its new \(worker.name) \(reason); the running config stays")
            record(.lastReload, "failed", "its new \(worker.name) \(reason); the running config stays")
            notifyReady()
            if !hasServingWorker {
                crashStreak += 1
                scheduleRespawn()
            }
            runQueued()
        case .upgrading(worker.id)? where worker.role.isPromoting:
            // After the re-exec: the master already runs the new version, its next workers too.
            change = nil
            upgradeEnded("failed", "the new binary's \(worker.name) \(reason); the previous worker keeps serving, "
                + "but the master now runs version \(runningVersion) (upgrade again to go back)")
        case .upgrading(worker.id)?:
            change = nil
            upgradeEnded("failed", "the new binary's \(worker.name) \(reason); the running version stays")
        default:
            log(.warning, "\(worker.name) \(reason)")
        }
    }

    /// The serving worker died while running: service comes first. Whatever change was in
    /// progress is abandoned and queued again, and a worker on the config in force starts.
    mutating func serviceLost(_ worker: WorkerRecord) {
        let servedLongEnough = worker.servingSince.map { now - $0 >= timings.stableAfter } ?? false
        crashStreak = servedLongEnough ? 1 : crashStreak + 1
        guard !hasServingWorker else { return }
        if case .replacing? = change { return }
        abandonChange(because: "the serving worker exited", requeue: true)
        scheduleRespawn()
        runQueued()
    }

    /// Gives up the change in progress (for a crash, or because the master stops).
    mutating func abandonChange(because reason: String, requeue: Bool) {
        guard let current = change else { return }
        change = nil
        let again = requeue ? "; it runs again once a worker serves" : ""
        switch current {
        case .replacing(let id):
            if !requeue { abandon(id) }
            return
        case .readingConfig:
            if requeue { queue(.reload) }
            return
        case .applyingLive(let config, _, _):
            actions.append(.releaseConfig(config.id))
            record(.lastReload, "failed", "\(reason) before it applied the new config\(again)")
            if requeue { queue(.reload) }
        case .reloading(let config, let id, _):
            abandon(id)
            actions.append(.releaseConfig(config.id))
            record(.lastReload, "failed", "\(reason) while the new worker was starting\(again)")
            if requeue { queue(.reload) }
        case .checkingBinary:
            actions.append(.cancelBinaryCheck)
            record(.lastUpgrade, "failed", "\(reason) while the new binary was checked\(again)")
            if requeue { queue(.upgrade) }
        case .upgrading(let id):
            abandon(id)
            record(.lastUpgrade, "failed", "\(reason) during the upgrade\(again)")
            if requeue { queue(.upgrade) }
        }
        log(.warning, "\(Self.describe(current)): given up, \(reason)\(again)")
        if lifecycle.isRunning { notifyReady() }  // stopping: systemd was told STOPPING
    }

    mutating func queue(_ kind: Request) {
        if !queued.contains(kind) { queued.append(kind) }
    }

    /// No worker serves: one starts on the config in force, at once after a first death,
    /// after the back-off when they keep dying.
    mutating func scheduleRespawn() {
        guard lifecycle.isRunning, !hasServingWorker, change == nil else { return }
        let delay = backoffDelay
        if delay == .zero {
            log(.notice, "starting a new worker now")
            startReplacement()
        } else {
            respawnAt = now + delay
            log(.notice, "starting a new worker in \(delay.shortText)")
        }
    }

    /// 0 for the first death in a row, then the first back-off, doubling up to the maximum.
    var backoffDelay: Duration {
        guard crashStreak > 1 else { return .zero }
        var delay = timings.firstBackoff
        for _ in 2..<crashStreak where delay < timings.maximumBackoff { delay *= 2 }
        return min(delay, timings.maximumBackoff)
    }

    mutating func startReplacement() {
        respawnAt = nil
        change = .replacing(worker: spawn(.running, config: configInForce, standby: false))
    }

    // MARK: deadlines

    mutating func checkDeadlines() {
        for id in workers.map(\.id) {
            guard let worker = worker(id) else { continue }
            switch worker.role {
            case .starting(let deadline) where now >= deadline:
                abandon(worker.id)
                changeWorkerFailed(worker, "was not ready within start_timeout; killed")
            case .promoting(let deadline) where now >= deadline:
                abandon(worker.id)
                changeWorkerFailed(worker, "did not serve within start_timeout after its promotion; killed")
            case .standby(let ends?) where now >= ends:
                if case .upgrading(worker.id)? = change { reexecAfterProbation(worker.id) }
            case .draining(let deadline, killed: false) where now >= deadline + timings.killGrace:
                log(.warning, "\(worker.name) still running past its drain deadline; killing it")
                update(worker.id) { $0.role = .draining(deadline: deadline, killed: true) }
                actions.append(.signalWorker(worker.id, .kill))
            default:
                break
            }
        }
        if case .checkingBinary(let deadline)? = change, now >= deadline {
            change = nil
            actions.append(.cancelBinaryCheck)
            upgradeEnded("refused", "the new binary did not pass its upgrade check within \(timings.binaryCheckTimeout.shortText); "
                + "the running version stays")
        }
        if case .applyingLive(let config, let id, let deadline)? = change, now >= deadline {
            change = nil
            actions.append(.releaseConfig(config.id))
            let name = worker(id)?.name ?? "the worker"
            log(.error, "reload failed: \(name) did not answer within \(timings.liveApplyTimeout.shortText)")
            record(.lastReload, "failed", "\(name) did not answer within \(timings.liveApplyTimeout.shortText); the config in force stays "
                + "(if it took the new limits late, reload again to make the file the config in force)")
            notifyReady()
            runQueued()
        }
        if let respawnAt, now >= respawnAt {
            self.respawnAt = nil
            if lifecycle.isRunning && !hasServingWorker && change == nil { startReplacement() }
        }
    }
}
