"""The reference model: the order-log spec in plain Python on SortedDict; slow, obvious, the oracle."""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from kabuto.engine.codes import Ev, Flag, Op, OrdType, Reason, Side, Stp, Tif
from kabuto.engine.instruments import MAX_UNITS, Instrument, initial_bands
from kabuto.engine.records import EVENT_DTYPE
from sortedcontainers import SortedDict


@dataclass
class Order:
    """A resting order."""
    oid: int
    acct: int
    sym: int
    side: int
    px: int
    qty: int
    stp: int
    tif: int


def to_steps(mant: int, exp: int, step) -> int:
    """Whole steps in mant * 10**exp, or -1 when it is not a positive whole multiple in range."""
    if mant <= 0:
        return -1
    n = Fraction(mant) * Fraction(10) ** exp / Fraction(step)
    return int(n) if n.denominator == 1 and 0 < n <= MAX_UNITS else -1


class ReferenceEngine:
    """Same interface as engine.engine.Engine: process(cmds) -> events, book(sym), seq."""

    def __init__(self, instruments: Sequence[Instrument]):
        self.instruments = list(instruments)
        # per symbol and side: price -> deque of orders in time priority
        self.books = [[SortedDict(), SortedDict()] for _ in self.instruments]
        self.live: dict[int, Order] = {}
        self.bands = [list(b) for b in initial_bands(self.instruments)]
        self.seq = 0
        self.out: list[tuple] = []

    # ------------------------------------------------------------ helpers

    def _emit(self, kind, reason=0, side=0, flags=0, sym=-1, oid=0, px=0, qty=0, open_=0,
              maker=0, maker_acct=0, acct=0, ts=0, line=0):
        self.out.append((int(kind), int(reason), side, flags, sym, oid, px, qty, open_, maker,
                         maker_acct, acct, ts, line))

    def _levels_best_first(self, sym: int, side: int) -> list[int]:
        book = self.books[sym][side]
        return list(reversed(book.keys())) if side == Side.BUY else list(book.keys())

    def _best(self, sym: int, side: int):
        book = self.books[sym][side]
        if not book:
            return None
        return book.peekitem(-1)[0] if side == Side.BUY else book.peekitem(0)[0]

    @staticmethod
    def _crosses(taker_side: int, market: bool, limit: int, px: int) -> bool:
        if market:
            return True
        return px <= limit if taker_side == Side.BUY else px >= limit

    def _add(self, o: Order) -> None:
        self.books[o.sym][o.side].setdefault(o.px, deque()).append(o)
        self.live[o.oid] = o

    def _remove(self, o: Order) -> None:
        level = self.books[o.sym][o.side][o.px]
        level.remove(o)
        if not level:
            del self.books[o.sym][o.side][o.px]
        del self.live[o.oid]

    def _in_band(self, sym: int, px: int) -> bool:
        on, lo, hi = self.bands[sym]
        return not on or lo <= px <= hi

    # ------------------------------------------------------------ commands

    def process(self, cmds: np.ndarray) -> np.ndarray:
        """Run a batch of command records and return its event records."""
        self.out = []
        for c in cmds:
            op = int(c["op"])
            if op == Op.NEW:
                self._new(c)
            elif op == Op.CANCEL:
                self._cancel(c)
            elif op == Op.AMEND:
                self._amend(c)
            elif op == Op.REF:
                self._ref(c)
            else:
                self._emit(Ev.REJECTED, int(c["reason"]), 0, int(c["flags"]), -1, int(c["oid"]),
                           ts=int(c["ts"]), line=int(c["line"]))
        events = np.array(self.out, dtype=EVENT_DTYPE) if self.out else np.zeros(0, EVENT_DTYPE)
        self.seq += len(events)
        return events

    def _reject(self, reason, c, fl, sym=-1, side=0):
        self._emit(Ev.REJECTED, reason, side, fl | Flag.HAS_OID, sym, int(c["oid"]), ts=int(c["ts"]))

    def _new(self, c) -> None:
        sym, side, oid, acct = int(c["sym"]), int(c["side"]), int(c["oid"]), int(c["acct"])
        market = int(c["otype"]) == OrdType.MARKET
        tif, stp, ts = int(c["tif"]), int(c["stp"]), int(c["ts"])
        fl = int(c["flags"]) & Flag.HAS_TS
        ins = self.instruments[sym]
        px = 0
        if not market:
            px = to_steps(int(c["px"]), int(c["pexp"]), ins.tick_size)
            if px < 0:
                return self._reject(Reason.BAD_PRICE, c, fl, sym, side)
        qty = to_steps(int(c["qty"]), int(c["qexp"]), ins.lot_size)
        if qty < 0 or qty < ins.min_lots:
            return self._reject(Reason.BAD_QTY, c, fl, sym, side)
        if not market and not self._in_band(sym, px):
            return self._reject(Reason.OUTSIDE_BAND, c, fl, sym, side)
        if oid in self.live:
            return self._reject(Reason.DUPLICATE_OID, c, fl, sym, side)
        best = self._best(sym, 1 - side)
        if tif == Tif.POST and best is not None and self._crosses(side, False, px, best):
            return self._reject(Reason.WOULD_TAKE, c, fl, sym, side)
        self._emit(Ev.ACCEPTED, 0, side, fl | (0 if market else Flag.HAS_PX), sym, oid, px, qty, acct=acct, ts=ts)
        if tif == Tif.FOK and not self._fok_fills(sym, side, market, px, acct, stp, qty):
            self._emit(Ev.CANCELED, Reason.FOK, side, fl, sym, oid, qty=qty, ts=ts)
            return
        rem = self._match(sym, side, market, px, oid, acct, stp, qty, fl, ts)
        if rem > 0:
            if not market and tif in (Tif.GTC, Tif.POST):
                self._add(Order(oid, acct, sym, side, px, rem, stp, tif))
            else:
                self._emit(Ev.CANCELED, Reason.IOC, side, fl, sym, oid, qty=rem, ts=ts)

    def _fok_fills(self, sym, side, market, limit, acct, stp, qty) -> bool:
        filled = 0
        for px in self._levels_best_first(sym, 1 - side):
            if not self._crosses(side, market, limit, px):
                break
            for o in self.books[sym][1 - side][px]:
                if o.acct == acct:
                    if stp == Stp.CANCEL_OLDEST:
                        continue
                    return False
                filled += o.qty
                if filled >= qty:
                    return True
        return False

    def _match(self, sym, side, market, limit, oid, acct, stp, qty, fl, ts) -> int:
        """Match a taker; returns its open quantity (0 when canceled by self-trade prevention)."""
        rem = qty
        for px in self._levels_best_first(sym, 1 - side):
            if rem == 0 or not self._crosses(side, market, limit, px):
                break
            for o in list(self.books[sym][1 - side][px]):
                if rem == 0:
                    break
                if o.acct != acct:
                    q = min(rem, o.qty)
                    rem -= q
                    o.qty -= q
                    self._emit(Ev.FILL, 0, side, fl, sym, oid, px, q, 0, o.oid, o.acct, acct, ts)
                    if o.qty == 0:
                        self._remove(o)
                elif stp == Stp.CANCEL_OLDEST:
                    self._emit(Ev.CANCELED, Reason.STP, o.side, fl, sym, o.oid, qty=o.qty, ts=ts)
                    self._remove(o)
                elif stp == Stp.CANCEL_NEWEST:
                    self._emit(Ev.CANCELED, Reason.STP, side, fl, sym, oid, qty=rem, ts=ts)
                    return 0
                elif stp == Stp.CANCEL_BOTH:
                    self._emit(Ev.CANCELED, Reason.STP, o.side, fl, sym, o.oid, qty=o.qty, ts=ts)
                    self._remove(o)
                    self._emit(Ev.CANCELED, Reason.STP, side, fl, sym, oid, qty=rem, ts=ts)
                    return 0
                else:  # decrement
                    d = min(rem, o.qty)
                    o.qty -= d
                    rem -= d
                    self._emit(Ev.CANCELED, Reason.STP, o.side, fl, sym, o.oid, qty=d, open_=o.qty, ts=ts)
                    if o.qty == 0:
                        self._remove(o)
                    self._emit(Ev.CANCELED, Reason.STP, side, fl, sym, oid, qty=d, open_=rem, ts=ts)
        return rem

    def _cancel(self, c) -> None:
        fl = int(c["flags"]) & Flag.HAS_TS
        o = self.live.get(int(c["oid"]))
        if o is None:
            return self._reject(Reason.UNKNOWN_ORDER, c, fl)
        why = int(c["reason"]) or Reason.USER  # the gateway names mass cancel and disconnect
        self._emit(Ev.CANCELED, why, o.side, fl, o.sym, o.oid, qty=o.qty, ts=int(c["ts"]))
        self._remove(o)

    def _amend(self, c) -> None:
        flags = int(c["flags"])
        fl = flags & Flag.HAS_TS
        ts = int(c["ts"])
        o = self.live.get(int(c["oid"]))
        if o is None:
            return self._reject(Reason.UNKNOWN_ORDER, c, fl)
        ins = self.instruments[o.sym]
        px, qty = o.px, o.qty
        if flags & Flag.HAS_PX:
            px = to_steps(int(c["px"]), int(c["pexp"]), ins.tick_size)
            if px < 0:
                return self._reject(Reason.BAD_PRICE, c, fl, o.sym, o.side)
        if flags & Flag.HAS_QTY:
            qty = to_steps(int(c["qty"]), int(c["qexp"]), ins.lot_size)
            if qty < 0:
                return self._reject(Reason.BAD_QTY, c, fl, o.sym, o.side)
        if not self._in_band(o.sym, px):
            return self._reject(Reason.OUTSIDE_BAND, c, fl, o.sym, o.side)
        best = self._best(o.sym, 1 - o.side)
        if o.tif == Tif.POST and best is not None and self._crosses(o.side, False, px, best):
            return self._reject(Reason.WOULD_TAKE, c, fl, o.sym, o.side)
        if px == o.px and qty <= o.qty:
            o.qty = qty
            self._emit(Ev.AMENDED, 0, o.side, fl | Flag.HAS_PX, o.sym, o.oid, px, qty, ts=ts)
            return
        self._remove(o)
        self._emit(Ev.AMENDED, 0, o.side, fl | Flag.HAS_PX, o.sym, o.oid, px, qty, ts=ts)
        rem = self._match(o.sym, o.side, False, px, o.oid, o.acct, o.stp, qty, fl, ts)
        if rem > 0:
            self._add(Order(o.oid, o.acct, o.sym, o.side, px, rem, o.stp, o.tif))

    def _ref(self, c) -> None:
        flags = int(c["flags"])
        if not flags & Flag.BAND_ON:
            return
        sym, lo, hi = int(c["sym"]), int(c["px"]), int(c["qty"])
        self.bands[sym] = [True, lo, hi]
        for side in (Side.BUY, Side.SELL):
            for px in self._levels_best_first(sym, side):
                if lo <= px <= hi:
                    continue
                for o in list(self.books[sym][side][px]):
                    self._emit(Ev.CANCELED, Reason.BAND, side, flags & Flag.HAS_TS, sym, o.oid, qty=o.qty,
                               ts=int(c["ts"]))
                    self._remove(o)

    # ------------------------------------------------------------ queries

    @property
    def live_orders(self) -> int:
        """How many orders rest on all books."""
        return len(self.live)

    def book(self, sym: int):
        """(bids, asks) of one instrument, aggregated by price, best first."""
        return tuple([(px, sum(o.qty for o in self.books[sym][side][px]))
                      for px in self._levels_best_first(sym, side)] for side in (Side.BUY, Side.SELL))

    def orders(self, sym: int, side: int):
        """Resting orders of one book in priority order: (oid, acct, px ticks, open lots)."""
        return [(o.oid, o.acct, o.px, o.qty) for px in self._levels_best_first(sym, side)
                for o in self.books[sym][side][px]]
