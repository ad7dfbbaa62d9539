import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// Issue 17's faults, each against the real master and worker processes: bad binaries, a
/// config broken on disk, crashes during changes, signals in bursts. The state machine behind
/// them is tested transition by transition in SupervisorTests.
@Suite(.serialized) struct SupervisorScenarioTests {
    /// Case 1: upgrades to binaries that cannot take over leave the same master and the same
    /// serving worker, say why in `show info`, and a later good upgrade works.
    @Test(arguments: ["exits", "not executable", "worker exits", "worker crashes during probation"])
    func aBadBinaryLeavesTheServiceAsItWas(_ fault: String) throws {
        // The probation (3 s) outlasts the crash at 1.5 s.
        let gateway = try SupervisedGateway(probation: "3s")
        defer { gateway.stop() }
        let longLived = gateway.connect()
        #expect(echoes(longLived, "before"))
        let worker = try #require(gateway.workerPID)
        switch fault {
        case "exits": try gateway.replaceBinary(withScript: "#!/bin/sh\nexit 1\n")
        case "not executable": try gateway.replaceBinary(withScript: "#!/bin/sh\nexec REAL \"$@\"\n"); chmod(gateway.binary, 0o644)
        case "worker exits": try gateway.replaceBinary(withScript: "#!/bin/sh\n[ \"$1\" = worker ] && exit 3\nexec REAL \"$@\"\n")
        default:
            // Passes its check and gets ready, then is killed 1.5 s after it started (SIGKILL: a
            // SIGSEGV would first go through Swift's backtracer, which takes seconds).
            try gateway.replaceBinary(withScript: """
                #!/bin/bash
                if [ "$1" = worker ]; then REAL "$@" & child=$!; sleep 1.5; kill -KILL $child; wait $child; exit 137; fi
                exec REAL "$@"

                """)
        }
        gateway.process.signal(SIGUSR2)
        var outcome = ""
        #expect(eventually(timeoutMilliseconds: 15_000) {
            outcome = gateway.info("last_upgrade") ?? ""
            return outcome.hasPrefix("refused") || outcome.hasPrefix("failed")
        }, "\(gateway.log)")
        switch fault {
        case "exits": #expect(outcome.contains("upgrade check exited with status 1"), "\(outcome)")
        case "not executable": #expect(outcome.contains("is not an executable file"), "\(outcome)")
        case "worker exits": #expect(outcome.contains("exited with status 3 before it was ready"), "\(outcome)")
        default: #expect(outcome.contains("during its probation"), "\(outcome)")
        }
        #expect(gateway.process.waitForExit(timeoutMilliseconds: 0) == nil, "the master runs")
        #expect(gateway.workerPID == worker, "the same worker serves")
        #expect(echoes(longLived, "after"), "the long-lived connection is untouched")
        #expect(echoes(gateway.connect(), "new"))

        try gateway.restoreBinary()
        gateway.process.signal(SIGUSR2)
        #expect(eventually(timeoutMilliseconds: 15_000) { gateway.info("last_upgrade")?.hasPrefix("upgraded") == true }, "\(gateway.log)")
        #expect(gateway.workerPID != worker)
        #expect(gateway.info("master_pid") == String(gateway.process.pid))
    }

    /// Case 1, the new master itself fails after its exec (crash, exit, hang while restoring):
    /// the previous binary takes over again with the same pid, and the upgrade is undone.
    @Test(arguments: ["crash", "exit", "hang"])
    func aNewMasterThatFailsAfterItsExecGoesBackToThePreviousBinary(_ fault: String) throws {
        let gateway = try SupervisedGateway(environment: ["BULWARK_TEST_RESTORE_FAULT=\(fault)"])
        defer { gateway.stop() }
        let worker = try #require(gateway.workerPID)
        let longLived = gateway.connect()
        gateway.process.signal(SIGUSR2)
        #expect(eventually(timeoutMilliseconds: 20_000) { gateway.info("last_upgrade")?.hasPrefix("failed") == true }, "\(gateway.log)")
        let outcome = gateway.info("last_upgrade") ?? ""
        #expect(outcome.contains("the new master failed after its exec"), "\(outcome)")
        #expect(outcome.contains(fault == "crash" ? "killed by signal 11" : fault == "exit" ? "exited while restoring" : "no progress"), "\(outcome)")
        #expect(gateway.workerPID == worker)
        // (The scripted backend drops a connection idle for 10 s, as long as the hang lasts.)
        #expect(fault == "hang" || echoes(longLived, "still served"), "\(gateway.log)")
        #expect(echoes(gateway.connect(), "served by the same worker"))
        #expect(eventually { gateway.children.count == 1 }, "the standby worker is gone")
        if fault == "crash" {
            // The new image's 10 s alarm must not follow the previous image back.
            sleepMilliseconds(10_500)
            #expect(gateway.process.waitForExit(timeoutMilliseconds: 0) == nil, "the master outlived the fallback's alarm")
        }
        // The fault is not handed to the previous image: the next upgrade works.
        gateway.process.signal(SIGUSR2)
        #expect(eventually(timeoutMilliseconds: 15_000) { gateway.info("last_upgrade")?.hasPrefix("upgraded") == true }, "\(gateway.log)")
        gateway.process.signal(SIGTERM)
        #expect(gateway.process.waitForExit(timeoutMilliseconds: 5000) == 0)
    }

    /// Case 2: a syntax error saved to the file (no reload), then the worker crashes: the
    /// replacement starts at once on the config in force.
    @Test func aCrashedWorkerIsReplacedAtOnceOnTheConfigInForce() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        let worker = try #require(gateway.workerPID)
        gateway.write(gateway.config() + "\n[broken\n")
        let killedAt = MonotonicClock.nanoseconds()
        kill(worker, SIGKILL)
        var served = false
        #expect(eventually(timeoutMilliseconds: 5000) { served = echoes(gateway.connect(), "x"); return served })
        let seconds = Double(MonotonicClock.nanoseconds() - killedAt) / 1e9
        #expect(seconds < 2, "served again after \(seconds) s")
        #expect(gateway.workerPID != worker)
        #expect(gateway.log.contains("starting a new worker now"))
    }

    /// Case 3: the serving worker crashes while a reload's new worker hangs: service first (a
    /// replacement at once), then the reload again.
    @Test func aCrashWhileAReloadsWorkerHangsRestoresServiceThenTheReload() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        let second = try freeLoopbackPort()
        var caught: Int32?
        for _ in 0..<5 where caught == nil {
            let before = Set(gateway.children)
            gateway.write(gateway.config(extra: "[[listener]]\nname = \"second\"\nbind = \"127.0.0.1:\(second)\"\nmode = \"tcp\"\nbackend = \"echo\""))
            gateway.process.signal(SIGHUP)
            // Stop the new worker before it gets ready (a hang); if it was too quick, try again.
            let deadline = MonotonicClock.nanoseconds() + 2_000_000_000
            while caught == nil && MonotonicClock.nanoseconds() < deadline {
                if let new = Set(gateway.children).subtracting(before).first {
                    kill(new, SIGSTOP)
                    caught = new
                }
            }
            sleepMilliseconds(300)
            if gateway.info("last_reload")?.hasPrefix("applied") == true {
                if let new = caught { kill(new, SIGCONT) }
                caught = nil
                gateway.write(gateway.config())
                gateway.process.signal(SIGHUP)
                #expect(eventually { gateway.info("last_reload")?.hasPrefix("applied") == true && gateway.connect(port: second) == nil })
            }
        }
        let hung = try #require(caught, "a reload's worker caught before it was ready")
        let serving = try #require(gateway.workerPID)
        let crashedAt = MonotonicClock.nanoseconds()
        kill(serving, SIGKILL)
        #expect(eventually(timeoutMilliseconds: 5000) { echoes(gateway.connect(), "served again") })
        #expect(MonotonicClock.nanoseconds() - crashedAt < 3_000_000_000, "well before start_timeout (30 s)")
        #expect(eventually { kill(hung, 0) != 0 || (try? Files.readText("/proc/\(hung)/stat"))?.contains(") Z") == true },
                "the hung worker was given up")
        #expect(eventually(timeoutMilliseconds: 10_000) { echoes(gateway.connect(port: second), "the reload ran again") })
        #expect(gateway.info("last_reload")?.hasPrefix("applied") == true)
    }

    /// Case 4: a reload while a respawn waits for its back-off starts one worker, not two.
    @Test func aReloadDuringTheBackoffStartsOneWorker() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        kill(try #require(gateway.workerPID), SIGKILL)
        var replacement: Int32?
        #expect(eventually { replacement = gateway.workerPID; return replacement != nil })
        kill(try #require(replacement), SIGKILL)
        #expect(eventually { gateway.log.contains("starting a new worker in 1s") })
        let second = try freeLoopbackPort()
        gateway.write(gateway.config(extra: "[[listener]]\nname = \"second\"\nbind = \"127.0.0.1:\(second)\"\nmode = \"tcp\"\nbackend = \"echo\""))
        gateway.process.signal(SIGHUP)
        #expect(eventually { echoes(gateway.connect(port: second), "new config") })
        sleepMilliseconds(1500)  // past the back-off that was waiting
        #expect(gateway.children.count == 1, "one worker: \(gateway.children)")
        #expect(gateway.info("last_reload")?.hasPrefix("applied") == true)
    }

    /// Case 5: a comment line above [[backend]] is no change; with a limit changed too, the
    /// same worker takes it live and long-lived connections stay.
    @Test func aCommentIsNoChangeAndALimitIsAppliedLiveBySameWorker() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        let worker = try #require(gateway.workerPID)
        let longLived = gateway.connect()
        #expect(echoes(longLived, "x"))
        let commented = gateway.config().replacingEvery("[[backend]]", with: "# the echo servers\n[[backend]]")
        gateway.write(commented)
        gateway.process.signal(SIGHUP)
        #expect(eventually { gateway.info("last_reload")?.hasPrefix("unchanged") == true })
        gateway.write(commented.replacingEvery("[server]", with: "[guard]\nidle_timeout = \"7m\"\n[server]"))
        gateway.process.signal(SIGHUP)
        #expect(eventually { gateway.info("last_reload")?.hasPrefix("applied") == true }, "\(gateway.log)")
        #expect(gateway.info("last_reload")?.contains("live") == true)
        #expect(gateway.workerPID == worker)
        #expect(gateway.ask("show guard").contains("7m") || gateway.ask("show guard").contains("420"))
        #expect(echoes(longLived, "y"))
    }

    /// Case 6: edits that were not reloaded stay out of an upgrade; the next reload applies them.
    @Test func editsNotReloadedDoNotLeakIntoAnUpgrade() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        let moved = try freeLoopbackPort(), added = try freeLoopbackPort()
        gateway.write(gateway.config(extra: "[[listener]]\nname = \"added\"\nbind = \"127.0.0.1:\(added)\"\nmode = \"tcp\"\nbackend = \"echo\"",
                                     port: moved))
        gateway.process.signal(SIGUSR2)
        #expect(eventually(timeoutMilliseconds: 15_000) { gateway.info("last_upgrade")?.hasPrefix("upgraded") == true }, "\(gateway.log)")
        #expect(echoes(gateway.connect(), "the config in force: the old port"))
        #expect(gateway.connect(port: moved) == nil && gateway.connect(port: added) == nil, "nothing bound from the file")
        gateway.process.signal(SIGHUP)
        #expect(eventually { gateway.info("last_reload")?.hasPrefix("applied") == true }, "\(gateway.log)")
        #expect(gateway.info("last_reload")?.contains("listener") == true)
        #expect(eventually { echoes(gateway.connect(port: moved), "moved") && echoes(gateway.connect(port: added), "added") })
        #expect(eventually { gateway.connect() == nil }, "the old port closed")
        gateway.process.signal(SIGUSR2)
        let before = gateway.info("last_upgrade")
        #expect(eventually(timeoutMilliseconds: 15_000) {
            let now = gateway.info("last_upgrade")
            return now != before && now?.hasPrefix("upgraded") == true
        }, "a second upgrade binds nothing itself: no address in use\n\(gateway.log)")
    }

    /// Case 7: SIGHUPs 5 ms apart with the file rewritten between: the last content wins.
    @Test func sighupsInABurstEndOnTheLastFileContent() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        let first = try freeLoopbackPort(), last = try freeLoopbackPort()
        func with(_ port: UInt16) -> String {
            gateway.config(extra: "[[listener]]\nname = \"extra\"\nbind = \"127.0.0.1:\(port)\"\nmode = \"tcp\"\nbackend = \"echo\"")
        }
        gateway.write(with(first))
        gateway.process.signal(SIGHUP)
        sleepMilliseconds(5)
        gateway.write(with(last))
        gateway.process.signal(SIGHUP)
        #expect(eventually(timeoutMilliseconds: 10_000) { echoes(gateway.connect(port: last), "last") }, "\(gateway.log)")
        #expect(eventually { gateway.connect(port: first) == nil }, "the first content is not left bound")
        #expect(gateway.children.count >= 1)
        gateway.process.signal(SIGUSR2)
        #expect(eventually(timeoutMilliseconds: 15_000) { gateway.info("last_upgrade")?.hasPrefix("upgraded") == true }, "\(gateway.log)")
    }

    /// Case 9: a refusal with thousands of errors reaches `show info` as its first lines.
    @Test func aRefusalWithThousandsOfErrorsReachesShowInfo() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        let broken = (0..<6000).map { "[[listener]]\nname = \"l\($0)\"\nbind = \"1.2.3\"\nmode = \"tcp\"\nbackend = \"echo\"" }
        gateway.write(gateway.config(extra: broken.joined(separator: "\n")))
        gateway.process.signal(SIGHUP)
        #expect(eventually(timeoutMilliseconds: 10_000) { gateway.info("last_reload")?.hasPrefix("refused") == true }, "\(gateway.log.suffix(2000))")
        let outcome = gateway.info("last_reload") ?? ""
        #expect(outcome.contains("listener[1].bind: missing port"), "\(outcome.prefix(300))")
        #expect(outcome.contains("more)"), "the count of the rest")
        #expect(echoes(gateway.connect(), "still served"))
    }

    /// Case 10: the config path replaced by a FIFO with no writer: refused at once, and a
    /// crashed worker is still replaced.
    @Test func aFifoAtTheConfigPathIsRefusedWithoutBlocking() throws {
        let gateway = try SupervisedGateway()
        defer { gateway.stop() }
        unlink(gateway.configPath)
        #expect(mkfifo(gateway.configPath, 0o644) == 0)
        gateway.process.signal(SIGHUP)
        #expect(eventually { gateway.info("last_reload")?.contains("not a regular file") == true }, "\(gateway.log)")
        let worker = try #require(gateway.workerPID)
        kill(worker, SIGKILL)
        #expect(eventually(timeoutMilliseconds: 5000) { echoes(gateway.connect(), "replaced") })
        unlink(gateway.configPath)
    }
}
