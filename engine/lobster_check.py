"""The numba loop that replays LOBSTER messages through the kernel, checks and re-syncs the book.

Each message becomes one or a few engine commands, run by `engine.kernel.run` one at a time;
after each message the engine's top L levels are compared with the orderbook row (--check)
and then re-synced to it, so levels from beyond the file's depth enter with the right size.
Everything here runs inside one @njit call per chunk of messages: no Python per message.
"""
import numpy as np
from numba import njit

from engine.codes import Ev, Flag, Op, OrdType, Side, Tif
from engine.kernel import OK, hash_find, run
from engine.state import EMPTY, M_LIVE

# the LOBSTER instrument: prices are USD x 10000 (one tick = 0.0001), sizes whole shares
TICK_SIZE = "0.0001"
LOT_SIZE = "1"
PX_EXP = -4  # a price of N ticks is sent as N * 10**-4
EMPTY_ASK = 9999999999  # LOBSTER's placeholder for an unoccupied level
EMPTY_BID = -9999999999

# oids: LOBSTER ids are below SYNTH_BASE; seeded/re-synced orders and type-4 takers above it
SYNTH_BASE = 1 << 62
TAKER_BASE = (1 << 62) + (1 << 61)
# accounts (ids into the event encoder's account names)
LOBSTER_ACCT, SEED_ACCT, TAKER_ACCT = 0, 1, 2
ACCOUNT_NAMES = ("lobster", "seed", "taker")

# message columns after parsing
C_TIME, C_TYPE, C_OID, C_SIZE, C_PX, C_DIR = range(6)

# loop status: OK, the kernel's NEED_* codes (1..5), or these
FLUSH = 10  # the event buffer is half full: hand it to Python
NEED_ROOM = 11  # a capacity is short: Python grows what `room_need` names
BROKEN = 12  # the kernel stopped on a capacity this loop had checked (a bug)

# stats slots
S_TYPE = 0  # + message type (1..7): messages of that type
S_SHARES = 8  # + message type: shares in those messages
S_ROWS = 16  # rows compared (--check)
S_BBO = 17  # rows whose best bid and best ask (price and size) match
S_ALL = 18  # rows whose top L levels all match
S_AFTER_SYNC = 19  # rows still different after the re-sync (must stay 0)
S_SEEDED = 20  # synthetic orders placed by the seed (before message 1)
S_SYNC_ADDS = 21  # synthetic orders added by re-syncs
S_SYNC_ADD_QTY = 22
S_SYNC_CUT_QTY = 23  # shares removed by re-syncs from levels too big or gone
S_SYNC_DROPS = 24  # whole levels removed by re-syncs
S_SYNC_ROWS = 25  # rows that needed any re-sync
S_REJECTS = 26  # commands the engine rejected
S_CROSSED = 27  # type-1 orders that traded on arrival
S_UNSEEN_CANCEL = 28  # type 2/3 on an order not live in the engine (taken from the level)
S_NO_LEVEL = 29  # type 2/3 at a price with no engine level
S_HALT = 30
S_QUOTE_RESUME = 31
S_TRADE_RESUME = 32
S_SYNTH_NEXT = 33  # next synthetic oid offset
S_BROKEN = 34
S_EXCESS_DELETE = 35  # type 3 whose order held more than the deleted size in the engine
N_STATS = 40

# type-4 maker classes (rows of `cls`: 0 = order seen being added in the file, 1 = not seen)
X_MATCH = 0  # every fill's maker is LOBSTER's order
X_SEED = 1  # the engine's maker is a synthetic (seeded or re-synced) order
X_OTHER = 2  # the engine's maker is another LOBSTER order, ahead of it in the engine's queue
X_SPLIT = 3  # the first maker is LOBSTER's order, but it held less than the executed size
X_SHORT = 4  # the engine filled less than the executed size
X_PRICE = 5  # a fill at another price than LOBSTER's
N_CLASSES = 6
# example fields: line, lobster oid, engine maker, price, size, order live in engine,
# its open qty, orders ahead of it in its level
N_EXAMPLE = 8

NEW, CANCEL, AMEND = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND)
ACCEPTED, FILL, REJECTED = int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.REJECTED)
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT = int(OrdType.LIMIT)
GTC, IOC = int(Tif.GTC), int(Tif.IOC)
F_TS, F_QTY = int(Flag.HAS_TS), int(Flag.HAS_QTY)


