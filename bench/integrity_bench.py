"""Market integrity's cost (docs/market-integrity.md): the kernel on the mixed workload with oracle instruments,
bands, oracle updates every 1,000 commands and a regular session, against the same commands on plain
instruments (the oracle updates turned into ticks), alternated in one run; and one call auction's uncross.

Times are CPU time (time.process_time), best of the rounds."""
from __future__ import annotations

import time
from decimal import Decimal

import numpy as np
from kabuto.engine.codes import Flag, Market, Op
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import Instrument, Oracle
from kabuto.engine.records import COMMAND_DTYPE

from bench.workload import MID, mixed_workload

ORACLE, TICK, HALT, RESUME, NEW = int(Op.ORACLE), int(Op.TICK), int(Op.HALT), int(Op.RESUME), int(Op.NEW)
HAS_TS = int(Flag.HAS_TS)
REG_OPEN = 1767364200 * 10**9  # 2026-01-02 09:30 New York
T0 = REG_OPEN + 3600 * 10**9  # mid-session: bands not doubled
EVERY = 1000  # commands between two oracle updates


def _instruments(n: int, oracle: bool) -> list[Instrument]:
    o = Oracle(1, stale_ms=600_000, halt_ms=1_200_000) if oracle else None
    return [Instrument(f"SYM{i}x-USD", Decimal("0.01"), Decimal("1"), Decimal("1"), oracle=o) for i in range(n)]


def _oracle_rows(cmds: np.ndarray, nsym: int, seed: int) -> None:
    """Every EVERY-th command becomes an oracle update of the next symbol: 250.00 +- a few cents."""
    rng = np.random.default_rng(seed)
    idx = np.arange(0, len(cmds), EVERY)
    rows = cmds[idx]
    rows.fill(0)
    rows["op"] = ORACLE
    rows["sym"] = np.arange(len(idx)) % nsym
    rows["side"] = int(Market.REGULAR)
    rows["px"] = MID + rng.integers(-5, 6, len(idx))  # the token reference in ticks
    rows["qty"] = 1  # multiplier 1
    rows["acct"] = REG_OPEN
    rows["line"] = REG_OPEN + 390 * 60 * 10**9
    cmds[idx] = rows


def workloads(n: int, nsym: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(prefill, steady) of the mixed workload, every command stamped 1 us apart, with oracle updates."""
    prefill, steady = mixed_workload(n, nsym=nsym)
    head = np.zeros(nsym, COMMAND_DTYPE)  # an oracle instrument trades from its first update on
    head["op"] = ORACLE
    head["sym"] = np.arange(nsym)
    head["side"] = int(Market.REGULAR)
    head["px"] = MID
    head["qty"] = 1
    head["acct"] = REG_OPEN
    head["line"] = REG_OPEN + 390 * 60 * 10**9
    prefill = np.concatenate([head, prefill])
    _oracle_rows(steady, nsym, 7)
    every = np.concatenate([prefill, steady])
    every["ts"] = T0 + np.arange(len(every)) * 1000
    every["flags"] |= HAS_TS
    every["oid"][every["op"] == ORACLE] = T0 - 10**6 + np.arange((every["op"] == ORACLE).sum())  # ots
    return every[:len(prefill)], every[len(prefill):]


def _plain(cmds: np.ndarray) -> np.ndarray:
    out = cmds.copy()
    out["op"][out["op"] == ORACLE] = TICK
    return out


def _time(instruments, prefill, steady) -> tuple[float, int]:
    engine = Engine(instruments, orders=1 << 17, events=1 << 18)  # events presized: no page faults in the timing
    engine.process(prefill)
    t = time.process_time()
    n = 0
    for i in range(0, len(steady), 1 << 16):
        n += len(engine.process(steady[i:i + (1 << 16)]))
    return time.process_time() - t, n


def bench_cost(n: int, rounds: int) -> dict:
    """Best CPU seconds of the steady commands with integrity on and off, alternated."""
    prefill, steady = workloads(n)
    on_ins, off_ins = _instruments(4, True), _instruments(4, False)
    off_pre, off_steady = _plain(prefill), _plain(steady)
    on, off = [], []
    for _ in range(rounds):
        on.append(_time(on_ins, prefill, steady))
        off.append(_time(off_ins, off_pre, off_steady))
    return {"n": n, "on": min(t for t, _ in on), "off": min(t for t, _ in off), "events_on": on[0][1],
            "events_off": off[0][1]}


def uncross_book(n: int) -> tuple[list[Instrument], np.ndarray, np.ndarray]:
    """A plain instrument halted and resumed, n crossing limit orders entered during its reopening call
    (n/2 bids 250.00-250.99, n/2 asks 249.01-250.00), and the tick at the call's end."""
    ins = [Instrument("AUCx-USD", Decimal("0.01"), Decimal("1"), Decimal("1"), reopen_ms=1000)]
    cmds = np.zeros(n + 2, COMMAND_DTYPE)
    cmds["ts"] = T0 + np.arange(n + 2)
    cmds["flags"] = HAS_TS
    cmds[0]["op"], cmds[1]["op"] = HALT, RESUME
    orders = cmds[2:]
    i = np.arange(n)
    orders["op"] = NEW
    orders["oid"] = i + 1
    orders["acct"] = i % 97
    orders["side"] = i % 2
    orders["px"] = np.where(orders["side"] == 0, MID + i % 100, MID - i % 100)
    orders["pexp"] = -2
    orders["qty"] = 1 + i % 7
    tick = np.zeros(1, COMMAND_DTYPE)
    tick["op"] = TICK
    tick["ts"] = T0 + 1000 * 10**6 + 10**6
    tick["flags"] = HAS_TS
    return ins, cmds, tick


def bench_uncross(n: int, rounds: int) -> dict:
    """Best CPU seconds of the one engine call whose timer uncrosses n resting orders."""
    best, fills = None, 0
    for _ in range(rounds):
        ins, cmds, tick = uncross_book(n)
        engine = Engine(ins, orders=2 * n, levels=1 << 10, events=4 * n)
        engine.process(cmds)
        t = time.process_time()
        ev = engine.process(tick)
        dt = time.process_time() - t
        fills = int((ev["kind"] == 1).sum())
        best = dt if best is None else min(best, dt)
    return {"n": n, "seconds": best, "fills": fills}


def main(quick: bool = False) -> list[str]:
    """Run both measurements; the report's lines."""
    cost = bench_cost(1_000_000 if quick else 4_000_000, 5)
    unc = bench_uncross(100_000, 3)
    rate = lambda s: cost["n"] / s / 1e6  # noqa: E731
    return [
        "| kernel, mixed workload, 4 instruments, presized, 65,536-command batches | CPU s | M cmd/s |",
        "|---|---:|---:|",
        f"| plain instruments (oracle updates replaced by ticks) | {cost['off']:.3f} | {rate(cost['off']):.2f} |",
        f"| oracle instruments: bands, an oracle update every {EVERY:,} commands, regular session "
        f"| {cost['on']:.3f} | {rate(cost['on']):.2f} |",
        "",
        f"Integrity on / off: **{cost['on'] / cost['off']:.3f}x** the time ({cost['n']:,} commands, best of "
        f"5, alternated; events {cost['events_on']:,} on, {cost['events_off']:,} off).",
        "",
        f"Call auction uncross of {unc['n']:,} resting orders ({unc['fills']:,} fills, one engine call): "
        f"**{unc['seconds'] * 1e3:.1f} ms** CPU, best of 3.",
    ]


if __name__ == "__main__":
    print("\n".join(main(quick=True)))
