"""The numba fast path of order entry (gateway/fastentry.py) against the Python decoder.

The contract: `parse` gives rows only for a frame the Python decoder reads as a batch of new orders
that all have reject reason 0, and then exactly the decoder's values; for everything else it answers
FALLBACK (which it may also do for a frame the decoder accepts: that is only a missed optimization).
`commit` (venue/orderrows.py) writes the same command and meta records the Python session stage writes
with the Sequencer's named builders.
"""
from __future__ import annotations

import random
import struct
from types import SimpleNamespace

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kabuto.engine.codes import Flag, Op, OrdType, Reason, Stp, Tif
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.decoder import COMMANDS, Decoder
from kabuto.gateway.errors import ProtocolError
from kabuto.gateway.fastentry import FALLBACK, HEAD, parse, word_table
from kabuto.venue.accounts import new_order
from kabuto.venue.commands import C_CANCEL, C_NEW
from kabuto.venue.orderrows import (
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
from kabuto.venue.sequencer import CL_TEXT, META_DTYPE, Sequencer

INSTRUMENTS = load_instruments()
SYMBOLS = [i.symbol for i in INSTRUMENTS]
WORDS, WORD_OFF = word_table(INSTRUMENTS)
MAX_BATCH = 17  # above 15, so batches also come as msgpack array16
ROWS = MAX_BATCH + 4  # more rows than max_batch: parse must check max_batch itself
DECODER = Decoder(INSTRUMENTS, MAX_BATCH)
MAX_U63 = 2**63 - 1
NEW, REJECT = int(Op.NEW), int(Op.REJECT)
LIMIT, MARKET = int(OrdType.LIMIT), int(OrdType.MARKET)
GTC, IOC, FOK = int(Tif.GTC), int(Tif.IOC), int(Tif.FOK)
FAST = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------- helpers

def fast(payload: bytes, max_batch: int = MAX_BATCH, n_rows: int = ROWS):
    """(count, batch req, rows) from parse; the rows start as garbage so unwritten fields show."""
    b = np.frombuffer(payload, np.uint8)
    rows = np.full((n_rows, N_FIELDS), -99, np.int64)
    out = parse(b, len(b), WORDS, WORD_OFF, len(SYMBOLS), max_batch, rows)
    k = int(out[0])
    if len(out) > 2 and k > 0:  # (count, batch req, how many client order ids are text)
        assert out[2] == sum(int(r[F_CLKIND]) == 2 for r in rows[:k]), payload
    return k, int(out[1]), rows


def row_values(row, payload: bytes) -> tuple:
    """A parsed row as the decoder's (req, cl, sym, side, otype, tif, stp, pm, pe, qm, qe)."""
    kind = row[F_CLKIND]
    if kind == 1:
        cl = int(row[F_CLINT])
    else:
        assert kind == 2, f"client order id kind {kind}"
        a, e = int(row[F_CLA]), int(row[F_CLB])
        assert 0 <= a < e <= len(payload)
        cl = payload[a:e].decode()
    return (int(row[F_REQ]), cl, *(int(row[f]) for f in (F_SYM, F_SIDE, F_TYPE, F_TIF, F_STP, F_PM, F_PE, F_QM,
                                                         F_QE)))


def decoded_new_orders(payload: bytes, decoder: Decoder = DECODER):
    """(req, commands) when the decoder reads a batch of new orders without a reject reason, else None."""
    try:
        kind, req, body = decoder.decode(payload)
    except ProtocolError:
        return None
    if kind != COMMANDS or any(c[0] != C_NEW or c[13] != 0 for c in body):
        return None
    return req, body


def expected_rows(body: list) -> list[tuple]:
    return [(c[1], c[2], *c[3:12]) for c in body]


def check_contract(payload: bytes) -> str:
    """Assert the fast path's contract on one frame; returns "fallback" or "rows"."""
    if not payload.startswith(HEAD):
        return check_single(payload)  # anything but a batch frame: at most one new order
    k, req, rows = fast(payload)
    want = decoded_new_orders(payload)
    if k == FALLBACK:
        return "fallback"
    assert want is not None, f"parse gave {k} rows for a frame the decoder refuses or rejects: {payload!r}"
    wreq, body = want
    assert (k, req) == (len(body), wreq), payload
    got = [row_values(r, payload) for r in rows[:k]]
    assert got == expected_rows(body), payload
    assert [type(g[1]) for g in got] == [type(c[2]) for c in body]
    return "rows"


def check_and_label(payload: bytes) -> str:
    out = check_contract(payload)
    event(out)
    return out


# ---------------------------------------------------------------------------- msgpack in any width

class RawStr(bytes):
    """Bytes written as a msgpack str (so they may be invalid UTF-8)."""


NOT_UTF8 = [RawStr(b"\xff"), RawStr(b"a\xc3"), RawStr(b"\xed\xa0\x80"), RawStr(b"buy\x80")]


def _int_forms(v: int) -> list[bytes]:
    forms = []
    if 0 <= v < 128:
        forms.append(bytes([v]))
    if -32 <= v < 0:
        forms.append(struct.pack(">b", v))
    for code, fmt, lo, hi in ((0xCC, ">B", 0, 2**8 - 1), (0xCD, ">H", 0, 2**16 - 1), (0xCE, ">I", 0, 2**32 - 1),
                              (0xCF, ">Q", 0, 2**64 - 1), (0xD0, ">b", -2**7, 2**7 - 1),
                              (0xD1, ">h", -2**15, 2**15 - 1), (0xD2, ">i", -2**31, 2**31 - 1),
                              (0xD3, ">q", -2**63, 2**63 - 1)):
        if lo <= v <= hi:
            forms.append(bytes([code]) + struct.pack(fmt, v))
    return forms


def _sized(data: bytes, fix: int | None, fix_max: int, codes: tuple[int, int, int]) -> list[bytes]:
    n = len(data)
    forms = [bytes([fix + n]) + data] if fix is not None and n <= fix_max else []
    forms.append(bytes([codes[0]]) + struct.pack(">B", n) + data if n < 2**8 else b"")
    forms.append(bytes([codes[1]]) + struct.pack(">H", n) + data if n < 2**16 else b"")
    forms.append(bytes([codes[2]]) + struct.pack(">I", n) + data)
    return [f for f in forms if f]


def wide_packb(obj, rnd: random.Random, odd: float = 0.2) -> bytes:
    """msgpack of obj where each value takes, with probability odd, a randomly chosen valid encoding
    (else the shortest one, which msgpack.packb writes)."""
    def _pick(forms: list[bytes], rnd: random.Random) -> bytes:
        return rnd.choice(forms) if rnd.random() < odd else forms[0]

    if obj is None:
        return b"\xc0"
    if obj is True or obj is False:
        return b"\xc3" if obj else b"\xc2"
    if type(obj) is int:
        return _pick(_int_forms(obj), rnd)
    if type(obj) is float:
        forms = [b"\xcb" + struct.pack(">d", obj)]
        if struct.unpack(">f", struct.pack(">f", obj))[0] == obj:
            forms.append(b"\xca" + struct.pack(">f", obj))
        return _pick(forms, rnd)
    if isinstance(obj, RawStr) or type(obj) is str:
        data = bytes(obj) if isinstance(obj, RawStr) else obj.encode()
        return _pick(_sized(data, 0xA0, 31, (0xD9, 0xDA, 0xDB)), rnd)
    if type(obj) is bytes:
        return _pick(_sized(obj, None, 0, (0xC4, 0xC5, 0xC6)), rnd)
    if type(obj) is list:
        n = len(obj)
        heads = ([bytes([0x90 + n])] if n < 16 else []) + [b"\xdc" + struct.pack(">H", n),
                                                            b"\xdd" + struct.pack(">I", n)]
        return _pick(heads, rnd) + b"".join(wide_packb(v, rnd, odd) for v in obj)
    if type(obj) is dict:
        return bytes([0x80 + len(obj)]) + b"".join(wide_packb(k, rnd, odd) + wide_packb(v, rnd, odd)
                                                 for k, v in obj.items())
    raise TypeError(obj)


# ---------------------------------------------------------------------------- pieces of frames

def decimal_text(mant: int, exp: int, lead: int, trail: int) -> str:
    """A decimal string of mant * 10**-exp with extra leading and trailing zeros."""
    digits = str(mant).rjust(exp + 1, "0")
    whole, frac = digits[:len(digits) - exp], digits[len(digits) - exp:]
    frac += "0" * trail
    return "0" * lead + whole + ("." + frac if frac else "")


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
NOT_PRINTABLE_ASCII = st.characters(max_codepoint=0x1F) | st.characters(min_codepoint=0x7F, codec="utf-8")
VALID_DECIMAL = st.one_of(
    st.builds(decimal_text, st.integers(1, 10**15), st.integers(0, 9), st.integers(0, 3), st.integers(0, 3)),
    st.sampled_from(["250.10", "0.001", "007.50", "1.000", "30000", "1", "0." + "0" * 37 + "1", "0" * 39 + "1",
                     str(2**62 - 1), "461168601842.7387903"]),
    st.integers(1, 2**62 - 1),
    st.sampled_from([1, 127, 128, 255, 256, 65535, 65536, 2**32, 2**62 - 1]),
)
INVALID_DECIMAL = st.one_of(
    st.sampled_from(["250.", ".5", "1e3", "-1", "", "1.2.3", "1" * 41, "9" * 25, "0", "0.0", "000", str(2**62),
                     "1" * 40, "+1", " 1", "1 ", "\u0661", "1,5", "0x10", ".", "1..2", "\uff11", "1.5\x00"]),
    st.from_regex(r"\A[0-9.eE+-]{0,6}\Z"),
    st.text(max_size=6),
    st.sampled_from([0, -1, -2**63, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 1.5, 0.0, 250.1, None, True, False,
                     b"1", [1], {}]),
)
VALID_CL = st.one_of(
    st.sampled_from([0, 1, 127, 128, MAX_U63, "a", "x" * 31, "x" * 32, "x" * 36, " ", "~~"]),
    st.integers(0, MAX_U63),
    st.text(PRINTABLE, min_size=1, max_size=36),
)
INVALID_CL = st.one_of(
    st.sampled_from([2**63, 2**64 - 1, -1, -2**63, "", "x" * 37, "\u00e9", "ordre-\u00e9", "a\x00b", "\x7f",
                     "tab\there", "new\nline", "\u3042" * 12, None, True, False, 1.5, b"bin", [1]]),
    st.integers(-2**63, -1),
    st.builds(lambda a, c, b: a + c + b, st.text(PRINTABLE, max_size=3), NOT_PRINTABLE_ASCII,
              st.text(PRINTABLE, max_size=3)),
)
VALID_REQ = st.integers(0, MAX_U63) | st.sampled_from([0, 127, 128, 2**32, MAX_U63])
INVALID_REQ = st.sampled_from([2**63, 2**64 - 1, -1, -2**63, None, "1", 1.0, True, [1]])
SIDE_NAMES = ["buy", "sell"]
TIF_NAMES = ["GTC", "IOC", "FOK", "POST"]
STP_NAMES = ["cancel_oldest", "cancel_newest", "cancel_both", "decrement"]
ANY_WORD = st.sampled_from(SYMBOLS + SIDE_NAMES + ["limit", "market", "new"] + TIF_NAMES + STP_NAMES)

# what may replace field j of a new order (["new", req, cl, sym, side, type, px, qty, tif, stp]): mostly wrong
# values, some right ones in the wrong place
FIELD_FAULTS = [
    st.sampled_from(["NEW", "New", "news", "cancel", "amend", "mass_cancel", "", b"new", 0, None]),
    INVALID_REQ,
    INVALID_CL,
    st.sampled_from(["XYZ-USD", "btc-usd", "BTC-USD ", "", "BTC-USDx", "BTC", "TSLAX-USD", "ETH-US", None, 1,
                     b"BTC-USD", ["BTC-USD"]]),
    st.sampled_from(["BUY", "Sell", "", "bid", "buyx", "bu", 0, 1, None, b"buy"]),
    st.sampled_from(["LIMIT", "Market", "stop", "", "limits", 0, 1, None, b"limit"]),
    INVALID_DECIMAL,
    INVALID_DECIMAL,
    st.sampled_from(["gtc", "Ioc", "DAY", "", "POSTX", "POST", "FOK", 0, 3, 1.0, True, b"GTC"]),
    st.sampled_from(["CANCEL_OLDEST", "keep_both", "", "none", "decrement ", 0, 1, b"decrement"]),
]
OTHER_ITEMS = st.one_of(
    st.builds(lambda r, c: ["cancel", r, c], VALID_REQ, VALID_CL),
    st.builds(lambda r, c, p, q: ["amend", r, c, p, q], VALID_REQ, VALID_CL, st.none() | VALID_DECIMAL,
              st.none() | VALID_DECIMAL),
    st.builds(lambda r, s, d: ["mass_cancel", r, s, d], VALID_REQ, st.none() | st.sampled_from(SYMBOLS),
              st.sampled_from([None, "buy", "sell"])),
    st.sampled_from([5, "new", None, {}, [], ["new"], ["new", 1], {"new": 1}, b"new"]),
)


@st.composite
def valid_new_items(draw):
    """A new order the decoder accepts with reason 0, in the wire forms the fast path is meant to take."""
    otype = draw(st.sampled_from(["limit", "market"]))
    if otype == "limit":
        px = draw(VALID_DECIMAL)
        tif = draw(st.sampled_from(TIF_NAMES + [None]))
    else:
        # an ignored price: any ASCII text (the fast path leaves other text to the decoder's UTF-8 check)
        px = draw(st.one_of(st.none(), VALID_DECIMAL, st.text(st.characters(max_codepoint=0x7F), max_size=8),
                            st.sampled_from(["0", "-1", "abc", ""]), st.integers(0, MAX_U63)))
        tif = draw(st.sampled_from(["GTC", "IOC", "FOK", None]))
    item = ["new", draw(VALID_REQ), draw(VALID_CL), draw(st.sampled_from(SYMBOLS)), draw(st.sampled_from(SIDE_NAMES)),
            otype, px, draw(VALID_DECIMAL), tif, draw(st.sampled_from(STP_NAMES + [None]))]
    return item[:draw(st.sampled_from([8, 9, 10]))]


VALID_FRAMES = st.builds(lambda r, items: ["batch", r, items], VALID_REQ,
                         st.lists(valid_new_items(), min_size=1, max_size=MAX_BATCH))


def _fault(draw, frame: list) -> list:
    """frame with one fault: a wrong field, item, length, count, request id or shape."""
    items = frame[2] if type(frame) is list and len(frame) == 3 and type(frame[2]) is list else None
    what = draw(st.sampled_from(["field"] * 6 + ["swap"] * 2 + ["length", "item", "count", "breq", "shape"]))
    if what in ("field", "swap", "length", "item") and items:
        i = draw(st.integers(0, len(items) - 1))
        item = items[i]
        if what == "item" or type(item) is not list:
            items[i] = draw(OTHER_ITEMS)
        elif what == "length" and draw(st.booleans()):
            items[i] = (item + [None] * 3)[:10] + [draw(st.sampled_from([None, "x", 0]))]  # 11 elements
        elif what == "length":
            items[i] = item[:7]
        else:
            j = draw(st.integers(0, 9))
            item.extend([None] * (j + 1 - len(item)))
            item[j] = draw(FIELD_FAULTS[j] if what == "field" else ANY_WORD | VALID_DECIMAL)
        return frame
    if what == "count" and items is not None:
        if draw(st.booleans()):
            items.clear()
        else:
            more = max(0, MAX_BATCH + 1 - len(items))
            items.extend(draw(st.lists(valid_new_items(), min_size=more, max_size=more + 1)))
        return frame
    if what == "breq" and type(frame) is list and len(frame) > 1:
        frame[1] = draw(INVALID_REQ)
        return frame
    shape = draw(st.sampled_from(["extra", "short", "kind", "not_list", "single"]))
    if shape == "extra":
        return frame + [None]
    if shape == "short":
        return frame[:2]
    if shape == "kind":
        return [draw(st.sampled_from(["Batch", "batchx", "new", b"batch"])), *frame[1:]]
    if shape == "not_list":
        return frame[:2] + [draw(st.sampled_from([None, "x", {}, 1]))]
    return draw(valid_new_items())


@st.composite
def frames(draw):
    """A valid batch frame of new orders with none, one or a few faults."""
    frame = draw(VALID_FRAMES)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 2, 3]))):
        frame = _fault(draw, frame)
    return frame


