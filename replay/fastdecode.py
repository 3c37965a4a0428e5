"""Numba decoder for the common shape of order-log lines; any unusual line goes to the Python decoder.

It handles flat JSON objects of ASCII strings without escapes, numbers and literals, for the ops
new, cancel and amend, with exactly the rules of engine/orderlog.py. Everything else (other ops, nested
values, escapes, non-ASCII, huge numbers, invalid JSON) is marked FALLBACK and decoded in Python,
so the two paths can only differ by a bug, which tests/test_fastdecode.py looks for."""
import numpy as np
from kabuto.engine.codes import Flag, Op, OrdType, Reason, Side, Tif
from kabuto.engine.jit import njit
from kabuto.replay.accounts import intern

FALLBACK = -1  # op of a placeholder record the Python decoder fills in
BLANK = -2  # op of a blank line (dropped)

NEW, CANCEL, AMEND, REJECT = int(Op.NEW), int(Op.CANCEL), int(Op.AMEND), int(Op.REJECT)
HAS_TS, HAS_PX, HAS_QTY, HAS_OID = int(Flag.HAS_TS), int(Flag.HAS_PX), int(Flag.HAS_QTY), int(Flag.HAS_OID)
PROTECT = int(Flag.PROTECT)
R_MALFORMED, R_UNKNOWN_SYMBOL, R_BAD_TIF, R_BAD_STP = (int(Reason.MALFORMED), int(Reason.UNKNOWN_SYMBOL),
                                                      int(Reason.BAD_TIF), int(Reason.BAD_STP))
BUY, SELL = int(Side.BUY), int(Side.SELL)
LIMIT, MARKET = int(OrdType.LIMIT), int(OrdType.MARKET)
GTC, IOC, FOK, POST = int(Tif.GTC), int(Tif.IOC), int(Tif.FOK), int(Tif.POST)
MAX_MANT = 1 << 62
MAX_INT = (1 << 63) - 1

# value kinds
V_NONE, V_STR, V_NUM, V_LIT = 0, 1, 2, 3
# keys
K_OP, K_OID, K_ACCT, K_SYM, K_SIDE, K_TYPE, K_PX, K_QTY, K_TIF, K_STP, K_TS, K_PROTECT, K_OTHER = range(13)
NKEYS = 12


@njit(cache=True, _nrt=False, inline="always")
def _is_ws(c):
    return c == 32 or c == 9 or c == 13


@njit(cache=True, _nrt=False)
def _eq(buf, s, e, text):
    """buf[s:e] == text (a tuple of byte values)."""
    if e - s != len(text):
        return False
    for i in range(len(text)):
        if buf[s + i] != text[i]:
            return False
    return True


@njit(cache=True, _nrt=False)
def _key(buf, s, e):
    n = e - s
    c = buf[s] if n > 0 else 0
    if n == 2:
        if c == 111 and buf[s + 1] == 112:  # op
            return K_OP
        if c == 112 and buf[s + 1] == 120:  # px
            return K_PX
        if c == 116 and buf[s + 1] == 115:  # ts
            return K_TS
    elif n == 3:
        if _eq(buf, s, e, (111, 105, 100)):  # oid
            return K_OID
        if _eq(buf, s, e, (115, 121, 109)):  # sym
            return K_SYM
        if _eq(buf, s, e, (113, 116, 121)):  # qty
            return K_QTY
        if _eq(buf, s, e, (116, 105, 102)):  # tif
            return K_TIF
        if _eq(buf, s, e, (115, 116, 112)):  # stp
            return K_STP
    elif n == 4:
        if _eq(buf, s, e, (97, 99, 99, 116)):  # acct
            return K_ACCT
        if _eq(buf, s, e, (115, 105, 100, 101)):  # side
            return K_SIDE
        if _eq(buf, s, e, (116, 121, 112, 101)):  # type
            return K_TYPE
    elif n == 7:
        if _eq(buf, s, e, (112, 114, 111, 116, 101, 99, 116)):  # protect
            return K_PROTECT
    return K_OTHER


