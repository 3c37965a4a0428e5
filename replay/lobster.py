"""`kabuto replay --format lobster`: LOBSTER message/orderbook CSV files through the engine.

Reads the files with a numba CSV parser, validates them (one clear error with the line number),
seeds the book from the orderbook file, runs the per-message loop of `replay.lobster_check`
and prints a summary table (with --check: how often the engine's book and makers agree).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from kabuto.engine.engine import Engine
from kabuto.engine.errors import InputError
from kabuto.engine.instruments import MAX_UNITS, Instrument
from kabuto.engine.jit import njit
from kabuto.engine.records import empty_commands, empty_events
from kabuto.engine.state import M_LIVE, grow_book_levels, grow_hash, grow_levels, grow_orders
from kabuto.replay import lobster_check as lc

MESSAGE_FIELDS = ("time", "type", "order id", "size", "price", "direction")
TYPE_NAMES = {1: "new limit order", 2: "partial cancel", 3: "delete", 4: "visible execution",
              5: "hidden execution", 6: "cross trade", 7: "trading halt"}
CLASS_NAMES = {
    lc.X_MATCH: "maker is LOBSTER's order",
    lc.X_SEED: "maker is a seeded/re-synced order",
    lc.X_OTHER: "maker is another LOBSTER order",
    lc.X_SPLIT: "LOBSTER's order held too little",
    lc.X_SHORT: "engine filled less than the size",
    lc.X_PRICE: "fill at another price",
}
# parser status codes
P_OK, P_BAD_CHAR, P_FEW, P_MANY, P_LONG, P_EMPTY_LINE = range(6)
NO_TIME = -1
EMPTY_ASK, EMPTY_BID = lc.EMPTY_ASK, lc.EMPTY_BID


@njit(cache=True, _nrt=False)
def _parse(buf, ncols, time_col, out):
    """Parse comma-separated integers (time_col: decimal seconds, rounded to nanoseconds).

    Returns (rows, status, byte offset of the bad field, its column)."""
    n = len(buf)
    pos = 0
    row = 0
    while pos < n:
        col = 0
        while True:
            start = pos
            neg = False
            if pos < n and buf[pos] == 45:  # '-'
                neg = True
                pos += 1
            v = 0
            digits = 0
            while pos < n and 48 <= buf[pos] <= 57:
                if digits == 18:
                    return row, P_LONG, start, col
                v = v * 10 + (buf[pos] - 48)
                digits += 1
                pos += 1
            if col == time_col and digits > 0:
                if digits > 9:
                    return row, P_LONG, start, col
                frac = 0
                places = 0
                round_up = 0
                if pos < n and buf[pos] == 46:  # '.'
                    pos += 1
                    while pos < n and 48 <= buf[pos] <= 57:
                        # a float artifact like 43002.632812672004 (AMZN L5) rounds to the nanosecond
                        if places < 9:
                            frac = frac * 10 + (buf[pos] - 48)
                        elif places == 9:
                            round_up = 1 if buf[pos] >= 53 else 0
                        places += 1
                        pos += 1
                    if places == 0:
                        return row, P_BAD_CHAR, start, col
                for _ in range(9 - min(places, 9)):
                    frac *= 10
                v = v * 1000000000 + frac + round_up
            c = buf[pos] if pos < n else 10
            if c == 13 and (pos + 1 >= n or buf[pos + 1] == 10):  # CR before LF
                pos += 1
                c = 10
            if digits == 0:
                if col == 0 and c == 10 and not neg:
                    return row, P_EMPTY_LINE, start, col
                return row, P_BAD_CHAR, start, col
            if neg:
                v = -v
            if c == 44:  # ','
                if col + 1 >= ncols:
                    return row, P_MANY, start, col
                out[row, col] = v
                col += 1
                pos += 1
            elif c == 10:
                out[row, col] = v
                if col + 1 < ncols:
                    return row, P_FEW, start, col
                pos += 1
                row += 1
                break
            else:
                return row, P_BAD_CHAR, start, col
    return row, P_OK, 0, 0


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"cannot read {what} {path}: {e.strerror}") from None


def _line_text(data: bytes, pos: int) -> str:
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    end = len(data) if end < 0 else end
    text = data[start:end].rstrip(b"\r").decode("utf-8", "replace")
    return text if len(text) <= 80 else text[:77] + "..."


def parse_csv(data: bytes, path: str, ncols: int, time_col: int, names) -> np.ndarray:
    """An int64 array (rows, ncols) of a headerless CSV; InputError with the line number on bad text."""
    buf = np.frombuffer(data, np.uint8)
    out = np.empty((data.count(b"\n") + 1, ncols), np.int64)
    rows, status, pos, col = _parse(buf, ncols, time_col, out)
    if status == P_OK:
        return out[:rows]
    line = rows + 1
    text = _line_text(data, pos)
    where = f"{path} line {line}"
    if status == P_EMPTY_LINE:
        raise InputError(f"{where}: empty line")
    if status in (P_FEW, P_MANY):
        found = text.count(",") + 1
        kind = "truncated line" if status == P_FEW else "too many fields"
        raise InputError(f"{where}: {kind}: expected {ncols} fields, found {found}: {text!r}")
    end = data.find(b",", pos)
    nl = data.find(b"\n", pos)
    end = min(e for e in (end, nl, len(data)) if e >= 0)
    field = data[pos:end].rstrip(b"\r").decode("utf-8", "replace")
    name = names(col)
    if status == P_LONG:
        raise InputError(f"{where}: field {col + 1} ({name}) is too long: {field!r}")
    kind = "a decimal number" if col == time_col else "an integer"
    raise InputError(f"{where}: field {col + 1} ({name}) is not {kind}: {field!r}")


def time_text(ns: int) -> str:
    """Seconds after midnight as decimal text from nanoseconds."""
    sign = "-" if ns < 0 else ""
    s, f = divmod(abs(int(ns)), 1_000_000_000)
    return f"{sign}{s}.{f:09d}".rstrip("0").rstrip(".")


def _first_fault(path: str, faults) -> None:
    """Raise for the earliest line among (mask, message(index)) faults; ties go to the first listed."""
    best = None
    for mask, message in faults:
        if mask.any():
            i = int(np.argmax(mask))
            if best is None or i < best[0]:
                best = (i, message)
    if best is not None:
        i, message = best
        raise InputError(f"{path} line {i + 1}: {message(i)}")


def load_messages(path: str) -> np.ndarray:
    """The message file as an int64 array (rows, 6): time in ns, type, order id, size, price, direction."""
    data = _read(path, "message file")
    m = parse_csv(data, path, 6, lc.C_TIME, lambda c: MESSAGE_FIELDS[c])
    if len(m) == 0:
        raise InputError(f"{path}: no messages")
    t, typ, oid, size, px, d = (m[:, c] for c in range(6))
    trading = (typ >= 1) & (typ <= 4)
    back = np.zeros(len(m), bool)
    back[1:] = t[1:] < t[:-1]
    _first_fault(path, [
        (t < 0, lambda i: f"negative time {time_text(t[i])}"),
        (back, lambda i: f"time goes backwards ({time_text(t[i])} after {time_text(t[i - 1])})"),
        ((typ < 1) | (typ > 7), lambda i: f"unknown event type {typ[i]} (LOBSTER types are 1 to 7)"),
        (size < 0, lambda i: f"negative size {size[i]}"),
        (oid < 0, lambda i: f"negative order id {oid[i]}"),
        (np.abs(d) != 1, lambda i: f"direction must be 1 or -1, found {d[i]}"),
        (trading & (size == 0), lambda i: f"size must be positive for type {typ[i]}"),
        (trading & ((px <= 0) | (px > MAX_UNITS)), lambda i: f"price {px[i]} out of range for type {typ[i]}"),
        (trading & (oid >= lc.SYNTH_BASE), lambda i: f"order id {oid[i]} too large (max {lc.SYNTH_BASE - 1})"),
        ((typ == 7) & ((px < -1) | (px > 1)), lambda i: f"halt message needs price -1, 0 or 1, found {px[i]}"),
    ])
    return m


B_NEGATIVE, B_EMPTY_PRICE, B_PRICE, B_GAP, B_ORDER, B_CROSSED = range(1, 7)


@njit(cache=True, _nrt=False)
def _book_fault(b, depth):
    """The first fault in orderbook rows: (row, fault code or 0, side 0 ask / 1 bid, level)."""
    for i in range(b.shape[0]):
        for side in range(2):
            empty = EMPTY_ASK if side == 0 else EMPTY_BID
            for j in range(depth):
                px = b[i, 4 * j + 2 * side]
                sz = b[i, 4 * j + 2 * side + 1]
                if sz < 0:
                    return i, B_NEGATIVE, side, j + 1
                if sz == 0:
                    if px != empty:
                        return i, B_EMPTY_PRICE, side, j + 1
                    continue
                if px <= 0 or px > MAX_UNITS:
                    return i, B_PRICE, side, j + 1
                if j > 0:
                    ppx = b[i, 4 * j - 4 + 2 * side]
                    if b[i, 4 * j - 4 + 2 * side + 1] == 0:
                        return i, B_GAP, side, j + 1
                    if (px <= ppx) if side == 0 else (px >= ppx):
                        return i, B_ORDER, side, j + 1
        if b[i, 1] > 0 and b[i, 3] > 0 and b[i, 2] >= b[i, 0]:
            return i, B_CROSSED, 0, 1
    return 0, 0, 0, 0


def _book_column(c: int) -> str:
    side = "ask" if c % 4 < 2 else "bid"
    return f"{side} {'price' if c % 2 == 0 else 'size'} {c // 4 + 1}"


def load_orderbook(path: str, levels: int | None) -> tuple[np.ndarray, int]:
    """The orderbook file as int64 (rows, 4 * levels in the file) and the levels to use."""
    data = _read(path, "orderbook file")
    first = data[:data.find(b"\n")] if b"\n" in data else data
    ncols = first.count(b",") + 1
    if ncols % 4:
        raise InputError(f"{path} line 1: {ncols} fields; an orderbook row has 4 per level")
    depth = ncols // 4
    if levels is None:
        levels = depth
    elif not 1 <= levels <= depth:
        raise InputError(f"--levels {levels}: {path} has {depth} levels")
    b = parse_csv(data, path, ncols, NO_TIME, _book_column)
    i, fault, side, lv = _book_fault(b, depth)
    if fault:
        name = ("ask", "bid")[side]
        px, sz = b[i, 4 * (lv - 1) + 2 * side], b[i, 4 * (lv - 1) + 2 * side + 1]
        empty = (lc.EMPTY_ASK, lc.EMPTY_BID)[side]
        message = {
            B_NEGATIVE: f"negative {name} size {sz} at level {lv}",
            B_EMPTY_PRICE: f"{name} level {lv} has size 0 but price {px} (an empty level is written {empty})",
            B_PRICE: f"{name} price {px} out of range at level {lv}",
            B_GAP: f"{name} level {lv} occupied after an empty level",
            B_ORDER: f"{name} prices out of order at level {lv}",
            B_CROSSED: f"crossed book: best bid {b[i, 2]} >= best ask {b[i, 0]}",
        }[fault]
        raise InputError(f"{path} line {i + 1}: {message}")
    return b, levels


def seed_row(row0: np.ndarray, msg0: np.ndarray, L: int) -> np.ndarray:
    """The book before message 1 as an orderbook row of L + 1 levels: row 1 with message 1 undone."""
    sides = []
    for off in (0, 2):  # asks, bids
        sides.append({int(row0[4 * j + off]): int(row0[4 * j + off + 1])
                      for j in range(L) if row0[4 * j + off + 1] > 0})
    typ, size, px, d = int(msg0[lc.C_TYPE]), int(msg0[lc.C_SIZE]), int(msg0[lc.C_PX]), int(msg0[lc.C_DIR])
    if 1 <= typ <= 4:
        levels = sides[1] if d == 1 else sides[0]
        q = levels.get(px, 0) + (-size if typ == 1 else size)
        if q > 0:
            levels[px] = q
        else:
            levels.pop(px, None)
    row = np.zeros(4 * (L + 1), np.int64)
    row[0::4] = lc.EMPTY_ASK
    row[2::4] = lc.EMPTY_BID
    for off, levels, reverse in ((0, sides[0], False), (2, sides[1], True)):
        for j, px in enumerate(sorted(levels, reverse=reverse)[:L + 1]):
            row[4 * j + off] = px
            row[4 * j + off + 1] = levels[px]
    return row


def seen_added(m: np.ndarray) -> np.ndarray:
    """Per message: its order id was added by an earlier type-1 message of the same file."""
    adds = np.flatnonzero(m[:, lc.C_TYPE] == 1)
    if len(adds) == 0:
        return np.zeros(len(m), bool)
    ids = m[adds, lc.C_OID]
    order = np.argsort(ids, kind="stable")
    ids_sorted = ids[order]
    pos = np.minimum(np.searchsorted(ids_sorted, m[:, lc.C_OID]), len(ids) - 1)
    found = ids_sorted[pos] == m[:, lc.C_OID]
    return found & (adds[order[pos]] < np.arange(len(m)))


@dataclass
class LobsterResult:
    """What a LOBSTER replay measured."""
    symbol: str
    messages: int
    levels: int  # 0 without an orderbook file
    check: bool
    stats: np.ndarray
    classes: np.ndarray  # (seen, not seen) x maker class
    causes: list  # with --check: (cause, explanation, [seen, not seen], example) per mismatch cause
    events: int
    engine: Engine
    parse_s: float
    replay_s: float

    def share(self, a: int, b: int) -> float:
        """Percentage of stats slot a over stats slot b (100 when b is 0)."""
        return 100.0 * self.stats[a] / self.stats[b] if self.stats[b] else 100.0

    @property
    def bbo_pct(self) -> float:
        """Rows whose best bid and ask (price and size) match the orderbook file, in percent."""
        return self.share(lc.S_BBO, lc.S_ROWS)

    @property
    def all_pct(self) -> float:
        """Rows whose top L levels all match the orderbook file, in percent."""
        return self.share(lc.S_ALL, lc.S_ROWS)

    def maker_pct(self, seen: bool = True) -> float:
        """Type-4 executions whose engine maker is LOBSTER's order id, in percent."""
        row = self.classes[0 if seen else 1]
        return 100.0 * row[lc.X_MATCH] / row.sum() if row.sum() else 100.0


