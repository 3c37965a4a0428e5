"""The numba loop that replays LOBSTER messages through the kernel, checks and re-syncs the book.

Each message becomes one or a few engine commands, run by `engine.kernel.run`. After each
message the engine's top L levels are compared with the orderbook row (--check) and re-synced
to it, so levels from beyond the file's depth enter with the right size. One @njit call runs a
whole chunk of messages: no Python per message. `explain_mismatches` (plain Python) then says
why the engine's maker differed from LOBSTER's order where it did.
"""
import numpy as np
from kabuto.engine.codes import Ev, Flag, Op, OrdType, Side, Tif
from kabuto.engine.jit import njit
from kabuto.engine.kernel import NEED_BOOK_LEVELS, NEED_EVENTS, NEED_HASH, NEED_LEVELS, NEED_ORDERS, OK, run
from kabuto.engine.oidhash import hash_find
from kabuto.engine.state import EMPTY, M_HASH_USED, M_LIVE

# the LOBSTER instrument: prices are USD x 10000 (one tick = 0.0001), sizes whole shares
TICK_SIZE = "0.0001"
LOT_SIZE = "1"
PX_EXP = -4  # a price of N ticks is sent as N * 10**-4
EMPTY_ASK = 9999999999  # LOBSTER's placeholder for an unoccupied level
EMPTY_BID = -9999999999

# oids: LOBSTER ids are below SYNTH_BASE; synthetic (seeded/re-synced) orders count up from it;
# the IOC taker of the type-4 message on line N is TAKER_BASE + N
SYNTH_BASE = 10 ** 15
TAKER_BASE = 2 * 10 ** 15
# accounts (ids into the event encoder's account names)
LOBSTER_ACCT, SEED_ACCT, TAKER_ACCT = 0, 1, 2
ACCOUNT_NAMES = ("lobster", "seed", "taker")

# message columns after parsing
C_TIME, C_TYPE, C_OID, C_SIZE, C_PX, C_DIR = range(6)

# loop status: OK, the kernel's NEED_* codes (1..5), or these
FLUSH = 10  # the event buffer is half full: hand it to Python
NEED_CMDS = 11  # the command buffer is too small for a re-sync of every live order
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
S_EVENTS = 36  # events the engine printed
S_MISMATCHES = 37  # rows written to the mismatch list
N_STATS = 40

# type-4 maker classes (rows of `cls`: 0 = order seen being added in the file, 1 = not seen)
X_MATCH = 0  # every fill's maker is LOBSTER's order
X_SEED = 1  # the engine's maker is a synthetic (seeded or re-synced) order
X_OTHER = 2  # the engine's maker is another LOBSTER order, ahead of it in the engine's queue
X_SPLIT = 3  # the first maker is LOBSTER's order, but it held less than the executed size
X_SHORT = 4  # the engine filled less than the executed size
X_PRICE = 5  # a fill at another price than LOBSTER's
N_CLASSES = 6
# mismatch list columns: line, LOBSTER's order id, the engine's (first) maker, class, price, size,
# and before the execution: LOBSTER's order live in the engine, its open qty, orders ahead of it
N_MISMATCH = 9

NEW, CANCEL, AMEND = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND)
FILL, REJECTED = int(Ev.FILL), int(Ev.REJECTED)
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT = int(OrdType.LIMIT)
GTC, IOC = int(Tif.GTC), int(Tif.IOC)
F_TS, F_QTY = int(Flag.HAS_TS), int(Flag.HAS_QTY)


# Helpers read the state through its arrays and write commands into a buffer; the loop then
# makes one kernel.run call per message (and one per re-sync that has anything to do).

@njit(cache=True, _nrt=False, inline="always")
def _put(cmds, n, op, side, tif, oid, acct, px, qty, flags, ts):
    """Write one command into the buffer at n; returns n + 1."""
    c = cmds[n]
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
    return n + 1


@njit(cache=True, _nrt=False, inline="always")
def _better(side, a, b):
    return a > b if side == BUY else a < b


@njit(cache=True, _nrt=False, inline="always")
def _find_level(b_lv, b_n, l_px, side, px):
    """Level slot holding px in the book of side, or -1 (scans from the best: LOBSTER works near it)."""
    found = -1
    for pos in range(b_n[side] - 1, -1, -1):
        lv = b_lv[side, pos]
        p = l_px[lv]
        if p == px:
            found = lv
            break
        if _better(side, px, p):
            break
    return found