@njit(cache=True, inline="always")
def _command(st, cmd, ev, k, stats, op, side, tif, oid, acct, px, qty, flags, ts):
    """Run one command through the kernel; returns the next event index."""
    c = cmd[0]
    c.op = op
    c.side = side
    c.otype = LIMIT
    c.tif = tif
    c.stp = 0
    c.reason = 0
    c.pexp = PX_EXP
    c.qexp = 0
    c.flags = flags | F_TS
    c.sym = 0
    c.oid = oid
    c.acct = acct
    c.px = px
    c.qty = qty
    c.ts = ts
    c.line = 0
    k0 = k
    _, k, status = run(st, cmd, 0, ev, k)
    if status != OK:
        stats[S_BROKEN] += 1
    for j in range(k0, k):
        if ev[j].kind == REJECTED:
            stats[S_REJECTS] += 1
    return k


@njit(cache=True, inline="always")
def _cancel(st, cmd, ev, k, stats, oid, ts):
    return _command(st, cmd, ev, k, stats, CANCEL, 0, GTC, oid, 0, 0, 0, 0, ts)


@njit(cache=True, inline="always")
def _amend_down(st, cmd, ev, k, stats, oid, qty, ts):
    return _command(st, cmd, ev, k, stats, AMEND, 0, GTC, oid, 0, 0, qty, F_QTY, ts)


@njit(cache=True, inline="always")
def _add_synthetic(st, cmd, ev, k, stats, side, px, qty, ts):
    oid = SYNTH_BASE + stats[S_SYNTH_NEXT]
    stats[S_SYNTH_NEXT] += 1
    return _command(st, cmd, ev, k, stats, NEW, side, GTC, oid, SEED_ACCT, px, qty, 0, ts)


@njit(cache=True, inline="always")
def _better(side, a, b):
    return a > b if side == BUY else a < b


@njit(cache=True, inline="always")
def _find_level(st, b, side, px):
    """Level slot holding px in book b, or -1 (scans from the best level: LOBSTER works near it)."""
    arr = st.b_lv[b]
    for pos in range(st.b_n[b] - 1, -1, -1):
        lv = arr[pos]
        p = st.l_px[lv]
        if p == px:
            return lv
        if _better(side, px, p):
            return -1
    return -1


@njit(cache=True, inline="always")
def _drop_level(st, cmd, ev, k, stats, lv, ts):
    """Cancel every order of a level."""
    o = st.l_head[lv]
    for _ in range(st.l_count[lv]):
        nxt = st.o_next[o]
        k = _cancel(st, cmd, ev, k, stats, st.o_oid[o], ts)
        o = nxt
    return k


@njit(cache=True, inline="always")
def _cut_level(st, cmd, ev, k, stats, lv, amount, ts):
    """Remove amount shares from a level: synthetic orders first, then the newest orders first."""
    if amount >= st.l_qty[lv]:
        return _drop_level(st, cmd, ev, k, stats, lv, ts)
    for synthetic_only in (True, False):
        o = st.l_tail[lv]
        while amount > 0 and o != EMPTY:
            prv = st.o_prev[o]
            oid = st.o_oid[o]
            if oid >= SYNTH_BASE or not synthetic_only:
                q = st.o_qty[o]
                if q <= amount:
                    amount -= q
                    k = _cancel(st, cmd, ev, k, stats, oid, ts)
                else:
                    k = _amend_down(st, cmd, ev, k, stats, oid, q - amount, ts)
                    amount = 0
            o = prv
    return k


@njit(cache=True, inline="always")
def _file_levels(row, L, side):
    """Occupied levels of one side in an orderbook row (LOBSTER pads with size-0 placeholders)."""
    off = 2 if side == BUY else 0
    n = 0
    while n < L and row[4 * n + off + 1] > 0:
        n += 1
    return n


