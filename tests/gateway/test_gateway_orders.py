"""Order entry through a real `kabuto serve`: lifecycle, batches, mass cancel, ownership, every reject.

Clients log on with cancel-on-disconnect, so closing them at the end of a test clears their orders.
"""
import msgpack
import pytest
from kabuto.gateway.client import new_command

from tests.polling import wait_until

BTC, ETH, TSLA, AMZN = "BTC-USD", "ETH-USD", "TSLAx-USD", "AMZNx-USD"


@pytest.fixture
def alice(venue):
    return venue.client("alice", cod=True)


@pytest.fixture
def bob(venue):
    return venue.client("bob", cod=True)


def of(cl):
    return lambda r: r.cl_oid == cl


def test_new_limit_order_is_accepted_and_rests(alice):
    cl = alice.new(BTC, "buy", "0.5", "30000.00")
    r = alice.wait_report(of(cl))
    assert (r.ev, r.sym, r.side, r.px, r.qty, r.open) == ("accepted", BTC, "buy", "30000.00", "0.50000", "0.50000")
    assert r.req is not None and r.oid > 0 and r.seq > 0
    assert [o[0] for o in alice.orders(BTC)] == [cl]


def test_partial_fill_then_fill_report_leaves_to_maker_and_taker(alice, bob):
    sell = alice.new(ETH, "sell", "2", "2000.00")
    alice.wait_report(of(sell))
    b1 = bob.new(ETH, "buy", "0.5", "2001.00")
    assert bob.wait_report(of(b1)).ev == "accepted"
    taker = bob.wait_report(of(b1))
    assert (taker.ev, taker.role, taker.px, taker.qty, taker.open) == ("fill", "taker", "2000.00", "0.5000", "0.0000")
    maker = alice.wait_report(of(sell))
    assert (maker.ev, maker.role, maker.px, maker.qty, maker.open) == ("fill", "maker", "2000.00", "0.5000", "1.5000")
    assert maker.seq == taker.seq and maker.req is None
    b2 = bob.new(ETH, "buy", "1.5", "2000.00")
    bob.wait_report(of(b2))
    assert alice.wait_report(of(sell)).open == "0.0000"
    assert alice.orders(ETH) == []


def test_cancel_reports_the_quantity_removed_with_reason_user(alice):
    cl = alice.new(BTC, "sell", "1", "40000")
    alice.wait_report(of(cl))
    req = alice.cancel(cl)
    r = alice.wait_report(of(cl))
    assert (r.ev, r.req, r.qty, r.open, r.reason) == ("canceled", req, "1.00000", "0.00000", "user")
    assert alice.orders(BTC) == []


def test_amend_reports_new_price_and_open_quantity(alice):
    cl = alice.new(BTC, "buy", "1", "30000")
    alice.wait_report(of(cl))
    req = alice.amend(cl, px="30001.5", qty="0.25")
    r = alice.wait_report(of(cl))
    assert (r.ev, r.req, r.px, r.qty, r.open) == ("amended", req, "30001.50", "0.25000", "0.25000")
    assert alice.orders(BTC)[0][4:] == ["30001.50", "0.25000"]


def test_ioc_remainder_is_canceled_with_reason_ioc(alice):
    cl = alice.new(BTC, "buy", "1", "100", tif="IOC")
    assert alice.wait_report(of(cl)).ev == "accepted"
    r = alice.wait_report(of(cl))
    assert (r.ev, r.reason, r.qty) == ("canceled", "ioc", "1.00000")


def test_fill_or_kill_that_cannot_fill_is_canceled_with_reason_fok_and_leaves_the_book(alice, bob):
    s = alice.new(ETH, "sell", "1", "2700")
    alice.wait_report(of(s))
    b = bob.new(ETH, "buy", "2", "2700", tif="FOK")
    assert [(r.ev, r.reason) for r in bob.wait_reports(2, of(b))] == [("accepted", None), ("canceled", "fok")]
    assert alice.orders(ETH)[0][5] == "1.0000"


def test_market_order_fills_at_the_makers_price(alice, bob):
    s = alice.new(ETH, "sell", "1", "1999.99")
    alice.wait_report(of(s))
    b = bob.new(ETH, "buy", "1", type="market")
    acc = bob.wait_report(of(b))
    assert acc.px is None
    f = bob.wait_report(of(b))
    assert (f.ev, f.px, f.open) == ("fill", "1999.99", "0.0000")