# ---------------------------------------------------------------------------- properties

@FAST
@given(frames())
def test_parse_gives_rows_only_for_what_the_decoder_accepts_and_exactly_its_values(frame):
    check_and_label(msgpack.packb(frame))


def check_single(payload: bytes) -> str:
    """The contract for a frame sent outside a batch: one row only for a new order the decoder
    takes without a reject reason, with its values (the batch req is 0)."""
    k, breq, rows = fast(payload)
    want = decoded_new_orders(payload)
    if k == FALLBACK:
        return "fallback"
    assert want is not None and len(want[1]) == 1, f"parse read a frame the decoder refuses: {payload!r}"
    assert (k, breq) == (1, 0), payload
    assert [row_values(rows[0], payload)] == expected_rows(want[1]), payload
    return "rows"


@FAST
@given(frames(), st.randoms(use_true_random=False))
def test_a_new_order_sent_alone_is_parsed_only_when_the_decoder_takes_it_and_like_it(frame, rnd):
    items = frame[2] if type(frame) is list and len(frame) == 3 and type(frame[2]) is list else [frame]
    for item in items[:5]:
        event(check_single(wide_packb(item, rnd, rnd.choice([0.0, 0.1]))))


def test_a_valid_new_order_sent_alone_takes_the_fast_path():
    payload = msgpack.packb(["new", 9, "abc", "BTC-USD", "sell", "limit", "30000.5", "0.25", "IOC"])
    assert check_single(payload) == "rows"


