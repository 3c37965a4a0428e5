"""Market data of a batch: per symbol, an `md` message (trades, changed levels) and an `l3` message (its ops)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from kabuto.engine.jit import njit
from kabuto.engine.oidhash import EMPTY
from kabuto.gateway.frames import FRAME_L3, FRAME_MD, add_frame
from kabuto.gateway.msgpackw import write_array_header, write_decimal, write_packed, write_uint
from kabuto.gateway.wiretables import (
    S_ADD,
    S_AMEND,
    S_BUY,
    S_CANCEL,
    S_DELETE,
    S_FILL,
    S_L3,
    S_MD,
    S_SYMBOLS,
    U_PX_PLACES,
    U_PX_UNITS,
    U_QTY_PLACES,
    U_QTY_UNITS,
)

# trade rows (T_NEXT: the symbol's next trade)
T_SEQ, T_PX, T_QTY, T_SIDE, T_TS, T_NEXT = range(6)
T_COLS = 6
# level rows: a touched level (book 2 * sym + side, price) and the net change of its resting quantity
LV_BOOK, LV_PX, LV_NEXT, LV_CHANGE = range(4)
LV_COLS = 4
# symbol rows: the batch that wrote the marks, then the head and tail of its trades, levels and ops
SY_BATCH, SY_TRADES, SY_TRADES_TAIL, SY_LEVELS, SY_LEVELS_TAIL, SY_OPS, SY_OPS_TAIL = range(7)
SY_COLS = 7
# level set rows (open addressing by book and price): the batch that wrote it, book, price, level row
LS_BATCH, LS_BOOK, LS_PX, LS_LEVEL = range(4)
LS_COLS = 4
# L3 op rows; OP_KIND is the op's name entry (L3_*)
OP_KIND, OP_OID, OP_SIDE, OP_PX, OP_QTY, OP_OPEN, OP_NEXT = range(7)
OP_COLS = 7
L3_ADD, L3_FILL, L3_CANCEL, L3_AMEND, L3_DELETE = S_ADD, S_FILL, S_CANCEL, S_AMEND, S_DELETE
# counts
N_SYMBOLS, N_LEVELS, N_TRADES, N_OPS = range(4)

MD_FIELDS, L3_FIELDS = 6, 5  # ["md", sym, seq, ts, trades, levels], ["l3", sym, seq, ts, ops]


class MdScratch(NamedTuple):
    """One batch's trades, touched levels and L3 ops, listed per symbol (numba takes the tuple whole)."""
    trades: np.ndarray     # (trades, T_COLS)
    levels: np.ndarray     # (levels, LV_COLS)
    symbols: np.ndarray    # (symbols, SY_COLS)
    touched: np.ndarray    # symbols touched in the batch
    level_set: np.ndarray  # (power of two, LS_COLS): touched levels by book and price
    ops: np.ndarray        # (ops, OP_COLS)
    counts: np.ndarray     # N_SYMBOLS, N_LEVELS, N_TRADES, N_OPS


