#!/usr/bin/env python3
"""Plots tuning/bench-sync.py's results (BENCH_JSON) as the README's
full-sync figure: sync wall time per key count, idle and under writes,
redis-server vs sluice.

Usage: python3 tuning/plot-sync.py RESULTS.json OUT.png
Needs matplotlib (`pip install matplotlib`).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    data = json.load(open(sys.argv[1]))
    keys = data["keys"]
    groups = [(f"{k / 1e6:g}M keys\nidle", f"idle{k}") for k in keys] + \
             [(f"{k / 1e6:g}M keys\nunder writes", f"busy{k}") for k in keys]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.38
    for i, (name, color) in enumerate((("redis", "#c0392b"), ("sluice", "#2471a3"))):
        xs = [g + (i - 0.5) * width for g in range(len(groups))]
        # A sync the bench gave up on (Redis looping) is drawn at the
        # give-up time and labelled so.
        raw = [data[name][key] for _, key in groups]
        ys = [min(y, data["give_up"]) for y in raw]
        bars = ax.bar(xs, ys, width, label="redis-server 7.0" if name == "redis" else "sluice",
                      color=color)
        for bar, y, r in zip(bars, ys, raw):
            label = f"> {y:.0f}s\n(gave up)" if r == float("inf") else f"{y:.2f}s"
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, y),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(groups)), [g for g, _ in groups])
    ax.set_ylabel("full sync wall time (s), lower is better")
    ax.set_yscale("log")
    top = max(min(v, data["give_up"]) for n in ("redis", "sluice") for _, k in groups
              for v in [data[n][k]])
    ax.set_ylim(top=top * 4)
    ax.set_title("Full sync of 100-byte values, master + replica on one host")
    ax.legend()
    fig.text(0.01, 0.01, data["machine"], fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
