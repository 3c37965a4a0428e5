"""Order entry over FIX (docs/fix.md, Application messages and Mapping): NewOrderSingle, OrderCancelRequest,
OrderCancelReplaceRequest and OrderMassCancelRequest through `kabuto fix` to a real venue, and the ExecutionReports,
OrderCancelRejects and OrderMassCancelReports that come back."""
from __future__ import annotations

import pytest
from fixkit import FixVenue, fresh_user
from kabuto.adapters.fix import codec as F
from kabuto.gateway.client import Client

SYM = "BTC-USD"  # tick 0.01, lot 0.00001, no band


@pytest.fixture(scope="module")
def fv(tmp_path_factory):
    """One venue and one adapter for the module."""
    v = FixVenue(tmp_path_factory.mktemp("fixorders"))
    yield v
    rc_fix, rc_serve = v.stop()
    assert rc_fix == 0, "".join(v.fix.lines)
    assert rc_serve == 0


@pytest.fixture
def maker(fv):
    """A logged-on initiator of a fresh user (its own account); its orders are canceled afterwards."""
    i = fv.fix.initiator(fresh_user())
    i.logon()
    yield i
    i.mass_cancel("cleanup")
    i.wait(lambda m: m.msg_type == "r" and m.get(F.CL_ORD_ID) == "cleanup")
    i.close()


taker = maker


def er(i, cl_ord_id: str, exec_type: str | None = None):
    """The next ExecutionReport of a ClOrdID (of one ExecType, when given)."""
    return i.wait(lambda m: m.msg_type == "8" and m.get(F.CL_ORD_ID) == cl_ord_id
                  and (exec_type is None or m.get(F.EXEC_TYPE) == exec_type))


def fields(m, *tags):
    return tuple(m.get(t) for t in tags)


def test_a_limit_order_is_acknowledged_new_with_the_venue_order_id(maker):
    maker.new_order("n1", SYM, "buy", "0.5", "100.00")
    r = er(maker, "n1")
    assert fields(r, F.EXEC_TYPE, F.ORD_STATUS, F.SYMBOL, F.SIDE, F.ORD_TYPE, F.PRICE) == \
        ("0", "0", SYM, "1", "2", "100.00")
    assert fields(r, F.ORDER_QTY, F.LEAVES_QTY, F.CUM_QTY, F.AVG_PX) == ("0.5", "0.5", "0", "0")
    assert r.get(F.ORDER_ID).isdigit() and r.get(F.EXEC_ID) and r.get(F.TRANSACT_TIME)


def test_a_partial_fill_then_a_fill_report_trade_with_cum_leaves_and_avg_px(maker, taker):
    maker.new_order("p1", SYM, "sell", "1", "101.00")
    er(maker, "p1", "0")
    taker.new_order("t1", SYM, "buy", "0.4", "101.00")
    assert fields(er(taker, "t1", "F"), F.ORD_STATUS, F.LAST_PX, F.LAST_QTY, F.LEAVES_QTY, F.CUM_QTY) == \
        ("2", "101.00", "0.4", "0", "0.4")
    r = er(maker, "p1", "F")
    assert fields(r, F.ORD_STATUS, F.LAST_QTY, F.LEAVES_QTY, F.CUM_QTY, F.AVG_PX) == ("1", "0.4", "0.6", "0.4", "101")
    taker.new_order("t2", SYM, "buy", "0.6", "101.00")
    r = er(maker, "p1", "F")
    assert fields(r, F.ORD_STATUS, F.LEAVES_QTY, F.CUM_QTY, F.AVG_PX) == ("2", "0", "1", "101")


def test_avg_px_is_the_quantity_weighted_mean_of_the_fills(maker, taker):
    maker.new_order("a1", "ETH-USD", "sell", "1", "10.00")
    maker.new_order("a2", "ETH-USD", "sell", "3", "20.00")
    er(maker, "a1", "0"), er(maker, "a2", "0")
    taker.new_order("ta", "ETH-USD", "buy", "4", "20.00")
    er(taker, "ta", "F")
    last = er(taker, "ta", "F")
    assert fields(last, F.ORD_STATUS, F.CUM_QTY, F.AVG_PX) == ("2", "4", "17.5")


