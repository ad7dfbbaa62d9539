#!/bin/bash
# A/B of gateway builds or settings: each VARIANT (label=path/to/bulwark[,NAME=VALUE...]) is
# started in turn, ROUNDS times, on the same config, and measured with a 64 x 64 B pingpong
# through a TCP relay listener (to bulwark-echo) and a mux listener (u16be, 4 backend
# connections, to bulwark-chat --echo). One line per measurement, then the medians:
# label, listener, round trips/s, p99 us, p99.9 us, gateway CPU us per round trip, backend CPU
# us per round trip (bulwark-echo or bulwark-chat, warm-up included).
# Usage: ROUNDS=5 scripts/bench/gateway_ab.sh before=/tmp/old/.build/release/bulwark after=.build/release/bulwark
#        (NAME=VALUE after a path: environment for that variant's gateway only; CHAT=PATH: that
#        variant's mux backend is PATH instead of $BIN/bulwark-chat, to A/B backends)
# BIN (default .build/release) has bulwark-echo, bulwark-chat and bulwark-bench. Ports
# 17400-17401 and 17300-17301 on 127.0.0.1; every run is bounded (3 s + 1 s warm-up).
set -euo pipefail
BIN=${BIN:-.build/release}
ROUNDS=${ROUNDS:-5}
[ $# -ge 1 ] || { sed -n 2,10p "$0"; exit 2; }
WORK=$(mktemp -d)
ulimit -n 20000 2>/dev/null || true
python3 "$(dirname "$0")/../lib/mux_gateway_config.py" --tcp 17400 --echo 17401 --mux 17300 --chat 17301 > "$WORK/bulwark.toml"
GATEWAY= CHAT=
"$BIN/bulwark-echo" --listen 127.0.0.1:17401 >/dev/null 2>&1 & ECHO=$!
trap 'kill $ECHO $CHAT $GATEWAY 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
sleep 0.5
# utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)
backend_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for _ in $(seq 1 "$ROUNDS"); do
    for variant in "$@"; do
        label=${variant%%=*}
        IFS=, read -r -a parts <<< "${variant#*=}"
        chat="$BIN/bulwark-chat" environment=()
        for part in "${parts[@]:1}"; do
            if [[ $part == CHAT=* ]]; then chat=${part#CHAT=}; else environment+=("$part"); fi
        done
        "$chat" --echo --listen 127.0.0.1:17301 >/dev/null 2>&1 & CHAT=$!
        env "${environment[@]}" "${parts[0]}" run -c "$WORK/bulwark.toml" 2>/dev/null & GATEWAY=$!
        sleep 1.2
        WORKER=$(pgrep -P $GATEWAY | head -1)
        for listener in tcp mux; do
            if [ $listener = tcp ]; then port=17400; framed=""; backend=$ECHO; else port=17300; framed="--u16be-frames"; backend=$CHAT; fi
            backend_before=$(backend_cpu_ticks $backend)
            "$BIN/bulwark-bench" pingpong --target 127.0.0.1:$port --connections 64 --size 64 --duration 3 --warmup 1 \
                --json $framed --cpu-pids "$WORKER" | tail -1 |
                python3 -c 'import json, sys; d = json.load(sys.stdin); print(sys.argv[1], sys.argv[2], d["rtt_per_sec"], d["p99_us"], d["p999_us"], d["watched_cpu_us_per_rt"], d["total_round_trips"])' "$label" "$listener" > "$WORK/line.txt"
            read -r -a line < "$WORK/line.txt"
            ticks=$(( $(backend_cpu_ticks $backend) - backend_before ))
            echo "${line[@]:0:6}" "$(python3 -c "print(round($ticks / $(getconf CLK_TCK) * 1e6 / max(1, ${line[6]}), 2))")"
        done | tee -a "$WORK/results.txt"
        kill $GATEWAY $CHAT; wait $GATEWAY $CHAT 2>/dev/null || true
        GATEWAY= CHAT=
    done
done
echo "medians (min-max round trips/s):"
python3 - "$WORK/results.txt" <<'SUMMARY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, listener, *values = line.split()
    rows[(label, listener)].append([float(v) for v in values])
for (label, listener), runs in rows.items():
    rate, p99, p999, cpu, backend_cpu = (statistics.median(column) for column in zip(*runs))
    print(f"{label} {listener}: {rate:,.0f} rt/s ({min(r[0] for r in runs):,.0f}-{max(r[0] for r in runs):,.0f}), "
          f"p99 {p99:,.0f} us, p99.9 {p999:,.0f} us, CPU {cpu:.2f} us/rt, backend CPU {backend_cpu:.2f} us/rt")
SUMMARY