@njit(cache=True, _nrt=False)
def _digits(buf, s, e, mant, nsig):
    """Accumulate decimal digits buf[s:e] into mant; returns (mant, significant digits, trailing zeros)."""
    zeros = 0
    for i in range(s, e):
        d = buf[i] - 48
        if nsig == 0 and d == 0:
            continue
        if d == 0:
            zeros += 1
            continue
        # flush pending zeros, then the digit
        for _ in range(zeros):
            mant = mant * 10
            nsig += 1
        zeros = 0
        mant = mant * 10 + d
        nsig += 1
        if nsig > 18:
            return mant, 99, 0
    return mant, nsig, zeros


@njit(cache=True, _nrt=False)
def _decimal(kind, neg, is_int, s1, e1, s2, e2, exp, buf):
    """(mant, exp, ok): mant 0 for an invalid value; ok False when only Python can decide."""
    if kind == V_STR:
        # plain decimal text: digits, optionally '.' and digits; s1:e1 whole, s2:e2 fraction (s2 < 0: none)
        if e1 <= s1:
            return 0, 0, True
        for i in range(s1, e1):
            if buf[i] < 48 or buf[i] > 57:
                return 0, 0, True
        if s2 >= 0:
            if e2 <= s2:
                return 0, 0, True
            for i in range(s2, e2):
                if buf[i] < 48 or buf[i] > 57:
                    return 0, 0, True
    elif kind != V_NUM or neg:
        return 0, 0, True
    mant, nsig, z = _digits(buf, s1, e1, 0, 0)
    if nsig > 18:
        return 0, 0, False
    frac_len = 0
    if s2 >= 0:
        # the fraction's digits continue the mantissa; pending zeros of the whole part count
        for _ in range(z):
            if nsig > 0:
                mant = mant * 10
                nsig += 1
        z = 0
        mant, nsig, z = _digits(buf, s2, e2, mant, nsig)
        if nsig > 18:
            return 0, 0, False
        frac_len = (e2 - s2) - z
        z = 0
    else:
        frac_len = 0
    e = exp - frac_len + z
    if mant == 0:
        return 0, 0, True
    while mant % 10 == 0:
        mant //= 10
        e += 1
    if not (-100 < e < 100) or mant >= MAX_MANT:
        return 0, 0, True
    return mant, e, True


def scratch() -> tuple:
    """Per-key scratch arrays for decode: value kind, start, end, fraction start/end, exponent, sign, is-int."""
    return (np.zeros(NKEYS, np.int8), np.zeros(NKEYS, np.int64), np.zeros(NKEYS, np.int64),
            np.zeros(NKEYS, np.int64), np.zeros(NKEYS, np.int64), np.zeros(NKEYS, np.int64),
            np.zeros(NKEYS, np.bool_), np.zeros(NKEYS, np.bool_))


