"""Report stage: engine events -> execution reports per session, and the live order state behind them.

One walk over a batch's events does both jobs, because a report needs what the order state knows
(client order id, leaves) and the order state changes with every report. The command behind each
event is found from its timestamp (see gateway/sequencer.py).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from engine.codes import Ev, Flag, Reason
from engine.instruments import Instrument
from gateway import protocol as P
from gateway.decoder import C_MASS, C_NEW
from gateway.sequencer import Batch
from gateway.state import ACCOUNT, CL, OPEN, PX, SIDE, SYM, Account, Session
from gateway.units import price_cache, qty_cache

ACCEPTED, FILL, CANCELED, AMENDED, REJECTED = (int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED),
                                              int(Ev.AMENDED), int(Ev.REJECTED))
HAS_PX = int(Flag.HAS_PX)
R_MASS, R_DISCONNECT = int(Reason.MASS_CANCEL), int(Reason.DISCONNECT)
REASONS = P.REASON_TEXT
SIDES = P.SIDE_TEXT
R_REQ = P.R_REQ

SMALL_BATCH = 64


ROW_FIELDS = ("kind", "reason", "side", "flags", "sym", "oid", "px", "qty", "open", "maker", "ts")


def event_rows(events: np.ndarray) -> list[tuple]:
    """Events as plain tuples of the ROW_FIELDS the report and market data stages read.

    Column by column for big batches (about twice as fast per event as ndarray.tolist, which
    wins below SMALL_BATCH events because each column costs a fixed numpy call)."""
    if len(events) < SMALL_BATCH:
        return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[12]) for r in events.tolist()]
    return list(zip(*[events[f].tolist() for f in ROW_FIELDS]))


def _without_req(r: tuple) -> tuple:
    return r[:R_REQ] + (None,) + r[R_REQ + 1:]


class ReportStage:
    """Keeps every live order by engine order id and turns events into per-session reports."""

    def __init__(self, instruments: Sequence[Instrument]):
        self.orders: dict[int, list] = {}  # engine oid -> order record (gateway/state.py layout)
        self._sym = [i.symbol for i in instruments]
        self.px = price_cache(instruments)
        self.qty = qty_cache(instruments)

    def apply(self, rows: Iterable[tuple], first_seq: int, batch: Batch) -> dict[Session, list]:
        """Update order state from one batch's events (event_rows); the reports each session gets."""
        orders = self.orders
        get = orders.get
        meta, t0 = batch.meta, batch.t0
        syms = self._sym
        pmaps, pmiss = self.px.maps, self.px.miss
        qmaps, qmiss = self.qty.maps, self.qty.miss
        touched: list[Account] = []
        seq = first_seq - 1
        for kind, reason, side, flags, sym, oid, px, qty, open_, maker, ts in rows:
            seq += 1
            sess, req, ck, rec, tag = meta[ts - t0]
            if kind == FILL:
                t = get(oid)
                m = get(maker)
                if t is None or m is None:
                    continue
                qm = qmaps[sym]
                p = pmaps[sym].get(px) or pmiss(sym, px)
                qs = qm.get(qty) or qmiss(sym, qty)
                to = t[OPEN] = t[OPEN] - qty
                mo = m[OPEN] = m[OPEN] - qty
                a = t[ACCOUNT]
                if not a.out:
                    touched.append(a)
                a.out.append((sess, (P.EV_FILL, seq, ts, req, t[CL], oid, syms[sym], SIDES[side], p, qs,
                                     qm.get(to) or qmiss(sym, to), None, "taker")))
                a = m[ACCOUNT]
                if not a.out:
                    touched.append(a)
                a.out.append((None, (P.EV_FILL, seq, ts, None, m[CL], maker, syms[sym], SIDES[1 - side], p, qs,
                                     qm.get(mo) or qmiss(sym, mo), None, "maker")))
                if to == 0:
                    del orders[oid]
                    live = t[ACCOUNT].live
                    if live.get(t[CL]) is t:
                        del live[t[CL]]
                if mo == 0:
                    del orders[maker]
                    live = m[ACCOUNT].live
                    if live.get(m[CL]) is m:
                        del live[m[CL]]
            elif kind == ACCEPTED:
                rec[OPEN] = qty
                p = None
                if flags & HAS_PX:
                    rec[PX] = px
                    p = pmaps[sym].get(px) or pmiss(sym, px)
                orders[oid] = rec
                a = rec[ACCOUNT]
                a.live[rec[CL]] = rec
                qs = qmaps[sym].get(qty) or qmiss(sym, qty)
                if not a.out:
                    touched.append(a)
                a.out.append((sess, (P.EV_ACCEPTED, seq, ts, req, rec[CL], oid, syms[sym], SIDES[side], p, qs, qs,
                                     None, None)))
            elif kind == CANCELED:
                o = get(oid)
                if o is None:
                    continue
                o[OPEN] = open_
                if ck >= C_MASS:  # a cancel the gateway made: name its real reason
                    reason = R_MASS if ck == C_MASS else R_DISCONNECT
                    if ck == C_MASS:
                        tag.count += 1
                qm = qmaps[sym]
                a = o[ACCOUNT]
                origin = sess if sess is not None and sess.account is a else None
                if not a.out:
                    touched.append(a)
                a.out.append((origin, (P.EV_CANCELED, seq, ts, req if origin else None, o[CL], oid, syms[sym],
                                       SIDES[side], None, qm.get(qty) or qmiss(sym, qty),
                                       qm.get(open_) or qmiss(sym, open_), REASONS[reason], None)))
                if open_ == 0:
                    del orders[oid]
                    if a.live.get(o[CL]) is o:
                        del a.live[o[CL]]
            elif kind == AMENDED:
                o = get(oid)
                if o is None:
                    continue
                o[PX] = px
                o[OPEN] = qty
                qs = qmaps[sym].get(qty) or qmiss(sym, qty)
                a = o[ACCOUNT]
                if not a.out:
                    touched.append(a)
                a.out.append((sess, (P.EV_AMENDED, seq, ts, req, o[CL], oid, syms[sym], SIDES[side],
                                     pmaps[sym].get(px) or pmiss(sym, px), qs, qs, None, None)))
            else:  # REJECTED
                if ck == C_NEW and rec[ACCOUNT].live.get(rec[CL]) is rec:
                    del rec[ACCOUNT].live[rec[CL]]  # release the reservation of a fresh client order id
                if sess is None or (ck == C_MASS and tag is not None):
                    continue  # an internal cancel of an order that finished first: nothing to tell
                if rec is not None:
                    cl, k = rec[CL], rec[SYM]
                    s, sd = (syms[k], SIDES[rec[SIDE]]) if k >= 0 else (None, None)
                else:
                    cl, s, sd = tag, None, None
                a = sess.account
                if not a.out:
                    touched.append(a)
                a.out.append((sess, (P.EV_REJECTED, seq, ts, req, cl, None, s, sd, None, None, None,
                                     REASONS[reason], None)))
        return self._deliver(touched)

    @staticmethod
    def _deliver(touched: list[Account]) -> dict[Session, list]:
        frames: dict[Session, list] = {}
        for account in touched:
            entries = account.out
            account.out = []
            for s in account.sessions:
                frames[s] = [r if o is s or r[R_REQ] is None else _without_req(r) for o, r in entries]
        return frames
