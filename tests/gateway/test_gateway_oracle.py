"""The oracle role on a live venue (docs/market-integrity.md 6-7, docs/protocol.md): oracle accounts send
updates of oracle instruments, the venue bands the book around them, the feed publishes oracle, band and
status messages, and a band the venue's clock moves cancels the orders outside it.

ORC-USD and ORV-USD are tier-1 oracle instruments; ORV-USD recomputes its band every 0.5 s."""
import time

import pytest
from gatewaykit import ORACLE
from kabuto.gateway import protocol as P
from kabuto.gateway.errors import ClientError, NotAuthorized

WEEKEND = "weekend"


@pytest.fixture
def oracle(venue):
    return venue.client(ORACLE)


def update(client, sym: str, px: str, market: str = WEEKEND, **more) -> list:
    """Send one oracle update stamped now and return the venue's answer."""
    return client.wait_reply(client.oracle(sym, px, "1", market, time.time_ns(), **more))


def of(cl, ev=None):
    return lambda r: r.cl_oid == cl and (ev is None or r.ev == ev)


def test_only_an_oracle_account_sends_oracle_updates(venue):
    c = venue.client("orca")
    with pytest.raises(NotAuthorized):
        c.wait_reply(c.oracle("ORC-USD", "100.00", "1", WEEKEND, time.time_ns()))


def test_an_oracle_update_is_acknowledged_with_its_symbol(oracle):
    req = oracle.oracle("ORC-USD", "100.00", "1", WEEKEND, time.time_ns())
    assert oracle.wait_reply(req) == ["oracle", req, "ORC-USD"]


@pytest.mark.parametrize("update, reason", [
    ({"sym": "ORC-USD", "px": "100", "mult": "1", "market": "someday", "ots": 1}, "malformed"),
    ({"sym": "ORC-USD", "px": "100", "mult": "1", "market": "regular", "ots": 1}, "malformed"),
    ({"sym": "NOPE", "px": "100", "mult": "1", "market": "weekend", "ots": 1}, "unknown_symbol"),
    ({"sym": "TSLAx-USD", "px": "100", "mult": "1", "market": "weekend", "ots": 1}, "no_oracle"),
    ({"sym": "ORC-USD", "px": "-1", "mult": "1", "market": "weekend", "ots": 1}, "bad_price"),
    ({"sym": "ORC-USD", "px": "100", "mult": "0", "market": "weekend", "ots": 1}, "bad_multiplier"),
])
def test_a_faulty_oracle_update_is_an_error_with_its_reason(oracle, update, reason):
    req = oracle.next_req()
    oracle.send([P.ORACLE, req, update])
    with pytest.raises(ClientError) as e:
        oracle.wait_reply(req)
    assert reason in str(e.value)


def test_an_update_not_after_the_last_is_a_rejected_report_then_the_acknowledgement(oracle):
    ots = time.time_ns()
    oracle.wait_reply(oracle.oracle("ORC-USD", "100.00", "1", WEEKEND, ots))
    req = oracle.oracle("ORC-USD", "100.00", "1", WEEKEND, ots)
    r = oracle.wait_report(lambda r: r.req == req)
    assert (r.ev, r.reason) == ("rejected", "bad_oracle_ts")
    assert oracle.wait_reply(req) == ["oracle", req, "ORC-USD"]


def test_orders_outside_the_oracle_band_are_rejected(oracle, venue):
    update(oracle, "ORC-USD", "100.00")  # weekend: factor 2, 10% either side
    a = venue.client("orca")
    r = a.wait_report(of(a.new("ORC-USD", "buy", "1", "89.99")))
    assert (r.ev, r.reason) == ("rejected", "outside_band")
    r = a.wait_report(of(a.new("ORC-USD", "buy", "1", "90.00")))
    assert r.ev == "accepted"


def test_the_feed_publishes_the_oracle_update_the_band_and_the_trading_status(oracle, venue):
    md = venue.market_data("mda", ["ORC-USD"])
    md.wait_synced()
    update(oracle, "ORC-USD", "120.00", next_mult="2", mult_at=1)  # a post-split price: 240.00 a token
    update(oracle, "ORC-USD", "120.10", next_mult="2", mult_at=1)  # the jump, confirmed
    md.wait_synced(until=lambda: (md.oracle("ORC-USD") or [None])[0] == "240.20"
                   and (md.band("ORC-USD") or [None])[0] == "240.20")
    ref, mult, market, _, state = md.oracle("ORC-USD")
    assert (mult, market, state) == ("2", WEEKEND, "confirmed")
    assert md.band("ORC-USD") == ["240.20", "216.18", "264.22", "last_oracle"]
    assert md.status("ORC-USD")[0] == "continuous"


def test_a_band_the_venue_clock_moves_cancels_the_orders_outside_it(oracle, venue):
    a, b = venue.client("orca"), venue.client("orcb")
    update(oracle, "ORV-USD", "100.00")  # weekend: the band follows the venue's own trades
    low = a.new("ORV-USD", "buy", "1", "91.00")
    a.wait_report(of(low, "accepted"))
    a.new("ORV-USD", "sell", "2", "104.00")
    b.new("ORV-USD", "buy", "2", "104.00")
    b.wait_report(lambda r: r.ev == "fill")
    # the next reference point (every 0.5 s) moves the band to the trades' mean, 104.00: [93.60, 114.40]
    r = a.wait_report(lambda r: r.cl_oid == low and r.ev == "canceled", timeout=10.0)
    assert (r.reason, r.req) == ("band", None)


def test_kabuto_oracle_feeds_a_price_series_file_and_counts_what_was_refused(venue, tmp_path):
    import json
    import subprocess

    from gatewaykit import KABUTO
    t = time.time_ns()
    series = tmp_path / "series.jsonl"
    series.write_text("\n".join(json.dumps(d) for d in [
        {"op": "oracle", "sym": "ORC-USD", "px": "100.00", "mult": "1", "market": "weekend", "ots": t},
        {"sym": "ORC-USD", "px": "100.10", "mult": "1", "market": "weekend", "ots": t + 1},
        {"sym": "ORC-USD", "px": "100.20", "mult": "1", "market": "weekend", "ots": t},  # not after the last
    ]) + "\n")
    p = subprocess.run([KABUTO, "oracle", "--file", str(series), "--account", ORACLE, "--data-dir",
                        str(venue.data_dir)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "2 updates taken, 1 refused" in p.stdout
    assert "bad_oracle_ts" in p.stderr
