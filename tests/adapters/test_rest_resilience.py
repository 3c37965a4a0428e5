"""The adapter when the venue stalls or restarts, and when it is started wrong: a clear answer, never a hang or a
traceback."""
from __future__ import annotations

import signal
import subprocess

import pytest
from kabuto.gateway.client import venue_info
from restkit import KABUTO, OPERATOR, Http, RestProcess, RestVenue

from tests.gateway.gatewaykit import LIMITS, ServeProcess, raw_snapshot
from tests.polling import wait_until


@pytest.fixture(scope="module")
def rv(tmp_path_factory):
    v = RestVenue(tmp_path_factory.mktemp("rest-stall"), extra_rest=["--venue-timeout", "1"])
    yield v
    assert v.stop() == (0, 0), "".join(v.rest.lines)


def test_a_stalled_venue_gives_503_and_the_adapter_serves_again_once_it_resumes(rv):
    alice = rv.http("alice")
    assert alice.signed("GET", "/api/v3/openOrders")[0] == 200  # alice's session is open
    rv.serve.proc.send_signal(signal.SIGSTOP)
    try:
        status, _, body = alice.signed("GET", "/api/v3/openOrders")
        assert (status, body["code"], body["reason"]) == (503, -1001, None)
        assert rv.http().get("/api/v3/time")[0] == 200  # the adapter itself never blocks
    finally:
        rv.serve.proc.send_signal(signal.SIGCONT)
    # the venue may have dropped the silent session meanwhile: the adapter logs on again by itself
    assert wait_until(lambda: alice.signed("GET", "/api/v3/openOrders")[0] == 200)
    status, _, body = alice.signed("POST", "/api/v3/order", symbol="MDA-USD", side="BUY", type="LIMIT",
                                   quantity="1.000", price="1.00")
    assert status == 200 and body["status"] == "NEW"


def test_after_a_venue_restart_the_sessions_log_on_again_and_the_books_resync(rv):
    alice = rv.http("alice")
    assert alice.signed("POST", "/api/v3/order", symbol="MDB-USD", side="SELL", type="LIMIT", quantity="2.000",
                        price="7.00", newClientOrderId="survives")[0] == 200
    info = venue_info(rv.data_dir)
    assert rv.serve.stop() == 0
    args = ["--data-dir", str(rv.data_dir), "--instruments", str(rv.data_dir / "instruments.toml"), "--orders",
            info["orders"], "--market-data", info["market_data"], "--snapshots", info["snapshots"],
            "--operators", OPERATOR, "--no-chain"]
    for k, v in LIMITS.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    rv.serve = rv.venue.serve = ServeProcess(args)  # the same ports: the adapter's sockets reconnect by themselves
    rv.serve.wait_for("ready")

    def listed() -> list:
        status, _, body = alice.signed("GET", "/api/v3/openOrders", symbol="MDB-USD")
        return [o["clientOrderId"] for o in body] if status == 200 else []
    assert wait_until(lambda: listed() == ["survives"])
    assert any("logging on again" in line for line in rv.rest.lines), "".join(rv.rest.lines)
    venue = raw_snapshot(rv.venue, "MDB-USD")  # market data seqs jumped at the restart: the adapter resyncs
    assert wait_until(lambda: rv.http().get("/api/v3/depth", symbol="MDB-USD")[2]["lastUpdateId"] >= venue[3])
    assert rv.http().get("/api/v3/depth", symbol="MDB-USD")[2]["asks"] == [["7.00", "2.000"]]


def test_with_cod_the_adapters_exit_cancels_the_orders_it_entered(rv):
    cod = RestProcess(rv.data_dir, rv.key_file, ["--cod", "--public-account", "rest-cod"])
    try:
        http = Http(cod.url, rv.keys["carol"])  # carol has no session in the module's other adapter
        assert http.signed("POST", "/api/v3/order", symbol="SES-USD", side="BUY", type="LIMIT", quantity="1.000",
                           price="3.00", newClientOrderId="cod-1")[0] == 200
    finally:
        assert cod.stop() == 0
    carol = rv.venue.client("carol")
    assert carol.orders("SES-USD") == []


def test_a_bad_api_key_file_stops_the_adapter_with_one_line(tmp_path):
    bad = tmp_path / "keys.toml"
    bad.write_text('[[api_key]]\nkey = "k"\nsecret = "s"\naccount = "no one"\n')
    p = subprocess.run([KABUTO, "rest", "--data-dir", str(tmp_path), "--api-keys", str(bad)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "bad account name" in p.stderr, p.stderr


def test_an_adapter_without_a_venue_stops_with_one_line(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text("")
    p = subprocess.run([KABUTO, "rest", "--data-dir", str(tmp_path / "none"), "--api-keys", str(keys)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "endpoints.json" in p.stderr, p.stderr
