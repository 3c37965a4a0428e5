"""Order log decoder: JSON Lines text -> command records, with every static fault as a reject."""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import numpy as np
from kabuto.engine.assets import MAX_AMOUNT, MAX_TIER, Risk, rate_from_decimal, rate_millionths
from kabuto.engine.codes import STP_NAMES, TIF_NAMES, Flag, Op, OrdType, Reason, Side, Stp, Tif
from kabuto.engine.instruments import MAX_UNITS, Instrument, symbol_index
from kabuto.engine.oracle import oracle_fields
from kabuto.engine.records import COMMAND_DTYPE
from kabuto.replay import fastdecode
from kabuto.replay.accounts import Accounts

MAX_OID = (1 << 63) - 1
MAX_MANT = 1 << 62
PLAIN = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
BLANK = re.compile(rb"[ \t\r]*")
BOM = b"\xef\xbb\xbf"

HAS_TS, HAS_PX, HAS_QTY, HAS_OID, BAND_ON = (int(Flag.HAS_TS), int(Flag.HAS_PX), int(Flag.HAS_QTY),
                                             int(Flag.HAS_OID), int(Flag.BAND_ON))
NEW, CANCEL, AMEND, REF, REJECT = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND), int(Op.REF), int(Op.REJECT)
HALT, RESUME = int(Op.HALT), int(Op.RESUME)
HALT_OPS = {"halt": HALT, "resume": RESUME, "halt_all": int(Op.HALT_ALL), "resume_all": int(Op.RESUME_ALL),
            "tick": int(Op.TICK)}
SIDES = {"buy": int(Side.BUY), "sell": int(Side.SELL)}
TYPES = {"limit": int(OrdType.LIMIT), "market": int(OrdType.MARKET)}
TIFS = {k: int(v) for k, v in TIF_NAMES.items()}
STPS = {k: int(v) for k, v in STP_NAMES.items()}
IOC, FOK, POST, GTC = int(Tif.IOC), int(Tif.FOK), int(Tif.POST), int(Tif.GTC)
MARKET = int(OrdType.MARKET)
R_MALFORMED, R_UNKNOWN_SYMBOL, R_BAD_TIF, R_BAD_STP, R_BAD_PRICE = (
    int(Reason.MALFORMED), int(Reason.UNKNOWN_SYMBOL), int(Reason.BAD_TIF), int(Reason.BAD_STP),
    int(Reason.BAD_PRICE))
DEFAULT_STP = int(Stp.CANCEL_OLDEST)
ORACLE, R_ORACLE_ONLY = int(Op.ORACLE), int(Reason.ORACLE_ONLY)
# balances (docs/balances.md 4)
DEPOSIT, WITHDRAW, FEES, TIER = int(Op.DEPOSIT), int(Op.WITHDRAW), int(Op.FEES), int(Op.TIER)
R_UNKNOWN_ASSET, R_BAD_AMOUNT, R_BAD_FEE = int(Reason.UNKNOWN_ASSET), int(Reason.BAD_AMOUNT), int(Reason.BAD_FEE)
PROTECT = int(Flag.PROTECT)


class NumText(str):
    """The text of a JSON number with a fraction or exponent (never turned into a float)."""


class BigInt:
    """A JSON integer too long for Python's int() digit limit: never a valid value."""


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _big_int(text: str):
    return int(text) if len(text) < 4000 else BigInt()


_loads = json.JSONDecoder(parse_float=NumText, parse_constant=_reject_constant).decode
_loads_big = json.JSONDecoder(parse_float=NumText, parse_constant=_reject_constant,
                              parse_int=_big_int).decode


def _normalize(mant: int, exp: int) -> tuple[int, int]:
    if mant <= 0:
        return 0, 0
    while mant % 10 == 0:
        mant //= 10
        exp += 1
    if mant >= MAX_MANT or not -100 < exp < 100:
        return 0, 0
    return mant, exp


def decimal_value(v) -> tuple[int, int]:
    """(mantissa, exponent) of a JSON price/quantity value; mantissa 0 when it is not a valid positive number."""
    t = type(v)
    if t is str:
        m = PLAIN.fullmatch(v)
        if m is None:
            return 0, 0
        whole, frac = m.group(1), m.group(2)
        whole = whole.lstrip("0")
        if frac:
            frac = frac.rstrip("0")
        digits = whole + (frac or "")
        if len(digits) > 40:
            return 0, 0
        return _normalize(int(digits) if digits else 0, -len(frac or ""))
    if t is int:
        return _normalize(v, 0) if v.bit_length() < 200 else (0, 0)
    if t is NumText:
        try:
            d = Decimal(v)
        except InvalidOperation:
            return 0, 0
        sign, digits, exp = d.as_tuple()
        if sign or not isinstance(exp, int):
            return 0, 0
        digits = "".join(map(str, digits)).lstrip("0")
        if not digits:
            return 0, 0
        stripped = digits.rstrip("0")
        exp += len(digits) - len(stripped)
        if len(stripped) > 40 or not -100 < exp < 100:
            return 0, 0
        return _normalize(int(stripped), exp)
    return 0, 0


