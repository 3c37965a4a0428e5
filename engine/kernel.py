"""The matching kernel: one @njit call runs a batch of command records and writes event records.

Every function is compiled with _nrt=False: the kernel never allocates, and without numba's
reference counting (atomic increfs of ~30 arrays per call) it ran 3x faster. The helpers that
take the state are inlined at numba level: a call passes every array of the state exploded into
scalars (~200 arguments), which cost more than the matching itself. The price is a longer first
compile, paid once (cache=True)."""
import numpy as np
from kabuto.engine.codes import Ev, Flag, HaltCause, Op, OrdType, Reason, Side, Status, StatusReason, Stp, Tif
from kabuto.engine.oidhash import EMPTY, hash_delete, hash_find, hash_home, hash_put
from kabuto.engine.state import (
    M_CALLS,
    M_FREE_LEVEL,
    M_FREE_ORDER,
    M_HALT_ALL,
    M_HASH_USED,
    M_LIVE,
    M_NEXT_TIMER,
    M_NOW,
    M_TIME,
    NO_TIMER,
)
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# kernel return status: why it stopped before the end of the batch
OK = 0
NEED_EVENTS = 1
NEED_ORDERS = 2
NEED_LEVELS = 3
NEED_BOOK_LEVELS = 4
NEED_HASH = 5

# integer constants as module globals so numba freezes them
NEW, CANCEL, AMEND, REF, REJECT = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND), int(Op.REF), int(Op.REJECT)
ACCEPTED, FILL, CANCELED, AMENDED, REJECTED = (int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED),
                                              int(Ev.AMENDED), int(Ev.REJECTED))
BUY = int(Side.BUY)
LIMIT, MARKET = int(OrdType.LIMIT), int(OrdType.MARKET)
GTC, FOK_TIF, POST = int(Tif.GTC), int(Tif.FOK), int(Tif.POST)
S_OLDEST, S_NEWEST, S_BOTH, S_DECR = (int(Stp.CANCEL_OLDEST), int(Stp.CANCEL_NEWEST),
                                      int(Stp.CANCEL_BOTH), int(Stp.DECREMENT))
R_NONE, R_UNKNOWN_ORDER, R_OUTSIDE_BAND = int(Reason.NONE), int(Reason.UNKNOWN_ORDER), int(Reason.OUTSIDE_BAND)
R_MALFORMED, R_UNKNOWN_SYMBOL, R_BAD_TIF, R_BAD_STP = (int(Reason.MALFORMED), int(Reason.UNKNOWN_SYMBOL),
                                                      int(Reason.BAD_TIF), int(Reason.BAD_STP))
R_DUP, R_WOULD_TAKE = int(Reason.DUPLICATE_OID), int(Reason.WOULD_TAKE)
R_USER, R_IOC, R_FOK, R_STP, R_BAND = (int(Reason.USER), int(Reason.IOC), int(Reason.FOK),
                                       int(Reason.STP), int(Reason.BAND))
F_HAS_TS, F_HAS_PX, F_HAS_QTY, F_HAS_OID, F_BAND_ON = (int(Flag.HAS_TS), int(Flag.HAS_PX), int(Flag.HAS_QTY),
                                                      int(Flag.HAS_OID), int(Flag.BAND_ON))
F_TIMER = int(Flag.TIMER)
TIMED = F_HAS_TS | F_TIMER  # the flags of a timer's events
PREFETCH = 6
R_BAD_PRICE, R_BAD_QTY = int(Reason.BAD_PRICE), int(Reason.BAD_QTY)
MAX_UNITS = 1 << 40
# market integrity (docs/market-integrity.md)
HALT, RESUME, HALT_ALL, RESUME_ALL, TICK = (int(Op.HALT), int(Op.RESUME), int(Op.HALT_ALL), int(Op.RESUME_ALL),
                                           int(Op.TICK))
STATUS, INDICATIVE, UNCROSS = int(Ev.STATUS), int(Ev.INDICATIVE), int(Ev.UNCROSS)
R_HALTED, R_NOT_HALTED, R_AUCTION_ONLY = int(Reason.HALTED), int(Reason.NOT_HALTED), int(Reason.AUCTION_ONLY)
ST_CONTINUOUS, ST_CALL, ST_HALTED = int(Status.CONTINUOUS), int(Status.CALL), int(Status.HALTED)
SR_REOPEN, SR_CALL_END = int(StatusReason.REOPEN), int(StatusReason.CALL_END)
SR_MARKET_WIDE = int(StatusReason.MARKET_WIDE)  # the reasons of the causes follow in HaltCause bit order
HC_MARKET_WIDE, HC_OPERATOR = int(HaltCause.MARKET_WIDE), int(HaltCause.OPERATOR)
NO_SIDE = 2  # indicative: no imbalance