def _grow(st, ev: np.ndarray, cmds: np.ndarray, status: int):
    """Grow the capacity a loop status names; returns (state, events, commands)."""
    if status == lc.NEED_EVENTS:
        return st, empty_events(2 * len(ev) + 8 * int(st.meta[M_LIVE])), cmds
    if status == lc.NEED_CMDS:
        return st, ev, empty_commands(2 * len(cmds) + int(st.meta[M_LIVE]))
    grow = {lc.NEED_ORDERS: grow_orders, lc.NEED_LEVELS: grow_levels,
            lc.NEED_BOOK_LEVELS: grow_book_levels, lc.NEED_HASH: grow_hash}[status]
    return grow(st), ev, cmds


def symbol_of(path: str) -> str:
    """The ticker in a LOBSTER file name (AMZN_2012-06-21_..._message_5.csv -> AMZN)."""
    m = re.match(r"([A-Za-z0-9.]{1,16})_", os.path.basename(path))
    return m.group(1) if m else "LOBSTER"


def lobster_instrument(symbol: str = "LOBSTER") -> Instrument:
    """The instrument LOBSTER prices and sizes fit: tick 0.0001 (prices are USD x 10000), lot 1 share."""
    return Instrument(symbol, Decimal(lc.TICK_SIZE), Decimal(lc.LOT_SIZE), Decimal(lc.LOT_SIZE))


