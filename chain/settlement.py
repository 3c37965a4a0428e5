"""Net settlement deltas of a batch of fills, per (account, asset), and their Merkle leaves.

An instrument "BASE-QUOTE" (or "BASE/QUOTE") trades asset BASE against asset QUOTE; a symbol with
no separator trades "<symbol>.base" against "<symbol>.quote". The buyer receives qty of BASE and
pays px * qty of QUOTE; the seller the opposite. Amounts are exact integers in units of
10**-decimals of the asset, where an asset's decimals are the most any instrument needs for it
(lot places for a base, tick places + lot places for a quote), so one asset nets the same across
instruments.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

import numpy as np

from chain import keccak as kk
from chain.merkle import abi_leaves, standard_leaf_hash
from engine.codes import Side
from engine.instruments import Scale

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


def net_deltas(rows: np.ndarray, symbols: Sequence[SymbolInfo], accounts: dict[int, str]) -> list[Delta]:
    """Net non-zero deltas of FILL_DTYPE rows per (account, asset), sorted by account then asset."""
    assets = Assets(symbols)
    if not len(rows):
        return []
    buy = rows["side"] == Side.BUY
    buyer = np.where(buy, rows["taker_acct"], rows["maker_acct"])
    seller = np.where(buy, rows["maker_acct"], rows["taker_acct"])
    sym = rows["sym"]
    base = np.array(assets.base, np.int64)[sym]
    quote = np.array(assets.quote, np.int64)[sym]
    acct = np.concatenate([buyer, seller, buyer, seller])
    asset = np.concatenate([base, base, quote, quote])
    bound = (int(rows["px"].max()) * int(rows["qty"].max()) * max(assets.quote_factor + assets.base_factor)
             * len(rows))
    if bound < _INT64 >> 1:
        bq = rows["qty"] * np.array(assets.base_factor, np.int64)[sym]
        qq = rows["px"] * rows["qty"] * np.array(assets.quote_factor, np.int64)[sym]
        amount = np.concatenate([bq, -bq, -qq, qq])
        keys, inv = np.unique(np.stack([acct, asset], 1), axis=0, return_inverse=True)
        sums = np.zeros(len(keys), np.int64)
        np.add.at(sums, inv.ravel(), amount)
        totals = {(int(a), int(s)): int(v) for (a, s), v in zip(keys, sums)}
    else:  # amounts that may not fit in int64: exact Python integers
        totals = {}
        for r in rows.tolist():  # field order of FILL_DTYPE
            seq, maker, taker, px, qty, macct, tacct, s, side = r
            b_, s_ = (tacct, macct) if side == Side.BUY else (macct, tacct)
            bq, qq = qty * assets.base_factor[s], px * qty * assets.quote_factor[s]
            for key, v in (((b_, assets.base[s]), bq), ((s_, assets.base[s]), -bq),
                           ((b_, assets.quote[s]), -qq), ((s_, assets.quote[s]), qq)):
                totals[key] = totals.get(key, 0) + v
    out = [Delta(accounts[a], assets.names[s], v, assets.decimals[s]) for (a, s), v in totals.items() if v]
    out.sort(key=lambda d: (d.account, d.asset))
    return out


def settle_leaves(deltas: Sequence[Delta]) -> np.ndarray:
    """Leaf hashes of deltas, (n, 32) uint8 (numba encoder; eth_abi for amounts beyond int64)."""
    strings: dict[str, int] = {}
    vals = np.zeros((len(deltas), len(_KINDS)), np.int64)
    big = []
    for i, d in enumerate(deltas):
        vals[i, 0] = strings.setdefault(d.account, len(strings))
        vals[i, 1] = strings.setdefault(d.asset, len(strings))
        if -_INT64 <= d.amount < _INT64:
            vals[i, 2] = d.amount
        else:
            big.append(i)
        vals[i, 3] = d.decimals
    out = abi_leaves(vals, _KINDS, list(strings))
    for i in big:
        out[i] = np.frombuffer(deltas[i].leaf(), np.uint8)
    return out