@njit(cache=True, _nrt=False, inline="always")
def _plan_cut(l_tail, o_prev, o_oid, o_qty, lv, amount, skip, cmds, n, ts):
    """Commands taking amount shares off a level: synthetic orders first, then the newest orders first."""
    for synthetic in (True, False):
        o = l_tail[lv]
        while amount > 0 and o != EMPTY:
            oid = o_oid[o]
            if oid != skip and (oid >= SYNTH_BASE) == synthetic:
                q = o_qty[o]
                if q <= amount:
                    amount -= q
                    n = _put(cmds, n, CANCEL, 0, GTC, oid, 0, 0, 0, 0, ts)
                else:
                    n = _put(cmds, n, AMEND, 0, GTC, oid, 0, 0, q - amount, F_QTY, ts)
                    amount = 0
            o = o_prev[o]
    return n


@njit(cache=True, _nrt=False, inline="always")
def _file_levels(row, L, side):
    """Occupied levels of one side in an orderbook row (LOBSTER pads with size-0 placeholders)."""
    off = 2 if side == BUY else 0
    n = 0
    while n < L and row[4 * n + off + 1] > 0:
        n += 1
    return n


@njit(cache=True, _nrt=False)
def _plan_resync(b_lv, b_n, l_px, l_qty, l_head, l_tail, o_next, o_prev, o_oid, o_qty, row, L, cmds, stats, ts):
    """Commands making the engine's top levels equal an orderbook row; deeper levels stay as they are.

    Removals come first (levels the row says are gone, levels too big), then the missing
    quantity as synthetic orders at the back of their levels."""
    n = 0
    for side in (BUY, SELL):
        off = 2 if side == BUY else 0
        nf = _file_levels(row, L, side)
        j = 0
        for pos in range(b_n[side] - 1, -1, -1):
            lv = b_lv[side, pos]
            p = l_px[lv]
            while j < nf and _better(side, row[4 * j + off], p):
                j += 1
            if j < nf and row[4 * j + off] == p:
                extra = l_qty[lv] - row[4 * j + off + 1]
                if extra > 0:
                    stats[S_SYNC_CUT_QTY] += extra
                    n = _plan_cut(l_tail, o_prev, o_oid, o_qty, lv, extra, -1, cmds, n, ts)
                j += 1
            elif j < nf or nf < L:  # inside the row's visible range but not in it: gone
                stats[S_SYNC_DROPS] += 1
                stats[S_SYNC_CUT_QTY] += l_qty[lv]
                o = l_head[lv]
                while o != EMPTY:
                    n = _put(cmds, n, CANCEL, 0, GTC, o_oid[o], 0, 0, 0, 0, ts)
                    o = o_next[o]
            else:
                break  # beyond the row's depth: unknown, left alone
    for side in (BUY, SELL):
        off = 2 if side == BUY else 0
        for j in range(_file_levels(row, L, side)):
            px = row[4 * j + off]
            lv = _find_level(b_lv, b_n, l_px, side, px)
            have = l_qty[lv] if lv >= 0 else 0
            want = row[4 * j + off + 1]
            if have < want:
                stats[S_SYNC_ADDS] += 1
                stats[S_SYNC_ADD_QTY] += want - have
                n = _put(cmds, n, NEW, side, GTC, SYNTH_BASE + stats[S_SYNTH_NEXT], SEED_ACCT, px,
                         want - have, 0, ts)
                stats[S_SYNTH_NEXT] += 1
    return n


@njit(cache=True, _nrt=False, inline="always")
def _compare(b_lv, b_n, l_px, l_qty, row, L):
    """(best bid and ask match, all L levels match) between the engine and an orderbook row."""
    best = True
    every = True
    for side in (BUY, SELL):
        off = 2 if side == BUY else 0
        n = b_n[side]
        for j in range(L):
            fsz = row[4 * j + off + 1]
            if j < n:
                lv = b_lv[side, n - 1 - j]
                same = fsz > 0 and l_px[lv] == row[4 * j + off] and l_qty[lv] == fsz
            else:
                same = fsz == 0
            if not same:
                every = False
                if j == 0:
                    best = False
    return best, every


