"""Execution reports as the wire carries them (docs/protocol.md, Execution reports), written by the compiled writers."""
from decimal import Decimal

import msgpack
import numpy as np
import pytest
from kabuto.engine.instruments import Instrument
from kabuto.gateway import protocol as P
from kabuto.gateway.frames import F_COLS, F_END, F_KIND, F_START, F_TARGET, FRAME_REPORTS
from kabuto.gateway.reports import (
    N_REPORTS,
    add_report,
    clear_reports,
    new_report_scratch,
    new_routes,
    write_report,
    write_report_frames,
)
from kabuto.gateway.wiretables import (
    S_ACCEPTED,
    S_CANCELED,
    S_FILL,
    S_MAKER,
    S_REJECTED,
    S_TAKER,
    wire_tables,
)
from kabuto.venue.orderrows import CL_INT, CL_NONE, CL_TEXT_KIND
from kabuto.venue.ordertable import CL_BYTES

INSTRUMENTS = [Instrument("TSLAx-USD", Decimal("0.01"), Decimal("0.001"), Decimal("0.010")),
               Instrument("AMZNx-USD", Decimal("0.05"), Decimal("1"), Decimal("1"))]
WIRE = wire_tables(INSTRUMENTS)
TSLA, AMZN = 0, 1
BUY, SELL = 0, 1
NO_CL = np.zeros(CL_BYTES, np.uint8)
R_USER, R_BAD_PRICE = P.REASON_CODES["user"], P.REASON_CODES["bad_price"]
ACCEPTED = dict(ev=S_ACCEPTED, seq=17, ts=1_700_000_000_000_000_123, req=5, cl_kind=CL_INT, cl_int=9, cl_len=0,
                cl_text=NO_CL, oid=1001, sym=TSLA, side=BUY, px=24510, qty=3000, open_=3000, reason=-1, role=-1)


def _cl_text(text: bytes) -> np.ndarray:
    buf = np.zeros(CL_BYTES, np.uint8)
    buf[:len(text)] = np.frombuffer(text, np.uint8)
    return buf


def _report(**fields):
    """(decoded report, raw bytes, req start, req end) of one report written at position 3."""
    f = {**ACCEPTED, **fields}
    out = np.zeros(512, np.uint8)
    end, req_start, req_end = write_report(out, 3, WIRE, f["ev"], f["seq"], f["ts"], f["req"], f["cl_kind"],
                                           f["cl_int"], f["cl_len"], f["cl_text"], f["oid"], f["sym"], f["side"],
                                           f["px"], f["qty"], f["open_"], f["reason"], f["role"])
    return msgpack.unpackb(bytes(out[3:end])), out, req_start, req_end


def test_an_accepted_report_holds_the_thirteen_fields_in_protocol_order():
    report = _report()[0]
    assert report == ["accepted", 17, 1_700_000_000_000_000_123, 5, 9, 1001, "TSLAx-USD", "buy", "245.10", "3.000",
                      "3.000", None, None]
    assert len(report) == len(P.REPORT_FIELDS)


def test_prices_and_quantities_have_the_instruments_places():
    report = _report(sym=AMZN, px=4903, qty=12, open_=0)[0]
    assert (report[P.R_PX], report[P.R_QTY], report[P.R_OPEN]) == ("245.15", "12", "0")


def test_a_market_order_is_accepted_with_a_nil_price():
    assert _report(px=-1)[0][P.R_PX] is None


def test_a_taker_fill_names_its_role_and_leaves_open():
    report = _report(ev=S_FILL, qty=1000, open_=2000, role=S_TAKER)[0]
    assert (report[P.R_EV], report[P.R_QTY], report[P.R_OPEN], report[P.R_ROLE]) == ("fill", "1.000", "2.000",
                                                                                       "taker")


def test_a_maker_fill_has_a_nil_req_and_its_own_side():
    report = _report(ev=S_FILL, req=-1, side=SELL, role=S_MAKER)[0]
    assert (report[P.R_REQ], report[P.R_SIDE], report[P.R_ROLE]) == (None, "sell", "maker")


def test_a_canceled_report_names_its_reason_and_has_no_price():
    report = _report(ev=S_CANCELED, px=-1, qty=3000, open_=0, reason=R_USER)[0]
    assert (report[P.R_EV], report[P.R_PX], report[P.R_OPEN], report[P.R_REASON]) == ("canceled", None, "0.000",
                                                                                        "user")


def test_a_rejected_report_of_an_unknown_symbol_has_nil_oid_sym_side_and_quantities():
    report = _report(ev=S_REJECTED, oid=-1, sym=-1, px=-1, qty=-1, open_=-1, reason=P.REASON_CODES["unknown_symbol"])[0]
    assert report[P.R_EV] == "rejected"
    assert report[P.R_OID:P.R_REASON] == [None] * 6
    assert report[P.R_REASON] == "unknown_symbol"


