"""The engine's state as plain numpy arrays: order pool, price levels, books, oid hash table."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

EMPTY = -1  # empty hash slot / end of a linked list

# meta slots
M_FREE_ORDER = 0  # head of the free list of order slots
M_FREE_LEVEL = 1  # head of the free list of level slots
M_LIVE = 2  # live (resting) orders
M_HASH_USED = 3  # occupied hash slots
M_SEQ = 4  # events emitted so far (the last seq)


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
    # oid -> order slot, open addressing with linear probing
    h_key: np.ndarray
    h_val: np.ndarray
    meta: np.ndarray


def _free_list(n: int, start: int = 0) -> np.ndarray:
    nxt = np.arange(start + 1, start + n + 1, dtype=np.int32)
    nxt[-1] = EMPTY
    return nxt


def new_state(n_symbols: int, orders: int = 1 << 16, levels: int = 1 << 12,
              book_levels: int = 256) -> State:
    """A fresh, empty state for n_symbols instruments with the given starting capacities."""
    hash_size = 1
    while hash_size < orders * 2:
        hash_size <<= 1
    meta = np.zeros(8, dtype=np.int64)
    return State(
        o_oid=np.zeros(orders, np.int64), o_acct=np.zeros(orders, np.int64),
        o_px=np.zeros(orders, np.int64), o_qty=np.zeros(orders, np.int64),
        o_next=_free_list(orders), o_prev=np.full(orders, EMPTY, np.int32),
        o_level=np.full(orders, EMPTY, np.int32), o_book=np.zeros(orders, np.int32),
        o_stp=np.zeros(orders, np.int8), o_tif=np.zeros(orders, np.int8),
        l_px=np.zeros(levels, np.int64), l_qty=np.zeros(levels, np.int64),
        l_head=_free_list(levels), l_tail=np.full(levels, EMPTY, np.int32),
        l_count=np.zeros(levels, np.int32),
        b_lv=np.zeros((n_symbols * 2, book_levels), np.int32),
        b_n=np.zeros(n_symbols * 2, np.int32), b_orders=np.zeros(n_symbols * 2, np.int64),
        i_band=np.zeros(n_symbols, np.int8), i_lo=np.zeros(n_symbols, np.int64),
        i_hi=np.zeros(n_symbols, np.int64), i_minq=np.ones(n_symbols, np.int64),
        i_tm=np.ones(n_symbols, np.int64), i_te=np.zeros(n_symbols, np.int64),
        i_lm=np.ones(n_symbols, np.int64), i_le=np.zeros(n_symbols, np.int64),
        h_key=np.full(hash_size, EMPTY, np.int64), h_val=np.zeros(hash_size, np.int32),
        meta=meta,
    )


def _grow(a: np.ndarray, n: int, fill=0) -> np.ndarray:
    out = np.full(n, fill, a.dtype) if fill else np.zeros(n, a.dtype)
    out[:len(a)] = a
    return out


def grow_orders(st: State) -> State:
    """Double the order pool; new slots join the free list."""
    old = len(st.o_oid)
    new = old * 2
    nxt = _grow(st.o_next, new)
    nxt[old:] = _free_list(old, old)
    nxt[new - 1] = st.meta[M_FREE_ORDER]
    st.meta[M_FREE_ORDER] = old
    return st._replace(
        o_oid=_grow(st.o_oid, new), o_acct=_grow(st.o_acct, new), o_px=_grow(st.o_px, new),
        o_qty=_grow(st.o_qty, new), o_next=nxt, o_prev=_grow(st.o_prev, new, EMPTY),
        o_level=_grow(st.o_level, new, EMPTY), o_book=_grow(st.o_book, new),
        o_stp=_grow(st.o_stp, new), o_tif=_grow(st.o_tif, new))


def grow_levels(st: State) -> State:
    """Double the level pool; new slots join the free list."""
    old = len(st.l_px)
    new = old * 2
    head = _grow(st.l_head, new)
    head[old:] = _free_list(old, old)
    head[new - 1] = st.meta[M_FREE_LEVEL]
    st.meta[M_FREE_LEVEL] = old
    return st._replace(l_px=_grow(st.l_px, new), l_qty=_grow(st.l_qty, new), l_head=head,
                       l_tail=_grow(st.l_tail, new, EMPTY), l_count=_grow(st.l_count, new))


def grow_book_levels(st: State) -> State:
    """Double how many price levels each book can hold."""
    nb, cap = st.b_lv.shape
    lv = np.zeros((nb, cap * 2), np.int32)
    lv[:, :cap] = st.b_lv
    return st._replace(b_lv=lv)


def grow_hash(st: State) -> State:
    """Double the oid hash table and re-insert every live order."""
    size = len(st.h_key) * 2
    keys = np.full(size, EMPTY, np.int64)
    vals = np.zeros(size, np.int32)
    live = np.flatnonzero(st.h_key != EMPTY)
    from engine.kernel import rehash  # the kernel owns the hash function
    rehash(st.h_key[live], st.h_val[live], keys, vals)
    return st._replace(h_key=keys, h_val=vals)