@njit(cache=True, _nrt=False, inline="always")
def _to_steps(mant, exp, smant, sexp):
    """Whole steps in mant * 10**exp for a step of smant * 10**sexp, or -1 when not a valid multiple."""
    if mant <= 0:
        return -1
    e = exp - sexp
    if e == 0 and smant == 1:
        return mant if mant <= MAX_UNITS else -1
    if e < 0:
        # the decoder strips trailing zeros, but callers may not: scale the step instead
        v = mant
        while e < 0:
            if v % 10:
                return -1
            v //= 10
            e += 1
    else:
        v = mant
    limit = MAX_UNITS * smant  # smant <= 100000 keeps this and v * 10 inside int64
    for _ in range(e):
        if v > limit:
            return -1
        v *= 10
    if v > limit or v % smant:
        return -1
    return v // smant


# ---------------------------------------------------------------- prefetch

@intrinsic
def _prefetch(typingctx, arr, idx):
    """Ask the CPU to start loading arr[idx] into the cache (LLVM's prefetch; no effect on results)."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(arr, idx), codegen


# ---------------------------------------------------------------- events

@njit(cache=True, _nrt=False, inline="always")
def _emit(ev, k, kind, reason, side, flags, sym, oid, px, qty, open_, maker, maker_acct, acct, ts, line):
    e = ev[k]
    e.kind = kind
    e.reason = reason
    e.side = side
    e.flags = flags
    e.sym = sym
    e.oid = oid
    e.px = px
    e.qty = qty
    e.open = open_
    e.maker = maker
    e.maker_acct = maker_acct
    e.acct = acct
    e.ts = ts
    e.line = line
    return k + 1


# ---------------------------------------------------------------- books and levels

@njit(cache=True, _nrt=False, inline="always")
def _better(side, a, b):
    """True when price a is strictly better than b for a book of this side."""
    return a > b if side == BUY else a < b


@njit(cache=True, _nrt=False, inline="always")
def _level_pos(st, b, side, px):
    """First position in book b whose price is not worse than px (levels are worst..best)."""
    lo = 0
    hi = st.b_n[b]
    arr = st.b_lv[b]
    while lo < hi:
        mid = (lo + hi) >> 1
        if _better(side, px, st.l_px[arr[mid]]):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, _nrt=False, inline="always")
def _remove_level(st, b, side, lv):
    n = st.b_n[b]
    arr = st.b_lv[b]
    if arr[n - 1] != lv:
        pos = _level_pos(st, b, side, st.l_px[lv])
        for i in range(pos, n - 1):
            arr[i] = arr[i + 1]
    st.b_n[b] = n - 1
    st.l_head[lv] = st.meta[M_FREE_LEVEL]
    st.meta[M_FREE_LEVEL] = lv


@njit(cache=True, _nrt=False, inline="always")
def _remove_order(st, o):
    """Take order slot o off its level and free it; drops the level when it empties."""
    lv = st.o_level[o]
    b = st.o_book[o]
    p = st.o_prev[o]
    n = st.o_next[o]
    if p == EMPTY:
        st.l_head[lv] = n
    else:
        st.o_next[p] = n
    if n == EMPTY:
        st.l_tail[lv] = p
    else:
        st.o_prev[n] = p
    st.l_qty[lv] -= st.o_qty[o]
    st.l_count[lv] -= 1
    if st.l_count[lv] == 0:
        _remove_level(st, b, b & 1, lv)
    hash_delete(st.h_key, st.h_val, hash_find(st.h_key, st.o_oid[o]))
    st.meta[M_HASH_USED] -= 1
    st.b_orders[b] -= 1
    st.meta[M_LIVE] -= 1
    st.o_level[o] = EMPTY
    st.o_next[o] = st.meta[M_FREE_ORDER]
    st.meta[M_FREE_ORDER] = o


@njit(cache=True, _nrt=False, inline="always")
def _rest(st, b, side, oid, acct, px, qty, stp, tif):
    """Put a new order at the back of its price level, creating the level if needed."""
    o = np.int32(st.meta[M_FREE_ORDER])
    st.meta[M_FREE_ORDER] = st.o_next[o]
    st.o_oid[o] = oid
    st.o_acct[o] = acct
    st.o_px[o] = px
    st.o_qty[o] = qty
    st.o_book[o] = b
    st.o_stp[o] = stp
    st.o_tif[o] = tif
    st.meta[M_TIME] += 1
    st.o_time[o] = st.meta[M_TIME]
    n = st.b_n[b]
    arr = st.b_lv[b]
    if n > 0 and st.l_px[arr[n - 1]] == px:  # the common case: joining the best level
        lv = arr[n - 1]
    else:
        pos = _level_pos(st, b, side, px)
        if pos < n and st.l_px[arr[pos]] == px:
            lv = arr[pos]
        else:
            lv = np.int32(st.meta[M_FREE_LEVEL])
            st.meta[M_FREE_LEVEL] = st.l_head[lv]
            st.l_px[lv] = px
            st.l_qty[lv] = 0
            st.l_count[lv] = 0
            st.l_head[lv] = EMPTY
            st.l_tail[lv] = EMPTY
            for i in range(n, pos, -1):
                arr[i] = arr[i - 1]
            arr[pos] = lv
            st.b_n[b] = n + 1
    t = st.l_tail[lv]
    st.o_prev[o] = t
    st.o_next[o] = EMPTY
    if t == EMPTY:
        st.l_head[lv] = o
    else:
        st.o_next[t] = o
    st.l_tail[lv] = o
    st.l_qty[lv] += qty
    st.l_count[lv] += 1
    st.o_level[o] = lv
    hash_put(st.h_key, st.h_val, oid, o)
    st.meta[M_HASH_USED] += 1
    st.b_orders[b] += 1
    st.meta[M_LIVE] += 1


@njit(cache=True, _nrt=False, inline="always")
def _crosses(side, otype, limit, px):
    """True when a taker of this side and limit would trade against a resting price px."""
    if otype == MARKET:
        return True
    return px <= limit if side == BUY else px >= limit


@njit(cache=True, _nrt=False, inline="always")
def _would_take(st, ob, side, limit):
    n = st.b_n[ob]
    return n > 0 and _crosses(side, LIMIT, limit, st.l_px[st.b_lv[ob, n - 1]])


@njit(cache=True, _nrt=False, inline="always")
def _fok_fills(st, ob, side, otype, limit, acct, stp, qty):
    """True when matching would fill qty completely (self-trade prevention included)."""
    avail = 0
    arr = st.b_lv[ob]
    for k in range(st.b_n[ob] - 1, -1, -1):
        lv = arr[k]
        if not _crosses(side, otype, limit, st.l_px[lv]):
            return False
        o = st.l_head[lv]
        while o != EMPTY:
            if st.o_acct[o] == acct:
                if stp != S_OLDEST:
                    return False  # matching stops (newest/both) or qty is decremented away
            else:
                avail += st.o_qty[o]
                if avail >= qty:
                    return True
            o = st.o_next[o]
    return False


@njit(cache=True, _nrt=False, inline="always")
def _match(st, ev, k, sym, side, otype, limit, oid, acct, stp, qty, fl, ts):
    """Match a taker against the opposite book. Returns (next event index, open qty left).

    An open qty of -1 means the taker was canceled by self-trade prevention."""
    ob = sym * 2 + (1 - side)
    arr = st.b_lv[ob]
    rem = qty
    while rem > 0 and st.b_n[ob] > 0:
        lv = arr[st.b_n[ob] - 1]
        lpx = st.l_px[lv]
        if not _crosses(side, otype, limit, lpx):
            break
        o = st.l_head[lv]
        last_in_level = st.l_count[lv] == 1
        while rem > 0:
            nxt = st.o_next[o]
            oq = st.o_qty[o]
            remove = False
            stop = False
            if st.o_acct[o] != acct:
                q = min(rem, oq)
                rem -= q
                st.o_qty[o] = oq - q
                st.l_qty[lv] -= q
                k = _emit(ev, k, FILL, R_NONE, side, fl, sym, oid, lpx, q, 0, st.o_oid[o],
                          st.o_acct[o], acct, ts, 0)
                st.i_last[sym] = lpx
                remove = oq == q
            elif stp == S_NEWEST:
                k = _emit(ev, k, CANCELED, R_STP, side, fl, sym, oid, 0, rem, 0, 0, 0, 0, ts, 0)
                return k, -1
            elif stp == S_DECR:
                d = min(rem, oq)
                st.o_qty[o] = oq - d
                st.l_qty[lv] -= d
                rem -= d
                k = _emit(ev, k, CANCELED, R_STP, 1 - side, fl, sym, st.o_oid[o], 0, d, oq - d, 0, 0, 0, ts, 0)
                k = _emit(ev, k, CANCELED, R_STP, side, fl, sym, oid, 0, d, rem, 0, 0, 0, ts, 0)
                remove = oq == d
                stop = rem == 0
            else:  # cancel_oldest, cancel_both: the resting order goes whole
                k = _emit(ev, k, CANCELED, R_STP, 1 - side, fl, sym, st.o_oid[o], 0, oq, 0, 0, 0, 0, ts, 0)
                remove = True
                stop = stp == S_BOTH
            if remove:  # the only removal site: _remove_order is inlined, keep its copies few
                _remove_order(st, o)
            if stop:
                if stp == S_BOTH:
                    k = _emit(ev, k, CANCELED, R_STP, side, fl, sym, oid, 0, rem, 0, 0, 0, 0, ts, 0)
                return k, -1
            if (remove and last_in_level) or nxt == EMPTY:
                break  # the level is gone or exhausted
            o = nxt
            last_in_level = st.l_count[lv] == 1
    return k, rem


@njit(cache=True, _nrt=False, inline="always")
def _new(st, c, ev, k):
    sym = c.sym
    side = c.side
    b = sym * 2 + side
    ob = b ^ 1
    fl = c.flags & F_HAS_TS
    ts = c.ts
    oid = c.oid
    px = 0
    if c.otype == LIMIT:
        px = _to_steps(c.px, c.pexp, st.i_tm[sym], st.i_te[sym])
        if px < 0:
            return _emit(ev, k, REJECTED, R_BAD_PRICE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    qty = _to_steps(c.qty, c.qexp, st.i_lm[sym], st.i_le[sym])
    if qty < st.i_minq[sym]:
        return _emit(ev, k, REJECTED, R_BAD_QTY, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    status = st.i_status[sym]
    if status == ST_HALTED:
        return _emit(ev, k, REJECTED, R_HALTED, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    call = status == ST_CALL
    if call and (c.otype == MARKET or c.tif != GTC):
        return _emit(ev, k, REJECTED, R_AUCTION_ONLY, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if c.otype == LIMIT and st.i_band[sym] and (px < st.i_lo[sym] or px > st.i_hi[sym]):
        return _emit(ev, k, REJECTED, R_OUTSIDE_BAND, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if hash_find(st.h_key, oid) >= 0:
        return _emit(ev, k, REJECTED, R_DUP, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if c.tif == POST and _would_take(st, ob, side, px):
        return _emit(ev, k, REJECTED, R_WOULD_TAKE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    pxf = F_HAS_PX if c.otype == LIMIT else 0
    k = _emit(ev, k, ACCEPTED, R_NONE, side, fl | pxf, sym, oid, px, qty, 0, 0, 0, c.acct, ts, 0)
    if call:  # a call takes limit GTC orders and matches nothing until its uncross
        _rest(st, b, side, oid, c.acct, px, qty, c.stp, c.tif)
        return k
    if c.tif == FOK_TIF and not _fok_fills(st, ob, side, c.otype, px, c.acct, c.stp, qty):
        return _emit(ev, k, CANCELED, R_FOK, side, fl, sym, oid, 0, qty, 0, 0, 0, 0, ts, 0)
    k, rem = _match(st, ev, k, sym, side, c.otype, px, oid, c.acct, c.stp, qty, fl, ts)
    if rem > 0:
        if c.otype == LIMIT and (c.tif == GTC or c.tif == POST):
            _rest(st, b, side, oid, c.acct, px, rem, c.stp, c.tif)
        else:
            k = _emit(ev, k, CANCELED, R_IOC, side, fl, sym, oid, 0, rem, 0, 0, 0, 0, ts, 0)
    return k


@njit(cache=True, _nrt=False, inline="always")
def _amend(st, c, ev, k):
    fl = c.flags & F_HAS_TS
    ts = c.ts
    oid = c.oid
    h = hash_find(st.h_key, oid)
    if h < 0:
        return _emit(ev, k, REJECTED, R_UNKNOWN_ORDER, 0, fl | F_HAS_OID, -1, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    o = st.h_val[h]
    b = st.o_book[o]
    sym = b >> 1
    side = b & 1
    px = st.o_px[o]
    if c.flags & F_HAS_PX:
        px = _to_steps(c.px, c.pexp, st.i_tm[sym], st.i_te[sym])
        if px < 0:
            return _emit(ev, k, REJECTED, R_BAD_PRICE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    qty = st.o_qty[o]
    if c.flags & F_HAS_QTY:
        qty = _to_steps(c.qty, c.qexp, st.i_lm[sym], st.i_le[sym])
        if qty < 0:
            return _emit(ev, k, REJECTED, R_BAD_QTY, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    status = st.i_status[sym]
    if status == ST_HALTED:
        return _emit(ev, k, REJECTED, R_HALTED, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if st.i_band[sym] and (px < st.i_lo[sym] or px > st.i_hi[sym]):
        return _emit(ev, k, REJECTED, R_OUTSIDE_BAND, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    call = status == ST_CALL
    if not call and st.o_tif[o] == POST and _would_take(st, b ^ 1, side, px):
        return _emit(ev, k, REJECTED, R_WOULD_TAKE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if px == st.o_px[o] and qty <= st.o_qty[o]:  # keeps time priority
        st.l_qty[st.o_level[o]] -= st.o_qty[o] - qty
        st.o_qty[o] = qty
        return _emit(ev, k, AMENDED, R_NONE, side, fl | F_HAS_PX, sym, oid, px, qty, 0, 0, 0, 0, ts, 0)
    acct = st.o_acct[o]
    stp = st.o_stp[o]
    tif = st.o_tif[o]
    _remove_order(st, o)
    k = _emit(ev, k, AMENDED, R_NONE, side, fl | F_HAS_PX, sym, oid, px, qty, 0, 0, 0, 0, ts, 0)
    rem = qty
    if not call:  # in a call the amended order rests at the back, unmatched
        k, rem = _match(st, ev, k, sym, side, LIMIT, px, oid, acct, stp, qty, fl, ts)
    if rem > 0:
        _rest(st, b, side, oid, acct, px, rem, stp, tif)
    return k


@njit(cache=True, _nrt=False, inline="always")
def _ref(st, c, ev, k):
    sym = c.sym
    if c.oid > 0:  # the reference in ticks, rounded half up: the auction price's nearest-reference rule
        st.i_ref[sym] = c.oid
    if not c.flags & F_BAND_ON:
        return k
    lo = c.px
    hi = c.qty
    st.i_band[sym] = 1
    st.i_lo[sym] = lo
    st.i_hi[sym] = hi
    fl = c.flags & F_HAS_TS
    for side in range(2):
        b = sym * 2 + side
        arr = st.b_lv[b]
        for pos in range(st.b_n[b] - 1, -1, -1):  # best first; removals only shift better levels
            lv = arr[pos]
            px = st.l_px[lv]
            if lo <= px <= hi:
                continue
            o = st.l_head[lv]
            while o != EMPTY:
                nxt = st.o_next[o]
                k = _emit(ev, k, CANCELED, R_BAND, side, fl, sym, st.o_oid[o], 0, st.o_qty[o],
                          0, 0, 0, 0, c.ts, 0)
                last = st.l_count[lv] == 1
                _remove_order(st, o)
                if last:
                    break
                o = nxt
    return k


# ---------------------------------------------------------------- market integrity: status, timers, auctions

@njit(cache=True, _nrt=False, inline="always")
def _status(st, ev, k, sym, status, reason, until, fl, ts):
    """Print a status event (until: end of a call, else 0)."""
    st.i_sreason[sym] = reason
    return _emit(ev, k, STATUS, reason, status, fl, sym, 0, 0, 0, until, 0, 0, 0, ts, 0)


@njit(cache=True, _nrt=False)
def _next_timer(st):
    """Recompute the earliest deadline of any timer (after a timer was set or cleared)."""
    d = NO_TIMER
    for s in range(len(st.i_tcall)):
        d = min(d, st.i_tcall[s], st.i_tind[s])
    st.meta[M_NEXT_TIMER] = d


@njit(cache=True, _nrt=False)
def _auction(st, sym):
    """The auction price of an instrument's book (docs/market-integrity.md 12.5): (price or -1, V, I)."""
    bb = 2 * sym
    ab = bb + 1
    nb = st.b_n[bb]
    na = st.b_n[ab]
    if nb == 0 or na == 0:
        return -1, 0, 0
    tot_b = 0
    for j in range(nb):
        tot_b += st.l_qty[st.b_lv[bb, j]]
    best_v = 0
    best_i = 0
    all_pos = True
    all_neg = True
    lo_kept = 0
    hi_kept = 0
    price = -1
    price_imb = 0
    dist = 0
    r2 = 2 * st.i_ref[sym] if st.i_ref[sym] > 0 else 2 * st.i_last[sym]
    # three walks over the distinct prices of both books, ascending: each price p, and the ticks
    # strictly between two neighbours, where V and I are those of the interval
    for walk in range(3):
        ib = 0  # bids ascending: worst (lowest) first
        ia = na - 1  # asks ascending: best (lowest) last in the book
        cum_b = 0  # bid quantity priced below the current price
        cum_a = 0  # ask quantity priced at or below the previous price
        while ib < nb or ia >= 0:
            x = MAX_UNITS + 1
            if ib < nb:
                x = st.l_px[st.b_lv[bb, ib]]
            if ia >= 0:
                x = min(x, st.l_px[st.b_lv[ab, ia]])
            qb = 0
            qa = 0
            if ib < nb and st.l_px[st.b_lv[bb, ib]] == x:
                qb = st.l_qty[st.b_lv[bb, ib]]
                ib += 1
            if ia >= 0 and st.l_px[st.b_lv[ab, ia]] == x:
                qa = st.l_qty[st.b_lv[ab, ia]]
                ia -= 1
            for part in range(2):
                if part == 0:  # the price itself
                    a = x
                    b = x
                    vb = tot_b - cum_b
                    vs = cum_a + qa
                else:  # the ticks up to the next price
                    if ib >= nb and ia < 0:
                        break
                    y = MAX_UNITS + 1
                    if ib < nb:
                        y = st.l_px[st.b_lv[bb, ib]]
                    if ia >= 0:
                        y = min(y, st.l_px[st.b_lv[ab, ia]])
                    if y - x < 2:
                        break
                    a = x + 1
                    b = y - 1
                    vb = tot_b - cum_b - qb
                    vs = cum_a + qa
                v = min(vb, vs)
                imb = vb - vs
                if walk == 0:  # 1. maximum volume, 2. then minimum imbalance
                    if v > best_v or (v == best_v and abs(imb) < best_i):
                        best_v = v
                        best_i = abs(imb)
                elif v == best_v and abs(imb) == best_i:
                    if walk == 1:  # 3. market pressure: all kept on one side?
                        all_pos = all_pos and imb > 0
                        all_neg = all_neg and imb < 0
                        if lo_kept == 0:
                            lo_kept = a
                        hi_kept = b
                    else:  # 4. nearest the reference, the lower on a tie
                        p = min(max(r2 >> 1, a), b)
                        d = abs(2 * p - r2)
                        if price < 0 or d < dist:
                            price = p
                            price_imb = imb
                            dist = d
            cum_b += qb
            cum_a += qa
        if walk == 0 and best_v == 0:
            return -1, 0, 0
        if walk == 1:
            if all_pos:
                return hi_kept, best_v, best_i
            if all_neg:
                return lo_kept, best_v, -best_i
            if r2 == 0:
                r2 = lo_kept + hi_kept
    return price, best_v, price_imb


