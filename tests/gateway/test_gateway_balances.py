"""Balances on the live venue (docs/balances.md 14, docs/protocol.md "Balances (risk on)"): a `kabuto serve --risk`
of its own, CurveZMQ, real sockets. Who may send what, deposits, a trade with fees, balance reports to the right
sessions only, withdrawals, insufficient funds, the balances request, protection prices, and the CLI."""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from gatewaykit import KABUTO, ServeProcess, Venue
from kabuto.gateway.errors import ClientError, NotAuthorized
from kabuto.gateway.keys import add_client

RISK_TOML = Path(__file__).resolve().parents[1] / "risk" / "risk.toml"  # docs/balances.md 11
ACCOUNTS = ["op", "alice", "bob", "carol", "dave", "erin"]
OP = "op"
TSLA, AMZN = "TSLAx-USD", "AMZNx-USD"


@pytest.fixture(scope="module")
def risk_venue(tmp_path_factory):
    """A venue with risk on by --risk (the file says so too) and operator `op`."""
    data_dir = tmp_path_factory.mktemp("risk-venue")
    key_file = data_dir / "clients.toml"
    for name in ACCOUNTS:
        add_client(data_dir, key_file, name)
    serve = ServeProcess(["--data-dir", str(data_dir), "--instruments", str(RISK_TOML), "--risk", "--keys",
                          str(key_file), "--operators", OP, "--no-chain", "--orders", "tcp://127.0.0.1:0",
                          "--market-data", "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0"])
    try:
        serve.wait_for("ready")
    except BaseException:
        serve.stop(signal.SIGKILL)
        raise
    v = Venue(data_dir, serve)
    yield v
    v.close_clients()
    assert serve.stop() == 0, "".join(serve.lines)


@pytest.fixture
def rv(risk_venue):
    yield risk_venue
    risk_venue.close_clients()


def rejected(client, req):
    return client.wait_report(lambda r: r.req == req and r.ev == "rejected")


def test_the_venue_says_risk_is_on(rv):
    assert any("risk        on" in line for line in rv.serve.lines)


@pytest.mark.parametrize("send", [
    lambda c: c.deposit("alice", "USD", "1"),
    lambda c: c.fees(3, "0", "1"),
    lambda c: c.tier("alice", 0),
    lambda c: c.withdraw("USD", "1", "bob"),
    lambda c: c.withdraw("USD", "1", "@fees"),
])
def test_only_operators_deposit_set_fees_and_tiers_and_withdraw_for_others(rv, send):
    c = rv.client("carol")
    with pytest.raises(NotAuthorized, match="operator"):
        c.wait_reply(send(c))
    with pytest.raises(NotAuthorized):
        c.balances("bob")
    assert c.drain(0.1) == [] and not c.balance_reports  # nothing was sequenced


def test_static_faults_are_error_answers(rv):
    op = rv.client(OP)
    for req, reason in ((op.deposit("carol", "EUR", "1"), "unknown_asset"),
                        (op.deposit("carol", "USD", "0.0000001"), "bad_amount"),
                        (op.deposit("carol", "USD", "-1"), "bad_amount"),
                        (op.deposit("no one", "USD", "1"), "malformed"),
                        (op.fees(3, "0.001", "1"), "bad_fee")):
        with pytest.raises(ClientError, match=reason):
            op.wait_reply(req)
    req = op.next_req()
    op.send(["deposit", req, "carol", "USD"])  # too short
    with pytest.raises(ClientError, match="malformed"):
        op.wait_reply(req)


def test_a_deposit_is_reported_to_every_session_of_its_account_only(rv):
    op, d1, d2, erin = rv.client(OP), rv.client("dave"), rv.client("dave"), rv.client("erin")
    first = op.wait_reply(op.deposit("dave", "USD", "10.5"))
    second = op.wait_reply(op.deposit("dave", "TSLAx", "2"))
    assert first[2] == "dave" and second[3] == first[3] + 1  # the gateway's deposit ids follow each other
    for c in (d1, d2):
        dep = c.wait_balance(lambda r: r.ev == "deposited" and r.asset == "USD")
        assert (dep.amount, dep.id, dep.req, dep.total) == ("10.500000", first[3], None, None)
        bal = c.wait_balance(lambda r: r.ev == "balance" and r.asset == "USD")
        assert (bal.total, bal.held, bal.seq) == ("10.500000", "0.000000", dep.seq + 1)
        assert c.wait_balance(lambda r: r.ev == "deposited" and r.asset == "TSLAx").amount == "2.000"
    assert d1.balances() == {"USD": ["10.500000", "0.000000"], "TSLAx": ["2.000", "0.000"]}
    erin.drain(0.1)
    assert not erin.balance_reports and not op.balance_reports
    assert op.balances("dave") == d2.balances()
    assert op.balances("nobody-at-all") == {}