@njit(cache=True, _nrt=False, inline="always")
def _plan_remove(h_key, h_val, o_book, o_px, o_qty, o_oid, o_prev, l_tail, b_lv, b_n, l_px,
                 side, oid, px, size, delete, cmds, stats, ts):
    """Type 2/3: take size shares off order oid; what it does not hold comes off its level (synthetic first)."""
    n = 0
    rest = size
    h = hash_find(h_key, oid)
    if h >= 0:
        o = h_val[h]
        if o_book[o] == side and o_px[o] == px:
            q = o_qty[o]
            if q <= rest:
                rest -= q
                n = _put(cmds, n, CANCEL, 0, GTC, oid, 0, 0, 0, 0, ts)
            else:
                if delete:
                    stats[S_EXCESS_DELETE] += 1
                n = _put(cmds, n, AMEND, 0, GTC, oid, 0, 0, q - rest, F_QTY, ts)
                rest = 0
    if rest > 0:
        if rest == size:
            stats[S_UNSEEN_CANCEL] += 1
        lv = _find_level(b_lv, b_n, l_px, side, px)
        if lv < 0:
            stats[S_NO_LEVEL] += 1
        else:
            n = _plan_cut(l_tail, o_prev, o_oid, o_qty, lv, rest, oid, cmds, n, ts)
    return n


@njit(cache=True, _nrt=False, inline="always")
def _queue_position(h_key, h_val, o_prev, o_qty, oid):
    """(live, open qty, orders ahead in its level) of an order in the engine."""
    live = 0
    open_ = 0
    ahead = 0
    h = hash_find(h_key, oid)
    if h >= 0:
        o = h_val[h]
        live = 1
        open_ = o_qty[o]
        p = o_prev[o]
        while p != EMPTY:
            ahead += 1
            p = o_prev[p]
    return live, open_, ahead


@njit(cache=True, _nrt=False)
def _classify(ev, k0, k, cls, mism, stats, line, seen, oid, px, size, live, open_, ahead):
    """Record which maker the engine chose for a type-4 execution (events ev[k0:k])."""
    filled = 0
    first = -1
    only_oid = True
    off_price = False
    for j in range(k0, k):
        if ev[j].kind == FILL:
            if first < 0:
                first = ev[j].maker
            filled += ev[j].qty
            only_oid = only_oid and ev[j].maker == oid
            off_price = off_price or ev[j].px != px
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
    cls[0 if seen else 1, c] += 1
    if c != X_MATCH and not (c == X_SEED and not seen) and stats[S_MISMATCHES] < len(mism):
        r = mism[stats[S_MISMATCHES]]
        r[0] = line
        r[1] = oid
        r[2] = first
        r[3] = c
        r[4] = px
        r[5] = size
        r[6] = live
        r[7] = open_
        r[8] = ahead
        stats[S_MISMATCHES] += 1


@njit(cache=True, _nrt=False)
def _count(ev, k0, k, stats, crossed):
    stats[S_EVENTS] += k - k0
    for j in range(k0, k):
        kind = ev[j].kind
        if kind == REJECTED:
            stats[S_REJECTS] += 1
        elif kind == FILL and crossed:
            stats[S_CROSSED] += 1
            crossed = False


@njit(cache=True, _nrt=False)
def seed(st, row, L, cmds, ev, stats, ts):
    """Place the orderbook row as synthetic orders on an empty engine; returns the events written."""
    n = _plan_resync(st.b_lv, st.b_n, st.l_px, st.l_qty, st.l_head, st.l_tail, st.o_next, st.o_prev,
                     st.o_oid, st.o_qty, row, L, cmds, stats, ts)
    _, k, status = run(st, cmds[:n], 0, ev, 0)
    stats[S_SEEDED] += n
    _count(ev, 0, k, stats, False)
    if status != OK:
        stats[S_BROKEN] += 1
    return k


