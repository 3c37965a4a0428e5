"""Numba event encoder: event records -> the exact JSON lines of engine/eventlog.py, as bytes."""
from kabuto.engine.bytewrite import copy_entry, write_decimal_text, write_int_text
from kabuto.engine.codes import Ev, Flag, Reason
from numba import njit

ACCEPTED, FILL, CANCELED, AMENDED = int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED), int(Ev.AMENDED)
HAS_TS, HAS_PX, HAS_OID = int(Flag.HAS_TS), int(Flag.HAS_PX), int(Flag.HAS_OID)
MALFORMED = int(Reason.MALFORMED)


def _b(s: str) -> tuple:
    return tuple(s.encode())


SEQ = _b('{"seq":')
EV_FILL = _b(',"ev":"fill","sym":')
EV_ACC = _b(',"ev":"accepted","oid":')
EV_CXL = _b(',"ev":"canceled","oid":')
EV_AMD = _b(',"ev":"amended","oid":')
EV_REJ = _b(',"ev":"rejected","reason":')
K_PX = _b(',"px":"')
K_PX_NULL = _b(',"px":null')
K_QTY = _b('","qty":"')
K_QTY_ONLY = _b(',"qty":"')
K_MAKER = _b('","maker":')
K_TAKER = _b(',"taker":')
K_TSIDE = _b(',"taker_side":')
K_MACCT = _b(',"maker_acct":')
K_TACCT = _b(',"taker_acct":')
K_SYM = _b(',"sym":')
K_SIDE = _b(',"side":')
K_OPEN = _b('","open":"')
K_REASON = _b('","reason":')
K_LINE = _b(',"line":')
K_OID = _b(',"oid":')
K_TS = _b(',"ts":')
QUOTE = _b('"')
BUY = _b('"buy"')
SELL = _b('"sell"')
END = _b('}\n')


@njit(cache=True, _nrt=False, inline="always")
def _put(out, p, text):
    for b in text:
        out[p] = b
        p += 1
    return p


@njit(cache=True, _nrt=False)
def encode(ev, first_seq, out, sym_json, sym_off, px_units, px_places, qty_units, qty_places,
           acct_json, acct_off, reason_json, reason_off):
    """Write the JSON line of every event into out; returns the bytes written."""
    p = 0
    for i in range(len(ev)):
        e = ev[i]
        k = e.kind
        s = e.sym
        p = _put(out, p, SEQ)
        p = write_int_text(out, p, first_seq + i)
        if k == FILL:
            p = _put(out, p, EV_FILL)
            p = copy_entry(out, p, sym_json, sym_off, s)
            p = _put(out, p, K_PX)
            p = write_decimal_text(out, p, e.px, px_units[s], px_places[s])
            p = _put(out, p, K_QTY)
            p = write_decimal_text(out, p, e.qty, qty_units[s], qty_places[s])
            p = _put(out, p, K_MAKER)
            p = write_int_text(out, p, e.maker)
            p = _put(out, p, K_TAKER)
            p = write_int_text(out, p, e.oid)
            p = _put(out, p, K_TSIDE)
            p = _put(out, p, BUY) if e.side == 0 else _put(out, p, SELL)
            p = _put(out, p, K_MACCT)
            p = copy_entry(out, p, acct_json, acct_off, e.maker_acct)
            p = _put(out, p, K_TACCT)
            p = copy_entry(out, p, acct_json, acct_off, e.acct)
        elif k == ACCEPTED:
            p = _put(out, p, EV_ACC)
            p = write_int_text(out, p, e.oid)
            p = _put(out, p, K_SYM)
            p = copy_entry(out, p, sym_json, sym_off, s)
            p = _put(out, p, K_SIDE)
            p = _put(out, p, BUY) if e.side == 0 else _put(out, p, SELL)
            if e.flags & HAS_PX:
                p = _put(out, p, K_PX)
                p = write_decimal_text(out, p, e.px, px_units[s], px_places[s])
                p = _put(out, p, K_QTY)
            else:
                p = _put(out, p, K_PX_NULL)
                p = _put(out, p, K_QTY_ONLY)
            p = write_decimal_text(out, p, e.qty, qty_units[s], qty_places[s])
            p = _put(out, p, QUOTE)
        elif k == CANCELED:
            p = _put(out, p, EV_CXL)
            p = write_int_text(out, p, e.oid)
            p = _put(out, p, K_QTY_ONLY)
            p = write_decimal_text(out, p, e.qty, qty_units[s], qty_places[s])
            p = _put(out, p, K_OPEN)
            p = write_decimal_text(out, p, e.open, qty_units[s], qty_places[s])
            p = _put(out, p, K_REASON)
            p = copy_entry(out, p, reason_json, reason_off, e.reason)
        elif k == AMENDED:
            p = _put(out, p, EV_AMD)
            p = write_int_text(out, p, e.oid)
            p = _put(out, p, K_PX)
            p = write_decimal_text(out, p, e.px, px_units[s], px_places[s])
            p = _put(out, p, K_QTY)
            p = write_decimal_text(out, p, e.qty, qty_units[s], qty_places[s])
            p = _put(out, p, QUOTE)
        else:
            p = _put(out, p, EV_REJ)
            p = copy_entry(out, p, reason_json, reason_off, e.reason)
            if e.reason == MALFORMED:
                p = _put(out, p, K_LINE)
                p = write_int_text(out, p, e.line)
            elif e.flags & HAS_OID:
                p = _put(out, p, K_OID)
                p = write_int_text(out, p, e.oid)
        if e.flags & HAS_TS:
            p = _put(out, p, K_TS)
            p = write_int_text(out, p, e.ts)
        p = _put(out, p, END)
    return p
