import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// `make install` into a scratch prefix, then systemd's own checks of the installed unit.
@Suite(.serialized) struct ServiceUnitTests {
    @Test func installedUnitVerifiesAndScoresAtMostTwo() throws {
        let binary = PackagePaths.bulwarkBinary
        let prefix = "/tmp/bulwark-test-install-\(getpid())"
        defer { _ = try? ChildProcess.run("/bin/rm", ["-rf", prefix]) }
        let make = ["-s", "-C", PackagePaths.root, "install-files", "BUILD_DIR=\(String(binary[..<binary.lastIndex(of: "/")!]))",
                    "PREFIX=\(prefix)/usr", "SYSCONFDIR=\(prefix)/etc", "UNITDIR=\(prefix)/units"]
        let (code, _, errors) = try ChildProcess.run("/usr/bin/make", make)
        #expect(code == 0, "\(errors)")
        let unitPath = "\(prefix)/units/bulwark.service"
        let unit = try Files.readText(unitPath)
        for line in ["Type=notify", "NotifyAccess=main", "KillMode=mixed", "ExecReload=\(prefix)/usr/bin/bulwark check -c \(prefix)/etc/bulwark/bulwark.toml",
                     "ExecReload=/bin/kill -HUP $MAINPID", "ExecStartPre=\(prefix)/usr/bin/bulwark check", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                     "User=bulwark", "LimitNOFILE=", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"] {
            #expect(unit.contains(line), "the unit has \(line)")
        }
        #expect(!unit.contains("ProcSubset=pid"), "the guards read /proc/meminfo and /proc/loadavg")
        let stopSeconds = unit.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }.flatMap { Int($0.dropFirst(15)) } ?? 0
        #expect(stopSeconds > 30, "TimeoutStopSec above the default drain_timeout (30s)")

        // The installed config validates and its stats socket lives in the unit's RuntimeDirectory.
        let installedConfig = try Files.readText("\(prefix)/etc/bulwark/bulwark.toml")
        #expect(installedConfig.contains("socket = \"/run/bulwark/admin.sock\""))
        #expect(try ChildProcess.run(binary, ["check", "-c", "\(prefix)/etc/bulwark/bulwark.toml"]).0 == 0)
        // A second install keeps an existing config.
        let edited = installedConfig + "\n# edited by the operator\n"
        let fd = open("\(prefix)/etc/bulwark/bulwark.toml", O_WRONLY | O_TRUNC)
        _ = Array(edited.utf8).withUnsafeBytes { try? FileDescriptors.writeAll(fd, $0) }
        close(fd)
        #expect(try ChildProcess.run("/usr/bin/make", make).0 == 0)
        #expect(try Files.readText("\(prefix)/etc/bulwark/bulwark.toml") == edited, "never overwritten")

        let (verifyCode, verifyOutput, verifyErrors) = try ChildProcess.run("/usr/bin/systemd-analyze", ["verify", unitPath])
        #expect(verifyCode == 0, "\(verifyOutput)\(verifyErrors)")
        let (_, security, _) = try ChildProcess.run("/usr/bin/systemd-analyze", ["security", "--offline=true", unitPath])
        let score = security.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        let exposure = try #require(score, "\(security.suffix(300))")
        #expect(exposure <= 2.0, "systemd-analyze security: \(exposure)")
    }
}