@njit(cache=True, _nrt=False)
def replay_messages(st, msgs, seen, book, L, check, start, ev, k, keep, cmds, stats, cls, mism):
    """Replay messages from index start; returns (next message, next event index, status).

    book has one row per message (or none: no seeding, no re-sync). Type-4 executions whose maker
    is not LOBSTER's order go to mism (see N_MISMATCH). keep: events accumulate in ev
    (status FLUSH asks Python to take them) instead of being overwritten message by message.
    Any other status names a capacity for Python to grow (the kernel's NEED_* codes, NEED_CMDS)."""
    b_lv, b_n, l_px, l_qty, l_head, l_tail = st.b_lv, st.b_n, st.l_px, st.l_qty, st.l_head, st.l_tail
    o_next, o_prev, o_oid, o_qty, o_px, o_book = st.o_next, st.o_prev, st.o_oid, st.o_qty, st.o_px, st.o_book
    h_key, h_val, meta = st.h_key, st.h_val, st.meta
    n_msgs = msgs.shape[0]
    has_book = book.shape[0] > 0
    adds = 2 * L + 4  # most orders and levels one message and its re-sync can add
    i = start
    status = OK
    while i < n_msgs:
        if not keep:
            k = 0
        # room for the worst case of this message and its re-sync, so the kernel never stops
        live = meta[M_LIVE]
        if len(o_oid) - live < adds:
            status = NEED_ORDERS
        elif len(l_px) - b_n[0] - b_n[1] < adds:
            status = NEED_LEVELS
        elif max(b_n[0], b_n[1]) + adds >= b_lv.shape[1]:
            status = NEED_BOOK_LEVELS
        elif (meta[M_HASH_USED] + adds) * 2 >= len(h_key):
            status = NEED_HASH
        elif len(cmds) < live + 2 * adds:
            status = NEED_CMDS
        elif len(ev) - k < 6 * live + 8 * adds + 64:
            status = FLUSH if keep and k > 0 else NEED_EVENTS
        elif keep and k > len(ev) // 2:
            status = FLUSH
        if status != OK:
            break
        t = msgs[i, C_TYPE]
        ts = msgs[i, C_TIME]
        oid = msgs[i, C_OID]
        size = msgs[i, C_SIZE]
        px = msgs[i, C_PX]
        side = BUY if msgs[i, C_DIR] == 1 else SELL
        stats[S_TYPE + t] += 1
        stats[S_SHARES + t] += size
        n = 0
        x_live = x_open = x_ahead = 0
        if t == 1:
            n = _put(cmds, 0, NEW, side, GTC, oid, LOBSTER_ACCT, px, size, 0, ts)
        elif t == 2 or t == 3:
            n = _plan_remove(h_key, h_val, o_book, o_px, o_qty, o_oid, o_prev, l_tail, b_lv, b_n, l_px,
                             side, oid, px, size, t == 3, cmds, stats, ts)
        elif t == 4:  # the engine matches an IOC taker from the other side
            x_live, x_open, x_ahead = _queue_position(h_key, h_val, o_prev, o_qty, oid)
            n = _put(cmds, 0, NEW, 1 - side, IOC, TAKER_BASE + i + 1, TAKER_ACCT, px, size, 0, ts)
        elif t == 7:
            if px == -1:
                stats[S_HALT] += 1
            elif px == 0:
                stats[S_QUOTE_RESUME] += 1
            else:
                stats[S_TRADE_RESUME] += 1
        # types 5 (hidden execution) and 6 (cross trade) leave the visible book alone
        if n:
            k0 = k
            _, k, status = run(st, cmds[:n], 0, ev, k)
            if status != OK:
                stats[S_BROKEN] += 1
                break
            _count(ev, k0, k, stats, t == 1)
            if t == 4:
                _classify(ev, k0, k, cls, mism, stats, i + 1, seen[i], oid, px, size,
                          x_live, x_open, x_ahead)
        if has_book:
            row = book[i]
            best, every = _compare(b_lv, b_n, l_px, l_qty, row, L)
            if check:
                stats[S_ROWS] += 1
                if best:
                    stats[S_BBO] += 1
                if every:
                    stats[S_ALL] += 1
            if not every:
                n = _plan_resync(b_lv, b_n, l_px, l_qty, l_head, l_tail, o_next, o_prev, o_oid, o_qty,
                                 row, L, cmds, stats, ts)
                if n:
                    stats[S_SYNC_ROWS] += 1
                    k0 = k
                    _, k, status = run(st, cmds[:n], 0, ev, k)
                    if status != OK:
                        stats[S_BROKEN] += 1
                        break
                    _count(ev, k0, k, stats, False)
                if check and not _compare(b_lv, b_n, l_px, l_qty, row, L)[1]:
                    stats[S_AFTER_SYNC] += 1
        i += 1
    if stats[S_BROKEN]:
        status = BROKEN
    return i, k, status