@njit(cache=True, _nrt=False)
def _indicative(st, ev, k, sym, fl, ts, force):
    """Print the indicative event of a call when forced or when a field changed; sets its timer."""
    px, v, imb = _auction(st, sym)
    side = NO_SIDE
    if imb > 0:
        side = BUY
    elif imb < 0:
        side = 1 - BUY
    lo = -1
    hi = -1
    until = st.i_until[sym]
    row = st.i_ind[sym]
    if not force and (row[0] == px and row[1] == v and row[2] == abs(imb) and row[3] == side and row[4] == lo
                      and row[5] == hi and row[6] == until):
        return k
    row[0] = px
    row[1] = v
    row[2] = abs(imb)
    row[3] = side
    row[4] = lo
    row[5] = hi
    row[6] = until
    pxf = F_HAS_PX if px >= 0 else 0
    k = _emit(ev, k, INDICATIVE, R_NONE, side, fl | pxf, sym, 0, max(px, 0), v, abs(imb), lo, hi, until, ts, 0)
    st.i_tind[sym] = st.meta[M_NOW] + st.i_indns[sym]
    _next_timer(st)
    return k


@njit(cache=True, _nrt=False, inline="always")
def _leave_call(st, sym):
    """The instrument's call is over (ended or abandoned): its timers go."""
    st.meta[M_CALLS] -= 1
    st.i_tcall[sym] = NO_TIMER
    st.i_tind[sym] = NO_TIMER
    _next_timer(st)


