#!/usr/bin/env python3
"""PNG charts of one scripts/bench/bench.py results file, for the report in docs/benchmarks.md.

Usage: plots.py [--results bench-results/bench-DATE-TIME.json] [OUT_DIR]
  --results  the results file (default: the newest bench-results/bench-*.json)
  OUT_DIR    where the PNGs go (default: docs/bench/); created when missing

Writes, each from the medians with min–max bars over the rounds:
  throughput.png  per target: pingpong round trips/s at each connection count and with the idle
                  connections open, stream MB/s, churn connections/s, redis-benchmark requests/s
  latency.png     per target: pingpong p50, p99 and p99.9 at each connection count
  cpu.png         per target: CPU per round trip, per GB streamed, per connection, per request
  memory.png      per target: user-space and kernel memory growth against the connection count
Needs matplotlib (scripts/bench/run.sh installs it with pip when missing); no display: Agg.
"""
import argparse
import glob
import json
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# One colour per target in every chart, so a target is recognised across them.
COLOURS = {"direct": "#9e9e9e", "bulwark": "#1565c0", "haproxy": "#e65100", "nginx": "#2e7d32",
           "bulwark-noguard": "#64b5f6", "bulwark-guards": "#0d47a1"}
PERCENTILES = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"))


def compact(value, _position=None):
    """An axis label: 80k, 1.6M, 0.8 (no offset text such as "1e6" above the axis to miss)."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def newest_results():
    paths = sorted(glob.glob(os.path.join(ROOT, "bench-results", "bench-*.json")))
    if not paths:
        raise SystemExit("no bench-results/bench-*.json: run scripts/bench/run.sh first, or pass --results")
    return paths[-1]


def targets_in(results, figure):
    """The targets of a figure in the run's TARGETS order."""
    rows = results.get("summary", {}).get(figure, {})
    return [name for name in results["settings"]["targets"] if name in rows]


def cell(results, figure, name, key):
    """(median, below, above) for an error bar, or None."""
    value = results.get("summary", {}).get(figure, {}).get(name, {}).get(key)
    if not value:
        return None
    return value["median"], value["median"] - value["min"], value["max"] - value["median"]


def bars(axis, results, figure, key, title, unit):
    """One bar per target: the median, the min–max range as an error bar."""
    names = [n for n in targets_in(results, figure) if cell(results, figure, n, key)]
    if not names:
        axis.set_visible(False)
        return
    values = [cell(results, figure, n, key) for n in names]
    axis.bar(range(len(names)), [v[0] for v in values], color=[COLOURS.get(n, "#555555") for n in names],
             yerr=[[v[1] for v in values], [v[2] for v in values]], capsize=3)
    axis.set_xticks(range(len(names)))
    axis.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(unit, fontsize=8)
    axis.yaxis.set_major_formatter(FuncFormatter(compact))
    axis.tick_params(axis="y", labelsize=8)
    axis.grid(axis="y", alpha=0.3)


def grouped_bars(axis, results, figure, keys, title, unit, log_scale=False):
    """Groups of bars, one group per key, one bar per target within each group."""
    names = targets_in(results, figure)
    if not names:
        axis.set_visible(False)
        return
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        values = [cell(results, figure, name, key) or (0, 0, 0) for key, _ in keys]
        positions = [group + (index - (len(names) - 1) / 2) * width for group in range(len(keys))]
        axis.bar(positions, [v[0] for v in values], width, label=name, color=COLOURS.get(name, "#555555"),
                 yerr=[[v[1] for v in values], [v[2] for v in values]], capsize=2)
    axis.set_xticks(range(len(keys)))
    axis.set_xticklabels([label for _, label in keys], fontsize=8)
    if log_scale:
        axis.set_yscale("log")
    else:
        axis.yaxis.set_major_formatter(FuncFormatter(compact))
    axis.set_title(title, fontsize=10)
    axis.set_ylabel(unit, fontsize=8)
    axis.tick_params(axis="y", labelsize=8)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=7)


def pingpong_title(results, figure):
    settings = results["settings"]
    if figure == "pingpong idle":
        return f"pingpong {settings['connections']} + {settings['idle_during_pingpong']} idle"
    return f"pingpong {figure.split()[1]} conn"


def pingpong_figures(results):
    counts = results["settings"]["pingpong_connections"]
    figures = [f"pingpong {count}" for count in counts]
    return [f for f in figures if f in results.get("summary", {})]


