"""Fan-out stage: one numba pass turns a batch's engine events into execution reports and market data, as msgpack.

The pass walks the events once. It keeps the live order state the reports need in the order table
(venue/ordertable.py), writes every report once and copies it into one `reports` frame per
session of its account (gateway/reports.py), and notes trades, level changes and L3 ops per symbol
for the market data written at the end (gateway/mdwrite.py). Python is left with one send per frame
(gateway/frames.py) and a short todo list of order records to file or forget (accepted, finished,
rejected) in the account tables.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from kabuto.engine.assets import Risk
from kabuto.engine.codes import Ev, Flag, Op, Reason
from kabuto.engine.instruments import Instrument
from kabuto.engine.jit import njit
from kabuto.engine.jitcall import DirectCall
from kabuto.gateway.frames import F_COLS
from kabuto.gateway.mdwrite import (
    L3_ADD,
    L3_AMEND,
    L3_CANCEL,
    L3_DELETE,
    L3_FILL,
    MdScratch,
    add_op,
    add_trade,
    change_level,
    clear_market_data,
    new_md_scratch,
    write_market_data,
)
from kabuto.gateway.reports import (
    ReportScratch,
    Routes,
    add_balance_report,
    add_report,
    clear_reports,
    new_report_scratch,
    new_routes,
    write_report_frames,
)
from kabuto.gateway.wiretables import (
    S_ACCEPTED,
    S_AMENDED,
    S_BALANCE,
    S_CANCELED,
    S_DEPOSITED,
    S_FILL,
    S_MAKER,
    S_REJECTED,
    S_TAKER,
    S_WITHDRAWN,
    WireTables,
    longest_name,
    wire_tables,
)
from kabuto.venue.commands import C_MASS, C_NEW
from kabuto.venue.ordertable import (
    O_ACCOUNT,
    O_BATCH,
    O_CL_INT,
    O_CL_KIND,
    O_CL_LEN,
    O_HAS_PX,
    O_OID,
    O_OPEN,
    O_PX,
    O_SIDE,
    O_SYMBOL,
    O_TODO,
    TODO_ACCEPTED,
    TODO_FINISHED,
    TODO_INDEX_MASK,
    TODO_RELEASE,
    TODO_SLOT_SHIFT,
    OrderTable,
    add_order,
    find_order,
    forget_order,
    new_order_table,
    px_open,
    restore_order,
    with_room,
)

ACCEPTED, FILL, CANCELED, AMENDED, REJECTED = (int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED), int(Ev.AMENDED),
                                              int(Ev.REJECTED))
HAS_PX, TIMER, FEES = int(Flag.HAS_PX), int(Flag.TIMER), int(Flag.FEES)
BALANCE, DEPOSITED, WITHDRAWN = int(Ev.BALANCE), int(Ev.DEPOSITED), int(Ev.WITHDRAWN)
STATUS, INDICATIVE, ORACLE_EV, BAND_EV = int(Ev.STATUS), int(Ev.INDICATIVE), int(Ev.ORACLE), int(Ev.BAND)
OP_CANCEL = int(Op.CANCEL)
R_MASS, R_DISCONNECT = int(Reason.MASS_CANCEL), int(Reason.DISCONNECT)


# counts: C_BATCH numbers the batches (scratch rows marked with another number are stale), C_FRAMES
# and C_TODO count what the last batch left, C_L3 switches the L3 feed on
C_BATCH, C_FRAMES, C_TODO, C_L3, C_STATUS = range(5)  # C_STATUS: status, indicative, oracle and band events

REPORT_BASE = 240  # bytes of one encoded report at most, besides its symbol and reason (or asset) names
MD_PER_EVENT = 400  # bytes of market data (L2 and L3) one event can add, at most


class Tables(NamedTuple):
    """Everything the pass reads and keeps between batches (numba takes the tuple whole)."""
    orders: OrderTable
    routes: Routes
    wire: WireTables
    md_seq: np.ndarray     # per symbol: the sequence number of its last md message
    l3_seq: np.ndarray     # per symbol: the sequence number of its last l3 message
    counts: np.ndarray     # C_*


class Scratch(NamedTuple):
    """Per-batch work space, sized by the caller for the batch (see Fanout._fit)."""
    reports: ReportScratch
    md: MdScratch
    todo: np.ndarray       # todo entries (TODO_*)
    frames: np.ndarray     # (n, F_COLS), gateway/frames.py
    out: np.ndarray        # uint8 output buffer


# ---------------------------------------------------------------------- the pass

@njit(cache=True, _nrt=False)
def _todo(tables, scratch, code, cmd, slot):
    k = tables.counts[C_TODO]
    scratch.todo[k] = code | (cmd << 2) | (slot << TODO_SLOT_SHIFT)
    tables.counts[C_TODO] = k + 1
    return k


@njit(cache=True, _nrt=False)
def _order_report(tables, scratch, p, slot, origin, ev, seq, ts, req, oid, sym, side, px, qty, open_, reason, role,
                  fee, with_fee):
    """add_report for the live order in slot: its account and client order id from the order table."""
    orders = tables.orders
    row = orders.rows[slot]
    return add_report(tables.routes, tables.wire, scratch.reports, scratch.out, p, tables.counts[C_BATCH],
                      row[O_ACCOUNT], origin, ev, seq, ts, req, row[O_CL_KIND], row[O_CL_INT], row[O_CL_LEN],
                      orders.cl_text[slot], oid, sym, side, px, qty, open_, reason, role, fee, with_fee)


@njit(cache=True, _nrt=False)
def _balance_report(tables, scratch, p, ev, seq, origin, req):
    """A balance, deposited or withdrawn event (risk on): a report to every session of the account it names."""
    kind = ev.kind
    if kind == BALANCE:
        name, amount, total, held, id_ = S_BALANCE, -1, ev.qty, ev.open, -1
    else:
        name, amount, total, held, id_ = S_DEPOSITED if kind == DEPOSITED else S_WITHDRAWN, ev.qty, -1, -1, ev.oid
    return add_balance_report(tables.routes, tables.wire, scratch.reports, scratch.out, p, tables.counts[C_BATCH],
                              ev.acct, origin, name, seq, ev.ts, req, ev.sym, amount, total, held, id_)


@njit(cache=True, _nrt=False)
def _rested(tables, scratch, slot):
    """The order entered (or re-entered) by the last command rests now if it is still open."""
    row = tables.orders.rows[slot]
    if row[O_OPEN] > 0 and row[O_HAS_PX]:
        batch = tables.counts[C_BATCH]
        change_level(scratch.md, batch, row[O_SYMBOL], row[O_SIDE], row[O_PX], row[O_OPEN])
        if tables.counts[C_L3]:
            add_op(scratch.md, batch, row[O_SYMBOL], L3_ADD, row[O_OID], row[O_SIDE], row[O_PX], row[O_OPEN],
                   row[O_OPEN])


@njit(cache=True, _nrt=False)
def _finished(tables, scratch, oid):
    """Live order oid has finished: free its slot and tell Python."""
    slot = forget_order(tables.orders, oid)
    row = tables.orders.rows[slot]
    if row[O_BATCH] == tables.counts[C_BATCH]:  # accepted in this very batch: Python need not file it at all
        k = row[O_TODO]
        scratch.todo[k] = TODO_RELEASE | (scratch.todo[k] & (TODO_INDEX_MASK << 2))
    else:
        _todo(tables, scratch, TODO_FINISHED, 0, slot)


@njit(cache=True, _nrt=False, inline="always")
def _uncross_fill(tables, scratch, p, ev, seq, batch, l3):
    """A fill of a call's uncross: two resting orders trade; reports to both owners, no request behind it."""
    orders = tables.orders
    rows = orders.rows
    md = scratch.md
    taker = find_order(orders, ev.oid)
    maker = find_order(orders, ev.maker)
    if taker < 0 or maker < 0:
        return p
    sym = ev.sym
    qty = ev.qty
    add_trade(md, batch, sym, seq, ev.px, qty, ev.side, ev.ts)
    with_fee = (ev.flags & FEES) != 0
    for j in range(2):
        slot = taker if j == 0 else maker
        oid = ev.oid if j == 0 else ev.maker
        row = rows[slot]
        left = row[O_OPEN] - qty
        row[O_OPEN] = left
        p = _order_report(tables, scratch, p, slot, -1, S_FILL, seq, ev.ts, -1, oid, sym, row[O_SIDE], ev.px, qty,
                          left, -1, S_TAKER if j == 0 else S_MAKER, ev.line if j == 0 else ev.open, with_fee)
        change_level(md, batch, sym, row[O_SIDE], row[O_PX], -qty)
        if l3:
            add_op(md, batch, sym, L3_FILL, oid, row[O_SIDE], row[O_PX], qty, left)
        if left == 0:
            _finished(tables, scratch, oid)
    return p