@FAST
@given(frames(), st.randoms(use_true_random=False))
def test_parse_keeps_the_contract_with_any_msgpack_widths_and_raw_strings(frame, rnd):
    if rnd.random() < 0.2 and type(frame) is list and len(frame) == 3 and type(frame[2]) is list and frame[2]:
        item = rnd.choice(frame[2])
        if type(item) is list and len(item) > 2:
            item[rnd.randrange(2, len(item))] = rnd.choice(NOT_UTF8)
    check_and_label(wide_packb(frame, rnd, rnd.choice([0.0, 0.02, 0.1, 0.5])))


@FAST
@given(VALID_FRAMES)
def test_valid_batches_of_new_orders_take_the_fast_path_with_the_decoders_values(frame):
    payload = msgpack.packb(frame)
    assert check_contract(payload) == "rows"


@FAST
@given(VALID_FRAMES, st.randoms(use_true_random=False))
def test_valid_batches_in_other_msgpack_widths_are_never_misread(frame, rnd):
    check_and_label(wide_packb(frame, rnd, rnd.choice([0.02, 0.1, 0.5, 1.0])))


@FAST
@given(VALID_FRAMES, st.data())
def test_a_valid_frame_with_trailing_bytes_or_cut_short_falls_back(frame, data):
    payload = msgpack.packb(frame)
    extra = data.draw(st.binary(min_size=1, max_size=4))
    cut = data.draw(st.integers(0, len(payload) - 1))
    assert fast(payload + extra)[0] == FALLBACK
    assert fast(payload[:cut])[0] == FALLBACK


