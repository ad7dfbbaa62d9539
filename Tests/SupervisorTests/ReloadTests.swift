import Testing
@testable import Supervisor

/// Reloads: refused, unchanged, live, with a new worker; bursts; the answers that make an
/// outcome "applied".
@Suite struct ReloadTests {
    @Test func anInvalidConfigIsRefusedAndNothingChanges() {
        var harness = Harness.serving()
        let serving = harness.servingWorker
        harness.reload(reading: .invalid(reason: "bulwark.toml:8: listener[0].backend: backend \"nowhere\" is not defined"))
        #expect(harness.record(.lastReload)?.word == "refused")
        #expect(harness.record(.lastReload)?.detail.contains("bulwark.toml:8: listener[0].backend") == true)
        #expect(harness.supervisor.configInForce.id == ConfigID(1))
        #expect(harness.servingWorker == serving)
        #expect(harness.spawned.isEmpty && harness.signals(.drain).isEmpty)
        #expect(harness.notices.suffix(2) == [.reloading, .ready(status: "serving (worker 101)")])
        #expect(harness.supervisor.change == nil)
    }

    /// Issue 17, case 9: thousands of errors reach `show info` as their first lines and a count.
    @Test func aLongRefusalIsRecordedAsItsFirstLinesAndACount() {
        var harness = Harness.serving()
        let errors = (1...6000).map { "bulwark.toml:\($0): listener[\($0)].bind: invalid" }.joined(separator: "\n")
        harness.reload(reading: .invalid(reason: errors))
        let detail = harness.record(.lastReload)!.detail
        #expect(detail.hasPrefix("bulwark.toml:1: listener[1].bind: invalid; bulwark.toml:2:"))
        #expect(detail.contains("(and 5990 more)"))
        #expect(detail.utf8.count <= OutcomeText.maximumBytes)
        let logged = harness.logs.last { $0.contains("reload refused") }!
        #expect(logged.contains("(and 5900 more lines)"), "the log keeps 100 lines")
    }

    @Test func anUnchangedFileIsSaidSo() {
        var harness = Harness.serving()
        harness.reload(reading: .unchanged)
        #expect(harness.record(.lastReload)?.word == "unchanged")
        #expect(harness.spawned.isEmpty)
    }

    /// Issue 17, case 8: "applied" only once the worker says it applied it.
    @Test func aLiveChangeIsAppliedOnlyWhenTheWorkerSaysSo() {
        var harness = Harness.serving()
        let worker = harness.servingWorker!
        let new = harness.freshConfig()
        harness.reload(reading: .live(new))
        #expect(harness.contains(.applyLive(worker, new.id)))
        #expect(harness.record(.lastReload) == nil, "nothing recorded before the answer")
        #expect(harness.supervisor.configInForce.id == ConfigID(1))
        harness.send(.workerApplied(worker, new.id))
        #expect(harness.contains(.commitConfig(new.id)))
        #expect(harness.supervisor.configInForce == new)
        #expect(harness.record(.lastReload)?.word == "applied")
        #expect(harness.record(.lastReload)?.detail.contains("live") == true)
    }

    @Test func aLiveChangeTheWorkerCannotTakeIsRefusedWithItsReason() {
        var harness = Harness.serving()
        let worker = harness.servingWorker!
        let new = harness.freshConfig()
        harness.reload(reading: .live(new))
        harness.send(.workerRefused(worker, new.id, reason: "cannot read the config: Permission denied"))
        #expect(harness.contains(.releaseConfig(new.id)))
        #expect(harness.supervisor.configInForce.id == ConfigID(1))
        #expect(harness.record(.lastReload)?.word == "refused")
        #expect(harness.record(.lastReload)?.detail.contains("Permission denied") == true)
    }

    /// The answer never comes (a worker out of fds cannot receive the config): the reload fails
    /// at its deadline, and the next one runs.
    @Test func aLiveChangeWithoutAnAnswerFailsAtItsDeadline() {
        var harness = Harness.serving()
        let new = harness.freshConfig()
        harness.reload(reading: .live(new))
        harness.send(.reloadRequested)
        harness.advance(.seconds(9))
        #expect(harness.record(.lastReload) == nil)
        harness.advance(.seconds(1))
        #expect(harness.contains(.releaseConfig(new.id)))
        #expect(harness.record(.lastReload)?.word == "failed")
        #expect(harness.supervisor.configInForce.id == ConfigID(1))
        #expect(harness.contains(.readConfig), "the queued reload runs")
    }

