"""Decode stage: one msgpack frame -> a request, with static command faults as reject reasons.

Pure functions of the bytes and the instrument list: no session state, so it can be fuzzed alone.
A frame that cannot be read as a request raises ProtocolError (answered with an `error` message);
a readable order command with a bad field becomes a command tuple carrying its reject reason.
"""
from __future__ import annotations

from collections.abc import Sequence

import msgpack
from kabuto.engine.assets import MAX_TIER, Risk
from kabuto.engine.codes import Flag, OrdType, Reason, Stp, Tif
from kabuto.engine.instruments import Instrument, symbol_index
from kabuto.gateway import protocol as P
from kabuto.gateway.errors import ProtocolError
from kabuto.replay.orderlog import amount_units, rate_value
from kabuto.venue.commands import (
    C_AMEND,
    C_CANCEL,
    C_MASS,
    C_NEW,
    DEFAULT_STP,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    MAX_MANT,
    POST,
    Command,
)

COMMAND_KINDS = {P.NEW: C_NEW, P.CANCEL: C_CANCEL, P.AMEND: C_AMEND, P.MASS_CANCEL: C_MASS}
SESSION_KINDS = {P.LOGON, P.LOGOUT, P.HEARTBEAT, P.ORDERS}
COMMANDS = "commands"
LOGON_OPTIONS = {"account", "cod", "version", "via"}  # the decoded kind of a single command or a batch

SIDES = {"buy": 0, "sell": 1}
TYPES = {"limit": int(OrdType.LIMIT), "market": int(OrdType.MARKET)}
TIFS = {t.name: int(t) for t in Tif}
STPS = {s.name.lower(): int(s) for s in Stp}
HAS_PX, HAS_QTY, PROTECT = int(Flag.HAS_PX), int(Flag.HAS_QTY), int(Flag.PROTECT)
R_MALFORMED, R_UNKNOWN_SYMBOL, R_BAD_TIF, R_BAD_STP = (int(Reason.MALFORMED), int(Reason.UNKNOWN_SYMBOL),
                                                       int(Reason.BAD_TIF), int(Reason.BAD_STP))
MAX_DECIMAL_TEXT = 40
CACHE_SIZE = 1 << 16


def malformed(req: int | None = None, cl: int | str | None = None) -> Command:
    """The command tuple of an unreadable command (its request and client order ids when readable)."""
    return (-1, req, cl, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, R_MALFORMED)


def _cl_at(c: list) -> int | str | None:
    """The client order id of a new, cancel or amend array (position 2), None when not readable."""
    return client_oid(c[2]) if len(c) > 2 else None


def _uint(v) -> int | None:
    return v if type(v) is int and 0 <= v <= P.MAX_U63 else None


def client_oid(v) -> int | str | None:
    """A valid client order id (integer 0..2**63-1 or 1..36 printable ASCII characters), else None."""
    t = type(v)
    if t is int:
        return v if 0 <= v <= P.MAX_U63 else None
    if t is str and 0 < len(v) <= P.MAX_CL_OID_LEN and v.isascii() and v.isprintable():
        return v
    return None


def _parse_text(v: str) -> tuple[int, int]:
    if len(v) > MAX_DECIMAL_TEXT:
        return 0, 0
    whole, dot, frac = v.partition(".")
    if not (whole.isascii() and whole.isdigit()):
        return 0, 0
    if dot and not (frac.isascii() and frac.isdigit()):
        return 0, 0
    frac = frac.rstrip("0")
    mant = int(whole + frac)
    if not 0 < mant < MAX_MANT:
        return 0, 0
    return mant, -len(frac)


class DecimalCache:
    """Exact (mantissa, exponent) of wire prices and quantities; market makers repeat them, so cache."""

    def __init__(self, size: int = CACHE_SIZE):
        self._cache: dict[str, tuple[int, int]] = {}
        self._size = size

    def parts(self, v) -> tuple[int, int]:
        """(mantissa, exponent) of a decimal string or integer; mantissa 0 when not a valid positive value."""
        t = type(v)
        if t is str:
            r = self._cache.get(v)
            if r is None:
                r = _parse_text(v)
                if len(self._cache) >= self._size:
                    self._cache.clear()
                self._cache[v] = r
            return r
        if t is int:
            return (v, 0) if 0 < v < MAX_MANT else (0, 0)
        return 0, 0  # floats, None and everything else: never read through a binary float


