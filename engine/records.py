"""Fixed-width command and event records: the only things that cross into and out of the kernel."""
import numpy as np

# One command; accounts and symbols as integer ids.
# NEW and AMEND carry price and quantity as exact decimals: value = px * 10**pexp (likewise
# qty, qexp); the kernel turns them into ticks and lots of the order's own instrument.
# REF carries the band edges in ticks: px = lowest allowed price, qty = highest (Flag.BAND_ON
# set when the instrument has a band). REJECT carries the reason found before the kernel; CANCEL may
# carry one (mass_cancel, disconnect) to print instead of user.
# ORACLE (docs/market-integrity.md 6): px = the token reference R in ticks (the decoder computes it),
# qty = the applied multiplier's mantissa and qexp its exponent, side = Market, oid = ots,
# acct = reg_open and line = reg_close (0 unless the market is regular).
# Balances (docs/balances.md 4; the kernel sees them only with risk on). Assets are integer ids in the
# order of their names (code points), amounts integers in the asset's smallest unit, rates integers
# in millionths (bps x 100). DEPOSIT: oid = dep, acct, sym = asset (-1 when unknown), qty = amount,
# reason = the fault the decoder found that ranks after the deposit-id checks (UNKNOWN_ASSET,
# BAD_AMOUNT; 0 when none). WITHDRAW: acct, sym = asset, qty = amount. FEES: oid = tier, px = maker
# rate, qty = taker rate. TIER: acct, oid = tier. NEW of a market order with Flag.PROTECT: px/pexp
# carry its protection price.
COMMAND_DTYPE = np.dtype([
    ("op", np.int8),
    ("side", np.int8),
    ("otype", np.int8),
    ("tif", np.int8),
    ("stp", np.int8),
    ("reason", np.int8),
    ("pexp", np.int8),
    ("qexp", np.int8),
    ("flags", np.int16),
    ("pad", np.int16),
    ("sym", np.int32),
    ("oid", np.int64),
    ("acct", np.int64),
    ("px", np.int64),
    ("qty", np.int64),
    ("ts", np.int64),
    ("line", np.int64),
], align=True)

# One event. FILL: oid = taker, maker = maker oid, side = taker side, acct = taker account.
# CANCELED: qty = quantity removed, open = what is left live.
# Market integrity (docs/market-integrity.md 13): ORACLE: px = ref, qty = mult mantissa, maker = mult
# exponent, side = Market, open = ots, reason = OracleState. BAND: px = ref, maker = lo, maker_acct = hi,
# reason = RefSource. STATUS: side = Status, reason = StatusReason, open = until. INDICATIVE: px (HAS_PX),
# qty = matched, open = imbalance, side = imbalance side (2: none), maker/maker_acct = collar lo/hi
# (BAND_ON), acct = until. UNCROSS: px, qty.
# Balances (docs/balances.md 8): DEPOSITED: oid = dep, acct, sym = asset, qty = amount. WITHDRAWN:
# oid = wid, acct, sym = asset, qty = amount. BALANCE: acct, sym = asset, qty = total, open = held.
# FEES: oid = tier, px = maker rate, qty = taker rate. TIER: acct, oid = tier. FILL with Flag.FEES:
# open = maker_fee, line = taker_fee (quote units; a rebate is a negative maker_fee). REJECTED with
# Flag.DEP: oid = the deposit id. A command's BALANCE events come last, in ascending (acct id, asset
# id); the encoders print them in the contract's order, by account name then asset name.
EVENT_DTYPE = np.dtype([
    ("kind", np.int8),
    ("reason", np.int8),
    ("side", np.int8),
    ("flags", np.int16),
    ("sym", np.int32),
    ("oid", np.int64),
    ("px", np.int64),
    ("qty", np.int64),
    ("open", np.int64),
    ("maker", np.int64),
    ("maker_acct", np.int64),
    ("acct", np.int64),
    ("ts", np.int64),
    ("line", np.int64),
], align=True)


def empty_commands(n: int) -> np.ndarray:
    """A zeroed command array of n records."""
    return np.zeros(n, dtype=COMMAND_DTYPE)


def empty_events(n: int) -> np.ndarray:
    """A zeroed event array of n records."""
    return np.zeros(n, dtype=EVENT_DTYPE)
