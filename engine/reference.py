"""The reference model: the order-log spec in plain Python on SortedDict; slow, obvious, the oracle.

Market integrity (docs/market-integrity.md) is modelled here literally, with exact Fraction
arithmetic: halts, the clock and its timers, call auctions for every instrument, and for oracle
instruments (`luld_tier`) the oracle, its step guard and staleness, reference points and bands,
policies, the limit state and pause, the opening auction and the collar. Where the document leaves
a choice open, the choice made is written next to the code, marked "CHOICE".

Balances, holds, fees, deposits, withdrawals and fee tiers (docs/balances.md, "risk on") are modelled
here too, on Python integers (exact): every live order carries its rates, its fee accumulator and its
hold; balances are (total, held) per (account id, asset id); a command's balance events are the pairs
whose (total, held) differ from before it. With risk off none of it runs and the model is unchanged.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
from kabuto.engine.codes import (
    PRICED_MARKETS,
    Ev,
    Flag,
    HaltCause,
    Market,
    Op,
    OracleState,
    OrdType,
    Reason,
    RefSource,
    Side,
    Status,
    StatusReason,
    Stp,
    Tif,
    Timer,
)
from kabuto.engine.instruments import MAX_UNITS, Instrument, initial_bands, notional_units
from kabuto.engine.records import EVENT_DTYPE
from sortedcontainers import SortedDict

if TYPE_CHECKING:
    from kabuto.engine.assets import Risk


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
    # risk on (docs/balances.md 3, 6, 7): rates fixed at acceptance (millionths), fee accumulator, hold
    rm: int = 0  # maker rate
    rt: int = 0  # taker rate
    acc: int = 0  # fee accumulator, millionths of a quote unit
    hold: int = 0  # what the order holds now (base for a sell, quote for a buy)


@dataclass
class Feed:
    """What an oracle instrument knows of its oracle, its band and its call (docs/market-integrity.md 6, 7, 12)."""
    last_ots: int | None = None  # ots of the last accepted update (None: no update accepted yet)
    market: int = int(Market.UNKNOWN)  # market status of the last accepted update
    reg_open: int = 0  # session times of the last accepted update (0 unless it was regular)
    reg_close: int = 0
    rt: int | None = None  # trusted reference Rt (ticks), None before the first trusted update
    tt: int = 0  # its oracle time Tt
    tmult: tuple[int, int] = (0, 0)  # (mantissa, exponent) of the multiplier applied to the trusted update
    pending: tuple[int, int] | None = None  # (Rp, Tp)
    stale: bool = False  # set when `stale` takes effect, cleared by a trusted update that is fresh
    band_ref: int | None = None  # B, the band reference in force (None before the first band)
    band_src: int = 0  # the source of the band in force (RefSource)
    trades: deque = field(default_factory=deque)  # (trade time, px ticks, qty lots) of every fill
    collar: list[int | Fraction] | None = None  # [Rc, h0, nu, nl] of the call in progress


MS = 1_000_000  # ns per ms
MINUTE = 60 * 1_000_000_000
CAUSE_REASONS = {HaltCause.MARKET_WIDE: StatusReason.MARKET_WIDE, HaltCause.OPERATOR: StatusReason.OPERATOR,
                 HaltCause.STALE_ORACLE: StatusReason.STALE_ORACLE, HaltCause.NO_REFERENCE: StatusReason.NO_REFERENCE}
HALT_OPS = (Op.HALT, Op.RESUME, Op.HALT_ALL, Op.RESUME_ALL)
TIMED = Flag.HAS_TS | Flag.TIMER  # the flags of a timer's events
TRADING = (Status.CONTINUOUS, Status.LIMIT_UP, Status.LIMIT_DOWN)  # the statuses with continuous matching
UNTIL_SHOWN = (Status.LIMIT_UP, Status.LIMIT_DOWN, Status.CALL)  # a status event with an `until`


def shown_reason(causes: int) -> int:
    """The status reason shown for a set of halt causes: the first present in HaltCause order."""
    return next(CAUSE_REASONS[c] for c in HaltCause if causes & c)


def to_steps(mant: int, exp: int, step) -> int:
    """Whole steps in mant * 10**exp, or -1 when it is not a positive whole multiple in range."""
    if mant <= 0:
        return -1
    n = Fraction(mant) * Fraction(10) ** exp / Fraction(step)
    return int(n) if n.denominator == 1 and 0 < n <= MAX_UNITS else -1


def floor(x: Fraction) -> int:
    return x.numerator // x.denominator


def ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def round_half_up(x: Fraction) -> int:
    return floor(x + Fraction(1, 2))


MILLION = 10 ** 6  # rates are in millionths
MAX_AMOUNT = (1 << 62) - 1  # the largest total, and the cap on D - W (docs/balances.md 2)


def ceil_m(x: int) -> int:
    """ceil(x / 10^6) of an integer."""
    return -((-x) // MILLION)


class ReferenceEngine:
    """Same interface as engine.engine.Engine: process(cmds) -> events, book(sym), seq."""

    def __init__(self, instruments: Sequence[Instrument], risk: Risk | None = None, fee_acct: int = -1):
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
        # section 8: an oracle instrument starts halted with cause no_reference (no event), a plain one continuous
        self.status = [int(Status.HALTED if ins.oracle else Status.CONTINUOUS) for ins in self.instruments]
        self.causes = [int(HaltCause.NO_REFERENCE) if ins.oracle else 0 for ins in self.instruments]
        self.until = [0] * len(self.instruments)
        self.halt_all = False
        self.timers: dict[tuple[int, int], int] = {}  # (sym, Timer) -> deadline
        self.last_indicative: list[tuple | None] = [None] * len(self.instruments)
        self.feeds = [Feed() if ins.oracle else None for ins in self.instruments]
        self.fast_forward = True  # skip idle ref_grid firings (_skip_idle_ref_grid); False: fire every one
        # balances (docs/balances.md): None when risk is off
        self.risk = risk if risk is not None and risk.enabled else None
        self.fee_acct = fee_acct  # the account id of @fees
        self.bal: dict[tuple[int, int], list[int]] = {}  # (acct, asset) -> [total, held]
        self.changed: dict[tuple[int, int], tuple[int, int]] = {}  # pairs touched this step -> value before it
        n_assets = len(self.risk.assets) if self.risk else 0
        self.deposited = [0] * n_assets  # D(a)
        self.withdrawn = [0] * n_assets  # W(a)
        self.last_dep = 0  # the last deposit id consumed
        self.wid = 0  # the last withdrawal id given
        self.tiers: dict[int, tuple[int, int]] = {0: (0, 0)}  # tier -> (maker, taker) in millionths
        if self.risk:
            self.tiers.update({t: (m, tk) for t, m, tk in self.risk.tiers})
        self.acct_tier: dict[int, int] = {}  # accounts not in tier 0

    # ------------------------------------------------------------ helpers

    def _emit(self, kind, reason=0, side=0, flags=0, sym=-1, oid=0, px=0, qty=0, open_=0,
              maker=0, maker_acct=0, acct=0, ts=0, line=0):
        self.out.append((int(kind), int(reason), int(side), int(flags), sym, oid, px, qty, open_, maker,
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
        """Take an order off its book; whatever it held is released."""
        level = self.books[o.sym][o.side][o.px]
        level.remove(o)
        if not level:
            del self.books[o.sym][o.side][o.px]
        del self.live[o.oid]
        self._set_hold(o, 0)

    def _in_band(self, sym: int, px: int) -> bool:
        on, lo, hi = self.bands[sym]
        return not on or lo <= px <= hi

    def _trade(self, sym: int, px: int, qty: int) -> None:
        """A fill of an instrument at now: the last price (plain auctions) and the trade window (7.1)."""
        self.last[sym] = px
        feed = self.feeds[sym]
        if feed is not None:
            feed.trades.append((self.now, px, qty))

    # ------------------------------------------------------------ balances (docs/balances.md 5, 6, 7, 8)

    def _pair(self, acct: int, asset: int) -> list[int]:
        """[total, held] of a pair, to change: its value before this step is remembered (section 8)."""
        key = (acct, asset)
        v = self.bal.get(key)
        if v is None:
            v = self.bal[key] = [0, 0]
        if key not in self.changed:
            self.changed[key] = (v[0], v[1])
        return v

    def _available(self, acct: int, asset: int) -> int:
        v = self.bal.get((acct, asset))
        return v[0] - v[1] if v is not None else 0

    def _hold_asset(self, o: Order) -> int:
        """A sell holds the base asset, a buy the quote asset."""
        return self.risk.base[o.sym] if o.side == Side.SELL else self.risk.quote[o.sym]

    def _hold_of(self, o: Order, px: int, qty: int) -> int:
        """hold(o) of section 6 with price px (a market buy: its protection price) and open quantity qty."""
        if o.side == Side.SELL:
            return qty * self.risk.bf[o.sym]
        value = px * qty * self.risk.qf[o.sym]
        return value + ceil_m(o.acc + o.rt * value) - ceil_m(o.acc)

    def _set_hold(self, o: Order, h: int) -> None:
        """Make the order hold h: held of its pair moves by the difference."""
        if self.risk is not None and h != o.hold:
            self._pair(o.acct, self._hold_asset(o))[1] += h - o.hold
            o.hold = h

    def _rehold(self, o: Order) -> None:
        """Recompute a live order's hold from its state (price, open quantity, acc)."""
        if self.risk is not None:
            self._set_hold(o, self._hold_of(o, o.px, o.qty))

    @staticmethod
    def _fee(o: Order, r: int, value: int) -> int:
        """The fee of a positive rate through the order's accumulator (section 7): rounded up once per order."""
        if r <= 0:
            return 0
        before = o.acc
        o.acc += r * value
        return ceil_m(o.acc) - ceil_m(before)

    def _settle(self, sym: int, px: int, qty: int, maker: Order, taker: Order) -> tuple[int, int]:
        """Section 7: a fill's fees and balance movements; returns (maker_fee, taker_fee)."""
        risk = self.risk
        value = px * qty * risk.qf[sym]
        taker_fee = self._fee(taker, taker.rt, value)
        if maker.rm < 0:  # a rebate, rounded down, never more than the taker's fee of this fill
            maker_fee = -min((-maker.rm * value) // MILLION, taker_fee)
        else:
            maker_fee = self._fee(maker, maker.rm, value)
        buyer, seller = (taker, maker) if taker.side == Side.BUY else (maker, taker)
        buyer_fee, seller_fee = (taker_fee, maker_fee) if buyer is taker else (maker_fee, taker_fee)
        base, quote, units = risk.base[sym], risk.quote[sym], qty * risk.bf[sym]
        self._pair(buyer.acct, base)[0] += units
        self._pair(seller.acct, base)[0] -= units
        self._pair(buyer.acct, quote)[0] -= value + buyer_fee
        self._pair(seller.acct, quote)[0] += value - seller_fee
        self._pair(self.fee_acct, quote)[0] += taker_fee + maker_fee
        return maker_fee, taker_fee

    def _fill(self, sym: int, px: int, qty: int, maker: Order, taker: Order, fl: int, ts: int) -> None:
        """The fill event, with its fees and balance movements when risk is on."""
        mf = tf = 0
        if self.risk is not None:
            mf, tf = self._settle(sym, px, qty, maker, taker)
            fl |= Flag.FEES
        self._emit(Ev.FILL, 0, taker.side, fl, sym, taker.oid, px, qty, mf, maker.oid, maker.acct, taker.acct,
                   ts, tf)

    def _flush_balances(self, fl: int, ts: int) -> None:
        """End of a command or timer step: a balance event per pair whose (total, held) changed, by ids."""
        if not self.changed:
            return
        for key in sorted(self.changed):
            v = self.bal[key]
            if (v[0], v[1]) != self.changed[key]:
                self._emit(Ev.BALANCE, 0, 0, fl, key[1], qty=v[0], open_=v[1], acct=key[0], ts=ts)
        self.changed = {}

    def balances(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(acct id, asset id) -> (total, held) of every pair with a non-zero total or held."""
        return {k: (v[0], v[1]) for k, v in self.bal.items() if v[0] or v[1]}

    def asset_sums(self) -> list[tuple[int, int]]:
        """Per asset id: (deposited D, withdrawn W)."""
        return list(zip(self.deposited, self.withdrawn))

    def _deposit(self, c) -> None:
        """Section 4: the id checks first (consuming the id), then the decoder's fault, then the D - W cap."""
        fl, ts = int(c["flags"]) & Flag.HAS_TS, int(c["ts"])
        dep, acct, asset, amount = int(c["oid"]), int(c["acct"]), int(c["sym"]), int(c["qty"])

        def reject(reason: int) -> None:
            self._emit(Ev.REJECTED, reason, 0, fl | Flag.DEP, -1, dep, ts=ts)

        if dep <= self.last_dep:
            return reject(Reason.DUPLICATE_DEPOSIT)
        if dep > self.last_dep + 1:
            return reject(Reason.DEPOSIT_GAP)
        self.last_dep = dep  # consumed, whatever follows
        if int(c["reason"]):
            return reject(int(c["reason"]))
        if asset < 0:  # guard: the decoder names an unknown asset in reason
            return reject(Reason.UNKNOWN_ASSET)
        if amount <= 0 or self.deposited[asset] - self.withdrawn[asset] + amount > MAX_AMOUNT:
            return reject(Reason.BAD_AMOUNT)
        self._pair(acct, asset)[0] += amount
        self.deposited[asset] += amount
        self._emit(Ev.DEPOSITED, 0, 0, fl, asset, dep, qty=amount, acct=acct, ts=ts)

    def _withdraw(self, c) -> None:
        fl, ts = int(c["flags"]) & Flag.HAS_TS, int(c["ts"])
        acct, asset, amount = int(c["acct"]), int(c["sym"]), int(c["qty"])

        def reject(reason: int) -> None:
            self._emit(Ev.REJECTED, reason, 0, fl, -1, ts=ts)

        if int(c["reason"]):  # guard: static faults arrive as REJECT records
            return reject(int(c["reason"]))
        if asset < 0:
            return reject(Reason.UNKNOWN_ASSET)
        if amount <= 0:
            return reject(Reason.BAD_AMOUNT)
        if amount > self._available(acct, asset):
            return reject(Reason.INSUFFICIENT_FUNDS)
        self._pair(acct, asset)[0] -= amount
        self.withdrawn[asset] += amount
        self.wid += 1
        self._emit(Ev.WITHDRAWN, 0, 0, fl, asset, self.wid, qty=amount, acct=acct, ts=ts)

    def _fees(self, c) -> None:
        """Section 3: the schedule stays valid with the tier's new rates, else bad_fee."""
        fl, ts = int(c["flags"]) & Flag.HAS_TS, int(c["ts"])
        tier, maker, taker = int(c["oid"]), int(c["px"]), int(c["qty"])
        schedule = {**self.tiers, tier: (maker, taker)}
        valid = 0 <= tier <= 255 and all(0 <= t <= 100_000 and -100_000 <= m <= t for m, t in schedule.values())
        if not valid or min(t for _, t in schedule.values()) + min(m for m, _ in schedule.values()) < 0:
            self._emit(Ev.REJECTED, Reason.BAD_FEE, 0, fl, -1, ts=ts)
            return
        self.tiers[tier] = (maker, taker)
        self._emit(Ev.FEES, 0, 0, fl, -1, tier, maker, taker, ts=ts)

    def _tier(self, c) -> None:
        fl, ts = int(c["flags"]) & Flag.HAS_TS, int(c["ts"])
        acct, tier = int(c["acct"]), int(c["oid"])
        if tier not in self.tiers:
            self._emit(Ev.REJECTED, Reason.UNKNOWN_TIER, 0, fl, -1, ts=ts)
            return
        self.acct_tier[acct] = tier
        self._emit(Ev.TIER, 0, 0, fl, -1, tier, acct=acct, ts=ts)

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
            touched = self._touched(c, op)  # looked up before the command runs (an order may leave the book)
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
            elif op == Op.ORACLE:
                self._oracle(c)
            elif self.risk is not None and op == Op.DEPOSIT:
                self._deposit(c)
            elif self.risk is not None and op == Op.WITHDRAW:
                self._withdraw(c)
            elif self.risk is not None and op == Op.FEES:
                self._fees(c)
            elif self.risk is not None and op == Op.TIER:
                self._tier(c)
            elif op != Op.TICK:
                self._emit(Ev.REJECTED, int(c["reason"]), 0, int(c["flags"]), -1, int(c["oid"]),
                           ts=int(c["ts"]), line=int(c["line"]))
            if sym is not None and self.status[sym] == Status.CALL:
                self._indicative(sym, int(c["flags"]) & Flag.HAS_TS, int(c["ts"]), force=False)
            self._after(touched, int(c["flags"]) & Flag.HAS_TS, int(c["ts"]))
            self._flush_balances(int(c["flags"]) & Flag.HAS_TS, int(c["ts"]))  # after all other events
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
        feed = self.feeds[sym]
        px = 0
        protect = None  # a market order's protection price (risk on; docs/balances.md 4, 6)
        if not market:
            px = to_steps(int(c["px"]), int(c["pexp"]), ins.tick_size)
            if px < 0:
                return self._reject(Reason.BAD_PRICE, c, fl, sym, side)
        elif self.risk is not None and int(c["flags"]) & Flag.PROTECT:
            protect = to_steps(int(c["px"]), int(c["pexp"]), ins.tick_size)
            if protect < 0:
                return self._reject(Reason.BAD_PRICE, c, fl, sym, side)
        qty = to_steps(int(c["qty"]), int(c["qexp"]), ins.lot_size)
        if qty < 0 or qty < ins.min_lots:
            return self._reject(Reason.BAD_QTY, c, fl, sym, side)
        if self.status[sym] == Status.HALTED:
            return self._reject(Reason.HALTED, c, fl, sym, side)
        call = self.status[sym] == Status.CALL
        if call and (market or tif != Tif.GTC):
            return self._reject(Reason.AUCTION_ONLY, c, fl, sym, side)
        if feed is not None and market:  # section 9, oracle instruments
            if not self._fresh(sym):
                return self._reject(Reason.STALE_ORACLE, c, fl, sym, side)
            if not self._policy(sym).market_orders:
                return self._reject(Reason.MARKET_ORDERS_NOT_ALLOWED, c, fl, sym, side)
        # section 9: no band check during a call on an oracle instrument (the collar bounds the price)
        if not market and not (feed is not None and call) and not self._in_band(sym, px):
            return self._reject(Reason.OUTSIDE_BAND, c, fl, sym, side)
        if self._too_large(sym, self.bands[sym][2] if market else px, qty):
            return self._reject(Reason.NOTIONAL_TOO_LARGE, c, fl, sym, side)
        if oid in self.live:
            return self._reject(Reason.DUPLICATE_OID, c, fl, sym, side)
        t = Order(oid, acct, sym, side, px, qty, stp, tif)
        limit = None  # a market order's price limit: P of a buy, protect of a sell (None: none)
        hold = 0
        if self.risk is not None:
            # docs/balances.md 4: no_protection, then insufficient_funds, right after duplicate_oid and
            # before would_take. CHOICE: the contract does not rank them against market integrity's
            # rejects (halted, auction_only, stale_oracle, market_orders_not_allowed,
            # notional_too_large); they come after all of those, last before would_take.
            if market and side == Side.BUY:
                on, _, hi = self.bands[sym]
                edges = ([hi] if on else []) + ([protect] if protect is not None else [])
                if not edges:
                    return self._reject(Reason.NO_PROTECTION, c, fl, sym, side)
                limit = min(edges)
            elif market:
                limit = protect
            t.rm, t.rt = self.tiers[self.acct_tier.get(acct, 0)]  # fixed at acceptance (section 3)
            hold = self._hold_of(t, limit if market else px, qty)
            if hold > self._available(acct, self._hold_asset(t)):
                return self._reject(Reason.INSUFFICIENT_FUNDS, c, fl, sym, side)
        best = self._best(sym, 1 - side)
        if tif == Tif.POST and best is not None and self._crosses(side, False, px, best):
            return self._reject(Reason.WOULD_TAKE, c, fl, sym, side)
        self._emit(Ev.ACCEPTED, 0, side, fl | (0 if market else Flag.HAS_PX), sym, oid, px, qty, acct=acct, ts=ts)
        self._set_hold(t, hold)  # placed before it matches
        if call:
            self._add(t)
            return
        # a market order with a price limit executes only within it: it matches like a limit order
        by_price = market and limit is None
        lim = limit if limit is not None else px
        if tif == Tif.FOK and not self._fok_fills(sym, side, by_price, lim, acct, stp, qty):
            self._emit(Ev.CANCELED, Reason.FOK, side, fl, sym, oid, qty=qty, ts=ts)
            self._set_hold(t, 0)
            return
        rem = self._match(sym, side, by_price, lim, oid, acct, stp, qty, fl, ts, t)
        t.qty = rem
        if rem > 0 and not market and tif in (Tif.GTC, Tif.POST):
            self._add(t)
            self._rehold(t)
            return
        if rem > 0:
            self._emit(Ev.CANCELED, Reason.IOC, side, fl, sym, oid, qty=rem, ts=ts)
        self._set_hold(t, 0)

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

    def _match(self, sym, side, market, limit, oid, acct, stp, qty, fl, ts, taker: Order) -> int:
        """Match a taker; returns its open quantity (0 when canceled by self-trade prevention).

        The taker's fee accumulator moves with its fills; its hold is the caller's to set after."""
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
                    self._fill(sym, px, q, o, taker, fl, ts)
                    self._trade(sym, px, q)
                    if o.qty == 0:
                        self._remove(o)
                    else:
                        self._rehold(o)
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
                    else:
                        self._rehold(o)
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
        call = self.status[o.sym] == Status.CALL
        oracle = self.feeds[o.sym] is not None
        if not (oracle and call) and not self._in_band(o.sym, px):
            return self._reject(Reason.OUTSIDE_BAND, c, fl, o.sym, o.side)
        # section 9: px = the new price, qty = the new open quantity
        if self._too_large(o.sym, px, qty):
            return self._reject(Reason.NOTIONAL_TOO_LARGE, c, fl, o.sym, o.side)
        hold = 0
        if self.risk is not None:
            # docs/balances.md 4, 6: the hold with the new price and open quantity, the same acc and
            # rates; rejected when it grows by more than what is available. CHOICE: after market
            # integrity's rejects (halted, notional_too_large), last before would_take.
            hold = self._hold_of(o, px, qty)
            if hold - o.hold > self._available(o.acct, self._hold_asset(o)):
                return self._reject(Reason.INSUFFICIENT_FUNDS, c, fl, o.sym, o.side)
        best = self._best(o.sym, 1 - o.side)
        if not call and o.tif == Tif.POST and best is not None and self._crosses(o.side, False, px, best):
            return self._reject(Reason.WOULD_TAKE, c, fl, o.sym, o.side)
        if px == o.px and qty <= o.qty:
            o.qty = qty
            self._emit(Ev.AMENDED, 0, o.side, fl | Flag.HAS_PX, o.sym, o.oid, px, qty, ts=ts)
            self._rehold(o)
            return
        self._remove(o)
        self._emit(Ev.AMENDED, 0, o.side, fl | Flag.HAS_PX, o.sym, o.oid, px, qty, ts=ts)
        n = Order(o.oid, o.acct, o.sym, o.side, px, qty, o.stp, o.tif, rm=o.rm, rt=o.rt, acc=o.acc)
        self._set_hold(n, hold)  # the new hold replaces the old one before the amended order matches
        rem = qty if call else self._match(o.sym, o.side, False, px, o.oid, o.acct, o.stp, qty, fl, ts, n)
        n.qty = rem
        if rem > 0:
            self._add(n)
            self._rehold(n)
        else:
            self._set_hold(n, 0)

    def _ref(self, c) -> None:
        flags = int(c["flags"])
        sym = int(c["sym"])
        if self.feeds[sym] is not None:
            # section 4: `ref` on an oracle instrument is rejected oracle_only, like a rejected ref (no oid).
            # The decoder rejects it before the engine; this only guards a record that reaches the model.
            self._emit(Ev.REJECTED, Reason.ORACLE_ONLY, 0, flags & Flag.HAS_TS, -1, ts=int(c["ts"]))
            return
        if int(c["oid"]) > 0:
            self.ref[sym] = int(c["oid"])
        if not flags & Flag.BAND_ON:
            return
        lo, hi = int(c["px"]), int(c["qty"])
        self.bands[sym] = [True, lo, hi]
        self._cancel_outside_band(sym, flags & Flag.HAS_TS, int(c["ts"]))

    def _cancel_outside_band(self, sym: int, fl: int, ts: int) -> None:
        """Cancel every resting order outside the band, buy side first, each in price-time priority."""
        _, lo, hi = self.bands[sym]
        for side in (Side.BUY, Side.SELL):
            for px in self._levels_best_first(sym, side):
                if lo <= px <= hi:
                    continue
                for o in list(self.books[sym][side][px]):
                    self._emit(Ev.CANCELED, Reason.BAND, side, fl, sym, o.oid, qty=o.qty, ts=ts)
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

    def _touched(self, c, op: int) -> list[int]:
        """The instruments a command touches (section 5; the brief's clarification 6): the limit-state
        check and the ref_grid rule run for these after the command."""
        n = len(self.instruments)
        if op in (Op.NEW, Op.REF, Op.ORACLE, Op.HALT, Op.RESUME):
            return [int(c["sym"])] if 0 <= int(c["sym"]) < n else []
        if op in (Op.CANCEL, Op.AMEND):
            o = self.live.get(int(c["oid"]))
            return [o.sym] if o is not None else []
        if op in (Op.HALT_ALL, Op.RESUME_ALL):
            return list(range(n))
        return []  # tick, and records rejected before the engine

    def _after(self, syms: list[int], fl: int, ts: int) -> None:
        """End of a command or timer: for every touched oracle instrument, in instruments-file order, the
        limit-state check (section 10), then the ref_grid rule (7.2 b)."""
        for sym in sorted(set(syms)):
            if self.feeds[sym] is not None:
                self._limit_check(sym, fl, ts)
                self._arm_ref_grid(sym)

    def _status(self, sym: int, status: int, reason: int, fl: int, ts: int) -> None:
        self.status[sym] = int(status)
        until = self.until[sym] if status in UNTIL_SHOWN else 0
        self._emit(Ev.STATUS, int(reason), int(status), fl, sym, open_=until, ts=ts)

    def _fire_timers(self, t: int) -> None:
        """Fire every timer due at or before t, in (deadline, instrument, rank) order."""
        while self.timers:
            (sym, kind), d = min(self.timers.items(), key=lambda kv: (kv[1], kv[0][0], kv[0][1]))
            if d > t:
                return
            del self.timers[(sym, kind)]
            self.now = max(self.now, d)
            if kind == Timer.STALE:
                self._go_stale(sym, TIMED, d)
            elif kind == Timer.STALE_HALT:
                self._add_cause(sym, HaltCause.STALE_ORACLE, TIMED, d)
            elif kind == Timer.REF_GRID:
                if self._skip_idle_ref_grid(sym, d, t):
                    continue
                self._reference_point(sym, TIMED, d, forced=False)
            elif kind == Timer.LIMIT:  # section 10: the pause
                self._start_call(sym, StatusReason.PAUSE, self.instruments[sym].oracle.pause_ms * MS, TIMED, d)
            elif kind == Timer.CALL_END:
                self._end_call(sym, d)
            else:
                self._indicative(sym, TIMED, d, force=True)
            self._after([sym], TIMED, d)  # a timer touches its instrument
            self._flush_balances(TIMED, d)  # the holds a timer step released, its fills

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
        feed = self.feeds[sym]
        if feed is not None:
            r2 = 2 * feed.collar[0]  # an oracle instrument: Rc, the collar's reference (12.5 step 4)
        else:
            r2 = 2 * (self.ref[sym] or self.last[sym])  # the reference in half ticks
        if not r2:
            r2 = min(a for a, *_ in kept) + max(b for _, b, *_ in kept)
        options = [(abs(2 * p - r2), p, i) for a, b, _, i in kept for p in {a, b, min(max(r2 // 2, a), b)}]
        _, price, imb = min(options)
        return price, best_v, imb

    def _collar_edges(self, sym: int) -> tuple[int, int]:
        """(collar_lo, collar_hi) of the call in progress (12.4)."""
        rc, h0, nu, nl = self.feeds[sym].collar
        return max(1, ceil(rc - (1 + nl) * h0)), min(MAX_UNITS, floor(rc + (1 + nu) * h0))

    def _indicative(self, sym: int, fl: int, ts: int, force: bool) -> None:
        px, v, imb = self._auction(sym)
        side = 2 if imb == 0 else (Side.BUY if imb > 0 else Side.SELL)
        if self.feeds[sym] is not None:
            lo, hi = self._collar_edges(sym)
            band_fl = Flag.BAND_ON
        else:
            lo, hi, band_fl = -1, -1, 0  # a plain instrument has no collar
        fields = (px, v, abs(imb), side, self.until[sym], lo, hi)
        if not force and fields == self.last_indicative[sym]:
            return
        self.last_indicative[sym] = fields
        self._emit(Ev.INDICATIVE, 0, int(side), fl | band_fl | (Flag.HAS_PX if px is not None else 0), sym,
                   px=px or 0, qty=v, open_=abs(imb), maker=lo, maker_acct=hi, acct=self.until[sym], ts=ts)
        self.timers[(sym, Timer.INDICATIVE)] = self.now + self.instruments[sym].indicative_ms * MS

    def _start_call(self, sym: int, reason: int, length: int, fl: int, ts: int) -> None:
        """Section 12.1: status call, its deadline, the collar (oracle instruments), the first indicative."""
        for kind in (Timer.LIMIT, Timer.REF_GRID):
            self.timers.pop((sym, kind), None)
        self.until[sym] = self.now + length
        self.timers[(sym, Timer.CALL_END)] = self.until[sym]
        feed = self.feeds[sym]
        if feed is not None:  # 12.4
            rc, _ = self._candidate(sym)
            bp = self.instruments[sym].oracle.collar_bp
            h0 = max(Fraction(rc * bp, 10_000) if bp is not None else self._half_width(sym, rc), Fraction(1))
            feed.collar = [rc, h0, 0, 0]
        self._status(sym, Status.CALL, reason, fl, ts)
        self._indicative(sym, fl, ts, force=True)

    def _end_call(self, sym: int, ts: int) -> None:
        """Section 12.6: the timer call_end fired at ts."""
        px, v, _ = self._auction(sym)
        feed = self.feeds[sym]
        if px is not None and feed is not None:
            lo, hi = self._collar_edges(sym)
            if not lo <= px <= hi:  # extended: widen the collar on the side of the price
                feed.collar[2 if px > hi else 3] += 1
                self.until[sym] = ts + self.instruments[sym].oracle.pause_ms * MS
                self.timers[(sym, Timer.CALL_END)] = self.until[sym]
                self._status(sym, Status.CALL, StatusReason.EXTENDED, TIMED, ts)
                self._indicative(sym, TIMED, ts, force=True)
                return
        if px is not None:
            self._uncross(sym, px, v, ts)
        self.timers.pop((sym, Timer.INDICATIVE), None)
        self._status(sym, Status.CONTINUOUS, StatusReason.CALL_END, TIMED, ts)
        if feed is not None:
            self._reference_point(sym, TIMED, ts, forced=True)
            # the ref_grid timer and the limit-state check follow in _after (no event between them)

    def _uncross(self, sym: int, price: int, qty: int, ts: int) -> None:
        """Fill qty at price, best bids against best asks, each fill's maker the earlier order (12.7)."""
        self._emit(Ev.UNCROSS, 0, 0, TIMED | Flag.HAS_PX, sym, px=price, qty=qty, ts=ts)
        bids, asks = self.books[sym]
        while qty:
            b = bids.peekitem(-1)[1][0]
            a = asks.peekitem(0)[1][0]
            q = min(qty, b.qty, a.qty)
            maker, taker = (b, a) if b.time < a.time else (a, b)
            # CHOICE (docs/balances.md 16.1 leaves auctions open): an uncross fill is priced like any
            # fill, the later order paying its taker rate and the earlier its maker rate, as the fill
            # event names them; both hold at their limits, at or beyond the uncross price.
            self._fill(sym, price, q, maker, taker, TIMED, ts)
            self._trade(sym, price, q)
            qty -= q
            for o in (b, a):
                o.qty -= q
                if o.qty == 0:
                    self._remove(o)
                else:
                    self._rehold(o)

    def _add_cause(self, sym: int, cause: int, fl: int, ts: int) -> None:
        old = self.causes[sym]
        self.causes[sym] = old | cause
        if not old:
            # a call in progress is abandoned; the limit state and the reference grid stop (section 11)
            for kind in (Timer.LIMIT, Timer.CALL_END, Timer.INDICATIVE, Timer.REF_GRID):
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
        elif old and cause == HaltCause.NO_REFERENCE:  # the first trusted update: no call, a forced reference point
            self._status(sym, Status.CONTINUOUS, StatusReason.REFERENCE, fl, ts)
            self._reference_point(sym, fl, ts, forced=True)
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

    # ------------------------------------------------------------ oracle instruments (sections 6, 7, 9, 10)

    def _policy(self, sym: int):
        """The policy of the instrument's current market status (section 3)."""
        return self.instruments[sym].oracle.policies[self.feeds[sym].market]

    def _too_large(self, sym: int, px: int, qty: int) -> bool:
        """Section 9: px x qty x tick x lot > max_notional, i.e. qty > floor(M / px)."""
        if self.feeds[sym] is None:
            return False
        cap = self._policy(sym).max_notional
        if cap is None:
            return False
        return qty > notional_units(self.instruments[sym], cap) // px

    def _oracle(self, c) -> None:
        """An oracle update (section 6); within it, section 11's order of rules."""
        sym, r, ots = int(c["sym"]), int(c["px"]), int(c["oid"])
        fl, ts = int(c["flags"]) & Flag.HAS_TS, int(c["ts"])
        feed, cfg = self.feeds[sym], self.instruments[sym].oracle
        if feed.last_ots is not None and ots <= feed.last_ots:
            self._emit(Ev.REJECTED, Reason.BAD_ORACLE_TS, 0, fl, -1, ts=ts)
            return

        def within(a: int, b: int) -> bool:
            return abs(a - b) * 10_000 <= cfg.step_bp * b

        # 6.3 the step guard
        if feed.rt is None or within(r, feed.rt):
            state = OracleState.TRUSTED
        elif feed.pending is not None and ots - feed.pending[1] <= cfg.confirm_ms * MS and within(r, feed.pending[0]):
            state = OracleState.CONFIRMED
        else:
            state = OracleState.PENDING
        first = feed.last_ots is None
        previous_market = feed.market
        # every accepted update sets the market status and the session times
        feed.last_ots = ots
        feed.market = int(c["side"])
        feed.reg_open, feed.reg_close = int(c["acct"]), int(c["line"])
        trusted = state != OracleState.PENDING
        due = []  # the timers whose deadline is already reached (section 5; clarification 1)
        if trusted:
            feed.rt, feed.tt, feed.tmult, feed.pending = r, ots, (int(c["qty"]), int(c["qexp"])), None
            for kind, ms in ((Timer.STALE, cfg.stale_ms), (Timer.STALE_HALT, cfg.halt_ms)):
                deadline = ots + ms * MS
                if deadline <= self.now:
                    self.timers.pop((sym, kind), None)
                    due.append(kind)
                else:
                    self.timers[(sym, kind)] = deadline
        else:
            feed.pending = (r, ots)
        self._emit(Ev.ORACLE, state, feed.market, fl, sym, px=r, qty=int(c["qty"]), maker=int(c["qexp"]),
                   open_=ots, ts=ts)
        if trusted:
            # section 11: removal of no_reference (the first trusted update) or of stale_oracle; the
            # update makes the oracle fresh only when now < Tt + stale_ms (clarification 2)
            if self.causes[sym] & HaltCause.NO_REFERENCE:
                self._remove_cause(sym, HaltCause.NO_REFERENCE, fl, ts)
            if self.now < feed.tt + cfg.stale_ms * MS:
                feed.stale = False
                if self.causes[sym] & HaltCause.STALE_ORACLE:
                    self._remove_cause(sym, HaltCause.STALE_ORACLE, fl, ts)
        # 12.1 the opening auction
        if (not first and feed.market == Market.REGULAR and previous_market != Market.REGULAR
                and self.status[sym] in TRADING and cfg.open_auction_ms > 0):
            self._start_call(sym, StatusReason.OPEN, cfg.open_auction_ms * MS, fl, ts)
        self._reference_point(sym, fl, ts, forced=False)  # 7.2 (a)
        for kind in due:  # in rank order: stale, then stale_halt
            if kind == Timer.STALE:
                self._go_stale(sym, fl, ts)
            else:
                self._add_cause(sym, HaltCause.STALE_ORACLE, fl, ts)

    def _go_stale(self, sym: int, fl: int, ts: int) -> None:
        """The effect of the timer stale (6.4; clarifications 1 and 3)."""
        feed = self.feeds[sym]
        if feed.stale:
            return
        feed.stale = True
        self._emit(Ev.ORACLE, OracleState.STALE, feed.market, fl, sym, px=feed.rt, qty=feed.tmult[0],
                   maker=feed.tmult[1], open_=feed.tt, ts=ts)
        self.timers.pop((sym, Timer.REF_GRID), None)

    def _fresh(self, sym: int) -> bool:
        """6.4: the oracle is fresh while now < Tt + stale_ms (a trusted reference is needed). Every rule
        that asks whether the instrument is stale asks this; the stale flag only says whether the
        `stale` event was printed."""
        feed = self.feeds[sym]
        return feed.rt is not None and self.now < feed.tt + self.instruments[sym].oracle.stale_ms * MS

    def _candidate(self, sym: int) -> tuple[int, int]:
        """(C, source) at now (7.1).

        "The oracle is fresh" is 6.4's definition, now < Tt + stale_ms (_fresh), as everywhere."""
        feed = self.feeds[sym]
        if self._fresh(sym) and feed.market in PRICED_MARKETS:
            return feed.rt, int(RefSource.ORACLE)
        window = self.instruments[sym].oracle.ref_window_ms * MS
        while feed.trades and feed.trades[0][0] <= self.now - window:  # now never goes back: drop for good
            feed.trades.popleft()
        if feed.trades:  # every fill left has trade time in (now - window, now]
            value = sum(px * q for _, px, q in feed.trades)
            volume = sum(q for _, _, q in feed.trades)
            return round_half_up(Fraction(value, volume)), int(RefSource.VWAP)
        return feed.rt, int(RefSource.LAST_ORACLE)

    def _half_width(self, sym: int, ref: int) -> Fraction:
        """h for a reference in ticks at now (7.4), a rational number of ticks."""
        ins, feed = self.instruments[sym], self.feeds[sym]
        policy = self._policy(sym)
        if policy.band_bp is not None:
            return Fraction(ref * policy.band_bp, 10_000)  # no tier, no factor, no doubling
        tick = Fraction(ins.tick_size)
        dollars = ref * tick
        if dollars > 3:
            luld = Fraction(ref * (500 if ins.oracle.tier == 1 else 1000), 10_000)
        elif dollars >= Fraction(3, 4):
            luld = Fraction(ref * 20, 100)
        else:
            luld = min(Fraction(15, 100) / tick, Fraction(ref * 75, 100))
        doubled = feed.market == Market.REGULAR and (
            feed.reg_open <= self.now < feed.reg_open + 15 * MINUTE
            or feed.reg_close - 25 * MINUTE <= self.now < feed.reg_close)
        return policy.band_factor * (2 if doubled else 1) * luld

    def _reference_point(self, sym: int, fl: int, ts: int, forced: bool) -> None:
        """A reference point (7.2, 7.3): maybe a new band, then the orders outside it are canceled."""
        feed = self.feeds[sym]
        if not forced and self.status[sym] not in TRADING:
            return  # (a) and (b) change nothing in call or halted
        if not self._fresh(sym) and feed.band_ref is not None:
            # CHOICE: 6.4 and 7.1 say the band does not move *at all* while stale ("no reference point of
            # section 7.2 changes it"), so a forced point (c) does not move it either. A forced point
            # still cancels the orders outside the band in force (below), as 12.6 says.
            # CHOICE: an instrument without a band yet gets its first one even while stale (setting the
            # first band is not moving it; continuous trading needs a band). This happens when the first
            # trusted update arrives already stale while another halt cause remains: the call that
            # follows the last cause's removal ends with the first band (B' = C, "no B yet").
            if forced:
                self._cancel_outside_band(sym, fl, ts)
            return
        new_ref, new_source, lo, hi = self._next_band(sym, forced)
        if self._band_differs(sym, new_ref, lo, hi):
            feed.band_ref, feed.band_src = new_ref, new_source
            self.bands[sym] = [True, lo, hi]
            self._emit(Ev.BAND, new_source, 0, fl, sym, px=new_ref, maker=lo, maker_acct=hi, ts=ts)
            self._cancel_outside_band(sym, fl, ts)
        elif forced:
            # CHOICE: 12.6 says a forced point after a call cancels the orders outside the band even when
            # the band did not change: during a call orders are not checked against the band (section 9),
            # and 7.3 promises the book holds only orders inside it. At (a) and (b) the book is already
            # inside an unchanged band, so this only matters for (c).
            self._cancel_outside_band(sym, fl, ts)

    def _next_band(self, sym: int, forced: bool) -> tuple[int, int, int, int]:
        """(B', source, lo, hi) of a reference point at now (7.3), without changing anything."""
        feed = self.feeds[sym]
        c, source = self._candidate(sym)
        b = feed.band_ref
        if forced or b is None or abs(c - b) * 10_000 >= self.instruments[sym].oracle.ref_move_bp * b:
            new_ref, new_source = c, source
        else:
            new_ref, new_source = b, feed.band_src  # clarification 5: the source in force
        h = self._half_width(sym, new_ref)
        return new_ref, new_source, max(1, ceil(new_ref - h)), min(MAX_UNITS, floor(new_ref + h))

    def _band_differs(self, sym: int, new_ref: int, lo: int, hi: int) -> bool:
        on, old_lo, old_hi = self.bands[sym]
        return not on or (new_ref, lo, hi) != (self.feeds[sym].band_ref, old_lo, old_hi)

    def _skip_idle_ref_grid(self, sym: int, d: int, t: int) -> bool:
        """Fast-forward over ref_grid firings that change nothing (an optimisation, not a rule).

        The timer ref_grid fired at d. If its reference point leaves the band as it is, the firing has
        no effect at all but re-arming (the limit-state check finds the same book and band). Until the
        next *breakpoint* nothing its result depends on can change: no command runs before t, the
        instrument's other timers are where its state can change, and otherwise the result depends on
        now only through the trade window (a fill leaves it at trade time + window), the freshness of
        the oracle (Tt + stale_ms) and the session windows of 7.4. So every grid point before the next
        breakpoint is idle too: the timer goes straight to the first grid point at or after it (and
        never beyond the first one after t). Without this a log whose first update comes without a
        ts (now = 0) would fire the grid from 1970 on. Returns False when the firing is not idle."""
        feed, cfg = self.feeds[sym], self.instruments[sym].oracle
        if not self.fast_forward or not self._fresh(sym) or self.status[sym] not in TRADING:
            return False
        new_ref, _, lo, hi = self._next_band(sym, forced=False)
        if self._band_differs(sym, new_ref, lo, hi):
            return False
        points = [t + 1, feed.tt + cfg.stale_ms * MS]
        points += [max(when, d + 1) for (s, kind), when in self.timers.items() if s == sym and kind != Timer.REF_GRID]
        points += [when + cfg.ref_window_ms * MS for when, _, _ in feed.trades]
        if feed.market == Market.REGULAR:
            points += [feed.reg_open, feed.reg_open + 15 * MINUTE, feed.reg_close - 25 * MINUTE, feed.reg_close]
        step = cfg.ref_interval_ms * MS
        target = min(p for p in points if p > d)
        self.timers[(sym, Timer.REF_GRID)] = max(d // step + 1, -(-target // step)) * step
        return True

    def _limit_check(self, sym: int, fl: int, ts: int) -> None:
        """The limit-state check (section 10)."""
        status = self.status[sym]
        if status not in TRADING:
            return
        _, lo, hi = self.bands[sym]
        up = self._best(sym, Side.BUY) == hi
        down = self._best(sym, Side.SELL) == lo
        if status == Status.CONTINUOUS:
            if up or down:
                self._enter_limit(sym, Status.LIMIT_UP if up else Status.LIMIT_DOWN, fl, ts)
        elif status == Status.LIMIT_UP and not up:
            if down:
                self._enter_limit(sym, Status.LIMIT_DOWN, fl, ts)
            else:
                self.timers.pop((sym, Timer.LIMIT), None)
                self._status(sym, Status.CONTINUOUS, StatusReason.UNPINNED, fl, ts)
        elif status == Status.LIMIT_DOWN and not down:
            if up:
                self._enter_limit(sym, Status.LIMIT_UP, fl, ts)
            else:
                self.timers.pop((sym, Timer.LIMIT), None)
                self._status(sym, Status.CONTINUOUS, StatusReason.UNPINNED, fl, ts)

    def _enter_limit(self, sym: int, status: int, fl: int, ts: int) -> None:
        self.until[sym] = self.now + self.instruments[sym].oracle.limit_state_ms * MS
        self.timers[(sym, Timer.LIMIT)] = self.until[sym]
        self._status(sym, status, StatusReason.PINNED, fl, ts)

    def _arm_ref_grid(self, sym: int) -> None:
        """7.2 (b), clarification 4: a fresh instrument with a trusted reference in continuous or a limit
        state always has the timer ref_grid, at the next multiple of ref_interval_ms after now."""
        feed = self.feeds[sym]
        if (feed.rt is None or not self._fresh(sym) or self.status[sym] not in TRADING
                or (sym, Timer.REF_GRID) in self.timers):
            return
        step = self.instruments[sym].oracle.ref_interval_ms * MS
        self.timers[(sym, Timer.REF_GRID)] = (self.now // step + 1) * step

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