def test_an_ioc_remainder_is_expired(maker, taker):
    maker.new_order("i1", SYM, "sell", "0.1", "102.00")
    er(maker, "i1", "0")
    taker.new_order("ti", SYM, "buy", "0.3", "102.00", tif="3")
    er(taker, "ti", "F")
    r = er(taker, "ti", "C")
    assert fields(r, F.ORD_STATUS, F.LEAVES_QTY, F.CUM_QTY, F.TEXT) == ("C", "0", "0.1", "ioc")


def test_a_fok_that_cannot_fill_is_expired(maker):
    maker.new_order("f1", "AMZNx-USD", "buy", "1", "50.00", tif="4")
    er(maker, "f1", "0")
    assert fields(er(maker, "f1", "C"), F.ORD_STATUS, F.TEXT) == ("C", "fok")


def test_a_market_order_without_liquidity_is_expired(maker):
    maker.new_order("m1", "AMZNx-USD", "sell", "1")
    r = er(maker, "m1", "0")
    assert r.get(F.ORD_TYPE) == "1" and r.get(F.PRICE) is None
    assert er(maker, "m1", "C").get(F.ORD_STATUS) == "C"


def test_post_only_that_would_take_is_rejected_would_take(maker, taker):
    maker.new_order("w1", SYM, "sell", "0.1", "103.00")
    er(maker, "w1", "0")
    taker.new_order("w2", SYM, "buy", "0.1", "103.00", exec_inst="6")
    r = er(taker, "w2")
    assert fields(r, F.EXEC_TYPE, F.ORD_STATUS, F.ORD_REJ_REASON, F.TEXT) == ("8", "8", "99", "would_take")


def test_post_only_that_rests_is_new(maker):
    maker.new_order("po", SYM, "buy", "0.1", "90.00", exec_inst="6")
    assert er(maker, "po").get(F.EXEC_TYPE) == "0"


def test_post_only_with_ioc_is_rejected_bad_tif(maker):
    maker.new_order("pi", SYM, "buy", "0.1", "90.00", tif="3", exec_inst="6")
    assert fields(er(maker, "pi"), F.EXEC_TYPE, F.ORD_REJ_REASON, F.TEXT) == ("8", "11", "bad_tif")


def test_time_in_force_day_is_rejected_bad_tif(maker):
    maker.new_order("d1", SYM, "buy", "0.1", "90.00", tif="0")
    assert fields(er(maker, "d1"), F.EXEC_TYPE, F.ORD_STATUS, F.ORDER_ID, F.TEXT) == ("8", "8", "NONE", "bad_tif")


def test_an_unknown_symbol_is_rejected_with_ord_rej_reason_1(maker):
    maker.new_order("u1", "NOPE-USD", "buy", "1", "1")
    r = er(maker, "u1")
    assert fields(r, F.EXEC_TYPE, F.ORD_STATUS, F.ORD_REJ_REASON, F.TEXT) == ("8", "8", "1", "unknown_symbol")


def test_a_price_off_tick_is_rejected_bad_price(maker):
    maker.new_order("bp", SYM, "buy", "1", "100.001")
    assert fields(er(maker, "bp"), F.EXEC_TYPE, F.ORD_REJ_REASON, F.TEXT) == ("8", "99", "bad_price")


def test_a_quantity_off_lot_is_rejected_with_ord_rej_reason_13(maker):
    maker.new_order("bq", SYM, "buy", "0.000001", "100")
    assert fields(er(maker, "bq"), F.EXEC_TYPE, F.ORD_REJ_REASON, F.TEXT) == ("8", "13", "bad_qty")


def test_a_live_cl_ord_id_is_rejected_duplicate(maker):
    maker.new_order("dup", SYM, "buy", "0.1", "90.00")
    er(maker, "dup", "0")
    maker.new_order("dup", SYM, "buy", "0.1", "90.00")
    assert fields(er(maker, "dup"), F.EXEC_TYPE, F.ORD_REJ_REASON, F.TEXT) == ("8", "6", "duplicate_oid")


def test_a_limit_order_without_price_gets_a_business_message_reject(maker):
    maker.new_order("np", SYM, "buy", "1", ord_type="2")
    j = maker.wait(lambda m: m.msg_type == "j")
    assert fields(j, F.BUSINESS_REJECT_REASON, F.BUSINESS_REJECT_REF_ID, F.REF_MSG_TYPE) == ("5", "np", "D")


