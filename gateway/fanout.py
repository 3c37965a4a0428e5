"""Fan-out stage: one numba pass turns a batch's events into execution reports and market data, as msgpack bytes.

The pass keeps the live order state the reports need (client order id, side, price, open lots) in
arrays indexed by a slot, found from the engine order id through an open-addressing hash. It writes
every report once, then copies each account's reports into one `reports` frame per session of that
account (the request id only for the session that sent the command, nil for the others). Market
data is one `md` message per symbol with trades or a level whose resting quantity changed: its
trades, and the quantities of those levels, read from the engine's own book after the batch (the
pass sums each touched level's change, so a level that ends as it began is left out). Python is
left with one send per frame and a short list of order records to file or forget (accepted,
finished, rejected) in the account tables.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from kabuto.engine.codes import Ev, Flag, Op, Reason
from kabuto.engine.instruments import Instrument
from kabuto.engine.jitcall import DirectCall
from kabuto.engine.oidhash import hash_delete, hash_find, hash_put
from kabuto.gateway import protocol as P
from kabuto.gateway.decoder import C_MASS, C_NEW
from kabuto.gateway.msgpackw import (
    NIL,
    packed_table,
    write_array_header,
    write_decimal,
    write_decimal_or_nil,
    write_nil,
    write_packed,
    write_packed_or_nil,
    write_str,
    write_uint,
    write_uint_or_nil,
)
from numba import njit

ACCEPTED, FILL, CANCELED, AMENDED = int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED), int(Ev.AMENDED)
HAS_PX = int(Flag.HAS_PX)
OP_CANCEL = int(Op.CANCEL)
R_MASS, R_DISCONNECT = int(Reason.MASS_CANCEL), int(Reason.DISCONNECT)

# order table columns
G_OID, G_ACCT, G_SYM, G_SIDE, G_PX, G_HASPX, G_OPEN, G_CLKIND, G_CLINT, G_CLLEN, G_GEN, G_TODO = range(12)
G_COLS = 12  # G_GEN/G_TODO: the batch that accepted the order and the index of its todo entry
CL_BYTES = P.MAX_CL_OID_LEN
CL_NONE, CL_INT, CL_STR = 0, 1, 2

# counters: the first three persist, the rest count what one batch wrote; M_L3 switches the L3 feed on
M_NFREE, M_LIVE, M_GEN, M_FRAMES, M_TODO, M_REPS, M_ACCTS, M_SYMS, M_LVS, M_TRADES, M_OPS, M_L3 = range(12)

# string table entries (msgpack-encoded), then the symbols, then the reasons
S_REPORTS, S_ACCEPTED, S_FILL, S_CANCELED, S_AMENDED, S_REJECTED, S_BUY, S_SELL, S_TAKER, S_MAKER, S_MD = range(11)
S_L3, S_ADD, S_CANCEL, S_AMEND, S_DELETE = range(11, 16)
FIXED_STRINGS = (P.REPORTS, P.EV_ACCEPTED, P.EV_FILL, P.EV_CANCELED, P.EV_AMENDED, P.EV_REJECTED, "buy", "sell",
                 "taker", "maker", P.MD_UPDATE, P.L3_UPDATE, *P.L3_OPS)
S_SYMBOLS = len(FIXED_STRINGS)  # the symbols follow, then the reasons
# L3 op kinds: the indexes of their names in the string table ("fill" is shared with reports)
OP_ADD, OP_FILL, OP_CANCEL_L3, OP_AMEND, OP_DELETE = S_ADD, S_FILL, S_CANCEL, S_AMEND, S_DELETE

# what the pass leaves for Python, in event order
# a todo entry is code | command index << 2 | slot << TODO_SLOT_SHIFT (one int64: a 1-D tolist is cheap)
TODO_ACCEPTED, TODO_FINISHED, TODO_RELEASE = 1, 2, 3  # release: a new order that is not (or no longer) live
TODO_INDEX_MASK, TODO_SLOT_SHIFT = (1 << 24) - 1, 26
# frames: (kind, session slot or symbol, start, end) in the output buffer
FRAME_REPORTS, FRAME_MD, FRAME_L3 = 0, 1, 2

REPORT_BASE = 200  # bytes of one encoded report at most, besides its symbol and reason names
MD_PER_EVENT = 400  # bytes of market data (L2 and L3) one event can add, at most
EMPTY = -1


class Tables(NamedTuple):
    """Everything the pass reads and keeps between batches (numba takes the tuple whole)."""
    g: np.ndarray          # (slots, G_COLS) live order state
    gcl: np.ndarray        # (slots, CL_BYTES) client order id text
    hk: np.ndarray         # oid -> slot hash: keys
    hv: np.ndarray         # oid -> slot hash: values
    free: np.ndarray       # stack of free slots
    m: np.ndarray          # counters (M_*)
    s_acct: np.ndarray     # session slot -> account id (-1: gone)
    a_first: np.ndarray    # account id -> first index of its sessions in a_list
    a_n: np.ndarray        # account id -> number of sessions
    a_list: np.ndarray     # session slots grouped by account
    units: np.ndarray      # (symbols, 4): price step units, price places, qty step units, qty places
    strs: np.ndarray       # msgpack-encoded strings, concatenated
    str_off: np.ndarray    # offsets into strs (entry i is strs[str_off[i]:str_off[i+1]])
    md_seq: np.ndarray     # per symbol: the sequence number of its last market data message
    l3_seq: np.ndarray     # per symbol: the sequence number of its last L3 message


class Scratch(NamedTuple):
    """Per-batch work space, sized by the caller for the batch (see Fanout._fit)."""
    rep: np.ndarray        # (reports, 6): account, origin session, start, end, req offset, req length
    rep_next: np.ndarray   # next report of the same account
    acct: np.ndarray       # (accounts, 4): generation, head, tail, count
    acct_list: np.ndarray  # accounts touched, in first-touch order
    trades: np.ndarray     # (trades, 6): seq, px, qty, side, ts, next
    lv: np.ndarray         # (levels, 4): book, px, next, net change of its resting quantity in the batch
    sym: np.ndarray        # (symbols, 7): generation, trade head, trade tail, level head, level tail, op head, op tail
    sym_list: np.ndarray   # symbols touched
    lset: np.ndarray       # (set slots, 4): generation, book, px, lv row  -- the touched-level set
    ops: np.ndarray        # (ops, 7): L3 op kind, oid, side, px, qty, open, next
    todo: np.ndarray       # todo entries (TODO_*)
    frames: np.ndarray     # (n, 4): kind, session slot or symbol, start, end
    out: np.ndarray        # uint8 output buffer


# ---------------------------------------------------------------------- the pass

@njit(cache=True, _nrt=False)
def _cl(out, p, kind, v, n, text):
    if kind == CL_INT:
        return write_uint(out, p, v)
    if kind == CL_NONE:
        return write_nil(out, p)
    return write_str(out, p, text, n)


@njit(cache=True, _nrt=False)
def _copy_range(out, p, src, a, b):
    for j in range(a, b):
        out[p] = src[j]
        p += 1
    return p


@njit(cache=True, _nrt=False)
def _report(t, x, out, p, acct, origin, ev_str, seq, ts, req, clk, clv, cln, cltext, oid, sym, side,
            px, has_px, qty, has_qty, open_, has_open, reason, role):
    """Write one report at p and chain it to its account; returns the new end (p: nobody to tell)."""
    n = x.rep_next.shape[0]
    r = t.m[M_REPS]  # reports written so far in this batch
    if r >= n:
        return p
    # an account with no session (none logged on yet after a recovery, or all gone) has no one to
    # tell; its id may also lie beyond the routing tables, which only cover accounts seen at logon
    if acct < 0 or acct >= t.a_n.shape[0] or acct >= x.acct.shape[0] or t.a_n[acct] == 0:
        return p
    strs, off = t.strs, t.str_off
    nsym = t.units.shape[0]
    start = p
    out[p] = 0x9D  # array of 13
    p = write_packed(out, p + 1, strs, off, ev_str)
    p = write_uint(out, p, seq)
    p = write_uint(out, p, ts)
    req_at = p
    p = write_uint_or_nil(out, p, req)
    req_len = p - req_at
    p = _cl(out, p, clk, clv, cln, cltext)
    p = write_uint_or_nil(out, p, oid)
    p = write_packed_or_nil(out, p, strs, off, S_SYMBOLS + sym if sym >= 0 else -1)
    p = write_packed_or_nil(out, p, strs, off, S_BUY + side if sym >= 0 else -1)
    u = t.units
    k = max(sym, 0)
    p = write_decimal_or_nil(out, p, px if has_px else -1, u[k, 0], u[k, 1])
    p = write_decimal_or_nil(out, p, qty if has_qty else -1, u[k, 2], u[k, 3])
    p = write_decimal_or_nil(out, p, open_ if has_open else -1, u[k, 2], u[k, 3])
    p = write_packed_or_nil(out, p, strs, off, S_SYMBOLS + nsym + reason if reason >= 0 else -1)
    p = write_packed_or_nil(out, p, strs, off, role)
    rep = x.rep
    rep[r, 0] = acct
    rep[r, 1] = origin
    rep[r, 2] = start
    rep[r, 3] = p
    rep[r, 4] = req_at
    rep[r, 5] = req_len
    x.rep_next[r] = EMPTY
    a = x.acct
    gen = t.m[M_GEN]
    if a[acct, 0] != gen:
        a[acct, 0] = gen
        a[acct, 1] = r
        a[acct, 3] = 0
        x.acct_list[t.m[M_ACCTS]] = acct
        t.m[M_ACCTS] += 1
    else:
        x.rep_next[a[acct, 2]] = r
    a[acct, 2] = r
    a[acct, 3] += 1
    t.m[M_REPS] = r + 1
    return p


@njit(cache=True, _nrt=False)
def _todo(t, x, code, ci, slot):
    k = t.m[M_TODO]
    x.todo[k] = code | (ci << 2) | (slot << TODO_SLOT_SHIFT)
    t.m[M_TODO] = k + 1
    return k


@njit(cache=True, _nrt=False)
def _sym_touch(t, x, sym):
    s = x.sym
    gen = t.m[M_GEN]
    if s[sym, 0] != gen:
        s[sym, 0] = gen
        s[sym, 1] = EMPTY
        s[sym, 2] = EMPTY
        s[sym, 3] = EMPTY
        s[sym, 4] = EMPTY
        s[sym, 5] = EMPTY
        s[sym, 6] = EMPTY
        x.sym_list[t.m[M_SYMS]] = sym
        t.m[M_SYMS] += 1


@njit(cache=True, _nrt=False)
def _level_change(t, x, sym, side, px, d):
    """The resting quantity at level (sym, side, px) changed by d lots (summed over the batch: the
    md message names only levels whose quantity differs from before the batch)."""
    b = 2 * sym + side
    ls = x.lset
    mask = ls.shape[0] - 1
    gen = t.m[M_GEN]
    i = ((px * 0x9E3779B1) ^ (b * 0x85EBCA77)) & mask
    while ls[i, 0] == gen:
        if ls[i, 1] == b and ls[i, 2] == px:
            x.lv[ls[i, 3], 3] += d
            return
        i = (i + 1) & mask
    ls[i, 0] = gen
    ls[i, 1] = b
    ls[i, 2] = px
    _sym_touch(t, x, sym)
    k = t.m[M_LVS]
    ls[i, 3] = k
    x.lv[k, 0] = b
    x.lv[k, 1] = px
    x.lv[k, 3] = d
    _append(x.lv, 2, x.sym, sym, 3, k)
    t.m[M_LVS] = k + 1


@njit(cache=True, _nrt=False)
def _append(rows, next_col, heads, sym, head_col, k):
    """Link row k at the end of symbol sym's list (head and tail in heads[sym, head_col:head_col + 2])."""
    rows[k, next_col] = EMPTY
    if heads[sym, head_col] == EMPTY:
        heads[sym, head_col] = k
    else:
        rows[heads[sym, head_col + 1], next_col] = k
    heads[sym, head_col + 1] = k


