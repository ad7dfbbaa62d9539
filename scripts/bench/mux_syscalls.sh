#!/bin/bash
# Syscalls of one gateway worker during a 3 s mux pingpong (64 sessions x 64 B, u16be, to
# bulwark-chat --echo over 4 backend connections): `strace -c`, or with FUTEX_STACKS=1 where
# the futex calls come from (perf record -e syscalls:sys_enter_futex -g, then perf report).
# Usage: scripts/bench/mux_syscalls.sh [BIN]   (BIN: release binaries, default .build/release)
# Needs strace (and perf for FUTEX_STACKS); ports 17200-17201 on 127.0.0.1.
set -euo pipefail
BIN=${1:-.build/release}
WORK=$(mktemp -d)
trap 'kill $GATEWAY $CHAT 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
python3 "$(dirname "$0")/../lib/mux_gateway_config.py" --mux 17200 --chat 17201 > "$WORK/bulwark.toml"
"$BIN/bulwark-chat" --echo --listen 127.0.0.1:17201 >/dev/null 2>&1 & CHAT=$!
sleep 0.5
"$BIN/bulwark" run -c "$WORK/bulwark.toml" 2>/dev/null & GATEWAY=$!
sleep 1.5
WORKER=$(pgrep -P $GATEWAY | head -1)
if [ "${FUTEX_STACKS:-0}" = 1 ]; then
    timeout 5 perf record -e syscalls:sys_enter_futex -g -p "$WORKER" -o "$WORK/perf.data" >/dev/null 2>&1 &
else
    timeout 5 strace -c -f -o "$WORK/strace.txt" -p "$WORKER" 2>/dev/null &
fi
TRACER=$!
sleep 0.5
"$BIN/bulwark-bench" pingpong --target 127.0.0.1:17200 --connections 64 --size 64 --duration 3 --warmup 0.5 --json --u16be-frames | tail -1
wait $TRACER || true
if [ "${FUTEX_STACKS:-0}" = 1 ]; then
    perf report -i "$WORK/perf.data" --stdio --no-children --sort sym -g caller,0.5,callee --max-stack 3 2>/dev/null | head -60
else
    head -12 "$WORK/strace.txt"
fi
