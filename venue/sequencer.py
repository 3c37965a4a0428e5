"""Sequencer stage: packs commands straight into one command array per engine batch.

Beside each command record it packs a META_DTYPE record: what the fan-out stage needs to report
on the command's events (session slot, request id, client order id, ...).

Each command's `ts` is a strictly increasing nanosecond timestamp: t0 + its index in the batch,
where t0, taken when the batch's first command arrives, is >= the wall clock and > every earlier
timestamp. The engine copies `ts` into every event a command causes, so `event.ts - t0` finds the
command (and its session) behind each event. The cancels one client command expands into (a mass
cancel) share its first cancel's ts: one ts per client command, and one meta record for them all.
"""
from __future__ import annotations

import struct
import time

import numpy as np
from kabuto.engine.codes import Flag, Op
from kabuto.engine.records import COMMAND_DTYPE
from kabuto.venue.accounts import ACCOUNT, CL, OID, SIDE, SYM
from kabuto.venue.commands import (
    C_AMEND,
    C_DEPOSIT,
    C_FEES,
    C_HALT,
    C_NEW,
    C_ORACLE,
    C_REF,
    C_TICK,
    C_TIER,
    C_WITHDRAW,
)
from kabuto.venue.orderrows import CL_INT, CL_NONE, CL_TEXT_KIND

HAS_TS = int(Flag.HAS_TS)
NEW, CANCEL, AMEND, REJECT, REF = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND), int(Op.REJECT), int(Op.REF)
TICK, ORACLE = int(Op.TICK), int(Op.ORACLE)
DEPOSIT, WITHDRAW, FEES, TIER = int(Op.DEPOSIT), int(Op.WITHDRAW), int(Op.FEES), int(Op.TIER)
_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}


def row_struct(dtype: np.dtype) -> struct.Struct:
    """A struct packing one record of a plain signed-integer numpy dtype, padding included."""
    fmt, pos = "<", 0
    for name in dtype.names:
        dt, off = dtype.fields[name][:2]
        assert dt.kind == "i", name
        fmt += "x" * (off - pos) + _CODES[dt.itemsize]
        pos = off + dt.itemsize
    fmt += "x" * (dtype.itemsize - pos)
    s = struct.Struct(fmt)
    assert s.size == dtype.itemsize
    return s


_ROW = row_struct(COMMAND_DTYPE)

CL_TEXT = 36  # bytes of a client order id text (protocol.MAX_CL_OID_LEN)
# per command, for the fan-out stage; session -1 / req -1 / sym -1 mean none
META_DTYPE = np.dtype([("sess", np.int64), ("req", np.int64), ("ck", np.int64), ("clkind", np.int64),
                       ("clint", np.int64), ("cllen", np.int64), ("sym", np.int64), ("side", np.int64),
                       ("count", np.int64), ("cl", np.uint8, (CL_TEXT,)), ("pad", np.uint8, (4,))])
_META = struct.Struct(f"<9q{CL_TEXT}s4x")
assert _META.size == META_DTYPE.itemsize


class MassCancel:
    """A mass cancel request in a batch: how many orders it canceled, for its acknowledgement."""

    __slots__ = ("session", "req", "first", "last")

    def __init__(self, session, req: int):
        self.session = session
        self.req = req
        self.first = self.last = 0  # its cancel commands' indexes in the batch: first..last-1

    def canceled(self, cm: np.ndarray) -> int:
        """How many of its cancels the fan-out counted (read after the batch)."""
        return int(cm["count"][self.first:self.last].sum())


class ReferenceSet:
    """An operator's reference price, acknowledged after the batch that moved the band: decimal texts."""

    __slots__ = ("session", "req", "symbol", "price", "low", "high")

    def __init__(self, session, req: int, symbol: str, price: str, low: str | None, high: str | None):
        self.session = session
        self.req = req
        self.symbol = symbol
        self.price = price
        self.low, self.high = low, high  # the band's edges, None without a band


class HaltSet:
    """An operator's halt, resume, halt_all or resume_all, acknowledged after its batch (a rejection,
    `halted` or `not_halted`, is a report before the acknowledgement)."""

    __slots__ = ("session", "req", "kind", "symbol")

    def __init__(self, session, req: int, kind: str, symbol: str | None):
        self.session = session
        self.req = req
        self.kind = kind  # the command's name: halt, resume, halt_all, resume_all
        self.symbol = symbol


class OracleSet:
    """An oracle update, acknowledged after its batch (a rejection, `bad_oracle_ts`, is a report before the
    acknowledgement)."""

    __slots__ = ("session", "req", "symbol")

    def __init__(self, session, req: int, symbol: str):
        self.session = session
        self.req = req
        self.symbol = symbol


