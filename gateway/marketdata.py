"""Market data stage: heartbeats and book snapshots of the sequenced L2 and trade feed.

The feed's `md` messages themselves are written by the fan-out pass (gateway/mdwrite.py), which
shares the per-symbol sequence numbers kept here. A snapshot is the engine's own book with the
sequence number it stands at.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgpack
import numpy as np
from kabuto.engine.codes import (
    MARKET_NAMES,
    ORACLE_STATE_NAMES,
    REF_SOURCE_NAMES,
    STATUS_NAMES,
    STATUS_REASON_NAMES,
    Ev,
    Flag,
    Status,
)
from kabuto.engine.instruments import Instrument
from kabuto.engine.oracle import mult_text
from kabuto.engine.state import (
    IND_HI,
    IND_IMBALANCE,
    IND_LO,
    IND_MATCHED,
    IND_PX,
    IND_SIDE,
    IND_UNTIL,
    OS_BREF,
    OS_BSRC,
)
from kabuto.gateway import protocol as P
from kabuto.gateway.units import price_cache, qty_cache

Publish = Callable[[bytes, bytes], None]
_pack = msgpack.Packer().pack
STATUS, INDICATIVE, ORACLE, BAND = int(Ev.STATUS), int(Ev.INDICATIVE), int(Ev.ORACLE), int(Ev.BAND)
MARKETS = {int(v): k for k, v in MARKET_NAMES.items()}
HAS_PX, BAND_ON = int(Flag.HAS_PX), int(Flag.BAND_ON)
TIMED = (int(Status.LIMIT_UP), int(Status.LIMIT_DOWN), int(Status.CALL))  # statuses with an `until`
CALL = int(Status.CALL)
SIDES = (P.SIDE_TEXT[0], P.SIDE_TEXT[1], None)


class MarketData:
    """Per-symbol sequence numbers, heartbeats and snapshots of the market data feed."""

    def __init__(self, instruments: Sequence[Instrument], publish: Publish, seq: np.ndarray,
                 l3_seq: np.ndarray | None = None):
        self.seq = seq  # per symbol: the sequence number of its last message (shared with the fan-out pass)
        self.l3_seq = l3_seq  # the same for the L3 feed; None when it is off
        self._publish = publish
        self._sym = [i.symbol for i in instruments]
        self.topics = [P.topic(i.symbol) for i in instruments]
        self.l3_topics = [P.l3_topic(i.symbol) for i in instruments]
        self.px = price_cache(instruments)  # decimal text of ticks and lots (the server's `orders` answers too)
        self.qty = qty_cache(instruments)
        # per symbol: [status, reason, until, indicative] as the feed last published them
        self.status: list[list] = [[STATUS_NAMES[Status.CONTINUOUS], None, None, None] for _ in instruments]
        self.band: list[list | None] = [None] * len(instruments)  # an oracle instrument's [ref, lo, hi, source]

    def sync_status(self, engine) -> None:
        """Take each symbol's trading status from the engine (at start, after a recovery)."""
        st = engine.state
        for sym in range(len(self._sym)):
            status, reason = int(st.i_status[sym]), int(st.i_sreason[sym])
            row = st.i_ind[sym]
            ind = None
            if status == CALL:  # the last indicative event of the call, its collar included (-1: none)
                band = row[IND_LO] >= 0
                ind = self._indicative(sym, int(row[IND_PX]) if row[IND_PX] >= 0 else None, int(row[IND_MATCHED]),
                                       int(row[IND_IMBALANCE]), int(row[IND_SIDE]),
                                       int(row[IND_LO]) if band else None, int(row[IND_HI]) if band else None,
                                       int(row[IND_UNTIL]))
            self.status[sym] = [STATUS_NAMES[status], STATUS_REASON_NAMES.get(reason),
                                int(st.i_until[sym]) if status in TIMED else None, ind]
            if st.i_os[sym, OS_BREF] > 0:
                pt = self.px.text
                self.band[sym] = [pt(sym, int(st.i_os[sym, OS_BREF])), pt(sym, int(st.i_lo[sym])),
                                  pt(sym, int(st.i_hi[sym])), REF_SOURCE_NAMES[int(st.i_os[sym, OS_BSRC])]]

    def _indicative(self, sym: int, px: int | None, matched: int, imbalance: int, side: int, lo: int | None,
                    hi: int | None, until: int) -> list:
        pt, qt = self.px.text, self.qty.text
        return [pt(sym, px) if px is not None else None, qt(sym, matched), qt(sym, imbalance), SIDES[side],
                pt(sym, lo) if lo is not None else None, pt(sym, hi) if hi is not None else None, until]

    def publish_status(self, events: np.ndarray) -> None:
        """Publish a `status`, `band` or `oracle` message for every status, indicative, band and oracle event
        of a batch (in event order)."""
        for kind, reason, side, flags, sym, _, px, qty, open_, lo, hi, until, ts, _ in events.tolist():
            if kind == BAND:
                pt = self.px.text
                self.band[sym] = [pt(sym, px), pt(sym, lo), pt(sym, hi), REF_SOURCE_NAMES[reason]]
                self.seq[sym] += 1
                self._publish(self.topics[sym], _pack([P.MD_BAND, self._sym[sym], int(self.seq[sym]), ts,
                                                       *self.band[sym]]))
                continue
            if kind == ORACLE:
                mult = mult_text(qty, lo)
                self.seq[sym] += 1
                self._publish(self.topics[sym], _pack([P.MD_ORACLE, self._sym[sym], int(self.seq[sym]), ts,
                                                       self.px.text(sym, px), mult, MARKETS[side], open_,
                                                       ORACLE_STATE_NAMES[reason]]))
                continue
            if kind == STATUS:
                self.status[sym] = [STATUS_NAMES[side], STATUS_REASON_NAMES[reason],
                                    open_ if side in TIMED else None, None]
            elif kind == INDICATIVE:
                band = flags & BAND_ON
                self.status[sym][3] = self._indicative(sym, px if flags & HAS_PX else None, qty, open_, side,
                                                       lo if band else None, hi if band else None, until)
            else:
                continue
            self.seq[sym] += 1
            self._publish(self.topics[sym], _pack([P.MD_STATUS, self._sym[sym], int(self.seq[sym]), ts,
                                                   *self.status[sym]]))

    def heartbeat(self) -> None:
        """Publish each symbol's current sequence number, so an idle subscriber can see a gap."""
        now = time.time_ns()
        for sym, name in enumerate(self._sym):
            self._publish(self.topics[sym], _pack([P.MD_HEARTBEAT, name, int(self.seq[sym]), now]))
            if self.l3_seq is not None:
                self._publish(self.l3_topics[sym], _pack([P.MD_HEARTBEAT, name, int(self.l3_seq[sym]), now]))

    def snapshot(self, engine, sym: int, req: int) -> list:
        """The snapshot answer for one symbol: the engine's book and the sequence it stands at."""
        pt, qt = self.px.text, self.qty.text
        bids, asks = engine.book(sym)
        return [P.SNAPSHOT, req, self._sym[sym], int(self.seq[sym]),
                [[pt(sym, p), qt(sym, q)] for p, q in bids], [[pt(sym, p), qt(sym, q)] for p, q in asks],
                self.status[sym], self.band[sym]]

    def snapshot_l3(self, engine, sym: int, req: int) -> list:
        """The L3 snapshot of one symbol: every resting order [oid, px, qty] in priority order, best first."""
        pt, qt = self.px.text, self.qty.text
        sides = [[[oid, pt(sym, p), qt(sym, q)] for oid, _, p, q in engine.orders(sym, side)] for side in (0, 1)]
        return [P.L3_SNAPSHOT, req, self._sym[sym], int(self.l3_seq[sym]), sides[0], sides[1]]

    def close(self) -> None:
        """Nothing to release: the server owns the socket."""
