import Testing
@testable import Supervisor

/// Two things at once: a crash during a change, a change during an outage, a change during a
/// drain, and SIGTERM at every point.
@Suite struct CombinedFaultTests {
    /// Issue 17, case 3: the serving worker crashes while a reload's new worker hangs. Service
    /// comes first: the hung worker is given up, a worker on the config in force starts at
    /// once, and the reload runs again once it serves.
    @Test func aCrashDuringAReloadRestoresServiceFirstAndRetriesTheReload() {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        let candidate = harness.freshConfig()
        harness.reload(reading: .needsNewWorker(candidate, changes: ["listener"]))
        let hung = harness.newestWorker
        harness.advance(.seconds(2))
        harness.send(.workerExited(old, status: "killed by signal 9 (SIGKILL)"))
        #expect(harness.signals(.kill) == [hung])
        #expect(harness.contains(.releaseConfig(candidate.id)))
        #expect(harness.spawned.count == 1 && harness.spawned.first?.2 == ConfigID(1), "a replacement on the config in force, now")
        #expect(harness.supervisor.queued == [.reload])
        #expect(harness.record(.lastReload)?.detail.contains("runs again once a worker serves") == true)
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        #expect(harness.contains(.readConfig), "the reload runs again")
    }

    /// Issue 17, case 4: a reload while a respawn waits for its back-off starts one worker,
    /// not two.
    @Test func aReloadDuringTheBackoffReplacesTheRespawn() {
        var harness = Harness.serving()
        harness.send(.workerExited(harness.servingWorker!, status: "killed by signal 9 (SIGKILL)"))
        harness.send(.workerExited(harness.newestWorker, status: "exited with status 1"))  // the replacement dies too
        #expect(harness.supervisor.respawnAt != nil)
        let candidate = harness.freshConfig()
        harness.reload(reading: .needsNewWorker(candidate, changes: ["backend"]))
        #expect(harness.spawned.count == 1)
        #expect(harness.supervisor.respawnAt == nil)
        let before = harness.supervisor.workers.count
        harness.advance(.seconds(5))
        #expect(harness.supervisor.workers.count == before, "no second worker for the same crash")
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        #expect(harness.signals(.drain).isEmpty, "nothing else to drain")
        #expect(harness.supervisor.configInForce == candidate)
    }

    /// A reload queued while a replacement starts runs once that replacement dies, so a config
    /// that fixes what keeps killing the workers gets its chance.
    @Test func aReloadQueuedDuringAReplacementRunsWhenItDies() {
        var harness = Harness.serving()
        harness.send(.workerExited(harness.servingWorker!, status: "killed by signal 9 (SIGKILL)"))
        let replacement = harness.newestWorker
        harness.send(.reloadRequested)
        #expect(harness.supervisor.queued == [.reload])
        harness.send(.workerExited(replacement, status: "exited with status 1"))
        #expect(harness.contains(.readConfig))
        let fix = harness.freshConfig()
        harness.send(.configRead(.needsNewWorker(fix, changes: ["server"])))
        #expect(harness.spawned.first?.2 == fix.id)
        #expect(harness.supervisor.respawnAt == nil)
    }

    @Test func aLiveReloadWhileNoneServesStartsItsOwnWorker() {
        var harness = Harness.serving()
        harness.send(.workerExited(harness.servingWorker!, status: "killed by signal 9 (SIGKILL)"))
        harness.send(.workerExited(harness.newestWorker, status: "exited with status 1"))
        let live = harness.freshConfig()
        harness.reload(reading: .live(live))
        #expect(harness.spawned.first?.2 == live.id)
    }

    @Test func aCrashWhileALiveChangeIsAppliedFailsItAndRetries() {
        var harness = Harness.serving()
        let worker = harness.servingWorker!
        let live = harness.freshConfig()
        harness.reload(reading: .live(live))
        harness.send(.workerExited(worker, status: "killed by signal 11 (SIGSEGV)"))
        #expect(harness.contains(.releaseConfig(live.id)))
        #expect(harness.supervisor.configInForce.id == ConfigID(1))
        #expect(harness.spawned.first?.2 == ConfigID(1))
        #expect(harness.supervisor.queued == [.reload])
    }

    @Test func aCrashDuringAnUpgradeRestoresServiceAndRetriesTheUpgrade() {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        let standby = harness.upgradeToStandby()
        harness.send(.workerExited(old, status: "killed by signal 9 (SIGKILL)"))
        #expect(harness.signals(.kill) == [standby])
        #expect(harness.spawned.first?.1 == .running, "the replacement is of the running binary")
        #expect(harness.supervisor.queued == [.upgrade])
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        #expect(harness.contains(.checkBinary))
    }

    @Test func aCrashWhileTheBinaryIsCheckedCancelsTheCheck() {
        var harness = Harness.serving()
        harness.send(.upgradeRequested)
        harness.send(.workerExited(harness.servingWorker!, status: "exited with status 2"))
        #expect(harness.contains(.cancelBinaryCheck))
        #expect(harness.supervisor.queued == [.upgrade])
    }

