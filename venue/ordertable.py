"""The venue's live order table: each live order's state in a row (its slot), found by engine order id.

A wire's compiled fan-out pass (gateway/fanout.py) keeps the rows in step with the engine's events
in the same pass that writes its reports, and leaves a todo list of order records to file or
forget; file_todo() applies it to the accounts' tables (venue/accounts.py)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from kabuto.engine.jit import njit
from kabuto.engine.oidhash import EMPTY, hash_delete, hash_find, hash_put, rehash
from kabuto.venue.accounts import ACCOUNT, CL, SLOT
from kabuto.venue.orderrows import CL_INT, CL_NONE, CL_TEXT_KIND
from kabuto.venue.sequencer import CL_TEXT

# row columns; O_BATCH and O_TODO are the fan-out batch that accepted the order and its todo entry there
O_OID, O_ACCOUNT, O_SYMBOL, O_SIDE, O_PX, O_HAS_PX, O_OPEN, O_CL_KIND, O_CL_INT, O_CL_LEN, O_BATCH, O_TODO = range(12)
O_COLS = 12
CL_BYTES = CL_TEXT

# what a fan-out pass leaves for Python, in event order
# a todo entry is code | command index << 2 | slot << TODO_SLOT_SHIFT (one int64: a 1-D tolist is cheap)
TODO_ACCEPTED, TODO_FINISHED, TODO_RELEASE = 1, 2, 3  # release: a new order that is not (or no longer) live
TODO_INDEX_MASK, TODO_SLOT_SHIFT = (1 << 24) - 1, 26

# counts
N_FREE, N_LIVE = 0, 1


class OrderTable(NamedTuple):
    """Live orders by slot, and the engine order id -> slot hash (numba takes the tuple whole)."""
    rows: np.ndarray       # (slots, O_COLS)
    cl_text: np.ndarray    # (slots, CL_BYTES): the text of a CL_TEXT_KIND client order id
    hash_keys: np.ndarray  # engine order id -> slot (engine/oidhash.py): keys
    hash_slots: np.ndarray  # ... and values
    free: np.ndarray       # free slots, a stack: free[:counts[N_FREE]]
    counts: np.ndarray     # N_FREE, N_LIVE


def _pow2(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


def new_order_table(slots: int) -> OrderTable:
    """An empty table of `slots` slots."""
    counts = np.zeros(2, np.int64)
    counts[N_FREE] = slots
    return OrderTable(np.zeros((slots, O_COLS), np.int64), np.zeros((slots, CL_BYTES), np.uint8),
                      np.full(_pow2(2 * slots), EMPTY, np.int64), np.zeros(_pow2(2 * slots), np.int64),
                      np.arange(slots - 1, -1, -1, dtype=np.int64), counts)


def with_room(table: OrderTable, n_new: int) -> OrderTable:
    """A table with room for n_new more live orders: this one, or a bigger copy (the same slots)."""
    counts = table.counts
    if counts[N_FREE] < n_new:
        old = len(table.rows)
        size = max(2 * old, old + n_new)
        rows = np.zeros((size, O_COLS), np.int64)
        rows[:old] = table.rows
        cl_text = np.zeros((size, CL_BYTES), np.uint8)
        cl_text[:old] = table.cl_text
        n_free = int(counts[N_FREE])
        free = np.zeros(size, np.int64)
        free[:n_free] = table.free[:n_free]
        extra = np.arange(size - 1, old - 1, -1, dtype=np.int64)
        free[n_free:n_free + len(extra)] = extra
        counts[N_FREE] = n_free + len(extra)
        table = table._replace(rows=rows, cl_text=cl_text, free=free)
    live = int(counts[N_LIVE])
    if 2 * (live + n_new) > len(table.hash_keys):
        size = _pow2(4 * (live + n_new))
        keys, slots = np.full(size, EMPTY, np.int64), np.zeros(size, np.int64)
        used = np.flatnonzero(table.hash_keys != EMPTY)
        rehash(table.hash_keys[used], table.hash_slots[used], keys, slots)
        table = table._replace(hash_keys=keys, hash_slots=slots)
    return table


@njit(cache=True, _nrt=False)
def add_order(table, oid):
    """A free slot for a new live order oid (the caller fills its row); the table must have room."""
    counts = table.counts
    k = counts[N_FREE] - 1
    slot = table.free[k]
    counts[N_FREE] = k
    counts[N_LIVE] += 1
    hash_put(table.hash_keys, table.hash_slots, oid, slot)
    return slot


@njit(cache=True, _nrt=False)
def find_order(table, oid):
    """The slot of live order oid, or -1."""
    h = hash_find(table.hash_keys, oid)
    if h < 0:
        return -1
    return table.hash_slots[h]


@njit(cache=True, _nrt=False)
def forget_order(table, oid):
    """Live order oid has finished: free its slot (its row stays readable until reused); returns the slot."""
    h = hash_find(table.hash_keys, oid)
    slot = table.hash_slots[h]
    hash_delete(table.hash_keys, table.hash_slots, h)
    counts = table.counts
    table.free[counts[N_FREE]] = slot
    counts[N_FREE] += 1
    counts[N_LIVE] -= 1
    return slot


def encode_cl(cl) -> tuple[int, int, bytes]:
    """(kind, integer value, text bytes) of a client order id for the order table."""
    if cl is None:
        return CL_NONE, 0, b""
    if type(cl) is int:
        return CL_INT, cl, b""
    return CL_TEXT_KIND, 0, cl.encode()


def restore_order(table: OrderTable, oid: int, account: int, sym: int, side: int, px: int | None, open_: int,
                  cl) -> int:
    """File a live order found at recovery (the table must have room); returns its slot."""
    slot = int(add_order(table, oid))
    kind, v, text = encode_cl(cl)
    table.rows[slot] = (oid, account, sym, side, px or 0, px is not None, open_, kind, v, len(text), 0, 0)
    table.cl_text[slot, :len(text)] = np.frombuffer(text, np.uint8)
    return slot


def px_open(table: OrderTable, slot: int) -> tuple[int | None, int]:
    """(price steps or None, open lots) of the live order in slot."""
    row = table.rows[slot]
    return (int(row[O_PX]) if row[O_HAS_PX] else None), int(row[O_OPEN])


def file_todo(recs: list, todo: list, meta: list) -> None:
    """Keep the accounts' live order tables and recs (slot -> order record) in step with a pass's todo list."""
    for v in todo:
        code = v & 3
        if code == TODO_ACCEPTED:
            rec = meta[(v >> 2) & TODO_INDEX_MASK][3]
            slot = v >> TODO_SLOT_SHIFT
            rec[SLOT] = slot
            recs[slot] = rec
            rec[ACCOUNT].live[rec[CL]] = rec
            continue
        if code == TODO_FINISHED:
            slot = v >> TODO_SLOT_SHIFT
            rec = recs[slot]
            recs[slot] = None
        else:  # a new order rejected, or finished in its own batch: release its client order id
            rec = meta[(v >> 2) & TODO_INDEX_MASK][3]
        live = rec[ACCOUNT].live
        if live.get(rec[CL]) is rec:
            del live[rec[CL]]
