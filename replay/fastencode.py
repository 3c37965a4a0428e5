"""Numba event encoder: event records -> the exact JSON lines of engine/eventlog.py, as bytes."""
import numpy as np
from kabuto.engine.bytewrite import POW10, copy_entry, write_decimal_text, write_int_text
from kabuto.engine.codes import (
    MARKET_NAMES,
    ORACLE_STATE_NAMES,
    REF_SOURCE_NAMES,
    STATUS_NAMES,
    STATUS_REASON_NAMES,
    Ev,
    Flag,
    Reason,
    Status,
)
from kabuto.engine.jit import njit

ACCEPTED, FILL, CANCELED, AMENDED = int(Ev.ACCEPTED), int(Ev.FILL), int(Ev.CANCELED), int(Ev.AMENDED)
STATUS, INDICATIVE, UNCROSS = int(Ev.STATUS), int(Ev.INDICATIVE), int(Ev.UNCROSS)
ORACLE, BAND = int(Ev.ORACLE), int(Ev.BAND)
HAS_TS, HAS_PX, HAS_OID, BAND_ON = int(Flag.HAS_TS), int(Flag.HAS_PX), int(Flag.HAS_OID), int(Flag.BAND_ON)
LIMIT_UP, CALL = int(Status.LIMIT_UP), int(Status.CALL)  # statuses LIMIT_UP..CALL print an `until`
MALFORMED = int(Reason.MALFORMED)
# balances (docs/balances.md 8)
DEPOSITED, WITHDRAWN, BALANCE, FEES_EV, TIER_EV = (int(Ev.DEPOSITED), int(Ev.WITHDRAWN), int(Ev.BALANCE),
                                                   int(Ev.FEES), int(Ev.TIER))
FEES_FLAG, DEP = int(Flag.FEES), int(Flag.DEP)


def _b(s: str) -> tuple:
    return tuple(s.encode())


def _table(names: dict) -> tuple[np.ndarray, np.ndarray]:
    """JSON strings of a code's names, indexed by code: (bytes, offsets) for copy_entry."""
    texts = [f'"{names[c]}"'.encode() if c in names else b'""' for c in range(max(names) + 1)]
    return np.frombuffer(b"".join(texts), np.uint8).copy(), np.cumsum([0] + [len(t) for t in texts]).astype(np.int64)


STATUS_JSON, STATUS_OFF = _table({int(k): v for k, v in STATUS_NAMES.items()})
SREASON_JSON, SREASON_OFF = _table({int(k): v for k, v in STATUS_REASON_NAMES.items()})
MARKET_JSON, MARKET_OFF = _table({int(v): k for k, v in MARKET_NAMES.items()})
OSTATE_JSON, OSTATE_OFF = _table({int(k): v for k, v in ORACLE_STATE_NAMES.items()})
SOURCE_JSON, SOURCE_OFF = _table({int(k): v for k, v in REF_SOURCE_NAMES.items()})


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
EV_STATUS = _b(',"ev":"status","sym":')
EV_IND = _b(',"ev":"indicative","sym":')
EV_UNCROSS = _b(',"ev":"uncross","sym":')
K_STATUS = _b(',"status":')
K_SREASON = _b(',"reason":')
K_UNTIL = _b(',"until":')
K_NULL = _b('null')
K_MATCHED = _b(',"matched":"')
K_IMB = _b('","imbalance":"')
K_IMB_SIDE = _b('","imb_side":')
K_LO = _b(',"lo":')
K_HI = _b(',"hi":')
EV_ORACLE = _b(',"ev":"oracle","sym":')
EV_BAND = _b(',"ev":"band","sym":')
K_REF = _b(',"ref":"')
K_MULT = _b('","mult":"')
K_MARKET = _b('","market":')
K_OTS = _b(',"ots":')
K_STATE = _b(',"state":')
K_LO_Q = _b('","lo":"')
K_HI_Q = _b('","hi":"')
K_SOURCE = _b('","source":')
K_MFEE = _b(',"maker_fee":"')
K_TFEE = _b('","taker_fee":"')
EV_BAL = _b(',"ev":"balance","acct":')
EV_DEP = _b(',"ev":"deposited","dep":')
EV_WDR = _b(',"ev":"withdrawn","wid":')
EV_FEES = _b(',"ev":"fees","tier":')
EV_TIER = _b(',"ev":"tier","acct":')
K_ACCT = _b(',"acct":')
K_ASSET = _b(',"asset":')
K_TOTAL = _b(',"total":"')
K_HELD = _b('","held":"')
K_AMOUNT = _b(',"amount":"')
K_MAKER_BPS = _b(',"maker_bps":"')
K_TAKER_BPS = _b('","taker_bps":"')
K_TIER = _b(',"tier":')
K_DEP = _b(',"dep":')


