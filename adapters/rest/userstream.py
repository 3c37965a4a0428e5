"""The user data stream's events: a venue report as Binance's executionReport, balances as account updates."""
from __future__ import annotations

import time
from decimal import Decimal

from kabuto.adapters.rest.orders import TYPES, Order, cl_text, ms
from kabuto.gateway import protocol as P

EXEC_TYPES = {P.EV_ACCEPTED: "NEW", P.EV_FILL: "TRADE", P.EV_CANCELED: "CANCELED", P.EV_AMENDED: "REPLACED",
              P.EV_REJECTED: "REJECTED"}


def now_ms() -> int:
    """The adapter's clock in milliseconds."""
    return time.time_ns() // 1_000_000


def execution_report(r: list, order: Order | None) -> dict:
    """One order report as an executionReport event (order: the adapter's state after it, None for a reject)."""
    ev = r[P.R_EV]
    x = EXEC_TYPES[ev]
    if ev == P.EV_CANCELED and order is not None and order.status == "EXPIRED":
        x = "EXPIRED"
    fill = ev == P.EV_FILL
    fee = r[P.R_FEE] if fill and len(r) > P.R_FEE else None
    sym = r[P.R_SYM]
    out = {"e": "executionReport", "E": now_ms(), "s": sym, "c": cl_text(r[P.R_CL]),
           "S": (r[P.R_SIDE] or "").upper(), "x": x, "X": "REJECTED" if order is None else order.status,
           "r": r[P.R_REASON] or "NONE", "i": r[P.R_OID] if r[P.R_OID] is not None else -1,
           "l": r[P.R_QTY] if fill else "0", "L": r[P.R_PX] if fill else "0",
           "n": fee or "0", "N": sym.rpartition("-")[2] if fee is not None and sym else None,
           "T": ms(r[P.R_TS]), "t": r[P.R_SEQ] if fill else -1, "m": r[P.R_ROLE] == "maker",
           "I": r[P.R_SEQ], "kabuto": {"ev": ev, "open": r[P.R_OPEN]}}
    if order is not None:
        out.update({"o": TYPES.get((order.type, order.tif), "LIMIT"), "f": order.tif, "q": order.qty,
                    "p": order.px or "0", "z": order.binance()["executedQty"],
                    "Z": order.binance()["cummulativeQuoteQty"], "O": order.time, "w": not order.finished})
    else:
        out.update({"o": None, "f": None, "q": r[P.R_QTY], "p": r[P.R_PX] or "0", "z": "0", "Z": "0",
                    "O": ms(r[P.R_TS]), "w": False})
    return out


def balance_event(r: list) -> dict:
    """A balance report as outboundAccountPosition; a deposited or withdrawn report as balanceUpdate."""
    ev, ts, asset = r[0], r[2], r[4]
    if ev == P.EV_BALANCE:
        free = Decimal(r[6]) - Decimal(r[7])
        return {"e": "outboundAccountPosition", "E": now_ms(), "u": ms(ts),
                "B": [{"a": asset, "f": f"{free:f}", "l": r[7]}]}
    delta = r[5] if ev == P.EV_DEPOSITED else "-" + r[5]
    return {"e": "balanceUpdate", "E": now_ms(), "a": asset, "d": delta, "T": ms(ts)}
