import BulwarkSys
import Config
import Logging
import Supervisor

/// The master performing what its supervisor decided.
extension Master {
    /// Performs one action; the exit status when the action is to exit.
    func perform(_ action: SupervisorAction) -> Int32? {
        switch action {
        case .spawnWorker(let id, let binary, let config, let standby):
            spawnWorker(id, binary: binary, config: config, standby: standby)
        case .promoteWorker(let id):
            processes[id]?.send("serve")
        case .applyLive(let id, let configID):
            let sent = store.loaded(configID).map { processes[id]?.send("apply \(configID.number)", file: $0.sealedFD) ?? false } ?? false
            if !sent { answer(.workerRefused(id, configID, reason: "the worker's channel did not take the config")) }
        case .signalWorker(let id, let signal):
            if let process = processes[id] {
                Processes.signal(process.pid, signal == .drain ? Signal.terminate : signal == .stopNow ? Signal.interrupt : Signal.kill)
            }
        case .readConfig:
            answer(.configRead(store.read()))
        case .checkBinary:
            startBinaryCheck()
        case .cancelBinaryCheck:
            if let pid = binaryCheckPID { Processes.signal(pid, Signal.kill) }
            binaryCheckPID = nil
        case .reexec:
            reexecute()
        case .commitConfig(let id):
            store.commit(id)
        case .releaseConfig(let id):
            store.release(id)
        case .closeListeners:
            store.closeListeners()
        case .notify(let notice):
            notify(notice)
        case .record(let topic, let outcome):
            let text = "\(outcome.word) at \(WallClock.isoTimestamp()): \(outcome.detail)"
            noteTexts[topic] = text
            for process in processes.values { process.send("note \(topic.rawValue) \(text)") }
        case .log(let level, let text):
            logger.log(level: Logger.Level(level), "\(text)")
        case .exit(let code):
            return code
        }
        return nil
    }

    private func notify(_ notice: SystemdNotice) {
        switch notice {
        case .ready(let status): SystemdNotify.send("READY=1\nMAINPID=\(ProcessFacts.processID())\nSTATUS=\(status)")
        case .reloading: SystemdNotify.send("RELOADING=1")
        case .stopping: SystemdNotify.send("STOPPING=1")
        case .watchdog: SystemdNotify.send("WATCHDOG=1")
        }
    }

    /// Starts a worker process on a config the store holds: it reads the config from the
    /// sealed file and takes the sockets as they are. A worker of the running version comes
    /// from /proc/self/exe (whatever the file at the path is now); an upgrade's from the path.
    private func spawnWorker(_ id: WorkerID, binary: WorkerBinary, config configID: ConfigID, standby: Bool) {
        guard let config = store.loaded(configID) else {
            return answer(.workerSpawnFailed(id, reason: "config \(configID) is not held"))
        }
        if binary == .candidate, let checked = checkedBinary, (try? Files.identity(binaryPath)) != checked {
            return answer(.workerSpawnFailed(id, reason: "\(binaryPath) changed since its upgrade check"))
        }
        do {
            let (masterEnd, workerEnd) = try MessageChannel.pair()
            let environment = Processes.environment().filter { entry in
                !["BULWARK_", "NOTIFY_SOCKET=", "WATCHDOG_", "LISTEN_"].contains { entry.hasPrefix($0) }
            } + ["BULWARK_MASTER_FD=\(workerEnd)", "BULWARK_MASTER_PID=\(ProcessFacts.processID())",
                 "BULWARK_SOCKETS=\(config.sockets.encoded)", "BULWARK_CONFIG_FD=\(config.sealedFD)",
                 // Reported once a second: a margin of one second at 16 ids a millisecond.
                 "BULWARK_SESSION_FLOOR=\(sessionFloor == 0 ? 0 : sessionFloor + 16_000)"]
                + (standby ? ["BULWARK_STANDBY=1"] : [])
            let pid: Int32
            do {
                pid = try Processes.spawn(path: binary == .running ? "/proc/self/exe" : binaryPath, argv0: binaryPath,
                                          arguments: ["worker", "-c", store.path], environment: environment,
                                          keepFDs: [workerEnd, config.sealedFD] + config.sockets.allFDs)
            } catch {
                FileDescriptors.close(masterEnd)
                FileDescriptors.close(workerEnd)
                throw error
            }
            FileDescriptors.close(workerEnd)
            processes[id] = WorkerProcess(id: id, pid: pid, channel: masterEnd)
            answer(.workerSpawned(id, pid: pid))
        } catch {
            answer(.workerSpawnFailed(id, reason: "\(error)"))
        }
    }

