"""Plots for the benchmark report (matplotlib, written as PNG next to the report)."""
from __future__ import annotations

import os

import numpy as np
from kabuto.engine.extras import require


def _plt():
    matplotlib = require("matplotlib", "bench")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def throughput_bars(rows: list[tuple[str, float, str]], path: str) -> None:
    """Horizontal bars of M commands/s; rows are (label, cmd/s, colour group)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    colours = {"kabuto": "tab:blue", "peer": "tab:gray", "baseline": "tab:orange"}
    ax.barh([r[0] for r in rows][::-1], [r[1] / 1e6 for r in rows][::-1],
            color=[colours[r[2]] for r in rows][::-1])
    ax.set_xscale("log")
    ax.set_xlabel("million commands per second (one core, log scale)")
    ax.set_title("Matching throughput by workload")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_cdf(series: dict[str, np.ndarray], path: str, title: str) -> None:
    """CDF of latency samples in microseconds, one line per series, log x."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, us in series.items():
        xs = np.sort(us)
        ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("microseconds")
    ax.set_ylabel("fraction of commands")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def png(directory: str, name: str) -> str:
    """Path of a plot in the report's folder."""
    return os.path.join(directory, name)
