"""`kabuto replay` end to end (JSON parsing and printing included), numba engine vs the reference model."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.kernel_bench import CACHE, peer_log


def kabuto() -> str:
    """The kabuto console script next to this Python."""
    return os.path.join(os.path.dirname(sys.executable), "kabuto")


def time_replay(path: str, instruments: str, engine: str = "numba") -> float:
    """Wall seconds of one `kabuto replay` process, startup included."""
    out = os.path.join(CACHE, "events.out")
    t = time.perf_counter()
    subprocess.run([kabuto(), "replay", path, "--instruments", instruments, "--engine", engine,
                    "--events", out], check=True)
    return time.perf_counter() - t


def head(path: str, n: int) -> str:
    """A copy of the first n lines of a file."""
    out = f"{path}.head{n}"
    if not os.path.exists(out):
        with open(path, "rb") as f, open(out, "wb") as g:
            for _, line in zip(range(n), f):
                g.write(line)
    return out


def main(quick: bool = False) -> list[str]:
    """Replay the peer mixed log; report lines/s of both engines as a markdown table."""
    n = 200_000 if quick else 2_000_000
    ref_n = 20_000 if quick else 100_000
    path, inst, _ = peer_log("mixed", n)
    time_replay(head(path, 1000), inst)  # load the kernels' cache once
    numba_s = min(time_replay(path, inst) for _ in range(2))
    startup = min(time_replay(head(path, 1), inst) for _ in range(2))
    ref_s = time_replay(head(path, ref_n), inst, "reference")
    return ["| replay (peer `mixed` log, events to a file) | lines | seconds | lines/s |",
            "|---|---:|---:|---:|",
            f"| `kabuto replay` (numba), whole process | {n:,} | {numba_s:.2f} | {n / numba_s / 1e3:.0f}k |",
            f"| same, less the {startup:.2f} s start-up (a 1-line log) | {n:,} | {numba_s - startup:.2f} "
            f"| {n / (numba_s - startup) / 1e3:.0f}k |",
            f"| `kabuto replay --engine reference`, whole process | {ref_n:,} | {ref_s:.2f} "
            f"| {ref_n / ref_s / 1e3:.1f}k |"]


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