def logon_options(opts: dict, req: int) -> tuple[str | None, bool, str]:
    """(account name or None, cod, via) of a logon's options; the name itself is the session stage's to check."""
    unknown = set(opts) - LOGON_OPTIONS
    if unknown:
        raise ProtocolError(R_MALFORMED, f"unknown logon options {sorted(map(str, unknown))}", req)
    cod = opts.get("cod", False)
    if type(cod) is not bool or opts.get("version", P.VERSION) != P.VERSION:
        raise ProtocolError(R_MALFORMED, f"cod must be a boolean and version {P.VERSION}", req)
    via = opts.get("via", "zmq")
    if via not in P.VIAS:
        raise ProtocolError(R_MALFORMED, f"via must be one of {', '.join(P.VIAS)}", req)
    return opts.get("account"), cod, via


class Decoder:
    """Turns client frames into requests for one set of instruments."""

    def __init__(self, instruments: Sequence[Instrument], max_batch: int = 1000, risk: Risk | None = None):
        self.symbols = symbol_index(instruments)
        self.max_batch = max_batch
        self.decimals = DecimalCache()
        # balances (docs/balances.md): the five balance messages and `protect` are read with risk on only
        self.risk = risk if risk is not None and risk.enabled else None
        self.assets = self.risk.asset_index() if self.risk else {}
        self.asset_decimals = [a.decimals for a in self.risk.assets] if self.risk else []

    def decode(self, payload: bytes) -> tuple[str, int | None, object]:
        """(kind, req, body) of one frame; raises ProtocolError when it is not a readable request.

        kind is COMMANDS (body: list of command tuples) or a session kind (logon: (account, cod);
        orders: symbol or None; hb/logout: None)."""
        try:
            msg = msgpack.unpackb(payload, raw=False, strict_map_key=False, use_list=True)
        except Exception:  # msgpack raises several unrelated types (ValueError, StackError, ...)
            raise ProtocolError(R_MALFORMED, "not a msgpack message") from None
        if type(msg) is not list or not msg or type(msg[0]) is not str:
            raise ProtocolError(R_MALFORMED, "a request is an array starting with its kind")
        kind = msg[0]
        req = _uint(msg[1]) if len(msg) > 1 else None
        if req is None:
            raise ProtocolError(R_MALFORMED, "the second element must be the request id (0..2**63-1)")
        if kind in COMMAND_KINDS:
            return COMMANDS, req, [self.command(msg)]
        if kind == P.BATCH:
            if len(msg) != 3 or type(msg[2]) is not list:
                raise ProtocolError(R_MALFORMED, "batch is [\"batch\", req, [command, ...]]", req)
            items = msg[2]
            if not items or len(items) > self.max_batch:
                raise ProtocolError(R_MALFORMED, f"a batch holds 1 to {self.max_batch} commands", req)
            new, command, new_kind, top = self._new, self.command, P.NEW, P.MAX_U63
            return COMMANDS, req, [new(c, c[1]) if type(c) is list and len(c) > 1 and c[0] == new_kind
                                   and type(c[1]) is int and 0 <= c[1] <= top else command(c) for c in items]
        if kind == P.LOGON:
            opts = msg[2] if len(msg) == 3 else {} if len(msg) == 2 else None
            if type(opts) is not dict:
                raise ProtocolError(R_MALFORMED, "logon is [\"logon\", req, {options}]", req)
            return kind, req, logon_options(opts, req)
        if kind == P.ORDERS:
            sym = msg[2] if len(msg) == 3 else None
            if len(msg) > 3 or (sym is not None and type(sym) is not str):
                raise ProtocolError(R_MALFORMED, "orders is [\"orders\", req, symbol or nil]", req)
            return kind, req, sym
        if kind == P.REF:
            if len(msg) != 4 or type(msg[2]) is not str:
                raise ProtocolError(R_MALFORMED, "ref is [\"ref\", req, symbol, price]", req)
            return kind, req, (msg[2], msg[3])
        if kind in P.HALT_KINDS:
            one = kind in (P.HALT, P.RESUME)
            if len(msg) != (3 if one else 2) or (one and type(msg[2]) is not str):
                raise ProtocolError(R_MALFORMED, f"{kind} is [\"{kind}\", req{', symbol' if one else ''}]", req)
            return kind, req, msg[2] if one else None
        if kind == P.ORACLE:
            if len(msg) != 3 or type(msg[2]) is not dict:
                raise ProtocolError(R_MALFORMED, "oracle is [\"oracle\", req, {sym, px, mult, market, ots, ...}]", req)
            return kind, req, msg[2]
        if kind in P.BALANCE_KINDS:
            return kind, req, self._balance_message(kind, req, msg)
        if kind in SESSION_KINDS:
            if len(msg) != 2:
                raise ProtocolError(R_MALFORMED, f"{kind} is [\"{kind}\", req]", req)
            return kind, req, None
        raise ProtocolError(R_MALFORMED, "unknown message kind", req)

    def _asset_amount(self, asset, amount) -> tuple[int, int]:
        """(asset id or -1 when the venue has no such asset, amount in its units or 0 when not valid)."""
        a = self.assets.get(asset, -1)
        return a, amount_units(amount, self.asset_decimals[a]) if a >= 0 else 0

    def _balance_message(self, kind: str, req: int, msg: list):
        """The body of a deposit, withdraw, fees, tier or balances request (docs/protocol.md, Balances);
        only the shape is checked here: authorization first, then the values, is the session stage's order."""
        if self.risk is None:
            raise ProtocolError(R_MALFORMED, f"{kind}: this venue runs with risk off (serve --risk)", req)
        n = len(msg)
        if kind == P.DEPOSIT:  # ["deposit", req, acct, asset, amount]
            if n != 5 or type(msg[2]) is not str or type(msg[3]) is not str:
                raise ProtocolError(R_MALFORMED, "deposit is [\"deposit\", req, account, asset, amount]", req)
            return (msg[2], *self._asset_amount(msg[3], msg[4]))
        if kind == P.WITHDRAW:  # ["withdraw", req, asset, amount, account or nil]
            acct = msg[4] if n == 5 else None
            if n not in (4, 5) or type(msg[2]) is not str or (acct is not None and type(acct) is not str):
                raise ProtocolError(R_MALFORMED, "withdraw is [\"withdraw\", req, asset, amount, account or nil]",
                                    req)
            return (acct, *self._asset_amount(msg[2], msg[3]))
        if kind == P.FEES:  # ["fees", req, tier, maker_bps, taker_bps]
            if n != 5 or type(msg[2]) is not int or not 0 <= msg[2] <= MAX_TIER:
                raise ProtocolError(R_MALFORMED, "fees is [\"fees\", req, tier 0..255, maker_bps, taker_bps]", req)
            return msg[2], rate_value(msg[3]), rate_value(msg[4])
        if kind == P.TIER:  # ["tier", req, acct, tier]
            if n != 4 or type(msg[2]) is not str or type(msg[3]) is not int or not 0 <= msg[3] <= MAX_TIER:
                raise ProtocolError(R_MALFORMED, "tier is [\"tier\", req, account, tier 0..255]", req)
            return msg[2], msg[3]
        # ["balances", req, account or nil]
        acct = msg[2] if n == 3 else None
        if n not in (2, 3) or (acct is not None and type(acct) is not str):
            raise ProtocolError(R_MALFORMED, "balances is [\"balances\", req, account or nil]", req)
        return acct

    def command(self, c) -> Command:
        """One order command tuple from a wire array (kind, req, ...), its static fault as reason."""
        if type(c) is not list or len(c) < 2:
            return malformed()
        req = _uint(c[1])
        kind = COMMAND_KINDS.get(c[0]) if type(c[0]) is str else None
        if req is None or kind is None:
            return malformed(req, _cl_at(c) if kind in (C_NEW, C_CANCEL, C_AMEND) else None)
        if kind == C_NEW:
            return self._new(c, req)
        if kind == C_CANCEL:
            cl = _cl_at(c)
            if cl is None or len(c) != 3:
                return malformed(req, cl)
            return (C_CANCEL, req, cl, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        if kind == C_AMEND:
            return self._amend(c, req)
        return self._mass(c, req)

    def _new(self, c: list, req: int) -> Command:
        # ["new", req, cl_oid, sym, side, type, px, qty, tif?, stp?, protect?]
        n = len(c)
        if not 8 <= n <= 11:
            return malformed(req, _cl_at(c))
        cl = c[2]
        if type(cl) is not int or not 0 <= cl <= P.MAX_U63:
            cl = client_oid(cl)
        sym, side, otype = c[3], c[4], c[5]
        side = SIDES.get(side) if type(side) is str else None
        otype = TYPES.get(otype) if type(otype) is str else None
        if cl is None or type(sym) is not str or side is None or otype is None:
            return malformed(req, cl)
        s = self.symbols.get(sym, -1)
        reason = 0 if s >= 0 else R_UNKNOWN_SYMBOL
        tif = IOC if otype == MARKET else GTC
        stp = DEFAULT_STP
        t = c[8] if n > 8 else None
        v = c[9] if n > 9 else None
        if t is not None:
            tif = TIFS.get(t, -1) if type(t) is str else -1
            if tif < 0 or (otype == MARKET and tif == POST):
                reason = reason or R_BAD_TIF
            elif otype == MARKET and tif != FOK:
                tif = IOC
        if v is not None:
            stp = STPS.get(v, -1) if type(v) is str else -1
            if stp < 0:
                reason = reason or R_BAD_STP
        if reason:
            return (C_NEW, req, cl, s, side, otype, 0, 0, 0, 0, 0, 0, 0, reason)
        # the decimal cache read inline: a method call per field costs as much as the lookup
        dec = self.decimals
        cache = dec._cache
        px, qty = c[6], c[7]
        if otype == LIMIT:
            r = cache.get(px) if type(px) is str else None
            pm, pe = r if r is not None else dec.parts(px)
        else:
            pm = pe = 0
        r = cache.get(qty) if type(qty) is str else None
        qm, qe = r if r is not None else dec.parts(qty)
        flags = 0
        if n > 10 and otype == MARKET and c[10] is not None and self.risk is not None:
            # a market order's protection price (docs/balances.md 6) travels as its price; the kernel checks it
            flags = PROTECT
            pm, pe = dec.parts(c[10])
        return (C_NEW, req, cl, s, side, otype, tif, stp, pm, pe, qm, qe, flags, 0)

    def _amend(self, c: list, req: int) -> Command:
        # ["amend", req, cl_oid, px or nil, qty or nil]
        cl = _cl_at(c)
        if len(c) != 5:
            return malformed(req, cl)
        px, qty = c[3], c[4]
        if cl is None or (px is None and qty is None):
            return malformed(req, cl)
        flags = pm = pe = qm = qe = 0
        if px is not None:
            flags |= HAS_PX
            pm, pe = self.decimals.parts(px)
        if qty is not None:
            flags |= HAS_QTY
            qm, qe = self.decimals.parts(qty)
        return (C_AMEND, req, cl, -1, 0, 0, 0, 0, pm, pe, qm, qe, flags, 0)

    def _mass(self, c: list, req: int) -> Command:
        # ["mass_cancel", req, sym or nil, side or nil]
        n = len(c)
        if n > 4:
            return malformed(req)
        sym = c[2] if n > 2 else None
        side = c[3] if n > 3 else None
        s = -1
        if sym is not None:
            if type(sym) is not str:
                return malformed(req)
            s = self.symbols.get(sym, -2)
        sd = -1
        if side is not None:
            sd = SIDES.get(side, -1) if type(side) is str else -1
            if sd < 0:
                return malformed(req)
        if s == -2:
            return (C_MASS, req, None, -1, sd, 0, 0, 0, 0, 0, 0, 0, 0, R_UNKNOWN_SYMBOL)
        return (C_MASS, req, None, s, sd, 0, 0, 0, 0, 0, 0, 0, 0, 0)
