"""Instruments: tick, lot, min quantity and price band; exact decimal <-> tick/lot conversion."""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from kabuto.engine.assets import Risk, parse_risk
from kabuto.engine.codes import Market
from kabuto.engine.errors import ConfigError

MAX_UNITS = 1 << 40  # the largest price in ticks and quantity in lots
SYMBOL_RE = re.compile(r"[A-Za-z0-9._/-]{1,32}")
PLAIN_DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
MIN_VALUE, MAX_VALUE = Decimal("1e-30"), Decimal("1e18")  # any decimal of an instruments file
# docs/market-integrity.md section 3: the keys of an oracle instrument, with their defaults
ORACLE_MS = {"confirm_ms": 10_000, "stale_ms": 30_000, "halt_ms": 300_000, "ref_window_ms": 300_000,
             "ref_interval_ms": 30_000, "limit_state_ms": 15_000, "pause_ms": 300_000, "open_auction_ms": 60_000}
ORACLE_PCT = {"step_pct": "1", "ref_move_pct": "1", "collar_pct": None}
KNOWN_KEYS = ({"symbol", "tick_size", "lot_size", "min_qty", "band_pct", "reference_price", "reopen_ms",
               "indicative_ms", "luld_tier", "policy", "base", "quote"} | set(ORACLE_MS) | set(ORACLE_PCT))
TOP_KEYS = {"instrument", "risk", "asset", "fee_tier"}  # the tables of an instruments file (docs/balances.md 1-3)
POLICY_KEYS = {"band_factor", "band_pct", "market_orders", "max_notional"}
DEFAULT_REOPEN_MS, DEFAULT_INDICATIVE_MS = 300_000, 1_000
MAX_MS = 10 ** 9  # the longest duration of an instruments file, in ms (about 11.6 days)
MAX_NOTIONAL_UNITS = 1 << 62  # max_notional in ticks x lots must stay below this (the kernel's int64)
PCT_RE = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")

DEFAULT_INSTRUMENTS_TOML = """
# Kabuto's built-in instruments: used when no --instruments file is given.
[[instrument]]
symbol = "TSLAx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"

[[instrument]]
symbol = "AMZNx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"

[[instrument]]
symbol = "AAPLx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"

[[instrument]]
symbol = "NVDAx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"

[[instrument]]
symbol = "BTC-USD"
tick_size = "0.01"
lot_size = "0.00001"

[[instrument]]
symbol = "ETH-USD"
tick_size = "0.01"
lot_size = "0.0001"
"""


class Scale:
    """Exact conversion between decimal text and whole multiples of one step (a tick or a lot)."""

    __slots__ = ("step", "places", "step_units", "pow10")

    def __init__(self, step: Decimal):
        self.step = step
        exp = step.as_tuple().exponent
        self.places = max(0, -exp)  # decimal places as written
        self.pow10 = 10 ** self.places
        self.step_units = int(step * self.pow10)  # step in units of 10**-places

    def parse_plain(self, text: str) -> int | None:
        """Steps in plain decimal text ("245.10"), or None when it is not a positive in-range multiple."""
        if not PLAIN_DECIMAL_RE.fullmatch(text):
            return None
        whole, _, frac = text.partition(".")
        frac = frac.rstrip("0")
        if len(frac) > self.places:
            return None
        if len(whole) > 30:
            whole = whole.lstrip("0") or "0"
            if len(whole) > 30:
                return None
        units = int(whole) * self.pow10 + (int(frac) * 10 ** (self.places - len(frac)) if frac else 0)
        return self._steps(units)

    def parse_number_text(self, text: str) -> int | None:
        """Steps in a JSON number's text (exponent allowed), or None when invalid."""
        try:
            d = Decimal(text)
        except InvalidOperation:
            return None
        if not d.is_finite():
            return None
        sign, digits, exp = d.as_tuple()
        if sign:
            return None
        # value = digits * 10**exp; in units: digits * 10**(exp + places)
        shift = exp + self.places
        while digits and digits[-1] == 0 and shift < 0:
            digits = digits[:-1]
            shift += 1
        if not digits:
            return None
        if shift < 0:
            return None
        if len(digits) + shift > 40:
            return None
        units = int("".join(map(str, digits))) * 10 ** shift
        return self._steps(units)

    def _steps(self, units: int) -> int | None:
        if units <= 0 or units % self.step_units:
            return None
        steps = units // self.step_units
        return steps if steps <= MAX_UNITS else None

    def text(self, steps: int) -> str:
        """Decimal text of a whole number of steps, with the step's places as written."""
        units = steps * self.step_units
        if not self.places:
            return str(units)
        s = str(units).rjust(self.places + 1, "0")
        return s[:-self.places] + "." + s[-self.places:]