@njit(cache=True, _nrt=False)
def _start_call(st, ev, k, sym, reason, length, fl, ts):
    """Begin a call of `length` ns (docs/market-integrity.md 12.1): status, timers, first indicative."""
    st.i_status[sym] = ST_CALL
    st.meta[M_CALLS] += 1
    until = st.meta[M_NOW] + length
    st.i_until[sym] = until
    st.i_tcall[sym] = until
    k = _status(st, ev, k, sym, ST_CALL, reason, until, fl, ts)
    return _indicative(st, ev, k, sym, fl, ts, True)


@njit(cache=True, _nrt=False)
def _uncross(st, ev, k, sym, price, qty, ts):
    """Fill qty at price between the best bids and the best asks, in time priority (12.7)."""
    fl = TIMED
    k = _emit(ev, k, UNCROSS, R_NONE, 0, fl | F_HAS_PX, sym, 0, price, qty, 0, 0, 0, 0, ts, 0)
    bb = 2 * sym
    rem = qty
    while rem > 0:
        bo = st.l_head[st.b_lv[bb, st.b_n[bb] - 1]]
        ao = st.l_head[st.b_lv[bb + 1, st.b_n[bb + 1] - 1]]
        q = min(rem, st.o_qty[bo], st.o_qty[ao])
        if st.o_time[bo] < st.o_time[ao]:
            maker = bo
            taker = ao
        else:
            maker = ao
            taker = bo
        k = _emit(ev, k, FILL, R_NONE, st.o_book[taker] & 1, fl, sym, st.o_oid[taker], price, q, 0,
                  st.o_oid[maker], st.o_acct[maker], st.o_acct[taker], ts, 0)
        rem -= q
        for j in range(2):
            o = bo if j == 0 else ao
            st.o_qty[o] -= q
            st.l_qty[st.o_level[o]] -= q
            if st.o_qty[o] == 0:
                _remove_order(st, o)
    st.i_last[sym] = price
    return k


