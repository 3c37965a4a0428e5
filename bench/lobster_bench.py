"""LOBSTER replay throughput on the AMZN level-5 day (155,935 real Nasdaq messages), with its baselines.

Two baselines, measured in the same run: a numba loop that only reads every message, and the
floor kernel of bench/kernel_bench.py (read a command record, write an event record) over one
command per message, which the "x floor" column divides by. Times are
the process's CPU time (time.process_time), best of several runs after an untimed warm-up that
loads the compiled code; the whole `kabuto replay` command is timed on the wall clock."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from kabuto.engine.records import EVENT_DTYPE, empty_commands
from kabuto.replay import lobster, lobster_check

from bench.kernel_bench import floor_kernel

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "lobster")
STEM = "AMZN_2012-06-21_34200000_57600000_{}_5.csv"
TARGET_CHECK_S = 1.0  # issue 6: the whole day with --check in under a second after compilation
TARGET_RATE = 1_000_000  # and at least this many messages/s without --check


def best_cpu(fn: Callable[[], object], repeats: int) -> float:
    """Best CPU seconds of fn over repeats runs, after one untimed run."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def command_wall(messages: str, orderbook: str, repeats: int) -> float:
    """Best wall seconds of the whole `kabuto replay --format lobster --check` process."""
    kabuto = os.path.join(os.path.dirname(sys.executable), "kabuto")
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([kabuto, "replay", "--format", "lobster", messages, "--orderbook", orderbook, "--check"],
                       check=True, capture_output=True)
        best = min(best, time.perf_counter() - t)
    return best


def message_commands(msgs: np.ndarray) -> np.ndarray:
    """One command record per message (the floor kernel only copies fields, so any op will do)."""
    cmds = empty_commands(len(msgs))
    cmds["op"] = msgs[:, lobster_check.C_TYPE]
    cmds["oid"] = msgs[:, lobster_check.C_OID]
    cmds["px"] = msgs[:, lobster_check.C_PX]
    cmds["qty"] = msgs[:, lobster_check.C_SIZE]
    cmds["ts"] = msgs[:, lobster_check.C_TIME]
    return cmds


def main(quick: bool = False) -> list[str]:
    """Time parsing and replay of the AMZN level-5 day; a markdown table."""
    messages_path = os.path.join(DATA, STEM.format("message"))
    book_path = os.path.join(DATA, STEM.format("orderbook"))
    if not os.path.exists(messages_path):
        return [f"(skipped: LOBSTER files not found in {os.path.abspath(DATA)})"]
    repeats = 3 if quick else 7
    msgs = lobster.load_messages(messages_path)
    book, levels = lobster.load_orderbook(book_path, None)
    n = len(msgs)
    cmds = message_commands(msgs)
    ev = np.zeros(n, EVENT_DTYPE)
    base = best_cpu(lambda: floor_kernel(cmds, ev), repeats)
    rows = [
        ("baseline: a numba loop that only reads each message", best_cpu(lambda: lobster_check.scan_only(msgs),
                                                                           repeats)),
        ("baseline: floor kernel, one command in and one event out per message", base),
        ("parse + validate the message file", best_cpu(lambda: lobster.load_messages(messages_path), repeats)),
        ("parse + validate the orderbook file", best_cpu(lambda: lobster.load_orderbook(book_path, None), repeats)),
        ("replay, messages only (no orderbook: no seeding, no re-sync)",
         best_cpu(lambda: lobster.run_lobster(msgs, None, 0, False), repeats)),
        ("replay, seeded and re-synced from the orderbook",
         best_cpu(lambda: lobster.run_lobster(msgs, book, levels, False), repeats)),
        ("replay --check (compare every row, classify every type-4 maker)",
         best_cpu(lambda: lobster.run_lobster(msgs, book, levels, True), repeats)),
    ]
    out = [f"LOBSTER AMZN level-5 day, {n:,} messages; CPU seconds, best of {repeats} after a warm-up",
           "", "| step | seconds | messages/s | x floor |", "|---|---:|---:|---:|"]
    for name, s in rows:
        out.append(f"| {name} | {s:.4f} | {n / s:,.0f} | {s / base:,.1f} |")
    check_total = rows[2][1] + rows[3][1] + rows[6][1]
    wall = command_wall(messages_path, book_path, 1 if quick else 3)
    seeded = rows[5][1]
    out += [f"| parse both files + replay --check | {check_total:.3f} | {n / check_total:,.0f} | "
            f"{check_total / base:,.1f} |",
            f"| `kabuto replay --format lobster --check`, whole process (wall, start-up included) | {wall:.2f} | "
            f"{n / wall:,.0f} | {wall / base:,.0f} |",
            "",
            f"Targets (issue 6): the day with --check in under {TARGET_CHECK_S:g} s after compilation: "
            f"{check_total:.3f} s with parsing ({'met' if check_total < TARGET_CHECK_S else 'MISSED'}); "
            f"at least {TARGET_RATE:,} messages/s without --check: {n / seeded:,.0f} seeded and re-synced "
            f"({'met' if n / seeded >= TARGET_RATE else 'MISSED'}). The whole process adds Python and "
            "numba start-up and the loading of the cached compiled code."]
    return out


if __name__ == "__main__":
    print("\n".join(main("--quick" in sys.argv)))