def test_a_quantity_that_is_not_a_number_is_rejected_with_reason_6(maker):
    maker.new_order("nq", SYM, "buy", "lots", "100")
    rej = maker.wait(lambda m: m.msg_type == "3")
    assert fields(rej, F.SESSION_REJECT_REASON, F.REF_TAG_ID) == ("6", "38")


def test_a_side_out_of_range_is_rejected_with_reason_5(maker):
    maker.new_order("ns", SYM, "9", "1", "100")
    rej = maker.wait(lambda m: m.msg_type == "3")
    assert fields(rej, F.SESSION_REJECT_REASON, F.REF_TAG_ID) == ("5", "54")


def test_an_unsupported_ord_type_is_rejected_with_reason_5(maker):
    maker.new_order("ot", SYM, "buy", "1", "100", ord_type="3")
    rej = maker.wait(lambda m: m.msg_type == "3")
    assert fields(rej, F.SESSION_REJECT_REASON, F.REF_TAG_ID) == ("5", "40")


def test_fix_float_prices_reach_the_venue_as_plain_decimals(maker):
    maker.new_order("ff", SYM, "buy", ".5", "90.")
    assert fields(er(maker, "ff", "0"), F.PRICE, F.ORDER_QTY) == ("90.00", "0.5")


def test_a_cancel_is_answered_canceled_with_both_cl_ord_ids(maker):
    maker.new_order("c1", SYM, "buy", "0.1", "90.00")
    er(maker, "c1", "0")
    maker.cancel("c2", "c1", SYM, "buy")
    r = er(maker, "c2")
    assert fields(r, F.EXEC_TYPE, F.ORD_STATUS, F.ORIG_CL_ORD_ID, F.LEAVES_QTY, F.TEXT) == ("4", "4", "c1", "0", "user")


def test_a_cancel_of_an_unknown_order_gets_an_order_cancel_reject(maker):
    maker.cancel("c3", "never", SYM, "buy")
    r = maker.wait(lambda m: m.msg_type == "9")
    assert fields(r, F.CL_ORD_ID, F.ORIG_CL_ORD_ID, F.ORD_STATUS, F.CXL_REJ_RESPONSE_TO, F.CXL_REJ_REASON, F.TEXT) == \
        ("c3", "never", "8", "1", "1", "unknown_order")


def test_a_replace_changes_price_and_total_quantity_and_renames_the_order(maker, taker):
    maker.new_order("r1", SYM, "buy", "1", "95.00")
    er(maker, "r1", "0")
    taker.new_order("tr", SYM, "sell", "0.25", "95.00")
    er(maker, "r1", "F")
    maker.replace("r2", "r1", SYM, "buy", "2", "95.50")
    r = er(maker, "r2")
    assert fields(r, F.EXEC_TYPE, F.ORD_STATUS, F.ORIG_CL_ORD_ID, F.PRICE, F.ORDER_QTY, F.LEAVES_QTY, F.CUM_QTY) == \
        ("5", "1", "r1", "95.50", "2", "1.75", "0.25")
    maker.cancel("r3", "r2", SYM, "buy")
    assert fields(er(maker, "r3"), F.EXEC_TYPE, F.LEAVES_QTY, F.CUM_QTY) == ("4", "0", "0.25")


def test_a_replace_that_would_take_is_rejected_and_the_order_stays(maker, taker):
    taker.new_order("rs", SYM, "sell", "0.1", "104.00")
    er(taker, "rs", "0")
    maker.new_order("rp", SYM, "buy", "0.1", "99.00", exec_inst="6")
    er(maker, "rp", "0")
    maker.replace("rq", "rp", SYM, "buy", "0.1", "104.00")
    r = maker.wait(lambda m: m.msg_type == "9")
    assert fields(r, F.CL_ORD_ID, F.ORIG_CL_ORD_ID, F.ORD_STATUS, F.CXL_REJ_RESPONSE_TO, F.TEXT) == \
        ("rq", "rp", "0", "2", "would_take")
    maker.cancel("rx", "rp", SYM, "buy")
    assert er(maker, "rx").get(F.EXEC_TYPE) == "4"


