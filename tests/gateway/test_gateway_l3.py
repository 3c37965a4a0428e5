"""The order-by-order (L3) feed: adds, fills, cancels and amends of resting orders, in time priority.

The shared venue runs with `--l3`; these tests trade L3A-USD only.
"""
import time

import msgpack
import pytest
import zmq
from gatewaykit import keep_polling, raw_snapshot
from kabuto.gateway.keys import client_credentials

from tests.polling import wait_until

L3 = "L3A-USD"


@pytest.fixture
def peggy(venue):
    return venue.client("peggy", cod=True)


@pytest.fixture
def trent(venue):
    return venue.client("trent", cod=True)


@pytest.fixture
def oscar(venue):
    return venue.client("oscar", cod=True)


def l3_snapshot(venue, req: int = 1) -> list:
    """["snapshot_l3", req, sym, seq, bids, asks] fetched with a raw DEALER."""
    return raw_snapshot(venue, L3, "snapshot_l3", req)


def accepted(client, n: int) -> dict:
    """client order id -> engine order id of the next n accepted reports."""
    return {r.cl_oid: r.oid for r in client.wait_reports(n, lambda r: r.ev == "accepted")}


def trade_a_book(peggy, trent, oscar) -> tuple[list, list]:
    """Rests, fills, cancels, an amend down (keeps priority), an amend that moves the price (loses
    it) and an IOC remainder; returns the (bids, asks) [[oid, px, open]] that must result."""
    for cl, side, qty, px in [("b1", "buy", "1", "100.00"), ("b2", "buy", "2", "100.00"), ("b3", "buy", "1", "99.50"),
                              ("a1", "sell", "1", "101.00"), ("a2", "sell", "3", "102.00")]:
        peggy.new(L3, side, qty, px, cl_oid=cl)
    oid = accepted(peggy, 5)
    trent.new(L3, "buy", "1.5", "101.50", cl_oid="t1")  # fills a1, rests 0.5 at 101.50
    oid |= accepted(trent, 1)
    trent.drain()
    peggy.cancel("b2")
    peggy.amend("b3", px="100.00", qty="0.5")  # new price: to the back of 100.00
    peggy.amend("b1", qty="0.25")               # lower open only: keeps its place
    peggy.drain()
    oscar.new(L3, "sell", "1", "101.50", tif="IOC", cl_oid="x")  # takes t1's 0.5, the rest is canceled
    oscar.drain()
    trent.drain()
    bids = [[oid["b1"], "100.00", "0.250"], [oid["b3"], "100.00", "0.500"]]
    asks = [[oid["a2"], "102.00", "3.000"]]
    return bids, asks


def test_l3_snapshot_lists_resting_orders_in_time_priority(venue, peggy, trent, oscar):
    expected = trade_a_book(peggy, trent, oscar)
    snap = l3_snapshot(venue)
    assert snap[0] == "snapshot_l3" and snap[2] == L3 and snap[3] >= 1
    assert (snap[4], snap[5]) == expected


def test_an_l3_subscriber_book_follows_every_change_and_equals_a_late_joiners(venue, peggy, trent, oscar):
    early = venue.market_data("victor", [L3], l3=True)
    early.wait_synced(until=early.receiving)
    expected = trade_a_book(peggy, trent, oscar)
    snap = l3_snapshot(venue)
    assert wait_until(lambda: early.seq(L3) >= snap[3], poll=[early])
    assert early.book(L3) == expected and early.gaps == 0
    late = venue.market_data("walter", [L3], l3=True)
    late.wait_synced()
    assert late.book(L3) == expected and late.seq(L3) == snap[3]


def test_l3_messages_carry_consecutive_sequence_numbers_and_name_no_account(venue, peggy):
    sub = zmq.Context.instance().socket(zmq.SUB)
    cred = client_credentials(venue.data_dir, "victor", venue.info["server_key"].encode())
    sub.curve_secretkey, sub.curve_publickey, sub.curve_serverkey = cred.secret, cred.public, cred.server
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, (L3 + "#").encode())
    sub.connect(venue.info["market_data"])
    try:
        keep_polling(0.5, peggy)  # the subscription reaches the publisher
        peggy.new(L3, "sell", "1", "150.00", cl_oid="s1")
        peggy.new(L3, "sell", "2", "151.00", cl_oid="s2")
        ids = accepted(peggy, 2)
        peggy.cancel("s1")
        peggy.drain()
        msgs = []
        deadline = time.monotonic() + 1.0  # heartbeats never stop: read for a second
        while time.monotonic() < deadline:
            if sub.poll(100):
                m = msgpack.unpackb(sub.recv_multipart()[1])
                if m[0] == "l3":
                    msgs.append(m)
        ops = [op for m in msgs for op in m[4]]
        assert ["add", ids["s1"], "sell", "150.00", "1.000"] in ops
        assert ["add", ids["s2"], "sell", "151.00", "2.000"] in ops
        assert ["cancel", ids["s1"], "1.000", "0.000"] in ops
        seqs = [m[2] for m in msgs]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        sub.close()
        peggy.mass_cancel()
        peggy.drain()


def test_a_dropped_l3_subscriber_detects_the_gap_and_resyncs(venue, peggy):
    md = venue.market_data("victor", [L3], l3=True)
    md.wait_synced()
    md.sub.close(linger=0)  # dropped: the updates below never reach it
    before = md.seq(L3)
    for i in range(3):
        peggy.new(L3, "buy", "1", f"9{i}.00")
    peggy.wait_reports(3)
    md.reconnect()
    keep_polling(0.7, md)  # a heartbeat shows the gap
    snap = l3_snapshot(venue)
    assert wait_until(lambda: md.synced(L3) and md.seq(L3) >= snap[3], poll=[md])
    assert md.gaps >= 1 and md.seq(L3) > before
    assert md.book(L3) == (snap[4], snap[5])