def run_lobster(messages: np.ndarray, book: np.ndarray | None, levels: int, check: bool,
                instrument: Instrument | None = None, on_events=None, parse_s: float = 0.0) -> LobsterResult:
    """Replay parsed messages (seeded and re-synced from book when given); on_events(events, first_seq)."""
    instrument = instrument or lobster_instrument()
    engine = Engine([instrument])
    st = engine.state
    ev = empty_events(1 << 16)
    cmds = empty_commands(max(1 << 10, 8 * levels + 16))  # room for the seed's synthetic orders
    stats = np.zeros(lc.N_STATS, np.int64)
    classes = np.zeros((2, lc.N_CLASSES), np.int64)
    mism = np.zeros((int((messages[:, lc.C_TYPE] == 4).sum()), lc.N_MISMATCH), np.int64)
    seen = seen_added(messages)
    if book is None:
        book = np.zeros((0, 4), np.int64)
        levels = 0
    keep = on_events is not None
    seq = 1
    t0 = time.perf_counter()
    if len(book):
        k = lc.seed(st, seed_row(book[0], messages[0], levels), levels + 1, cmds, ev, stats,
                    messages[0, lc.C_TIME])
        stats[[lc.S_SYNC_ADDS, lc.S_SYNC_ADD_QTY]] = 0
        if keep:
            on_events(ev[:k], seq)
        seq += k
    i = k = 0
    while True:
        i, k, status = lc.replay_messages(st, messages, seen, book, levels, check, i, ev, k, keep, cmds,
                                          stats, classes, mism)
        if status == lc.OK:
            break
        if status == lc.FLUSH:
            on_events(ev[:k], seq)
            seq += k
            k = 0
        elif status == lc.BROKEN:
            raise AssertionError(f"kernel stopped on a checked capacity at message {i + 1}")
        else:
            st, ev, cmds = _grow(st, ev, cmds, status)
            engine.state = st  # a grown pool's old columns point into freed memory: hold none of them
    replay_s = time.perf_counter() - t0
    if keep:
        on_events(ev[:k], seq)
    engine.state = st
    engine.seq = int(stats[lc.S_EVENTS])
    causes = lc.explain_mismatches(messages, book, levels, seen, mism[:stats[lc.S_MISMATCHES]]) if check else []
    return LobsterResult(instrument.symbol, len(messages), levels, check, stats, classes, causes,
                         engine.seq, engine, parse_s, replay_s)


