"""Oracle updates (docs/market-integrity.md 4, 6.1): the static checks and the token reference, for every decoder."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

from kabuto.engine.codes import MARKET_NAMES, Market, Reason
from kabuto.engine.instruments import MAX_UNITS, Instrument

MAX_TS = (1 << 63) - 1
MAX_ORACLE_PX, MAX_MULT = 10 ** 15, 10 ** 6
REGULAR = int(Market.REGULAR)
MARKET_TEXT = {int(v): k for k, v in MARKET_NAMES.items()}
R_MALFORMED, R_UNKNOWN_SYMBOL, R_BAD_PRICE = int(Reason.MALFORMED), int(Reason.UNKNOWN_SYMBOL), int(Reason.BAD_PRICE)
R_NO_ORACLE, R_BAD_MULTIPLIER = int(Reason.NO_ORACLE), int(Reason.BAD_MULTIPLIER)


def _is_int(v, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


def oracle_fields(d: dict, symbols: dict[str, int], instruments: Sequence[Instrument],
                  parts: Callable[[object], tuple[int, int]]) -> tuple[int, tuple | None]:
    """(reject reason, 0 when valid; the command's fields) of an oracle update given as a mapping, with every
    static check of docs/market-integrity.md 4 in its order. The fields: (sym, market, ots, reg_open,
    reg_close, token reference R in ticks, applied multiplier's mantissa, its exponent); parts gives the
    (mantissa, exponent) of a JSON or msgpack decimal, mantissa 0 when invalid."""
    sym, market = d.get("sym"), d.get("market")
    if (type(sym) is not str or "px" not in d or "mult" not in d or type(market) is not str
            or market not in MARKET_NAMES or not _is_int(d.get("ots"), 0, MAX_TS)
            or ("next_mult" in d) != ("mult_at" in d)
            or ("mult_at" in d and not _is_int(d["mult_at"], 0, MAX_TS))):
        return R_MALFORMED, None
    mkt = int(MARKET_NAMES[market])
    reg_open = reg_close = 0
    if mkt == REGULAR:
        reg_open, reg_close = d.get("reg_open"), d.get("reg_close")
        if not _is_int(reg_open, 0, MAX_TS) or not _is_int(reg_close, 0, MAX_TS) or reg_open >= reg_close:
            return R_MALFORMED, None
    s = symbols.get(sym)
    if s is None:
        return R_UNKNOWN_SYMBOL, None
    ins = instruments[s]
    if ins.oracle is None:
        return R_NO_ORACLE, None
    px = _decimal(parts(d["px"]), MAX_ORACLE_PX)
    if px is None:
        return R_BAD_PRICE, None
    mult = _decimal(parts(d["mult"]), MAX_MULT)
    if "next_mult" in d:
        nxt = _decimal(parts(d["next_mult"]), MAX_MULT)
        if mult is None or nxt is None:
            return R_BAD_MULTIPLIER, None
        if d["ots"] >= d["mult_at"]:
            mult = nxt
    if mult is None:
        return R_BAD_MULTIPLIER, None
    ref = ins.reference_round(Fraction(px[0]) * Fraction(10) ** px[1] * Fraction(mult[0]) * Fraction(10) ** mult[1])
    if not 1 <= ref <= MAX_UNITS:
        return R_BAD_PRICE, None
    return 0, (s, mkt, d["ots"], reg_open, reg_close, ref, mult[0], mult[1])


def _decimal(value: tuple[int, int], most: int) -> tuple[int, int] | None:
    """(mantissa, exponent) of an oracle price or multiplier, trailing zeros stripped: positive, at most
    `most`, at most 18 decimal places and 18 significant digits; None when invalid."""
    mant, exp = value
    while mant > 0 and mant % 10 == 0:
        mant //= 10
        exp += 1
    if mant <= 0 or exp < -18 or mant >= 10 ** 18 or Fraction(mant) * Fraction(10) ** exp > most:
        return None
    return mant, exp


def mult_text(mant: int, exp: int) -> str:
    """A multiplier mant x 10**exp as plain decimal text without trailing zeros ("1", "0.5", "3")."""
    if exp >= 0:
        return str(mant * 10 ** exp)
    digits = str(mant).rjust(1 - exp, "0")
    return (digits[:exp] + "." + digits[exp:]).rstrip("0").rstrip(".")


def oracle_line(ins: Instrument, market: int, ots: int, reg_open: int, reg_close: int, ref: int, mant: int,
                exp: int) -> dict:
    """An oracle command's fields as a replay line that decodes to the same command: a share price whose
    product with the multiplier rounds to the reference ref (ticks). The multiplier is the one applied, so a
    split's announcement (next_mult, mult_at) is not restored; when no price of at most 18 places gives ref
    with it, the line says the token price with multiplier 1."""
    tick = Fraction(ins.tick_size)
    mult = Fraction(mant) * Fraction(10) ** exp
    share = Fraction(ref) * tick / mult
    px = round(share * 10 ** 18) / Fraction(10 ** 18)
    if not 0 < px <= MAX_ORACLE_PX or ins.reference_round(px * mult) != ref:
        px, mult, mant, exp = Fraction(ref) * tick, Fraction(1), 1, 0
    d = {"op": "oracle", "sym": ins.symbol, "px": _plain(px), "mult": mult_text(mant, exp),
         "market": MARKET_TEXT[market], "ots": ots}
    if market == REGULAR:
        d.update(reg_open=reg_open, reg_close=reg_close)
    return d


def _plain(x: Fraction) -> str:
    """A fraction with a terminating decimal expansion of at most 18 places as plain text."""
    whole, frac = divmod(x.numerator * 10 ** 18 // x.denominator, 10 ** 18)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".")
