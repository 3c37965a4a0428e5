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
from kabuto.engine.instruments import Instrument
from kabuto.gateway import protocol as P
from kabuto.gateway.units import price_cache, qty_cache

Publish = Callable[[bytes, bytes], None]
_pack = msgpack.Packer().pack


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
                [[pt(sym, p), qt(sym, q)] for p, q in bids], [[pt(sym, p), qt(sym, q)] for p, q in asks]]

    def snapshot_l3(self, engine, sym: int, req: int) -> list:
        """The L3 snapshot of one symbol: every resting order [oid, px, qty] in priority order, best first."""
        pt, qt = self.px.text, self.qty.text
        sides = [[[oid, pt(sym, p), qt(sym, q)] for oid, _, p, q in engine.orders(sym, side)] for side in (0, 1)]
        return [P.L3_SNAPSHOT, req, self._sym[sym], int(self.l3_seq[sym]), sides[0], sides[1]]

    def close(self) -> None:
        """Nothing to release: the server owns the socket."""
