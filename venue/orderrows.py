"""Parsed new orders as rows of int64 (any wire's fast parser fills them) and `commit`: rows -> command records.

A row holds one plain new order; its client order id is an integer or a text at bytes [F_CLA, F_CLB)
of the frame it was read from. `commit` writes k rows as command and META_DTYPE records once the
session stage has given each order its engine order id.
"""
from __future__ import annotations

from kabuto.engine.codes import Flag, Op
from kabuto.engine.jit import njit
from kabuto.venue.commands import C_NEW

NEW, REJECT = int(Op.NEW), int(Op.REJECT)
HAS_TS = int(Flag.HAS_TS)
# a client order id's kind (F_CLKIND here, clkind in META_DTYPE, the order table's O_CL_KIND): none, an
# integer, a text
CL_NONE, CL_INT, CL_TEXT_KIND = 0, 1, 2

# columns of a row
F_REQ, F_CLKIND, F_CLINT, F_CLA, F_CLB, F_SYM, F_SIDE, F_TYPE, F_TIF, F_STP, F_PM, F_PE, F_QM, F_QE = range(14)
N_FIELDS = 14


@njit(cache=True, _nrt=False)
def commit(rows, k, payload, oids, acct, sess, t0, start, cmds, cm, reject_reason):
    """Write k parsed orders as command and meta records from index start; oid 0 = reject (reject_reason)."""
    for i in range(k):
        r = rows[i]
        c = cmds[start + i]
        m = cm[start + i]
        oid = oids[i]
        c.side = r[F_SIDE]
        c.sym = r[F_SYM]
        c.acct = acct
        c.ts = t0 + start + i
        c.flags = HAS_TS
        c.pad = 0
        c.line = 0
        if oid > 0:
            c.op = NEW
            c.otype = r[F_TYPE]
            c.tif = r[F_TIF]
            c.stp = r[F_STP]
            c.reason = 0
            c.pexp = r[F_PE]
            c.qexp = r[F_QE]
            c.oid = oid
            c.px = r[F_PM]
            c.qty = r[F_QM]
        else:
            c.op = REJECT
            c.otype = 0
            c.tif = 0
            c.stp = 0
            c.reason = reject_reason
            c.pexp = 0
            c.qexp = 0
            c.oid = 0
            c.px = 0
            c.qty = 0
        m.sess = sess
        m.req = r[F_REQ]
        m.ck = C_NEW
        m.clkind = r[F_CLKIND]
        m.clint = r[F_CLINT] if r[F_CLKIND] == CL_INT else 0
        m.cllen = 0
        if r[F_CLKIND] == CL_TEXT_KIND:
            a = r[F_CLA]
            m.cllen = r[F_CLB] - a
            for j in range(m.cllen):
                m.cl[j] = payload[a + j]
        m.sym = r[F_SYM]
        m.side = r[F_SIDE]
        m.count = 0