@njit(cache=True, _nrt=False)
def _end_call(st, ev, k, sym, ts):
    """The timer call_end fired: uncross at the auction price, if any, and trade continuously (12.6)."""
    px, v, _ = _auction(st, sym)
    if px >= 0:
        k = _uncross(st, ev, k, sym, px, v, ts)
    st.i_status[sym] = ST_CONTINUOUS
    _leave_call(st, sym)
    return _status(st, ev, k, sym, ST_CONTINUOUS, SR_CALL_END, 0, TIMED, ts)


@njit(cache=True, _nrt=False, inline="always")
def _cause_reason(causes):
    """The status reason shown for a set of halt causes: its lowest bit's."""
    low = causes & -causes
    r = SR_MARKET_WIDE
    while low > 1:
        low >>= 1
        r += 1
    return r


@njit(cache=True, _nrt=False)
def _add_cause(st, ev, k, sym, cause, fl, ts):
    """Add a halt cause (section 11): halts the instrument, abandoning a call, or changes the reason shown."""
    old = st.i_causes[sym]
    new = old | cause
    st.i_causes[sym] = new
    if old == 0:
        if st.i_status[sym] == ST_CALL:  # abandoned without an uncross
            _leave_call(st, sym)
        st.i_status[sym] = ST_HALTED
        return _status(st, ev, k, sym, ST_HALTED, _cause_reason(new), 0, fl, ts)
    if _cause_reason(new) != _cause_reason(old):
        return _status(st, ev, k, sym, ST_HALTED, _cause_reason(new), 0, fl, ts)
    return k


