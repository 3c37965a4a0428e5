"""The ZeroMQ wire's answers to session requests, built from what the venue core returns."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from kabuto.engine.assets import Risk, amount_text
from kabuto.engine.codes import Ev
from kabuto.engine.instruments import Instrument
from kabuto.gateway import protocol as P
from kabuto.gateway.config import GatewayConfig
from kabuto.gateway.units import TextCache
from kabuto.venue.accounts import CL, OID, SIDE, SLOT, SYM, Session
from kabuto.venue.sequencer import BalanceSet, HaltSet, MassCancel, OracleSet, ReferenceSet

WITHDRAWN = int(Ev.WITHDRAWN)


def instrument_specs(instruments: Sequence[Instrument]) -> dict[str, dict]:
    """Each instrument's trading terms as the logon answer carries them (decimal texts)."""
    return {i.symbol: {"tick_size": str(i.tick_size), "lot_size": str(i.lot_size), "min_qty": str(i.min_qty),
                       "band_pct": None if i.band_pct is None else str(i.band_pct)} for i in instruments}


def logged_on(s: Session, req: int, config: GatewayConfig, symbols: list[str], specs: dict) -> list:
    """The answer to a logon: the session's terms."""
    return [P.LOGON, req, {
        "account": s.account.name, "version": P.VERSION, "cod": s.cod, "timeout": config.cod_timeout,
        "rate_limit": config.rate_limit, "max_live_orders": config.max_live_orders,
        "max_batch": config.max_batch, "symbols": symbols, "instruments": specs}]


def heartbeat(req: int) -> list:
    """The answer to a heartbeat: the server's clock."""
    return [P.HEARTBEAT, req, time.time_ns()]


def logged_out(req: int) -> list:
    """The answer to a logout."""
    return [P.LOGOUT, req]


def open_orders(req: int, orders: list[list], symbols: list[str], px_open: Callable[[int], tuple],
                px: TextCache, qty: TextCache) -> list:
    """The answer to `orders`: [cl_oid, oid, sym, side, px, open] of each live order record."""
    out = []
    for o in orders:
        k = o[SYM]
        p, q = px_open(o[SLOT])
        out.append([o[CL], o[OID], symbols[k], P.SIDE_TEXT[o[SIDE]], px.text(k, p) if p is not None else None,
                    qty.text(k, q)])
    return [P.ORDERS, req, out]


def error(req: int | None, reason: int, text: str) -> list:
    """An `error` answer."""
    return [P.ERROR, req, P.reason_text(reason), text]


def balances(req: int, name: str, acct: int, a_bal: np.ndarray, risk: Risk) -> list:
    """The answer to `balances`: {asset: [total, held]} of every asset the account holds some of (decimal texts)."""
    out = {}
    if 0 <= acct < len(a_bal):
        for a, (total, held) in enumerate(a_bal[acct].tolist()):
            if total or held:
                d = risk.assets[a].decimals
                out[risk.assets[a].name] = [amount_text(total, d), amount_text(held, d)]
    return [P.BALANCES, req, name, out]


def _withdrawal_id(ack: BalanceSet, events: np.ndarray | None, t0: int) -> int | None:
    """The wid of the withdrawal a withdraw request made (None: it was rejected)."""
    if events is None:
        return None
    hit = np.flatnonzero((events["ts"] == t0 + ack.index) & (events["kind"] == WITHDRAWN))
    return int(events["oid"][hit[0]]) if len(hit) else None


def acknowledged(ack: MassCancel | ReferenceSet | HaltSet | OracleSet | BalanceSet, cm: np.ndarray,
                 events: np.ndarray | None = None, t0: int = 0) -> list:
    """The answer to a request acknowledged after its batch ran (events: the batch's, t0 its first ts)."""
    if type(ack) is MassCancel:
        return [P.MASS_CANCEL, ack.req, ack.canceled(cm)]
    if type(ack) is BalanceSet:
        if ack.kind == P.WITHDRAW:
            return [P.WITHDRAW, ack.req, *ack.fields, _withdrawal_id(ack, events, t0)]
        return [ack.kind, ack.req, *ack.fields]
    if type(ack) is OracleSet:
        return [P.ORACLE, ack.req, ack.symbol]
    if type(ack) is HaltSet:
        return [ack.kind, ack.req] + ([ack.symbol] if ack.kind in (P.HALT, P.RESUME) else [])
    return [P.REF, ack.req, ack.symbol, ack.price, ack.low, ack.high]