    /// `BINARY upgrade-check`: the new binary reads the state this master would hand it (and
    /// the config in force) and says whether it can take over. Its exit is the answer.
    private func startBinaryCheck() {
        guard Files.isExecutableFile(binaryPath), let identity = try? Files.identity(binaryPath) else {
            return answer(.binaryChecked(.failed(reason: "\(binaryPath) is not an executable file")))
        }
        checkedBinary = identity
        do {
            let environment = Processes.environment().filter { !$0.hasPrefix("BULWARK_") } + handOverEnvironment()
            binaryCheckPID = try Processes.spawn(path: binaryPath, arguments: ["upgrade-check", "-c", store.path],
                                                 environment: environment, keepFDs: [store.inForce.sealedFD])
        } catch {
            answer(.binaryChecked(.failed(reason: "\(binaryPath) cannot be started: \(error)")))
        }
    }

    /// The variables that carry this master's state to its next image.
    func handOverEnvironment() -> [String] {
        let state = MasterState(
            binaryPath: binaryPath, sessionFloor: sessionFloor, configNumber: store.inForce.id.number,
            configFD: store.inForce.sealedFD,
            workers: processes.values.sorted { $0.id < $1.id }.map { MasterState.Worker(number: $0.id.number, pid: $0.pid, channel: $0.channel) },
            notes: noteTexts)
        return ["\(MasterState.stateVariable)=\(supervisor.encoded)", "\(MasterState.shellVariable)=\(state.encoded)",
                "\(MasterState.socketsVariable)=\(store.inForce.sockets.encoded)"]
    }

    /// Replaces this image with the binary at the path (same pid), handing on the sockets, the
    /// config in force, the workers' channels and the state, plus an fd of this image to come
    /// back to if the new one fails while restoring. Returns only if execve failed.
    private func reexecute() {
        if let checked = checkedBinary, (try? Files.identity(binaryPath)) != checked {
            return answer(.reexecFailed(reason: "\(binaryPath) changed since its upgrade check"))
        }
        let fallbackFD: Int32
        do {
            fallbackFD = try Processes.openOwnExecutable()
        } catch {
            return answer(.reexecFailed(reason: "cannot keep the running binary to come back to: \(error)"))
        }
        let kept = store.inForce.sockets.allFDs + [store.inForce.sealedFD, fallbackFD] + processes.values.map(\.channel).filter { $0 >= 0 }
        for fd in kept { try? FileDescriptors.setCloseOnExec(fd, false) }
        let environment = Processes.environment().filter { !$0.hasPrefix("BULWARK_MASTER_") }
            + handOverEnvironment() + ["\(MasterState.fallbackFDVariable)=\(fallbackFD)"]
        logger.notice("master: executing \(binaryPath)")
        let error = Processes.exec(path: binaryPath, arguments: CommandLine.arguments.dropFirst().map { $0 }, environment: environment)
        for fd in kept { try? FileDescriptors.setCloseOnExec(fd, true) }
        FileDescriptors.close(fallbackFD)
        answer(.reexecFailed(reason: "\(error)"))
    }
}

extension Logger.Level {
    init(_ level: SupervisorLogLevel) {
        switch level {
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        }
    }
}