@njit(cache=True, _nrt=False)
def _trade(t, x, sym, seq, px, qty, side, ts):
    _sym_touch(t, x, sym)
    k = t.m[M_TRADES]
    tr = x.trades
    tr[k, 0] = seq
    tr[k, 1] = px
    tr[k, 2] = qty
    tr[k, 3] = side
    tr[k, 4] = ts
    _append(tr, 5, x.sym, sym, 1, k)
    t.m[M_TRADES] = k + 1


@njit(cache=True, _nrt=False)
def _op(t, x, sym, kind, oid, side, px, qty, open_):
    """One L3 op of a resting order (when the L3 feed is on)."""
    if not t.m[M_L3]:
        return
    _sym_touch(t, x, sym)
    k = t.m[M_OPS]
    o = x.ops[k]
    o[0] = kind
    o[1] = oid
    o[2] = side
    o[3] = px
    o[4] = qty
    o[5] = open_
    _append(x.ops, 6, x.sym, sym, 5, k)
    t.m[M_OPS] = k + 1


@njit(cache=True, _nrt=False)
def _rested(t, x, slot):
    """The order entered (or re-entered) by the last command rests now if it is still open."""
    g = t.g
    if g[slot, G_OPEN] > 0 and g[slot, G_HASPX]:
        _level_change(t, x, g[slot, G_SYM], g[slot, G_SIDE], g[slot, G_PX], g[slot, G_OPEN])
        _op(t, x, g[slot, G_SYM], OP_ADD, g[slot, G_OID], g[slot, G_SIDE], g[slot, G_PX], g[slot, G_OPEN],
            g[slot, G_OPEN])


