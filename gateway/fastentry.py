"""Fast path of order entry: a batch frame of plain, valid new orders decoded by numba.

`parse` reads the msgpack bytes of ["batch", req, [["new", req, cl, sym, side, type, px, qty,
tif?, stp?], ...]] straight into arrays. Anything else (another command kind, an unknown symbol,
a bad field, an unusual encoding) makes it answer FALLBACK, and the frame takes the Python decoder
(gateway/decoder.py), which owns every reject rule: this path only ever accepts what that one
would decode without a reject reason, with the same values. `commit` (venue/orderrows.py)
writes the command and META_DTYPE records once the session stage has given each order its engine order id.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from kabuto.engine.codes import Stp, Tif
from kabuto.engine.instruments import Instrument
from kabuto.engine.jit import njit
from kabuto.gateway import protocol as P
from kabuto.venue.commands import DEFAULT_STP, FOK, GTC, IOC, LIMIT, MARKET, MAX_MANT, POST
from kabuto.venue.orderrows import (
    CL_INT,
    CL_TEXT_KIND,
    F_CLA,
    F_CLB,
    F_CLINT,
    F_CLKIND,
    F_PE,
    F_PM,
    F_QE,
    F_QM,
    F_REQ,
    F_SIDE,
    F_STP,
    F_SYM,
    F_TIF,
    F_TYPE,
    N_FIELDS,
    commit,
)
from kabuto.venue.sequencer import CL_TEXT

FALLBACK = -1
MAX_DECIMAL_TEXT = 40

# word tables: (first word index, count) of each group in one list of words
SIDE_WORDS = ("buy", "sell")
TYPE_WORDS = ("limit", "market")
TIF_WORDS = tuple(t.name for t in Tif)
STP_WORDS = tuple(s.name.lower() for s in Stp)
W_SIDE, W_TYPE, W_TIF, W_STP, W_SYM = 0, 2, 4, 4 + len(TIF_WORDS), 4 + len(TIF_WORDS) + len(STP_WORDS)
assert [int(t) for t in Tif] == list(range(len(TIF_WORDS))) and [int(s) for s in Stp] == list(range(len(STP_WORDS)))

HEAD = b"\x93\xa5batch"
NEW_HEAD = b"\xa3new"  # bytes 1..4 of a single new order frame
HEAD_BYTES = np.frombuffer(HEAD, np.uint8).copy()
N_TIF, N_STP = len(TIF_WORDS), len(STP_WORDS)


def word_table(instruments: Sequence[Instrument]) -> tuple[np.ndarray, np.ndarray]:
    """Every keyword and symbol as UTF-8 bytes, concatenated, with offsets."""
    words = [w.encode() for w in (*SIDE_WORDS, *TYPE_WORDS, *TIF_WORDS, *STP_WORDS)]
    words += [i.symbol.encode() for i in instruments]
    off = np.zeros(len(words) + 1, np.int64)
    off[1:] = np.cumsum([len(w) for w in words])
    return np.frombuffer(b"".join(words), np.uint8).copy(), off


@njit(cache=True, _nrt=False)
def _uint(b, p, n):
    """msgpack unsigned integer at p -> (value, next p); next p is -1 when it is not one (or > 2**63-1)."""
    if p >= n:
        return 0, -1
    t = b[p]
    if t < 0x80:
        return np.int64(t), p + 1
    if t == 0xCC:
        k = 1
    elif t == 0xCD:
        k = 2
    elif t == 0xCE:
        k = 4
    elif t == 0xCF:
        k = 8
    else:
        return 0, -1
    if p + k >= n:
        return 0, -1
    if k == 8 and b[p + 1] >= 0x80:
        return 0, -1
    v = np.int64(0)
    for j in range(1, k + 1):
        v = (v << 8) | b[p + j]
    return v, p + 1 + k


@njit(cache=True, _nrt=False)
def _str(b, p, n):
    """msgpack str at p -> (start, end) of its bytes; end -1 when it is not a str."""
    if p >= n:
        return 0, -1
    t = b[p]
    if 0xA0 <= t <= 0xBF:
        a = p + 1
        e = a + (t - 0xA0)
    elif t == 0xD9 and p + 1 < n:
        a = p + 2
        e = a + b[p + 1]
    else:
        return 0, -1
    if e > n:
        return 0, -1
    return a, e


@njit(cache=True, _nrt=False)
def _word(b, a, e, words, off, first, count):
    """Index (0..count-1) of the word b[a:e] among words first..first+count-1, or -1."""
    ln = e - a
    for w in range(first, first + count):
        if off[w + 1] - off[w] != ln:
            continue
        o = off[w]
        same = True
        for j in range(ln):
            if b[a + j] != words[o + j]:
                same = False
                break
        if same:
            return w - first
    return -1


@njit(cache=True, _nrt=False)
def _optional_word(b, p, n, words, off, first, count):
    """A nil (-> -1) or one of count words at p -> (index, next p); next p -1 when it is neither."""
    if p >= n:
        return -1, -1
    if b[p] == 0xC0:
        return -1, p + 1
    a, e = _str(b, p, n)
    if e < 0:
        return -1, -1
    w = _word(b, a, e, words, off, first, count)
    return w, (e if w >= 0 else -1)


@njit(cache=True, _nrt=False)
def _decimal(b, p, n):
    """A positive decimal (text or integer) at p -> (mantissa, exponent, next p); next p -1 if invalid."""
    if p < n and (b[p] < 0x80 or 0xCC <= b[p] <= 0xCF):
        v, q = _uint(b, p, n)
        if q < 0 or v <= 0 or v >= MAX_MANT:
            return 0, 0, -1
        return v, 0, q
    a, e = _str(b, p, n)
    if e < 0 or e - a > MAX_DECIMAL_TEXT or e == a:
        return 0, 0, -1
    mant = np.int64(0)
    frac = 0
    dot = -1
    for j in range(a, e):
        c = b[j]
        if c == 0x2E and dot < 0:
            dot = j
            continue
        if c < 0x30 or c > 0x39:
            return 0, 0, -1
        if dot >= 0:
            frac += 1
    if dot == a or dot == e - 1:
        return 0, 0, -1  # ".5" and "5." are not decimals here
    # trailing zeros of the fraction do not count
    end = e
    if dot >= 0:
        while end - 1 > dot and b[end - 1] == 0x30:
            end -= 1
            frac -= 1
        if end - 1 == dot:
            end = dot
    for j in range(a, end):
        c = b[j]
        if c == 0x2E:
            continue
        d = c - 0x30
        if mant > (MAX_MANT - 1 - d) // 10:
            return 0, 0, -1  # not below 2**62
        mant = mant * 10 + d
    if mant <= 0:
        return 0, 0, -1
    return mant, -frac, e


@njit(cache=True, _nrt=False)
def _skip_simple(b, p, n):
    """Skip a nil, ASCII str or unsigned integer (a market order's ignored price); -1 otherwise."""
    if p >= n:
        return -1
    if b[p] == 0xC0:
        return p + 1
    v, q = _uint(b, p, n)
    if q >= 0:
        return q
    a, e = _str(b, p, n)
    for j in range(a, e):
        if b[j] >= 0x80:
            return -1  # maybe not UTF-8, which the Python decoder refuses: let it say so
    return e


@njit(cache=True, _nrt=False)
def parse(b, n, words, off, n_symbols, max_batch, rows):
    """Rows of a batch frame of valid new orders, or of one valid new order sent alone; returns
    (count, batch req (0 for a single order), text client order ids), count FALLBACK otherwise."""
    if n < 8:
        return FALLBACK, 0, 0
    if 0x98 <= b[0] <= 0x9A and b[1] == 0xA3 and b[2] == 0x6E and b[3] == 0x65 and b[4] == 0x77:
        breq, p, k = np.int64(0), 0, np.int64(1)  # ["new", ...] alone: read like a batch's one item
    else:
        for j in range(7):
            if b[j] != HEAD_BYTES[j]:
                return FALLBACK, 0, 0
        breq, p = _uint(b, 7, n)
        if p < 0 or p >= n:
            return FALLBACK, 0, 0
        t = b[p]
        if 0x90 <= t <= 0x9F:
            k = np.int64(t) - 0x90
            p += 1
        elif t == 0xDC and p + 2 < n:
            k = (np.int64(b[p + 1]) << 8) | np.int64(b[p + 2])
            p += 3
        else:
            return FALLBACK, 0, 0
        if k < 1 or k > max_batch or k > rows.shape[0]:
            return FALLBACK, 0, 0
    texts = 0
    for i in range(k):
        if p + 5 > n:
            return FALLBACK, 0, 0
        ln = np.int64(b[p]) - 0x90
        if ln < 8 or ln > 10 or b[p + 1] != 0xA3 or b[p + 2] != 0x6E or b[p + 3] != 0x65 or b[p + 4] != 0x77:
            return FALLBACK, 0, 0  # not ["new", ...] with 8 to 10 elements
        r = rows[i]
        v, p = _uint(b, p + 5, n)
        r[F_REQ] = v
        if p < 0:
            return FALLBACK, 0, 0
        v, q = _uint(b, p, n)
        if q >= 0:
            r[F_CLKIND] = CL_INT
            r[F_CLINT] = v
            p = q
        else:
            a, e = _str(b, p, n)
            if e < 0 or e == a or e - a > CL_TEXT:
                return FALLBACK, 0, 0
            for j in range(a, e):
                if b[j] < 0x20 or b[j] > 0x7E:
                    return FALLBACK, 0, 0
            r[F_CLKIND] = CL_TEXT_KIND
            texts += 1
            r[F_CLA] = a
            r[F_CLB] = e
            p = e
        a, e = _str(b, p, n)
        if e < 0:
            return FALLBACK, 0, 0
        s = _word(b, a, e, words, off, W_SYM, n_symbols)
        if s < 0:
            return FALLBACK, 0, 0  # unknown symbol: the Python decoder names the reject
        r[F_SYM] = s
        a, p = _str(b, e, n)
        if p < 0:
            return FALLBACK, 0, 0
        side = _word(b, a, p, words, off, W_SIDE, 2)
        a, q = _str(b, p, n)
        if q < 0 or side < 0:
            return FALLBACK, 0, 0
        otype = _word(b, a, q, words, off, W_TYPE, 2)
        if otype < 0:
            return FALLBACK, 0, 0
        p = q
        r[F_SIDE] = side
        r[F_TYPE] = otype
        if otype == LIMIT:
            pm, pe, p = _decimal(b, p, n)
            r[F_PM] = pm
            r[F_PE] = pe
            tif = GTC
        else:
            r[F_PM] = 0
            r[F_PE] = 0
            p = _skip_simple(b, p, n)
            tif = IOC
        if p < 0:
            return FALLBACK, 0, 0
        qm, qe, p = _decimal(b, p, n)
        r[F_QM] = qm
        r[F_QE] = qe
        if p < 0:
            return FALLBACK, 0, 0
        stp = DEFAULT_STP
        if ln > 8:
            t2, p = _optional_word(b, p, n, words, off, W_TIF, N_TIF)
            if p < 0 or (otype == MARKET and t2 == POST):
                return FALLBACK, 0, 0
            if t2 >= 0:
                tif = t2 if otype == LIMIT or t2 == FOK else IOC
        if ln > 9:
            s2, p = _optional_word(b, p, n, words, off, W_STP, N_STP)
            if p < 0:
                return FALLBACK, 0, 0
            if s2 >= 0:
                stp = s2
        r[F_TIF] = tif
        r[F_STP] = stp
    if p != n:
        return FALLBACK, 0, 0  # trailing bytes
    return k, breq, texts


assert CL_TEXT == P.MAX_CL_OID_LEN


def warm(instruments: Sequence[Instrument]) -> None:
    """Compile (or load) parse and commit with the argument types the venue uses."""
    import msgpack
    from kabuto.venue.sequencer import Sequencer
    words, off = word_table(instruments)
    rows = np.zeros((4, N_FIELDS), np.int64)
    frame = msgpack.packb(["batch", 1, [["new", 1, "a", instruments[0].symbol, "buy", "limit", "1", "1"]]])
    b = np.frombuffer(frame, np.uint8)
    k, _, _ = parse(b, len(b), words, off, len(instruments), len(rows), rows)
    seq = Sequencer(4)
    start, t0, cmds, cm = seq.place(k)
    commit(rows, k, b, np.array([1], np.int64), 0, 0, t0, start, cmds, cm, 0)