def test_reports_reach_every_session_of_the_account_with_req_only_in_the_sender(venue, alice):
    other = venue.client("alice")
    cl = alice.new(BTC, "buy", "1", "20000")
    mine = alice.wait_report(of(cl))
    copy = other.wait_report(of(cl))
    assert mine.req is not None and copy.req is None
    assert mine._replace(req=None) == copy


def test_batch_is_answered_in_one_frame_in_command_order(alice):
    cmds = [new_command(100 + i, f"b{i}", BTC, "buy", "0.1", f"{20000 + i}") for i in range(20)]
    cmds.append(["cancel", 200, "b3"])
    req = alice.batch(cmds)
    assert alice.sock.poll(5000)
    kind, reports = msgpack.unpackb(alice.sock.recv())
    assert kind == "reports"
    assert [(r[0], r[3]) for r in reports] == [("accepted", 100 + i) for i in range(20)] + [("canceled", 200)]
    assert [r[1] for r in reports] == list(range(reports[0][1], reports[0][1] + 21))
    assert req not in {r[3] for r in reports}


def test_mass_cancel_by_symbol_and_side_cancels_only_those(alice):
    a = alice.new(BTC, "buy", "1", "20000")
    b = alice.new(BTC, "sell", "1", "50000")
    c = alice.new(ETH, "buy", "1", "1000")
    alice.wait_reports(3)
    req = alice.mass_cancel(BTC, "sell")
    assert alice.wait_reply(req) == ["mass_cancel", req, 1]
    r = alice.wait_report(of(b))
    assert (r.ev, r.reason, r.req) == ("canceled", "mass_cancel", req)
    assert sorted(o[0] for o in alice.orders()) == sorted([a, c])


def test_mass_cancel_all_cancels_every_live_order_of_the_account(alice, bob):
    for i in range(5):
        alice.new(ETH, "buy", "1", f"{1000 + i}")
    keep = bob.new(ETH, "buy", "1", "1000")
    alice.wait_reports(5)
    bob.wait_report(of(keep))
    req = alice.mass_cancel()
    assert alice.wait_reply(req)[2] == 5
    assert alice.orders() == []
    assert [o[0] for o in bob.orders()] == [keep]


def test_mass_cancel_with_nothing_live_is_acknowledged_with_zero(alice):
    req = alice.mass_cancel(AMZN)
    assert alice.wait_reply(req) == ["mass_cancel", req, 0]


def test_one_account_cannot_cancel_or_amend_another_accounts_order(alice, bob):
    cl = alice.new(BTC, "buy", "1", "21000", cl_oid="shared-id")
    alice.wait_report(of(cl))
    bob.cancel("shared-id")
    assert bob.wait_report(of("shared-id")).reason == "unknown_order"
    bob.amend("shared-id", qty="5")
    assert bob.wait_report(of("shared-id")).reason == "unknown_order"
    bob.mass_cancel()
    bob.drain()
    assert alice.orders(BTC)[0][0] == "shared-id" and alice.orders(BTC)[0][5] == "1.00000"
    assert alice.drain() == []


def test_client_order_id_can_be_reused_once_its_order_finished(alice):
    alice.new(BTC, "buy", "1", "22000", cl_oid=77)
    alice.wait_report(of(77))
    alice.cancel(77)
    alice.wait_report(of(77))
    alice.new(BTC, "buy", "2", "22001", cl_oid=77)
    r = alice.wait_report(of(77))
    assert (r.ev, r.qty) == ("accepted", "2.00000")


def test_cancel_then_new_with_the_same_id_in_one_batch_replaces_the_order(alice):
    alice.new(BTC, "buy", "1", "22000", cl_oid="x")
    alice.wait_report(of("x"))
    alice.batch([["cancel", 1, "x"], new_command(2, "x", BTC, "buy", "3", "22002")])
    assert [r.ev for r in alice.wait_reports(2, of("x"))] == ["canceled", "accepted"]
    assert alice.orders(BTC)[0][4:] == ["22002.00", "3.00000"]


def reject_of(client, cl):
    r = client.wait_report(of(cl))
    assert r.ev == "rejected" and r.oid is None
    return r.reason