@njit(cache=True, _nrt=False)
def _forget(t, x, oid, h):
    """The order of hash entry h has finished: free its slot and tell Python."""
    slot = t.hv[h]
    hash_delete(t.hk, t.hv, h)
    t.free[t.m[M_NFREE]] = slot
    t.m[M_NFREE] += 1
    t.m[M_LIVE] -= 1
    g = t.g
    if g[slot, G_GEN] == t.m[M_GEN]:  # accepted in this very batch: Python need not file it at all
        k = g[slot, G_TODO]
        x.todo[k] = TODO_RELEASE | (x.todo[k] & (TODO_INDEX_MASK << 2))
    else:
        _todo(t, x, TODO_FINISHED, 0, slot)


@njit(cache=True, _nrt=False)
def _level_qty(b_lv, b_n, l_px, l_qty, b, side, px):
    lo = 0
    n = b_n[b]
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        q = l_px[b_lv[b, mid]]
        if (px > q) if side == 0 else (px < q):
            lo = mid + 1
        else:
            hi = mid
    if lo < n and l_px[b_lv[b, lo]] == px:
        return l_qty[b_lv[b, lo]]
    return 0


@njit(cache=True, _nrt=False)
def fan_out(t, x, ev, n_ev, cmds, cm, t0, first_seq, now, b_lv, b_n, l_px, l_qty):
    """Reports and market data of one batch into x.out; frames in x.frames, Python's work in x.todo."""
    m = t.m
    m[M_GEN] += 1
    for j in range(M_FRAMES, M_OPS + 1):
        m[j] = 0
    g, gcl, hk, hv = t.g, t.gcl, t.hk, t.hv
    out = x.out
    p = 0
    seq = first_seq - 1
    pend, pend_ci = -1, -1  # the slot of an order its command may still rest (L3 "add" when it does)
    for i in range(n_ev):
        e = ev[i]
        seq += 1
        kind = e.kind
        ci = e.ts - t0
        if pend >= 0 and ci != pend_ci:
            _rested(t, x, pend)
            pend = -1
        c = cm[ci]
        sess = c.sess
        if kind == FILL:
            ht = hash_find(hk, e.oid)
            hm = hash_find(hk, e.maker)
            if ht < 0 or hm < 0:
                continue
            ts_, ms = hv[ht], hv[hm]
            sym = e.sym
            q = e.qty
            to = g[ts_, G_OPEN] - q
            mo = g[ms, G_OPEN] - q
            g[ts_, G_OPEN] = to
            g[ms, G_OPEN] = mo
            p = _report(t, x, out, p, g[ts_, G_ACCT], sess, S_FILL, seq, e.ts, c.req, g[ts_, G_CLKIND],
                        g[ts_, G_CLINT], g[ts_, G_CLLEN], gcl[ts_], e.oid, sym, e.side, e.px, True, q, True,
                        to, True, -1, S_TAKER)
            p = _report(t, x, out, p, g[ms, G_ACCT], -1, S_FILL, seq, e.ts, -1, g[ms, G_CLKIND],
                        g[ms, G_CLINT], g[ms, G_CLLEN], gcl[ms], e.maker, sym, 1 - e.side, e.px, True, q, True,
                        mo, True, -1, S_MAKER)
            _trade(t, x, sym, seq, e.px, q, e.side, e.ts)
            _level_change(t, x, sym, g[ms, G_SIDE], g[ms, G_PX], -q)  # a maker rests, at its price
            _op(t, x, sym, OP_FILL, e.maker, g[ms, G_SIDE], g[ms, G_PX], q, mo)
            if to == 0:
                _forget(t, x, e.oid, ht)
                if mo == 0:
                    _forget(t, x, e.maker, hash_find(hk, e.maker))  # the first delete may move it
            elif mo == 0:
                _forget(t, x, e.maker, hm)
        elif kind == ACCEPTED:
            k = m[M_NFREE] - 1
            slot = t.free[k]
            m[M_NFREE] = k
            m[M_LIVE] += 1
            hash_put(hk, hv, e.oid, slot)
            sym = e.sym
            has_px = (e.flags & HAS_PX) != 0
            g[slot, G_OID] = e.oid
            g[slot, G_ACCT] = e.acct
            g[slot, G_SYM] = sym
            g[slot, G_SIDE] = e.side
            g[slot, G_PX] = e.px
            g[slot, G_HASPX] = has_px
            g[slot, G_OPEN] = e.qty
            g[slot, G_CLKIND] = c.clkind
            g[slot, G_CLINT] = c.clint
            g[slot, G_CLLEN] = c.cllen
            for j in range(c.cllen):
                gcl[slot, j] = c.cl[j]
            g[slot, G_GEN] = m[M_GEN]
            g[slot, G_TODO] = _todo(t, x, TODO_ACCEPTED, ci, slot)
            p = _report(t, x, out, p, e.acct, sess, S_ACCEPTED, seq, e.ts, c.req, c.clkind, c.clint, c.cllen,
                        c.cl, e.oid, sym, e.side, e.px, has_px, e.qty, True, e.qty, True, -1, -1)
            if has_px:  # it rests (level and L3 add) if anything is left once its command is done
                pend, pend_ci = slot, ci
        elif kind == CANCELED:
            h = hash_find(hk, e.oid)
            if h < 0:
                continue
            slot = hv[h]
            reason = e.reason
            if cmds[ci].op == OP_CANCEL and c.ck >= C_MASS:  # a cancel the gateway made: its real reason
                if c.ck == C_MASS:
                    reason = R_MASS
                    c.count += 1  # every cancel of one mass cancel shares its first command's ts and meta
                else:
                    reason = R_DISCONNECT
            acct = g[slot, G_ACCT]
            origin = sess if sess >= 0 and t.s_acct[sess] == acct else -1
            sym = g[slot, G_SYM]
            g[slot, G_OPEN] = e.open
            p = _report(t, x, out, p, acct, origin, S_CANCELED, seq, e.ts, c.req if origin >= 0 else -1,
                        g[slot, G_CLKIND], g[slot, G_CLINT], g[slot, G_CLLEN], gcl[slot], e.oid, sym, e.side,
                        0, False, e.qty, True, e.open, True, reason, -1)
            if slot != pend and g[slot, G_HASPX]:  # not the incoming order (an IOC's rest, say): on the book
                _level_change(t, x, sym, g[slot, G_SIDE], g[slot, G_PX], -e.qty)
                _op(t, x, sym, OP_CANCEL_L3, e.oid, g[slot, G_SIDE], g[slot, G_PX], e.qty, e.open)
            if e.open == 0:
                _forget(t, x, e.oid, h)
        elif kind == AMENDED:
            h = hash_find(hk, e.oid)
            if h < 0:
                continue
            slot = hv[h]
            sym = g[slot, G_SYM]
            was = g[slot, G_OPEN]
            if e.px == g[slot, G_PX] and e.qty <= was:  # the engine keeps its priority
                if e.qty != was:  # (an amend that changes nothing changes no level)
                    _level_change(t, x, sym, g[slot, G_SIDE], e.px, e.qty - was)
                    _op(t, x, sym, OP_AMEND, e.oid, g[slot, G_SIDE], e.px, e.qty, e.qty)
            else:  # it leaves the book, may trade, and rests again at the back
                _level_change(t, x, sym, g[slot, G_SIDE], g[slot, G_PX], -was)
                _op(t, x, sym, OP_DELETE, e.oid, g[slot, G_SIDE], g[slot, G_PX], 0, 0)
                pend, pend_ci = slot, ci
            g[slot, G_PX] = e.px
            g[slot, G_HASPX] = 1
            g[slot, G_OPEN] = e.qty
            p = _report(t, x, out, p, g[slot, G_ACCT], sess, S_AMENDED, seq, e.ts, c.req, g[slot, G_CLKIND],
                        g[slot, G_CLINT], g[slot, G_CLLEN], gcl[slot], e.oid, sym, e.side, e.px, True, e.qty,
                        True, e.qty, True, -1, -1)
        else:  # REJECTED
            if c.ck == C_NEW:
                _todo(t, x, TODO_RELEASE, ci, 0)
            if sess < 0 or (cmds[ci].op == OP_CANCEL and c.ck >= C_MASS):
                continue  # an internal cancel of an order that finished first: nothing to tell
            p = _report(t, x, out, p, t.s_acct[sess], sess, S_REJECTED, seq, e.ts, c.req, c.clkind, c.clint,
                        c.cllen, c.cl, -1, c.sym, c.side, 0, False, 0, False, 0, False, e.reason, -1)
    if pend >= 0:
        _rested(t, x, pend)
    p = _frames(t, x, out, p)
    return _market_data(t, x, out, p, now, b_lv, b_n, l_px, l_qty)