@dataclass(frozen=True)
class Policy:
    """What an oracle instrument allows while its stock is in one market status (section 3)."""
    band_factor: int = 1  # times the LULD half-width; ignored when band_bp is set
    band_bp: int | None = None  # a fixed half-width in basis points instead of LULD
    market_orders: bool = True
    max_notional: Decimal | None = None  # the largest notional of one order, quote currency


DEFAULT_POLICIES = tuple(Policy() if m == Market.REGULAR else Policy(band_factor=2, market_orders=False)
                         for m in Market)


@dataclass(frozen=True)
class Oracle:
    """The oracle keys of an oracle instrument (docs/market-integrity.md section 3); durations in ms."""
    tier: int
    step_bp: int = 100
    confirm_ms: int = ORACLE_MS["confirm_ms"]
    stale_ms: int = ORACLE_MS["stale_ms"]
    halt_ms: int = ORACLE_MS["halt_ms"]
    ref_window_ms: int = ORACLE_MS["ref_window_ms"]
    ref_interval_ms: int = ORACLE_MS["ref_interval_ms"]
    ref_move_bp: int = 100
    limit_state_ms: int = ORACLE_MS["limit_state_ms"]
    pause_ms: int = ORACLE_MS["pause_ms"]
    open_auction_ms: int = ORACLE_MS["open_auction_ms"]
    collar_bp: int | None = None
    policies: tuple[Policy, ...] = DEFAULT_POLICIES  # indexed by Market

    def spec(self) -> list:
        """Every value as plain JSON data (for the journal's check that the instruments did not change)."""
        return [self.tier, self.step_bp, self.confirm_ms, self.stale_ms, self.halt_ms, self.ref_window_ms,
                self.ref_interval_ms, self.ref_move_bp, self.limit_state_ms, self.pause_ms, self.open_auction_ms,
                self.collar_bp, [[p.band_factor, p.band_bp, p.market_orders,
                                  None if p.max_notional is None else str(p.max_notional)] for p in self.policies]]


