"""Net settlement deltas of a batch of fills, per (account, asset), and their Merkle leaves.

An instrument "BASE-QUOTE" (or "BASE/QUOTE") trades asset BASE against asset QUOTE; a symbol with
no separator trades "<symbol>.base" against "<symbol>.quote". The buyer receives qty of BASE and
pays px * qty of QUOTE; the seller the opposite. Amounts are exact integers in units of
10**-decimals of the asset, where an asset's decimals are the most any instrument needs for it
(lot places for a base, tick places + lot places for a quote), so one asset nets the same across
instruments.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from kabuto.chain import keccak as kk
from kabuto.chain.merkle import abi_leaves, standard_leaf_hash
from kabuto.engine.codes import Side
from kabuto.engine.instruments import Scale

SETTLE_LEAF_FIELDS = ("account", "asset", "amount", "decimals")
SETTLE_LEAF_TYPES = ("string", "string", "int256", "uint8")
_KINDS = (kk.STRING, kk.STRING, kk.INT, kk.UINT)
_INT64 = 1 << 63


@dataclass(frozen=True)
class SymbolInfo:
    """What settlement needs of an instrument: its symbol, tick size and lot size (decimal text)."""
    symbol: str
    tick_size: str
    lot_size: str


@dataclass(frozen=True)
class Delta:
    """Net change of one account's balance of one asset over a batch: amount * 10**-decimals."""
    account: str
    asset: str
    amount: int
    decimals: int

    def values(self) -> tuple:
        """The leaf's ABI values, in SETTLE_LEAF_TYPES order."""
        return self.account, self.asset, self.amount, self.decimals

    def leaf(self) -> bytes:
        """The delta's leaf hash, computed with eth_abi (the reference encoder)."""
        return standard_leaf_hash(SETTLE_LEAF_TYPES, self.values())


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base asset, quote asset) of a symbol."""
    cut = max(symbol.rfind("-"), symbol.rfind("/"))
    if cut <= 0 or cut == len(symbol) - 1:
        return symbol + ".base", symbol + ".quote"
    return symbol[:cut], symbol[cut + 1:]


class Assets:
    """The assets of a set of instruments and each instrument's base and quote unit factors."""

    def __init__(self, symbols: Sequence[SymbolInfo]):
        legs = []
        for s in symbols:
            tick, lot = Scale(Decimal(s.tick_size)), Scale(Decimal(s.lot_size))
            base, quote = split_symbol(s.symbol)
            legs.append((base, quote, tick, lot))
        decimals: dict[str, int] = {}
        for base, quote, tick, lot in legs:
            decimals[base] = max(decimals.get(base, 0), lot.places)
            decimals[quote] = max(decimals.get(quote, 0), tick.places + lot.places)
        self.names = sorted(decimals)
        self.decimals = [decimals[a] for a in self.names]
        index = {a: i for i, a in enumerate(self.names)}
        self.base = [index[b] for b, _, _, _ in legs]
        self.quote = [index[q] for _, q, _, _ in legs]
        # amount per lot of base, and per (tick * lot) of quote, in the asset's smallest unit
        self.base_factor = [lot.step_units * 10 ** (decimals[b] - lot.places) for b, _, _, lot in legs]
        self.quote_factor = [tick.step_units * lot.step_units * 10 ** (decimals[q] - tick.places - lot.places)
                             for _, q, tick, lot in legs]


class Settlement:
    """Net non-zero deltas of a batch as columns, sorted by account name then asset name."""

    def __init__(self, names: list[str], assets: Assets, account: np.ndarray, asset: np.ndarray,
                 amount: np.ndarray):
        self.names = names  # account names, sorted
        self.assets = assets
        self.account = account  # index into names
        self.asset = asset  # index into assets.names
        self.amount = amount  # int64, or Python ints (object) when sums may not fit in 64 bits

    def __len__(self) -> int:
        return len(self.amount)

    def delta(self, i: int) -> Delta:
        """The i-th delta."""
        s = int(self.asset[i])
        return Delta(self.names[self.account[i]], self.assets.names[s], int(self.amount[i]), self.assets.decimals[s])

    def deltas(self) -> list[Delta]:
        """Every delta, in order."""
        return [self.delta(i) for i in range(len(self))]

    def leaves(self) -> np.ndarray:
        """Leaf hashes, (n, 32) uint8 (numba encoder; eth_abi for amounts beyond int64)."""
        n = len(self)
        vals = np.zeros((n, len(_KINDS)), np.int64)
        vals[:, 0] = self.account
        vals[:, 1] = len(self.names) + self.asset
        big = []
        if self.amount.dtype == object:
            fits = np.array([-_INT64 <= a < _INT64 for a in self.amount], bool)
            big = np.flatnonzero(~fits).tolist()
            vals[fits, 2] = self.amount[fits].astype(np.int64)
        else:
            vals[:, 2] = self.amount
        vals[:, 3] = np.array(self.assets.decimals, np.int64)[self.asset] if n else 0
        out = abi_leaves(vals, _KINDS, self.names + self.assets.names)
        for i in big:
            out[i] = np.frombuffer(self.delta(i).leaf(), np.uint8)
        return out


def settle(rows: np.ndarray, symbols: Sequence[SymbolInfo], accounts: dict[int, str]) -> Settlement:
    """Net deltas of FILL_DTYPE rows per (account name, asset)."""
    assets = Assets(symbols)
    names = sorted(set(accounts.values()))
    if not len(rows):
        return Settlement(names, assets, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    rank = {name: i for i, name in enumerate(names)}
    ids = np.array(sorted(accounts), np.int64)
    id_rank = np.array([rank[accounts[int(a)]] for a in ids], np.int64)
    buy = rows["side"] == Side.BUY
    buyer = id_rank[np.searchsorted(ids, np.where(buy, rows["taker_acct"], rows["maker_acct"]))]
    seller = id_rank[np.searchsorted(ids, np.where(buy, rows["maker_acct"], rows["taker_acct"]))]
    sym = rows["sym"]
    base = np.array(assets.base, np.int64)[sym]
    quote = np.array(assets.quote, np.int64)[sym]
    bound = (int(rows["px"].max()) * int(rows["qty"].max()) * max(assets.quote_factor + assets.base_factor)
             * len(rows))
    if bound < _INT64 >> 1:
        bq = rows["qty"] * np.array(assets.base_factor, np.int64)[sym]
        qq = rows["px"] * rows["qty"] * np.array(assets.quote_factor, np.int64)[sym]
    else:  # sums that may not fit in int64: exact Python integers
        bq = rows["qty"].astype(object) * np.array(assets.base_factor, object)[sym]
        qq = rows["px"].astype(object) * rows["qty"].astype(object) * np.array(assets.quote_factor, object)[sym]
    n_assets = len(assets.names)
    key = np.concatenate([buyer * n_assets + base, seller * n_assets + base,
                          buyer * n_assets + quote, seller * n_assets + quote])
    amount = np.concatenate([bq, -bq, -qq, qq])
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    sums = np.add.reduceat(amount[order], starts)
    key = key[starts]
    keep = sums != 0
    key, sums = key[keep], sums[keep]
    return Settlement(names, assets, key // n_assets, key % n_assets, sums)


def net_deltas(rows: np.ndarray, symbols: Sequence[SymbolInfo], accounts: dict[int, str]) -> list[Delta]:
    """Net non-zero deltas of FILL_DTYPE rows per (account, asset), sorted by account then asset."""
    return settle(rows, symbols, accounts).deltas()
