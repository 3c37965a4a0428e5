"""Execution reports: each written once as msgpack, then copied into one `reports` frame per session of its account."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from kabuto.engine.jit import njit
from kabuto.engine.oidhash import EMPTY
from kabuto.gateway.frames import FRAME_REPORTS, add_frame
from kabuto.gateway.msgpackw import (
    NIL,
    write_array_header,
    write_decimal_or_nil,
    write_nil,
    write_packed,
    write_packed_or_nil,
    write_signed_decimal,
    write_str,
    write_uint,
    write_uint_or_nil,
)
from kabuto.gateway.wiretables import (
    N_REASONS,
    S_BUY,
    S_REPORTS,
    S_SYMBOLS,
    U_FEE_PLACES,
    U_PX_PLACES,
    U_PX_UNITS,
    U_QTY_PLACES,
    U_QTY_UNITS,
)
from kabuto.venue.orderrows import CL_INT, CL_NONE

# report index columns: whom a report is for (its account; the session that sent its command, or
# -1) and where it lies in the output buffer, its request id at out[R_REQ_START:R_REQ_END]
R_ACCOUNT, R_ORIGIN, R_START, R_END, R_REQ_START, R_REQ_END = range(6)
R_COLS = 6
# account columns: the batch that wrote the marks, the account's first and last report, how many
A_BATCH, A_FIRST, A_LAST, A_COUNT = range(4)
A_COLS = 4
# counts
N_REPORTS, N_ACCOUNTS = 0, 1
# [ev, seq, ts, req, cl_oid, oid, sym, side, px, qty, open, reason, role]; a fill with risk on adds its fee
REPORT_FIELDS = 13
BALANCE_FIELDS = 9  # [ev, seq, ts, req, asset, amount, total, held, id] (balance, deposited, withdrawn; risk on)


class Routes(NamedTuple):
    """Which session slots belong to which account (numba takes the tuple whole)."""
    session_account: np.ndarray  # session slot -> account id (-1: gone)
    first_session: np.ndarray    # account id -> index of its first session in sessions
    n_sessions: np.ndarray       # account id -> how many sessions it has
    sessions: np.ndarray         # session slots grouped by account


def new_routes(sessions_by_account: list[list[int]], session_accounts: dict[int, int]) -> Routes:
    """Routes of these sessions (account id -> its session slots, session slot -> account id)."""
    n = len(sessions_by_account)
    first, count = np.zeros(max(n, 1), np.int64), np.zeros(max(n, 1), np.int64)
    flat: list[int] = []
    for account, slots in enumerate(sessions_by_account):
        first[account], count[account] = len(flat), len(slots)
        flat.extend(slots)
    top = max(session_accounts, default=-1) + 1
    session_account = np.full(max(top, 1), -1, np.int64)
    for session, account in session_accounts.items():
        session_account[session] = account
    return Routes(session_account, first, count, np.array(flat or [0], np.int64))


class ReportScratch(NamedTuple):
    """One batch's reports: where each lies, chained per account (numba takes the tuple whole)."""
    index: np.ndarray      # (reports, R_COLS)
    next: np.ndarray       # the account's next report (EMPTY: none)
    accounts: np.ndarray   # (accounts, A_COLS)
    touched: np.ndarray    # accounts with reports, in the order of their first
    counts: np.ndarray     # N_REPORTS, N_ACCOUNTS


def new_report_scratch(n_reports: int, n_accounts: int) -> ReportScratch:
    """Room for n_reports reports of accounts 0 .. n_accounts - 1."""
    return ReportScratch(np.zeros((n_reports, R_COLS), np.int64), np.zeros(n_reports, np.int64),
                         np.zeros((n_accounts, A_COLS), np.int64), np.zeros(n_accounts, np.int64),
                         np.zeros(2, np.int64))


@njit(cache=True, _nrt=False)
def clear_reports(reports):
    """Start a batch: no reports yet."""
    reports.counts[N_REPORTS] = 0
    reports.counts[N_ACCOUNTS] = 0


@njit(cache=True, _nrt=False)
def _write_cl_oid(out, p, kind, v, n, text):
    """A client order id: the integer v, the text text[:n], or nil (by kind)."""
    if kind == CL_INT:
        return write_uint(out, p, v)
    if kind == CL_NONE:
        return write_nil(out, p)
    return write_str(out, p, text, n)


@njit(cache=True, _nrt=False)
def write_report(out, p, wire, ev, seq, ts, req, cl_kind, cl_int, cl_len, cl_text, oid, sym, side, px, qty,
                 open_, reason, role):
    """One report at p; returns (end, start of its req, end of its req).

    ev and role are name entries (S_*; role -1: nil); req, oid, sym, reason -1 and px, qty, open_
    negative are nil; side is nil with sym."""
    names, off, units = wire.names, wire.name_off, wire.units
    out[p] = 0x90 | REPORT_FIELDS
    p = write_packed(out, p + 1, names, off, ev)
    p = write_uint(out, p, seq)
    p = write_uint(out, p, ts)
    req_start = p
    p = write_uint_or_nil(out, p, req)
    req_end = p
    p = _write_cl_oid(out, p, cl_kind, cl_int, cl_len, cl_text)
    p = write_uint_or_nil(out, p, oid)
    p = write_packed_or_nil(out, p, names, off, S_SYMBOLS + sym if sym >= 0 else -1)
    p = write_packed_or_nil(out, p, names, off, S_BUY + side if sym >= 0 else -1)
    u = units[max(sym, 0)]
    p = write_decimal_or_nil(out, p, px, u[U_PX_UNITS], u[U_PX_PLACES])
    p = write_decimal_or_nil(out, p, qty, u[U_QTY_UNITS], u[U_QTY_PLACES])
    p = write_decimal_or_nil(out, p, open_, u[U_QTY_UNITS], u[U_QTY_PLACES])
    p = write_packed_or_nil(out, p, names, off, S_SYMBOLS + units.shape[0] + reason if reason >= 0 else -1)
    p = write_packed_or_nil(out, p, names, off, role)
    return p, req_start, req_end


