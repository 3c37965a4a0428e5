"""The reference model: the order-log spec in plain Python on SortedDict; slow, obvious, the oracle."""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from kabuto.engine.codes import Ev, Flag, HaltCause, Op, OrdType, Reason, Side, Status, StatusReason, Stp, Tif, Timer
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
    time: int = 0  # time priority across the venue: smaller rested earlier


MS = 1_000_000  # ns per ms
CAUSE_REASONS = {HaltCause.MARKET_WIDE: StatusReason.MARKET_WIDE, HaltCause.OPERATOR: StatusReason.OPERATOR,
                 HaltCause.STALE_ORACLE: StatusReason.STALE_ORACLE, HaltCause.NO_REFERENCE: StatusReason.NO_REFERENCE}
HALT_OPS = (Op.HALT, Op.RESUME, Op.HALT_ALL, Op.RESUME_ALL)
TIMED = Flag.HAS_TS | Flag.TIMER  # the flags of a timer's events


def shown_reason(causes: int) -> int:
    """The status reason shown for a set of halt causes: the first present in HaltCause order."""
    return next(CAUSE_REASONS[c] for c in HaltCause if causes & c)


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
        # market integrity (docs/market-integrity.md)
        self.now = 0
        self.time = 0  # orders rested so far
        self.ref = [ins.reference_round(Fraction(ins.reference_price)) if ins.reference_price is not None else 0
                    for ins in self.instruments]
        self.last = [0] * len(self.instruments)
        self.status = [int(Status.CONTINUOUS)] * len(self.instruments)
        self.causes = [0] * len(self.instruments)
        self.until = [0] * len(self.instruments)
        self.halt_all = False
        self.timers: dict[tuple[int, int], int] = {}  # (sym, Timer) -> deadline
        self.last_indicative: list[tuple | None] = [None] * len(self.instruments)

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
        self.time += 1
        o.time = self.time
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
            if int(c["flags"]) & Flag.HAS_TS:
                self._fire_timers(int(c["ts"]))
                self.now = max(self.now, int(c["ts"]))
            sym = self._command_sym(c, op)
            if op == Op.NEW:
                self._new(c)
            elif op == Op.CANCEL:
                self._cancel(c)
            elif op == Op.AMEND:
                self._amend(c)
            elif op == Op.REF:
                self._ref(c)
            elif op in HALT_OPS:
                self._halts(c, op)
            elif op != Op.TICK:
                self._emit(Ev.REJECTED, int(c["reason"]), 0, int(c["flags"]), -1, int(c["oid"]),
                           ts=int(c["ts"]), line=int(c["line"]))
            if sym is not None and self.status[sym] == Status.CALL:
                self._indicative(sym, int(c["flags"]) & Flag.HAS_TS, int(c["ts"]), force=False)
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
        if self.status[sym] == Status.HALTED:
            return self._reject(Reason.HALTED, c, fl, sym, side)
        call = self.status[sym] == Status.CALL
        if call and (market or tif != Tif.GTC):
            return self._reject(Reason.AUCTION_ONLY, c, fl, sym, side)
        if not market and not self._in_band(sym, px):
            return self._reject(Reason.OUTSIDE_BAND, c, fl, sym, side)
        if oid in self.live:
            return self._reject(Reason.DUPLICATE_OID, c, fl, sym, side)
        best = self._best(sym, 1 - side)
        if tif == Tif.POST and best is not None and self._crosses(side, False, px, best):
            return self._reject(Reason.WOULD_TAKE, c, fl, sym, side)
        self._emit(Ev.ACCEPTED, 0, side, fl | (0 if market else Flag.HAS_PX), sym, oid, px, qty, acct=acct, ts=ts)
        if call:
            self._add(Order(oid, acct, sym, side, px, qty, stp, tif))
            return
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
                    self.last[sym] = px
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
        if self.status[o.sym] == Status.HALTED:
            return self._reject(Reason.HALTED, c, fl, o.sym, o.side)
        if not self._in_band(o.sym, px):
            return self._reject(Reason.OUTSIDE_BAND, c, fl, o.sym, o.side)
        call = self.status[o.sym] == Status.CALL
        best = self._best(o.sym, 1 - o.side)
        if not call and o.tif == Tif.POST and best is not None and self._crosses(o.side, False, px, best):
            return self._reject(Reason.WOULD_TAKE, c, fl, o.sym, o.side)
        if px == o.px and qty <= o.qty:
            o.qty = qty
            self._emit(Ev.AMENDED, 0, o.side, fl | Flag.HAS_PX, o.sym, o.oid, px, qty, ts=ts)
            return
        self._remove(o)
        self._emit(Ev.AMENDED, 0, o.side, fl | Flag.HAS_PX, o.sym, o.oid, px, qty, ts=ts)
        rem = qty if call else self._match(o.sym, o.side, False, px, o.oid, o.acct, o.stp, qty, fl, ts)
        if rem > 0:
            self._add(Order(o.oid, o.acct, o.sym, o.side, px, rem, o.stp, o.tif))

    def _ref(self, c) -> None:
        flags = int(c["flags"])
        if int(c["oid"]) > 0:
            self.ref[int(c["sym"])] = int(c["oid"])
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

    # ------------------------------------------------------------ market integrity (docs/market-integrity.md)

    def _command_sym(self, c, op: int) -> int | None:
        """The instrument whose book a command may change (for the indicative check), or None."""
        if op in (Op.NEW, Op.REF):
            return int(c["sym"]) if 0 <= int(c["sym"]) < len(self.instruments) else None
        if op in (Op.CANCEL, Op.AMEND):
            o = self.live.get(int(c["oid"]))
            return o.sym if o is not None else None
        return None

    def _status(self, sym: int, status: int, reason: int, fl: int, ts: int) -> None:
        self.status[sym] = int(status)
        until = self.until[sym] if status == Status.CALL else 0
        self._emit(Ev.STATUS, int(reason), int(status), fl, sym, open_=until, ts=ts)

    def _fire_timers(self, t: int) -> None:
        """Fire every timer due at or before t, in (deadline, instrument, rank) order."""
        while self.timers:
            (sym, kind), d = min(self.timers.items(), key=lambda kv: (kv[1], kv[0][0], kv[0][1]))
            if d > t:
                return
            del self.timers[(sym, kind)]
            self.now = max(self.now, d)
            if kind == Timer.CALL_END:
                self._end_call(sym, d)
            else:
                self._indicative(sym, TIMED, d, force=True)

    def _auction(self, sym: int) -> tuple[int | None, int, int]:
        """(auction price or None, matched V(P), imbalance I(P)) of an instrument's book (section 12.5)."""
        bids, asks = self.books[sym]
        if not bids or not asks:
            return None, 0, 0
        prices = sorted(set(bids) | set(asks))

        def at(p: int) -> tuple[int, int]:
            vb = sum(sum(o.qty for o in q) for px, q in bids.items() if px >= p)
            vs = sum(sum(o.qty for o in q) for px, q in asks.items() if px <= p)
            return min(vb, vs), vb - vs

        # V and I are constant between two neighbouring order prices: each gap is one candidate range
        ranges = [(p, p) for p in prices] + [(x + 1, y - 1) for x, y in zip(prices, prices[1:]) if y - x >= 2]
        scored = [(a, b) + at(a) for a, b in ranges]
        best_v = max(v for _, _, v, _ in scored)
        if best_v == 0:
            return None, 0, 0
        kept = [r for r in scored if r[2] == best_v]
        least = min(abs(i) for *_, i in kept)
        kept = [r for r in kept if abs(r[3]) == least]
        if all(i > 0 for *_, i in kept):
            top = max(kept, key=lambda r: r[1])
            return top[1], best_v, top[3]
        if all(i < 0 for *_, i in kept):
            bottom = min(kept, key=lambda r: r[0])
            return bottom[0], best_v, bottom[3]
        r2 = 2 * (self.ref[sym] or self.last[sym])  # the reference in half ticks
        if not r2:
            r2 = min(a for a, *_ in kept) + max(b for _, b, *_ in kept)
        options = [(abs(2 * p - r2), p, i) for a, b, _, i in kept for p in {a, b, min(max(r2 // 2, a), b)}]
        _, price, imb = min(options)
        return price, best_v, imb

    def _indicative(self, sym: int, fl: int, ts: int, force: bool) -> None:
        px, v, imb = self._auction(sym)
        side = 2 if imb == 0 else (Side.BUY if imb > 0 else Side.SELL)
        fields = (px, v, abs(imb), side, self.until[sym])
        if not force and fields == self.last_indicative[sym]:
            return
        self.last_indicative[sym] = fields
        self._emit(Ev.INDICATIVE, 0, int(side), fl | (Flag.HAS_PX if px is not None else 0), sym,
                   px=px or 0, qty=v, open_=abs(imb), maker=-1, maker_acct=-1, acct=self.until[sym], ts=ts)
        self.timers[(sym, Timer.INDICATIVE)] = self.now + self.instruments[sym].indicative_ms * MS

    def _start_call(self, sym: int, reason: int, length: int, fl: int, ts: int) -> None:
        self.until[sym] = self.now + length
        self.timers[(sym, Timer.CALL_END)] = self.until[sym]
        self._status(sym, Status.CALL, reason, fl, ts)
        self._indicative(sym, fl, ts, force=True)

    def _end_call(self, sym: int, ts: int) -> None:
        px, v, _ = self._auction(sym)
        if px is not None:
            self._uncross(sym, px, v, ts)
        self.timers.pop((sym, Timer.INDICATIVE), None)
        self._status(sym, Status.CONTINUOUS, StatusReason.CALL_END, TIMED, ts)

    def _uncross(self, sym: int, price: int, qty: int, ts: int) -> None:
        """Fill qty at price, best bids against best asks, each fill's maker the earlier order (12.7)."""
        self._emit(Ev.UNCROSS, 0, 0, TIMED | Flag.HAS_PX, sym, px=price, qty=qty, ts=ts)
        bids, asks = self.books[sym]
        while qty:
            b = bids.peekitem(-1)[1][0]
            a = asks.peekitem(0)[1][0]
            q = min(qty, b.qty, a.qty)
            maker, taker = (b, a) if b.time < a.time else (a, b)
            self._emit(Ev.FILL, 0, taker.side, TIMED, sym, taker.oid, price, q, 0, maker.oid, maker.acct,
                       taker.acct, ts)
            qty -= q
            for o in (b, a):
                o.qty -= q
                if o.qty == 0:
                    self._remove(o)
        self.last[sym] = price

    def _add_cause(self, sym: int, cause: int, fl: int, ts: int) -> None:
        old = self.causes[sym]
        self.causes[sym] = old | cause
        if not old:
            for kind in (Timer.CALL_END, Timer.INDICATIVE):  # a call in progress is abandoned
                self.timers.pop((sym, kind), None)
            self._status(sym, Status.HALTED, shown_reason(old | cause), fl, ts)
        elif shown_reason(old | cause) != shown_reason(old):
            self._status(sym, Status.HALTED, shown_reason(old | cause), fl, ts)

    def _remove_cause(self, sym: int, cause: int, fl: int, ts: int) -> None:
        old = self.causes[sym]
        self.causes[sym] = old & ~cause
        if self.causes[sym]:
            if shown_reason(self.causes[sym]) != shown_reason(old):
                self._status(sym, Status.HALTED, shown_reason(self.causes[sym]), fl, ts)
        elif old:
            self._start_call(sym, StatusReason.REOPEN, self.instruments[sym].reopen_ms * MS, fl, ts)

    def _halts(self, c, op: int) -> None:
        fl, ts, sym = int(c["flags"]) & Flag.HAS_TS, int(c["ts"]), int(c["sym"])

        def reject(reason: int) -> None:
            self._emit(Ev.REJECTED, reason, 0, fl, -1, ts=ts)

        if op in (Op.HALT, Op.RESUME):
            if not 0 <= sym < len(self.instruments):
                return reject(Reason.UNKNOWN_SYMBOL)
            on = bool(self.causes[sym] & HaltCause.OPERATOR)
            if op == Op.HALT:
                return reject(Reason.HALTED) if on else self._add_cause(sym, HaltCause.OPERATOR, fl, ts)
            return self._remove_cause(sym, HaltCause.OPERATOR, fl, ts) if on else reject(Reason.NOT_HALTED)
        if (op == Op.HALT_ALL) == self.halt_all:
            return reject(Reason.HALTED if self.halt_all else Reason.NOT_HALTED)
        self.halt_all = op == Op.HALT_ALL
        for s in range(len(self.instruments)):
            if self.halt_all:
                self._add_cause(s, HaltCause.MARKET_WIDE, fl, ts)
            else:
                self._remove_cause(s, HaltCause.MARKET_WIDE, fl, ts)

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