@njit(cache=True, _nrt=False)
def _timer_cancel(tables, scratch, p, ev, seq, batch, l3):
    """A resting order a timer canceled (a band moved): reported to its owner, no request behind it."""
    slot = find_order(tables.orders, ev.oid)
    if slot < 0:
        return p
    row = tables.orders.rows[slot]
    sym = row[O_SYMBOL]
    row[O_OPEN] = ev.open
    p = _order_report(tables, scratch, p, slot, -1, S_CANCELED, seq, ev.ts, -1, ev.oid, sym, ev.side, -1, ev.qty,
                      ev.open, ev.reason, -1, 0, False)
    change_level(scratch.md, batch, sym, row[O_SIDE], row[O_PX], -ev.qty)
    if l3:
        add_op(scratch.md, batch, sym, L3_CANCEL, ev.oid, row[O_SIDE], row[O_PX], ev.qty, ev.open)
    if ev.open == 0:
        _finished(tables, scratch, ev.oid)
    return p


@njit(cache=True, _nrt=False)
def fan_out(tables, scratch, events, n_events, cmds, metas, t0, first_seq, now, b_lv, b_n, l_px, l_qty):
    """Reports and market data of one batch into scratch.out; frames in scratch.frames, Python's work in
    scratch.todo. metas holds each command's META_DTYPE record (venue/sequencer.py); b_lv, b_n, l_px and
    l_qty are the engine's books after the batch."""
    counts = tables.counts
    counts[C_BATCH] += 1
    counts[C_FRAMES] = 0
    counts[C_TODO] = 0
    counts[C_STATUS] = 0
    batch = counts[C_BATCH]
    l3 = counts[C_L3]
    clear_reports(scratch.reports)
    md = scratch.md
    clear_market_data(md)
    orders = tables.orders
    rows, cl_text = orders.rows, orders.cl_text
    routes, wire, reports, out = tables.routes, tables.wire, scratch.reports, scratch.out
    p = 0
    seq = first_seq - 1
    pend, pend_cmd = -1, -1  # the slot of an order its command may still rest (L3 "add" when it does)
    for i in range(n_events):
        ev = events[i]
        seq += 1
        kind = ev.kind
        timer = (ev.flags & TIMER) != 0  # a timer's event has no command (docs/market-integrity.md 5)
        cmd = ev.ts - t0  # the command's index in the batch
        if pend >= 0 and (timer or cmd != pend_cmd):
            _rested(tables, scratch, pend)
            pend = -1
        if kind == STATUS or kind == INDICATIVE or kind == ORACLE_EV or kind == BAND_EV:  # gateway/marketdata.py
            counts[C_STATUS] += 1
            continue
        if kind == BALANCE or kind == DEPOSITED or kind == WITHDRAWN:  # risk on (docs/balances.md 14)
            origin, req = -1, -1  # the request id goes to the session behind the command, if it is the account's
            if not timer:
                meta = metas[cmd]
                if meta.sess >= 0 and routes.session_account[meta.sess] == ev.acct:
                    origin, req = meta.sess, meta.req
            p = _balance_report(tables, scratch, p, ev, seq, origin, req)
            continue
        if timer:
            if kind == FILL:  # an uncross: both orders rested
                p = _uncross_fill(tables, scratch, p, ev, seq, batch, l3)
            elif kind == CANCELED:  # a band that moved on the venue's clock (docs/market-integrity.md 7.2)
                p = _timer_cancel(tables, scratch, p, ev, seq, batch, l3)
            continue
        if kind > REJECTED:  # an uncross: its fills are the trades
            continue
        meta = metas[cmd]
        session = meta.sess
        if kind == FILL:
            taker = find_order(orders, ev.oid)
            maker = find_order(orders, ev.maker)
            if taker < 0 or maker < 0:
                continue
            sym = ev.sym
            qty = ev.qty
            taker_open = rows[taker, O_OPEN] - qty
            maker_open = rows[maker, O_OPEN] - qty
            rows[taker, O_OPEN] = taker_open
            rows[maker, O_OPEN] = maker_open
            with_fee = (ev.flags & FEES) != 0  # risk on: each report carries its own account's fee
            p = _order_report(tables, scratch, p, taker, session, S_FILL, seq, ev.ts, meta.req, ev.oid, sym, ev.side,
                              ev.px, qty, taker_open, -1, S_TAKER, ev.line, with_fee)
            p = _order_report(tables, scratch, p, maker, -1, S_FILL, seq, ev.ts, -1, ev.maker, sym, 1 - ev.side,
                              ev.px, qty, maker_open, -1, S_MAKER, ev.open, with_fee)
            add_trade(md, batch, sym, seq, ev.px, qty, ev.side, ev.ts)
            maker_side, maker_px = rows[maker, O_SIDE], rows[maker, O_PX]
            change_level(md, batch, sym, maker_side, maker_px, -qty)  # a maker rests, at its price
            if l3:
                add_op(md, batch, sym, L3_FILL, ev.maker, maker_side, maker_px, qty, maker_open)
            if taker_open == 0:
                _finished(tables, scratch, ev.oid)
            if maker_open == 0:
                _finished(tables, scratch, ev.maker)
        elif kind == ACCEPTED:
            slot = add_order(orders, ev.oid)
            has_px = (ev.flags & HAS_PX) != 0
            row = rows[slot]
            row[O_OID] = ev.oid
            row[O_ACCOUNT] = ev.acct
            row[O_SYMBOL] = ev.sym
            row[O_SIDE] = ev.side
            row[O_PX] = ev.px
            row[O_HAS_PX] = has_px
            row[O_OPEN] = ev.qty
            row[O_CL_KIND] = meta.clkind
            row[O_CL_INT] = meta.clint
            row[O_CL_LEN] = meta.cllen
            for j in range(meta.cllen):
                cl_text[slot, j] = meta.cl[j]
            row[O_BATCH] = batch
            row[O_TODO] = _todo(tables, scratch, TODO_ACCEPTED, cmd, slot)
            p = _order_report(tables, scratch, p, slot, session, S_ACCEPTED, seq, ev.ts, meta.req, ev.oid, ev.sym,
                              ev.side, ev.px if has_px else -1, ev.qty, ev.qty, -1, -1, 0, False)
            if has_px:  # it rests (level and L3 add) if anything is left once its command is done
                pend, pend_cmd = slot, cmd
        elif kind == CANCELED:
            slot = find_order(orders, ev.oid)
            if slot < 0:
                continue
            reason = ev.reason
            if cmds[cmd].op == OP_CANCEL and meta.ck >= C_MASS:  # a cancel the gateway made: its real reason
                if meta.ck == C_MASS:
                    reason = R_MASS
                    meta.count += 1  # every cancel of one mass cancel shares its first command's ts and meta
                else:
                    reason = R_DISCONNECT
            row = rows[slot]
            origin = session if session >= 0 and routes.session_account[session] == row[O_ACCOUNT] else -1
            sym = row[O_SYMBOL]
            row[O_OPEN] = ev.open
            p = _order_report(tables, scratch, p, slot, origin, S_CANCELED, seq, ev.ts,
                              meta.req if origin >= 0 else -1, ev.oid, sym, ev.side, -1, ev.qty, ev.open, reason, -1,
                              0, False)
            if slot != pend and row[O_HAS_PX]:  # not the incoming order (an IOC's rest, say): on the book
                change_level(md, batch, sym, row[O_SIDE], row[O_PX], -ev.qty)
                if l3:
                    add_op(md, batch, sym, L3_CANCEL, ev.oid, row[O_SIDE], row[O_PX], ev.qty, ev.open)
            if ev.open == 0:
                _finished(tables, scratch, ev.oid)
        elif kind == AMENDED:
            slot = find_order(orders, ev.oid)
            if slot < 0:
                continue
            row = rows[slot]
            sym = row[O_SYMBOL]
            was = row[O_OPEN]
            if ev.px == row[O_PX] and ev.qty <= was:  # the engine keeps its priority
                if ev.qty != was:  # (an amend that changes nothing changes no level)
                    change_level(md, batch, sym, row[O_SIDE], ev.px, ev.qty - was)
                    if l3:
                        add_op(md, batch, sym, L3_AMEND, ev.oid, row[O_SIDE], ev.px, ev.qty, ev.qty)
            else:  # it leaves the book, may trade, and rests again at the back
                change_level(md, batch, sym, row[O_SIDE], row[O_PX], -was)
                if l3:
                    add_op(md, batch, sym, L3_DELETE, ev.oid, row[O_SIDE], row[O_PX], 0, 0)
                pend, pend_cmd = slot, cmd
            row[O_PX] = ev.px
            row[O_HAS_PX] = 1
            row[O_OPEN] = ev.qty
            p = _order_report(tables, scratch, p, slot, session, S_AMENDED, seq, ev.ts, meta.req, ev.oid, sym,
                              ev.side, ev.px, ev.qty, ev.qty, -1, -1, 0, False)
        else:  # REJECTED
            if meta.ck == C_NEW:
                _todo(tables, scratch, TODO_RELEASE, cmd, 0)
            if session < 0 or (cmds[cmd].op == OP_CANCEL and meta.ck >= C_MASS):
                continue  # an internal cancel of an order that finished first: nothing to tell
            p = add_report(routes, wire, reports, out, p, batch, routes.session_account[session], session,
                           S_REJECTED, seq, ev.ts, meta.req, meta.clkind, meta.clint, meta.cllen, meta.cl, -1,
                           meta.sym, meta.side, -1, -1, -1, ev.reason, -1)
    if pend >= 0:
        _rested(tables, scratch, pend)
    p, n_frames = write_report_frames(routes, wire, reports, out, p, scratch.frames, 0)
    p, n_frames = write_market_data(md, wire, tables.md_seq, tables.l3_seq, out, p, scratch.frames, n_frames, now,
                                    b_lv, b_n, l_px, l_qty)
    counts[C_FRAMES] = n_frames
    return p


