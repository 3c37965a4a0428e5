"""Risk's cost (docs/balances.md): the kernel on the mixed workload with balances, holds and fees on (every
account funded, a maker rebate and a taker fee on every fill) against the same commands with risk off,
alternated in one run. Both runs have a 10% band, so market buys have a protection price.

Times are CPU time (time.process_time), best of the rounds."""
from __future__ import annotations

import time
from decimal import Decimal

import numpy as np
from kabuto.engine.assets import Asset, Risk
from kabuto.engine.codes import Op
from kabuto.engine.engine import Engine
from kabuto.engine.instruments import Instrument
from kabuto.engine.records import COMMAND_DTYPE

from bench.workload import mixed_workload

NSYM, ACCOUNTS = 4, 64
FEE_ACCT = ACCOUNTS  # the workload's accounts are 0..63
RISK = Risk(True, tuple(Asset(f"SYM{i}x", 0) for i in range(NSYM)) + (Asset("USD", 2),), tuple(range(NSYM)),
            (NSYM,) * NSYM, (1,) * NSYM, (1,) * NSYM, ((0, -25, 250),))  # maker -0.25 bp, taker 2.5 bp


def _instruments() -> list[Instrument]:
    return [Instrument(f"SYM{i}x-USD", Decimal("0.01"), Decimal("1"), Decimal("1"), band_pct=Decimal("10"),
                       reference_price=Decimal("250")) for i in range(NSYM)]


def _deposits() -> np.ndarray:
    """Every account funded in every asset, far beyond what it can trade."""
    cmds = np.zeros(ACCOUNTS * (NSYM + 1), COMMAND_DTYPE)
    cmds["op"] = int(Op.DEPOSIT)
    cmds["oid"] = np.arange(1, len(cmds) + 1)
    cmds["acct"] = np.repeat(np.arange(ACCOUNTS), NSYM + 1)
    cmds["sym"] = np.tile(np.arange(NSYM + 1), ACCOUNTS)
    cmds["qty"] = 10**15
    return cmds


def _time(risk: Risk | None, prefill: np.ndarray, steady: np.ndarray) -> tuple[float, int]:
    engine = Engine(_instruments(), orders=1 << 17, events=1 << 18, risk=risk, fee_acct=FEE_ACCT)
    if risk is not None:
        engine.process(_deposits())
    engine.process(prefill)
    t = time.process_time()
    n = 0
    for i in range(0, len(steady), 1 << 16):
        n += len(engine.process(steady[i:i + (1 << 16)]))
    return time.process_time() - t, n


def bench_cost(n: int, rounds: int) -> dict:
    """Best CPU seconds of the steady commands with risk on and off, alternated."""
    prefill, steady = mixed_workload(n, nsym=NSYM, accounts=ACCOUNTS)
    on, off = [], []
    for _ in range(rounds):
        on.append(_time(RISK, prefill, steady))
        off.append(_time(None, prefill, steady))
    return {"n": n, "on": min(t for t, _ in on), "off": min(t for t, _ in off), "events_on": on[0][1],
            "events_off": off[0][1]}


def main(quick: bool = False) -> list[str]:
    """Run the measurement; the report's lines."""
    cost = bench_cost(1_000_000 if quick else 4_000_000, 5)
    rate = lambda s: cost["n"] / s / 1e6  # noqa: E731
    return [
        "## Risk (balances, holds, fees: docs/balances.md)",
        "",
        f"Kernel, mixed workload, {cost['n']:,} commands after a 40,000-order prefill, CPU time, best of 5, "
        "alternated in one run; every account funded, maker -0.25 bp and taker 2.5 bp on every fill.",
        "",
        "| | risk off | risk on | ratio |",
        "|---|---|---|---|",
        f"| kernel | {rate(cost['off']):.2f}M cmd/s ({cost['events_off']:,} events) | "
        f"{rate(cost['on']):.2f}M cmd/s ({cost['events_on']:,} events) | {cost['on'] / cost['off']:.2f}x |",
        "",
    ]


if __name__ == "__main__":
    print("\n".join(main(quick=True)))