@FAST
@given(VALID_FRAMES, st.data())
def test_a_valid_frame_with_one_byte_changed_inserted_or_dropped_is_never_misread(frame, data):
    payload = bytearray(msgpack.packb(frame))
    at = data.draw(st.integers(0, len(payload) - 1))
    how = data.draw(st.sampled_from(["change", "insert", "drop"]))
    if how == "change":
        payload[at] = data.draw(st.integers(0, 255))
    elif how == "insert":
        payload.insert(at, data.draw(st.integers(0, 255)))
    else:
        del payload[at]
    check_and_label(bytes(payload))


# ---------------------------------------------------------------------------- examples

def batch(*items, req=7) -> bytes:
    return msgpack.packb(["batch", req, list(items)])


def test_a_valid_batch_of_new_orders_is_parsed_like_the_python_decoder():
    payload = batch(["new", 1, 11, "BTC-USD", "buy", "limit", "30000.50", "0.25"],
                    ["new", 2, "my-order-1", "ETH-USD", "sell", "limit", "2000", "1.5", "IOC", "cancel_both"],
                    ["new", 3, MAX_U63, "TSLAx-USD", "buy", "market", None, "3", None, None],
                    req=99)
    k, req, rows = fast(payload)
    assert (k, req) == (3, 99)
    assert [row_values(r, payload) for r in rows[:k]] == [
        (1, 11, SYMBOLS.index("BTC-USD"), 0, LIMIT, GTC, int(Stp.CANCEL_OLDEST), 300005, -1, 25, -2),
        (2, "my-order-1", SYMBOLS.index("ETH-USD"), 1, LIMIT, IOC, int(Stp.CANCEL_BOTH), 2000, 0, 15, -1),
        (3, MAX_U63, SYMBOLS.index("TSLAx-USD"), 0, MARKET, IOC, int(Stp.CANCEL_OLDEST), 0, 0, 3, 0)]
    assert check_contract(payload) == "rows"


