// Reloads and upgrades: the changes an operator asks for.

extension Supervisor {
    /// A reload or an upgrade was asked for: begun now, or queued behind the change in progress.
    mutating func request(_ kind: Request) {
        guard lifecycle.isRunning else {
            log(.warning, "\(kind.rawValue) ignored: the master is stopping")
            return
        }
        if change != nil || !canBegin(kind) {
            if !queued.contains(kind) { queued.append(kind) }
            log(.notice, "\(kind.rawValue) queued: \(change.map(Self.describe) ?? "no worker serves yet"); it runs once that is done")
            return
        }
        begin(kind)
    }

    /// An upgrade needs a serving worker to stay as it is if the new binary fails; a reload
    /// does not (while none serves, its worker may replace the one waiting for its back-off).
    func canBegin(_ kind: Request) -> Bool { kind == .reload || hasServingWorker }

    mutating func begin(_ kind: Request) {
        notify(.reloading)
        switch kind {
        case .reload:
            change = .readingConfig
            actions.append(.readConfig)
        case .upgrade:
            change = .checkingBinary(deadline: now + timings.binaryCheckTimeout)
            actions.append(.checkBinary)
        }
    }

    /// Once a change has ended: the oldest queued request that can begin.
    mutating func runQueued() {
        guard lifecycle.isRunning, change == nil,
              let index = queued.firstIndex(where: { canBegin($0) }) else { return }
        let next = queued.remove(at: index)
        log(.notice, "running the queued \(next.rawValue)")
        begin(next)
    }

    static func describe(_ change: Change) -> String {
        switch change {
        case .replacing: return "a replacement worker is starting"
        case .readingConfig: return "the config is being read"
        case .applyingLive: return "a reload is being applied"
        case .reloading: return "a reload's new worker is starting"
        case .checkingBinary: return "an upgrade's binary is being checked"
        case .upgrading: return "an upgrade is in progress"
        }
    }

    // MARK: reload

    mutating func configRead(_ outcome: ConfigReadOutcome) {
        guard change == .readingConfig else { return }
        change = nil
        switch outcome {
        case .invalid(let reason):
            log(.error, "reload refused; the running service is unchanged:\n\(OutcomeText.firstLines(reason, count: 100))")
            record(.lastReload, "refused", OutcomeText.summary(reason) + "; the running config stays")
            notifyReady()
            runQueued()
        case .unchanged:
            log(.notice, "reload: the file holds the config in force; nothing to do")
            record(.lastReload, "unchanged", "the file holds the config in force")
            notifyReady()
            runQueued()
        case .live(let config):
            guard let serving = servingWorker else {
                return startReloadWorker(config, changes: ["limits (no worker serves to take them live)"])
            }
            change = .applyingLive(config, worker: serving.id, deadline: now + timings.liveApplyTimeout)
            actions.append(.applyLive(serving.id, config.id))
        case .needsNewWorker(let config, let changes):
            startReloadWorker(config, changes: changes)
        }
    }

    private mutating func startReloadWorker(_ config: SupervisedConfig, changes: [String]) {
        // While none serves, this worker is the replacement: the back-off's respawn is not needed.
        respawnAt = nil
        let id = spawn(.running, config: config, standby: false)
        change = .reloading(config, worker: id, changes: changes)
        log(.notice, "reload changes \(changes.joined(separator: ", ")): starting a new worker")
    }

    mutating func workerApplied(_ id: WorkerID, _ configID: ConfigID) {
        guard case .applyingLive(let config, id, _)? = change, config.id == configID else { return }
        change = nil
        update(id) { $0.config = config.id }
        commit(config)
        let name = worker(id)?.name ?? "the worker"
        log(.notice, "reload applied live by \(name)")
        record(.lastReload, "applied", "live by \(name) (limits and timeouts)")
        notifyReady()
        runQueued()
    }

    mutating func workerRefused(_ id: WorkerID, _ configID: ConfigID, reason: String) {
        guard case .applyingLive(let config, id, _)? = change, config.id == configID else { return }
        change = nil
        actions.append(.releaseConfig(config.id))
        let name = worker(id)?.name ?? "the worker"
        log(.error, "reload refused by \(name): \(reason)")
        record(.lastReload, "refused", "\(name) could not take it live: \(OutcomeText.summary(reason)); the running config stays")
        notifyReady()
        runQueued()
    }

    // MARK: upgrade

    mutating func binaryChecked(_ outcome: BinaryCheckOutcome) {
        guard case .checkingBinary? = change else { return }
        change = nil
        switch outcome {
        case .failed(let reason):
            upgradeEnded("refused", "\(reason); the running version stays")
        case .passed:
            let id = spawn(.candidate, config: configInForce, standby: true)
            change = .upgrading(worker: id)
            log(.notice, "upgrade: the new binary passed its check; starting a standby worker from it")
        }
    }

    /// An upgrade worker said ready: it stays standby (accepting nothing) for the probation.
    mutating func upgradeWorkerReady(_ id: WorkerID) {
        let probation = configInForce.upgradeProbation
        let ends = now + probation
        update(id) { $0.role = .standby(probationEnds: ends) }
        log(.notice, "upgrade: the new binary's \(worker(id)?.name ?? "worker") (version \(worker(id)?.version ?? "?")) is ready; "
            + "standby for \(probation.shortText) before the master re-executes")
    }

    /// The probation passed: the master replaces its image (`.reexec`). If that works, the new
    /// image restores this state and promotes the worker; if not, `.reexecFailed` comes back.
    mutating func reexecAfterProbation(_ id: WorkerID) {
        update(id) { $0.role = .standby(probationEnds: nil) }
        log(.notice, "upgrade: \(worker(id)?.name ?? "the worker") passed its probation; re-executing the master from the new binary")
        actions.append(.reexec)
    }

    mutating func reexecFailed(_ reason: String) {
        guard case .upgrading(let id)? = change else { return }
        change = nil
        abandon(id)
        upgradeEnded("failed", "execve of the new binary: \(reason); the running version stays")
    }

    mutating func workerServing(_ id: WorkerID) {
        guard case .upgrading(id)? = change, case .promoting? = worker(id)?.role else { return }
        change = nil
        becomeServing(id)
        drainServing(except: id)
        let served = worker(id)
        let text = "from \(upgradedFrom ?? "?") to \(served?.version ?? runningVersion), \(served?.name ?? "the new worker") serving"
        log(.notice, "upgrade done: \(text)")
        record(.lastUpgrade, "upgraded", text)
        notifyReady()
        runQueued()
    }

    /// The end of an upgrade that did not happen: record, READY, and what waited runs.
    mutating func upgradeEnded(_ word: String, _ detail: String) {
        log(.error, "upgrade \(word): \(detail)")
        record(.lastUpgrade, word, detail)
        notifyReady()
        runQueued()
    }
}