def test_a_trade_moves_funds_charges_fees_and_reports_balances_to_both_owners(rv):
    op, alice, alice2, bob, carol = rv.client(OP), rv.client("alice"), rv.client("alice"), rv.client("bob"), \
        rv.client("carol")
    op.wait_reply(op.fees(1, "-1", "5"))
    op.wait_reply(op.tier("bob", 1))
    fees_before = op.balances("@fees").get("USD", ["0.000000"])[0]
    op.wait_reply(op.deposit("alice", "USD", "1000"))
    op.wait_reply(op.deposit("bob", "TSLAx", "3"))
    bob.wait_balance(lambda r: r.ev == "balance" and r.total == "3.000")
    sell = bob.new(TSLA, "sell", "2", "249.50")
    assert bob.wait_report(lambda r: r.cl_oid == sell).ev == "accepted"
    held = bob.wait_balance(lambda r: r.ev == "balance")
    assert (held.asset, held.total, held.held) == ("TSLAx", "3.000", "2.000")
    assert held.req is not None  # bob's own command: its request id
    buy = alice.new(TSLA, "buy", "3", "250.00")
    taker = alice.wait_report(lambda r: r.cl_oid == buy and r.ev == "fill")
    maker = bob.wait_report(lambda r: r.cl_oid == sell and r.ev == "fill")
    assert (taker.role, taker.fee, maker.role, maker.fee) == ("taker", "0.249500", "maker", "-0.049900")
    # the balances of docs/balances.md 11 after line 7, each to its own account's sessions
    for c in (alice, alice2):
        got = {r.asset: (r.total, r.held) for r in (c.wait_balance(lambda r: r.ev == "balance" and r.seq > maker.seq),
                                                    c.wait_balance(lambda r: r.ev == "balance" and r.seq > maker.seq))}
        assert got == {"TSLAx": ("2.000", "0.000"), "USD": ("500.750500", "250.125000")}
    got = {r.asset: (r.total, r.held) for r in (bob.wait_balance(lambda r: r.seq > maker.seq),
                                                bob.wait_balance(lambda r: r.seq > maker.seq))}
    assert got == {"TSLAx": ("1.000", "0.000"), "USD": ("499.049900", "0.000000")}
    assert alice.balances() == {"TSLAx": ["2.000", "0.000"], "USD": ["500.750500", "250.125000"]}
    fees_after = op.balances("@fees")["USD"][0]
    assert round(float(fees_after) - float(fees_before), 6) == 0.1996
    carol.drain(0.1)
    assert not carol.balance_reports  # nobody else hears of it
    assert all(r.asset != "TSLAx" or r.total != "1.000" for r in alice.balance_reports)