# ---------------------------------------------------------------------- Python side

class Fanout:
    """The fan-out stage's state and its call into the numba pass."""

    def __init__(self, instruments: Sequence[Instrument], slots: int = 1 << 14, l3: bool = False,
                 risk: Risk | None = None):
        n = len(instruments)
        wire = wire_tables(instruments, risk)
        counts = np.zeros(5, np.int64)
        counts[C_L3] = l3
        self.tables = Tables(new_order_table(slots), new_routes([], {}), wire, np.zeros(n, np.int64),
                             np.zeros(n, np.int64), counts)
        self.n_symbols = n
        self.report_max = REPORT_BASE + 2 * longest_name(wire)
        self.recs: list = [None] * slots  # slot -> the gateway's order record (venue/accounts.py)
        self.n_accounts = self.n_sessions = 0
        self.max_sessions = 1
        self.scratch: Scratch | None = None
        self._pass = DirectCall(fan_out)
        self._state = None
        self._cap_ev = 64  # events of one batch the scratch space holds
        self._fit(64)

    # ------------------------------------------------------------ sizing

    def _out_bytes(self, n_ev: int) -> int:
        # every event writes at most two reports, each copied into a frame per session of its account
        return n_ev * (2 * self.report_max * (1 + self.max_sessions) + MD_PER_EVENT) + 4096 + 256 * self.n_symbols

    def _fit(self, n_ev: int) -> None:
        """New scratch space big enough for n_ev events and the current sessions."""
        n_ev = max(n_ev, self._cap_ev)
        self._cap_ev = n_ev
        ns = self.n_symbols
        self.scratch = Scratch(new_report_scratch(2 * n_ev, max(self.n_accounts, 1)), new_md_scratch(n_ev, ns),
                               np.zeros(3 * n_ev, np.int64), np.zeros((self.n_sessions + 2 * ns + 1, F_COLS), np.int64),
                               np.zeros(self._out_bytes(n_ev), np.uint8))
        self.tables.counts[C_BATCH] += 1  # fresh zeroed marks must not look like this batch's
        self._pass.reset()

    def reserve(self, n_new: int) -> None:
        """Room for n_new more live orders (every command of a batch might add one)."""
        orders = with_room(self.tables.orders, n_new)
        if orders is not self.tables.orders:
            self.recs.extend([None] * (len(orders.rows) - len(self.recs)))
            self.tables = self.tables._replace(orders=orders)
            self._pass.reset()

    def set_routes(self, sessions_by_account: list[list[int]], session_accounts: dict[int, int]) -> None:
        """Which session slots belong to which account (rebuilt at every logon and drop)."""
        self.tables = self.tables._replace(routes=new_routes(sessions_by_account, session_accounts))
        self.max_sessions = max([len(s) for s in sessions_by_account] + [1])
        self.n_accounts = len(sessions_by_account)
        self.n_sessions = sum(len(s) for s in sessions_by_account)
        self._fit(self._cap_ev)

    # ------------------------------------------------------------ orders outside the event stream

    def restore(self, oid: int, acct: int, sym: int, side: int, px: int | None, open_: int, cl) -> int:
        """File a live order found at recovery; returns its slot."""
        self.reserve(1)
        return restore_order(self.tables.orders, oid, acct, sym, side, px, open_, cl)

    def px_open(self, slot: int) -> tuple[int | None, int]:
        """(price ticks or None, open lots) of a live order."""
        return px_open(self.tables.orders, slot)

    # ------------------------------------------------------------ the batch

    def warm(self, engine_state) -> None:
        """Load (or compile) the pass now rather than on the first order: run it over no events."""
        from kabuto.engine.records import empty_commands, empty_events
        from kabuto.venue.sequencer import Sequencer
        batch = Sequencer(1).take()
        self.run(empty_events(0), 1, empty_commands(0), batch.cm, 0, 0, engine_state)

    def run(self, events: np.ndarray, first_seq: int, cmds: np.ndarray, cm: np.ndarray, t0: int, now: int,
            engine_state) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the pass over one batch; (frames, todo, out) views valid until the next run."""
        n_ev = len(events)
        if n_ev > self._cap_ev:
            self._fit(n_ev)
        scratch = self.scratch
        st = engine_state
        args = (self.tables, scratch, events, n_ev, cmds, cm, t0, first_seq, now, st.b_lv, st.b_n, st.l_px, st.l_qty)
        if st is not self._state:  # the engine grew: new arrays
            self._pass.reset()
            self._state = st
        if events.flags.c_contiguous and cm.flags.c_contiguous and cmds.flags.c_contiguous:
            self._pass(*args)
        else:
            fan_out(*args)
        counts = self.tables.counts
        return scratch.frames[:counts[C_FRAMES]], scratch.todo[:counts[C_TODO]], scratch.out

    @property
    def status_events(self) -> int:
        """How many status and indicative events the last batch had (the server publishes them)."""
        return int(self.tables.counts[C_STATUS])