def amount_units(v, decimals: int) -> int:
    """An amount (docs/balances.md 2) in units of 10^-decimals, read exactly from its text; 0 when it is
    not a positive decimal, has more than `decimals` places once trailing zeros are dropped, or is over 2^62 - 1."""
    mant, exp = decimal_value(v)
    shift = exp + decimals
    if mant == 0 or shift < 0 or shift > 19:
        return 0
    units = mant * 10 ** shift
    return units if units <= MAX_AMOUNT else 0


def rate_value(v) -> int | None:
    """A fee rate (docs/balances.md 4, fees) in millionths: a JSON number read exactly from its text, or a
    string of decimal text with an optional leading '-'; None when it is not one or has more than two places
    (or is larger in magnitude than any valid rate, which no schedule allows either)."""
    t = type(v)
    if t is str:
        return rate_millionths(v)
    if t is int:
        return rate_from_decimal(Decimal(v)) if v.bit_length() < 200 else None
    if t is NumText:
        try:
            return rate_from_decimal(Decimal(v))
        except InvalidOperation:
            return None
    return None


def _is_int(v, lo: int, hi: int) -> bool:
    return type(v) is int and lo <= v <= hi


class Decoder:
    """Turns order-log lines into command records for one set of instruments."""

    def __init__(self, instruments: Sequence[Instrument], accounts: Accounts | None = None,
                 risk: Risk | None = None):
        self.instruments = list(instruments)
        # balances (docs/balances.md): the new ops and `protect` are read only with risk on
        self.risk = risk if risk is not None and risk.enabled else None
        self.assets = self.risk.asset_index() if self.risk else {}
        self.decimals = [a.decimals for a in self.risk.assets] if self.risk else []
        self.symbols = symbol_index(self.instruments)
        self.accounts = accounts or Accounts()
        names = [s.encode() for s in self.symbols]
        self._sym_bytes = np.frombuffer(b"".join(names) or b" ", np.uint8)
        self._sym_off = np.cumsum([0] + [len(n) for n in names]).astype(np.int64)
        self._scratch = fastdecode.scratch()

    def decode(self, lines: Sequence[bytes], first_line: int) -> np.ndarray:
        """Command records for lines numbered from first_line; blank lines give none."""
        return self.decode_chunk(b"\n".join(lines) + b"\n", first_line) if lines else np.zeros(0, COMMAND_DTYPE)

    def decode_chunk(self, data: bytes, first_line: int) -> np.ndarray:
        """Command records for the LF-separated lines of data, the first numbered first_line.

        The numba decoder takes the common lines; the rest are decoded here in Python."""
        buf = np.frombuffer(data, np.uint8)
        nl = np.flatnonzero(buf == 10)
        starts = np.concatenate((np.zeros(1, np.int64), nl + 1))
        ends = np.concatenate((nl, np.full(1, len(buf), np.int64)))
        if data.endswith(b"\n"):
            starts, ends = starts[:-1], ends[:-1]
        out = np.zeros(len(starts), COMMAND_DTYPE)
        acc = self.accounts
        acc.reserve(len(starts), len(data))
        fastdecode.decode(buf, starts, ends, first_line, out, self._sym_bytes, self._sym_off, acc.t_hash,
                          acc.t_id, acc.arena, acc.a_off, acc.meta, *self._scratch, self.risk is not None)
        acc.sync()
        for i in np.flatnonzero(out["op"] == fastdecode.FALLBACK).tolist():
            row = self.decode_line(data[starts[i]:ends[i]], first_line + i)
            if row is None:
                out[i]["op"] = fastdecode.BLANK
            else:
                out[i] = row
        keep = out["op"] != fastdecode.BLANK
        return out if keep.all() else out[keep]

    def decode_line(self, raw: bytes, line: int) -> tuple | None:
        """One command record as a tuple in COMMAND_DTYPE order, or None for a blank line."""
        try:
            text = raw.decode("utf-8")
            try:
                d = _loads(text)
            except ValueError as e:
                if isinstance(e, json.JSONDecodeError) or "digits" not in str(e):
                    raise
                d = _loads_big(text)
        except (ValueError, RecursionError):
            if BLANK.fullmatch(raw):
                return None
            return _malformed(line)
        if type(d) is not dict:
            return _malformed(line)
        op = d.get("op")
        ts = 0
        fl = 0
        if "ts" in d:
            ts = d["ts"]
            if not _is_int(ts, 0, MAX_OID):
                return _malformed(line)
            fl = HAS_TS
        if op == "new":
            return self._new(d, line, ts, fl)
        if op == "cancel":
            oid = d.get("oid")
            if not _is_int(oid, 0, MAX_OID):
                return _malformed(line)
            return (CANCEL, 0, 0, 0, 0, 0, 0, 0, fl, 0, -1, oid, 0, 0, 0, ts, line)
        if op == "amend":
            return self._amend(d, line, ts, fl)
        if op == "ref":
            return self._ref(d, line, ts, fl)
        if type(op) is str and op in HALT_OPS:
            return self._halt(HALT_OPS[op], d, line, ts, fl)
        if op == "oracle":
            return self._oracle(d, line, ts, fl)
        if self.risk is not None:
            if op == "deposit":
                return self._deposit(d, line, ts, fl)
            if op == "withdraw":
                return self._withdraw(d, line, ts, fl)
            if op == "fees":
                return self._fees(d, line, ts, fl)
            if op == "tier":
                return self._tier(d, line, ts, fl)
        return _malformed(line)

    def _acct(self, d: dict) -> int | None:
        """The account id of field acct (a string or an integer), or None when it is neither."""
        acct = d.get("acct")
        ta = type(acct)
        if ta is str:
            return self.accounts.id(acct)
        if ta is int:
            return self.accounts.id(str(acct))
        return None

    def _deposit(self, d: dict, line: int, ts: int, fl: int):
        """docs/balances.md 4: the asset and amount faults rank after the engine's deposit-id checks, so
        they travel in the record's reason."""
        dep, asset = d.get("dep"), d.get("asset")
        if (not _is_int(dep, 1, MAX_OID) or type(asset) is not str or "amount" not in d
                or type(d.get("acct")) not in (str, int)):
            return _malformed(line)
        acct = self._acct(d)
        a = self.assets.get(asset, -1)
        reason = amount = 0
        if a < 0:
            reason = R_UNKNOWN_ASSET
        else:
            amount = amount_units(d["amount"], self.decimals[a])
            if amount == 0:
                reason = R_BAD_AMOUNT
        return (DEPOSIT, 0, 0, 0, 0, reason, 0, 0, fl, 0, a, dep, acct, 0, amount, ts, line)

    def _withdraw(self, d: dict, line: int, ts: int, fl: int):
        asset = d.get("asset")
        if type(asset) is not str or "amount" not in d or type(d.get("acct")) not in (str, int):
            return _malformed(line)
        a = self.assets.get(asset, -1)
        if a < 0:
            return _reject(R_UNKNOWN_ASSET, 0, ts, fl, with_oid=False)
        amount = amount_units(d["amount"], self.decimals[a])
        if amount == 0:
            return _reject(R_BAD_AMOUNT, 0, ts, fl, with_oid=False)
        return (WITHDRAW, 0, 0, 0, 0, 0, 0, 0, fl, 0, a, 0, self._acct(d), 0, amount, ts, line)

    def _fees(self, d: dict, line: int, ts: int, fl: int):
        tier = d.get("tier")
        if not _is_int(tier, 0, MAX_TIER) or "maker_bps" not in d or "taker_bps" not in d:
            return _malformed(line)
        maker, taker = rate_value(d["maker_bps"]), rate_value(d["taker_bps"])
        if maker is None or taker is None:
            return _reject(R_BAD_FEE, 0, ts, fl, with_oid=False)
        return (FEES, 0, 0, 0, 0, 0, 0, 0, fl, 0, -1, tier, 0, maker, taker, ts, line)

    def _tier(self, d: dict, line: int, ts: int, fl: int):
        tier = d.get("tier")
        if not _is_int(tier, 0, MAX_TIER) or type(d.get("acct")) not in (str, int):
            return _malformed(line)
        return (TIER, 0, 0, 0, 0, 0, 0, 0, fl, 0, -1, tier, self._acct(d), 0, 0, ts, line)

    def _oracle(self, d: dict, line: int, ts: int, fl: int):
        """An oracle update (docs/market-integrity.md 4, 6.1): the token reference R computed here, exactly."""
        reason, fields = oracle_fields(d, self.symbols, self.instruments, decimal_value)
        if reason == R_MALFORMED:
            return _malformed(line)
        if reason:
            return _reject(reason, 0, ts, fl, with_oid=False)
        sym, market, ots, reg_open, reg_close, ref, mant, exp = fields
        return (ORACLE, market, 0, 0, 0, 0, 0, exp, fl, 0, sym, ots, reg_open, ref, mant, ts, reg_close)

    def _halt(self, op: int, d: dict, line: int, ts: int, fl: int):
        s = -1
        if op in (HALT, RESUME):
            sym = d.get("sym")
            if type(sym) is not str:
                return _malformed(line)
            s = self.symbols.get(sym)
            if s is None:
                return _reject(R_UNKNOWN_SYMBOL, 0, ts, fl, with_oid=False)
        return (op, 0, 0, 0, 0, 0, 0, 0, fl, 0, s, 0, 0, 0, 0, ts, line)

    def _new(self, d: dict, line: int, ts: int, fl: int):
        oid = d.get("oid")
        acct = d.get("acct")
        sym = d.get("sym")
        side = SIDES.get(d.get("side")) if type(d.get("side")) is str else None
        otype = TYPES.get(d.get("type")) if type(d.get("type")) is str else None
        if (not _is_int(oid, 0, MAX_OID) or type(sym) is not str or side is None or otype is None
                or "qty" not in d or (otype != MARKET and "px" not in d)):
            return _malformed(line)
        ta = type(acct)
        if ta is str:
            name = acct
        elif ta is int:
            name = str(acct)
        else:
            return _malformed(line)
        s = self.symbols.get(sym)
        if s is None:
            return _reject(R_UNKNOWN_SYMBOL, oid, ts, fl)
        tif = IOC if otype == MARKET else GTC
        if "tif" in d:
            t = d["tif"]
            tif = TIFS.get(t) if type(t) is str else None
            if tif is None or (otype == MARKET and tif == POST):
                return _reject(R_BAD_TIF, oid, ts, fl)
            if otype == MARKET and tif != FOK:
                tif = IOC
        stp = DEFAULT_STP
        if "stp" in d:
            v = d["stp"]
            stp = STPS.get(v) if type(v) is str else None
            if stp is None:
                return _reject(R_BAD_STP, oid, ts, fl)
        pm, pe = decimal_value(d["px"]) if otype != MARKET else (0, 0)
        if otype == MARKET and self.risk is not None and "protect" in d:  # docs/balances.md 6
            pm, pe = decimal_value(d["protect"])
            fl |= PROTECT
        qm, qe = decimal_value(d["qty"])
        return (NEW, side, otype, tif, stp, 0, pe, qe, fl, 0, s, oid, self.accounts.id(name), pm, qm, ts, line)

    def _amend(self, d: dict, line: int, ts: int, fl: int):
        oid = d.get("oid")
        if not _is_int(oid, 0, MAX_OID) or ("px" not in d and "qty" not in d):
            return _malformed(line)
        pm = pe = qm = qe = 0
        if "px" in d:
            fl |= HAS_PX
            pm, pe = decimal_value(d["px"])
        if "qty" in d:
            fl |= HAS_QTY
            qm, qe = decimal_value(d["qty"])
        return (AMEND, 0, 0, 0, 0, 0, pe, qe, fl, 0, -1, oid, 0, pm, qm, ts, line)

    def _ref(self, d: dict, line: int, ts: int, fl: int):
        sym = d.get("sym")
        if type(sym) is not str or "px" not in d:
            return _malformed(line)
        s = self.symbols.get(sym)
        if s is None:
            return _reject(R_UNKNOWN_SYMBOL, 0, ts, fl, with_oid=False)
        ins = self.instruments[s]
        if ins.oracle is not None:
            return _reject(R_ORACLE_ONLY, 0, ts, fl, with_oid=False)
        mant, exp = decimal_value(d["px"])
        ref = Fraction(mant) * Fraction(10) ** exp
        if mant == 0 or ref / Fraction(ins.tick_size) > MAX_UNITS:
            return _reject(R_BAD_PRICE, 0, ts, fl, with_oid=False)
        ticks = ins.reference_round(ref)
        if ins.band_pct is None:
            return (REF, 0, 0, 0, 0, 0, 0, 0, fl, 0, s, ticks, 0, 0, 0, ts, line)
        lo, hi = ins.band_edges(ref)
        return (REF, 0, 0, 0, 0, 0, 0, 0, fl | BAND_ON, 0, s, ticks, 0, lo, hi, ts, line)


def _malformed(line: int) -> tuple:
    return (REJECT, 0, 0, 0, 0, R_MALFORMED, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, line)


def _reject(reason: int, oid: int, ts: int, fl: int, with_oid: bool = True) -> tuple:
    return (REJECT, 0, 0, 0, 0, reason, 0, 0, fl | (HAS_OID if with_oid else 0), 0, -1, oid, 0, 0, 0, ts, 0)


def split_lines(data: bytes) -> list[bytes]:
    """Lines of a whole text (LF-terminated; a last line without LF still counts), BOM removed."""
    if data.startswith(BOM):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines
