"""The matching kernel: one @njit call runs a batch of command records and writes event records.

Every function is compiled with _nrt=False: the kernel never allocates, and without numba's
reference counting (atomic increfs of ~30 arrays per call) it ran 3x faster. The helpers that
take the state are inlined at numba level: a call passes every array of the state exploded into
scalars (~200 arguments), which cost more than the matching itself. The price is a longer first
compile, paid once (cache=True)."""
import numpy as np
from kabuto.engine.balances import (
    MILLION,
    TOO_LARGE,
    available,
    change,
    hold_asset,
    hold_of,
    move,
    order_hold,
    positive_fee,
    rebate,
    sort_pairs,
    value,
)
from kabuto.engine.codes import (
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
)
from kabuto.engine.jit import njit
from kabuto.engine.oidhash import EMPTY, hash_delete, hash_find, hash_home, hash_put
from kabuto.engine.state import (
    M_CALLS,
    M_DEP,
    M_FREE_LEVEL,
    M_FREE_ORDER,
    M_HALT_ALL,
    M_HASH_USED,
    M_LIVE,
    M_NEXT_TIMER,
    M_NOW,
    M_ORACLES,
    M_RISK,
    M_T_AQ,
    M_T_AR,
    M_T_HOLD,
    M_T_P,
    M_T_RM,
    M_T_RT,
    M_TIME,
    M_TOUCHED,
    M_WID,
    NO_TIMER,
    OC_COLLAR_BP,
    OC_CONFIRM,
    OC_D15,
    OC_GRID,
    OC_HALT,
    OC_LIMIT,
    OC_MOVE_BP,
    OC_N15,
    OC_ON,
    OC_OPEN,
    OC_P075,
    OC_P3,
    OC_PAUSE,
    OC_STALE,
    OC_STEP_BP,
    OC_TIER_BP,
    OC_WIN,
    OS_BREF,
    OS_BSRC,
    OS_H0D,
    OS_H0N,
    OS_HAVE,
    OS_LASTOTS,
    OS_MARKET,
    OS_NL,
    OS_NU,
    OS_PEND,
    OS_Q,
    OS_RC,
    OS_REGCLOSE,
    OS_REGOPEN,
    OS_RP,
    OS_RT,
    OS_S_HI,
    OS_S_LO,
    OS_STALE,
    OS_T_GRID,
    OS_T_LIMIT,
    OS_T_SHALT,
    OS_T_STALE,
    OS_TMULT_E,
    OS_TMULT_M,
    OS_TP,
    OS_TRUSTED,
    OS_TT,
    OS_W_HEAD,
    OS_W_N,
    P_BP,
    P_FACTOR,
    P_MARKET,
    P_MAXN,
    W_HI,
    W_LO,
    W_Q,
    W_T,
)
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# kernel return status: why it stopped before the end of the batch
OK = 0
NEED_EVENTS = 1
NEED_ORDERS = 2
NEED_LEVELS = 3
NEED_BOOK_LEVELS = 4
NEED_HASH = 5
NEED_WINDOW = 6
NEED_ACCOUNTS = 7

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
ORACLE, BAND_EV, ORACLE_EV = int(Op.ORACLE), int(Ev.BAND), int(Ev.ORACLE)
ST_LIMIT_UP, ST_LIMIT_DOWN = int(Status.LIMIT_UP), int(Status.LIMIT_DOWN)
SR_REFERENCE, SR_PINNED, SR_UNPINNED, SR_PAUSE, SR_OPEN, SR_EXTENDED = (
    int(StatusReason.REFERENCE), int(StatusReason.PINNED), int(StatusReason.UNPINNED), int(StatusReason.PAUSE),
    int(StatusReason.OPEN), int(StatusReason.EXTENDED))
HC_STALE, HC_NO_REF = int(HaltCause.STALE_ORACLE), int(HaltCause.NO_REFERENCE)
R_NO_ORACLE, R_ORACLE_ONLY = int(Reason.NO_ORACLE), int(Reason.ORACLE_ONLY)
R_STALE, R_NO_MARKET, R_NOTIONAL, R_BAD_OTS = (int(Reason.STALE_ORACLE), int(Reason.MARKET_ORDERS_NOT_ALLOWED),
                                               int(Reason.NOTIONAL_TOO_LARGE), int(Reason.BAD_ORACLE_TS))
OS_TRUSTED_ST, OS_CONFIRMED_ST, OS_PENDING_ST, OS_STALE_ST = (int(OracleState.TRUSTED), int(OracleState.CONFIRMED),
                                                              int(OracleState.PENDING), int(OracleState.STALE))
SRC_ORACLE, SRC_VWAP, SRC_LAST = int(RefSource.ORACLE), int(RefSource.VWAP), int(RefSource.LAST_ORACLE)
MK_REGULAR = int(Market.REGULAR)
MK_PRICED_LO, MK_PRICED_HI = int(Market.PRE_MARKET), int(Market.OVERNIGHT)  # the priced statuses: 1 to 4
MINUTE = 60_000_000_000
LIMB = 1 << 31  # the window's price x quantity sums are kept in two words: hi * LIMB + lo
# balances (docs/balances.md)
DEPOSIT, WITHDRAW, FEES_OP, TIER_OP = int(Op.DEPOSIT), int(Op.WITHDRAW), int(Op.FEES), int(Op.TIER)
DEPOSITED, WITHDRAWN, BALANCE, FEES_EV, TIER_EV = (int(Ev.DEPOSITED), int(Ev.WITHDRAWN), int(Ev.BALANCE),
                                                   int(Ev.FEES), int(Ev.TIER))
R_FUNDS, R_NO_PROTECTION, R_BAD_AMOUNT, R_DUP_DEP, R_DEP_GAP, R_BAD_FEE, R_UNKNOWN_TIER = (
    int(Reason.INSUFFICIENT_FUNDS), int(Reason.NO_PROTECTION), int(Reason.BAD_AMOUNT),
    int(Reason.DUPLICATE_DEPOSIT), int(Reason.DEPOSIT_GAP), int(Reason.BAD_FEE), int(Reason.UNKNOWN_TIER))