@njit(cache=True, _nrt=False)
def _frames(t, x, out, p):
    """Copy each touched account's reports into one frame per session of the account."""
    nf = 0
    for k in range(t.m[M_ACCTS]):
        acct = x.acct_list[k]
        first, ns = t.a_first[acct], t.a_n[acct]
        count = x.acct[acct, 3]
        for j in range(first, first + ns):
            s = t.a_list[j]
            start = p
            out[p] = 0x92
            p = write_packed(out, p + 1, t.strs, t.str_off, S_REPORTS)
            p = write_array_header(out, p, count)
            r = x.acct[acct, 1]
            while r != EMPTY:
                rr = x.rep[r]
                if rr[1] == s or out[rr[4]] == NIL:
                    p = _copy_range(out, p, out, rr[2], rr[3])
                else:  # another session of the account: the same report without the request id
                    p = _copy_range(out, p, out, rr[2], rr[4])
                    out[p] = NIL
                    p = _copy_range(out, p + 1, out, rr[4] + rr[5], rr[3])
                r = x.rep_next[r]
            f = x.frames[nf]
            f[0] = FRAME_REPORTS
            f[1] = s
            f[2] = start
            f[3] = p
            nf += 1
    t.m[M_FRAMES] = nf
    return p


@njit(cache=True, _nrt=False)
def _market_data(t, x, out, p, now, b_lv, b_n, l_px, l_qty):
    """One md message per symbol with trades or changed levels, in symbol order (and its L3 message)."""
    n = t.m[M_SYMS]
    syms = x.sym_list
    for a in range(1, n):  # insertion sort: a batch touches few symbols
        v = syms[a]
        b = a - 1
        while b >= 0 and syms[b] > v:
            syms[b + 1] = syms[b]
            b -= 1
        syms[b + 1] = v
    nf = t.m[M_FRAMES]
    for a in range(n):
        sym = syms[a]
        changed = _changed_levels(x, x.sym[sym, 3])
        if x.sym[sym, 1] != EMPTY or changed:  # trades or levels that changed: an md message
            p, nf = _md(t, x, out, p, nf, sym, changed, now, b_lv, b_n, l_px, l_qty)
        if x.sym[sym, 5] != EMPTY:
            f = x.frames[nf]
            f[0] = FRAME_L3
            f[1] = sym
            f[2] = p
            p = _l3(t, x, out, p, sym, now)
            f[3] = p
            nf += 1
    t.m[M_FRAMES] = nf
    return p


