"""Assets, base/quote units and fee tiers of a venue with risk on (docs/balances.md 1-3).

`parse_risk` reads the tables of an instruments file that belong to balances (`[risk]`, `[[asset]]`,
`[[fee_tier]]`, and `base` / `quote` of each `[[instrument]]`). They are validated whether risk is on
or off (a bad value is a configuration error either way); the checks that only matter to a venue that
keeps balances (whole unit factors, decimals the event text can print) apply with risk on only.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING

from kabuto.engine.errors import ConfigError

if TYPE_CHECKING:
    from kabuto.engine.instruments import Instrument

FEE_ACCOUNT = "@fees"  # the account that receives every fee and pays every rebate (docs/balances.md 5)
ASSET_RE = re.compile(r"[A-Za-z0-9._/-]{1,40}")
RATE_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # a rate as decimal text: "-0.25", "5"
MAX_DECIMALS = 18
MAX_AMOUNT = (1 << 62) - 1  # the largest amount of any asset, in units (docs/balances.md 2)
MAX_TIER = 255
MAX_RATE = 100_000  # 1000 bp in millionths: no valid rate is larger in magnitude (docs/balances.md 3)
RISK_KEYS = {"enabled"}
ASSET_KEYS = {"symbol", "decimals"}
TIER_KEYS = {"tier", "maker_bps", "taker_bps"}


@dataclass(frozen=True)
class Asset:
    """Something an account can hold; amounts are integers in units of 10^-decimals."""
    name: str
    decimals: int


@dataclass(frozen=True)
class Risk:
    """A venue's balances configuration: its assets (an asset's id is its index; sorted by name, code
    point order), each instrument's base and quote asset ids and unit factors, and the fee schedule."""
    enabled: bool
    assets: tuple[Asset, ...]
    base: tuple[int, ...]  # per instrument: its base asset's id
    quote: tuple[int, ...]  # per instrument: its quote asset's id
    bf: tuple[int, ...]  # per instrument: base units per lot
    qf: tuple[int, ...]  # per instrument: quote units per (tick x lot)
    tiers: tuple[tuple[int, int, int], ...]  # (tier, maker, taker), rates in millionths (bps x 100)

    def asset_index(self) -> dict[str, int]:
        """Map from asset name to its id."""
        return {a.name: i for i, a in enumerate(self.assets)}


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a symbol as chain/settlement.py splits it: at the last '-' or '/'; a symbol with
    neither, or with the separator first or last, trades "<symbol>.base" against "<symbol>.quote"."""
    cut = max(symbol.rfind("-"), symbol.rfind("/"))
    if cut <= 0 or cut == len(symbol) - 1:
        return symbol + ".base", symbol + ".quote"
    return symbol[:cut], symbol[cut + 1:]


def rate_millionths(text: str) -> int | None:
    """A rate in basis points as decimal text -> millionths (bps x 100); None when it is not a decimal
    with at most two places once trailing zeros are dropped, or is larger in magnitude than any valid rate."""
    if not RATE_RE.fullmatch(text):
        return None
    return rate_from_decimal(Decimal(text))


def rate_from_decimal(d: Decimal) -> int | None:
    """Millionths of a finite decimal number of basis points, or None (see rate_millionths).

    Exact: no context rounding (digits are counted as written, trailing zeros dropped)."""
    if not d.is_finite():
        return None
    sign, digits, exp = d.as_tuple()
    n = len(digits)
    while n and digits[n - 1] == 0:
        n -= 1
        exp += 1
    if not n:
        return 0
    if exp < -2 or n + exp > 4:  # more than two places, or 10^4 bp or more
        return None
    v = int("".join(map(str, digits[:n]))) * 10 ** (exp + 2)
    if v > MAX_RATE:
        return None
    return -v if sign else v


def schedule_valid(tiers: dict[int, tuple[int, int]]) -> bool:
    """docs/balances.md 3: 0 <= taker <= 1000 bp, -1000 <= maker <= taker for every tier, and
    min(taker) + min(maker) >= 0 over all tiers (rates in millionths)."""
    for maker, taker in tiers.values():
        if not 0 <= taker <= MAX_RATE or not -MAX_RATE <= maker <= taker:
            return False
    return min(t for _, t in tiers.values()) + min(m for m, _ in tiers.values()) >= 0


def _table_list(doc: dict, key: str) -> list[dict]:
    v = doc.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ConfigError(f"instruments file: {key} must be [[{key}]] tables")
    return v


def _asset_name(v: object, where: str, key: str) -> str:
    if not isinstance(v, str) or not ASSET_RE.fullmatch(v):
        raise ConfigError(f"{where}: {key} = {v!r} must be an asset name (1 to 40 of A-Z a-z 0-9 . _ / -)")
    return v


def _rate(entry: dict, key: str, where: str) -> int:
    raw = entry[key]
    if isinstance(raw, str):
        r = rate_millionths(raw)
    elif isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
        r = None
    else:
        try:  # a TOML float is read from its shortest text, which is the text as written for any valid rate
            r = rate_from_decimal(Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw))
        except InvalidOperation:
            r = None
    if r is None:
        raise ConfigError(f"{where}: {key} = {raw!r} must be basis points with at most two decimal places, "
                          f"from -1000 to 1000")
    return r


def parse_risk(doc: dict, instruments: Sequence[Instrument], force: bool = False) -> Risk:
    """The balances configuration of a parsed instruments file whose instruments are `instruments`.

    Risk is on when the file's `[risk]` says `enabled = true` or `force` (the command line's --risk) is set."""
    table = doc.get("risk", {})
    if not isinstance(table, dict):
        raise ConfigError("instruments file: risk must be a table [risk]")
    unknown = set(table) - RISK_KEYS
    if unknown:
        raise ConfigError(f"[risk]: unknown keys {sorted(unknown)}")
    enabled = table.get("enabled", False)
    if type(enabled) is not bool:
        raise ConfigError(f"[risk]: enabled = {enabled!r} must be true or false")
    enabled = enabled or force

    declared: dict[str, int] = {}
    for i, entry in enumerate(_table_list(doc, "asset"), 1):
        where = f"asset #{i}"
        unknown = set(entry) - ASSET_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("symbol", "decimals"):
            if key not in entry:
                raise ConfigError(f"{where}: missing {key}")
        name = _asset_name(entry["symbol"], where, "symbol")
        d = entry["decimals"]
        if type(d) is not int or not 0 <= d <= MAX_DECIMALS:
            raise ConfigError(f"{where}: decimals = {d!r} must be an integer from 0 to {MAX_DECIMALS}")
        if name in declared:
            raise ConfigError(f"{where}: duplicate asset {name}")
        declared[name] = d

    tiers: dict[int, tuple[int, int]] = {}
    for i, entry in enumerate(_table_list(doc, "fee_tier"), 1):
        where = f"fee_tier #{i}"
        unknown = set(entry) - TIER_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("tier", "maker_bps", "taker_bps"):
            if key not in entry:
                raise ConfigError(f"{where}: missing {key}")
        t = entry["tier"]
        if type(t) is not int or not 0 <= t <= MAX_TIER:
            raise ConfigError(f"{where}: tier = {t!r} must be an integer from 0 to {MAX_TIER}")
        if t in tiers:
            raise ConfigError(f"{where}: tier {t} defined twice")
        tiers[t] = (_rate(entry, "maker_bps", where), _rate(entry, "taker_bps", where))
    tiers.setdefault(0, (0, 0))
    if not schedule_valid(tiers):
        raise ConfigError("fee tiers: invalid schedule (each tier needs 0 <= taker_bps <= 1000 and "
                          "-1000 <= maker_bps <= taker_bps, and min(taker_bps) + min(maker_bps) >= 0 over all tiers)")

    entries = doc.get("instrument") or []
    legs: list[tuple[str, str]] = []
    derived: dict[str, int] = {}
    for i, (entry, ins) in enumerate(zip(entries, instruments), 1):
        where = f"instrument #{i} ({ins.symbol})"
        base, quote = split_symbol(ins.symbol)
        explicit = False
        if isinstance(entry, dict) and "base" in entry:
            base, explicit = _asset_name(entry["base"], where, "base"), True
        if isinstance(entry, dict) and "quote" in entry:
            quote, explicit = _asset_name(entry["quote"], where, "quote"), True
        if base == quote and (explicit or enabled):
            raise ConfigError(f"{where}: base and quote must differ (both {base})")
        legs.append((base, quote))
        lot_places, tick_places = ins.qty.places, ins.px.places
        derived[base] = max(derived.get(base, 0), lot_places)
        derived[quote] = max(derived.get(quote, 0), tick_places + lot_places)

    decimals = {**derived, **declared}
    names = sorted(decimals)
    index = {n: k for k, n in enumerate(names)}
    bf: list[int] = []
    qf: list[int] = []
    if enabled:
        for name in names:
            if decimals[name] > MAX_DECIMALS:
                raise ConfigError(f"asset {name}: derived decimals {decimals[name]} exceed {MAX_DECIMALS}; "
                                  f"declare it with an [[asset]] table")
        for ins, (base, quote) in zip(instruments, legs):
            b = Fraction(ins.lot_size) * 10 ** decimals[base]
            q = Fraction(ins.tick_size) * Fraction(ins.lot_size) * 10 ** decimals[quote]
            if b.denominator != 1 or q.denominator != 1:
                raise ConfigError(f"instrument {ins.symbol}: lot_size x 10^{decimals[base]} ({base}) and "
                                  f"tick_size x lot_size x 10^{decimals[quote]} ({quote}) must be whole numbers: "
                                  f"declare more decimals for its assets")
            if b > MAX_AMOUNT or q > MAX_AMOUNT:
                raise ConfigError(f"instrument {ins.symbol}: one lot or one tick x lot is more than 2^62 - 1 "
                                  f"units of its assets")
            bf.append(int(b))
            qf.append(int(q))
    else:  # not used with risk off; the factors are only defined where whole
        for ins, (base, quote) in zip(instruments, legs):
            b = Fraction(ins.lot_size) * 10 ** decimals[base]
            q = Fraction(ins.tick_size) * Fraction(ins.lot_size) * 10 ** decimals[quote]
            bf.append(int(b) if b.denominator == 1 else 0)
            qf.append(int(q) if q.denominator == 1 else 0)
    return Risk(enabled=enabled,
                assets=tuple(Asset(n, decimals[n]) for n in names),
                base=tuple(index[b] for b, _ in legs),
                quote=tuple(index[q] for _, q in legs),
                bf=tuple(bf), qf=tuple(qf),
                tiers=tuple((t, m, tk) for t, (m, tk) in sorted(tiers.items())))


def amount_text(units: int, decimals: int) -> str:
    """An amount as event text: exactly `decimals` places, '-' only when negative (docs/balances.md 2)."""
    sign = "-" if units < 0 else ""
    s = str(abs(units))
    if not decimals:
        return sign + s
    s = s.rjust(decimals + 1, "0")
    return f"{sign}{s[:-decimals]}.{s[-decimals:]}"


def rate_text(millionths: int) -> str:
    """A rate as event text: basis points with exactly two decimal places ("5.00", "-0.25")."""
    return amount_text(millionths, 2)