@njit(cache=True, _nrt=False)
def _remove_cause(st, ev, k, sym, cause, fl, ts):
    """Remove a halt cause: the last one starts a reopening call, another may change the reason shown."""
    old = st.i_causes[sym]
    new = old & ~cause
    st.i_causes[sym] = new
    if new == old:
        return k
    if new != 0:
        if _cause_reason(new) != _cause_reason(old):
            return _status(st, ev, k, sym, ST_HALTED, _cause_reason(new), 0, fl, ts)
        return k
    return _start_call(st, ev, k, sym, SR_REOPEN, st.i_reopen[sym], fl, ts)


@njit(cache=True, _nrt=False)
def _halts(st, c, ev, k, op):
    """halt, resume, halt_all, resume_all (section 11)."""
    fl = c.flags & F_HAS_TS
    ts = c.ts
    sym = c.sym
    if op == HALT or op == RESUME:
        if sym < 0 or sym >= len(st.i_band):
            return _emit(ev, k, REJECTED, R_UNKNOWN_SYMBOL, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
        on = (st.i_causes[sym] & HC_OPERATOR) != 0
        if op == HALT:
            if on:
                return _emit(ev, k, REJECTED, R_HALTED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
            return _add_cause(st, ev, k, sym, HC_OPERATOR, fl, ts)
        if not on:
            return _emit(ev, k, REJECTED, R_NOT_HALTED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
        return _remove_cause(st, ev, k, sym, HC_OPERATOR, fl, ts)
    on = st.meta[M_HALT_ALL] != 0
    if op == HALT_ALL:
        if on:
            return _emit(ev, k, REJECTED, R_HALTED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
        st.meta[M_HALT_ALL] = 1
        for s in range(len(st.i_band)):
            k = _add_cause(st, ev, k, s, HC_MARKET_WIDE, fl, ts)
        return k
    if not on:
        return _emit(ev, k, REJECTED, R_NOT_HALTED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
    st.meta[M_HALT_ALL] = 0
    for s in range(len(st.i_band)):
        k = _remove_cause(st, ev, k, s, HC_MARKET_WIDE, fl, ts)
    return k


@njit(cache=True, _nrt=False)
def _fire_timers(st, ev, k, t):
    """Fire every timer due at or before t, in (deadline, instrument, rank) order (section 5).

    Returns (next event index, True when done; False when the event buffer ran out of room)."""
    cap = len(ev)
    while st.meta[M_NEXT_TIMER] <= t:
        d = NO_TIMER
        sym = -1
        end = False
        for s in range(len(st.i_tcall)):
            if st.i_tcall[s] < d:
                d = st.i_tcall[s]
                sym = s
                end = True
            if st.i_tind[s] < d:
                d = st.i_tind[s]
                sym = s
                end = False
        need = st.b_orders[2 * sym] + st.b_orders[2 * sym + 1] + 4 if end else 2
        if cap - k < need:
            return k, False
        if d > st.meta[M_NOW]:
            st.meta[M_NOW] = d
        if end:
            k = _end_call(st, ev, k, sym, d)
        else:
            st.i_tind[sym] = NO_TIMER
            k = _indicative(st, ev, k, sym, TIMED, d, True)
    return k, True


@njit(cache=True, _nrt=False, inline="always")
def _order_sym(st, c, op):
    """The instrument a command acts on, or -1 (a cancel or amend of an unknown order)."""
    if op == NEW or op == REF:
        return c.sym if 0 <= c.sym < len(st.i_band) else -1
    if op == CANCEL or op == AMEND:
        h = hash_find(st.h_key, c.oid)
        return st.o_book[st.h_val[h]] >> 1 if h >= 0 else -1
    return -1


@njit(cache=True, _nrt=False, inline="always")
def _crossing_orders(st, ob, side, otype, limit, most):
    """Orders of book ob a taker of this side and limit could meet (counting stops past most)."""
    n = 0
    arr = st.b_lv[ob]
    for pos in range(st.b_n[ob] - 1, -1, -1):
        lv = arr[pos]
        if not _crosses(side, otype, limit, st.l_px[lv]):
            break
        n += st.l_count[lv]
        if n > most:
            break
    return n


@njit(cache=True, _nrt=False, inline="always")
def _room(st, c, op, free):
    """Events one command may print at most (exact bounds, so deep books need no huge buffer)."""
    if op == NEW:
        sym = c.sym
        px = 0
        if c.otype == LIMIT:
            px = _to_steps(c.px, c.pexp, st.i_tm[sym], st.i_te[sym])
            if px < 0:
                return 1
        return 2 * _crossing_orders(st, (sym * 2 + c.side) ^ 1, c.side, c.otype, px, free) + 5
    if op == AMEND:
        h = hash_find(st.h_key, c.oid)
        if h < 0:
            return 1
        o = st.h_val[h]
        b = st.o_book[o]
        px = st.o_px[o]
        if c.flags & F_HAS_PX:
            px = _to_steps(c.px, c.pexp, st.i_tm[b >> 1], st.i_te[b >> 1])
            if px < 0:
                return 1
        return 2 * _crossing_orders(st, b ^ 1, b & 1, LIMIT, px, free) + 5
    if op == REF and c.flags & F_BAND_ON:
        n = 2
        for b in range(c.sym * 2, c.sym * 2 + 2):
            for pos in range(st.b_n[b]):
                lv = st.b_lv[b, pos]
                if st.l_px[lv] < c.px or st.l_px[lv] > c.qty:
                    n += st.l_count[lv]
        return n
    if op == HALT_ALL or op == RESUME_ALL:
        return 2 * len(st.i_band) + 1
    return 3  # a status and an indicative, or an event and an indicative


@njit(cache=True, _nrt=False, inline="always")
def _bad_new(st, c):
    """The reject reason of a NEW whose codes are out of range, else R_NONE."""
    if c.sym < 0 or c.sym >= len(st.i_band):
        return R_UNKNOWN_SYMBOL
    if c.side < 0 or c.side > 1 or c.otype < 0 or c.otype > 1:
        return R_MALFORMED
    if c.tif < 0 or c.tif > POST or (c.otype == MARKET and c.tif == POST):
        return R_BAD_TIF
    if c.stp < 0 or c.stp > S_DECR:
        return R_BAD_STP
    return R_NONE


@njit(cache=True, _nrt=False, nogil=True)  # replay decodes the next batch meanwhile
def run(st, cmds, start, ev, k):
    """Run commands from index start, writing events from index k.

    Returns (next command index, next event index, status); status OK means the batch is done,
    anything else names the capacity to grow before calling again from the returned index."""
    n = len(cmds)
    cap = len(ev)
    i = start
    mask = len(st.h_key) - 1
    while i < n:
        c = cmds[i]
        op = c.op
        if c.flags & F_HAS_TS:  # the clock: timers due at or before ts fire first (docs/market-integrity.md 5)
            t = c.ts
            if t >= st.meta[M_NEXT_TIMER]:
                k, done = _fire_timers(st, ev, k, t)
                if not done:
                    return i, k, NEED_EVENTS
            if t > st.meta[M_NOW]:
                st.meta[M_NOW] = t
        if i + PREFETCH < n:  # the oid slot of a command a few places ahead: its miss overlaps this work
            _prefetch(st.h_key, hash_home(cmds[i + PREFETCH].oid, mask))
        if op == NEW:
            bad = _bad_new(st, c)
            if bad != R_NONE:  # the decoders never send these; a buggy driver must not crash the kernel
                if cap - k < 1:
                    return i, k, NEED_EVENTS
                k = _emit(ev, k, REJECTED, bad, 0, (c.flags & F_HAS_TS) | F_HAS_OID, -1, c.oid,
                          0, 0, 0, 0, 0, 0, c.ts, 0)
                i += 1
                continue
        # room for the worst case of one command: every crossing (or out-of-band) order touched twice
        if cap - k < _room(st, c, op, cap - k):
            return i, k, NEED_EVENTS
        if op == NEW or op == AMEND:
            if st.meta[M_FREE_ORDER] == EMPTY:
                return i, k, NEED_ORDERS
            if st.meta[M_FREE_LEVEL] == EMPTY:
                return i, k, NEED_LEVELS
            if st.meta[M_HASH_USED] * 2 >= len(st.h_key):
                return i, k, NEED_HASH
            sym = c.sym
            if op == AMEND:
                h = hash_find(st.h_key, c.oid)
                sym = st.o_book[st.h_val[h]] >> 1 if h >= 0 else -1
            if sym >= 0 and max(st.b_n[2 * sym], st.b_n[2 * sym + 1]) >= st.b_lv.shape[1]:
                return i, k, NEED_BOOK_LEVELS
        csym = _order_sym(st, c, op) if st.meta[M_CALLS] > 0 else -1
        if op == NEW:
            k = _new(st, c, ev, k)
        elif op == CANCEL:
            fl = c.flags & F_HAS_TS
            h = hash_find(st.h_key, c.oid)
            if h < 0:
                k = _emit(ev, k, REJECTED, R_UNKNOWN_ORDER, 0, fl | F_HAS_OID, -1, c.oid, 0, 0, 0, 0, 0, 0, c.ts, 0)
            else:
                o = st.h_val[h]
                b = st.o_book[o]
                why = c.reason if c.reason != R_NONE else R_USER  # the gateway's mass cancel, disconnect
                k = _emit(ev, k, CANCELED, why, b & 1, fl, b >> 1, c.oid, 0, st.o_qty[o], 0, 0, 0, 0, c.ts, 0)
                _remove_order(st, o)
        elif op == AMEND:
            k = _amend(st, c, ev, k)
        elif op == REF:
            k = _ref(st, c, ev, k)
        elif op == HALT or op == RESUME or op == HALT_ALL or op == RESUME_ALL:
            k = _halts(st, c, ev, k, op)
        elif op != TICK:
            k = _emit(ev, k, REJECTED, c.reason, c.side, c.flags, c.sym, c.oid, 0, 0, 0, 0, 0, 0, c.ts, c.line)
        if csym >= 0 and st.i_status[csym] == ST_CALL:  # a book in a call changed: its indicative (12.3 b)
            k = _indicative(st, ev, k, csym, c.flags & F_HAS_TS, c.ts, False)
        i += 1
    return i, k, OK