@njit(cache=True, _nrt=False)
def _changed_levels(x, k):
    """How many of a symbol's touched levels (list from row k) changed their resting quantity."""
    n = 0
    while k != EMPTY:
        if x.lv[k, 3] != 0:
            n += 1
        k = x.lv[k, 2]
    return n


@njit(cache=True, _nrt=False)
def _md(t, x, out, p, nf, sym, changed, now, b_lv, b_n, l_px, l_qty):
    """["md", sym, seq, ts, trades, levels] of one symbol; returns (end, frames)."""
    strs, off, u = t.strs, t.str_off, t.units
    t.md_seq[sym] += 1
    start = p
    p = _feed_header(t, out, p, 6, S_MD, sym, t.md_seq[sym], now)
    p = write_array_header(out, p, _chain_length(x.trades, 5, x.sym[sym, 1]))
    k = x.sym[sym, 1]
    while k != EMPTY:
        tr = x.trades[k]
        out[p] = 0x95
        p = write_uint(out, p + 1, tr[0])
        p = write_decimal(out, p, tr[1], u[sym, 0], u[sym, 1])
        p = write_decimal(out, p, tr[2], u[sym, 2], u[sym, 3])
        p = write_packed(out, p, strs, off, S_BUY + tr[3])
        p = write_uint(out, p, tr[4])
        k = tr[5]
    p = write_array_header(out, p, changed)
    k = x.sym[sym, 3]
    while k != EMPTY:
        if x.lv[k, 3] != 0:
            bk, px = x.lv[k, 0], x.lv[k, 1]
            side = bk - 2 * sym
            out[p] = 0x93
            p = write_packed(out, p + 1, strs, off, S_BUY + side)
            p = write_decimal(out, p, px, u[sym, 0], u[sym, 1])
            p = write_decimal(out, p, _level_qty(b_lv, b_n, l_px, l_qty, bk, side, px), u[sym, 2], u[sym, 3])
        k = x.lv[k, 2]
    f = x.frames[nf]
    f[0] = FRAME_MD
    f[1] = sym
    f[2] = start
    f[3] = p
    return p, nf + 1