def test_a_rejected_report_of_a_known_symbol_names_symbol_and_side():
    report = _report(ev=S_REJECTED, oid=-1, px=-1, qty=-1, open_=-1, reason=R_BAD_PRICE)[0]
    assert (report[P.R_SYM], report[P.R_SIDE], report[P.R_REASON]) == ("TSLAx-USD", "buy", "bad_price")


@pytest.mark.parametrize("text", [b"a", b"x" * 31, b"y" * 32, b"z" * 36])
def test_a_text_client_order_id_is_a_string(text):
    report = _report(cl_kind=CL_TEXT_KIND, cl_len=len(text), cl_text=_cl_text(text + b"junk"[:CL_BYTES - len(text)]))[0]
    assert report[P.R_CL] == text.decode()


@pytest.mark.parametrize("v", [0, 127, 128, 2**63 - 1])
def test_an_integer_client_order_id_is_an_integer(v):
    assert _report(cl_kind=CL_INT, cl_int=v)[0][P.R_CL] == v


def test_a_missing_client_order_id_is_nil():
    assert _report(cl_kind=CL_NONE)[0][P.R_CL] is None


@pytest.mark.parametrize("req", [0, 200, 70000, 2**63 - 1, -1])
def test_the_req_span_returned_holds_exactly_the_req(req):
    _, out, start, end = _report(req=req)
    assert msgpack.unpackb(bytes(out[start:end])) == (req if req >= 0 else None)


# ---------------------------------------------------------------- routing into frames

ALICE, BOB, CAROL = 0, 1, 2  # account ids; carol has no session


def _routed(reports_of: list[tuple[int, int, int]]):
    """Frames (kind, session, decoded body) after add_report of each (account, origin session, req)
    with alice on sessions 4 and 6 and bob on session 5."""
    routes = new_routes([[4, 6], [5], []], {4: ALICE, 5: BOB, 6: ALICE})
    scratch = new_report_scratch(8, 3)
    out = np.zeros(4096, np.uint8)
    frames = np.zeros((8, F_COLS), np.int64)
    clear_reports(scratch)
    p = 0
    for seq, (account, origin, req) in enumerate(reports_of, 1):
        p = add_report(routes, WIRE, scratch, out, p, 1, account, origin, S_ACCEPTED, seq, 0, req, CL_INT, seq, 0,
                       NO_CL, seq, TSLA, BUY, 100, 1, 1, -1, -1)
    end, n = write_report_frames(routes, WIRE, scratch, out, p, frames, 0)
    assert n == 0 or frames[n - 1, F_END] == end
    return [(f[F_KIND], f[F_TARGET], msgpack.unpackb(bytes(out[f[F_START]:f[F_END]]))) for f in frames[:n]]


def test_each_session_of_the_account_gets_one_reports_frame():
    frames = _routed([(ALICE, 4, 7)])
    assert [(kind, session) for kind, session, _ in frames] == [(FRAME_REPORTS, 4), (FRAME_REPORTS, 6)]
    assert all(body[0] == "reports" and len(body[1]) == 1 for _, _, body in frames)


def test_only_the_session_that_sent_the_request_sees_its_req():
    frames = _routed([(ALICE, 4, 7)])
    assert [body[1][0][P.R_REQ] for _, _, body in frames] == [7, None]


def test_the_copy_without_req_is_otherwise_the_same_report():
    (_, _, mine), (_, _, other) = _routed([(ALICE, 4, 70000)])
    assert mine[1][0][:P.R_REQ] + mine[1][0][P.R_REQ + 1:] == other[1][0][:P.R_REQ] + other[1][0][P.R_REQ + 1:]


def test_an_unsolicited_report_has_nil_req_in_every_session():
    frames = _routed([(ALICE, -1, -1)])
    assert [body[1][0][P.R_REQ] for _, _, body in frames] == [None, None]


def test_a_frame_holds_the_accounts_reports_of_the_batch_in_order():
    frames = _routed([(ALICE, 4, 1), (BOB, 5, 2), (ALICE, 4, 3)])
    alice = frames[0][2][1]
    assert [r[P.R_SEQ] for r in alice] == [1, 3]


def test_accounts_get_their_frames_in_the_order_of_their_first_report():
    frames = _routed([(BOB, 5, 1), (ALICE, 4, 2)])
    assert [session for _, session, _ in frames] == [5, 4, 6]


def test_an_account_without_a_session_gets_no_report():
    assert _routed([(CAROL, -1, -1)]) == []


def test_an_account_beyond_the_routes_gets_no_report():
    assert _routed([(17, -1, -1)]) == []


def test_a_report_for_nobody_writes_nothing():
    routes = new_routes([[]], {})
    scratch = new_report_scratch(4, 1)
    clear_reports(scratch)
    out = np.zeros(512, np.uint8)
    p = add_report(routes, WIRE, scratch, out, 9, 1, 0, -1, S_ACCEPTED, 1, 0, 1, CL_INT, 1, 0, NO_CL, 1, TSLA, BUY,
                   1, 1, 1, -1, -1)
    assert (p, scratch.counts[N_REPORTS]) == (9, 0)