def test_withdrawals_and_insufficient_funds(rv):
    op, erin = rv.client(OP), rv.client("erin")
    op.wait_reply(op.deposit("erin", "USD", "100"))
    erin.wait_balance(lambda r: r.ev == "balance")
    _, _, account, wid = erin.wait_reply(erin.withdraw("USD", "40"))
    assert account == "erin" and wid >= 1
    w = erin.wait_balance(lambda r: r.ev == "withdrawn")
    assert (w.amount, w.id, w.asset) == ("40.000000", wid, "USD") and w.req is not None
    assert erin.wait_balance(lambda r: r.ev == "balance").total == "60.000000"
    # more than available: rejected report, then the answer without a withdrawal id
    req = erin.withdraw("USD", "60.000001")
    assert erin.wait_reply(req)[3] is None
    assert rejected(erin, req).reason == "insufficient_funds"
    # an order holds funds: what it holds cannot be withdrawn, nor can an order exceed what is available
    cl = erin.new(AMZN, "buy", "0.5", "100.00")  # holds 50.000000 + the taker fee 0.025000
    assert erin.wait_report(lambda r: r.cl_oid == cl).ev == "accepted"
    assert erin.balances()["USD"] == ["60.000000", "50.025000"]
    req = erin.withdraw("USD", "10")
    assert erin.wait_reply(req)[3] is None and rejected(erin, req).reason == "insufficient_funds"
    big = erin.new(AMZN, "buy", "1", "10.00")
    r = erin.wait_report(lambda r: r.cl_oid == big)
    assert (r.ev, r.reason) == ("rejected", "insufficient_funds")
    amend = erin.amend(cl, qty="0.6")
    assert rejected(erin, amend).reason == "insufficient_funds"
    erin.cancel(cl)
    assert erin.wait_report(lambda r: r.cl_oid == cl and r.ev == "canceled").open == "0.000"
    assert erin.wait_reply(erin.withdraw("USD", "60"))[3] == wid + 1  # venue-wide withdrawal ids: gapless
    assert erin.balances() == {}
    # an operator withdraws for another account, and for @fees
    op.wait_reply(op.deposit("erin", "TSLAx", "1"))
    assert op.wait_reply(op.withdraw("TSLAx", "1", "erin"))[2:] == ["erin", wid + 2]
    w = erin.wait_balance(lambda r: r.ev == "withdrawn" and r.asset == "TSLAx")
    assert (w.id, w.req) == (wid + 2, None)  # the operator's request: no request id in erin's sessions
    fees = op.balances("@fees").get("USD")
    if fees is not None and fees[0] != "0.000000":
        assert op.wait_reply(op.withdraw("USD", fees[0], "@fees"))[2] == "@fees"
        assert op.balances("@fees") == {}


def test_market_buys_need_a_protection_price(rv):
    op, carol = rv.client(OP), rv.client("carol")
    op.wait_reply(op.deposit("carol", "USD", "50"))
    carol.wait_balance(lambda r: r.ev == "balance")
    cl = carol.new(AMZN, "buy", "0.1", type="market")  # no band on AMZNx-USD, no protect
    r = carol.wait_report(lambda r: r.cl_oid == cl)
    assert (r.ev, r.reason) == ("rejected", "no_protection")
    cl = carol.new(AMZN, "buy", "0.1", type="market", protect="1.005")  # not on tick
    r = carol.wait_report(lambda r: r.cl_oid == cl)
    assert (r.ev, r.reason) == ("rejected", "bad_price")
    cl = carol.new(AMZN, "buy", "0.1", type="market", protect="100.00")  # nothing to take: canceled ioc
    assert [r.ev for r in carol.wait_reports(2, lambda r: r.cl_oid == cl)] == ["accepted", "canceled"]
    assert carol.balances() == {"USD": ["50.000000", "0.000000"]}  # the hold came and went in one command


def test_a_venue_with_risk_off_refuses_balance_messages(venue):
    c = venue.client("grace")
    for req in (c.withdraw("USD", "1"), c.deposit("grace", "USD", "1")):
        with pytest.raises(ClientError, match="malformed: .*risk off"):
            c.wait_reply(req)
    req = c.next_req()
    c.send(["balances", req])
    with pytest.raises(ClientError, match="risk off"):
        c.wait_reply(req)


def test_the_command_line_deposits_withdraws_and_lists_balances(rv):
    def kabuto(*args, ok=True):
        p = subprocess.run([KABUTO, *args, "--data-dir", str(rv.data_dir)], capture_output=True, text=True,
                           timeout=60)
        assert (p.returncode == 0) == ok, p.stdout + p.stderr
        return p.stdout + p.stderr

    assert "credited to carol" in kabuto("deposit", "carol", "TSLAx", "1.5", "--account", OP)
    assert "not_authorized" in kabuto("deposit", "carol", "TSLAx", "1.5", "--account", "carol", ok=False)
    out = kabuto("withdraw", "TSLAx", "0.5", "--account", "carol")
    assert "withdrawal" in out and "from carol" in out
    assert "insufficient_funds" in kabuto("withdraw", "TSLAx", "5", "--account", "carol", ok=False)
    assert "carol TSLAx total 1.000 held 0.000" in kabuto("balances", "--account", "carol")
    assert "carol TSLAx total 1.000" in kabuto("balances", "carol", "--account", OP)