def test_a_batch_of_sixteen_orders_in_an_array16_is_parsed():
    payload = batch(*(["new", i, i, "BTC-USD", "buy", "limit", f"{100 + i}.5", "1"] for i in range(16)))
    assert payload[8] == 0xDC
    assert check_contract(payload) == "rows"


@pytest.mark.parametrize("text,parts", [("250.10", (2501, -1)), ("0.001", (1, -3)), ("007.50", (75, -1)),
                                        ("1.000", (1, 0)), ("30000", (30000, 0)), (2**62 - 1, (2**62 - 1, 0)),
                                        ("0" * 39 + "1", (1, 0)), ("0." + "0" * 37 + "1", (1, -38))])
def test_prices_and_quantities_are_read_exactly(text, parts):
    payload = batch(["new", 1, 1, "BTC-USD", "buy", "limit", text, text])
    k, _, rows = fast(payload)
    assert k == 1
    assert (rows[0, F_PM], rows[0, F_PE]) == parts and (rows[0, F_QM], rows[0, F_QE]) == parts
    assert check_contract(payload) == "rows"


@pytest.mark.parametrize("value", ["250.", ".5", "1e3", "-1", "", "1.2.3", "1" * 41, "9" * 25, "0", "0.000",
                                   str(2**62), 0, 2**62, 2**64 - 1, -1, 1.5, None, True, "\u0661"])
