#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets (Fuzz/Package.swift) with AddressSanitizer and runs
# each for FUZZ_SECONDS (default 120), starting from its committed corpus. Afterwards each
# corpus is minimized (libFuzzer's -merge) back into Fuzz/corpus/TARGET, hand-made seeds kept.
# A crash stops the run: its input is in Fuzz/crashes/; once fixed, copy it into the corpus as
# crash-NAME, where `make test` replays it for good.
# FUZZ_TARGETS picks targets (default: all four); BUILD_LOCK=/tmp/swiftbuild.lock builds under flock.
set -euo pipefail
cd "$(dirname "$0")/../../Fuzz"
seconds=${FUZZ_SECONDS:-120}
targets=${FUZZ_TARGETS:-"frames protocol config stats"}
export SWIFT_BACKTRACE=enable=no  # Swift's crash handler confuses ASan (../shared notes)
${BUILD_LOCK:+flock "$BUILD_LOCK"} swift build -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer
mkdir -p crashes
summary=""
for target in $targets; do
    binary=.build/release/fuzz-$target
    options=()
    [ -f "dictionaries/$target.dict" ] && options+=(-dict="dictionaries/$target.dict")
    # Config mutations past 2 KiB add size, not coverage (the shipped config seed stays whole).
    [ "$target" = config ] && options+=(-max_len=2048)
    work=$(mktemp -d)
    log=$(mktemp)
    echo "fuzz-$target: ${seconds}s"
    if ! "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="crashes/$target-" "${options[@]}" "$work" "corpus/$target" >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz-$target found a failing input: $(ls crashes/$target-* 2>/dev/null | head -1)" >&2
        exit 1
    fi
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    # Minimize: the smallest set of inputs with the coverage of both the old corpus and the new finds.
    merged=$(mktemp -d)
    "$binary" -merge=1 "$merged" "corpus/$target" "$work" >/dev/null 2>&1
    find "corpus/$target" -type f ! -name 'seed-*' ! -name 'crash-*' -delete
    for file in "$merged"/*; do
        [ -e "$file" ] || continue
        name=$(basename "$file")
        cp "$file" "corpus/$target/found-${name:0:16}"
    done
    # A found input equal to a seed adds nothing.
    for seed in corpus/$target/seed-* corpus/$target/crash-*; do
        [ -e "$seed" ] || continue
        for found in corpus/$target/found-*; do [ -e "$found" ] && cmp -s "$seed" "$found" && rm -f "$found"; done
    done
    count=$(ls "corpus/$target" | wc -l)
    summary+=$(printf '%-10s %12s executions in %ss (%s/s), corpus %s inputs\\n' "$target" "$executions" "$seconds" \
        "$((executions / seconds))" "$count")
    rm -rf "$work" "$merged" "$log"
done
printf "$summary"