def _n(x) -> str:
    return f"{int(x):,}"


def summary(r: LobsterResult) -> str:
    """The summary table of a LOBSTER replay."""
    s = r.stats
    out = [f"LOBSTER replay of {r.symbol}: {_n(r.messages)} messages"
           + (f", orderbook {r.levels} levels" if r.levels else ", no orderbook (no seeding, no re-sync)")]
    out.append(f"  {'message type':<28}{'rows':>10}{'shares':>14}")
    for t in range(1, 8):
        note = "  (no book effect)" if t in (5, 6) else ""
        out.append(f"  {t} {TYPE_NAMES[t]:<26}{_n(s[lc.S_TYPE + t]):>10}{_n(s[lc.S_SHARES + t]):>14}{note}")
    if s[lc.S_TYPE + 7]:
        out.append(f"  halts {_n(s[lc.S_HALT])}, quoting resumed {_n(s[lc.S_QUOTE_RESUME])}, "
                   f"trading resumed {_n(s[lc.S_TRADE_RESUME])}")
    out.append("engine")
    if r.levels:
        out.append(f"  seeded orders (book before message 1)  {_n(s[lc.S_SEEDED])}")
        out.append(f"  rows re-synced to the orderbook        {_n(s[lc.S_SYNC_ROWS])}  "
                   f"(+{_n(s[lc.S_SYNC_ADD_QTY])} shares in {_n(s[lc.S_SYNC_ADDS])} synthetic orders, "
                   f"-{_n(s[lc.S_SYNC_CUT_QTY])} shares, {_n(s[lc.S_SYNC_DROPS])} stale levels dropped)")
    out.append(f"  type 2/3 on orders not live in engine  {_n(s[lc.S_UNSEEN_CANCEL])}  "
               f"(taken off the level, synthetic orders first; {_n(s[lc.S_NO_LEVEL])} found no level)")
    out.append(f"  type 3 on orders holding more          {_n(s[lc.S_EXCESS_DELETE])}  "
               "(cut by the deleted size; the rest stays live)")
    out.append(f"  type-1 orders that traded on arrival   {_n(s[lc.S_CROSSED])}")
    out.append(f"  commands the engine rejected           {_n(s[lc.S_REJECTS])}")
    out.append(f"  events                                 {_n(r.events)}")
    out.append(f"  live orders at the end                 {_n(r.engine.live_orders)}")
    if r.check:
        rows = _n(s[lc.S_ROWS])
        out.append("check: engine book after each message vs its orderbook row (before re-sync)")
        out.append(f"  best bid/ask match          {_n(s[lc.S_BBO]):>10} / {rows}  {r.bbo_pct:7.2f} %")
        out.append(f"  all {r.levels} levels match          {_n(s[lc.S_ALL]):>10} / {rows}  {r.all_pct:7.2f} %")
        out.append(f"  rows still off after re-sync {_n(s[lc.S_AFTER_SYNC]):>9}")
    n4 = r.classes.sum(axis=1)
    if n4.sum():
        out.append("type-4 executions: the engine's maker vs LOBSTER's order id")
        out.append(f"  {'':<36}{'order seen added':>18}{'not seen':>12}")
        for c in range(lc.N_CLASSES):
            a, b = r.classes[0, c], r.classes[1, c]
            if c and not a and not b:
                continue
            pa = f"{_n(a)} ({100.0 * a / n4[0] if n4[0] else 0:.2f}%)"
            out.append(f"  {CLASS_NAMES[c]:<36}{pa:>18}{_n(b):>12}")
        out.append(f"  {'total':<36}{_n(n4[0]):>18}{_n(n4[1]):>12}")
        out.append("  (an order never seen added is part of the seeded/re-synced quantity: a synthetic maker is "
                   "the right answer for it)")
    if r.causes:
        ins = r.engine.instruments[0]
        out.append(f"mismatches by cause{'':<19}{'seen':>8}{'not seen':>10}")
        for name, _, (a, b), _ in r.causes:
            out.append(f"  {name:<36}{_n(a):>8}{_n(b):>10}")
        for name, why, _, (line, oid, maker, _, px, size, live, open_, ahead) in r.causes:
            who = "a synthetic order" if maker >= lc.SYNTH_BASE else f"order {maker}"
            state = (f"LOBSTER's order was live in the engine with {open_} open, {ahead} orders ahead of it"
                     if live else "LOBSTER's order was not live in the engine")
            out.append(f"  {name}: {why}.")
            out.append(f"    e.g. line {line}: {size} of order {oid} at {ins.px.text(px)} executed; "
                       f"the engine filled {who}; {state}")
    rate = r.messages / r.replay_s if r.replay_s > 0 else float("inf")
    out.append(f"time: parse {r.parse_s:.3f} s, replay {r.replay_s:.3f} s ({_n(rate)} messages/s)")
    return "\n".join(out)