@njit(cache=True, inline="always")
def resync(st, cmd, ev, k, stats, row, L, ts):
    """Make the engine's top levels equal an orderbook row; deeper engine levels stay as they are."""
    changed = False
    # pass 1, both sides: drop levels the row says are gone, shrink levels that are too big
    for side in (BUY, SELL):
        b = side
        off = 2 if side == BUY else 0
        nf = _file_levels(row, L, side)
        full = nf == L
        j = 0
        pos = st.b_n[b] - 1
        while pos >= 0:
            lv = st.b_lv[b, pos]
            p = st.l_px[lv]
            while j < nf and _better(side, row[4 * j + off], p):
                j += 1
            if j < nf and row[4 * j + off] == p:
                extra = st.l_qty[lv] - row[4 * j + off + 1]
                if extra > 0:
                    stats[S_SYNC_CUT_QTY] += extra
                    k = _cut_level(st, cmd, ev, k, stats, lv, extra, ts)
                    changed = True
                j += 1
            elif j < nf or not full:  # inside the visible range but not in the row: gone
                stats[S_SYNC_DROPS] += 1
                stats[S_SYNC_CUT_QTY] += st.l_qty[lv]
                k = _drop_level(st, cmd, ev, k, stats, lv, ts)
                changed = True
            else:
                break  # beyond the row's depth: unknown, left alone
            pos -= 1
    # pass 2: add what is missing as synthetic orders at the back of their level
    for side in (BUY, SELL):
        off = 2 if side == BUY else 0
        for j in range(_file_levels(row, L, side)):
            px = row[4 * j + off]
            lv = _find_level(st, side, side, px)
            have = st.l_qty[lv] if lv >= 0 else 0
            want = row[4 * j + off + 1]
            if have < want:
                stats[S_SYNC_ADDS] += 1
                stats[S_SYNC_ADD_QTY] += want - have
                k = _add_synthetic(st, cmd, ev, k, stats, side, px, want - have, ts)
                changed = True
    if changed:
        stats[S_SYNC_ROWS] += 1
    return k


@njit(cache=True, inline="always")
def compare(st, row, L):
    """(best bid and ask match, all L levels match) between the engine and an orderbook row."""
    best = True
    every = True
    for side in (BUY, SELL):
        b = side
        off = 2 if side == BUY else 0
        n = st.b_n[b]
        for j in range(L):
            fsz = row[4 * j + off + 1]
            if j < n:
                lv = st.b_lv[b, n - 1 - j]
                same = fsz > 0 and st.l_px[lv] == row[4 * j + off] and st.l_qty[lv] == fsz
            else:
                same = fsz == 0
            if not same:
                every = False
                if j == 0:
                    best = False
    return best, every


@njit(cache=True, inline="always")
def _remove(st, cmd, ev, k, stats, side, oid, px, size, delete, ts):
    """Type 2/3: take size shares off order oid; what it does not hold comes off its level."""
    rest = size
    h = hash_find(st.h_key, oid)
    if h >= 0:
        o = st.h_val[h]
        if st.o_book[o] == side and st.o_px[o] == px:
            q = st.o_qty[o]
            if q <= rest:
                rest -= q
                k = _cancel(st, cmd, ev, k, stats, oid, ts)
            else:
                if delete:
                    stats[S_EXCESS_DELETE] += 1
                k = _amend_down(st, cmd, ev, k, stats, oid, q - rest, ts)
                rest = 0
    if rest > 0:
        if rest == size:
            stats[S_UNSEEN_CANCEL] += 1
        lv = _find_level(st, side, side, px)
        if lv < 0:
            stats[S_NO_LEVEL] += 1
        else:
            k = _cut_level(st, cmd, ev, k, stats, lv, rest, ts)
    return k


@njit(cache=True, inline="always")
def _queue_position(st, oid):
    """(live, open qty, orders ahead in its level) of an order in the engine."""
    h = hash_find(st.h_key, oid)
    if h < 0:
        return 0, 0, 0
    o = st.h_val[h]
    ahead = 0
    p = st.o_prev[o]
    while p != EMPTY:
        ahead += 1
        p = st.o_prev[p]
    return 1, st.o_qty[o], ahead