def test_a_price_or_quantity_that_is_not_a_positive_decimal_falls_back(value):
    assert fast(batch(["new", 1, 1, "BTC-USD", "buy", "limit", value, "1"]))[0] == FALLBACK
    assert fast(batch(["new", 1, 1, "BTC-USD", "buy", "limit", "1", value]))[0] == FALLBACK


def test_an_unknown_symbol_falls_back():
    payload = batch(["new", 1, 1, "BTC-USD", "buy", "limit", "1", "1"],
                    ["new", 2, 2, "XYZ-USD", "buy", "limit", "1", "1"])
    assert DECODER.decode(payload)[2][1][13] == int(Reason.UNKNOWN_SYMBOL)
    assert fast(payload)[0] == FALLBACK


@pytest.mark.parametrize("cl", [2**63, -1, "", "x" * 37, "\u00e9t\u00e9", "a\x00", "\x7f", None, 1.5, b"id"])
def test_a_client_order_id_the_decoder_refuses_falls_back(cl):
    payload = batch(["new", 1, cl, "BTC-USD", "buy", "limit", "1", "1"])
    assert decoded_new_orders(payload) is None
    assert fast(payload)[0] == FALLBACK


def test_trailing_bytes_fall_back():
    payload = batch(["new", 1, 1, "BTC-USD", "buy", "limit", "1", "1"])
    assert fast(payload)[0] == 1
    for extra in (b"\x00", b"\xc0", payload):
        with pytest.raises(ProtocolError):
            DECODER.decode(payload + extra)
        assert fast(payload + extra)[0] == FALLBACK


def test_a_truncated_frame_falls_back():
    payload = batch(["new", 1, "abc", "BTC-USD", "buy", "limit", "1.5", "2", "GTC", "decrement"])
    for cut in range(len(payload)):
        assert fast(payload[:cut])[0] == FALLBACK