class BalanceSet:
    """A deposit, withdraw, fees or tier request, acknowledged after its batch (a rejection is a report before
    the acknowledgement). index: its command's place in the batch, whose events give a withdrawal its id."""

    __slots__ = ("session", "req", "kind", "index", "fields")

    def __init__(self, session, req: int, kind: str, index: int, fields: tuple):
        self.session = session
        self.req = req
        self.kind = kind  # the request's name: deposit, withdraw, fees, tier
        self.index = index
        self.fields = fields  # what the answer carries (deposit: account, deposit id; withdraw: account; fees: tier;
        # tier: account, tier)


class Batch:
    """One engine batch: the command records, their META_DTYPE records and, per command,
    (session, req, kind, order record, client order id)."""

    __slots__ = ("cmds", "cm", "meta", "t0", "acks")

    def __init__(self, cmds: np.ndarray, cm: np.ndarray, meta: list, t0: int, acks: list):
        self.cmds = cmds
        self.cm = cm
        self.meta = meta
        self.t0 = t0
        self.acks = acks


class Sequencer:
    """Collects commands from every session, in arrival order, into the next engine batch."""

    def __init__(self, capacity: int = 4096):
        self._buf = bytearray(capacity * COMMAND_DTYPE.itemsize)
        self._mbuf = bytearray(capacity * META_DTYPE.itemsize)
        self._views()
        self._cap = capacity
        self.count = 0
        self._meta: list = []
        self._acks: list = []
        self._last_ts = 0
        self._t0 = 0
        self._ts = 0  # the ts add() wrote last

    def new_order(self, sess, req: int, rec: list, *, otype: int, tif: int, stp: int, px: int, pexp: int,
                  qty: int, qexp: int, flags: int = 0) -> None:
        """A client's new order; rec is its order record (venue/accounts.py: engine id, account, ...).
        flags: Flag.PROTECT when px/pexp carry a market order's protection price."""
        self._add(NEW, rec[SIDE], otype, tif, stp, 0, pexp, qexp, flags, rec[SYM], rec[OID], rec[ACCOUNT].id, px,
                  qty, sess, req, C_NEW, rec, rec[CL])

    def deposit(self, sess, req: int | None, *, dep: int, acct: int, asset: int, amount: int, reason: int = 0) -> int:
        """A deposit of amount units of asset id to account id acct, deposit id dep (docs/balances.md 4): an
        operator's, or the vault's (no session); reason: a fault found before the engine (the engine consumes
        the id and rejects it so). Returns its command's index in the batch."""
        self._add(DEPOSIT, 0, 0, 0, 0, reason, 0, 0, 0, asset, dep, acct, 0, amount, sess, req, C_DEPOSIT, None,
                  None)
        return self.count - 1

    def withdraw(self, sess, req: int, *, acct: int, asset: int, amount: int) -> int:
        """A withdrawal of amount units of asset id from account id acct; returns its command's index."""
        self._add(WITHDRAW, 0, 0, 0, 0, 0, 0, 0, 0, asset, 0, acct, 0, amount, sess, req, C_WITHDRAW, None, None)
        return self.count - 1

    def fees(self, sess, req: int, *, tier: int, maker: int, taker: int) -> int:
        """An operator sets a fee tier's rates (millionths); returns its command's index."""
        self._add(FEES, 0, 0, 0, 0, 0, 0, 0, 0, -1, tier, 0, maker, taker, sess, req, C_FEES, None, None)
        return self.count - 1

    def tier(self, sess, req: int, *, acct: int, tier: int) -> int:
        """An operator puts account id acct in a fee tier; returns its command's index."""
        self._add(TIER, 0, 0, 0, 0, 0, 0, 0, 0, -1, tier, acct, 0, 0, sess, req, C_TIER, None, None)
        return self.count - 1

    def cancel(self, sess, req: int | None, kind: int, rec: list, reason: int = 0, same_ts: bool = False) -> None:
        """A cancel of the live order rec: a client's (kind C_CANCEL), one of a mass cancel (C_MASS) or
        a cancel-on-disconnect (C_COD, no session); reason is what the venue's own cancels carry.

        same_ts: one more engine command of the same client command (a mass cancel's cancels): it
        takes the previous command's ts, so its events are reported with that ts and meta record."""
        self._add(CANCEL, rec[SIDE], 0, 0, 0, reason, 0, 0, 0, rec[SYM], rec[OID], rec[ACCOUNT].id, 0, 0,
                  sess, req, kind, rec, rec[CL], same_ts)

    def amend(self, sess, req: int, rec: list, *, px: int, pexp: int, qty: int, qexp: int, flags: int) -> None:
        """A client's amend of the live order rec (flags say which of price and quantity it carries)."""
        self._add(AMEND, rec[SIDE], 0, 0, 0, 0, pexp, qexp, flags, rec[SYM], rec[OID], rec[ACCOUNT].id, px, qty,
                  sess, req, C_AMEND, rec, rec[CL])

    def reject(self, sess, req: int | None, kind: int, rec: list | None, cl, *, sym: int, side: int,
               reason: int) -> None:
        """A client command the venue rejects itself (rec: a new order's record, else None)."""
        self._add(REJECT, side, 0, 0, 0, reason, 0, 0, 0, sym, 0, sess.account.id, 0, 0, sess, req, kind, rec, cl)

    def reference(self, sess, req: int, *, sym: int, low: int, high: int, flags: int, ticks: int = 0) -> None:
        """An operator's reference price: the band's edges in ticks (flags BAND_ON when there is a band)
        and the price itself in ticks, rounded half up."""
        self._add(REF, 0, 0, 0, 0, 0, 0, 0, flags, sym, ticks, sess.account.id, low, high, sess, req, C_REF, None,
                  None)

    def halt(self, sess, req: int, *, op: int, sym: int) -> None:
        """An operator's halt, resume, halt_all or resume_all (op: the engine's Op; sym -1 for the last two)."""
        self._add(op, 0, 0, 0, 0, 0, 0, 0, 0, sym, 0, sess.account.id, 0, 0, sess, req, C_HALT, None, None)

    def oracle(self, sess, req: int, fields: tuple) -> None:
        """An oracle update: the fields of engine/oracle.py's oracle_fields (docs/market-integrity.md 6)."""
        sym, market, ots, reg_open, reg_close, ref, mant, exp = fields
        self._add(ORACLE, market, 0, 0, 0, 0, 0, exp, 0, sym, ots, reg_open, ref, mant, sess, req, C_ORACLE, None, None,
                  line=reg_close)

    def tick(self) -> None:
        """A clock tick (no session): a timer is due and no other command would fire it."""
        self._add(TICK, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, None, None, C_TICK, None, None)

    def resume_after(self, ts: int) -> None:
        """Timestamps continue above ts (a recovered journal's last): strictly increasing across restarts."""
        self._last_ts = max(self._last_ts, ts)

    def _add(self, op: int, side: int, otype: int, tif: int, stp: int, reason: int, pexp: int, qexp: int,
             flags: int, sym: int, oid: int, acct: int, px: int, qty: int, sess, req: int | None, ck: int,
             rec: list | None, cl, same_ts: bool = False, line: int = 0) -> None:
        # one command record (COMMAND_DTYPE field order) and its meta record
        n = self.count
        if n == 0:
            self._t0 = max(time.time_ns(), self._last_ts + 1)
            same_ts = False
        elif n == self._cap:
            self._grow()
        ts = self._ts if same_ts else self._t0 + n
        self._ts = ts
        _ROW.pack_into(self._buf, n * _ROW.size, op, side, otype, tif, stp, reason, pexp, qexp,
                       flags | HAS_TS, 0, sym, oid, acct, px, qty, ts, line)
        if cl is None:
            k, v, text = CL_NONE, 0, b""
        elif type(cl) is int:
            k, v, text = CL_INT, cl, b""
        else:
            k, v, text = CL_TEXT_KIND, 0, cl.encode()
        if rec is None:
            rs, rd = -1, 0
        else:
            rs, rd = rec[SYM], rec[SIDE]
        _META.pack_into(self._mbuf, n * _META.size, sess.slot if sess is not None else -1,
                        -1 if req is None else req, ck, k, v, len(text), rs, rd, 0, text)
        self._meta.append((sess, req, ck, rec, cl))
        self.count = n + 1

    def place(self, k: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        """Room for k more commands written in place: (first index, t0, command records, meta records).

        The caller fills records first..first+k-1 (timestamps t0 + index), then calls placed()."""
        n = self.count
        if n == 0:
            self._t0 = max(time.time_ns(), self._last_ts + 1)
        while n + k > self._cap:
            self._grow()
        return n, self._t0, self._cmds, self._cm

    def placed(self, metas: list) -> None:
        """The commands written after place(), with their (session, req, kind, order, cl) tuples."""
        self._meta.extend(metas)
        self.count += len(metas)

    def ack(self, mass: MassCancel | ReferenceSet | HaltSet | OracleSet | BalanceSet) -> None:
        """Answer a request after this batch (a mass cancel's count, even when it canceled nothing)."""
        self._acks.append(mass)

    def take(self) -> Batch:
        """The collected batch (its array is valid until the next add); the sequencer starts empty."""
        n = self.count
        if n:
            self._last_ts = self._t0 + n - 1
        batch = Batch(self._cmds[:n], self._cm[:n], self._meta, self._t0, self._acks)
        self.count = 0
        self._meta = []
        self._acks = []
        return batch

    @property
    def pending(self) -> bool:
        """True when there is anything to run or acknowledge."""
        return bool(self.count or self._acks)

    def _grow(self) -> None:
        buf = bytearray(len(self._buf) * 2)
        buf[:len(self._buf)] = self._buf
        self._buf = buf  # the old buffer stays alive as long as a view of it does
        buf = bytearray(len(self._mbuf) * 2)
        buf[:len(self._mbuf)] = self._mbuf
        self._mbuf = buf
        self._cap *= 2
        self._views()

    def _views(self) -> None:
        self._cmds = np.frombuffer(self._buf, COMMAND_DTYPE)
        self._cm = np.frombuffer(self._mbuf, META_DTYPE)