def _pow2(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


def new_md_scratch(n_events: int, n_symbols: int) -> MdScratch:
    """Room for the market data of n_events events over n_symbols symbols."""
    return MdScratch(np.zeros((n_events, T_COLS), np.int64), np.zeros((2 * n_events, LV_COLS), np.int64),
                     np.zeros((n_symbols, SY_COLS), np.int64), np.zeros(n_symbols, np.int64),
                     np.zeros((_pow2(4 * n_events), LS_COLS), np.int64), np.zeros((3 * n_events, OP_COLS), np.int64),
                     np.zeros(4, np.int64))


@njit(cache=True, _nrt=False)
def clear_market_data(md):
    """Start a batch: nothing touched yet."""
    for j in range(md.counts.shape[0]):
        md.counts[j] = 0


@njit(cache=True, _nrt=False)
def _touch_symbol(md, batch, sym):
    row = md.symbols[sym]
    if row[SY_BATCH] != batch:
        row[SY_BATCH] = batch
        for j in range(SY_TRADES, SY_COLS):
            row[j] = EMPTY
        md.touched[md.counts[N_SYMBOLS]] = sym
        md.counts[N_SYMBOLS] += 1


@njit(cache=True, _nrt=False)
def _append(rows, next_col, symbols, sym, head_col, k):
    """Link row k at the end of symbol sym's list (head and tail in symbols[sym, head_col:head_col + 2])."""
    rows[k, next_col] = EMPTY
    if symbols[sym, head_col] == EMPTY:
        symbols[sym, head_col] = k
    else:
        rows[symbols[sym, head_col + 1], next_col] = k
    symbols[sym, head_col + 1] = k


@njit(cache=True, _nrt=False)
def add_trade(md, batch, sym, seq, px, qty, side, ts):
    """A trade of the batch (side: the taker's)."""
    _touch_symbol(md, batch, sym)
    k = md.counts[N_TRADES]
    row = md.trades[k]
    row[T_SEQ] = seq
    row[T_PX] = px
    row[T_QTY] = qty
    row[T_SIDE] = side
    row[T_TS] = ts
    _append(md.trades, T_NEXT, md.symbols, sym, SY_TRADES, k)
    md.counts[N_TRADES] = k + 1


@njit(cache=True, _nrt=False)
def change_level(md, batch, sym, side, px, d):
    """The resting quantity at level (sym, side, px) changed by d lots (summed over the batch: the
    md message names only levels whose quantity differs from before the batch)."""
    book = 2 * sym + side
    ls = md.level_set
    mask = ls.shape[0] - 1
    i = ((px * 0x9E3779B1) ^ (book * 0x85EBCA77)) & mask
    while ls[i, LS_BATCH] == batch:
        if ls[i, LS_BOOK] == book and ls[i, LS_PX] == px:
            md.levels[ls[i, LS_LEVEL], LV_CHANGE] += d
            return
        i = (i + 1) & mask
    ls[i, LS_BATCH] = batch
    ls[i, LS_BOOK] = book
    ls[i, LS_PX] = px
    _touch_symbol(md, batch, sym)
    k = md.counts[N_LEVELS]
    ls[i, LS_LEVEL] = k
    row = md.levels[k]
    row[LV_BOOK] = book
    row[LV_PX] = px
    row[LV_CHANGE] = d
    _append(md.levels, LV_NEXT, md.symbols, sym, SY_LEVELS, k)
    md.counts[N_LEVELS] = k + 1


@njit(cache=True, _nrt=False)
def add_op(md, batch, sym, kind, oid, side, px, qty, open_):
    """One L3 op (kind L3_*) of a resting order."""
    _touch_symbol(md, batch, sym)
    k = md.counts[N_OPS]
    row = md.ops[k]
    row[OP_KIND] = kind
    row[OP_OID] = oid
    row[OP_SIDE] = side
    row[OP_PX] = px
    row[OP_QTY] = qty
    row[OP_OPEN] = open_
    _append(md.ops, OP_NEXT, md.symbols, sym, SY_OPS, k)
    md.counts[N_OPS] = k + 1


@njit(cache=True, _nrt=False)
def _level_qty(b_lv, b_n, l_px, l_qty, book, side, px):
    """The resting quantity at px in the engine's book (0: no such level); its levels are sorted by price."""
    lo = 0
    n = b_n[book]
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        q = l_px[b_lv[book, mid]]
        if (px > q) if side == 0 else (px < q):
            lo = mid + 1
        else:
            hi = mid
    if lo < n and l_px[b_lv[book, lo]] == px:
        return l_qty[b_lv[book, lo]]
    return 0


@njit(cache=True, _nrt=False)
def _chain_length(rows, next_col, head):
    """How many rows a linked list threaded through column next_col holds."""
    n = 0
    while head != EMPTY:
        n += 1
        head = rows[head, next_col]
    return n


@njit(cache=True, _nrt=False)
def _changed_levels(md, k):
    """How many of a symbol's touched levels (list from row k) changed their resting quantity."""
    n = 0
    while k != EMPTY:
        if md.levels[k, LV_CHANGE] != 0:
            n += 1
        k = md.levels[k, LV_NEXT]
    return n


@njit(cache=True, _nrt=False)
def write_feed_header(out, p, wire, n_fields, kind, sym, seq, now):
    """[kind, sym, seq, ts, ...: the start of an n_fields array of the market data feed."""
    out[p] = 0x90 | n_fields
    p = write_packed(out, p + 1, wire.names, wire.name_off, kind)
    p = write_packed(out, p, wire.names, wire.name_off, S_SYMBOLS + sym)
    p = write_uint(out, p, seq)
    return write_uint(out, p, now)


@njit(cache=True, _nrt=False)
def write_md(md, wire, out, p, sym, seq, now, n_changed, b_lv, b_n, l_px, l_qty):
    """["md", sym, seq, ts, trades, levels] of one symbol: its trades, and the quantity now in the
    engine's book of its n_changed levels whose quantity changed."""
    names, off, u = wire.names, wire.name_off, wire.units[sym]
    p = write_feed_header(out, p, wire, MD_FIELDS, S_MD, sym, seq, now)
    k = md.symbols[sym, SY_TRADES]
    p = write_array_header(out, p, _chain_length(md.trades, T_NEXT, k))
    while k != EMPTY:
        trade = md.trades[k]
        out[p] = 0x95  # [trade_id, px, qty, taker_side, ts]
        p = write_uint(out, p + 1, trade[T_SEQ])
        p = write_decimal(out, p, trade[T_PX], u[U_PX_UNITS], u[U_PX_PLACES])
        p = write_decimal(out, p, trade[T_QTY], u[U_QTY_UNITS], u[U_QTY_PLACES])
        p = write_packed(out, p, names, off, S_BUY + trade[T_SIDE])
        p = write_uint(out, p, trade[T_TS])
        k = trade[T_NEXT]
    p = write_array_header(out, p, n_changed)
    k = md.symbols[sym, SY_LEVELS]
    while k != EMPTY:
        level = md.levels[k]
        if level[LV_CHANGE] != 0:
            book, px = level[LV_BOOK], level[LV_PX]
            side = book - 2 * sym
            out[p] = 0x93  # [side, px, qty]
            p = write_packed(out, p + 1, names, off, S_BUY + side)
            p = write_decimal(out, p, px, u[U_PX_UNITS], u[U_PX_PLACES])
            qty = _level_qty(b_lv, b_n, l_px, l_qty, book, side, px)
            p = write_decimal(out, p, qty, u[U_QTY_UNITS], u[U_QTY_PLACES])
        k = level[LV_NEXT]
    return p


@njit(cache=True, _nrt=False)
def write_l3(md, wire, out, p, sym, seq, now):
    """["l3", sym, seq, ts, ops]: the symbol's order-by-order changes of the batch, in order."""
    names, off, u = wire.names, wire.name_off, wire.units[sym]
    p = write_feed_header(out, p, wire, L3_FIELDS, S_L3, sym, seq, now)
    k = md.symbols[sym, SY_OPS]
    p = write_array_header(out, p, _chain_length(md.ops, OP_NEXT, k))
    while k != EMPTY:
        op = md.ops[k]
        kind = op[OP_KIND]
        if kind == L3_ADD:  # ["add", oid, side, px, qty]
            out[p] = 0x95
            p = write_packed(out, p + 1, names, off, kind)
            p = write_uint(out, p, op[OP_OID])
            p = write_packed(out, p, names, off, S_BUY + op[OP_SIDE])
            p = write_decimal(out, p, op[OP_PX], u[U_PX_UNITS], u[U_PX_PLACES])
            p = write_decimal(out, p, op[OP_QTY], u[U_QTY_UNITS], u[U_QTY_PLACES])
        elif kind == L3_DELETE:  # ["delete", oid]
            out[p] = 0x92
            p = write_packed(out, p + 1, names, off, kind)
            p = write_uint(out, p, op[OP_OID])
        elif kind == L3_AMEND:  # ["amend", oid, open]
            out[p] = 0x93
            p = write_packed(out, p + 1, names, off, kind)
            p = write_uint(out, p, op[OP_OID])
            p = write_decimal(out, p, op[OP_OPEN], u[U_QTY_UNITS], u[U_QTY_PLACES])
        else:  # ["fill" or "cancel", oid, qty, open]
            out[p] = 0x94
            p = write_packed(out, p + 1, names, off, kind)
            p = write_uint(out, p, op[OP_OID])
            p = write_decimal(out, p, op[OP_QTY], u[U_QTY_UNITS], u[U_QTY_PLACES])
            p = write_decimal(out, p, op[OP_OPEN], u[U_QTY_UNITS], u[U_QTY_PLACES])
        k = op[OP_NEXT]
    return p


@njit(cache=True, _nrt=False)
def write_market_data(md, wire, md_seq, l3_seq, out, p, frames, n_frames, now, b_lv, b_n, l_px, l_qty):
    """Per touched symbol, in symbol order: an md message when it traded or a level's quantity changed,
    an l3 message when it has ops; each the next of its symbol's sequence (md_seq, l3_seq) and a frame
    from row n_frames on. The engine's book (b_lv, b_n, l_px, l_qty) gives the levels' quantities
    after the batch. Returns (end, frames)."""
    n = md.counts[N_SYMBOLS]
    syms = md.touched
    for a in range(1, n):  # insertion sort: a batch touches few symbols
        v = syms[a]
        b = a - 1
        while b >= 0 and syms[b] > v:
            syms[b + 1] = syms[b]
            b -= 1
        syms[b + 1] = v
    for a in range(n):
        sym = syms[a]
        row = md.symbols[sym]
        n_changed = _changed_levels(md, row[SY_LEVELS])
        if row[SY_TRADES] != EMPTY or n_changed:
            md_seq[sym] += 1
            start = p
            p = write_md(md, wire, out, p, sym, md_seq[sym], now, n_changed, b_lv, b_n, l_px, l_qty)
            n_frames = add_frame(frames, n_frames, FRAME_MD, sym, start, p)
        if row[SY_OPS] != EMPTY:
            l3_seq[sym] += 1
            start = p
            p = write_l3(md, wire, out, p, sym, l3_seq[sym], now)
            n_frames = add_frame(frames, n_frames, FRAME_L3, sym, start, p)
    return p, n_frames
