"""Benchmark workloads as command arrays: deep books, then a realistic mix of makers and takers."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
from kabuto.engine.codes import Flag, Op, OrdType, Tif
from kabuto.engine.instruments import Instrument
from kabuto.engine.jit import njit
from kabuto.engine.records import COMMAND_DTYPE

NEW, CANCEL, AMEND = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND)
LIMIT, MARKET = int(OrdType.LIMIT), int(OrdType.MARKET)
IOC = int(Tif.IOC)
HAS_PX, HAS_QTY = int(Flag.HAS_PX), int(Flag.HAS_QTY)
MID = 25000  # ticks of 0.01: 250.00


def bench_instruments(n: int = 4) -> list[Instrument]:
    """n unbanded instruments, tick 0.01, lot 1."""
    return [Instrument(f"SYM{i}x-USD", Decimal("0.01"), Decimal("1"), Decimal("1")) for i in range(n)]


@njit(cache=True)
def _generate(out, n_prefill, nsym, seed, accounts, target):
    np.random.seed(seed)
    cap = len(out)
    live = np.empty(cap, np.int64)  # oids believed live (takers may have filled some)
    live_sym = np.empty(cap, np.int64)
    live_side = np.empty(cap, np.int64)
    nlive = 0
    oid = 1
    for i in range(cap):
        c = out[i]
        c.pexp = -2
        c.qexp = 0
        r = np.random.random() if i >= n_prefill else 0.0
        if r < 0.60 and nlive > target:
            r = 0.60 + 0.30 * np.random.random()  # a full book sees more cancels: depth stays near target
        if r < 0.60 or nlive == 0:  # new resting limit order near the touch
            sym = np.random.randint(nsym)
            side = np.random.randint(2)
            off = 1 + min(np.random.geometric(0.12), 60)
            c.op = NEW
            c.otype = LIMIT
            c.tif = 0
            c.sym = sym
            c.side = side
            c.oid = oid
            c.acct = np.random.randint(accounts)
            c.px = MID - off if side == 0 else MID + off
            c.qty = 1 + np.random.randint(100)
            live[nlive] = oid
            live_sym[nlive] = sym
            live_side[nlive] = side
            nlive += 1
            oid += 1
        elif r < 0.90:  # cancel
            j = np.random.randint(nlive)
            c.op = CANCEL
            c.oid = live[j]
            nlive -= 1
            live[j] = live[nlive]
            live_sym[j] = live_sym[nlive]
            live_side[j] = live_side[nlive]
        elif r < 0.95:  # amend: smaller (keeps priority) or a new price (loses it)
            j = np.random.randint(nlive)
            c.op = AMEND
            c.oid = live[j]
            if np.random.random() < 0.5:
                c.flags = HAS_QTY
                c.qty = 1 + np.random.randint(20)
            else:
                c.flags = HAS_PX
                off = 1 + min(np.random.geometric(0.12), 60)
                c.px = MID - off if live_side[j] == 0 else MID + off
        else:  # takers: IOC limit through the touch, or market
            c.op = NEW
            c.sym = np.random.randint(nsym)
            c.side = np.random.randint(2)
            c.oid = oid
            oid += 1
            c.acct = np.random.randint(accounts)
            c.qty = 1 + np.random.randint(150)
            c.tif = IOC
            if r < 0.98:
                c.otype = LIMIT
                c.px = MID + 3 if c.side == 0 else MID - 3
            else:
                c.otype = MARKET
    return out


def mixed_workload(n: int, n_prefill: int = 40000, nsym: int = 4, seed: int = 1,
                   accounts: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(prefill, steady): n_prefill resting orders spread over nsym books, then n mixed commands.

    The steady mix: 60% new limit orders 1-60 ticks from the mid, 30% cancels, 5% amends, 3% IOC
    limit takers through the touch, 2% market orders; while more than n_prefill orders rest, new
    orders turn into cancels, so the books stay near n_prefill orders deep."""
    out = np.zeros(n_prefill + n, COMMAND_DTYPE)
    _generate(out, n_prefill, nsym, seed, accounts, n_prefill)
    return out[:n_prefill], out[n_prefill:]


def resting_orders(n: int, nsym: int = 1) -> np.ndarray:
    """n non-crossing new limit orders (bids below, asks above the mid) for depth and memory figures."""
    out = np.zeros(n, COMMAND_DTYPE)
    i = np.arange(n)
    out["op"] = NEW
    out["oid"] = i + 1
    out["sym"] = i % nsym
    out["side"] = (i // nsym) % 2
    out["acct"] = i % 97
    spread = 1 + (i * 7919) % 2000
    out["px"] = np.where(out["side"] == 0, MID - spread, MID + spread)
    out["pexp"] = -2
    out["qty"] = 1 + i % 50
    return out
