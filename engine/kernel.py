"""The matching kernel: one @njit call runs a batch of command records and writes event records.

Every function is compiled with _nrt=False: the kernel never allocates, and without numba's
reference counting (atomic increfs of ~30 arrays per call) it ran 3x faster. The helpers that
take the state are inlined at numba level: a call passes every array of the state exploded into
scalars (~200 arguments), which cost more than the matching itself. The price is a longer first
compile, paid once (cache=True)."""
import numpy as np
from kabuto.engine.codes import Ev, Flag, Op, OrdType, Reason, Side, Stp, Tif
from kabuto.engine.oidhash import EMPTY, hash_delete, hash_find, hash_home, hash_put
from kabuto.engine.state import M_FREE_LEVEL, M_FREE_ORDER, M_HASH_USED, M_LIVE
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
PREFETCH = 6
R_BAD_PRICE, R_BAD_QTY = int(Reason.BAD_PRICE), int(Reason.BAD_QTY)
MAX_UNITS = 1 << 40


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
    if c.otype == LIMIT and st.i_band[sym] and (px < st.i_lo[sym] or px > st.i_hi[sym]):
        return _emit(ev, k, REJECTED, R_OUTSIDE_BAND, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if hash_find(st.h_key, oid) >= 0:
        return _emit(ev, k, REJECTED, R_DUP, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if c.tif == POST and _would_take(st, ob, side, px):
        return _emit(ev, k, REJECTED, R_WOULD_TAKE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    pxf = F_HAS_PX if c.otype == LIMIT else 0
    k = _emit(ev, k, ACCEPTED, R_NONE, side, fl | pxf, sym, oid, px, qty, 0, 0, 0, c.acct, ts, 0)
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
    if st.i_band[sym] and (px < st.i_lo[sym] or px > st.i_hi[sym]):
        return _emit(ev, k, REJECTED, R_OUTSIDE_BAND, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if st.o_tif[o] == POST and _would_take(st, b ^ 1, side, px):
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
    k, rem = _match(st, ev, k, sym, side, LIMIT, px, oid, acct, stp, qty, fl, ts)
    if rem > 0:
        _rest(st, b, side, oid, acct, px, rem, stp, tif)
    return k


@njit(cache=True, _nrt=False, inline="always")
def _ref(st, c, ev, k):
    sym = c.sym
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
        return 2 * _crossing_orders(st, (sym * 2 + c.side) ^ 1, c.side, c.otype, px, free) + 4
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
        return 2 * _crossing_orders(st, b ^ 1, b & 1, LIMIT, px, free) + 4
    if op == REF and c.flags & F_BAND_ON:
        n = 1
        for b in range(c.sym * 2, c.sym * 2 + 2):
            for pos in range(st.b_n[b]):
                lv = st.b_lv[b, pos]
                if st.l_px[lv] < c.px or st.l_px[lv] > c.qty:
                    n += st.l_count[lv]
        return n
    return 1


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


@njit(cache=True, _nrt=False)
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
        else:
            k = _emit(ev, k, REJECTED, c.reason, c.side, c.flags, c.sym, c.oid, 0, 0, 0, 0, 0, 0, c.ts, c.line)
        i += 1
    return i, k, OK
