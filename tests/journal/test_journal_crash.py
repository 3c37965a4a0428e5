"""kill -9 of a trading venue at random points: nothing acknowledged is lost, nothing is filled twice."""
from __future__ import annotations

import random
import threading
import time
from argparse import Namespace
from collections import defaultdict
from decimal import Decimal

import pytest
from journalkit import Serve, Trader, events
from kabuto.durability.recovery import live_orders, recover_state, replay_journal
from kabuto.engine.instruments import load_instruments
from kabuto.gateway.client import Client

ACCOUNTS = ("alice", "bob", "carol")


def crash_and_restart(tmp_path, seed: int):
    """Trade from three clients, kill -9 at a random point, restart; returns what everyone saw."""
    data = tmp_path / "venue"
    serve = Serve(data, ["--snapshot-every", "300"])
    stop = threading.Event()
    traders = [Trader(data, name, seed * 10 + i, stop) for i, name in enumerate(ACCOUNTS)]
    for t in traders:
        t.start()
    time.sleep(random.Random(seed).uniform(0.4, 1.5))
    serve.kill9()
    stop.set()
    for t in traders:
        t.join(timeout=10)
        t.client.close(logout=False)
    restarted = Serve(data)
    return data, serve, restarted, traders


@pytest.mark.parametrize("seed", [1, 2])
def test_kill9_keeps_every_acknowledged_order_and_fills_none_twice(tmp_path, seed):
    data, first, restarted, traders = crash_and_restart(tmp_path, seed)
    try:
        assert "recovered" in restarted.text()
        listed = {}
        for name in ACCOUNTS:
            with Client.from_data_dir(data, name) as c:
                listed[name] = sorted((o[1], o[4], o[5]) for o in c.orders())
    finally:
        assert restarted.stop() == 0, restarted.text()

    clean = recover_state(data, load_instruments(None), use_snapshot=False)
    out = tmp_path / "events.jsonl"
    replay_journal(Namespace(orders=str(data), events=str(out), book_out=None, instruments=None))
    evs = {e["seq"]: e for e in events(out)}

    # every report a client received before the crash is an event of the journal's replay
    seen = 0
    for t in traders:
        for r in t.received:
            e = evs[r.seq]
            assert e["ev"] == r.ev
            if r.ev == "fill":
                assert (e["taker"] if r.role == "taker" else e["maker"]) == r.oid
                assert Decimal(e["qty"]) == Decimal(r.qty)
            elif r.ev in ("accepted", "canceled", "amended"):
                assert e["oid"] == r.oid
            seen += 1
    assert seen > 0

    # no order is filled beyond its quantity
    qty, filled = {}, defaultdict(Decimal)
    for e in evs.values():
        if e["ev"] == "accepted":
            qty[e["oid"]] = Decimal(e["qty"])
        elif e["ev"] == "fill":
            filled[e["maker"]] += Decimal(e["qty"])
            filled[e["taker"]] += Decimal(e["qty"])
    assert all(filled[oid] <= qty[oid] for oid in filled)

    # the restarted venue's books, order by order and owner by owner, are those of a clean replay
    ins = load_instruments(None)[0]
    expect = defaultdict(list)
    for oid, acct, _sym, _side, px, q in live_orders(clean.engine):
        expect[clean.names[acct]].append((oid, ins.px.text(px), ins.qty.text(q)))
    for name in ACCOUNTS:
        assert listed[name] == sorted(expect[name])


def test_an_order_acknowledged_before_the_crash_is_canceled_by_its_client_order_id(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data)
    with Client.from_data_dir(data, "alice") as c:
        cl = c.new("TSLAx-USD", "buy", "2", "99.00", cl_oid="keep-me")
        accepted = c.wait_report(lambda r: r.ev == "accepted")
        assert accepted.cl_oid == cl
        serve.kill9()
    restarted = Serve(data)
    try:
        with Client.from_data_dir(data, "alice") as c:
            c.cancel("keep-me")
            r = c.wait_report(lambda r: r.ev == "canceled")
            assert (r.cl_oid, r.open) == ("keep-me", "0.000")
            assert r.seq == accepted.seq + 1 and r.ts > accepted.ts  # event seq and command ts go on
    finally:
        assert restarted.stop() == 0, restarted.text()


def test_orders_of_a_cancel_on_disconnect_session_are_canceled_after_a_crash(tmp_path):
    data = tmp_path / "venue"
    serve = Serve(data)
    with Client.from_data_dir(data, "alice", cod=True) as c:
        c.new("TSLAx-USD", "buy", "1", "99.00", cl_oid="cod")
        c.wait_report(lambda r: r.ev == "accepted")
        serve.kill9()
    restarted = Serve(data)
    try:
        assert "canceled 1 orders of cancel-on-disconnect sessions" in restarted.text()
        with Client.from_data_dir(data, "alice") as c:
            assert c.orders() == []
    finally:
        assert restarted.stop() == 0, restarted.text()


def test_market_data_sequences_jump_forward_after_a_restart(tmp_path):
    from kabuto.gateway.client import MarketDataClient
    data = tmp_path / "venue"
    serve = Serve(data)
    with Client.from_data_dir(data, "alice") as c:
        for px in ("99.00", "98.00"):
            c.new("TSLAx-USD", "buy", "1", px)
            c.wait_report(lambda r: r.ev == "accepted")
        with MarketDataClient.from_data_dir(data, None, ["TSLAx-USD"]) as md:
            md.wait_synced()
            before = md.seq("TSLAx-USD")
        serve.kill9()
    restarted = Serve(data)
    try:
        with MarketDataClient.from_data_dir(data, None, ["TSLAx-USD"]) as md:
            md.wait_synced()
            assert md.seq("TSLAx-USD") > before  # an old subscriber sees a gap, never an old number
            assert md.book("TSLAx-USD")[0] == [["99.00", "1.000"], ["98.00", "1.000"]]
    finally:
        assert restarted.stop() == 0, restarted.text()
