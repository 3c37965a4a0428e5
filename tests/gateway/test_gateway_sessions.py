"""Sessions and access: CurveZMQ keys, logon, heartbeats, cancel-on-disconnect, throttles."""
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq
from gatewaykit import keep_polling
from kabuto.gateway.client import Client
from kabuto.gateway.errors import NotAuthorized
from kabuto.gateway.keys import Credentials

from tests.polling import wait_until

SES = "SES-USD"
COD_CLIENT = str(Path(__file__).with_name("cod_client.py"))


def test_a_key_missing_from_the_key_file_is_refused(venue):
    public, secret = zmq.curve_keypair()
    cred = Credentials(public, secret, venue.info["server_key"].encode())
    with pytest.raises(NotAuthorized):
        Client(venue.info["orders"], credentials=cred, timeout=5.0)
    ok = venue.client("erin")
    assert ok.session["account"] == "erin"


def test_a_key_cannot_log_on_for_another_account(venue):
    with pytest.raises(NotAuthorized):
        _logon_as(venue, "erin", "frank")


def _logon_as(venue, key_account: str, account: str) -> None:
    c = venue.client(key_account, logon=False)
    c.account = account
    c.logon()


def test_logon_answer_states_the_session_limits(venue):
    c = venue.client("erin", cod=True)
    assert c.session["account"] == "erin" and c.session["cod"] is True and c.session["version"] == 1
    assert c.session["rate_limit"] == 1000 and c.session["max_live_orders"] == 200
    assert SES in c.session["symbols"]


def test_logon_with_an_unknown_option_is_malformed(venue):
    c = venue.client("erin", logon=False)
    c.send(["logon", 1, {"cod": True, "colour": "red"}])
    c.poll(2.0)
    assert c.replies[1][:3] == ["error", 1, "malformed"]


def test_heartbeat_is_answered_with_the_server_clock(venue):
    c = venue.client("erin")
    req = c.heartbeat()
    reply = c.wait_reply(req)
    assert reply[0] == "hb" and abs(reply[2] - time.time_ns()) < 5e9


def _start(venue, account: str, mode: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, COD_CLIENT, str(venue.data_dir), account, SES, mode],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_cancel_on_disconnect_cancels_a_killed_clients_orders(venue):
    watcher = venue.client("grace")
    p = _start(venue, "grace", "cod")
    assert len(watcher.orders(SES)) == 3
    p.kill()  # SIGKILL: no logout, the connection just goes silent
    p.wait()
    killed_at = time.monotonic()
    cancels = watcher.wait_reports(3, lambda r: r.ev == "canceled", timeout=10)
    waited = time.monotonic() - killed_at
    assert sorted(r.cl_oid for r in cancels) == ["cod0", "cod1", "cod2"]
    assert {r.reason for r in cancels} == {"disconnect"} and {r.req for r in cancels} == {None}
    assert watcher.orders(SES) == []
    assert waited < 2.0 + 3.0  # the timeout plus scheduling slack


def test_without_cancel_on_disconnect_a_killed_clients_orders_stay(venue):
    watcher = venue.client("heidi")
    p = _start(venue, "heidi", "nocod")
    p.kill()
    p.wait()
    keep_polling(2.0 + 0.8, watcher)
    assert [o[0] for o in watcher.orders(SES)] == ["nocod0", "nocod1", "nocod2"]
    watcher.mass_cancel()
    watcher.drain()


def test_logout_with_cancel_on_disconnect_cancels_the_sessions_orders(venue):
    watcher = venue.client("ivan")
    c = venue.client("ivan", cod=True)
    c.new(SES, "buy", "1", "90", cl_oid="lo")
    c.wait_report()
    c.close()
    r = watcher.wait_report(lambda r: r.cl_oid == "lo" and r.ev == "canceled")
    assert r.reason == "disconnect"


def test_commands_over_the_rate_are_rejected_and_every_one_is_answered(venue):
    c = venue.client("judy")
    n = 0
    for _ in range(12):
        c.batch([["cancel", n + i, f"none{n + i}"] for i in range(100)])
        n += 100
    assert wait_until(lambda: len(c.reports) >= n, timeout=10, poll=[c])
    reasons = [r.reason for r in c.reports]
    assert len(reasons) == n and sorted(r.req for r in c.reports) == list(range(n))
    assert 0 < reasons.count("rate_limit") < n - 900
    assert reasons.count("unknown_order") >= 1000
    c.reports.clear()
    time.sleep(0.5)
    c.new(SES, "buy", "1", "80", cl_oid="after")
    assert c.wait_report().ev == "accepted"
    c.cancel("after")


def test_a_flood_from_one_session_does_not_stop_another(venue):
    flood = venue.client("mallory")
    calm = venue.client("oscar")
    for _ in range(30):
        flood.batch([["cancel", i, "x"] for i in range(100)])
    cls = [calm.new(SES, "sell", "1", f"{200 + i}") for i in range(10)]
    got = calm.wait_reports(10, timeout=10)
    assert [r.ev for r in got] == ["accepted"] * 10
    assert sorted(o[0] for o in calm.orders(SES)) == sorted(cls)
    calm.mass_cancel()
    assert wait_until(lambda: len(flood.reports) >= 3000, timeout=20, poll=[flood])
    assert {r.reason for r in flood.reports} <= {"unknown_order", "rate_limit"} and len(flood.reports) == 3000
