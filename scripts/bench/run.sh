#!/usr/bin/env bash
# Side-by-side benchmark of Bulwark against HAProxy and nginx (stream module), with the echo
# backend (and redis-server) itself as the ceiling. See docs/benchmarks.md. `make bench` runs this.
#
#   scripts/bench/run.sh                  install what is missing, build release, run (~15 min)
#   scripts/bench/run.sh --print-configs  print the generated gateway configs and exit
#   ROUNDS=5 DURATION=10 scripts/bench/run.sh   (all knobs: scripts/bench/bench.py's header)
#   SKIP_BUILD=1      use the binaries already in .build/release (or in BIN)
#   BUILD_LOCK=/tmp/swiftbuild.lock   build under flock(1) (shared dev machines)
#   PLOTS_DIR=docs/bench   where the PNG charts go (default bench-results/plots); PLOTS=0: none
set -euo pipefail

cd "$(dirname "$0")/../.."
here=scripts/bench

if [[ "${1:-}" == "--print-configs" ]]; then
    exec python3 "$here/bench.py" --print-configs
fi

sudo=""
[[ "$(id -u)" == 0 ]] || sudo="sudo"

# --- HAProxy, nginx with the stream module, redis: install only what is missing ---------------
missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
{ command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; } || missing+=(nginx)
[[ -f /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing+=(libnginx-mod-stream)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# redis-benchmark phase (REDIS_PIPELINES="" or "0" turns it off, and with it these packages).
if [[ -z "${REDIS_PIPELINES+set}" || -n "${REDIS_PIPELINES//[ 0,]/}" ]]; then
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
fi
if ((${#missing[@]})); then
    echo "bench: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    # policy-rc.d: keep the packages from starting their system services.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        remove_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    [[ -n "${remove_policy:-}" ]] && $sudo rm -f /usr/sbin/policy-rc.d
fi

# --- matplotlib for the charts (scripts/bench/plots.py); without it the run goes on, no charts -
plots="${PLOTS:-1}"
if [[ "$plots" != 0 ]] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    echo "bench: installing matplotlib (python3 -m pip) for the charts" >&2
    if ! python3 -m pip install -q matplotlib; then
        echo "bench: matplotlib could not be installed: no charts this run" >&2
        plots=0
    fi
fi

# --- Build (release, whole package; the tools alone if the gateway does not build) ------------
lock=()
[[ -n "${BUILD_LOCK:-}" ]] && lock=(flock "$BUILD_LOCK")
if [[ -z "${SKIP_BUILD:-}" ]]; then
    if ! "${lock[@]}" swift build -c release; then
        echo "bench: the whole-package release build failed; building bulwark-echo and bulwark-bench alone" >&2
        echo "bench: (bulwark is benchmarked only if .build/release/bulwark exists and works)" >&2
        "${lock[@]}" swift build -c release --product bulwark-echo
        "${lock[@]}" swift build -c release --product bulwark-bench
    fi
fi

# --- Open files: 5000 relayed connections cost the gateway 10000-15000 fds -------------------
hard=$(ulimit -Hn)
if [[ "$hard" == unlimited || "$hard" -ge 20000 ]]; then ulimit -n 20000; else ulimit -n "$hard"; fi

# --- Run; whatever happens, nothing started here outlives this script ------------------------
export BENCH_PGIDS_FILE
BENCH_PGIDS_FILE=$(mktemp /tmp/bulwark-bench-pgids.XXXXXX)
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "${py_pid:-}" ]] && kill -0 "$py_pid" 2>/dev/null; then
        kill -TERM "$py_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$py_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$py_pid" 2>/dev/null || true
    fi
    # The process groups bench.py started (echo, gateways) and did not stop itself: it empties
    # the file once everything is stopped.
    while read -r pgid; do
        [[ -n "$pgid" ]] && kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$BENCH_PGIDS_FILE"
    rm -f "$BENCH_PGIDS_FILE"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python3 "$here/bench.py" &
py_pid=$!
status=0
wait "$py_pid" || status=$?

# --- Charts of the results just written (also after a failed run: they show what it measured) -
results_dir="${RESULTS_DIR:-bench-results}"
newest=$(ls -t "$results_dir"/bench-*.json 2>/dev/null | head -n 1 || true)
if [[ "$plots" != 0 && -n "$newest" ]]; then
    python3 "$here/plots.py" --results "$newest" "${PLOTS_DIR:-$results_dir/plots}" ||
        echo "bench: plots.py failed; the results are in $newest" >&2
fi
exit "$status"
