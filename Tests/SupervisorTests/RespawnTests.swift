import Testing
@testable import Supervisor

/// Start-up, a worker that dies, the back-off, and the config a replacement runs on.
@Suite struct RespawnTests {
    @Test func theFirstWorkerStartsOnTheConfigAndServesWhenReady() {
        var harness = Harness()
        #expect(harness.spawned.count == 1)
        #expect(harness.spawned.first?.1 == .running)
        #expect(harness.spawned.first?.2 == ConfigID(1))
        #expect(harness.spawned.first?.3 == false, "not standby: it accepts once ready")
        let first = harness.newestWorker
        harness.send(.workerReady(first, version: "1.0"))
        #expect(harness.role(first) == .serving)
        #expect(harness.notices == [.ready(status: "serving (worker 101)")])
    }

    @Test func aWorkerThatNeverGetsReadyIsKilledAndTriedAgainWithBackoff() {
        var harness = Harness()
        let first = harness.newestWorker
        harness.advance(.seconds(29))
        #expect(harness.signals(.kill).isEmpty)
        harness.advance(.seconds(1))
        #expect(harness.signals(.kill) == [first], "killed at start_timeout")
        #expect(harness.spawned.count == 1, "the first death in a row is retried at once")
        let second = harness.newestWorker
        harness.send(.workerExited(first, status: "killed by signal 9 (SIGKILL)"))
        #expect(harness.spawned.isEmpty, "its expected exit changes nothing")
        harness.advance(.seconds(30))
        #expect(harness.signals(.kill) == [second])
        #expect(harness.supervisor.respawnAt == harness.clock + .seconds(1), "the second waits for the back-off")
        harness.advance(.seconds(1))
        #expect(harness.spawned.count == 1)
    }

    /// Issue 17, case 2: a crash's replacement runs on the config in force, whatever the file
    /// says; the first one starts at once, then 1 s, 2 s, 4 s while they keep dying.
    @Test func aCrashedWorkerIsReplacedAtOnceThenWithADoublingBackoff() {
        var harness = Harness.serving()
        // A refused reload (a syntax error saved to the file) changes nothing in force.
        harness.reload(reading: .invalid(reason: "bulwark.toml:3: expected \"]\""))
        var worker = harness.servingWorker!
        var delays: [Duration] = []
        for _ in 0..<5 {
            harness.advance(.seconds(5))
            harness.send(.workerExited(worker, status: "killed by signal 9 (SIGKILL)"))
            var waited = Duration.zero
            while harness.spawned.isEmpty {
                harness.advance(.milliseconds(250))
                waited += .milliseconds(250)
                #expect(waited < .seconds(60))
            }
            #expect(harness.spawned.first?.2 == ConfigID(1), "the config in force, not the file")
            delays.append(waited)
            worker = harness.newestWorker
            harness.send(.workerReady(worker, version: "1.0"))
            #expect(harness.role(worker) == .serving)
        }
        #expect(delays == [.zero, .seconds(1), .seconds(2), .seconds(4), .seconds(8)])
        #expect(harness.logs.contains("master: starting a new worker now"))
        #expect(harness.logs.contains("master: starting a new worker in 2s"))
    }

    @Test func aWorkerThatServedLongEnoughStartsTheBackoffOver() {
        var harness = Harness.serving()
        for _ in 0..<3 {
            let worker = harness.servingWorker!
            harness.advance(.seconds(61))
            harness.send(.workerExited(worker, status: "exited with status 1"))
            #expect(harness.spawned.count == 1, "replaced at once each time: each one served a minute")
            harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        }
    }

    @Test func theBackoffStopsAtItsMaximum() {
        var harness = Harness.serving()
        harness.supervisor.crashStreak = 40
        harness.send(.workerExited(harness.servingWorker!, status: "exited with status 1"))
        #expect(harness.supervisor.respawnAt == harness.clock + .seconds(30))
    }

    @Test func aWorkerThatCannotBeSpawnedCountsAsADeath() {
        var harness = Harness.serving()
        harness.send(.workerExited(harness.servingWorker!, status: "exited with status 1"))
        let replacement = harness.newestWorker
        harness.send(.workerSpawnFailed(replacement, reason: "posix_spawn: Resource temporarily unavailable"))
        #expect(harness.supervisor.worker(replacement) == nil)
        #expect(harness.supervisor.respawnAt == harness.clock + .seconds(1))
    }

    @Test func aDrainingWorkerIsKilledOncePastItsDeadlineAndGrace() {
        var harness = Harness.serving(config: Harness.config(1, drain: .seconds(5)))
        let old = harness.servingWorker!
        let new = harness.freshConfig()
        harness.reload(reading: .needsNewWorker(new, changes: ["listener"]))
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        #expect(harness.signals(.drain) == [old])
        harness.advance(.seconds(6))
        #expect(harness.signals(.kill).isEmpty)
        harness.advance(.seconds(1))
        #expect(harness.signals(.kill) == [old], "5 s drain + 2 s grace")
        harness.advance(.seconds(5))
        #expect(harness.signals(.kill).isEmpty, "killed once")
        harness.send(.workerExited(old, status: "killed by signal 9 (SIGKILL)"))
        #expect(harness.supervisor.workers.count == 1)
    }

    @Test func theWatchdogIsPingedOnlyWhileTheServingWorkersEngineReportsProgress() {
        var timings = Harness.timings
        timings.watchdogInterval = .milliseconds(500)
        var harness = Harness.serving(timings: timings)
        let worker = harness.servingWorker!
        var pings = 0
        for step in 0..<20 {
            if step < 4 { harness.send(.workerAlive(worker)) }
            harness.advance(.milliseconds(500))
            pings += harness.last.filter { $0 == .notify(.watchdog) }.count
            if step == 7 {
                #expect(pings >= 6, "pinged every interval while alive")
            }
        }
        #expect(pings <= 9, "no ping once the last alive is 3 s old")
        #expect(harness.supervisor.nextDeadline == nil, "and no deadline to wake for (the shell would spin on a past one)")
        harness.send(.workerAlive(worker))
        #expect(harness.last.contains(.notify(.watchdog)), "pings resume with progress")
    }
}