@njit(cache=True, _nrt=False, nogil=True)  # replay decodes on a thread of its own
def decode(buf, starts, ends, first_line, out, sym_bytes, sym_off,
           t_hash, t_id, arena, a_off, ameta, kind, vs, ve, fs, fe, ex, neg, isint, risk):
    """Decode lines buf[starts[i]:ends[i]] into out[i]; out[i].op is FALLBACK or BLANK where Python must act.

    risk: balances are on (docs/balances.md): a market order's `protect` is read; the balance ops
    (deposit, withdraw, fees, tier) are always left to Python, like every op but new, cancel and amend."""
    n = len(starts)
    for li in range(n):
        c = out[li]
        line = first_line + li
        c.line = line
        c.op = FALLBACK
        p = starts[li]
        e = ends[li]
        while p < e and _is_ws(buf[p]):
            p += 1
        if p == e:
            c.op = BLANK
            continue
        if buf[p] != 123:  # '{'
            continue
        p += 1
        for j in range(NKEYS):
            kind[j] = V_NONE
        ok = True
        first = True
        while True:
            while p < e and _is_ws(buf[p]):
                p += 1
            if p >= e:
                ok = False
                break
            if buf[p] == 125 and first:  # '}' of an empty object
                ok = False
                break
            first = False
            if buf[p] != 34:
                ok = False
                break
            ks = p + 1
            p = ks
            while p < e and buf[p] != 34:
                b = buf[p]
                if b == 92 or b < 32 or b >= 128:
                    ok = False
                    break
                p += 1
            if not ok or p >= e:
                ok = False
                break
            k = _key(buf, ks, p)
            p += 1
            while p < e and _is_ws(buf[p]):
                p += 1
            if p >= e or buf[p] != 58:  # ':'
                ok = False
                break
            p += 1
            while p < e and _is_ws(buf[p]):
                p += 1
            if p >= e:
                ok = False
                break
            b = buf[p]
            if b == 34:  # string
                s = p + 1
                p = s
                dot = -1
                while p < e and buf[p] != 34:
                    b = buf[p]
                    if b == 92 or b < 32 or b >= 128:
                        ok = False
                        break
                    if b == 46 and dot < 0:
                        dot = p
                    p += 1
                if not ok or p >= e:
                    ok = False
                    break
                if k != K_OTHER:
                    kind[k] = V_STR
                    vs[k] = s
                    if dot >= 0:
                        ve[k] = dot
                        fs[k] = dot + 1
                        fe[k] = p
                    else:
                        ve[k] = p
                        fs[k] = -1
                        fe[k] = -1
                    ex[k] = 0
                    neg[k] = False
                    isint[k] = False
                p += 1
            elif b == 45 or (48 <= b <= 57):  # number
                ng = False
                if b == 45:
                    ng = True
                    p += 1
                s = p
                if p >= e or not (48 <= buf[p] <= 57):
                    ok = False
                    break
                if buf[p] == 48:
                    p += 1
                else:
                    while p < e and 48 <= buf[p] <= 57:
                        p += 1
                ie = p
                f0 = -1
                f1 = -1
                if p < e and buf[p] == 46:
                    p += 1
                    f0 = p
                    while p < e and 48 <= buf[p] <= 57:
                        p += 1
                    f1 = p
                    if f1 == f0:
                        ok = False
                        break
                xv = 0
                has_exp = False
                if p < e and (buf[p] == 101 or buf[p] == 69):
                    has_exp = True
                    p += 1
                    xneg = False
                    if p < e and (buf[p] == 43 or buf[p] == 45):
                        xneg = buf[p] == 45
                        p += 1
                    x0 = p
                    while p < e and 48 <= buf[p] <= 57:
                        if p - x0 > 6:
                            ok = False
                            break
                        xv = xv * 10 + (buf[p] - 48)
                        p += 1
                    if not ok or p == x0:
                        ok = False
                        break
                    if xneg:
                        xv = -xv
                if k != K_OTHER:
                    kind[k] = V_NUM
                    vs[k] = s
                    ve[k] = ie
                    fs[k] = f0
                    fe[k] = f1
                    ex[k] = xv
                    neg[k] = ng
                    isint[k] = f0 < 0 and not has_exp
            elif b == 116 and _eq(buf, p, min(p + 4, e), (116, 114, 117, 101)):
                p += 4
                if k != K_OTHER:
                    kind[k] = V_LIT
            elif b == 102 and _eq(buf, p, min(p + 5, e), (102, 97, 108, 115, 101)):
                p += 5
                if k != K_OTHER:
                    kind[k] = V_LIT
            elif b == 110 and _eq(buf, p, min(p + 4, e), (110, 117, 108, 108)):
                p += 4
                if k != K_OTHER:
                    kind[k] = V_LIT
            else:
                ok = False
                break
            while p < e and _is_ws(buf[p]):
                p += 1
            if p < e and buf[p] == 44:  # ','
                p += 1
                continue
            if p < e and buf[p] == 125:  # '}'
                p += 1
                while p < e and _is_ws(buf[p]):
                    p += 1
                if p != e:
                    ok = False
                break
            ok = False
            break
        if not ok:
            continue  # Python decides (usually: malformed)
        _fill(c, line, buf, kind, vs, ve, fs, fe, ex, neg, isint, sym_bytes, sym_off,
              t_hash, t_id, arena, a_off, ameta, risk)


@njit(cache=True, _nrt=False)
def _int_value(buf, k, kind, vs, ve, neg, isint):
    """A JSON integer 0..2**63-1 from key k, or -1."""
    if kind[k] != V_NUM or not isint[k] or neg[k]:
        return -1
    s = vs[k]
    e = ve[k]
    if e - s > 19:
        return -1
    v = np.uint64(0)
    for i in range(s, e):
        v = v * np.uint64(10) + np.uint64(buf[i] - 48)
    if v > np.uint64(MAX_INT):
        return -1
    return np.int64(v)