@pytest.mark.parametrize("cmd,reason", [
    (["XYZ-USD", "buy", "limit", "1", "1"], "unknown_symbol"),
    ([BTC, "buy", "limit", "1", "1", "DAY"], "bad_tif"),
    ([BTC, "buy", "market", None, "1", "POST"], "bad_tif"),
    ([BTC, "buy", "limit", "1", "1", "GTC", "keep_both"], "bad_stp"),
    ([BTC, "buy", "limit", "100.001", "1"], "bad_price"),
    ([BTC, "buy", "limit", 100.5, "1"], "bad_price"),
    ([BTC, "buy", "limit", "0", "1"], "bad_price"),
    ([BTC, "buy", "limit", None, "1"], "bad_price"),
    ([BTC, "buy", "limit", "1e3", "1"], "bad_price"),
    ([BTC, "buy", "limit", "100", "0.000001"], "bad_qty"),
    ([BTC, "buy", "limit", "100", "-1"], "bad_qty"),
    ([AMZN, "buy", "limit", "100", "0.009"], "bad_qty"),
    ([TSLA, "buy", "limit", "275.01", "1"], "outside_band"),
    ([TSLA, "sell", "limit", "224.99", "1"], "outside_band"),
    ([BTC, "buy", "limit", "1", "1", "FOO", "BAR"], "bad_tif"),
])
def test_new_order_fault_is_rejected_with_its_reason(alice, cmd, reason):
    alice.send(["new", 5, "bad", *cmd])
    r = alice.wait_report(of("bad"))
    assert (r.ev, r.req, r.reason) == ("rejected", 5, reason)
    assert alice.orders() == []


def test_malformed_command_is_rejected_with_its_request_id(alice):
    alice.send(["new", 9, "m", BTC, "up", "limit", "1", "1"])
    r = alice.wait_report(lambda r: r.req == 9)
    assert (r.ev, r.reason) == ("rejected", "malformed")


def test_cancel_and_amend_of_an_unknown_order_are_unknown_order(alice):
    alice.cancel("nope")
    assert reject_of(alice, "nope") == "unknown_order"
    alice.amend("nope", px="1")
    assert reject_of(alice, "nope") == "unknown_order"


def test_amend_with_bad_quantity_leaves_the_order_alone(alice):
    cl = alice.new(BTC, "buy", "1", "23000")
    alice.wait_report(of(cl))
    alice.amend(cl, qty="0")
    assert reject_of(alice, cl) == "bad_qty"
    assert alice.orders(BTC)[0][5] == "1.00000"


def test_duplicate_live_client_order_id_is_rejected_after_price_checks(alice):
    alice.new(BTC, "buy", "1", "24000", cl_oid="d")
    alice.wait_report(of("d"))
    alice.new(BTC, "buy", "1", "24000.001", cl_oid="d")
    assert reject_of(alice, "d") == "bad_price"
    alice.new(BTC, "buy", "1", "24000", cl_oid="d")
    assert reject_of(alice, "d") == "duplicate_oid"
    assert [o[5] for o in alice.orders(BTC)] == ["1.00000"]


def test_post_only_order_that_would_take_is_rejected(alice, bob):
    s = bob.new(ETH, "sell", "1", "2500")
    bob.wait_report(of(s))
    alice.new(ETH, "buy", "1", "2500", tif="POST", cl_oid="p")
    assert reject_of(alice, "p") == "would_take"


def test_self_trade_prevention_cancels_the_resting_order(alice):
    s = alice.new(ETH, "sell", "1", "2600")
    alice.wait_report(of(s))
    b = alice.new(ETH, "buy", "1", "2600")
    r = alice.wait_report(of(s))
    assert (r.ev, r.reason) == ("canceled", "stp")
    assert alice.wait_report(of(b)).ev == "accepted"


def test_account_live_order_cap_rejects_too_many_orders(venue):
    carol = venue.client("carol", cod=True)
    cap = carol.session["max_live_orders"]
    for start in range(0, cap, 100):
        carol.batch([new_command(i, i, BTC, "buy", "0.001", "1000") for i in range(start, min(cap, start + 100))])
    assert wait_until(lambda: len(carol.reports) >= cap, poll=[carol])
    carol.reports.clear()
    carol.new(BTC, "buy", "0.001", "1000", cl_oid="over")
    assert reject_of(carol, "over") == "too_many_orders"
    carol.cancel(0)
    carol.wait_report(of(0))
    carol.new(BTC, "buy", "0.001", "1000", cl_oid="fits")
    assert carol.wait_report(of("fits")).ev == "accepted"


def test_orders_before_logon_are_not_authorized(venue):
    c = venue.client("dave", logon=False)
    c.send(["new", 3, 1, BTC, "buy", "limit", "1", "1"])
    c.poll(2.0)
    assert c.replies[3][:3] == ["error", 3, "not_authorized"]