@njit(cache=True, _nrt=False)
def scan_only(msgs):
    """The benchmarks' baseline: read every message once and do nothing with it."""
    total = 0
    for i in range(msgs.shape[0]):
        total += msgs[i, C_TYPE] + msgs[i, C_SIZE] + msgs[i, C_PX]
    return total


# ---------------------------------------------------------------- why a type-4 maker differed

CAUSES = (
    ("stale", "the engine's maker sat at a level that had left the file's depth since it was added: "
              "it was most likely cancelled there, unseen (LOBSTER drops messages beyond the depth)"),
    ("knock-on", "the engine's maker was already gone in LOBSTER: an earlier execution LOBSTER gave to it "
                 "had gone to another order in the engine"),
    ("sweep", "one aggressive order took both at the same timestamp and Nasdaq reported LOBSTER's order "
              "first, though the engine's maker arrived earlier in the file"),
    ("older id", "LOBSTER's order has an older order id than the engine's maker, which the engine had "
                 "ahead of it: Nasdaq kept the older order's time priority (orders re-entered at the open)"),
    ("seeded ahead", "quantity of unknown orders (seeded, or re-synced from beyond the depth) was ahead of "
                     "LOBSTER's order in the engine's queue"),
    ("held too little", "LOBSTER's order held less in the engine than it executed: part of it had gone to an "
                        "earlier execution that LOBSTER gave to another order"),
    ("book", "the engine's level at that price held less than the execution, or a better price"),
    ("other", "the engine's maker was older in the file, live and in view, yet Nasdaq executed LOBSTER's "
              "order first: its priority was not plain arrival order here, which the files cannot explain"),
)


def explain_mismatches(msgs: np.ndarray, book: np.ndarray, L: int, seen: np.ndarray,
                       mism: np.ndarray) -> list[tuple[str, str, list[int], list[int]]]:
    """(cause, explanation, [seen, not seen] counts, its first mismatch row) per cause that occurred."""
    oids = msgs[:, C_OID]
    order = np.argsort(oids, kind="stable")
    sorted_ids = oids[order]
    # per row, the deepest visible price of each side: a price beyond it is out of the file's view
    deepest = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(book) and L:
        deepest = (np.where(book[:, 4 * L - 1] > 0, book[:, 4 * L - 2], -EMPTY_ASK),  # bids
                   np.where(book[:, 4 * L - 3] > 0, book[:, 4 * L - 4], EMPTY_ASK))  # asks
    counts = {name: [0, 0] for name, _ in CAUSES}
    first: dict[str, list[int]] = {}
    for row in mism.tolist():
        line, oid, maker, c = row[:4]
        i = line - 1
        cause = _cause(msgs, deepest, order, sorted_ids, i, oid, maker, c)
        counts[cause][0 if seen[i] else 1] += 1
        first.setdefault(cause, row)
    return [(name, why, counts[name], first[name]) for name, why in CAUSES if name in first]


def _cause(msgs, deepest, order, sorted_ids, i, oid, maker, c) -> str:
    if c == X_SEED:
        return "seeded ahead"
    if c == X_SPLIT:
        return "held too little"
    if c != X_OTHER:
        return "book"
    lo, hi = np.searchsorted(sorted_ids, [maker, maker + 1])
    refs = order[lo:hi]  # rows that name the engine's maker, in file order
    adds = refs[msgs[refs, C_TYPE] == 1]
    if len(adds) == 0:
        return "other"
    added = adds[0]
    before = refs[(refs > added) & (refs < i)]
    used = msgs[before, C_SIZE][np.isin(msgs[before, C_TYPE], (2, 3, 4))].sum()
    if used >= msgs[added, C_SIZE]:
        return "knock-on"
    after = refs[refs > i]
    if len(after) and msgs[after[0], C_TYPE] == 4 and msgs[after[0], C_TIME] == msgs[i, C_TIME]:
        return "sweep"
    if len(deepest[0]):
        px = msgs[i, C_PX]
        if msgs[added, C_DIR] == 1:
            gone = (deepest[0][added:i] > px).any()
        else:
            gone = (deepest[1][added:i] < px).any()
        if gone:
            return "stale"
    if oid < maker:
        return "older id"
    return "other"
