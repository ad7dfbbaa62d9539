#!/usr/bin/env bash
# Starts the bundled echo backend on 127.0.0.1:7001 and the example chat backend on
# 127.0.0.1:7101, then bulwark in the foreground on the
# given config. Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
config=${1:-etc/bulwark.toml}
bin=.build/release
"$bin/bulwark" check -c "$config"
"$bin/bulwark-echo" --listen 127.0.0.1:7001 &
echo_pid=$!
"$bin/bulwark-chat" --listen 127.0.0.1:7101 &
chat_pid=$!
trap 'kill "$echo_pid" "$chat_pid" 2>/dev/null || true' EXIT
echo "echo backend on 127.0.0.1:7001 (pid $echo_pid), chat backend on 127.0.0.1:7101 (pid $chat_pid)"
echo "starting bulwark: try 'nc 127.0.0.1 7000' (TCP relay), 'nc 127.0.0.1 7100' (mux chat: join lobby, say lobby hi)"
echo "and '$bin/bulwarkctl show conns'"
"$bin/bulwark" run -c "$config"
