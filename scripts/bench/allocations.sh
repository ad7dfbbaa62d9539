#!/usr/bin/env bash
# Shows that the relay hot path allocates nothing per packet: jemalloc's malloc count at exit
# (MALLOC_CONF=stats_print) after a short and a three times longer pingpong run. If packets
# allocated, the second count would be about three times the first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=.build/release
[ -x "$bin/bulwark" ] || swift build -c release
ulimit -n 20000
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/bulwark-echo" --listen 127.0.0.1:0 > "$work/echo.out" &
for _ in $(seq 50); do grep -q listening "$work/echo.out" && break; sleep 0.1; done
echo_address=$(sed -n 's/^listening on //p' "$work/echo.out")
port=$((20000 + RANDOM % 20000))
cat > "$work/bulwark.toml" <<TOML
[server]
workers = 2
[log]
level = "warning"
[[listener]]
name = "alloc"
bind = "127.0.0.1:$port"
mode = "tcp"
backend = "echo"
[[backend]]
name = "echo"
servers = ["$echo_address"]
TOML
for seconds in 2 6; do
    MALLOC_CONF=stats_print:true "$bin/bulwark" run -c "$work/bulwark.toml" 2> "$work/stats.$seconds" &
    gateway=$!
    sleep 0.5
    trips=$("$bin/bulwark-bench" pingpong --target "127.0.0.1:$port" --connections 64 --size 64 \
        --duration "$seconds" --warmup 0 --json | sed -n 's/.*"round_trips": *\([0-9]*\).*/\1/p')
    kill -TERM "$gateway"; wait "$gateway" || true
    mallocs=$(awk '/^total:/ {print $3; exit}' "$work/stats.$seconds")
    echo "pingpong ${seconds}s: ${trips:-?} round trips, ${mallocs} mallocs in the gateway's whole life"
done
