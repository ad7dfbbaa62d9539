#!/usr/bin/env python3
"""Privileges on real processes (run by PrivilegeScenarioTests, or by hand, as root). Checked:
  1. started as root with [server] user/group, the worker runs as that user and group with no
     capabilities (effective, permitted, ambient) and no_new_privs; the master stays root; the
     relay works;
  2. the stats socket's peer credential check: with the file mode opened to everyone (0666),
     root and bulwark's own user are answered, any other uid gets "permission denied" and the
     refusal is logged;
  3. an unknown user, and a user switch asked of a non-root start, stop `bulwark run` at once
     with exit 2 and a message naming the key;
  4. a config file only root can read (0600) is still reloaded live: the worker is handed the
     config by the master and never reads the file.
Prints one JSON summary; exits 1 on the first failed check. Every wait is bounded.
Usage: privilege_scenarios.py BULWARK_BINARY
"""
import json, os, signal, socket, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proctools import free_port, stop, wait_for  # noqa: E402
from mux_scenarios import check  # noqa: E402

WORKER_UID = 65534  # nobody
STRANGER_UID = 12345


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def ask_as(uid, path, command="show info"):
    """A stats command from a process running as `uid` (setpriv), its answer."""
    argv = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups",
            sys.executable, "-c", ASK_SNIPPET, path, command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=15).stdout


# A refusal comes before any command: read first, briefly, so the command never races it.
ASK_SNIPPET = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(0.5)
try:
    data = s.recv(65536)
except socket.timeout:
    s.settimeout(5)
    s.sendall(sys.argv[2].encode() + b"\\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
print(data.decode(), end="")
"""


def write_config(path, port, echo_port, stats, user_lines):
    with open(path, "w") as f:
        f.write(f"""[server]
workers = 2
{user_lines}
[[listener]]
name = "relay"
bind = "127.0.0.1:{port}"
mode = "tcp"
backend = "echo"
[[backend]]
name = "echo"
servers = ["127.0.0.1:{echo_port}"]
[stats]
socket = "{stats}"
level = "admin"
mode = "0666"
""")
    os.chmod(path, 0o644)


def scenario(binary, work):
    result = {}
    echo_bin = os.path.join(os.path.dirname(binary), "bulwark-echo")
    echo_port, port = free_port(), free_port()
    echo = subprocess.Popen([echo_bin, "--listen", f"127.0.0.1:{echo_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stats = os.path.join(work, "admin.sock")
    config = os.path.join(work, "bulwark.toml")
    write_config(config, port, echo_port, stats, 'user = "nobody"\ngroup = "nogroup"')
    log_path = os.path.join(work, "bulwark.log")
    gateway = subprocess.Popen([binary, "run", "-c", config], stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        # 1. The worker is nobody:nogroup with nothing left; the master is still root.
        wait_for(lambda: os.path.exists(stats) and "worker runs as" in open(log_path).read(), 10, "the worker to start")
        workers = subprocess.run(["pgrep", "-P", str(gateway.pid)], capture_output=True, text=True).stdout.split()
        check(len(workers) == 1, f"one worker: {workers}")
        worker = status_fields(workers[0])
        check(worker["Uid"] == [str(WORKER_UID)] * 4 and worker["Gid"][0] == worker["Gid"][1], f"worker ids: {worker['Uid']} {worker['Gid']}")
        check(worker["Groups"] == worker["Gid"][:1], f"supplementary groups: {worker['Groups']}")
        for field in ("CapEff", "CapPrm", "CapAmb", "CapInh"):
            check(int(worker[field][0], 16) == 0, f"worker {field}: {worker[field]}")
        check(worker["NoNewPrivs"] == ["1"], "no_new_privs")
        master = status_fields(gateway.pid)
        check(master["Uid"][0] == "0", f"the master stays root: {master['Uid']}")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"ping")
            check(client.recv(16) == b"ping", "the relay works under the dropped worker")
        result["worker"] = {key: worker[key] for key in ("Uid", "Gid", "CapEff", "CapPrm", "CapAmb", "NoNewPrivs")}

        # 2. Peer credentials: the file mode lets anyone connect; the check does not.
        check(oct(os.stat(stats).st_mode & 0o777) == "0o666", "the socket file is 0666")
        check("version:" in ask_as(0, stats), "root is answered")
        check("version:" in ask_as(WORKER_UID, stats), "bulwark's own user is answered")
        refused = ask_as(STRANGER_UID, stats)
        check(refused.startswith(f"error: permission denied: uid {STRANGER_UID}"), f"another uid is refused: {refused!r}")
        wait_for(lambda: f"refused uid {STRANGER_UID}" in open(log_path).read(), 5, "the refusal in the log")
        result["stranger_answer"] = refused.strip()

        # 4. A config only root can read (0600): the worker never reads the file, so a limit
        #    change is applied live by the unprivileged worker all the same (issue 17, case 8).
        write_config(config, port, echo_port, stats, 'user = "nobody"\ngroup = "nogroup"\n[guard]\nidle_timeout = "7m"')
        os.chmod(config, 0o600)
        gateway.send_signal(signal.SIGHUP)
        wait_for(lambda: "last_reload: applied" in ask_as(0, stats), 10, "the live reload to be applied")
        info = ask_as(0, stats)
        check("live" in info.split("last_reload: ", 1)[1].split("\n", 1)[0], f"applied live: {info}")
        check("7m" in ask_as(0, stats, "show guard"), "the new idle_timeout is in force")
        check(subprocess.run(["pgrep", "-P", str(gateway.pid)], capture_output=True, text=True).stdout.split() == workers,
              "the same worker")
        result["unreadable_config_reload"] = "applied live"
    finally:
        stop(gateway, signal.SIGTERM, timeout=15)
        echo.kill()

    # 3. Refused at start: an unknown user; a switch asked of a non-root start.
    write_config(config, free_port(), echo_port, stats + "2", 'user = "no-such-user-here"')
    unknown = subprocess.run([binary, "run", "-c", config], capture_output=True, text=True, timeout=15)
    check(unknown.returncode == 2 and 'server.user: no user named "no-such-user-here"' in unknown.stderr,
          f"unknown user: {unknown.returncode} {unknown.stderr[-400:]}")
    write_config(config, free_port(), echo_port, stats + "3", 'user = "nobody"')
    unprivileged = subprocess.run(["setpriv", "--reuid", str(STRANGER_UID), "--regid", str(STRANGER_UID), "--clear-groups",
                                   binary, "run", "-c", config], capture_output=True, text=True, timeout=15)
    check(unprivileged.returncode == 2 and "needs bulwark started as root" in unprivileged.stderr,
          f"non-root start: {unprivileged.returncode} {unprivileged.stderr[-400:]}")
    result["ok"] = True
    return result


def main():
    if os.geteuid() != 0:
        print(json.dumps({"ok": True, "skipped": "needs root (setuid, setpriv)"}))
        return 0
    work = tempfile.mkdtemp(prefix="bulwark-priv-")
    os.chmod(work, 0o755)  # the unprivileged start must read its config
    try:
        result = scenario(sys.argv[1], work)
    except AssertionError as error:
        log = os.path.join(work, "bulwark.log")
        result = {"ok": False, "problem": str(error), "log_tail": open(log).read()[-3000:] if os.path.exists(log) else ""}
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