    @Test func anAnswerForAnotherConfigIsIgnored() {
        var harness = Harness.serving()
        let worker = harness.servingWorker!
        let new = harness.freshConfig()
        harness.reload(reading: .live(new))
        harness.send(.workerApplied(worker, ConfigID(99)))
        #expect(harness.supervisor.change == .applyingLive(new, worker: worker, deadline: harness.clock + .seconds(10)))
    }

    @Test func aNewWorkerTakesOverOnceReadyAndTheOldOneDrains() {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        let new = harness.freshConfig()
        harness.reload(reading: .needsNewWorker(new, changes: ["listener"]))
        let fresh = harness.newestWorker
        #expect(harness.spawned.first?.2 == new.id)
        #expect(harness.role(old) == .serving, "the old one serves until the new one is ready")
        harness.send(.workerReady(fresh, version: "1.0"))
        #expect(harness.signals(.drain) == [old])
        #expect(harness.role(fresh) == .serving)
        #expect(harness.supervisor.configInForce == new)
        #expect(harness.record(.lastReload)?.word == "applied")
        #expect(harness.record(.lastReload)?.detail == "by a new worker 102: listener changed")
    }

    @Test func aNewWorkerThatDiesOrHangsLeavesTheOldOneServing() {
        var harness = Harness.serving()
        let old = harness.servingWorker!
        let first = harness.freshConfig()
        harness.reload(reading: .needsNewWorker(first, changes: ["backend"]))
        harness.send(.workerExited(harness.newestWorker, status: "exited with status 1"))
        #expect(harness.contains(.releaseConfig(first.id)))
        #expect(harness.record(.lastReload)?.word == "failed")
        #expect(harness.role(old) == .serving)
        #expect(harness.supervisor.respawnAt == nil && harness.spawned.isEmpty)

        let second = harness.freshConfig(start: .seconds(5))
        harness.reload(reading: .needsNewWorker(second, changes: ["backend"]))
        let hung = harness.newestWorker
        harness.advance(.seconds(5))
        #expect(harness.signals(.kill) == [hung], "the new config's own start_timeout")
        #expect(harness.record(.lastReload)?.detail.contains("not ready within start_timeout") == true)
        #expect(harness.role(old) == .serving)
        #expect(harness.supervisor.configInForce.id == ConfigID(1))
    }

    /// Issue 17, case 7: SIGHUPs in a burst coalesce; the last file content wins.
    @Test func reloadsDuringAReloadCoalesceIntoOneThatReadsTheFileAgain() {
        var harness = Harness.serving()
        let first = harness.freshConfig()
        harness.reload(reading: .needsNewWorker(first, changes: ["listener"]))
        harness.send(.reloadRequested)
        harness.send(.reloadRequested)
        #expect(harness.supervisor.queued == [.reload])
        #expect(!harness.contains(.readConfig))
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        #expect(harness.contains(.readConfig), "the queued reload reads the file once the first is done")
        let second = harness.freshConfig()
        harness.send(.configRead(.needsNewWorker(second, changes: ["listener"])))
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        #expect(harness.supervisor.configInForce == second)
        #expect(harness.history.filter { $0 == .readConfig }.count == 2, "three SIGHUPs, two reads")
        let reloading = harness.notices.filter { $0 == .reloading }.count
        let ready = harness.notices.filter { if case .ready = $0 { return true } else { return false } }.count
        #expect(ready == reloading + 1, "every RELOADING is followed by one READY (plus the first)")
    }

    @Test func aLiveReloadAndANewWorkerReloadInARow() {
        var harness = Harness.serving()
        let live = harness.freshConfig()
        harness.reload(reading: .live(live))
        harness.send(.reloadRequested)
        #expect(harness.supervisor.queued == [.reload])
        harness.send(.workerApplied(harness.servingWorker!, live.id))
        #expect(harness.contains(.readConfig))
        let next = harness.freshConfig()
        harness.send(.configRead(.needsNewWorker(next, changes: ["stats"])))
        #expect(harness.spawned.first?.2 == next.id)
    }
}
