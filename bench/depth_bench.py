"""Kernel cost against book depth: 10 to 1,000,000 resting orders, with the floor kernel beside it."""
from __future__ import annotations

import os
import sys

from bench.kernel_bench import time_floor, time_numba
from bench.workload import bench_instruments, mixed_workload

DEPTHS = (10, 100, 1_000, 10_000, 100_000, 1_000_000)


def main(quick: bool = False, plots: str | None = None) -> list[str]:
    """Markdown table (and depth.png in plots) of ns per command by resting-order depth."""
    n = 100_000 if quick else 500_000
    instruments = bench_instruments(1)
    rows = []
    for depth in DEPTHS:
        prefill, steady = mixed_workload(n, n_prefill=depth, nsym=1, seed=depth)
        seconds, _ = time_numba(instruments, prefill, steady, repeats=2, orders=max(1 << 16, 2 * depth))
        rows.append((depth, seconds / n * 1e9, time_floor(steady) / n * 1e9))
    lines = ["| resting orders | kabuto ns/cmd | M cmd/s | floor kernel ns/cmd |", "|---:|---:|---:|---:|"]
    lines += [f"| {d:,} | {ns:.0f} | {1e3 / ns:.2f} | {fl:.1f} |" for d, ns, fl in rows]
    if plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="kabuto numba kernel")
        ax.plot([r[0] for r in rows], [r[2] for r in rows], "s--", label="floor kernel (read + write)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("resting orders in the book")
        ax.set_ylabel("ns per command")
        ax.set_title("Matching cost against book depth (mixed workload)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(plots, "depth.png"), dpi=110)
        lines += ["", "![cost against depth](depth.png)"]
    return lines


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
