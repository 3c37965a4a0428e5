"""Market data stage: an event sink publishing L2 level changes and trades with per-symbol sequence numbers.

It rebuilds the aggregated books from events alone (its own order map: a canceled event has no
price), publishes one `md` message per symbol per engine batch, and answers snapshot requests
from the engine's own book with the sequence number the book stands at.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Sequence

import msgpack
import numpy as np

from engine.codes import Ev, Flag
from engine.instruments import Instrument
from gateway import protocol as P
from gateway.reports import event_rows
from gateway.units import price_cache, qty_cache

ACCEPTED, FILL, CANCELED, AMENDED = int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED), int(Ev.AMENDED)
HAS_PX = int(Flag.HAS_PX)
SIDES = P.SIDE_TEXT

Publish = Callable[[bytes, bytes], None]
_pack = msgpack.Packer().pack


class MarketData:
    """Sequenced L2 and trade feed for every instrument, fed by engine events."""

    def __init__(self, instruments: Sequence[Instrument], publish: Publish):
        n = len(instruments)
        self.seq = [0] * n  # per symbol: the sequence number of its last message
        self._publish = publish
        self._sym = [i.symbol for i in instruments]
        self._topic = [P.topic(i.symbol) for i in instruments]
        self._px = price_cache(instruments)
        self._qty = qty_cache(instruments)
        self._orders: dict[int, list] = {}  # oid -> [sym, side, px ticks or None, open lots]
        self._levels: list[dict[int, int]] = [{} for _ in range(2 * n)]  # sym*2+side -> {px: lots}

    def handle(self, events: np.ndarray, first_seq: int) -> None:
        """Apply one batch of events and publish what changed, one message per touched symbol."""
        self.apply_rows(event_rows(events), first_seq)

    def apply_rows(self, rows: Iterable[tuple], first_seq: int) -> None:
        """handle() for events already converted by reports.event_rows (the server shares them)."""
        orders, levels = self._orders, self._levels
        pmaps, pmiss = self._px.maps, self._px.miss
        qmaps, qmiss = self._qty.maps, self._qty.miss
        touched: dict[int, set] = {}
        trades: dict[int, list] = {}
        seq = first_seq - 1
        get = orders.get
        for kind, _, side, flags, sym, oid, px, qty, _, maker, ts in rows:
            seq += 1
            if kind == FILL:
                tch = touched.get(sym)
                if tch is None:
                    tch = touched[sym] = set()
                o = get(maker)
                if o is not None:
                    left = o[3] = o[3] - qty
                    p = o[2]
                    if p is not None:
                        b = levels[2 * sym + o[1]]
                        v = b.get(p, 0) - qty
                        if v:
                            b[p] = v
                        else:
                            del b[p]
                        tch.add((o[1], p))
                    if left <= 0:
                        del orders[maker]
                o = get(oid)
                if o is not None:
                    left = o[3] = o[3] - qty
                    p = o[2]
                    if p is not None:
                        b = levels[2 * sym + o[1]]
                        v = b.get(p, 0) - qty
                        if v:
                            b[p] = v
                        else:
                            del b[p]
                        tch.add((o[1], p))
                    if left <= 0:
                        del orders[oid]
                t = trades.get(sym)
                if t is None:
                    t = trades[sym] = []
                t.append([seq, pmaps[sym].get(px) or pmiss(sym, px), qmaps[sym].get(qty) or qmiss(sym, qty),
                          SIDES[side], ts])
            elif kind == ACCEPTED:
                if flags & HAS_PX:
                    orders[oid] = [sym, side, px, qty]
                    b = levels[2 * sym + side]
                    b[px] = b.get(px, 0) + qty
                    tch = touched.get(sym)
                    if tch is None:
                        tch = touched[sym] = set()
                    tch.add((side, px))
                else:
                    orders[oid] = [sym, side, None, qty]
            elif kind == CANCELED:
                o = get(oid)
                if o is not None:
                    o[3] -= qty
                    if o[2] is not None:
                        self._level(sym, o[1], o[2], -qty, touched)
                    if o[3] <= 0:
                        del orders[oid]
            elif kind == AMENDED:
                o = get(oid)
                if o is not None:
                    self._level(o[0], o[1], o[2], -o[3], touched)
                    o[2], o[3] = px, qty
                    self._level(o[0], o[1], px, qty, touched)
        if touched or trades:
            self._send(touched, trades)

    def _level(self, sym: int, side: int, px: int, dq: int, touched: dict) -> None:
        b = self._levels[2 * sym + side]
        v = b.get(px, 0) + dq
        if v:
            b[px] = v
        else:
            b.pop(px, None)
        touched.setdefault(sym, set()).add((side, px))

    def _send(self, touched: dict, trades: dict) -> None:
        now = time.time_ns()
        syms = touched.keys() | trades.keys()
        for sym in sorted(syms) if len(syms) > 1 else syms:
            b = (self._levels[2 * sym], self._levels[2 * sym + 1])
            changes = [[SIDES[side], self._px.text(sym, px), self._qty.text(sym, b[side].get(px, 0))]
                       for side, px in touched.get(sym, ())]
            self.seq[sym] += 1
            body = [P.MD_UPDATE, self._sym[sym], self.seq[sym], now, trades.get(sym, []), changes]
            self._publish(self._topic[sym], _pack(body))

    def heartbeat(self) -> None:
        """Publish each symbol's current sequence number, so an idle subscriber can see a gap."""
        now = time.time_ns()
        for sym, name in enumerate(self._sym):
            self._publish(self._topic[sym], _pack([P.MD_HEARTBEAT, name, self.seq[sym], now]))

    def book(self, sym: int) -> tuple[list, list]:
        """(bids, asks) as this feed sees them: [(px ticks, lots)] best first."""
        bids = sorted(self._levels[2 * sym].items(), reverse=True)
        asks = sorted(self._levels[2 * sym + 1].items())
        return bids, asks

    def snapshot(self, engine, sym: int, req: int) -> list:
        """The snapshot answer for one symbol: the engine's book and the sequence it stands at."""
        pt, qt = self._px.text, self._qty.text
        bids, asks = engine.book(sym)
        return [P.SNAPSHOT, req, self._sym[sym], self.seq[sym],
                [[pt(sym, p), qt(sym, q)] for p, q in bids], [[pt(sym, p), qt(sym, q)] for p, q in asks]]

    def close(self) -> None:
        """Nothing to release: the server owns the socket."""
