#!/usr/bin/env python3
"""The gateway config the mux benchmarks share (mux_bench.py, gateway_ab.sh, mux_syscalls.sh):
2 workers, no idle or frame timeout, a mux listener (u16be) in front of `bulwark-chat --echo`
over 4 persistent connections and, when given its ports, a TCP relay listener in front of
bulwark-echo. All on 127.0.0.1.

Usage: python3 scripts/lib/mux_gateway_config.py --mux PORT --chat PORT [--tcp PORT --echo PORT]
(prints the config)
"""
import argparse


def mux_gateway_config(mux_port, chat_port, tcp_port=None, echo_port=None):
    relay = tcp_port is not None
    parts = ["""[server]
workers = 2
[guard]
max_files = 20000
idle_timeout = "0s"
frame_timeout = "0s"
"""]
    if relay:
        parts.append(f"""[[listener]]
name = "tcp"
bind = "127.0.0.1:{tcp_port}"
mode = "tcp"
backend = "echo"
""")
    parts.append(f"""[[listener]]
name = "mux"
bind = "127.0.0.1:{mux_port}"
mode = "mux"
framing = "u16be"
backend = "chat"
""")
    if relay:
        parts.append(f"""[[backend]]
name = "echo"
servers = ["127.0.0.1:{echo_port}"]
""")
    parts.append(f"""[[backend]]
name = "chat"
servers = ["127.0.0.1:{chat_port}"]
connections = 4
""")
    return "".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Print the mux benchmarks' gateway config.")
    parser.add_argument("--mux", type=int, required=True)
    parser.add_argument("--chat", type=int, required=True)
    parser.add_argument("--tcp", type=int)
    parser.add_argument("--echo", type=int)
    arguments = parser.parse_args()
    if (arguments.tcp is None) != (arguments.echo is None):
        parser.error("--tcp and --echo go together")
    print(mux_gateway_config(arguments.mux, arguments.chat, arguments.tcp, arguments.echo), end="")