@njit(cache=True, _nrt=False)
def _feed_header(t, out, p, n_fields, kind, sym, seq, now):
    """[kind, sym, seq, ts, ...: the start of an n_fields array of the market data feed."""
    out[p] = 0x90 | n_fields
    p = write_packed(out, p + 1, t.strs, t.str_off, kind)
    p = write_packed(out, p, t.strs, t.str_off, S_SYMBOLS + sym)
    p = write_uint(out, p, seq)
    return write_uint(out, p, now)


@njit(cache=True, _nrt=False)
def _chain_length(rows, next_col, head):
    """How many rows a linked list threaded through column next_col holds."""
    n = 0
    while head != EMPTY:
        n += 1
        head = rows[head, next_col]
    return n


@njit(cache=True, _nrt=False)
def _l3(t, x, out, p, sym, now):
    """["l3", sym, seq, ts, ops]: the symbol's order-by-order changes of the batch, in order."""
    strs, off, u = t.strs, t.str_off, t.units
    t.l3_seq[sym] += 1
    p = _feed_header(t, out, p, 5, S_L3, sym, t.l3_seq[sym], now)
    p = write_array_header(out, p, _chain_length(x.ops, 6, x.sym[sym, 5]))
    k = x.sym[sym, 5]
    while k != EMPTY:
        o = x.ops[k]
        kind = o[0]
        if kind == OP_ADD:  # ["add", oid, side, px, qty]
            out[p] = 0x95
            p = write_packed(out, p + 1, strs, off, kind)
            p = write_uint(out, p, o[1])
            p = write_packed(out, p, strs, off, S_BUY + o[2])
            p = write_decimal(out, p, o[3], u[sym, 0], u[sym, 1])
            p = write_decimal(out, p, o[4], u[sym, 2], u[sym, 3])
        elif kind == OP_DELETE:  # ["delete", oid]
            out[p] = 0x92
            p = write_packed(out, p + 1, strs, off, kind)
            p = write_uint(out, p, o[1])
        elif kind == OP_AMEND:  # ["amend", oid, open]
            out[p] = 0x93
            p = write_packed(out, p + 1, strs, off, kind)
            p = write_uint(out, p, o[1])
            p = write_decimal(out, p, o[5], u[sym, 2], u[sym, 3])
        else:  # ["fill" or "cancel", oid, qty, open]
            out[p] = 0x94
            p = write_packed(out, p + 1, strs, off, kind)
            p = write_uint(out, p, o[1])
            p = write_decimal(out, p, o[4], u[sym, 2], u[sym, 3])
            p = write_decimal(out, p, o[5], u[sym, 2], u[sym, 3])
        k = o[6]
    return p


