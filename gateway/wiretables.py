"""What the fan-out writers spell values with: the wire names packed by msgpack once, each symbol's decimal units."""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from kabuto.engine.instruments import Instrument
from kabuto.gateway import protocol as P
from kabuto.gateway.msgpackw import packed_table

# the names' entries in the packed table: these, then the symbols (S_SYMBOLS + sym), then the
# reasons (S_SYMBOLS + number of symbols + reason code)
S_REPORTS, S_ACCEPTED, S_FILL, S_CANCELED, S_AMENDED, S_REJECTED, S_BUY, S_SELL, S_TAKER, S_MAKER, S_MD = range(11)
S_L3, S_ADD, S_CANCEL, S_AMEND, S_DELETE = range(11, 16)
FIXED_NAMES = (P.REPORTS, P.EV_ACCEPTED, P.EV_FILL, P.EV_CANCELED, P.EV_AMENDED, P.EV_REJECTED, "buy", "sell",
               "taker", "maker", P.MD_UPDATE, P.L3_UPDATE, *P.L3_OPS)
S_SYMBOLS = len(FIXED_NAMES)

# units columns: a price of n steps is n * units[sym, U_PX_UNITS] / 10**units[sym, U_PX_PLACES]
U_PX_UNITS, U_PX_PLACES, U_QTY_UNITS, U_QTY_PLACES = range(4)
U_COLS = 4


class WireTables(NamedTuple):
    """The packed names and the units of every symbol (numba takes the tuple whole)."""
    names: np.ndarray      # msgpack-packed names, concatenated
    name_off: np.ndarray   # entry i is names[name_off[i]:name_off[i + 1]]
    units: np.ndarray      # (symbols, U_COLS)


def wire_tables(instruments: Sequence[Instrument]) -> WireTables:
    """The names (fixed ones, the symbols, the reasons) and units of these instruments."""
    reasons = [P.reason_text(c) for c in range(max(P.REASON_TEXT) + 1)]
    names, off = packed_table((*FIXED_NAMES, *(i.symbol for i in instruments), *reasons))
    units = np.array([[i.px.step_units, i.px.places, i.qty.step_units, i.qty.places] for i in instruments],
                     np.int64).reshape(len(instruments), U_COLS)
    return WireTables(names, off, units)


def longest_name(wire: WireTables) -> int:
    """Bytes of the longest packed name."""
    return int(np.diff(wire.name_off).max())