def grid(count, columns=3):
    rows = max(1, (count + columns - 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    axes = [axis for row in axes for axis in row]
    for axis in axes[count:]:
        axis.set_visible(False)
    return figure, axes


def save(figure, out_dir, name, title):
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    path = os.path.join(out_dir, name)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(path)


def throughput(results, out_dir, subtitle):
    panels = [(f, "rtt_per_sec", pingpong_title(results, f), "round trips/s") for f in pingpong_figures(results)]
    summary = results.get("summary", {})
    if "pingpong idle" in summary:
        panels.append(("pingpong idle", "rtt_per_sec", pingpong_title(results, "pingpong idle"), "round trips/s"))
    if "stream" in summary:
        panels.append(("stream", "mb_per_sec", "stream", "MB/s"))
    if "churn" in summary:
        panels.append(("churn", "conn_per_sec", "churn", "connections/s"))
    redis = [f for f in summary if f.startswith("redis ")]
    figure, axes = grid(len(panels) + len(redis))
    for axis, (name, key, title, unit) in zip(axes, panels):
        bars(axis, results, name, key, title, unit)
    for axis, name in zip(axes[len(panels):], sorted(redis, key=lambda f: int(f.split()[1][1:]))):
        grouped_bars(axis, results, name, (("SET", "SET"), ("GET", "GET")),
                     f"redis-benchmark -P {name.split()[1][1:]}", "requests/s")
    save(figure, out_dir, "throughput.png", f"Throughput (higher is better){subtitle}")


def latency(results, out_dir, subtitle):
    figures = pingpong_figures(results)
    if "pingpong idle" in results.get("summary", {}):
        figures.append("pingpong idle")
    figure, axes = grid(len(figures), columns=min(3, max(1, len(figures))))
    for axis, name in zip(axes, figures):
        grouped_bars(axis, results, name, PERCENTILES, pingpong_title(results, name), "µs (log)", log_scale=True)
    save(figure, out_dir, "latency.png", f"Pingpong latency percentiles (lower is better){subtitle}")


def cpu(results, out_dir, subtitle):
    summary = results.get("summary", {})
    panels = [(f, "watched_cpu_us_per_rt", pingpong_title(results, f), "CPU µs per round trip")
              for f in pingpong_figures(results)]
    if "stream" in summary:
        panels.append(("stream", "cpu_s_per_gb", "stream", "CPU s per GB"))
    if "churn" in summary:
        panels.append(("churn", "watched_cpu_us_per_conn", "churn", "CPU µs per connection"))
    for name in sorted((f for f in summary if f.startswith("redis ")), key=lambda f: int(f.split()[1][1:])):
        panels.append((name, "cpu_us_per_request", f"redis-benchmark -P {name.split()[1][1:]}", "CPU µs per request"))
    figure, axes = grid(len(panels))
    for axis, (name, key, title, unit) in zip(axes, panels):
        bars(axis, results, name, key, title, unit)
    save(figure, out_dir, "cpu.png", f"Target's CPU per unit of work (lower is better){subtitle}")


def memory(results, out_dir, subtitle):
    data = results.get("memory") or {}
    if not data:
        return
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    # (axis, key, scale of a level's growth, title, unit, log scale)
    panels = ((axes[0], "rss_grown", None, "user space: RSS growth", "MB", False),
              (axes[1], "rss_grown", "per connection", "user space: RSS growth per connection", "bytes (log)", True),
              (axes[2], "kernel_slab", None, "kernel: slab growth (system-wide)", "MB", False))
    names = [n for n in results["settings"]["targets"] if n in data]
    for axis, key, per_connection, title, unit, log_scale in panels:
        for name in names:
            levels = sorted(data[name]["levels"], key=lambda level: level["connections"])
            colour = COLOURS.get(name, "#555555")
            for stage, style, label in (("idle", "-", "silent"), ("burst", "--", "after burst")):
                points = [(level["connections"], level.get(f"{key}_{stage}")) for level in levels]
                points = [(x, y / x if per_connection else y / 1e6) for x, y in points if y is not None]
                if log_scale:
                    points = [(x, y) for x, y in points if y > 0]
                if points:
                    axis.plot([x for x, _ in points], [y for _, y in points], style, marker="o", markersize=3,
                              color=colour, label=f"{name} {label}")
        if log_scale:
            axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("idle connections", fontsize=8)
        axis.set_ylabel(unit, fontsize=8)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
    save(figure, out_dir, "memory.png", f"Memory against idle connections (lower is better){subtitle}")


def main():
    parser = argparse.ArgumentParser(description="PNG charts of a bench.py results file")
    parser.add_argument("--results", help="results JSON (default: the newest bench-results/bench-*.json)")
    parser.add_argument("out_dir", nargs="?", default=os.path.join(ROOT, "docs", "bench"),
                        help="where the PNGs go (default: docs/bench/)")
    args = parser.parse_args()
    path = args.results or newest_results()
    with open(path) as f:
        results = json.load(f)
    if "summary" not in results:
        raise SystemExit(f"{path} has no summary: it was written by an older bench.py")
    os.makedirs(args.out_dir, exist_ok=True)
    settings = results["settings"]
    rounds = settings["rounds"]
    run = f"\n{results.get('started', '')}, {rounds} round{'s' if rounds != 1 else ''}"
    subtitle = f"{run}, {settings['duration']:g} s per run; median, bars: min–max"
    throughput(results, args.out_dir, subtitle)
    latency(results, args.out_dir, subtitle)
    cpu(results, args.out_dir, subtitle)
    memory(results, args.out_dir, f"\n{results.get('started', '')}, a fresh start per count; solid: silent, "
           f"dashed: after a {settings['burst']} B burst each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
