"""Custody with risk on (docs/balances.md 13): the balances and withdrawals a batch commits, their
Merkle trees and proofs.

A risk-on batch carries, beside its fills, the whole state of balances after its last command (every
(account, asset) with total > 0), the `withdrawn` events it covers, its settlement deltas (net change of
each total the batch's fills made, fees included) and the last deposit id consumed. The batcher keeps
them in the ledger with the batch, so any batch's proofs can be rebuilt from the ledger alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from kabuto.chain import keccak as kk
from kabuto.chain.merkle import MerkleTree, abi_leaves, standard_leaf_hash
from kabuto.chain.settlement import Delta
from kabuto.engine.codes import Ev, Flag, Reason

BALANCE_LEAF_FIELDS = ("account", "asset", "total")
BALANCE_LEAF_TYPES = ("string", "string", "uint256")
WITHDRAWAL_LEAF_FIELDS = ("wid", "account", "asset", "amount")
WITHDRAWAL_LEAF_TYPES = ("uint64", "string", "string", "uint256")
_BAL_KINDS = (kk.STRING, kk.STRING, kk.UINT)
_WDR_KINDS = (kk.UINT, kk.STRING, kk.STRING, kk.UINT)

# The events of a risk-on stream a custody batch needs besides fills, as the engine thread copies them.
ROW_DTYPE = np.dtype([("seq", "<i8"), ("kind", "i1"), ("acct", "<i8"), ("asset", "<i4"), ("id", "<i8"),
                      ("qty", "<i8")])
BALANCE, WITHDRAWN, DEPOSITED, REJECTED = int(Ev.BALANCE), int(Ev.WITHDRAWN), int(Ev.DEPOSITED), int(Ev.REJECTED)
_NOT_CONSUMED = (int(Reason.DUPLICATE_DEPOSIT), int(Reason.DEPOSIT_GAP))  # rejects that consume no deposit id


def custody_rows(events: np.ndarray, first_seq: int) -> np.ndarray:
    """The balance, withdrawn, deposited events and the rejected deposits that consumed their id, of an
    EVENT_DTYPE array whose first event has seq first_seq (a copy, ROW_DTYPE)."""
    kind = events["kind"]
    dep_reject = (kind == REJECTED) & ((events["flags"] & int(Flag.DEP)) != 0)
    keep = (kind == BALANCE) | (kind == WITHDRAWN) | (kind == DEPOSITED)
    if dep_reject.any():
        consumed = ~np.isin(events["reason"], _NOT_CONSUMED)
        keep |= dep_reject & consumed
    idx = np.flatnonzero(keep)
    rows = np.empty(len(idx), ROW_DTYPE)
    if len(idx):
        e = events[idx]
        rows["seq"] = first_seq + idx
        rows["kind"] = e["kind"]
        rows["acct"] = e["acct"]
        rows["asset"] = e["sym"]
        rows["id"] = e["oid"]
        rows["qty"] = e["qty"]
    return rows


@dataclass(frozen=True)
class Balance:
    """One leaf of the balances tree: an account's total of an asset (venue units, > 0)."""
    account: str
    asset: str
    total: int

    def values(self) -> tuple:
        return self.account, self.asset, self.total

    def leaf(self) -> bytes:
        """keccak256(keccak256(abi.encode(account, asset, total))), by eth_abi (the reference)."""
        return standard_leaf_hash(BALANCE_LEAF_TYPES, self.values())


@dataclass(frozen=True)
class Withdrawal:
    """One leaf of the withdrawals tree: a `withdrawn` event (venue units)."""
    wid: int
    account: str
    asset: str
    amount: int

    def values(self) -> tuple:
        return self.wid, self.account, self.asset, self.amount

    def leaf(self) -> bytes:
        """keccak256(keccak256(abi.encode(wid, account, asset, amount))), by eth_abi (the reference)."""
        return standard_leaf_hash(WITHDRAWAL_LEAF_TYPES, self.values())


