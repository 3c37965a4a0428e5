"""The engine's state as plain numpy arrays: order pool, price levels, books, oid hash table."""
from __future__ import annotations

import ctypes
import mmap
from typing import NamedTuple

import numpy as np
from kabuto.engine.instruments import DEFAULT_INDICATIVE_MS, DEFAULT_REOPEN_MS
from kabuto.engine.jit import njit
from kabuto.engine.oidhash import EMPTY, rehash_table

# meta slots
M_FREE_ORDER = 0  # head of the free list of order slots
M_FREE_LEVEL = 1  # head of the free list of level slots
M_LIVE = 2  # live (resting) orders
M_HASH_USED = 3  # occupied hash slots
M_SEQ = 4  # events emitted so far (the last seq)
M_NOW = 5  # the clock: the largest command ts seen, or the deadline of the firing timer (ns)
M_NEXT_TIMER = 6  # the earliest deadline of any timer (NO_TIMER when none is set)
M_HALT_ALL = 7  # 1 while the market-wide halt is on
M_TIME = 8  # time priority: orders that rested so far (an order's o_time is its place)
M_CALLS = 9  # instruments in a call now (0 skips the indicative check after each command)
M_ORACLES = 10  # oracle instruments (0 skips every oracle rule after each command)
# balances (docs/balances.md): all 0 with risk off
M_RISK = 11  # 1 with risk on
M_FEE_ACCT = 12  # the account id of @fees
M_DEP = 13  # the last consumed deposit id
M_WID = 14  # the last withdrawal id
M_TOUCHED = 15  # (account, asset) pairs in t_list: changed by the current command or timer step
# the taker being matched, while it is no order slot: its hold price, open quantity's hold, fee accumulator and rates
M_T_P, M_T_HOLD, M_T_AQ, M_T_AR, M_T_RT, M_T_RM = range(16, 22)
META_SIZE = 24

NO_TIMER = (1 << 63) - 1
# i_ind columns: the last indicative event of the current call, compared to decide whether to print
IND_PX, IND_MATCHED, IND_IMBALANCE, IND_SIDE, IND_LO, IND_HI, IND_UNTIL = range(7)
IND_COLS = 7
# i_oc columns: an oracle instrument's configuration (docs/market-integrity.md 3), durations in ns
(OC_ON, OC_TIER_BP, OC_STEP_BP, OC_CONFIRM, OC_STALE, OC_HALT, OC_WIN, OC_GRID, OC_MOVE_BP, OC_LIMIT, OC_PAUSE,
 OC_OPEN, OC_COLLAR_BP, OC_P3, OC_P075, OC_N15, OC_D15) = range(17)
OC_COLS = 17
# i_pol[sym, market] columns: the policy of one market status; P_BP and P_MAXN are -1 when absent
P_FACTOR, P_BP, P_MARKET, P_MAXN = range(4)
POL_COLS = 4
# i_os columns: an oracle instrument's state. Timers hold a deadline or NO_TIMER.
(OS_TRUSTED, OS_RT, OS_TT, OS_TMULT_M, OS_TMULT_E, OS_PEND, OS_RP, OS_TP, OS_HAVE, OS_LASTOTS, OS_MARKET,
 OS_REGOPEN, OS_REGCLOSE, OS_STALE, OS_BREF, OS_BSRC, OS_T_STALE, OS_T_SHALT, OS_T_GRID, OS_T_LIMIT, OS_RC,
 OS_H0N, OS_H0D, OS_NU, OS_NL, OS_W_HEAD, OS_W_N, OS_S_HI, OS_S_LO, OS_Q) = range(30)
OS_COLS = 30
OS_TIMERS = (OS_T_STALE, OS_T_SHALT, OS_T_GRID, OS_T_LIMIT)
# w_buf[sym, slot] columns: the fills of the reference window, one entry per trade time
W_T, W_HI, W_LO, W_Q = range(4)
W_COLS = 4
W_START = 16  # starting window entries per instrument
# defaults of the instrument keys of docs/market-integrity.md section 3 (Engine sets each instrument's)
REOPEN_NS = DEFAULT_REOPEN_MS * 1_000_000
INDICATIVE_NS = DEFAULT_INDICATIVE_MS * 1_000_000