class _EventWriter:
    """An event sink writing the replay contract's JSON lines to a binary file."""

    def __init__(self, out, encoder) -> None:
        self.out = out
        self.encoder = encoder

    def handle(self, events: np.ndarray, first_seq: int) -> None:
        """Write events numbered from first_seq."""
        self.out.write(self.encoder.encode_bytes(events, first_seq))

    def close(self) -> None:
        """Close the file."""
        self.out.close()


def replay_lobster(args: argparse.Namespace, make_batcher: Callable | None = None) -> int:
    """Run `kabuto replay --format lobster`; prints the summary table, returns the exit status.

    make_batcher(instruments, account_name) gives the fill batcher the options ask for, or None."""
    check = bool(getattr(args, "check", False))
    fail_under = getattr(args, "fail_under", None)
    orderbook = getattr(args, "orderbook", None)
    levels = getattr(args, "levels", None)
    if check and not orderbook:
        raise InputError("--check needs --orderbook")
    if fail_under is not None and not check:
        raise InputError("--fail-under needs --check")
    if getattr(args, "instruments", None):
        raise InputError(f"--instruments is not used with --format lobster (tick {lc.TICK_SIZE}, "
                         f"lot {lc.LOT_SIZE})")
    t0 = time.perf_counter()
    messages = load_messages(args.orders)
    book = None
    if orderbook:
        book, levels = load_orderbook(orderbook, levels)
        if len(book) != len(messages):
            short = orderbook if len(book) < len(messages) else args.orders
            raise InputError(f"{short} line {min(len(book), len(messages)) + 1}: the message file has "
                             f"{_n(len(messages))} lines but the orderbook file {_n(len(book))}; "
                             "they must pair line by line")
    parse_s = time.perf_counter() - t0
    instrument = lobster_instrument(symbol_of(args.orders))
    sinks = []
    batcher = make_batcher([instrument], lambda i: lc.ACCOUNT_NAMES[i]) if make_batcher else None
    if batcher:
        sinks.append(batcher)
    out = None
    if getattr(args, "events", None):
        from kabuto.replay.eventlog import Encoder
        from kabuto.replay.orderlog import Accounts
        accounts = Accounts()
        for name in lc.ACCOUNT_NAMES:
            accounts.id(name)
        encoder = Encoder([instrument], accounts)
        try:
            out = open(args.events, "wb")
        except OSError as e:
            raise InputError(f"cannot write {args.events}: {e.strerror}") from None
        sinks.append(_EventWriter(out, encoder))

    def on_events(events: np.ndarray, first_seq: int) -> None:
        for sink in sinks:
            sink.handle(events, first_seq)
    try:
        result = run_lobster(messages, book, levels or 0, check, instrument, on_events if sinks else None,
                             parse_s)
    except OSError as e:
        raise InputError(f"cannot write {args.events}: {e.strerror}") from None
    finally:
        for sink in sinks:
            sink.close()
    if getattr(args, "book_out", None):
        from kabuto.replay.eventlog import write_book
        write_book(args.book_out, result.engine, result.engine.instruments)
    print(summary(result))
    if fail_under is not None and result.bbo_pct < fail_under:
        print(f"kabuto: best bid/ask matched on {result.bbo_pct:.2f} % of rows, below --fail-under "
              f"{fail_under:g}", file=sys.stderr)
        return 1
    return 0


WARMUP_MESSAGES = b"""34200.1,1,1,5,990000,1
34200.2,4,77,10,1010000,-1
34200.3,2,1,2,990000,1
34200.4,5,0,10,1000000,-1
34200.5,3,1,3,990000,1
34200.6,7,0,0,-1,-1
"""
WARMUP_BOOK = b"""1010000,10,990000,15,1020000,20,980000,10
1020000,20,990000,15,1030000,30,980000,10
1020000,20,990000,13,1030000,30,980000,10
1020000,20,990000,13,1030000,30,980000,10
1020000,20,990000,10,1030000,30,980000,10
1020000,20,990000,10,1030000,30,980000,10
"""


def warmup() -> None:
    """Compile and cache the LOBSTER parser and replay loop (called by `kabuto warmup`)."""
    messages = parse_csv(WARMUP_MESSAGES, "warmup", 6, lc.C_TIME, lambda c: MESSAGE_FIELDS[c])
    book = parse_csv(WARMUP_BOOK, "warmup", 8, NO_TIME, _book_column)
    _book_fault(book, 2)
    run_lobster(messages, book, 2, True, on_events=lambda events, first_seq: None)
    lc.scan_only(messages)
