#!/usr/bin/env python3
"""`make test-hostile`: the reliability scenarios of docs/reliability.md against the release
binaries, one after another, each with its own gateway. Prints a line per scenario and writes
every figure to bench-results/hostile.json; exits 1 if any scenario failed. A scenario that
fails only its latency check (common.LatencyFailed) runs once more, and its figure keeps the first
attempt's failure: on 2 shared CPUs one p99 can double from noise alone.

Usage: run.py [--only 1,3,5] [--soak-seconds N]  (as root: some scenarios use namespaces,
iptables and other uids; they are skipped, and say so, without it).
"""
import argparse
import json
import os
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backends  # noqa: E402
import connections  # noqa: E402
import deploys  # noqa: E402
import exhaustion  # noqa: E402
import frames  # noqa: E402
import pressure  # noqa: E402
import soak  # noqa: E402
from common import ROOT, Failed, LatencyFailed  # noqa: E402

SCENARIOS = [
    (1, "connection flood", connections.connection_flood),
    (2, "per-IP flood", connections.per_ip_flood),
    (3, "slowloris", connections.slowloris),
    (5, "oversized and lying headers", frames.lying_headers),
    (6, "split and fused frames", frames.split_and_fused),
    (4, "slow reader", pressure.slow_reader),
    (7, "backend down, refusing, hung, black-holed", backends.backend_failures),
    (8, "out of fds", exhaustion.out_of_fds),
    (8, "out of ephemeral ports", exhaustion.out_of_ports),
    (9, "memory and load guards", pressure.guards_from_proc),
    (10, "DNS failure and stall", exhaustion.dns_trouble),
    (11, "stats socket abuse", pressure.stats_abuse),
    (13, "amplification", pressure.amplification),
    (12, "soak", soak.soak),
    (14, "bad deploys", deploys.bad_deploys),
]


def run_once(number, scenario):
    """(figure, outcome, whether only a latency check failed)."""
    with tempfile.TemporaryDirectory(prefix=f"hostile-{number}-") as work:
        try:
            figure = scenario(work)
            return figure, "skipped" if isinstance(figure, dict) and figure.get("skipped") else "passed", False
        except Failed as failure:
            return {"failure": str(failure)}, "FAILED", isinstance(failure, LatencyFailed)
        except Exception:  # a broken scenario is a failure too, with its traceback
            return {"failure": traceback.format_exc(limit=3)}, "FAILED", False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated scenario numbers")
    parser.add_argument("--soak-seconds", type=int, default=600)
    arguments = parser.parse_args()
    os.environ["HOSTILE_SOAK_SECONDS"] = str(arguments.soak_seconds)
    chosen = {int(n) for n in arguments.only.split(",") if n.strip()}
    results, failed = [], 0
    for number, name, scenario in sorted(SCENARIOS, key=lambda entry: entry[0]):
        if chosen and number not in chosen:
            continue
        started = time.monotonic()
        figure, outcome, noisy = run_once(number, scenario)
        if noisy:  # only a latency percentile missed: once more, on a fresh gateway (common.LatencyFailed)
            print(f"{number:>2}. {name}: a latency check failed, running it once more: {json.dumps(figure)}", flush=True)
            first_failure = figure["failure"]
            figure, outcome, _ = run_once(number, scenario)
            figure = {**figure, "first_attempt": first_failure} if isinstance(figure, dict) else figure
        failed += outcome == "FAILED"
        seconds = round(time.monotonic() - started, 1)
        results.append({"number": number, "name": name, "outcome": outcome, "seconds": seconds, "figure": figure})
        print(f"{number:>2}. {name}: {outcome} in {seconds} s: {json.dumps(figure)}", flush=True)
    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench-results", "hostile.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"hostile: {len(results) - failed} of {len(results)} passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