class State(NamedTuple):
    """All engine state; every field is a numpy array so the kernel can take it whole."""
    # order pool (structure of arrays); o_next threads the free list
    o_oid: np.ndarray
    o_acct: np.ndarray
    o_px: np.ndarray
    o_qty: np.ndarray
    o_next: np.ndarray
    o_prev: np.ndarray
    o_level: np.ndarray
    o_book: np.ndarray
    o_stp: np.ndarray
    o_tif: np.ndarray
    o_time: np.ndarray  # time priority across the venue: smaller rested earlier
    # price levels; l_head threads the free list
    l_px: np.ndarray
    l_qty: np.ndarray
    l_head: np.ndarray
    l_tail: np.ndarray
    l_count: np.ndarray
    # books (one per symbol and side): level indexes sorted worst..best, best last
    b_lv: np.ndarray
    b_n: np.ndarray
    b_orders: np.ndarray
    # instruments
    i_band: np.ndarray
    i_lo: np.ndarray
    i_hi: np.ndarray
    i_minq: np.ndarray
    i_tm: np.ndarray  # tick = i_tm * 10**i_te
    i_te: np.ndarray
    i_lm: np.ndarray  # lot = i_lm * 10**i_le
    i_le: np.ndarray
    # market integrity (docs/market-integrity.md)
    i_ref: np.ndarray     # plain instrument: its last reference price in ticks, rounded half up (0: none)
    i_last: np.ndarray    # the price of its last fill in ticks (0: none)
    i_status: np.ndarray  # Status
    i_sreason: np.ndarray  # StatusReason of the last status event (0 before any)
    i_causes: np.ndarray  # HaltCause bits
    i_until: np.ndarray   # end of the current call (ns)
    i_tcall: np.ndarray   # timer call_end: deadline or NO_TIMER
    i_tind: np.ndarray    # timer indicative: deadline or NO_TIMER
    i_reopen: np.ndarray  # reopen_ms in ns
    i_indns: np.ndarray   # indicative_ms in ns
    i_ind: np.ndarray     # (n, IND_COLS) the last indicative printed in the current call
    i_oc: np.ndarray      # (n, OC_COLS) oracle configuration (OC_ON 0: a plain instrument)
    i_pol: np.ndarray     # (n, 7, POL_COLS) policy by market status
    i_os: np.ndarray      # (n, OS_COLS) oracle state, its timers, the collar, the window's ring and sums
    w_buf: np.ndarray     # (n, cap, W_COLS) ring of window fills per instrument
    # oid -> order slot, open addressing with linear probing
    h_key: np.ndarray
    h_val: np.ndarray
    meta: np.ndarray
    # balances (docs/balances.md); small placeholders with risk off
    r_rt: np.ndarray      # per order slot: its taker rate, fixed at acceptance (millionths)
    r_rm: np.ndarray      # its maker rate
    r_aq: np.ndarray      # its fee accumulator acc as acc // 10^6 ...
    r_ar: np.ndarray      # ... and acc % 10^6
    i_base: np.ndarray    # per instrument: base and quote asset ids, base units per lot, quote units per tick x lot
    i_quote: np.ndarray
    i_bf: np.ndarray
    i_qf: np.ndarray
    a_bal: np.ndarray     # (accounts, assets, 2): total, held
    a_tier: np.ndarray    # per account: its fee tier
    t_old: np.ndarray     # (accounts, assets, 2): a touched pair's (total, held) before; total -1: untouched
    t_list: np.ndarray    # the touched pairs as acct * assets + asset
    f_tier: np.ndarray    # (256, 3): defined, maker rate, taker rate
    s_dw: np.ndarray      # (assets, 2): deposited, withdrawn


ORDER_FIELDS = ("o_oid", "o_acct", "o_px", "o_qty", "o_next", "o_prev", "o_level", "o_book", "o_stp", "o_tif",
                "o_time")
RISK_FIELDS = ("r_rt", "r_rm", "r_aq", "r_ar")  # their own rows: with risk off they stay two rows
LEVEL_FIELDS = ("l_px", "l_qty", "l_head", "l_tail", "l_count")
HASH_FIELDS = ("h_key", "h_val")


_libc = ctypes.CDLL(None) if hasattr(mmap, "MADV_HUGEPAGE") else None  # Linux


def advise_huge(buf: np.ndarray) -> None:
    """Ask for transparent huge pages over every page the buffer touches, its first included.

    numpy advises big buffers from their first page boundary on: the page before is left a mapping
    of its own, and realloc cannot remap (mremap) a block that spans two mappings, so it copies."""
    if _libc is None or buf.nbytes < 1 << 22:
        return
    at = buf.__array_interface__["data"][0]
    start = at - at % mmap.PAGESIZE
    _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(at + buf.nbytes - start), mmap.MADV_HUGEPAGE)


def _rows(n: int, fields: tuple[str, ...], value: int = 0) -> dict[str, np.ndarray]:
    """One int64 row per record, its fields as strided column views (named like arrays of their own).

    The kernel reads and writes the columns, but an order's fields share one or two cache lines:
    on books too big for the cache that halves the misses of separate arrays."""
    buf = np.empty((n, len(fields)), np.int64)
    advise_huge(buf)
    buf.fill(value)  # touch every page now, not inside the first timed batch
    return _columns(buf, fields)


