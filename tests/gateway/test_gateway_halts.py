"""Operator halts on a live venue (docs/market-integrity.md 11, docs/protocol.md): a halt takes cancels
only, a resume opens a reopening call whose uncross the venue's own clock runs, and market data and
snapshots carry the trading status.

HALT-USD has a 2.5 s reopening call and an indicative every 0.4 s."""
import subprocess
import time

import pytest
from gatewaykit import KABUTO, OPERATOR, raw_snapshot
from kabuto.gateway.errors import ClientError, NotAuthorized

SYM = "HALT-USD"


@pytest.fixture
def operator(venue):
    return venue.client(OPERATOR)


@pytest.fixture
def a(venue):
    return venue.client("hala")


@pytest.fixture
def b(venue):
    return venue.client("halb")


@pytest.fixture
def halted(operator):
    """HALT-USD halted by the operator; resumed (and its call run out) after the test."""
    assert operator.wait_reply(operator.halt(SYM))[2:] == [SYM]
    yield operator
    operator.drain(0.0)
    operator.resume(SYM)
    time.sleep(3.0)  # the reopening call ends


def wait_reports(waits: list, others: list = (), timeout: float = 30.0) -> list:
    """The first report matching each (client, predicate), polling every client meanwhile (a session
    that is not polled sends no heartbeat, and the venue ends it after its timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        for c in [c for c, _ in waits] + list(others):
            c.poll(0.01)
        found = [next((r for r in c.reports if pred(r)), None) for c, pred in waits]
        if all(r is not None for r in found):
            return found
        assert time.monotonic() < deadline, "no matching reports within the timeout"


def of(cl, ev=None):
    return lambda r: r.cl_oid == cl and (ev is None or r.ev == ev)


def test_a_halted_instrument_rejects_new_orders_with_halted(halted, a):
    r = a.wait_report(of(a.new(SYM, "buy", "1", "10.00")))
    assert (r.ev, r.reason) == ("rejected", "halted")


def test_a_halted_instrument_still_takes_cancels(operator, a):
    cl = a.new(SYM, "buy", "1", "10.00")
    a.wait_report(of(cl, "accepted"))
    operator.wait_reply(operator.halt(SYM))
    try:
        a.cancel(cl)
        r = a.wait_report(of(cl, "canceled"))
        assert (r.reason, r.open) == ("user", "0.000")
    finally:
        operator.resume(SYM)
        time.sleep(3.0)


def test_halting_an_instrument_twice_is_a_rejected_report_then_the_acknowledgement(halted):
    req = halted.halt(SYM)
    r = halted.wait_report(lambda r: r.req == req)
    assert (r.ev, r.reason) == ("rejected", "halted")
    assert halted.wait_reply(req) == ["halt", req, SYM]


def test_only_an_operator_halts_trading(a):
    with pytest.raises(NotAuthorized):
        a.wait_reply(a.halt(SYM))


def test_halting_an_unknown_symbol_is_answered_with_unknown_symbol(operator):
    with pytest.raises(ClientError, match="unknown_symbol"):
        operator.wait_reply(operator.halt("NOPE-USD"))


def test_the_reopening_call_uncrosses_on_the_venues_clock_and_reports_both_orders_fills(venue, halted, a, b):
    md = venue.market_data("hala", [SYM])
    md.wait_synced()
    assert md.status(SYM)[:2] == ["halted", "operator"]
    assert halted.wait_reply(halted.resume(SYM))[2:] == [SYM]
    buy = a.new(SYM, "buy", "2", "10.00")
    sell = b.new(SYM, "sell", "1", "9.00")
    a.wait_report(of(buy, "accepted"))
    b.wait_report(of(sell, "accepted"))
    md.wait_synced(until=lambda: (md.status(SYM) or [None])[0] == "call" and md.status(SYM)[3][0] == "10.00")
    assert md.status(SYM)[3][1:4] == ["1.000", "1.000", "buy"]  # matched, imbalance, its side
    # no order arrives: the venue's tick ends the call (every session polled: their heartbeats keep them)
    fa, fb = wait_reports([(a, of(buy, "fill")), (b, of(sell, "fill"))], [halted])
    assert (fa.px, fa.qty, fa.open, fa.role, fa.req) == ("10.00", "1.000", "1.000", "maker", None)
    assert (fb.px, fb.qty, fb.open, fb.role, fb.req) == ("10.00", "1.000", "0.000", "taker", None)
    md.wait_synced(15.0, until=lambda: md.status(SYM)[0] == "continuous")
    assert md.status(SYM)[:3] == ["continuous", "call_end", None]
    assert md.book(SYM) == ([["10.00", "1.000"]], [])
    assert [t[1:3] for s, t, _ in md.trades if s == SYM] == [["10.00", "1.000"]]
    halted.halt(SYM)  # the fixture resumes it


def test_a_snapshot_carries_the_trading_status(venue, halted):
    snap = raw_snapshot(venue, SYM)
    assert snap[6][:3] == ["halted", "operator", None]


def kabuto(venue, *args) -> subprocess.CompletedProcess:
    return subprocess.run([KABUTO, *args, "--account", OPERATOR, "--data-dir", str(venue.data_dir)],
                          capture_output=True, text=True, timeout=60)


def test_kabuto_halt_and_resume_commands_halt_and_reopen_an_instrument(venue, a):
    p = kabuto(venue, "halt", SYM)
    assert (p.returncode, p.stdout.strip()) == (0, f"kabuto halt: halt {SYM} done"), p.stderr
    try:
        r = a.wait_report(of(a.new(SYM, "buy", "1", "10.00")))
        assert r.reason == "halted"
        again = kabuto(venue, "halt", SYM)
        assert again.returncode == 1 and "refused: halted" in again.stderr and "Traceback" not in again.stderr
    finally:
        assert kabuto(venue, "resume", SYM).returncode == 0
        time.sleep(3.0)


def test_kabuto_halt_needs_a_symbol_or_all(venue):
    p = kabuto(venue, "halt")
    assert p.returncode == 2 and "name one SYMBOL or --all" in p.stderr
