"""What the fan-out writers spell values with: the wire names packed by msgpack once, each symbol's decimal units."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from kabuto.engine.assets import Risk
from kabuto.engine.instruments import Instrument
from kabuto.gateway import protocol as P
from kabuto.gateway.msgpackw import packed_table

# the names' entries in the packed table: these, then the symbols (S_SYMBOLS + sym), then the
# reasons (S_SYMBOLS + number of symbols + reason code)
S_REPORTS, S_ACCEPTED, S_FILL, S_CANCELED, S_AMENDED, S_REJECTED, S_BUY, S_SELL, S_TAKER, S_MAKER, S_MD = range(11)
S_L3, S_ADD, S_CANCEL, S_AMEND, S_DELETE = range(11, 16)
S_BALANCE, S_DEPOSITED, S_WITHDRAWN = range(16, 19)  # balance reports (risk on)
FIXED_NAMES = (P.REPORTS, P.EV_ACCEPTED, P.EV_FILL, P.EV_CANCELED, P.EV_AMENDED, P.EV_REJECTED, "buy", "sell",
               "taker", "maker", P.MD_UPDATE, P.L3_UPDATE, *P.L3_OPS, *P.BALANCE_EVS)
S_SYMBOLS = len(FIXED_NAMES)
N_REASONS = max(P.REASON_TEXT) + 1  # reason entries follow the symbols; asset names (risk on) follow them

# units columns: a price of n steps is n * units[sym, U_PX_UNITS] / 10**units[sym, U_PX_PLACES]
U_PX_UNITS, U_PX_PLACES, U_QTY_UNITS, U_QTY_PLACES = range(4)
U_FEE_PLACES = 4  # the decimals of its quote asset (risk on: a fill's fee is in quote units), -1 with risk off
U_COLS = 5


class WireTables(NamedTuple):
    """The packed names and the units of every symbol (numba takes the tuple whole)."""
    names: np.ndarray      # msgpack-packed names, concatenated
    name_off: np.ndarray   # entry i is names[name_off[i]:name_off[i + 1]]
    units: np.ndarray      # (symbols, U_COLS)
    assets: np.ndarray     # per asset id (risk on): its decimals; one placeholder with risk off


def wire_tables(instruments: Sequence[Instrument], risk: Risk | None = None) -> WireTables:
    """The names (fixed ones, the symbols, the reasons, the assets with risk on) and units of these instruments."""
    reasons = [P.reason_text(c) for c in range(N_REASONS)]
    on = risk is not None and risk.enabled
    assets = risk.assets if on else ()
    names, off = packed_table((*FIXED_NAMES, *(i.symbol for i in instruments), *reasons, *(a.name for a in assets)))
    units = np.array([[i.px.step_units, i.px.places, i.qty.step_units, i.qty.places,
                       assets[risk.quote[k]].decimals if on else -1] for k, i in enumerate(instruments)],
                     np.int64).reshape(len(instruments), U_COLS)
    return WireTables(names, off, units, np.array([a.decimals for a in assets] or [0], np.int64))


def asset_entry(wire: WireTables, asset: int) -> int:
    """The names entry of an asset id."""
    return S_SYMBOLS + wire.units.shape[0] + N_REASONS + asset


def longest_name(wire: WireTables) -> int:
    """Bytes of the longest packed name."""
    return int(np.diff(wire.name_off).max())