def _columns(buf: np.ndarray, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {f: buf[:, i] for i, f in enumerate(fields)}


def _owned_rows(st: State, fields: tuple[str, ...]) -> np.ndarray | None:
    """The row buffer behind the fields' columns when it owns its memory and is laid out as _rows makes it."""
    cols = [getattr(st, f) for f in fields]
    buf = cols[0].base
    if buf is None or not buf.flags.owndata or not buf.flags.c_contiguous or buf.shape != (len(cols[0]), len(fields)):
        return None
    at = buf.__array_interface__["data"][0]
    if any(c.base is not buf or c.__array_interface__["data"][0] != at + 8 * i for i, c in enumerate(cols)):
        return None
    return buf


def _grown_rows(st: State, fields: tuple[str, ...], n: int) -> dict[str, np.ndarray]:
    """The fields' columns grown to n rows: the old rows keep their values, the new ones are zero.

    In place when the state owns its row buffer: realloc moves a big block by remapping its pages,
    not by copying them. Every column of st then points into freed memory: the caller replaces
    them all and nobody may keep st."""
    buf = _owned_rows(st, fields)
    if buf is not None:
        buf.resize((n, len(fields)), refcheck=False)  # numpy zeroes the new rows
        advise_huge(buf)
        return _columns(buf, fields)
    cols = _rows(n, fields)
    for f in fields:
        src = getattr(st, f)
        cols[f][:len(src)] = src
    return cols


@njit(cache=True, _nrt=False)
def _free_rows(link, empties, start, stop, tail):
    """Rows start..stop-1 as a free list threaded through link and ending in tail, their empties columns EMPTY."""
    # one pass over the rows: a pass per column would sweep the whole row buffer once per column
    for i in range(start, stop):
        link[i] = i + 1
        for col in empties:
            col[i] = EMPTY
    link[stop - 1] = tail


def _hash_size(orders: int) -> int:
    size = 1
    while size < orders * 2:
        size <<= 1
    return size


def new_state(n_symbols: int, orders: int = 1 << 16, levels: int = 1 << 12,
              book_levels: int = 256) -> State:
    """A fresh, empty state for n_symbols instruments with the given starting capacities."""
    o = _rows(orders, ORDER_FIELDS)
    _free_rows(o["o_next"], (o["o_prev"], o["o_level"]), 0, orders, EMPTY)
    lv = _rows(levels, LEVEL_FIELDS)
    _free_rows(lv["l_head"], (lv["l_tail"],), 0, levels, EMPTY)
    h = _rows(_hash_size(orders), HASH_FIELDS, EMPTY)
    return State(
        **o, **lv, **h,
        b_lv=np.zeros((n_symbols * 2, book_levels), np.int32),
        b_n=np.zeros(n_symbols * 2, np.int32), b_orders=np.zeros(n_symbols * 2, np.int64),
        i_band=np.zeros(n_symbols, np.int8), i_lo=np.zeros(n_symbols, np.int64),
        i_hi=np.zeros(n_symbols, np.int64), i_minq=np.ones(n_symbols, np.int64),
        i_tm=np.ones(n_symbols, np.int64), i_te=np.zeros(n_symbols, np.int64),
        i_lm=np.ones(n_symbols, np.int64), i_le=np.zeros(n_symbols, np.int64),
        i_ref=np.zeros(n_symbols, np.int64), i_last=np.zeros(n_symbols, np.int64),
        i_status=np.zeros(n_symbols, np.int64), i_sreason=np.zeros(n_symbols, np.int64),
        i_causes=np.zeros(n_symbols, np.int64),
        i_until=np.zeros(n_symbols, np.int64), i_tcall=np.full(n_symbols, NO_TIMER, np.int64),
        i_tind=np.full(n_symbols, NO_TIMER, np.int64), i_reopen=np.full(n_symbols, REOPEN_NS, np.int64),
        i_indns=np.full(n_symbols, INDICATIVE_NS, np.int64), i_ind=np.zeros((n_symbols, IND_COLS), np.int64),
        i_oc=np.zeros((n_symbols, OC_COLS), np.int64), i_pol=np.zeros((n_symbols, 7, POL_COLS), np.int64),
        i_os=new_oracle_state(n_symbols), w_buf=np.zeros((n_symbols, W_START, W_COLS), np.int64),
        meta=new_meta(), **_risk_arrays(n_symbols, 0, 1, 1),
    )


def _risk_arrays(n_symbols: int, orders: int, accounts: int, assets: int) -> dict[str, np.ndarray]:
    """The balances arrays for this many order slots (0: risk off, two placeholder rows), accounts and assets."""
    t_old = np.zeros((accounts, assets, 2), np.int64)
    t_old[:, :, 0] = -1
    return dict(
        **_rows(max(orders, 2), RISK_FIELDS),  # two rows at least: strided views, typed as with risk on
        i_base=np.zeros(n_symbols, np.int64), i_quote=np.zeros(n_symbols, np.int64),
        i_bf=np.ones(n_symbols, np.int64), i_qf=np.ones(n_symbols, np.int64),
        a_bal=np.zeros((accounts, assets, 2), np.int64), a_tier=np.zeros(accounts, np.int64),
        t_old=t_old, t_list=np.zeros(accounts * assets, np.int64),
        f_tier=np.zeros((256, 3), np.int64), s_dw=np.zeros((assets, 2), np.int64),
    )


def with_risk(st: State, base, quote, bf, qf, n_assets: int, tiers, fee_acct: int) -> State:
    """A fresh state with risk on: instruments' assets and unit factors, the fee schedule, room for fee_acct."""
    arrays = _risk_arrays(len(st.i_band), len(st.o_oid), max(16, fee_acct + 1), n_assets)
    arrays["i_base"][:] = base
    arrays["i_quote"][:] = quote
    arrays["i_bf"][:] = bf
    arrays["i_qf"][:] = qf
    for tier, maker, taker in tiers:
        arrays["f_tier"][tier] = (1, maker, taker)
    st.meta[M_RISK] = 1
    st.meta[M_FEE_ACCT] = fee_acct
    return st._replace(**arrays)


def grow_accounts(st: State, accounts: int) -> State:
    """Room for account ids below `accounts` (at least double): balances, tiers, touched pairs."""
    old, n_assets, _ = st.a_bal.shape
    n = max(accounts, old * 2)
    a = _risk_arrays(0, 0, n, n_assets)
    a["a_bal"][:old] = st.a_bal
    a["a_tier"][:old] = st.a_tier
    a["t_old"][:old] = st.t_old
    a["t_list"][:len(st.t_list)] = st.t_list
    return st._replace(a_bal=a["a_bal"], a_tier=a["a_tier"], t_old=a["t_old"], t_list=a["t_list"])


def new_oracle_state(n_symbols: int) -> np.ndarray:
    """The i_os rows of instruments that never had an oracle update: no timer set."""
    os_ = np.zeros((n_symbols, OS_COLS), np.int64)
    os_[:, list(OS_TIMERS)] = NO_TIMER
    return os_


def grow_window(st: State) -> State:
    """Double every instrument's window ring; each ring is unwrapped to start at slot 0."""
    n, cap, cols = st.w_buf.shape
    w = np.zeros((n, cap * 2, cols), np.int64)
    for s in range(n):
        head = int(st.i_os[s, OS_W_HEAD])
        w[s, :cap] = np.roll(st.w_buf[s], -head, axis=0)
        st.i_os[s, OS_W_HEAD] = 0
    return st._replace(w_buf=w)


def new_meta() -> np.ndarray:
    """The meta slots of an empty state."""
    meta = np.zeros(META_SIZE, dtype=np.int64)
    meta[M_NEXT_TIMER] = NO_TIMER
    return meta


def grow_orders(st: State) -> State:
    """Double the order pool; new slots join the free list."""
    old = len(st.o_oid)
    o = _grown_rows(st, ORDER_FIELDS, old * 2)
    _free_rows(o["o_next"], (o["o_prev"], o["o_level"]), old, old * 2, st.meta[M_FREE_ORDER])
    st.meta[M_FREE_ORDER] = old
    if st.meta[M_RISK]:
        o.update(_grown_rows(st, RISK_FIELDS, old * 2))
    return st._replace(**o)


def grow_levels(st: State) -> State:
    """Double the level pool; new slots join the free list."""
    old = len(st.l_px)
    lv = _grown_rows(st, LEVEL_FIELDS, old * 2)
    _free_rows(lv["l_head"], (lv["l_tail"],), old, old * 2, st.meta[M_FREE_LEVEL])
    st.meta[M_FREE_LEVEL] = old
    return st._replace(**lv)


def grow_book_levels(st: State) -> State:
    """Double how many price levels each book can hold."""
    nb, cap = st.b_lv.shape
    lv = np.zeros((nb, cap * 2), np.int32)
    lv[:, :cap] = st.b_lv
    return st._replace(b_lv=lv)


def _rehashed(st: State, h: dict[str, np.ndarray]) -> State:
    rehash_table(st.h_key, st.h_val, h["h_key"], h["h_val"])
    return st._replace(**h)


def grow_hash(st: State) -> State:
    """Double the oid hash table and re-insert every live order."""
    return _rehashed(st, _rows(len(st.h_key) * 2, HASH_FIELDS, EMPTY))


def rebuild_hash(st: State) -> State:
    """The oid hash table re-inserted at its size: a table saved by an older hash function is findable again."""
    h = _rows(len(st.h_key), HASH_FIELDS, EMPTY)
    h["h_val"][:] = st.h_val  # empty entries keep their stale values: a table rebuilt as it was is the same bytes
    return _rehashed(st, h)