@njit(cache=True, _nrt=False)
def _no_one_to_tell(routes, reports, account):
    # an account with no session (none logged on yet after a recovery, or all gone) has no one to
    # tell; its id may also lie beyond the routing tables, which only cover accounts seen at logon
    return (account < 0 or account >= routes.n_sessions.shape[0] or account >= reports.accounts.shape[0]
            or routes.n_sessions[account] == 0)


@njit(cache=True, _nrt=False)
def _chain(reports, r, batch, account, origin, p, end, req_start, req_end):
    """File report r (written at out[p:end]) as the account's latest of this batch."""
    row = reports.index[r]
    row[R_ACCOUNT] = account
    row[R_ORIGIN] = origin
    row[R_START] = p
    row[R_END] = end
    row[R_REQ_START] = req_start
    row[R_REQ_END] = req_end
    reports.next[r] = EMPTY
    acc = reports.accounts[account]
    if acc[A_BATCH] != batch:
        acc[A_BATCH] = batch
        acc[A_FIRST] = r
        acc[A_COUNT] = 0
        reports.touched[reports.counts[N_ACCOUNTS]] = account
        reports.counts[N_ACCOUNTS] += 1
    else:
        reports.next[acc[A_LAST]] = r
    acc[A_LAST] = r
    acc[A_COUNT] += 1
    reports.counts[N_REPORTS] = r + 1


@njit(cache=True, _nrt=False)
def add_report(routes, wire, reports, out, p, batch, account, origin, ev, seq, ts, req, cl_kind, cl_int, cl_len,
               cl_text, oid, sym, side, px, qty, open_, reason, role, fee=0, with_fee=False):
    """write_report at p for every session of account (origin: the session whose command caused it, else -1),
    chained to the account's reports of this batch; returns the end (p: nobody to tell). with_fee: a fill
    with risk on, whose report carries the account's own fee (quote units, a rebate negative) last."""
    r = reports.counts[N_REPORTS]
    if r >= reports.next.shape[0] or _no_one_to_tell(routes, reports, account):
        return p
    end, req_start, req_end = write_report(out, p, wire, ev, seq, ts, req, cl_kind, cl_int, cl_len, cl_text, oid,
                                           sym, side, px, qty, open_, reason, role)
    if with_fee:
        out[p] = 0x90 | (REPORT_FIELDS + 1)
        end = write_signed_decimal(out, end, fee, 1, wire.units[sym, U_FEE_PLACES])
    _chain(reports, r, batch, account, origin, p, end, req_start, req_end)
    return end


@njit(cache=True, _nrt=False)
def add_balance_report(routes, wire, reports, out, p, batch, account, origin, ev, seq, ts, req, asset, amount, total,
                       held, id_):
    """A balance, deposited or withdrawn report ([ev, seq, ts, req, asset, amount, total, held, id]; negative
    values are nil) for every session of account, chained like add_report; returns the end."""
    r = reports.counts[N_REPORTS]
    if r >= reports.next.shape[0] or _no_one_to_tell(routes, reports, account):
        return p
    names, off = wire.names, wire.name_off
    d = wire.assets[asset]
    out[p] = 0x90 | BALANCE_FIELDS
    q = write_packed(out, p + 1, names, off, ev)
    q = write_uint(out, q, seq)
    q = write_uint(out, q, ts)
    req_start = q
    q = write_uint_or_nil(out, q, req)
    req_end = q
    q = write_packed(out, q, names, off, S_SYMBOLS + wire.units.shape[0] + N_REASONS + asset)
    q = write_decimal_or_nil(out, q, amount, 1, d)
    q = write_decimal_or_nil(out, q, total, 1, d)
    q = write_decimal_or_nil(out, q, held, 1, d)
    q = write_uint_or_nil(out, q, id_)
    _chain(reports, r, batch, account, origin, p, q, req_start, req_end)
    return q


@njit(cache=True, _nrt=False)
def _copy_within(out, p, a, b):
    """out[a:b] again at p; returns the end."""
    for j in range(a, b):
        out[p] = out[j]
        p += 1
    return p


@njit(cache=True, _nrt=False)
def write_report_frames(routes, wire, reports, out, p, frames, n_frames):
    """["reports", [...]] of each account's reports for each of its sessions, the request ids only
    for the session that sent them (nil for the others), as frames from row n_frames on; returns
    (end, frames)."""
    for k in range(reports.counts[N_ACCOUNTS]):
        account = reports.touched[k]
        acc = reports.accounts[account]
        first = routes.first_session[account]
        for j in range(first, first + routes.n_sessions[account]):
            session = routes.sessions[j]
            start = p
            out[p] = 0x92
            p = write_packed(out, p + 1, wire.names, wire.name_off, S_REPORTS)
            p = write_array_header(out, p, acc[A_COUNT])
            r = acc[A_FIRST]
            while r != EMPTY:
                row = reports.index[r]
                if row[R_ORIGIN] == session or out[row[R_REQ_START]] == NIL:
                    p = _copy_within(out, p, row[R_START], row[R_END])
                else:
                    p = _copy_within(out, p, row[R_START], row[R_REQ_START])
                    p = write_nil(out, p)
                    p = _copy_within(out, p, row[R_REQ_END], row[R_END])
                r = reports.next[r]
            n_frames = add_frame(frames, n_frames, FRAME_REPORTS, session, start, p)
    return p, n_frames