def test_a_replace_down_to_the_filled_quantity_is_rejected_bad_qty(maker, taker):
    maker.new_order("q1", SYM, "buy", "1", "94.00")
    er(maker, "q1", "0")
    taker.new_order("tq", SYM, "sell", "0.5", "94.00")
    er(maker, "q1", "F")
    maker.replace("q2", "q1", SYM, "buy", "0.5", "94.00")
    r = maker.wait(lambda m: m.msg_type == "9")
    assert fields(r, F.ORD_STATUS, F.CXL_REJ_RESPONSE_TO, F.TEXT) == ("1", "2", "bad_qty")


def test_a_replace_that_crosses_trades_after_the_replaced_report(maker, taker):
    taker.new_order("xs", SYM, "sell", "0.2", "105.00")
    er(taker, "xs", "0")
    maker.new_order("x1", SYM, "buy", "0.2", "98.00")
    er(maker, "x1", "0")
    maker.replace("x2", "x1", SYM, "buy", "0.2", "105.00")
    assert er(maker, "x2", "5").get(F.ORD_STATUS) == "0"
    assert fields(er(maker, "x2", "F"), F.ORD_STATUS, F.LAST_PX) == ("2", "105.00")


def test_a_mass_cancel_of_all_orders_cancels_each_then_reports_the_count(maker):
    for n, sym in enumerate((SYM, SYM, "ETH-USD")):
        maker.new_order(f"mc{n}", sym, "buy", "0.1", "5.00")
        er(maker, f"mc{n}", "0")
    maker.mass_cancel("mall")
    for n in range(3):
        assert fields(er(maker, f"mc{n}"), F.EXEC_TYPE, F.TEXT) == ("4", "mass_cancel")
    r = maker.wait(lambda m: m.msg_type == "r")
    assert fields(r, F.CL_ORD_ID, F.MASS_CANCEL_REQUEST_TYPE, F.MASS_CANCEL_RESPONSE, F.TOTAL_AFFECTED_ORDERS) == \
        ("mall", "7", "7", "3")


def test_a_mass_cancel_by_symbol_and_side_leaves_the_others(maker):
    maker.new_order("ms1", SYM, "buy", "0.1", "5.00")
    maker.new_order("ms2", SYM, "sell", "0.1", "500.00")
    maker.new_order("ms3", "ETH-USD", "buy", "0.1", "5.00")
    for c in ("ms1", "ms2", "ms3"):
        er(maker, c, "0")
    maker.mass_cancel("msym", SYM, "buy")
    assert er(maker, "ms1").get(F.EXEC_TYPE) == "4"
    r = maker.wait(lambda m: m.msg_type == "r")
    assert fields(r, F.MASS_CANCEL_RESPONSE, F.TOTAL_AFFECTED_ORDERS) == ("1", "1")
    maker.cancel("ms4", "ms2", SYM, "sell")
    assert er(maker, "ms4").get(F.EXEC_TYPE) == "4"


def test_a_mass_cancel_of_an_unknown_symbol_is_rejected(maker):
    maker.mass_cancel("mu", "NOPE-USD")
    r = maker.wait(lambda m: m.msg_type == "r")
    assert fields(r, F.MASS_CANCEL_RESPONSE, F.MASS_CANCEL_REJECT_REASON, F.TOTAL_AFFECTED_ORDERS, F.TEXT) == \
        ("0", "1", "0", "unknown_symbol")


def test_an_unsupported_mass_cancel_type_is_rejected_not_supported(maker):
    maker.send("q", [(F.CL_ORD_ID, "mt"), (F.MASS_CANCEL_REQUEST_TYPE, "3"), (F.TRANSACT_TIME, F.utc_timestamp())])
    r = maker.wait(lambda m: m.msg_type == "r")
    assert fields(r, F.MASS_CANCEL_RESPONSE, F.MASS_CANCEL_REJECT_REASON) == ("0", "0")


def test_orders_of_the_account_entered_over_zeromq_are_reported_as_drop_copy(fv, maker):
    account = fv.fix_account(maker.sender)
    with Client.from_data_dir(fv.data_dir, account, heartbeat=0.3) as z:
        z.new(SYM, "buy", "0.1", "6.00", cl_oid="zmq-1")
        z.wait_report(lambda r: r.cl_oid == "zmq-1")
    r = er(maker, "zmq-1", "0")
    assert fields(r, F.ORD_STATUS, F.PRICE, F.ORDER_QTY) == ("0", "6.00", "0.1")