@njit(cache=True, _nrt=False)
def _rehash(hk_old, hk, hv_old, hv):
    for i in range(len(hk_old)):
        if hk_old[i] != EMPTY:
            hash_put(hk, hv, hk_old[i], hv_old[i])


# ---------------------------------------------------------------------- Python side

def _string_table(instruments: Sequence[Instrument]) -> tuple[np.ndarray, np.ndarray]:
    reasons = [P.reason_text(c) for c in range(max(P.REASON_TEXT) + 1)]
    return packed_table((*FIXED_STRINGS, *(i.symbol for i in instruments), *reasons))


def _pow2(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


class Fanout:
    """The fan-out stage's state and its call into the numba pass."""

    def __init__(self, instruments: Sequence[Instrument], slots: int = 1 << 14, l3: bool = False):
        n = len(instruments)
        strs, off = _string_table(instruments)
        units = np.array([[i.px.step_units, i.px.places, i.qty.step_units, i.qty.places] for i in instruments],
                         np.int64).reshape(n, 4)
        self.t = Tables(np.zeros((slots, G_COLS), np.int64), np.zeros((slots, CL_BYTES), np.uint8),
                        np.full(_pow2(2 * slots), EMPTY, np.int64), np.zeros(_pow2(2 * slots), np.int64),
                        np.arange(slots - 1, -1, -1, dtype=np.int64), np.zeros(16, np.int64),
                        np.full(1, -1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64),
                        np.zeros(1, np.int64), units, strs, off, np.zeros(n, np.int64), np.zeros(n, np.int64))
        self.t.m[M_NFREE] = slots
        self.t.m[M_L3] = l3
        self.n_symbols = n
        self.report_max = REPORT_BASE + 2 * int(np.diff(off).max())
        self.recs: list = [None] * slots  # slot -> the gateway's order record (gateway/state.py)
        self.n_accounts = self.n_sessions = 0
        self.max_sessions = 1
        self.x: Scratch | None = None
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
        n_acc = max(self.n_accounts, 1)
        ns = self.n_symbols
        self.x = Scratch(np.zeros((2 * n_ev, 6), np.int64), np.zeros(2 * n_ev, np.int64),
                         np.zeros((n_acc, 4), np.int64), np.zeros(n_acc, np.int64),
                         np.zeros((n_ev, 6), np.int64), np.zeros((2 * n_ev, 4), np.int64),
                         np.zeros((ns, 7), np.int64), np.zeros(ns, np.int64),
                         np.zeros((_pow2(4 * n_ev), 4), np.int64), np.zeros((3 * n_ev, 7), np.int64),
                         np.zeros(3 * n_ev, np.int64),
                         np.zeros((self.n_sessions + 2 * ns + 1, 4), np.int64),
                         np.zeros(self._out_bytes(n_ev), np.uint8))
        self.t.m[M_GEN] += 1  # fresh zeroed marks must not look like this generation's
        self._pass.reset()

    def reserve(self, n_new: int) -> None:
        """Room for n_new more live orders (every command of a batch might add one)."""
        t = self.t
        live = int(t.m[M_LIVE])
        if t.m[M_NFREE] < n_new:
            old = len(t.g)
            size = max(2 * old, old + n_new)
            g = np.zeros((size, G_COLS), np.int64)
            g[:old] = t.g
            gcl = np.zeros((size, CL_BYTES), np.uint8)
            gcl[:old] = t.gcl
            nfree = int(t.m[M_NFREE])
            free = np.zeros(size, np.int64)
            free[:nfree] = t.free[:nfree]
            extra = np.arange(size - 1, old - 1, -1, dtype=np.int64)
            free[nfree:nfree + len(extra)] = extra
            t.m[M_NFREE] = nfree + len(extra)
            self.recs.extend([None] * (size - old))
            self.t = t = t._replace(g=g, gcl=gcl, free=free)
            self._pass.reset()
        if 2 * (live + n_new) > len(t.hk):
            size = _pow2(4 * (live + n_new))
            hk, hv = np.full(size, EMPTY, np.int64), np.zeros(size, np.int64)
            _rehash(t.hk, hk, t.hv, hv)
            self.t = t._replace(hk=hk, hv=hv)
            self._pass.reset()

    def set_routes(self, sessions_by_account: list[list[int]], session_accounts: dict[int, int]) -> None:
        """Which session slots belong to which account (rebuilt at every logon and drop)."""
        n = len(sessions_by_account)
        a_first, a_n = np.zeros(max(n, 1), np.int64), np.zeros(max(n, 1), np.int64)
        flat: list[int] = []
        for a, slots in enumerate(sessions_by_account):
            a_first[a], a_n[a] = len(flat), len(slots)
            flat.extend(slots)
        top = max(session_accounts, default=-1) + 1
        s_acct = np.full(max(top, 1), -1, np.int64)
        for s, a in session_accounts.items():
            s_acct[s] = a
        self.t = self.t._replace(s_acct=s_acct, a_first=a_first, a_n=a_n,
                                 a_list=np.array(flat or [0], np.int64))
        self.max_sessions = max([len(s) for s in sessions_by_account] + [1])
        self.n_accounts = n
        self.n_sessions = len(flat)
        self._fit(self._cap_ev)

    # ------------------------------------------------------------ orders outside the event stream

    def restore(self, oid: int, acct: int, sym: int, side: int, px: int | None, open_: int, cl) -> int:
        """File a live order found at recovery; returns its slot."""
        self.reserve(1)
        t = self.t
        k = int(t.m[M_NFREE]) - 1
        slot = int(t.free[k])
        t.m[M_NFREE] = k
        t.m[M_LIVE] += 1
        hash_put(t.hk, t.hv, oid, slot)
        kind, v, text = encode_cl(cl)
        t.g[slot] = (oid, acct, sym, side, px or 0, px is not None, open_, kind, v, len(text), 0, 0)
        t.gcl[slot, :len(text)] = np.frombuffer(text, np.uint8)
        return slot

    def px_open(self, slot: int) -> tuple[int | None, int]:
        """(price ticks or None, open lots) of a live order."""
        row = self.t.g[slot]
        return (int(row[G_PX]) if row[G_HASPX] else None), int(row[G_OPEN])

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
        x = self.x
        st = engine_state
        args = (self.t, x, events, n_ev, cmds, cm, t0, first_seq, now, st.b_lv, st.b_n, st.l_px, st.l_qty)
        if st is not self._state:  # the engine grew: new arrays
            self._pass.reset()
            self._state = st
        if events.flags.c_contiguous and cm.flags.c_contiguous and cmds.flags.c_contiguous:
            self._pass(*args)
        else:
            fan_out(*args)
        m = self.t.m
        return x.frames[:m[M_FRAMES]], x.todo[:m[M_TODO]], x.out


def encode_cl(cl) -> tuple[int, int, bytes]:
    """(kind, integer value, text bytes) of a client order id for the order table."""
    if cl is None:
        return CL_NONE, 0, b""
    if type(cl) is int:
        return CL_INT, cl, b""
    return CL_STR, 0, cl.encode()

