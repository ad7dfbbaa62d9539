#!/usr/bin/env bash
# Starts the bundled echo backend on 127.0.0.1:7001, then bulwark in the foreground on the
# given config. Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
config=${1:-etc/bulwark.toml}
bin=.build/release
"$bin/bulwark" check -c "$config"
"$bin/bulwark-echo" --listen 127.0.0.1:7001 &
echo_pid=$!
trap 'kill "$echo_pid" 2>/dev/null || true' EXIT
echo "echo backend on 127.0.0.1:7001 (pid $echo_pid); starting bulwark: try 'nc 127.0.0.1 7000' and '$bin/bulwarkctl show stat'"
"$bin/bulwark" run -c "$config"