@njit(cache=True, _nrt=False)
def _malformed(c, line):
    c.op = REJECT
    c.reason = R_MALFORMED
    c.flags = 0
    c.sym = -1
    c.oid = 0
    c.ts = 0
    c.line = line


@njit(cache=True, _nrt=False)
def _reject(c, reason, oid, ts, fl):
    c.op = REJECT
    c.reason = reason
    c.flags = fl | HAS_OID
    c.sym = -1
    c.oid = oid
    c.ts = ts
    c.line = 0


@njit(cache=True, _nrt=False)
def _fill(c, line, buf, kind, vs, ve, fs, fe, ex, neg, isint, sym_bytes, sym_off,
          t_hash, t_id, arena, a_off, ameta, risk):
    c.side = 0
    c.otype = 0
    c.tif = 0
    c.stp = 0
    c.reason = 0
    c.pexp = 0
    c.qexp = 0
    c.sym = -1
    c.acct = 0
    c.px = 0
    c.qty = 0
    c.ts = 0
    c.oid = 0
    fl = 0
    if kind[K_TS] != V_NONE:
        ts = _int_value(buf, K_TS, kind, vs, ve, neg, isint)
        if ts < 0:
            _malformed(c, line)
            return
        c.ts = ts
        fl = HAS_TS
    if kind[K_OP] != V_STR:
        _malformed(c, line)
        return
    s = vs[K_OP]
    e = ve[K_OP] if fs[K_OP] < 0 else fe[K_OP]
    if _eq(buf, s, e, (110, 101, 119)):
        op = NEW
    elif _eq(buf, s, e, (99, 97, 110, 99, 101, 108)):
        op = CANCEL
    elif _eq(buf, s, e, (97, 109, 101, 110, 100)):
        op = AMEND
    else:  # ref, the market-integrity commands and unknown ops: Python decides
        c.op = FALLBACK
        return
    oid = _int_value(buf, K_OID, kind, vs, ve, neg, isint)
    if oid < 0:
        _malformed(c, line)
        return
    if op == CANCEL:
        c.op = CANCEL
        c.oid = oid
        c.flags = fl
        return
    if op == AMEND:
        if kind[K_PX] == V_NONE and kind[K_QTY] == V_NONE:
            _malformed(c, line)
            return
        if kind[K_PX] != V_NONE:
            fl |= HAS_PX
            m, x, good = _decimal(kind[K_PX], neg[K_PX], isint[K_PX], vs[K_PX], ve[K_PX], fs[K_PX], fe[K_PX],
                                  ex[K_PX], buf)
            if not good:
                c.op = FALLBACK
                return
            c.px = m
            c.pexp = x
        if kind[K_QTY] != V_NONE:
            fl |= HAS_QTY
            m, x, good = _decimal(kind[K_QTY], neg[K_QTY], isint[K_QTY], vs[K_QTY], ve[K_QTY], fs[K_QTY],
                                  fe[K_QTY], ex[K_QTY], buf)
            if not good:
                c.op = FALLBACK
                return
            c.qty = m
            c.qexp = x
        c.op = AMEND
        c.oid = oid
        c.flags = fl
        return
    # new: malformed checks first
    if kind[K_SYM] != V_STR or kind[K_SIDE] != V_STR or kind[K_TYPE] != V_STR or kind[K_QTY] == V_NONE:
        _malformed(c, line)
        return
    s = vs[K_SIDE]
    e = ve[K_SIDE] if fs[K_SIDE] < 0 else fe[K_SIDE]
    if _eq(buf, s, e, (98, 117, 121)):
        side = BUY
    elif _eq(buf, s, e, (115, 101, 108, 108)):
        side = SELL
    else:
        _malformed(c, line)
        return
    s = vs[K_TYPE]
    e = ve[K_TYPE] if fs[K_TYPE] < 0 else fe[K_TYPE]
    if _eq(buf, s, e, (108, 105, 109, 105, 116)):
        otype = LIMIT
    elif _eq(buf, s, e, (109, 97, 114, 107, 101, 116)):
        otype = MARKET
    else:
        _malformed(c, line)
        return
    if otype == LIMIT and kind[K_PX] == V_NONE:
        _malformed(c, line)
        return
    # account: a string, or an integer's digits
    if kind[K_ACCT] == V_STR:
        a0 = vs[K_ACCT]
        a1 = ve[K_ACCT] if fs[K_ACCT] < 0 else fe[K_ACCT]
    elif kind[K_ACCT] == V_NUM and isint[K_ACCT]:
        if neg[K_ACCT]:
            c.op = FALLBACK  # "-0" and friends: let Python spell it
            return
        a0 = vs[K_ACCT]
        a1 = ve[K_ACCT]
    else:
        _malformed(c, line)
        return
    # symbol
    s = vs[K_SYM]
    e = ve[K_SYM] if fs[K_SYM] < 0 else fe[K_SYM]
    sym = -1
    for i in range(len(sym_off) - 1):
        n = sym_off[i + 1] - sym_off[i]
        if n == e - s:
            same = True
            for j in range(n):
                if sym_bytes[sym_off[i] + j] != buf[s + j]:
                    same = False
                    break
            if same:
                sym = i
                break
    if sym < 0:
        _reject(c, R_UNKNOWN_SYMBOL, oid, c.ts, fl)
        return
    tif = IOC if otype == MARKET else GTC
    if kind[K_TIF] != V_NONE:
        tif = -1
        if kind[K_TIF] == V_STR:
            s = vs[K_TIF]
            e = ve[K_TIF] if fs[K_TIF] < 0 else fe[K_TIF]
            if _eq(buf, s, e, (71, 84, 67)):
                tif = GTC
            elif _eq(buf, s, e, (73, 79, 67)):
                tif = IOC
            elif _eq(buf, s, e, (70, 79, 75)):
                tif = FOK
            elif _eq(buf, s, e, (80, 79, 83, 84)):
                tif = POST
        if tif < 0 or (otype == MARKET and tif == POST):
            _reject(c, R_BAD_TIF, oid, c.ts, fl)
            return
        if otype == MARKET and tif != FOK:
            tif = IOC
    stp = 0
    if kind[K_STP] != V_NONE:
        stp = -1
        if kind[K_STP] == V_STR:
            s = vs[K_STP]
            e = ve[K_STP] if fs[K_STP] < 0 else fe[K_STP]
            if _eq(buf, s, e, (99, 97, 110, 99, 101, 108, 95, 111, 108, 100, 101, 115, 116)):
                stp = 0
            elif _eq(buf, s, e, (99, 97, 110, 99, 101, 108, 95, 110, 101, 119, 101, 115, 116)):
                stp = 1
            elif _eq(buf, s, e, (99, 97, 110, 99, 101, 108, 95, 98, 111, 116, 104)):
                stp = 2
            elif _eq(buf, s, e, (100, 101, 99, 114, 101, 109, 101, 110, 116)):
                stp = 3
        if stp < 0:
            _reject(c, R_BAD_STP, oid, c.ts, fl)
            return
    pm = 0
    px_ = 0
    if otype == LIMIT:
        pm, px_, good = _decimal(kind[K_PX], neg[K_PX], isint[K_PX], vs[K_PX], ve[K_PX], fs[K_PX], fe[K_PX],
                                 ex[K_PX], buf)
        if not good:
            c.op = FALLBACK
            return
    elif risk and kind[K_PROTECT] != V_NONE:  # docs/balances.md 6: the protection price travels as px
        pm, px_, good = _decimal(kind[K_PROTECT], neg[K_PROTECT], isint[K_PROTECT], vs[K_PROTECT], ve[K_PROTECT],
                                 fs[K_PROTECT], fe[K_PROTECT], ex[K_PROTECT], buf)
        if not good:
            c.op = FALLBACK
            return
        fl |= PROTECT
    qm, qx, good = _decimal(kind[K_QTY], neg[K_QTY], isint[K_QTY], vs[K_QTY], ve[K_QTY], fs[K_QTY], fe[K_QTY],
                            ex[K_QTY], buf)
    if not good:
        c.op = FALLBACK
        return
    c.op = NEW
    c.side = side
    c.otype = otype
    c.tif = tif
    c.stp = stp
    c.pexp = px_
    c.qexp = qx
    c.flags = fl
    c.sym = sym
    c.oid = oid
    c.acct = intern(buf, a0, a1, t_hash, t_id, arena, a_off, ameta)
    c.px = pm
    c.qty = qm