@pytest.mark.parametrize("tif,expected", [(None, IOC), ("GTC", IOC), ("IOC", IOC), ("FOK", FOK)])
def test_market_order_tif_rules_match_the_decoder(tif, expected):
    payload = batch(["new", 1, 1, "BTC-USD", "sell", "market", "whatever", "1", tif])
    k, _, rows = fast(payload)
    assert k == 1 and rows[0, F_TIF] == expected
    assert check_contract(payload) == "rows"


def test_a_post_only_market_order_is_a_bad_tif_and_falls_back():
    payload = batch(["new", 1, 1, "BTC-USD", "sell", "market", None, "1", "POST"])
    assert DECODER.decode(payload)[2][0][13] == int(Reason.BAD_TIF)
    assert fast(payload)[0] == FALLBACK


@pytest.mark.parametrize("tif,stp", [("DAY", None), ("gtc", None), (0, None), ("GTC", "keep_both"),
                                     (None, "CANCEL_OLDEST"), (None, 1)])
def test_a_bad_tif_or_stp_falls_back(tif, stp):
    payload = batch(["new", 1, 1, "BTC-USD", "buy", "limit", "1", "1", tif, stp])
    assert DECODER.decode(payload)[2][0][13] in (int(Reason.BAD_TIF), int(Reason.BAD_STP))
    assert fast(payload)[0] == FALLBACK


@pytest.mark.parametrize("other", [["cancel", 2, 1], ["amend", 2, 1, "2", None], ["mass_cancel", 2, None, None],
                                   ["new", 2, 1, "BTC-USD", "buy", "limit", "1"], ["new", 2, 1, "BTC-USD", "up",
                                                                                   "limit", "1", "1"]])
def test_a_batch_with_anything_but_valid_new_orders_falls_back(other):
    assert fast(batch(["new", 1, 1, "BTC-USD", "buy", "limit", "1", "1"], other))[0] == FALLBACK


def test_an_empty_batch_or_one_over_max_batch_falls_back():
    order = ["new", 1, 1, "BTC-USD", "buy", "limit", "1", "1"]
    assert fast(batch())[0] == FALLBACK
    assert fast(batch(*[order] * MAX_BATCH))[0] == MAX_BATCH
    over = batch(*[order] * (MAX_BATCH + 1))
    with pytest.raises(ProtocolError):
        DECODER.decode(over)
    assert fast(over)[0] == FALLBACK


def test_a_batch_request_id_out_of_range_falls_back():
    order = ["new", 1, 1, "BTC-USD", "buy", "limit", "1", "1"]
    assert fast(batch(order, req=MAX_U63))[:2] == (1, MAX_U63)
    for req in (2**63, -1, None, "1"):
        assert fast(batch(order, req=req))[0] == FALLBACK


def test_a_market_order_price_that_is_not_utf8_falls_back():
    payload = batch(["new", 1, "a", "BTC-USD", "buy", "market", "x", "1"]).replace(b"\xa1x", b"\xa1\xff")
    with pytest.raises(ProtocolError):
        DECODER.decode(payload)
    assert fast(payload)[0] == FALLBACK


# ---------------------------------------------------------------------------- commit

ACCT = 42
SESSION = SimpleNamespace(slot=3, account=SimpleNamespace(id=ACCT))


def parsed(payload: bytes):
    k, _, rows = fast(payload)
    assert k > 0
    return k, rows, np.frombuffer(payload, np.uint8)


COMMIT_FRAME = batch(["new", 10, 5, "BTC-USD", "buy", "limit", "30000.5", "0.25", "IOC", "decrement"],
                     ["new", 11, "text-id-" + "x" * 28, "ETH-USD", "sell", "market", None, "2", "FOK"],
                     ["new", 12, "short", "TSLAx-USD", "sell", "limit", "250", "1"])


def committed(oids: list[int], seq: Sequencer | None = None, reason: int = int(Reason.TOO_MANY_ORDERS)):
    seq = seq or Sequencer(8)
    k, rows, b = parsed(COMMIT_FRAME)
    start, t0, cmds, cm = seq.place(k)
    commit(rows, k, b, np.array(oids, np.int64), ACCT, SESSION.slot, t0, start, cmds, cm, reason)
    return start, t0, cmds[start:start + k].copy(), cm[start:start + k].copy()


