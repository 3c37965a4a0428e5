"""The venue's command kinds and the tuple every wire decoder turns an order command into.

A wire adapter decodes its own messages into these; the session stage (venue/entry.py) decides the
engine's Op for each.
"""
from __future__ import annotations

from kabuto.engine.codes import OrdType, Stp, Tif

C_NEW, C_CANCEL, C_AMEND, C_MASS = 0, 1, 2, 3
C_COD = 4  # a cancel-on-disconnect (made by the venue, never sent by a client)
C_REF = 5  # an operator's reference price
C_HALT = 6  # an operator's halt, resume, halt_all or resume_all (docs/market-integrity.md 11)
C_TICK = 7  # the venue's own clock tick: a timer is due and no command came (docs/market-integrity.md 5)
C_ORACLE = 8  # an oracle account's update of an oracle instrument (docs/market-integrity.md 6)
# balances, risk on (docs/balances.md 14)
C_DEPOSIT = 9  # an operator's deposit (the embedded custodian)
C_WITHDRAW = 10  # a withdrawal: an account's own, or an operator's for any account
C_FEES = 11  # an operator's fee tier rates
C_TIER = 12  # an operator puts an account in a fee tier

LIMIT, MARKET = int(OrdType.LIMIT), int(OrdType.MARKET)
GTC, IOC, FOK, POST = int(Tif.GTC), int(Tif.IOC), int(Tif.FOK), int(Tif.POST)
DEFAULT_STP = int(Stp.CANCEL_OLDEST)
MAX_MANT = 1 << 62  # a price or quantity mantissa is below this

# An order command: (kind, req, cl_oid, sym, side, otype, tif, stp, px mant, px exp, qty mant, qty exp,
# flags, reason); kind -1 and reason `malformed` for one that could not be read; a nonzero reason is
# a reject the session stage sequences as such.
Command = tuple