    @Test func anUpgradeDuringADrainCarriesTheDrainingWorkerAcrossTheExec() throws {
        var harness = Harness.serving()
        let first = harness.servingWorker!
        harness.reload(reading: .needsNewWorker(harness.freshConfig(), changes: ["listener"]))
        let second = harness.newestWorker
        harness.send(.workerReady(second, version: "1.0"))
        #expect(harness.role(first)?.isDraining == true)
        let third = harness.upgradeToStandby()
        harness.advance(.seconds(3))
        var after = try harness.reexecuted()
        #expect(after.role(first)?.isDraining == true, "still draining in the new image, same deadline")
        after.send(.workerServing(third))
        #expect(after.signals(.drain) == [second])
        after.advance(.seconds(30))
        #expect(after.signals(.kill) == [first], "its deadline survived the exec")
    }

    @Test func aReloadDuringAnUpgradeRunsAfterIt() throws {
        var harness = Harness.serving()
        let standby = harness.upgradeToStandby()
        harness.send(.reloadRequested)
        #expect(harness.supervisor.queued == [.reload])
        harness.advance(.seconds(3))
        var after = try harness.reexecuted()
        #expect(after.supervisor.queued == [.reload], "the queue survives the exec")
        after.send(.workerServing(standby))
        #expect(after.contains(.readConfig))
    }

    // MARK: SIGTERM at any point

    enum Moment: String, CaseIterable {
        case starting, serving, readingLive, reloadWorkerStarting, checkingBinary, upgradeStandby, promoting, backoff, draining
    }

    @Test(arguments: Moment.allCases)
    func sigtermAtAnyPointDrainsEverythingAndExitsOnceAllAreGone(_ moment: Moment) throws {
        var harness = moment == .starting ? Harness() : Harness.serving()
        switch moment {
        case .starting, .serving: break
        case .readingLive: harness.reload(reading: .live(harness.freshConfig()))
        case .reloadWorkerStarting: harness.reload(reading: .needsNewWorker(harness.freshConfig(), changes: ["listener"]))
        case .checkingBinary: harness.send(.upgradeRequested)
        case .upgradeStandby: _ = harness.upgradeToStandby()
        case .promoting:
            _ = harness.upgradeToStandby()
            harness.advance(.seconds(3))
            harness = try harness.reexecuted()
        case .backoff:
            harness.send(.workerExited(harness.servingWorker!, status: "exited with status 1"))
            harness.send(.workerExited(harness.newestWorker, status: "exited with status 1"))
        case .draining:
            harness.reload(reading: .needsNewWorker(harness.freshConfig(), changes: ["listener"]))
            harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        }
        harness.send(.stopRequested)
        #expect(harness.contains(.notify(.stopping)) && harness.contains(.closeListeners))
        #expect(harness.supervisor.change == nil && harness.supervisor.queued.isEmpty)
        #expect(!harness.last.contains { if case .notify(.ready) = $0 { return true } else { return false } }, "no READY after STOPPING")
        for worker in harness.supervisor.workers {
            let role = try #require(harness.role(worker.id))
            #expect(role.isDraining || role == .abandoned, "\(worker.id) \(role)")
        }
        harness.send(.reloadRequested)
        harness.send(.upgradeRequested)
        #expect(!harness.contains(.readConfig) && !harness.contains(.checkBinary), "no change while stopping")
        harness.advance(.seconds(60))
        #expect(harness.spawned.isEmpty, "no respawn while stopping")
        for worker in harness.supervisor.workers {
            harness.send(.workerExited(worker.id, status: "exited with status 0"))
        }
        #expect(harness.history.contains(.exit(code: 0)))
    }

    @Test func aSecondSigtermStopsEveryWorkerNow() {
        var harness = Harness.serving()
        let worker = harness.servingWorker!
        harness.send(.stopRequested)
        #expect(harness.signals(.drain) == [worker])
        harness.send(.stopRequested)
        #expect(harness.signals(.stopNow) == [worker])
        harness.advance(.seconds(2))
        #expect(harness.signals(.kill) == [worker], "SIGKILL after the grace")
    }

    @Test func sigintStopsNowAndAMasterWithoutWorkersExitsAtOnce() {
        var harness = Harness.serving()
        harness.send(.stopNowRequested)
        #expect(harness.signals(.stopNow) == [harness.supervisor.workers[0].id])
        harness.send(.workerExited(harness.supervisor.workers[0].id, status: "exited with status 0"))
        #expect(harness.last.contains(.exit(code: 0)))

        var empty = Harness.serving()
        empty.send(.workerExited(empty.servingWorker!, status: "exited with status 1"))
        empty.send(.workerSpawnFailed(empty.newestWorker, reason: "no"))
        empty.send(.stopRequested)
        #expect(empty.last.contains(.exit(code: 0)), "nothing to wait for")
    }
}