@njit(cache=True, _nrt=False, inline="always")
def _put(out, p, text):
    for b in text:
        out[p] = b
        p += 1
    return p


@njit(cache=True, _nrt=False)
def _signed(out, p, v, places):
    """An amount with exactly `places` decimals, '-' only when negative (docs/balances.md 2)."""
    if v < 0:
        out[p] = 45
        p += 1
        v = -v
    return write_decimal_text(out, p, v, 1, places)


@njit(cache=True, _nrt=False, nogil=True)
def encode(ev, first_seq, out, sym_json, sym_off, px_units, px_places, qty_units, qty_places,
           acct_json, acct_off, reason_json, reason_off, asset_json, asset_off, asset_dec, fee_dec):
    """Write the JSON line of every event into out; returns the bytes written.

    asset_json/asset_off: the assets' names as JSON, asset_dec their decimals, fee_dec each instrument's
    quote decimals (risk on only; a command's balance events arrive already in the contract's order)."""
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
            if e.flags & FEES_FLAG:
                p = _put(out, p, K_MFEE)
                p = _signed(out, p, e.open, fee_dec[s])
                p = _put(out, p, K_TFEE)
                p = _signed(out, p, e.line, fee_dec[s])
                p = _put(out, p, QUOTE)
        elif k == BALANCE:
            p = _put(out, p, EV_BAL)
            p = copy_entry(out, p, acct_json, acct_off, e.acct)
            p = _put(out, p, K_ASSET)
            p = copy_entry(out, p, asset_json, asset_off, s)
            p = _put(out, p, K_TOTAL)
            p = _signed(out, p, e.qty, asset_dec[s])
            p = _put(out, p, K_HELD)
            p = _signed(out, p, e.open, asset_dec[s])
            p = _put(out, p, QUOTE)
        elif k == DEPOSITED or k == WITHDRAWN:
            p = _put(out, p, EV_DEP) if k == DEPOSITED else _put(out, p, EV_WDR)
            p = write_int_text(out, p, e.oid)
            p = _put(out, p, K_ACCT)
            p = copy_entry(out, p, acct_json, acct_off, e.acct)
            p = _put(out, p, K_ASSET)
            p = copy_entry(out, p, asset_json, asset_off, s)
            p = _put(out, p, K_AMOUNT)
            p = _signed(out, p, e.qty, asset_dec[s])
            p = _put(out, p, QUOTE)
        elif k == FEES_EV:
            p = _put(out, p, EV_FEES)
            p = write_int_text(out, p, e.oid)
            p = _put(out, p, K_MAKER_BPS)
            p = _signed(out, p, e.px, 2)
            p = _put(out, p, K_TAKER_BPS)
            p = _signed(out, p, e.qty, 2)
            p = _put(out, p, QUOTE)
        elif k == TIER_EV:
            p = _put(out, p, EV_TIER)
            p = copy_entry(out, p, acct_json, acct_off, e.acct)
            p = _put(out, p, K_TIER)
            p = write_int_text(out, p, e.oid)
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
        elif k == STATUS:
            p = _put(out, p, EV_STATUS)
            p = copy_entry(out, p, sym_json, sym_off, s)
            p = _put(out, p, K_STATUS)
            p = copy_entry(out, p, STATUS_JSON, STATUS_OFF, e.side)
            p = _put(out, p, K_SREASON)
            p = copy_entry(out, p, SREASON_JSON, SREASON_OFF, e.reason)
            p = _put(out, p, K_UNTIL)
            p = write_int_text(out, p, e.open) if LIMIT_UP <= e.side <= CALL else _put(out, p, K_NULL)
        elif k == INDICATIVE:
            p = _put(out, p, EV_IND)
            p = copy_entry(out, p, sym_json, sym_off, s)
            if e.flags & HAS_PX:
                p = _put(out, p, K_PX)
                p = write_decimal_text(out, p, e.px, px_units[s], px_places[s])
                p = _put(out, p, QUOTE)
            else:
                p = _put(out, p, K_PX_NULL)
            p = _put(out, p, K_MATCHED)
            p = write_decimal_text(out, p, e.qty, qty_units[s], qty_places[s])
            p = _put(out, p, K_IMB)
            p = write_decimal_text(out, p, e.open, qty_units[s], qty_places[s])
            p = _put(out, p, K_IMB_SIDE)
            if e.side == 0:
                p = _put(out, p, BUY)
            elif e.side == 1:
                p = _put(out, p, SELL)
            else:
                p = _put(out, p, K_NULL)
            for j in range(2):
                p = _put(out, p, K_LO) if j == 0 else _put(out, p, K_HI)
                if e.flags & BAND_ON:
                    p = _put(out, p, QUOTE)
                    p = write_decimal_text(out, p, e.maker if j == 0 else e.maker_acct, px_units[s], px_places[s])
                    p = _put(out, p, QUOTE)
                else:
                    p = _put(out, p, K_NULL)
            p = _put(out, p, K_UNTIL)
            p = write_int_text(out, p, e.acct)
        elif k == ORACLE:
            p = _put(out, p, EV_ORACLE)
            p = copy_entry(out, p, sym_json, sym_off, s)
            p = _put(out, p, K_REF)
            p = write_decimal_text(out, p, e.px, px_units[s], px_places[s])
            p = _put(out, p, K_MULT)
            if e.maker >= 0:
                p = write_int_text(out, p, e.qty * POW10[e.maker])
            else:
                p = write_decimal_text(out, p, e.qty, 1, -e.maker)
            p = _put(out, p, K_MARKET)
            p = copy_entry(out, p, MARKET_JSON, MARKET_OFF, e.side)
            p = _put(out, p, K_OTS)
            p = write_int_text(out, p, e.open)
            p = _put(out, p, K_STATE)
            p = copy_entry(out, p, OSTATE_JSON, OSTATE_OFF, e.reason)
        elif k == BAND:
            p = _put(out, p, EV_BAND)
            p = copy_entry(out, p, sym_json, sym_off, s)
            p = _put(out, p, K_REF)
            p = write_decimal_text(out, p, e.px, px_units[s], px_places[s])
            p = _put(out, p, K_LO_Q)
            p = write_decimal_text(out, p, e.maker, px_units[s], px_places[s])
            p = _put(out, p, K_HI_Q)
            p = write_decimal_text(out, p, e.maker_acct, px_units[s], px_places[s])
            p = _put(out, p, K_SOURCE)
            p = copy_entry(out, p, SOURCE_JSON, SOURCE_OFF, e.reason)
        elif k == UNCROSS:
            p = _put(out, p, EV_UNCROSS)
            p = copy_entry(out, p, sym_json, sym_off, s)
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
            elif e.flags & DEP:
                p = _put(out, p, K_DEP)
                p = write_int_text(out, p, e.oid)
        if e.flags & HAS_TS:
            p = _put(out, p, K_TS)
            p = write_int_text(out, p, e.ts)
        p = _put(out, p, END)
    return p
