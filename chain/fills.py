"""Fills taken from the engine's event stream, and their Merkle leaves."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from kabuto.chain import keccak as kk
from kabuto.chain.merkle import abi_leaves, standard_leaf_hash
from kabuto.engine.codes import Ev, Side
from kabuto.engine.instruments import Instrument
from kabuto.engine.jit import njit

FILL = int(Ev.FILL)

# One fill as stored in batches and ledgers (little-endian, fixed width); accounts as engine ids.
FILL_DTYPE = np.dtype([
    ("seq", "<i8"),
    ("maker", "<i8"),
    ("taker", "<i8"),
    ("px", "<i8"),
    ("qty", "<i8"),
    ("maker_acct", "<i8"),
    ("taker_acct", "<i8"),
    ("sym", "<i4"),
    ("side", "<i4"),
])

# The leaf of a fill: keccak256(keccak256(abi.encode(...))) of these values, in this order.
FILL_LEAF_FIELDS = ("seq", "symbol", "px", "qty", "maker", "taker", "taker_side", "maker_acct", "taker_acct")
FILL_LEAF_TYPES = ("uint64", "string", "uint64", "uint64", "uint64", "uint64", "uint8", "string", "string")
_KINDS = (kk.UINT, kk.STRING, kk.UINT, kk.UINT, kk.UINT, kk.UINT, kk.UINT, kk.STRING, kk.STRING)


@dataclass(frozen=True)
class Fill:
    """One fill: seq is the fill event's engine seq (the FILL_ID); px in ticks, qty in lots."""
    seq: int
    symbol: str
    px: int
    qty: int
    maker: int
    taker: int
    taker_side: int
    maker_acct: str
    taker_acct: str

    def values(self) -> tuple:
        """The leaf's ABI values, in FILL_LEAF_TYPES order."""
        return tuple(getattr(self, f) for f in FILL_LEAF_FIELDS)

    def leaf(self) -> bytes:
        """The fill's leaf hash, computed with eth_abi (the reference encoder)."""
        return standard_leaf_hash(FILL_LEAF_TYPES, self.values())

    def as_json(self) -> dict:
        """The fill as a JSON-ready dict (taker_side as "buy"/"sell")."""
        d = asdict(self)
        d["taker_side"] = "buy" if self.taker_side == Side.BUY else "sell"
        return d


def fill_rows(events: np.ndarray, first_seq: int) -> np.ndarray:
    """The FILL events of an EVENT_DTYPE array as FILL_DTYPE rows (a copy)."""
    rows = np.empty(_count_fills(events), FILL_DTYPE)
    if len(rows):
        _copy_fills(events, first_seq, rows)
    return rows


@njit(cache=True, nogil=True)
def _count_fills(events):
    n = 0
    for i in range(len(events)):
        if events[i].kind == FILL:
            n += 1
    return n


@njit(cache=True, nogil=True)
def _copy_fills(events, first_seq, rows):
    k = 0
    for i in range(len(events)):
        e = events[i]
        if e.kind == FILL:
            r = rows[k]
            r.seq = first_seq + i
            r.maker = e.maker
            r.taker = e.oid
            r.px = e.px
            r.qty = e.qty
            r.maker_acct = e.maker_acct
            r.taker_acct = e.acct
            r.sym = e.sym
            r.side = e.side
            k += 1


def default_account_name(acct: int) -> str:
    """An account's name when no mapping is given: its id in decimal."""
    return str(acct)


def fills_from_rows(rows: np.ndarray, symbols: Sequence[str], accounts: dict[int, str]) -> list[Fill]:
    """Fill records of FILL_DTYPE rows; symbols by index, account names by engine id."""
    return [Fill(int(r["seq"]), symbols[r["sym"]], int(r["px"]), int(r["qty"]), int(r["maker"]), int(r["taker"]),
                 int(r["side"]), accounts[int(r["maker_acct"])], accounts[int(r["taker_acct"])]) for r in rows]


def fills_from_events(events: np.ndarray, first_seq: int, instruments: Sequence[Instrument],
                      account_name: Callable[[int], str] | None = None) -> list[Fill]:
    """Fill records of the FILL events of an EVENT_DTYPE array whose first event has seq first_seq."""
    rows = fill_rows(events, first_seq)
    return fills_from_rows(rows, [i.symbol for i in instruments], account_names(rows, account_name))


def account_names(rows: np.ndarray, account_name: Callable[[int], str] | None) -> dict[int, str]:
    """Names of every account in rows, by engine id."""
    name = account_name or default_account_name
    ids = np.union1d(rows["maker_acct"], rows["taker_acct"])
    return {int(a): name(int(a)) for a in ids}


def fill_leaves(rows: np.ndarray, symbols: Sequence[str], accounts: dict[int, str]) -> np.ndarray:
    """Leaf hashes of FILL_DTYPE rows, (n, 32) uint8, by the numba encoder (same bytes as Fill.leaf)."""
    ids = np.array(sorted(accounts), np.int64)
    strings = list(symbols) + [accounts[int(a)] for a in ids]
    base = len(symbols)
    vals = np.empty((len(rows), len(_KINDS)), np.int64)
    vals[:, 0] = rows["seq"]
    vals[:, 1] = rows["sym"]
    vals[:, 2] = rows["px"]
    vals[:, 3] = rows["qty"]
    vals[:, 4] = rows["maker"]
    vals[:, 5] = rows["taker"]
    vals[:, 6] = rows["side"]
    vals[:, 7] = base + np.searchsorted(ids, rows["maker_acct"])
    vals[:, 8] = base + np.searchsorted(ids, rows["taker_acct"])
    return abi_leaves(vals, _KINDS, strings)