def test_commit_writes_a_new_command_with_the_parsed_fields_for_an_order_with_an_engine_id():
    _, body = decoded_new_orders(COMMIT_FRAME)
    start, t0, cmds, _ = committed([7, 8, 9])
    for i, (c, d, oid) in enumerate(zip(cmds, body, [7, 8, 9])):
        _, _, _, sym, side, otype, tif, stp, pm, pe, qm, qe, _, _ = d
        assert (c["op"], c["side"], c["otype"], c["tif"], c["stp"], c["reason"]) == (NEW, side, otype, tif, stp, 0)
        assert (c["pexp"], c["qexp"], c["px"], c["qty"]) == (pe, qe, pm, qm)
        assert (c["sym"], c["oid"], c["acct"], c["flags"], c["pad"], c["line"]) == (sym, oid, ACCT, int(Flag.HAS_TS),
                                                                                   0, 0)
        assert c["ts"] == t0 + start + i


def test_commit_writes_a_reject_with_the_given_reason_for_an_order_without_an_engine_id():
    _, body = decoded_new_orders(COMMIT_FRAME)
    start, t0, cmds, _ = committed([7, 0, 0], reason=int(Reason.TOO_MANY_ORDERS))
    assert cmds[0]["op"] == NEW
    for i in (1, 2):
        c, d = cmds[i], body[i]
        assert (c["op"], c["reason"], c["side"], c["sym"], c["acct"], c["ts"]) == (
            REJECT, int(Reason.TOO_MANY_ORDERS), d[4], d[3], ACCT, t0 + start + i)
        assert (c["otype"], c["tif"], c["stp"], c["pexp"], c["qexp"], c["oid"], c["px"], c["qty"]) == (0,) * 8
        assert c["flags"] == int(Flag.HAS_TS)


def test_commit_writes_the_meta_of_each_order_for_the_fan_out():
    _, body = decoded_new_orders(COMMIT_FRAME)
    _, _, _, cm = committed([7, 0, 9])
    for m, d in zip(cm, body):
        cl = d[2]
        assert (m["sess"], m["req"], m["ck"], m["sym"], m["side"], m["count"]) == (SESSION.slot, d[1], C_NEW, d[3],
                                                                                   d[4], 0)
        if type(cl) is int:
            assert (m["clkind"], m["clint"], m["cllen"]) == (1, cl, 0)
        else:
            assert (m["clkind"], m["clint"], m["cllen"]) == (2, 0, len(cl))
            assert bytes(m["cl"][:m["cllen"]]).decode() == cl


def test_commit_places_after_the_commands_already_in_the_batch_with_their_timestamps():
    seq = Sequencer(2)
    for _ in range(3):
        seq.cancel(SESSION, 1, C_CANCEL, new_order(1, 1, SESSION.account, SESSION, 1, 0))
    start, t0, cmds, _ = committed([7, 8, 9], seq)
    assert start == 3
    assert cmds["ts"].tolist() == [t0 + 3, t0 + 4, t0 + 5]


def test_commit_writes_the_same_records_as_the_python_session_stage():
    oids = [7, 0, 9]
    reason = int(Reason.TOO_MANY_ORDERS)
    _, body = decoded_new_orders(COMMIT_FRAME)
    py = Sequencer(8)
    for (_, req, cl, sym, side, otype, tif, stp, pm, pe, qm, qe, _, _), oid in zip(body, oids):
        rec = new_order(oid, cl, SESSION.account, SESSION, sym, side)
        if oid:
            py.new_order(SESSION, req, rec, otype=otype, tif=tif, stp=stp, px=pm, pexp=pe, qty=qm, qexp=qe)
        else:
            py.reject(SESSION, req, C_NEW, rec, cl, sym=sym, side=side, reason=reason)
    want = py.take()
    _, t0, cmds, cm = committed(oids, reason=reason)
    want_cmds = want.cmds.copy()
    want_cmds["ts"] -= want.t0
    cmds["ts"] -= t0
    assert cmds.tobytes() == want_cmds.tobytes()
    assert cm.dtype == META_DTYPE and cm["cl"].shape[1] == CL_TEXT
    assert cm.tobytes() == want.cm.tobytes()
