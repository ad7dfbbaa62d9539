import BulwarkSys
import Config
import Logging
import Supervisor

/// The first moments of a master image started by an upgrade's execve: take over the state the
/// previous image handed on. Until that is done, a failure of any kind (an error here, a crash,
/// an exit, no progress for `fallbackSeconds`) executes the previous image again
/// (`MasterFallback`), which then undoes the upgrade: the previous worker never stopped serving.
enum MasterRestore {
    static let fallbackSeconds: UInt32 = 10
    /// Tests only: makes a restoring master crash, exit or hang, to check the way back. Never
    /// handed to the previous image, so it acts once.
    static let faultVariable = "BULWARK_TEST_RESTORE_FAULT"

    static func run(configPath: String) -> Int32 {
        let fallbackReason = Processes.environment(MasterFallback.reasonVariable)
        let fallbackFD = fallbackReason == nil ? Processes.environment(MasterState.fallbackFDVariable).flatMap(Int32.init) : nil
        if let fallbackFD {
            let environment = Processes.environment().filter {
                !$0.hasPrefix("\(MasterState.fallbackFDVariable)=") && !$0.hasPrefix("\(faultVariable)=")
            }
            do {
                try MasterFallback.arm(executableFD: fallbackFD, arguments: CommandLine.arguments, environment: environment,
                                       seconds: fallbackSeconds)
            } catch {
                StandardStreams.writeError("bulwark: cannot arm the way back to the previous binary: \(error)")
            }
            injectFault()
        }
        func fail(_ reason: String) -> Int32 {
            StandardStreams.writeError("bulwark: the new master cannot take over: \(reason)")
            if fallbackFD != nil { StandardStreams.writeError("bulwark: \(MasterFallback.now(reason: reason)) ") }
            return 1
        }
        let master: Master
        // Close-on-exec again only once the fallback is disarmed: until then the previous image
        // may need every one of them.
        var handedOver: [Int32] = []
        do {
            guard let (state, supervisor, sockets) = try MasterState.fromEnvironment() else { return fail("no state was handed over") }
            let first = try LoadedConfig(id: ConfigID(state.configNumber), sealedFD: state.configFD, sockets: sockets, path: configPath)
            handedOver = sockets.allFDs + [state.configFD] + state.workers.map(\.channel)
            let logger = startLogging(first.config.log.level, label: "bulwark")
            SignalFD.ignoreBrokenPipe()
            if let fallbackReason {
                logger.error("master: the new binary failed after its exec (\(fallbackReason)); this binary took over again")
            }
            master = try Master(restoring: state, supervisor: supervisor, store: ConfigStore(path: configPath, first: first),
                                logger: logger, fallbackReason: fallbackReason)
        } catch let error as ConfigLoadError {
            return fail(error.description)
        } catch {
            return fail("\(error)")
        }
        MasterFallback.disarm()
        if let fallbackFD { FileDescriptors.close(fallbackFD) }
        for fd in handedOver where fd >= 0 { try? FileDescriptors.setCloseOnExec(fd, true) }
        return master.run()
    }

    private static func injectFault() {
        switch Processes.environment(faultVariable) {
        case "crash"?: Processes.signal(ProcessFacts.processID(), Signal.segmentationFault)
        case "exit"?: Processes.exit(3)
        case "hang"?: while true { Processes.sleep(milliseconds: 1000) }
        default: break
        }
    }

    /// The fixed timings; the watchdog's from systemd's WATCHDOG_USEC (pinged every half).
    static func timings() -> SupervisorTimings {
        let watchdog = Processes.environment("WATCHDOG_USEC").flatMap(Int64.init).map { Duration.microseconds($0 / 2) }
        return SupervisorTimings(watchdogInterval: watchdog)
    }
}
