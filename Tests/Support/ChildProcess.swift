import BulwarkSys
import Glibc

/// A program started with posix_spawn for scenario tests, its stdout and stderr sent to files.
public final class ChildProcess: @unchecked Sendable {  // @unchecked: `exitStatus` is only touched by the test thread that owns the process
    public let pid: pid_t
    public let outputPath: String
    public let errorPath: String
    private var exitStatus: Int32?

    /// `environment`: extra "NAME=value" entries on top of this process's environment.
    public init(_ executable: String, _ arguments: [String], environment: [String] = []) throws {
        let stamp = "\(getpid())-\(MonotonicClock.nanoseconds())"
        outputPath = "/tmp/bulwark-test-\(stamp).out"
        errorPath = "/tmp/bulwark-test-\(stamp).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp = (Processes.environment() + environment).map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var child = pid_t()
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        if status != 0 { throw SystemError("posix_spawn(\(executable))", errno: status) }
        pid = child
    }

    public func signal(_ number: Int32) { kill(pid, number) }

    /// Waits up to `timeoutMilliseconds` for the exit; returns the exit code (128+N for a signal),
    /// or nil if it is still running.
    public func waitForExit(timeoutMilliseconds: Int = 10_000) -> Int32? {
        if let exitStatus { return exitStatus }
        let deadline = MonotonicClock.nanoseconds() + Int64(timeoutMilliseconds) * 1_000_000
        repeat {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                exitStatus = code
                return code
            }
            usleep(10_000)
        } while MonotonicClock.nanoseconds() < deadline
        return nil
    }

    public var output: String { (try? Files.readText(outputPath)) ?? "" }
    public var errorOutput: String { (try? Files.readText(errorPath)) ?? "" }

    /// Runs to completion (bounded) and returns (exit code, stdout, stderr).
    public static func run(_ executable: String, _ arguments: [String], timeoutMilliseconds: Int = 10_000) throws -> (Int32, String, String) {
        let process = try ChildProcess(executable, arguments)
        defer { process.cleanUp() }
        guard let code = process.waitForExit(timeoutMilliseconds: timeoutMilliseconds) else {
            process.signal(SIGKILL)
            _ = process.waitForExit()
            throw SystemError("\(executable) did not finish in \(timeoutMilliseconds) ms", errno: ETIMEDOUT)
        }
        return (code, process.output, process.errorOutput)
    }

    /// Kills the process if it still runs and removes its output files.
    public func cleanUp() {
        if waitForExit(timeoutMilliseconds: 0) == nil {
            signal(SIGKILL)
            _ = waitForExit()
        }
        unlink(outputPath)
        unlink(errorPath)
    }
}

/// Paths inside the package, found from this file's location.
public enum PackagePaths {
    public static var root: String {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }  // drop /Tests/Support/ChildProcess.swift
        return path
    }

    /// The bulwark binary under test: $BULWARK_BINARY, or the debug build.
    public static var bulwarkBinary: String {
        if let override = getenv("BULWARK_BINARY") { return String(cString: override) }
        return root + "/.build/debug/bulwark"
    }

    public static func writeTemporary(_ text: String, suffix: String = ".toml") -> String {
        let path = "/tmp/bulwark-test-\(getpid())-\(MonotonicClock.nanoseconds())\(suffix)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        text.utf8CString.withUnsafeBytes { bytes in
            _ = try? FileDescriptors.writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes.dropLast()))
        }
        close(fd)
        return path
    }
}
