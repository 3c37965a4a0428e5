"""Market data: sequenced L2 updates and trades, snapshots, late joiners, gap detection and resync."""
import pytest
from gatewaykit import keep_polling, raw_snapshot

from tests.polling import wait_until

MDA, MDB = "MDA-USD", "MDB-USD"


@pytest.fixture
def peggy(venue):
    return venue.client("peggy", cod=True)


@pytest.fixture
def trent(venue):
    return venue.client("trent", cod=True)


def snapshot(venue, sym: str, req: int = 1) -> list:
    """An L2 snapshot fetched with a raw DEALER."""
    return raw_snapshot(venue, sym, "snapshot", req)


def build_book(peggy, trent) -> tuple[list, list]:
    """Rests, fills, cancels and amends on MDA-USD; returns the (bids, asks) that must result."""
    for cl, side, qty, px in [("b1", "buy", "1", "100.00"), ("b2", "buy", "2", "100.00"), ("b3", "buy", "1", "99.50"),
                              ("a1", "sell", "1", "101.00"), ("a2", "sell", "3", "102.00")]:
        peggy.new(MDA, side, qty, px, cl_oid=cl)
    peggy.wait_reports(5)
    trent.new(MDA, "buy", "1.5", "101.50", cl_oid="t1")  # fills a1, rests 0.5 at 101.50
    trent.wait_reports(2)
    peggy.cancel("b2")
    peggy.amend("b3", px="99.75", qty="0.5")
    peggy.drain()
    trent.drain()
    return ([["101.50", "0.500"], ["100.00", "1.000"], ["99.75", "0.500"]], [["102.00", "3.000"]])


def test_late_joiner_book_equals_the_engines_book(venue, peggy, trent):
    early = venue.market_data("victor", [MDA])
    early.wait_synced(until=early.receiving)
    expected = build_book(peggy, trent)
    snap = snapshot(venue, MDA)
    assert (snap[4], snap[5]) == expected
    late = venue.market_data("walter", [MDA])
    late.wait_synced()
    assert late.book(MDA) == expected and late.seq(MDA) == snap[3]
    assert wait_until(lambda: early.seq(MDA) == snap[3], poll=[early])
    assert early.book(MDA) == expected and early.gaps == 0


def test_updates_carry_consecutive_sequence_numbers_and_the_fills_trade_ids(venue, peggy, trent):
    md = venue.market_data("victor", [MDB])
    md.wait_synced(until=md.receiving)
    start = md.seq(MDB)
    peggy.new(MDB, "sell", "2", "50.00", cl_oid="s")
    peggy.wait_report()
    keep_polling(0.2, md)
    trent.new(MDB, "buy", "0.5", "50.00", cl_oid="t")
    fill = trent.wait_reports(2)[1]
    assert wait_until(lambda: md.seq(MDB) >= start + 2, poll=[md])
    sym, trade, _ = md.trades[-1]
    assert (sym, trade[:4]) == (MDB, [fill.seq, "50.00", "0.500", "buy"])
    assert md.book(MDB) == ([], [["50.00", "1.500"]]) and md.gaps == 0
    peggy.mass_cancel()
    peggy.drain()


def test_a_subscriber_only_gets_the_symbols_it_subscribed(venue, peggy):
    md = venue.market_data("victor", [MDA])
    md.wait_synced(until=md.receiving)
    peggy.new(MDB, "buy", "1", "10.00")
    peggy.wait_report()
    keep_polling(0.7, md)  # long enough for updates and heartbeats
    assert {t[0] for t in md.trades} <= {MDA}
    assert md.gaps == 0


def test_a_dropped_subscriber_detects_the_gap_and_resyncs(venue, peggy, trent):
    md = venue.market_data("victor", [MDA])
    md.wait_synced()
    md.sub.close(linger=0)  # dropped: the updates below never reach it
    before = md.seq(MDA)
    for i in range(3):
        peggy.new(MDA, "buy", "1", f"9{i}.00")
    peggy.wait_reports(3)
    md.reconnect()
    keep_polling(0.3, md)
    trent.new(MDA, "sell", "1", "120.00")
    trent.wait_report()
    snap = snapshot(venue, MDA)
    assert wait_until(lambda: md.synced(MDA) and md.seq(MDA) >= snap[3], poll=[md])
    assert md.gaps >= 1 and md.seq(MDA) > before
    assert md.book(MDA) == (snap[4], snap[5])


def test_a_heartbeat_reveals_a_lost_last_update(venue, peggy):
    md = venue.market_data("victor", [MDA])
    md.wait_synced()
    md.sub.close(linger=0)
    peggy.new(MDA, "sell", "1", "130.00")
    peggy.wait_report()
    md.reconnect()  # nothing trades any more: only the heartbeat can tell
    assert wait_until(lambda: md.gaps >= 1 and md.synced(MDA), timeout=5, poll=[md])
    assert md.book(MDA) == tuple(snapshot(venue, MDA)[4:6])


def test_snapshot_of_an_unknown_symbol_is_an_error(venue):
    assert snapshot(venue, "NOPE-USD", req=9)[:3] == ["error", 9, "unknown_symbol"]