@njit(cache=True, inline="always")
def _execute(st, cmd, ev, k, stats, cls, examples, line, seen, side, oid, px, size, ts):
    """Type 4: an IOC taker from the other side at the execution's price and size; classify the maker."""
    live, open_, ahead = _queue_position(st, oid)
    k0 = k
    k = _command(st, cmd, ev, k, stats, NEW, 1 - side, IOC, TAKER_BASE + line, TAKER_ACCT, px, size, 0, ts)
    filled = 0
    first = -1
    only_oid = True
    off_price = False
    for j in range(k0, k):
        e = ev[j]
        if e.kind == FILL:
            if first < 0:
                first = e.maker
            filled += e.qty
            only_oid = only_oid and e.maker == oid
            off_price = off_price or e.px != px
    if filled == 0:
        c = X_SHORT
    elif off_price:
        c = X_PRICE
    elif only_oid and filled == size:
        c = X_MATCH
    elif first == oid:
        c = X_SPLIT
    elif filled < size:
        c = X_SHORT
    elif first >= SYNTH_BASE:
        c = X_SEED
    else:
        c = X_OTHER
    u = 0 if seen else 1
    if cls[u, c] == 0:
        x = examples[u, c]
        x[0] = line
        x[1] = oid
        x[2] = first
        x[3] = px
        x[4] = size
        x[5] = live
        x[6] = open_
        x[7] = ahead
    cls[u, c] += 1
    return k


@njit(cache=True, inline="always")
def room_need(st, ev, k, L):
    """0 when one more message (with its re-sync) surely fits, else the kernel's NEED_* code to grow."""
    adds = 2 * L + 4
    if len(st.o_oid) - st.meta[M_LIVE] < adds:
        return 2
    if len(st.l_px) - st.b_n.sum() < adds:
        return 3
    if max(st.b_n[0], st.b_n[1]) + adds >= st.b_lv.shape[1]:
        return 4
    if (st.meta[3] + adds) * 2 >= len(st.h_key):
        return 5
    if len(ev) - k < 4 * (st.b_orders[0] + st.b_orders[1]) + 8 * L + 32:
        return 1
    return 0


@njit(cache=True)
def replay_messages(st, msgs, seen, book, L, check, start, ev, k, keep, cmd, stats, cls, examples):
    """Replay messages from index start; returns (next message, next event index, status).

    book has one row per message (or none: no seeding, no re-sync). keep: events accumulate in ev
    (status FLUSH asks Python to take them) instead of being overwritten message by message."""
    n = msgs.shape[0]
    has_book = book.shape[0] > 0
    i = start
    while i < n:
        need = room_need(st, ev, k, L)
        if need != 0:
            if keep and k > 0:
                return i, k, FLUSH
            return i, k, need
        if keep and k > len(ev) // 2:
            return i, k, FLUSH
        if not keep:
            k = 0
        m = msgs[i]
        t = m[C_TYPE]
        ts = m[C_TIME]
        side = BUY if m[C_DIR] == 1 else SELL
        stats[S_TYPE + t] += 1
        stats[S_SHARES + t] += m[C_SIZE]
        if t == 1:
            k0 = k
            k = _command(st, cmd, ev, k, stats, NEW, side, GTC, m[C_OID], LOBSTER_ACCT, m[C_PX], m[C_SIZE], 0, ts)
            for j in range(k0, k):
                if ev[j].kind == FILL:
                    stats[S_CROSSED] += 1
                    break
        elif t == 2 or t == 3:
            k = _remove(st, cmd, ev, k, stats, side, m[C_OID], m[C_PX], m[C_SIZE], t == 3, ts)
        elif t == 4:
            k = _execute(st, cmd, ev, k, stats, cls, examples, i + 1, seen[i], side, m[C_OID],
                         m[C_PX], m[C_SIZE], ts)
        elif t == 7:
            if m[C_PX] == -1:
                stats[S_HALT] += 1
            elif m[C_PX] == 0:
                stats[S_QUOTE_RESUME] += 1
            else:
                stats[S_TRADE_RESUME] += 1
        # types 5 (hidden execution) and 6 (cross trade) leave the visible book alone
        if has_book:
            row = book[i]
            if check:
                best, every = compare(st, row, L)
                stats[S_ROWS] += 1
                if best:
                    stats[S_BBO] += 1
                if every:
                    stats[S_ALL] += 1
            k = resync(st, cmd, ev, k, stats, row, L, ts)
            if check and not compare(st, row, L)[1]:
                stats[S_AFTER_SYNC] += 1
        if stats[S_BROKEN]:
            return i, k, BROKEN
        i += 1
    return i, k, OK


@njit(cache=True)
def scan_only(msgs):
    """The baseline for benchmarks: read every message once and do nothing with it."""
    total = 0
    for i in range(msgs.shape[0]):
        total += msgs[i, C_TYPE] + msgs[i, C_SIZE] + msgs[i, C_PX]
    return total