def _strings(*columns: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """One string table for several columns of names, and each column as indexes into it."""
    table = sorted(set().union(*columns))
    index = {s: i for i, s in enumerate(table)}
    return table, [np.array([index[s] for s in c], np.int64) for c in columns]


def balance_leaves(balances: list[Balance]) -> np.ndarray:
    """Leaf hashes of balances, (n, 32) uint8, by the numba encoder (same bytes as Balance.leaf)."""
    table, (acct, asset) = _strings([b.account for b in balances], [b.asset for b in balances])
    vals = np.zeros((len(balances), 3), np.int64)
    if len(balances):
        vals[:, 0] = acct
        vals[:, 1] = asset
        vals[:, 2] = [b.total for b in balances]  # < 2^62: every venue amount fits
    return abi_leaves(vals, _BAL_KINDS, table)


def withdrawal_leaves(withdrawals: list[Withdrawal]) -> np.ndarray:
    """Leaf hashes of withdrawals, (n, 32) uint8, by the numba encoder (same bytes as Withdrawal.leaf)."""
    table, (acct, asset) = _strings([w.account for w in withdrawals], [w.asset for w in withdrawals])
    vals = np.zeros((len(withdrawals), 4), np.int64)
    if len(withdrawals):
        vals[:, 0] = [w.wid for w in withdrawals]
        vals[:, 1] = acct
        vals[:, 2] = asset
        vals[:, 3] = [w.amount for w in withdrawals]
    return abi_leaves(vals, _WDR_KINDS, table)


def settle_leaves(deltas: list[Delta]) -> np.ndarray:
    """Leaf hashes of settlement deltas (eth_abi: a batch has few of them next to its fills)."""
    out = np.zeros((len(deltas), 32), np.uint8)
    for i, d in enumerate(deltas):
        out[i] = np.frombuffer(d.leaf(), np.uint8)
    return out


class DeltaList:
    """Settlement deltas a risk-on batch carries, with the interface of settlement.Settlement."""

    def __init__(self, deltas: list[Delta]):
        self._deltas = deltas

    def __len__(self) -> int:
        return len(self._deltas)

    def deltas(self) -> list[Delta]:
        return list(self._deltas)

    def leaves(self) -> np.ndarray:
        return settle_leaves(self._deltas)


@dataclass
class Custody:
    """What a risk-on batch commits besides its fills; lists in the contract's order (balances by
    account then asset, code point order; withdrawals by wid; deltas by account then asset)."""
    balances: list[Balance]
    withdrawals: list[Withdrawal]
    deltas: list[Delta]
    deposit_count: int

    def balance_tree(self) -> MerkleTree:
        return MerkleTree(balance_leaves(self.balances))

    def withdrawal_tree(self) -> MerkleTree:
        return MerkleTree(withdrawal_leaves(self.withdrawals))

    def settle_tree(self) -> MerkleTree:
        return MerkleTree(settle_leaves(self.deltas))

    def as_json(self) -> dict:
        """JSON-ready lists (amounts as JSON integers: all below 2^63)."""
        return {"balances": [list(b.values()) for b in self.balances],
                "withdrawals": [list(w.values()) for w in self.withdrawals],
                "deltas": [list(d.values()) for d in self.deltas], "deposit_count": self.deposit_count}

    @classmethod
    def from_json(cls, d: dict) -> Custody:
        return cls([Balance(a, s, int(t)) for a, s, t in d["balances"]],
                   [Withdrawal(int(w), a, s, int(m)) for w, a, s, m in d["withdrawals"]],
                   [Delta(a, s, int(m), int(k)) for a, s, m, k in d["deltas"]], int(d["deposit_count"]))

    def balance_index(self, account: str, asset: str) -> int | None:
        """Index of (account, asset) in balances, or None (a zero balance has no leaf)."""
        import bisect
        keys = [(b.account, b.asset) for b in self.balances]
        i = bisect.bisect_left(keys, (account, asset))
        return i if i < len(keys) and keys[i] == (account, asset) else None

    def withdrawal_index(self, wid: int) -> int | None:
        for i, w in enumerate(self.withdrawals):
            if w.wid == wid:
                return i
        return None