F_PROTECT, F_FEES, F_DEP = int(Flag.PROTECT), int(Flag.FEES), int(Flag.DEP)
AMOUNT_CAP = (1 << 62) - 1
MAX_RATE = 100_000  # 1000 bp in millionths


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
    """Take order slot o off its level and free it; drops the level when it empties (and releases its hold)."""
    if st.meta[M_RISK]:
        _release(st, o)
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
    return o


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
    risk = st.meta[M_RISK] != 0
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
                mf = 0
                tf = 0
                ffl = fl
                if risk:
                    mf, tf = _take_fill(st, o, side, acct, lpx, q, rem)
                    ffl = fl | F_FEES
                rem -= q
                st.o_qty[o] = oq - q
                st.l_qty[lv] -= q
                k = _emit(ev, k, FILL, R_NONE, side, ffl, sym, oid, lpx, q, mf, st.o_oid[o],
                          st.o_acct[o], acct, ts, tf)
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
                if risk:
                    _decrement(st, o, oq, side, acct, rem)
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
    risk = st.meta[M_RISK] != 0
    prot = -1  # a market order's protection price (risk on)
    if c.otype == LIMIT:
        px = _to_steps(c.px, c.pexp, st.i_tm[sym], st.i_te[sym])
        if px < 0:
            return _emit(ev, k, REJECTED, R_BAD_PRICE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    elif risk and c.flags & F_PROTECT:
        prot = _to_steps(c.px, c.pexp, st.i_tm[sym], st.i_te[sym])
        if prot <= 0:
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
    orc = st.i_oc[sym, OC_ON] != 0
    if orc and c.otype == MARKET:
        if not _fresh(st, sym):
            return _emit(ev, k, REJECTED, R_STALE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
        if st.i_pol[sym, st.i_os[sym, OS_MARKET], P_MARKET] == 0:
            return _emit(ev, k, REJECTED, R_NO_MARKET, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if (c.otype == LIMIT and st.i_band[sym] and not (orc and call)
            and (px < st.i_lo[sym] or px > st.i_hi[sym])):
        return _emit(ev, k, REJECTED, R_OUTSIDE_BAND, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if orc and _too_large(st, sym, px if c.otype == LIMIT else st.i_hi[sym], qty):
        return _emit(ev, k, REJECTED, R_NOTIONAL, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if hash_find(st.h_key, oid) >= 0:
        return _emit(ev, k, REJECTED, R_DUP, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    mo = c.otype  # how it matches: a market order with a protection price matches like a limit at it
    limit = px
    if risk:
        if c.otype == MARKET:
            if side == BUY and st.i_band[sym] and (prot < 0 or st.i_hi[sym] < prot):
                prot = st.i_hi[sym]
            if side == BUY and prot < 0:
                return _emit(ev, k, REJECTED, R_NO_PROTECTION, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0,
                             ts, 0)
            if prot > 0:
                mo = LIMIT
                limit = prot
        if not _funds_ok(st, sym, side, c.acct, limit, qty):
            return _emit(ev, k, REJECTED, R_FUNDS, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if c.tif == POST and _would_take(st, ob, side, px):
        return _emit(ev, k, REJECTED, R_WOULD_TAKE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    pxf = F_HAS_PX if c.otype == LIMIT else 0
    k = _emit(ev, k, ACCEPTED, R_NONE, side, fl | pxf, sym, oid, px, qty, 0, 0, 0, c.acct, ts, 0)
    if risk:
        _start_taker(st, sym, side, c.acct, limit, qty)
    if call:  # a call takes limit GTC orders and matches nothing until its uncross
        o = _rest(st, b, side, oid, c.acct, px, qty, c.stp, c.tif)
        if risk:
            _rest_taker(st, o)
        return k
    if c.tif == FOK_TIF and not _fok_fills(st, ob, side, mo, limit, c.acct, c.stp, qty):
        k = _emit(ev, k, CANCELED, R_FOK, side, fl, sym, oid, 0, qty, 0, 0, 0, 0, ts, 0)
        if risk:
            _end_taker(st, sym, side, c.acct)
        return k
    k, rem = _match(st, ev, k, sym, side, mo, limit, oid, c.acct, c.stp, qty, fl, ts)
    if rem > 0 and c.otype == LIMIT and (c.tif == GTC or c.tif == POST):
        o = _rest(st, b, side, oid, c.acct, px, rem, c.stp, c.tif)
        if risk:
            _rest_taker(st, o)
        return k
    if rem > 0:
        k = _emit(ev, k, CANCELED, R_IOC, side, fl, sym, oid, 0, rem, 0, 0, 0, 0, ts, 0)
    if risk:
        _end_taker(st, sym, side, c.acct)
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
    call = status == ST_CALL
    orc = st.i_oc[sym, OC_ON] != 0
    if st.i_band[sym] and not (orc and call) and (px < st.i_lo[sym] or px > st.i_hi[sym]):
        return _emit(ev, k, REJECTED, R_OUTSIDE_BAND, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if orc and _too_large(st, sym, px, qty):
        return _emit(ev, k, REJECTED, R_NOTIONAL, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    risk = st.meta[M_RISK] != 0
    if risk and not _amend_funds_ok(st, o, px, qty):
        return _emit(ev, k, REJECTED, R_FUNDS, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if not call and st.o_tif[o] == POST and _would_take(st, b ^ 1, side, px):
        return _emit(ev, k, REJECTED, R_WOULD_TAKE, side, fl | F_HAS_OID, sym, oid, 0, 0, 0, 0, 0, 0, ts, 0)
    if px == st.o_px[o] and qty <= st.o_qty[o]:  # keeps time priority
        if risk:
            _amend_hold(st, o, qty)
        st.l_qty[st.o_level[o]] -= st.o_qty[o] - qty
        st.o_qty[o] = qty
        return _emit(ev, k, AMENDED, R_NONE, side, fl | F_HAS_PX, sym, oid, px, qty, 0, 0, 0, 0, ts, 0)
    acct = st.o_acct[o]
    stp = st.o_stp[o]
    tif = st.o_tif[o]
    if risk:  # the order's rates and fee accumulator go on with it
        _keep_rates(st, o)
    _remove_order(st, o)
    k = _emit(ev, k, AMENDED, R_NONE, side, fl | F_HAS_PX, sym, oid, px, qty, 0, 0, 0, 0, ts, 0)
    if risk:
        _start_taker(st, sym, side, acct, px, qty)
    rem = qty
    if not call:  # in a call the amended order rests at the back, unmatched
        k, rem = _match(st, ev, k, sym, side, LIMIT, px, oid, acct, stp, qty, fl, ts)
    if rem > 0:
        o = _rest(st, b, side, oid, acct, px, rem, stp, tif)
        if risk:
            _rest_taker(st, o)
    elif risk:
        _end_taker(st, sym, side, acct)
    return k


@njit(cache=True, _nrt=False, inline="always")
def _ref(st, c, ev, k):
    sym = c.sym
    if c.oid > 0:  # the reference in ticks, rounded half up: the auction price's nearest-reference rule
        st.i_ref[sym] = c.oid
    if not c.flags & F_BAND_ON:
        return k
    st.i_band[sym] = 1
    st.i_lo[sym] = c.px
    st.i_hi[sym] = c.qty
    return _band_cancel(st, ev, k, sym, c.px, c.qty, c.flags & F_HAS_TS, c.ts)


@njit(cache=True, _nrt=False)
def _band_cancel(st, ev, k, sym, lo, hi, fl, ts):
    """Cancel every resting order of the instrument priced outside [lo, hi]: bids, then asks, best first."""
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
                          0, 0, 0, 0, ts, 0)
                last = st.l_count[lv] == 1
                _remove_order(st, o)
                if last:
                    break
                o = nxt
    return k


# ---------------------------------------------------------------- balances (docs/balances.md), risk on only
# The order being matched is no order slot yet: its hold price, hold, fee accumulator and rates live in meta
# (M_T_*) until it rests (_rest_taker) or ends (_end_taker). Every change of a live order's open quantity or
# accumulator changes its account's held by the change of its hold, so held is always the sum of the holds.

@njit(cache=True, _nrt=False, inline="always")
def _funds_ok(st, sym, side, acct, p, qty):
    """A new order's funds check (section 6); sets the taker's rates from its account's tier."""
    tier = st.a_tier[acct]
    st.meta[M_T_RT] = st.f_tier[tier, 2]
    st.meta[M_T_RM] = st.f_tier[tier, 1]
    st.meta[M_T_AQ] = 0
    st.meta[M_T_AR] = 0
    h = hold_of(side, p, qty, st.i_bf[sym], st.i_qf[sym], 0, 0, st.meta[M_T_RT])
    return h != TOO_LARGE and h <= available(st, acct, hold_asset(st, sym, side))


@njit(cache=True, _nrt=False, inline="always")
def _amend_funds_ok(st, o, px, qty):
    """An amend's funds check: the new hold may grow by at most what is available."""
    b = st.o_book[o]
    sym = b >> 1
    h = hold_of(b & 1, px, qty, st.i_bf[sym], st.i_qf[sym], st.r_aq[o], st.r_ar[o], st.r_rt[o])
    return h != TOO_LARGE and h - order_hold(st, o) <= available(st, st.o_acct[o], hold_asset(st, sym, b & 1))


@njit(cache=True, _nrt=False, inline="always")
def _amend_hold(st, o, qty):
    """An amend that keeps priority: the hold follows the new open quantity."""
    b = st.o_book[o]
    sym = b >> 1
    h = hold_of(b & 1, st.o_px[o], qty, st.i_bf[sym], st.i_qf[sym], st.r_aq[o], st.r_ar[o], st.r_rt[o])
    change(st, st.o_acct[o], hold_asset(st, sym, b & 1), 0, h - order_hold(st, o))


@njit(cache=True, _nrt=False, inline="always")
def _keep_rates(st, o):
    """An amended order leaves its slot: its rates and accumulator become the taker's."""
    st.meta[M_T_RT] = st.r_rt[o]
    st.meta[M_T_RM] = st.r_rm[o]
    st.meta[M_T_AQ] = st.r_aq[o]
    st.meta[M_T_AR] = st.r_ar[o]


@njit(cache=True, _nrt=False, inline="always")
def _start_taker(st, sym, side, acct, p, qty):
    """Place the taker's hold: qty at hold price p with its rates and accumulator."""
    h = hold_of(side, p, qty, st.i_bf[sym], st.i_qf[sym], st.meta[M_T_AQ], st.meta[M_T_AR], st.meta[M_T_RT])
    change(st, acct, hold_asset(st, sym, side), 0, h)
    st.meta[M_T_P] = p
    st.meta[M_T_HOLD] = h


@njit(cache=True, _nrt=False, inline="always")
def _taker_hold(st, sym, side, acct, open_):
    """The taker's hold follows its open quantity and accumulator."""
    h = hold_of(side, st.meta[M_T_P], open_, st.i_bf[sym], st.i_qf[sym], st.meta[M_T_AQ], st.meta[M_T_AR],
                st.meta[M_T_RT])
    change(st, acct, hold_asset(st, sym, side), 0, h - st.meta[M_T_HOLD])
    st.meta[M_T_HOLD] = h


@njit(cache=True, _nrt=False, inline="always")
def _rest_taker(st, o):
    """The taker rests in slot o: its rates and accumulator go with it (its hold is already held)."""
    st.r_rt[o] = st.meta[M_T_RT]
    st.r_rm[o] = st.meta[M_T_RM]
    st.r_aq[o] = st.meta[M_T_AQ]
    st.r_ar[o] = st.meta[M_T_AR]
    st.meta[M_T_HOLD] = 0


@njit(cache=True, _nrt=False, inline="always")
def _end_taker(st, sym, side, acct):
    """The taker is done without resting: release what it still holds."""
    change(st, acct, hold_asset(st, sym, side), 0, -st.meta[M_T_HOLD])
    st.meta[M_T_HOLD] = 0


@njit(cache=True, _nrt=False)
def _release(st, o):
    """A live order leaves the book: release its hold."""
    b = st.o_book[o]
    change(st, st.o_acct[o], hold_asset(st, b >> 1, b & 1), 0, -order_hold(st, o))


@njit(cache=True, _nrt=False, inline="always")
def _maker_hold(st, o, open_, h0):
    """A resting order's hold after its open quantity becomes open_ (h0: its hold before)."""
    b = st.o_book[o]
    sym = b >> 1
    h = hold_of(b & 1, st.o_px[o], open_, st.i_bf[sym], st.i_qf[sym], st.r_aq[o], st.r_ar[o], st.r_rt[o])
    change(st, st.o_acct[o], hold_asset(st, sym, b & 1), 0, h - h0)


@njit(cache=True, _nrt=False)
def _take_fill(st, o, side, acct, px, q, rem):
    """A continuous fill of q at px between the taker (open rem before it) and resting slot o, before o's
    quantity changes: fees (section 7), transfers, both holds. Returns (maker fee, taker fee)."""
    sym = st.o_book[o] >> 1
    v = value(px, q, st.i_qf[sym])
    h0 = order_hold(st, o)
    rt = st.meta[M_T_RT]
    tf = 0
    if rt > 0:
        aq = st.meta[M_T_AQ]
        ar = st.meta[M_T_AR]
        x = ar + rt * (v % MILLION)
        tf = rt * (v // MILLION) + (x + MILLION - 1) // MILLION - (1 if ar > 0 else 0)
        st.meta[M_T_AQ] = aq + rt * (v // MILLION) + x // MILLION
        st.meta[M_T_AR] = x % MILLION
    rm = st.r_rm[o]
    mf = 0
    if rm > 0:
        mf = positive_fee(st, o, rm, v)
    elif rm < 0:
        mf = -min(rebate(rm, v), tf)
    if side == BUY:
        move(st, sym, acct, st.o_acct[o], q, v, tf, mf)
    else:
        move(st, sym, st.o_acct[o], acct, q, v, mf, tf)
    _maker_hold(st, o, st.o_qty[o] - q, h0)
    _taker_hold(st, sym, side, acct, rem - q)
    return mf, tf


@njit(cache=True, _nrt=False)
def _decrement(st, o, oq, side, acct, rem):
    """Self-trade prevention decremented resting slot o (from oq) and the taker (to rem): both holds follow."""
    b = st.o_book[o]
    sym = b >> 1
    h0 = hold_of(b & 1, st.o_px[o], oq, st.i_bf[sym], st.i_qf[sym], st.r_aq[o], st.r_ar[o], st.r_rt[o])
    _maker_hold(st, o, st.o_qty[o], h0)
    _taker_hold(st, sym, side, acct, rem)


@njit(cache=True, _nrt=False)
def _cross_fill(st, maker, taker, px, q):
    """An uncross fill of q at px between resting slots maker (rested earlier) and taker, before their
    quantities change: charged by the fill's roles like a continuous fill (docs/balances.md 7).
    Returns (maker fee, taker fee)."""
    sym = st.o_book[maker] >> 1
    v = value(px, q, st.i_qf[sym])
    hm = order_hold(st, maker)
    ht = order_hold(st, taker)
    rt = st.r_rt[taker]
    tf = positive_fee(st, taker, rt, v) if rt > 0 else 0
    rm = st.r_rm[maker]
    mf = 0
    if rm > 0:
        mf = positive_fee(st, maker, rm, v)
    elif rm < 0:
        mf = -min(rebate(rm, v), tf)
    if st.o_book[taker] & 1 == BUY:
        move(st, sym, st.o_acct[taker], st.o_acct[maker], q, v, tf, mf)
    else:
        move(st, sym, st.o_acct[maker], st.o_acct[taker], q, v, mf, tf)
    _maker_hold(st, maker, st.o_qty[maker] - q, hm)
    _maker_hold(st, taker, st.o_qty[taker] - q, ht)
    return mf, tf


@njit(cache=True, _nrt=False, inline="always")
def _flush(st, ev, k, fl, ts):
    """The balance events of the command or timer step that ends: one per changed pair, by (account, asset)."""
    n = st.meta[M_TOUCHED]
    st.meta[M_TOUCHED] = 0
    pairs = st.t_list
    sort_pairs(pairs, n)
    na = st.a_bal.shape[1]
    for j in range(n):
        acct = pairs[j] // na
        a = pairs[j] % na
        total = st.a_bal[acct, a, 0]
        held = st.a_bal[acct, a, 1]
        if total != st.t_old[acct, a, 0] or held != st.t_old[acct, a, 1]:
            k = _emit(ev, k, BALANCE, R_NONE, 0, fl, a, 0, 0, total, held, 0, 0, acct, ts, 0)
        st.t_old[acct, a, 0] = -1
    return k


@njit(cache=True, _nrt=False)
def _deposit(st, c, ev, k):
    """deposit (section 4): the id checks consume the id, then the decoder's fault, then the venue's cap."""
    fl = c.flags & F_HAS_TS
    dep = c.oid
    last = st.meta[M_DEP]
    why = R_NONE
    if dep <= last:
        why = R_DUP_DEP
    elif dep > last + 1:
        why = R_DEP_GAP
    else:
        st.meta[M_DEP] = dep
        why = c.reason
        a = c.sym
        if why == R_NONE and (a < 0 or a >= st.a_bal.shape[1] or c.qty <= 0 or c.qty > AMOUNT_CAP):
            why = R_MALFORMED  # the decoder sends none of these
        if why == R_NONE and st.s_dw[a, 0] - st.s_dw[a, 1] > AMOUNT_CAP - c.qty:
            why = R_BAD_AMOUNT
    if why != R_NONE:
        return _emit(ev, k, REJECTED, why, 0, fl | F_DEP, -1, dep, 0, 0, 0, 0, 0, 0, c.ts, 0)
    st.s_dw[c.sym, 0] += c.qty
    change(st, c.acct, c.sym, c.qty, 0)
    return _emit(ev, k, DEPOSITED, R_NONE, 0, fl, c.sym, dep, 0, c.qty, 0, 0, 0, c.acct, c.ts, 0)


@njit(cache=True, _nrt=False)
def _withdraw(st, c, ev, k):
    """withdraw (section 4): only what is available; the withdrawal gets the next id."""
    fl = c.flags & F_HAS_TS
    a = c.sym
    if a < 0 or a >= st.a_bal.shape[1] or c.qty <= 0:
        return _emit(ev, k, REJECTED, R_MALFORMED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    if c.qty > available(st, c.acct, a):
        return _emit(ev, k, REJECTED, R_FUNDS, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    st.s_dw[a, 1] += c.qty
    change(st, c.acct, a, -c.qty, 0)
    st.meta[M_WID] += 1
    return _emit(ev, k, WITHDRAWN, R_NONE, 0, fl, a, st.meta[M_WID], 0, c.qty, 0, 0, 0, c.acct, c.ts, 0)


@njit(cache=True, _nrt=False)
def _fees(st, c, ev, k):
    """fees (section 3): a tier's rates, when the schedule they make is valid."""
    fl = c.flags & F_HAS_TS
    tier = c.oid
    maker = c.px
    taker = c.qty
    if tier < 0 or tier > 255:
        return _emit(ev, k, REJECTED, R_MALFORMED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    ok = 0 <= taker <= MAX_RATE and -MAX_RATE <= maker <= taker
    min_t = taker
    min_m = maker
    for t in range(256):
        if t != tier and st.f_tier[t, 0]:
            min_m = min(min_m, st.f_tier[t, 1])
            min_t = min(min_t, st.f_tier[t, 2])
    if not ok or min_t + min_m < 0:
        return _emit(ev, k, REJECTED, R_BAD_FEE, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    st.f_tier[tier, 0] = 1
    st.f_tier[tier, 1] = maker
    st.f_tier[tier, 2] = taker
    return _emit(ev, k, FEES_EV, R_NONE, 0, fl, -1, tier, maker, taker, 0, 0, 0, 0, c.ts, 0)


@njit(cache=True, _nrt=False)
def _tier(st, c, ev, k):
    """tier (section 4): put an account in a defined tier."""
    fl = c.flags & F_HAS_TS
    tier = c.oid
    if tier < 0 or tier > 255:
        return _emit(ev, k, REJECTED, R_MALFORMED, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    if not st.f_tier[tier, 0]:
        return _emit(ev, k, REJECTED, R_UNKNOWN_TIER, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    st.a_tier[c.acct] = tier
    return _emit(ev, k, TIER_EV, R_NONE, 0, fl, -1, tier, 0, 0, 0, 0, 0, c.acct, c.ts, 0)


@njit(cache=True, _nrt=False)
def _risk_op(st, c, ev, k, op):
    """deposit, withdraw, fees or tier; with risk off they are malformed (the decoders never send them)."""
    if not st.meta[M_RISK]:
        return _emit(ev, k, REJECTED, R_MALFORMED, 0, c.flags & F_HAS_TS, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
    if op == DEPOSIT:
        return _deposit(st, c, ev, k)
    if op == WITHDRAW:
        return _withdraw(st, c, ev, k)
    if op == FEES_OP:
        return _fees(st, c, ev, k)
    return _tier(st, c, ev, k)


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
        if st.i_oc[s, OC_ON]:
            d = min(d, st.i_os[s, OS_T_STALE], st.i_os[s, OS_T_SHALT], st.i_os[s, OS_T_GRID], st.i_os[s, OS_T_LIMIT])
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
    if st.i_oc[sym, OC_ON]:  # an oracle instrument's auction is nearest the collar's reference (12.5)
        r2 = 2 * st.i_os[sym, OS_RC]
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
    if st.i_oc[sym, OC_ON]:
        lo, hi = _collar(st, sym)
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
    if lo >= 0:
        pxf |= F_BAND_ON
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
    if st.i_oc[sym, OC_ON]:  # the limit state and the band's grid stop; the collar is set (12.1, 12.4)
        st.i_os[sym, OS_T_LIMIT] = NO_TIMER
        st.i_os[sym, OS_T_GRID] = NO_TIMER
        rc, _ = _candidate(st, sym)
        st.i_os[sym, OS_RC] = rc
        if st.i_oc[sym, OC_COLLAR_BP] > 0:
            hn = rc * st.i_oc[sym, OC_COLLAR_BP]
            hd = 10_000
        else:
            hn, hd = _half(st, sym, rc)
        if hn < hd:  # at least a tick: a widening never moves an edge by less (12.4)
            hn, hd = 1, 1
        st.i_os[sym, OS_H0N] = hn
        st.i_os[sym, OS_H0D] = hd
        st.i_os[sym, OS_NU] = 0
        st.i_os[sym, OS_NL] = 0
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
        mf = 0
        tf = 0
        ffl = fl
        if st.meta[M_RISK]:
            mf, tf = _cross_fill(st, maker, taker, price, q)
            ffl = fl | F_FEES
        k = _emit(ev, k, FILL, R_NONE, st.o_book[taker] & 1, ffl, sym, st.o_oid[taker], price, q, mf,
                  st.o_oid[maker], st.o_acct[maker], st.o_acct[taker], ts, tf)
        rem -= q
        for j in range(2):
            o = bo if j == 0 else ao
            st.o_qty[o] -= q
            st.l_qty[st.o_level[o]] -= q
            if st.o_qty[o] == 0:
                _remove_order(st, o)
    st.i_last[sym] = price
    if st.i_oc[sym, OC_ON]:
        _win_add(st, sym, price, qty)
    return k


@njit(cache=True, _nrt=False)
def _end_call(st, ev, k, sym, ts):
    """The timer call_end fired: uncross at the auction price, if any, and trade continuously (12.6)."""
    px, v, _ = _auction(st, sym)
    orc = st.i_oc[sym, OC_ON] != 0
    if px >= 0 and orc:
        lo, hi = _collar(st, sym)
        if px < lo or px > hi:  # outside the collar: the call is extended and the collar widens (12.6)
            if px > hi:
                st.i_os[sym, OS_NU] += 1
            else:
                st.i_os[sym, OS_NL] += 1
            until = st.meta[M_NOW] + st.i_oc[sym, OC_PAUSE]
            st.i_until[sym] = until
            st.i_tcall[sym] = until
            _next_timer(st)
            k = _status(st, ev, k, sym, ST_CALL, SR_EXTENDED, until, TIMED, ts)
            return _indicative(st, ev, k, sym, TIMED, ts, True)
    if px >= 0:
        k = _uncross(st, ev, k, sym, px, v, ts)
    st.i_status[sym] = ST_CONTINUOUS
    _leave_call(st, sym)
    k = _status(st, ev, k, sym, ST_CONTINUOUS, SR_CALL_END, 0, TIMED, ts)
    if orc:
        k = _ref_point(st, ev, k, sym, True, TIMED, ts)
    return k


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
        if st.i_oc[sym, OC_ON]:
            st.i_os[sym, OS_T_LIMIT] = NO_TIMER
            st.i_os[sym, OS_T_GRID] = NO_TIMER
            _next_timer(st)
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
    if old == HC_NO_REF:  # the first trusted reference: trading starts, around a band of its own
        st.i_status[sym] = ST_CONTINUOUS
        k = _status(st, ev, k, sym, ST_CONTINUOUS, SR_REFERENCE, 0, fl, ts)
        return _ref_point(st, ev, k, sym, True, fl, ts)
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

    Returns (next event index, OK, or the capacity to grow: NEED_EVENTS or NEED_WINDOW)."""
    cap = len(ev)
    while st.meta[M_NEXT_TIMER] <= t:
        d = NO_TIMER
        sym = -1
        kind = 0
        for s in range(len(st.i_tcall)):  # ranks: stale 1, stale_halt 2, ref_grid 3, limit 4, call_end 5, indicative 6
            orc = st.i_oc[s, OC_ON] != 0
            for r in range(1, 7):
                if r == 5:
                    x = st.i_tcall[s]
                elif r == 6:
                    x = st.i_tind[s]
                elif orc:
                    x = st.i_os[s, OS_T_STALE + r - 1]
                else:
                    continue
                if x < d:
                    d = x
                    sym = s
                    kind = r
        room = 2 * (st.b_orders[2 * sym] + st.b_orders[2 * sym + 1]) + 8
        if cap - k < (3 * room if st.meta[M_RISK] else room):  # risk: a balance event per order's two pairs
            return k, NEED_EVENTS
        orc = st.i_oc[sym, OC_ON] != 0
        if orc and kind == 5 and not _win_room(st, sym):
            return k, NEED_WINDOW
        if d > st.meta[M_NOW]:
            st.meta[M_NOW] = d
        if kind == 5:
            k = _end_call(st, ev, k, sym, d)
        elif kind == 6:
            st.i_tind[sym] = NO_TIMER
            k = _indicative(st, ev, k, sym, TIMED, d, True)
        else:
            st.i_os[sym, OS_T_STALE + kind - 1] = NO_TIMER
            _next_timer(st)
            if kind == 1:
                k = _stale(st, ev, k, sym, TIMED, d)
            elif kind == 2:
                k = _add_cause(st, ev, k, sym, HC_STALE, TIMED, d)
            elif kind == 3:
                k = _grid_fired(st, ev, k, sym, d)
            else:  # the limit state lasted too long: trading pauses (section 10)
                k = _start_call(st, ev, k, sym, SR_PAUSE, st.i_oc[sym, OC_PAUSE], TIMED, d)
        if orc:
            k = _settle(st, ev, k, sym, TIMED, d, kind == 3)
        if st.meta[M_TOUCHED]:
            k = _flush(st, ev, k, TIMED, d)
    return k, OK


# ---------------------------------------------------------------- market integrity: oracle, bands, limit state

@njit(cache=True, _nrt=False, inline="always")
def _fresh(st, sym):
    """True when the instrument has a trusted reference younger than stale_ms (6.4)."""
    return st.i_os[sym, OS_TRUSTED] != 0 and st.meta[M_NOW] - st.i_os[sym, OS_TT] < st.i_oc[sym, OC_STALE]


@njit(cache=True, _nrt=False, inline="always")
def _later(t, d):
    """The deadline t + d, or NO_TIMER when it is past the last representable time."""
    return t + d if t <= NO_TIMER - d else NO_TIMER


@njit(cache=True, _nrt=False, inline="always")
def _too_large(st, sym, px, qty):
    """True when px x qty exceeds the policy's max_notional in ticks x lots (section 9)."""
    cap = st.i_pol[sym, st.i_os[sym, OS_MARKET], P_MAXN]
    if cap < 0:
        return False
    px = max(px, 1)
    if qty < (1 << 22) and px < (1 << 41):  # the product fits: qty > cap // px exactly when qty x px > cap
        return qty * px > cap
    return qty > cap // px


@njit(cache=True, _nrt=False)
def _half(st, sym, ref):
    """The band half-width around ref at now (7.4), as a fraction (numerator, denominator) of ticks."""
    market = st.i_os[sym, OS_MARKET]
    bp = st.i_pol[sym, market, P_BP]
    if bp > 0:
        return ref * bp, 10_000
    f = st.i_pol[sym, market, P_FACTOR]
    now = st.meta[M_NOW]
    if market == MK_REGULAR:
        ro = st.i_os[sym, OS_REGOPEN]
        rc = st.i_os[sym, OS_REGCLOSE]
        if (ro <= now and now - ro < 15 * MINUTE) or (rc - 25 * MINUTE <= now and now < rc):
            f *= 2
    if ref > st.i_oc[sym, OC_P3]:
        return f * ref * st.i_oc[sym, OC_TIER_BP], 10_000
    if ref >= st.i_oc[sym, OC_P075]:
        return f * ref * 2000, 10_000
    n15 = st.i_oc[sym, OC_N15]
    d15 = st.i_oc[sym, OC_D15]
    if 3 * ref * d15 < 4 * n15:  # 75% of the reference is less than $0.15
        return f * 3 * ref, 4
    return f * n15, d15


@njit(cache=True, _nrt=False, inline="always")
def _edges(ref, hn_lo, hn_hi, hd):
    """max(1, ceil(ref - hn_lo / hd)), min(2**40, floor(ref + hn_hi / hd)); a huge width saturates."""
    top = (1 << 62) // hd
    lo = 1
    if ref < top and hn_lo < (1 << 62) - ref * hd:
        lo = max(1, -((hn_lo - ref * hd) // hd))
    hi = MAX_UNITS
    if ref < top and hn_hi < (1 << 62) - ref * hd:
        hi = min(MAX_UNITS, (ref * hd + hn_hi) // hd)
    return lo, hi


@njit(cache=True, _nrt=False, inline="always")
def _widths(h, n):
    """(1 + n) x h, saturated at 2**62 (a collar that wide holds every price)."""
    if n + 1 > (1 << 62) // max(h, 1):
        return 1 << 62
    return (n + 1) * h


@njit(cache=True, _nrt=False)
def _collar(st, sym):
    """The collar of an oracle instrument's call (12.4): (lo, hi) in ticks."""
    h = st.i_os[sym, OS_H0N]
    return _edges(st.i_os[sym, OS_RC], _widths(h, st.i_os[sym, OS_NL]), _widths(h, st.i_os[sym, OS_NU]),
                  st.i_os[sym, OS_H0D])


@njit(cache=True, _nrt=False, inline="always")
def _mul2(a, b):
    """a x b (each below 2**41) in two words: (hi, lo) with the value hi * LIMB + lo."""
    a1 = a >> 31
    a0 = a & (LIMB - 1)
    b1 = b >> 31
    b0 = b & (LIMB - 1)
    low = a0 * b0
    return (low >> 31) + a1 * b0 + a0 * b1 + ((a1 * b1) << 31), low & (LIMB - 1)


@njit(cache=True, _nrt=False)
def _win_expire(st, sym):
    """Drop the window's fills at or before now - ref_window_ms (7.1)."""
    o = st.i_os[sym]
    cap = st.w_buf.shape[1]
    edge = st.meta[M_NOW] - st.i_oc[sym, OC_WIN]
    while o[OS_W_N] > 0:
        e = st.w_buf[sym, o[OS_W_HEAD]]
        if e[W_T] > edge:
            break
        lo = o[OS_S_LO] - e[W_LO]
        hi = o[OS_S_HI] - e[W_HI]
        if lo < 0:
            lo += LIMB
            hi -= 1
        o[OS_S_LO] = lo
        o[OS_S_HI] = hi
        o[OS_Q] -= e[W_Q]
        o[OS_W_HEAD] = (o[OS_W_HEAD] + 1) % cap
        o[OS_W_N] -= 1


@njit(cache=True, _nrt=False)
def _win_room(st, sym):
    """True when the window can take a fill at a new trade time (after expiring old ones)."""
    if st.i_os[sym, OS_W_N] < st.w_buf.shape[1]:
        return True
    _win_expire(st, sym)
    return st.i_os[sym, OS_W_N] < st.w_buf.shape[1]


@njit(cache=True, _nrt=False, inline="always")
def _win_add(st, sym, px, qty):
    """Count a fill of px x qty at trade time now in the window (fills of one time share an entry)."""
    hi, lo = _mul2(px, qty)
    _win_add2(st, sym, hi, lo, qty)


@njit(cache=True, _nrt=False, inline="always")
def _win_add2(st, sym, hi, lo, qty):
    """Count fills worth hi * LIMB + lo (price x quantity) of qty lots at trade time now in the window."""
    os_ = st.i_os
    w = st.w_buf
    mask = w.shape[1] - 1  # the ring's size is a power of two
    now = st.meta[M_NOW]
    n = os_[sym, OS_W_N]
    j = (os_[sym, OS_W_HEAD] + n - 1) & mask
    if n == 0 or w[sym, j, W_T] != now:  # a new trade time: a new entry, written once (lo < LIMB already)
        j = (j + 1) & mask
        w[sym, j, W_T] = now
        w[sym, j, W_HI] = hi
        w[sym, j, W_LO] = lo
        w[sym, j, W_Q] = qty
        os_[sym, OS_W_N] = n + 1
    else:
        elo = w[sym, j, W_LO] + lo
        w[sym, j, W_HI] += hi + (elo >> 31)
        w[sym, j, W_LO] = elo & (LIMB - 1)
        w[sym, j, W_Q] += qty
    slo = os_[sym, OS_S_LO] + lo
    os_[sym, OS_S_HI] += hi + (slo >> 31)
    os_[sym, OS_S_LO] = slo & (LIMB - 1)
    os_[sym, OS_Q] += qty


@njit(cache=True, _nrt=False)
def _vwap(st, sym):
    """round_half_up(sum(px x qty) / sum(qty)) over the window, by long division of the two words."""
    o = st.i_os[sym]
    q = o[OS_Q]
    quot = o[OS_S_HI] // q
    r = o[OS_S_HI] % q
    lo = o[OS_S_LO]
    for bit in range(30, -1, -1):
        r = 2 * r + ((lo >> bit) & 1)
        quot = 2 * quot
        if r >= q:
            r -= q
            quot += 1
    return quot + 1 if 2 * r >= q else quot


@njit(cache=True, _nrt=False)
def _candidate(st, sym):
    """The candidate reference C and its source (7.1)."""
    market = st.i_os[sym, OS_MARKET]
    if _fresh(st, sym) and MK_PRICED_LO <= market <= MK_PRICED_HI:
        return st.i_os[sym, OS_RT], SRC_ORACLE
    _win_expire(st, sym)
    if st.i_os[sym, OS_Q] > 0:
        return _vwap(st, sym), SRC_VWAP
    return st.i_os[sym, OS_RT], SRC_LAST


@njit(cache=True, _nrt=False)
def _ref_point(st, ev, k, sym, forced, fl, ts):
    """A reference point (7.2, 7.3): the band follows the candidate, orders outside it are canceled."""
    status = st.i_status[sym]
    fresh = _fresh(st, sym)
    if not forced and (not fresh or status == ST_CALL or status == ST_HALTED):
        return k
    b = st.i_os[sym, OS_BREF]
    if not fresh and b > 0:  # forced while stale: the band stays, the orders a call let in outside it go
        return _band_cancel(st, ev, k, sym, st.i_lo[sym], st.i_hi[sym], fl, ts)
    c, src = _candidate(st, sym)
    took = forced or b == 0 or abs(c - b) * 10_000 >= st.i_oc[sym, OC_MOVE_BP] * b
    ref = c if took else b
    hn, hd = _half(st, sym, ref)
    lo, hi = _edges(ref, hn, hn, hd)
    if st.i_band[sym] and ref == b and lo == st.i_lo[sym] and hi == st.i_hi[sym]:
        if forced:  # a call took orders without the band check: those outside it go
            return _band_cancel(st, ev, k, sym, lo, hi, fl, ts)
        return k
    if took:
        st.i_os[sym, OS_BSRC] = src
    st.i_os[sym, OS_BREF] = ref
    st.i_band[sym] = 1
    st.i_lo[sym] = lo
    st.i_hi[sym] = hi
    k = _emit(ev, k, BAND_EV, st.i_os[sym, OS_BSRC], 0, fl, sym, 0, ref, 0, 0, lo, hi, 0, ts, 0)
    return _band_cancel(st, ev, k, sym, lo, hi, fl, ts)


@njit(cache=True, _nrt=False)
def _stale(st, ev, k, sym, fl, ts):
    """The oracle went stale (6.4): an oracle event with the last trusted values; the band stops."""
    if st.i_os[sym, OS_STALE]:
        return k
    o = st.i_os[sym]
    o[OS_STALE] = 1
    o[OS_T_GRID] = NO_TIMER
    _next_timer(st)
    return _emit(ev, k, ORACLE_EV, OS_STALE_ST, o[OS_MARKET], fl, sym, 0, o[OS_RT], o[OS_TMULT_M], o[OS_TT],
                 o[OS_TMULT_E], 0, 0, ts, 0)


@njit(cache=True, _nrt=False)
def _settle(st, ev, k, sym, fl, ts, grid):
    """After a command or timer touched an oracle instrument: the limit-state check (10), then the grid (7.2 b);
    grid: the timer ref_grid is what fired (_grid_fired set it again)."""
    status = st.i_status[sym]
    if (status == ST_CONTINUOUS or status == ST_LIMIT_UP or status == ST_LIMIT_DOWN) and st.i_band[sym]:
        bb = 2 * sym
        up = st.b_n[bb] > 0 and st.l_px[st.b_lv[bb, st.b_n[bb] - 1]] == st.i_hi[sym]
        down = st.b_n[bb + 1] > 0 and st.l_px[st.b_lv[bb + 1, st.b_n[bb + 1] - 1]] == st.i_lo[sym]
        new = ST_CONTINUOUS
        if up:
            new = ST_LIMIT_UP
        elif down:
            new = ST_LIMIT_DOWN
        if new != status:
            st.i_status[sym] = new
            if new == ST_CONTINUOUS:
                st.i_os[sym, OS_T_LIMIT] = NO_TIMER
                k = _status(st, ev, k, sym, new, SR_UNPINNED, 0, fl, ts)
            else:
                until = _later(st.meta[M_NOW], st.i_oc[sym, OC_LIMIT])
                st.i_os[sym, OS_T_LIMIT] = until
                k = _status(st, ev, k, sym, new, SR_PINNED, until, fl, ts)
            _next_timer(st)
            status = new
    if (status == ST_CONTINUOUS or status == ST_LIMIT_UP or status == ST_LIMIT_DOWN) and _fresh(st, sym):
        g = st.i_oc[sym, OC_GRID]
        now = st.meta[M_NOW]
        nxt = _later(now - now % g, g)
        # unset, or put off by _grid_fired: anything the command did may matter at the next grid point
        if st.i_os[sym, OS_T_GRID] > nxt and not grid:
            st.i_os[sym, OS_T_GRID] = nxt
            _next_timer(st)
    return k


@njit(cache=True, _nrt=False)
def _grid_fired(st, ev, k, sym, d):
    """The timer ref_grid fired at d: a reference point (7.2 b), and the timer set again.

    When the point changed nothing, the grid points after it change nothing either until the candidate
    or the half-width can change: a fill leaves the window, or a doubling window of the regular session
    begins or ends (no command comes in between; a command that touches the instrument sets the timer
    back to the next grid point, _settle). Those points are skipped: a clock that jumps a day ahead
    would otherwise fire the timer at each of them."""
    k0 = k
    k = _ref_point(st, ev, k, sym, False, TIMED, d)
    g = st.i_oc[sym, OC_GRID]
    nxt = _later(d - d % g, g)
    if k == k0 and _fresh(st, sym):
        change = NO_TIMER
        market = st.i_os[sym, OS_MARKET]
        if not (MK_PRICED_LO <= market <= MK_PRICED_HI):  # the candidate is the window's, or the last oracle
            _win_expire(st, sym)
            if st.i_os[sym, OS_W_N] > 0:
                change = _later(st.w_buf[sym, st.i_os[sym, OS_W_HEAD], W_T], st.i_oc[sym, OC_WIN])
        if market == MK_REGULAR and st.i_pol[sym, market, P_BP] < 0:
            ro = st.i_os[sym, OS_REGOPEN]
            rc = st.i_os[sym, OS_REGCLOSE]
            for edge in (ro, ro + 15 * MINUTE, rc - 25 * MINUTE, rc):
                if edge > d:
                    change = min(change, edge)
        if change == NO_TIMER:
            nxt = NO_TIMER
        elif change > nxt:
            nxt = _later(change - 1 - (change - 1) % g, g)  # the first grid point at or after the change
    st.i_os[sym, OS_T_GRID] = nxt
    _next_timer(st)
    return k


@njit(cache=True, _nrt=False)
def _oracle(st, c, ev, k):
    """An oracle update (section 6): step guard, staleness, causes, opening auction, reference point."""
    sym = c.sym
    fl = c.flags & F_HAS_TS
    ts = c.ts
    if sym < 0 or sym >= len(st.i_band):  # the decoders never send these; a buggy driver must not crash the kernel
        return _emit(ev, k, REJECTED, R_UNKNOWN_SYMBOL, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
    if not st.i_oc[sym, OC_ON] or c.px < 1 or c.px > MAX_UNITS or c.side < 0 or c.side > 6:
        return _emit(ev, k, REJECTED, R_NO_ORACLE if not st.i_oc[sym, OC_ON] else R_BAD_PRICE, 0, fl, -1,
                     0, 0, 0, 0, 0, 0, 0, ts, 0)
    o = st.i_os[sym]
    ots = c.oid
    if o[OS_HAVE] and ots <= o[OS_LASTOTS]:
        return _emit(ev, k, REJECTED, R_BAD_OTS, 0, fl, -1, 0, 0, 0, 0, 0, 0, 0, ts, 0)
    first = o[OS_HAVE] == 0
    prev_market = o[OS_MARKET]
    o[OS_HAVE] = 1
    o[OS_LASTOTS] = ots
    o[OS_MARKET] = c.side
    if c.side == MK_REGULAR:
        o[OS_REGOPEN] = c.acct
        o[OS_REGCLOSE] = c.line
    r = c.px
    step = st.i_oc[sym, OC_STEP_BP]
    if o[OS_TRUSTED] == 0 or abs(r - o[OS_RT]) * 10_000 <= step * o[OS_RT]:
        state = OS_TRUSTED_ST
    elif o[OS_PEND] and ots - o[OS_TP] <= st.i_oc[sym, OC_CONFIRM] and abs(r - o[OS_RP]) * 10_000 <= step * o[OS_RP]:
        state = OS_CONFIRMED_ST
    else:
        state = OS_PENDING_ST
        o[OS_PEND] = 1
        o[OS_RP] = r
        o[OS_TP] = ots
    k = _emit(ev, k, ORACLE_EV, state, c.side, fl, sym, 0, r, c.qty, ots, c.qexp, 0, 0, ts, 0)
    if state != OS_PENDING_ST:
        o[OS_TRUSTED] = 1
        o[OS_RT] = r
        o[OS_TT] = ots
        o[OS_TMULT_M] = c.qty
        o[OS_TMULT_E] = c.qexp
        o[OS_PEND] = 0
        o[OS_T_STALE] = _later(ots, st.i_oc[sym, OC_STALE])
        o[OS_T_SHALT] = _later(ots, st.i_oc[sym, OC_HALT])
        _next_timer(st)
        if _fresh(st, sym):
            o[OS_STALE] = 0
            k = _remove_cause(st, ev, k, sym, HC_STALE, fl, ts)
        k = _remove_cause(st, ev, k, sym, HC_NO_REF, fl, ts)
    status = st.i_status[sym]
    if (not first and c.side == MK_REGULAR and prev_market != MK_REGULAR and st.i_oc[sym, OC_OPEN] > 0
            and (status == ST_CONTINUOUS or status == ST_LIMIT_UP or status == ST_LIMIT_DOWN)):
        k = _start_call(st, ev, k, sym, SR_OPEN, st.i_oc[sym, OC_OPEN], fl, ts)
    k = _ref_point(st, ev, k, sym, False, fl, ts)
    now = st.meta[M_NOW]
    if o[OS_T_STALE] <= now:  # deadlines already reached take effect at once (section 5)
        o[OS_T_STALE] = NO_TIMER
        _next_timer(st)
        k = _stale(st, ev, k, sym, fl, ts)
    if o[OS_T_SHALT] <= now:
        o[OS_T_SHALT] = NO_TIMER
        _next_timer(st)
        k = _add_cause(st, ev, k, sym, HC_STALE, fl, ts)
    return k


@njit(cache=True, _nrt=False, inline="always")
def _quiet(st, sym):
    """True when an oracle instrument has nothing for _settle after a command: it is in a call or halted,
    or it trades continuously off the band's edges and its grid timer is the next grid point (a set one
    is a multiple of the interval after now: no division)."""
    status = st.i_status[sym]
    if status == ST_CALL or status == ST_HALTED:
        return True
    if status != ST_CONTINUOUS or not st.i_band[sym]:
        return False
    bb = 2 * sym
    nb = st.b_n[bb]
    na = st.b_n[bb + 1]
    if nb > 0 and st.l_px[st.b_lv[bb, nb - 1]] == st.i_hi[sym]:
        return False
    if na > 0 and st.l_px[st.b_lv[bb + 1, na - 1]] == st.i_lo[sym]:
        return False
    return st.i_os[sym, OS_T_GRID] - st.i_oc[sym, OC_GRID] <= st.meta[M_NOW]


@njit(cache=True, _nrt=False, inline="always")
def _after(st, ev, k0, k, sym, op, fl, ts):
    """The oracle rules at the end of a command: its fills enter the window, then the limit-state check
    and the grid rule (_settle) for each touched instrument. Inlined; it calls out (a call passes the
    whole state) only when _quiet says there is work."""
    if op == HALT_ALL or op == RESUME_ALL:
        for s in range(len(st.i_band)):
            if st.i_oc[s, OC_ON]:
                k = _settle(st, ev, k, s, fl, ts, False)
        return k
    if sym < 0 or not st.i_oc[sym, OC_ON]:
        return k
    if k - k0 > 1:  # an order that only rested (or was rejected) printed one event
        _win_fills(st, ev, k0, k, sym)
    if _quiet(st, sym):
        return k
    return _settle(st, ev, k, sym, fl, ts, False)


@njit(cache=True, _nrt=False, inline="always")
def _win_fills(st, ev, k0, k, sym):
    """A command's fills of the instrument enter its window (one entry: they share the trade time now)."""
    hi = 0
    lo = 0
    q = 0
    for j in range(k0, k):
        e = ev[j]
        if e.kind == FILL and e.sym == sym:
            h, low = _mul2(e.px, e.qty)
            lo += low
            hi += h + (lo >> 31)
            lo &= LIMB - 1
            q += e.qty
    if q > 0:
        _win_add2(st, sym, hi, lo, q)


@njit(cache=True, _nrt=False, inline="always")
def _order_sym(st, c, op):
    """The instrument a command acts on, or -1 (a cancel or amend of an unknown order)."""
    if op == NEW or op == REF or op == ORACLE or op == HALT or op == RESUME:
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
        return 3 * len(st.i_band) + 1
    if (op == ORACLE or op == HALT or op == RESUME) and 0 <= c.sym < len(st.i_band):
        return 2 * (st.b_orders[2 * c.sym] + st.b_orders[2 * c.sym + 1]) + 10  # a new band cancels orders
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
                k, why = _fire_timers(st, ev, k, t)
                if why != OK:
                    return i, k, why
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
        # room for the worst case of one command: every crossing (or out-of-band) order touched twice,
        # and a status the limit-state check may print after it
        room = _room(st, c, op, cap - k) + 1
        if st.meta[M_RISK]:  # and its balance events: at most two pairs for each order it touches, and @fees
            room = 2 * room + 8
            if op == NEW or op == DEPOSIT or op == WITHDRAW or op == TIER_OP:
                if c.acct < 0:  # the decoders never send these
                    if cap - k < 1:
                        return i, k, NEED_EVENTS
                    k = _emit(ev, k, REJECTED, R_MALFORMED, 0, c.flags & F_HAS_TS, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
                    i += 1
                    continue
                if c.acct >= st.a_bal.shape[0]:
                    return i, k, NEED_ACCOUNTS
        if cap - k < room:
            return i, k, NEED_EVENTS
        nsym = -2  # a NEW's or AMEND's instrument, looked up once here (-1: an unknown order)
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
            nsym = sym  # a NEW that reaches here has a valid symbol (_bad_new): what _order_sym would give
        csym = -1
        if st.meta[M_CALLS] > 0:
            csym = nsym if nsym != -2 else _order_sym(st, c, op)
        osym = -1  # the oracle instrument the command touches; a cancel's is read from its event afterwards
        if st.meta[M_ORACLES] > 0 and op != CANCEL:
            osym = csym if st.meta[M_CALLS] > 0 else (nsym if nsym != -2 else _order_sym(st, c, op))
            if (osym >= 0 and st.i_oc[osym, OC_ON] and st.i_os[osym, OS_W_N] >= st.w_buf.shape[1]
                    and not _win_room(st, osym)):
                return i, k, NEED_WINDOW
        k0 = k
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
            if 0 <= c.sym < len(st.i_band) and st.i_oc[c.sym, OC_ON]:  # the decoder rejects these first
                k = _emit(ev, k, REJECTED, R_ORACLE_ONLY, 0, c.flags & F_HAS_TS, -1, 0, 0, 0, 0, 0, 0, 0, c.ts, 0)
            else:
                k = _ref(st, c, ev, k)
        elif op == HALT or op == RESUME or op == HALT_ALL or op == RESUME_ALL:
            k = _halts(st, c, ev, k, op)
        elif op == ORACLE:
            k = _oracle(st, c, ev, k)
        elif op == DEPOSIT or op == WITHDRAW or op == FEES_OP or op == TIER_OP:
            k = _risk_op(st, c, ev, k, op)
        elif op != TICK:
            k = _emit(ev, k, REJECTED, c.reason, c.side, c.flags, c.sym, c.oid, 0, 0, 0, 0, 0, 0, c.ts, c.line)
        if csym >= 0 and st.i_status[csym] == ST_CALL:  # a book in a call changed: its indicative (12.3 b)
            k = _indicative(st, ev, k, csym, c.flags & F_HAS_TS, c.ts, False)
        if st.meta[M_ORACLES] > 0:
            if op == CANCEL and k > k0 and ev[k0].kind == CANCELED:
                osym = ev[k0].sym
            k = _after(st, ev, k0, k, osym, op, c.flags & F_HAS_TS, c.ts)
        if st.meta[M_TOUCHED]:
            k = _flush(st, ev, k, c.flags & F_HAS_TS, c.ts)
        i += 1
    return i, k, OK
