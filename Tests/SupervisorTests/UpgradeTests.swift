import Testing
@testable import Supervisor

/// Upgrades: the binary is checked, a worker of it proves itself standby, the master
/// re-executes, and only then does the new worker accept and the old one drain.
@Suite struct UpgradeTests {
    @Test func aGoodUpgradeEndsWithTheNewWorkerServingAndTheOldDraining() throws {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        harness.send(.upgradeRequested)
        #expect(harness.last.contains(.notify(.reloading)) && harness.contains(.checkBinary))
        harness.send(.binaryChecked(.passed))
        #expect(harness.spawned.count == 1)
        #expect(harness.spawned.first?.1 == .candidate && harness.spawned.first?.3 == true, "the new binary, standby")
        #expect(harness.spawned.first?.2 == ConfigID(1), "on the config in force")
        let new = harness.newestWorker
        harness.send(.workerReady(new, version: "2.0"))
        #expect(harness.role(new) == .standby(probationEnds: harness.clock + .seconds(3)))
        #expect(harness.signals(.drain).isEmpty && !harness.contains(.reexec))
        harness.advance(.milliseconds(2900))
        #expect(!harness.contains(.reexec), "still on probation")
        harness.advance(.milliseconds(100))
        #expect(harness.contains(.reexec))
        #expect(harness.role(old) == .serving, "nothing drained before the exec")

        var after = try harness.reexecuted(version: "2.0")
        #expect(after.contains(.promoteWorker(new)))
        #expect(after.supervisor.runningVersion == "2.0")
        after.send(.workerServing(new))
        #expect(after.signals(.drain) == [old])
        #expect(after.record(.lastUpgrade)?.word == "upgraded")
        #expect(after.record(.lastUpgrade)?.detail == "from 1.0 to 2.0, worker 102 serving")
        #expect(after.supervisor.change == nil)
    }

    @Test func aBinaryThatFailsItsCheckIsRefused() {
        var harness = Harness.serving()
        harness.send(.upgradeRequested)
        harness.send(.binaryChecked(.failed(reason: "/usr/bin/bulwark: its upgrade check exited with status 1")))
        #expect(harness.record(.lastUpgrade)?.word == "refused")
        #expect(harness.spawned.isEmpty)
        #expect(harness.notices.last == .ready(status: "serving (worker 101)"))
    }

    @Test func aCheckThatDoesNotFinishIsCancelledAndRefused() {
        var harness = Harness.serving()
        harness.send(.upgradeRequested)
        harness.advance(.seconds(10))
        #expect(harness.contains(.cancelBinaryCheck))
        #expect(harness.record(.lastUpgrade)?.detail.contains("within 10s") == true)
        harness.send(.binaryChecked(.passed))
        #expect(harness.spawned.isEmpty, "a late answer changes nothing")
    }

    /// Issue 17, case 1: a binary whose worker exits, hangs, or crashes during its probation
    /// leaves the master and the serving worker as they were.
    @Test(arguments: ["exits", "hangs", "crashes after ready", "hangs after promotion"])
    func aBadBinaryLeavesTheServiceAsItWas(_ fault: String) throws {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        harness.send(.upgradeRequested)
        harness.send(.binaryChecked(.passed))
        let new = harness.newestWorker
        var final = harness
        switch fault {
        case "exits":
            harness.send(.workerExited(new, status: "exited with status 1"))
            final = harness
        case "hangs":
            harness.advance(.seconds(30))
            #expect(harness.signals(.kill) == [new])
            final = harness
        case "crashes after ready":
            harness.send(.workerReady(new, version: "2.0"))
            harness.advance(.seconds(1))
            harness.send(.workerExited(new, status: "killed by signal 11 (SIGSEGV)"))
            #expect(harness.record(.lastUpgrade)?.detail.contains("during its probation") == true)
            final = harness
        default:
            harness.send(.workerReady(new, version: "2.0"))
            harness.advance(.seconds(3))
            var after = try harness.reexecuted()
            after.advance(.seconds(30))
            #expect(after.signals(.kill) == [new])
            #expect(after.record(.lastUpgrade)?.detail.contains("the master now runs version 2.0") == true, "said as it is")
            final = after
        }
        #expect(final.record(.lastUpgrade)?.word == "failed")
        #expect(final.role(old) == .serving)
        #expect(final.signals(.drain, in: final.history).isEmpty, "the old worker never drained")
        #expect(!final.contains(.reexec, in: final.history) || fault == "hangs after promotion")
        #expect(final.supervisor.change == nil)
        // A later good upgrade works.
        var retry = final
        let standby = retry.upgradeToStandby()
        retry.advance(.seconds(3))
        var after = try retry.reexecuted()
        after.send(.workerServing(standby))
        #expect(after.record(.lastUpgrade)?.word == "upgraded")
    }

    @Test func anExecThatFailsKillsTheStandbyWorker() {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        let new = harness.upgradeToStandby()
        harness.advance(.seconds(3))
        harness.send(.reexecFailed(reason: "execve(/usr/bin/bulwark): Exec format error"))
        #expect(harness.signals(.kill) == [new])
        #expect(harness.record(.lastUpgrade)?.detail.contains("Exec format error") == true)
        #expect(harness.role(old) == .serving)
    }

    /// The new master fails after exec: the previous image comes back (the shell's fallback)
    /// and undoes the upgrade.
    @Test func aFallbackToThePreviousImageUndoesTheUpgrade() throws {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        let new = harness.upgradeToStandby()
        harness.advance(.seconds(3))
        var back = try harness.reexecuted(version: "1.0", fallback: "killed by signal 11 (SIGSEGV) while restoring")
        #expect(back.signals(.kill) == [new])
        #expect(!back.contains(.promoteWorker(new)))
        #expect(back.record(.lastUpgrade)?.word == "failed")
        #expect(back.record(.lastUpgrade)?.detail.contains("the new master failed after its exec") == true)
        #expect(back.role(old) == .serving)
        back.send(.workerExited(new, status: "killed by signal 9 (SIGKILL)"))
        #expect(back.supervisor.workers.map(\.id) == [old])
    }

    @Test func aZeroProbationReexecutesOnReady() {
        var harness = Harness.serving(config: Harness.config(1, probation: .zero))
        _ = harness.upgradeToStandby()
        #expect(harness.contains(.reexec))
    }

    /// Upgrade requests in a row coalesce; one that arrives while none serves waits for one.
    @Test func upgradesQueueBehindChangesAndBehindAnOutage() {
        var harness = Harness.serving()
        _ = harness.upgradeToStandby()
        harness.send(.upgradeRequested)
        harness.send(.upgradeRequested)
        #expect(harness.supervisor.queued == [.upgrade])

        var outage = Harness()
        outage.send(.upgradeRequested)
        #expect(!outage.contains(.checkBinary), "no worker serves yet")
        outage.send(.workerReady(outage.newestWorker, version: "1.0"))
        #expect(outage.contains(.checkBinary))
    }
}