@dataclass(frozen=True)
class Instrument:
    """One tradable symbol: its steps, minimum quantity and optional price band."""
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal
    band_pct: Decimal | None = None
    reference_price: Decimal | None = None
    reopen_ms: int = DEFAULT_REOPEN_MS  # a reopening call's length
    indicative_ms: int = DEFAULT_INDICATIVE_MS  # the period of a call's indicative events
    oracle: Oracle | None = None  # set for an oracle instrument (luld_tier), docs/market-integrity.md
    px: Scale = field(init=False, repr=False, compare=False)
    qty: Scale = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "px", Scale(self.tick_size))
        object.__setattr__(self, "qty", Scale(self.lot_size))

    @property
    def min_lots(self) -> int:
        """The smallest quantity accepted on a new order, in lots."""
        q = Fraction(self.min_qty) / Fraction(self.lot_size)
        return max(1, -((-q.numerator) // q.denominator))

    def band_edges(self, reference: Fraction) -> tuple[int, int]:
        """Lowest and highest allowed price in ticks around a reference price, exactly."""
        pct = Fraction(self.band_pct) / 100
        tick = Fraction(self.tick_size)
        hi = reference * (1 + pct) / tick
        lo = reference * (1 - pct) / tick
        return -((-lo.numerator) // lo.denominator), hi.numerator // hi.denominator

    def reference_round(self, value: Fraction) -> int:
        """A reference price in whole ticks, rounded half up (the auction's nearest-reference rule)."""
        t = value / Fraction(self.tick_size) + Fraction(1, 2)
        return t.numerator // t.denominator

    def reference_ticks(self, value: Fraction) -> bool:
        """True when a reference price is positive and at most 2**40 ticks."""
        return 0 < value and value / Fraction(self.tick_size) <= MAX_UNITS


def _decimal(entry: dict, key: str, where: str) -> Decimal:
    raw = entry[key]
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ConfigError(f"{where}: {key} must be a decimal string")
    try:
        d = Decimal(str(raw))
    except InvalidOperation:
        raise ConfigError(f"{where}: {key} = {raw!r} is not a decimal number") from None
    if not d.is_finite() or d <= 0:
        raise ConfigError(f"{where}: {key} = {raw!r} must be positive")
    if not MIN_VALUE <= d < MAX_VALUE:
        raise ConfigError(f"{where}: {key} = {raw!r} is out of range (1e-30 <= value < 1e18)")
    return d


def _step(entry: dict, key: str, where: str) -> Decimal:
    """A tick or lot size: positive, at most five significant digits, not finer than 1e-30.

    The kernel divides by the step's digits in int64: a wider step could overflow it."""
    d = _decimal(entry, key, where)
    _, digits, exp = d.normalize().as_tuple()
    if int("".join(map(str, digits))) > 100_000 or exp < -30:
        raise ConfigError(f"{where}: {key} = {entry[key]!r} needs at most five significant digits, "
                          f"not finer than 1e-30")
    return d


def _ms(entry: dict, key: str, where: str, least: int = 1) -> int:
    """A duration in milliseconds: a TOML integer from least (1 unless told) to MAX_MS."""
    v = entry[key]
    if type(v) is not int or not least <= v <= MAX_MS:
        raise ConfigError(f"{where}: {key} = {v!r} must be an integer from {least} to {MAX_MS} (milliseconds)")
    return v


def _bp(entry: dict, key: str, where: str, zero: bool = False) -> int:
    """A percentage (a decimal string with at most two places, up to 100) in whole basis points."""
    v = entry[key]
    if type(v) is not str or not PCT_RE.fullmatch(v):
        raise ConfigError(f"{where}: {key} = {v!r} must be a percentage as a decimal string (at most two places)")
    bp = int(Decimal(v) * 100)
    if not (0 if zero else 1) <= bp <= 10_000:
        raise ConfigError(f"{where}: {key} = {v!r} is out of range ({'0' if zero else 'above 0'} to 100)")
    return bp


def _policy(table: object, tick: Decimal, lot: Decimal, default: Policy, where: str) -> Policy:
    """One [instrument.policy.STATUS] table; the keys it leaves out keep the status's default."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - POLICY_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if "band_factor" in table and "band_pct" in table:
        raise ConfigError(f"{where}: band_factor and band_pct together")
    out = default
    if "band_factor" in table:
        f = table["band_factor"]
        if type(f) is not int or not 1 <= f <= 10:
            raise ConfigError(f"{where}: band_factor = {f!r} must be an integer from 1 to 10")
        out = Policy(f, None, out.market_orders, out.max_notional)
    if "band_pct" in table:
        out = Policy(out.band_factor, _bp(table, "band_pct", where), out.market_orders, out.max_notional)
    if "market_orders" in table:
        if type(table["market_orders"]) is not bool:
            raise ConfigError(f"{where}: market_orders must be true or false")
        out = Policy(out.band_factor, out.band_bp, table["market_orders"], out.max_notional)
    if "max_notional" in table:
        if type(table["max_notional"]) is not str:
            raise ConfigError(f"{where}: max_notional must be a decimal string")
        cap = _decimal(table, "max_notional", where)
        if cap > Decimal(10) ** 18 or Fraction(cap) / (Fraction(tick) * Fraction(lot)) >= MAX_NOTIONAL_UNITS:
            raise ConfigError(f"{where}: max_notional = {cap} is too large (at most 1e18, and below 2**62 "
                              f"ticks x lots)")
        out = Policy(out.band_factor, out.band_bp, out.market_orders, cap)
    return out


def _oracle(entry: dict, tick: Decimal, lot: Decimal, where: str) -> Oracle | None:
    """The oracle keys of an instrument table, or None for a plain instrument."""
    keys = (set(ORACLE_MS) | set(ORACLE_PCT) | {"policy"}) & set(entry)
    if "luld_tier" not in entry:
        if keys:
            raise ConfigError(f"{where}: {sorted(keys)} need luld_tier (an oracle instrument)")
        return None
    tier = entry["luld_tier"]
    if type(tier) is not int or tier not in (1, 2):
        raise ConfigError(f"{where}: luld_tier = {tier!r} must be 1 or 2")
    if "band_pct" in entry or "reference_price" in entry:
        raise ConfigError(f"{where}: an oracle instrument (luld_tier) takes its band from the oracle: "
                          f"no band_pct or reference_price")
    kw: dict = {k: _ms(entry, k, where, 0 if k == "open_auction_ms" else 1) for k in ORACLE_MS if k in entry}
    for key in ("step_pct", "collar_pct"):
        if key in entry:
            kw[key.replace("_pct", "_bp")] = _bp(entry, key, where)
    if "ref_move_pct" in entry:
        kw["ref_move_bp"] = _bp(entry, "ref_move_pct", where, zero=True)
    if kw.get("halt_ms", ORACLE_MS["halt_ms"]) <= kw.get("stale_ms", ORACLE_MS["stale_ms"]):
        raise ConfigError(f"{where}: halt_ms must be greater than stale_ms")
    tables = entry.get("policy", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{where}: policy must be tables [instrument.policy.STATUS]")
    names = {m.name.lower(): m for m in Market}
    unknown = set(tables) - set(names)
    if unknown:
        raise ConfigError(f"{where}: unknown market statuses in policy: {sorted(unknown)}")
    policies = tuple(_policy(tables[m.name.lower()], tick, lot, DEFAULT_POLICIES[m], f"{where} policy.{m.name.lower()}")
                     if m.name.lower() in tables else DEFAULT_POLICIES[m] for m in Market)
    return Oracle(tier, policies=policies, **kw)


def parse_instruments(doc: dict) -> list[Instrument]:
    """Instruments from a parsed TOML document; unknown keys and bad values are errors."""
    entries = doc.get("instrument")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("instruments file: needs at least one [[instrument]] table")
    unknown_top = set(doc) - TOP_KEYS
    if unknown_top:
        raise ConfigError(f"instruments file: unknown keys {sorted(unknown_top)}")
    out: list[Instrument] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, 1):
        where = f"instrument #{i}"
        unknown = set(entry) - KNOWN_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("symbol", "tick_size", "lot_size"):
            if key not in entry:
                raise ConfigError(f"{where}: missing {key}")
        sym = entry["symbol"]
        if not isinstance(sym, str) or not SYMBOL_RE.fullmatch(sym):
            raise ConfigError(f"{where}: bad symbol {sym!r}")
        if sym in seen:
            raise ConfigError(f"{where}: duplicate symbol {sym}")
        seen.add(sym)
        tick = _step(entry, "tick_size", where)
        lot = _step(entry, "lot_size", where)
        min_qty = _decimal(entry, "min_qty", where) if "min_qty" in entry else lot
        band = _decimal(entry, "band_pct", where) if "band_pct" in entry else None
        ref = _decimal(entry, "reference_price", where) if "reference_price" in entry else None
        ms = {k: _ms(entry, k, where) for k in ("reopen_ms", "indicative_ms") if k in entry}
        out.append(Instrument(sym, tick, lot, min_qty, band, ref, oracle=_oracle(entry, tick, lot, where), **ms))
    parse_risk(doc, out)  # the balances tables are validated whether risk is on or off (docs/balances.md 1)
    return out


def _read_doc(path: str | None) -> dict:
    if path is None:
        return tomllib.loads(DEFAULT_INSTRUMENTS_TOML)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read instruments file {path}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"instruments file {path}: {e}") from None


def load_instruments(path: str | None = None) -> list[Instrument]:
    """Instruments from a TOML file, or the built-in default set when path is None."""
    return parse_instruments(_read_doc(path))


def parse_config(doc: dict, risk: bool = False) -> tuple[list[Instrument], Risk]:
    """Instruments and balances configuration of a parsed instruments file; risk=True switches risk on
    whatever the file says (docs/balances.md 1)."""
    instruments = parse_instruments(doc)
    return instruments, parse_risk(doc, instruments, force=risk)


def load_config(path: str | None = None, risk: bool = False) -> tuple[list[Instrument], Risk]:
    """Instruments and balances configuration from a TOML file (the built-in set when path is None)."""
    return parse_config(_read_doc(path), risk)


def symbol_index(instruments: Sequence[Instrument]) -> dict[str, int]:
    """Map from symbol to its index in the instrument list."""
    return {ins.symbol: i for i, ins in enumerate(instruments)}


def initial_bands(instruments: Iterable[Instrument]) -> list[tuple[bool, int, int]]:
    """(band on, lowest, highest tick) per instrument from its configured reference price."""
    out = []
    for ins in instruments:
        if ins.band_pct is not None and ins.reference_price is not None:
            lo, hi = ins.band_edges(Fraction(ins.reference_price))
            out.append((True, lo, hi))
        else:
            out.append((False, 0, 0))
    return out


def cents_in_ticks(ins: Instrument, cents: int) -> Fraction:
    """An amount of quote currency given in cents, in (fractional) ticks of the instrument."""
    return Fraction(cents, 100) / Fraction(ins.tick_size)


def notional_units(ins: Instrument, cap: Decimal) -> int:
    """max_notional in ticks x lots, floored: an order is too large when px x qty exceeds it."""
    m = Fraction(cap) / (Fraction(ins.tick_size) * Fraction(ins.lot_size))
    return m.numerator // m.denominator
