"""`kabuto serve --rest PORT --fix PORT` (what `make run` runs): the venue starts both protocol adapters as
processes of its own with demo credentials written to its data directory, a REST user and a FIX user trade
with each other through them, and SIGTERM stops the adapters first, then the venue, each with status 0."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from kabuto.adapters.fix.initiator import Initiator
from kabuto.adapters.rest.apikeys import load_api_keys

from tests.adapters.restkit import Http
from tests.gateway.gatewaykit import start_venue


def wait_line(serve, pattern: str, timeout: float = 180.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        for line in list(serve.lines):
            m = re.search(pattern, line)
            if m:
                return m
        assert serve.proc.poll() is None and time.monotonic() < deadline, "".join(serve.lines)
        time.sleep(0.05)


def test_serve_runs_the_rest_and_fix_adapters_with_demo_credentials_and_stops_them_first(tmp_path):
    serve = start_venue(tmp_path, ["--rest", "0", "--fix", "0"])
    try:
        url = wait_line(serve, r"kabuto rest: ready, listening on (http://\S+)").group(1)
        fix_port = int(wait_line(serve, r"kabuto fix: ready: FIX 4.4 acceptor \S+ on [\d.]+:(\d+)").group(1))
        keys = {k.account: k for k in load_api_keys(tmp_path / "api-keys.toml").values()}
        users = tomllib.loads((tmp_path / "fix-users.toml").read_text())["user"]
        assert sorted(keys) == ["mm1", "mm2", "trader"] and (tmp_path / "api-keys.toml").stat().st_mode & 0o077 == 0
        assert sorted(u["account"] for u in users) == ["mm1", "mm2", "trader"]
        mm1 = Http(url, keys["mm1"])
        mm1.ok("POST", "/api/v3/order", symbol="BTC-USD", side="SELL", type="LIMIT", timeInForce="GTC",
               quantity="0.01", price="50000.00", newClientOrderId="ask1")
        trader = next(u for u in users if u["account"] == "trader")
        with Initiator("127.0.0.1", fix_port, trader["sender_comp_id"], password=trader["password"]) as fix:
            fix.logon(reset=True)
            fix.new_order("buy1", "BTC-USD", "1", "0.01", "50000.00")
            fill = fix.wait(lambda m: m.msg_type == "8" and m.get(150) == "F", timeout=60)
            assert fill.get(31) == "50000.00" and fill.get(32) == "0.01"
        order = mm1.ok("GET", "/api/v3/order", symbol="BTC-USD", origClientOrderId="ask1")
        assert order["status"] == "FILLED"
    finally:
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=120) == 0, "".join(serve.lines)
    out = "".join(serve.lines)
    assert out.index("kabuto fix: stopped") < out.index("kabuto serve: stopped after")


def test_the_fix_and_ccxt_examples_trade_against_the_adapters_of_make_run(tmp_path):
    examples = Path(__file__).resolve().parents[2] / "examples"
    serve = start_venue(tmp_path, ["--rest", "0", "--fix", "0"])
    try:
        url = wait_line(serve, r"kabuto rest: ready, listening on (http://\S+)").group(1)
        fix_port = wait_line(serve, r"kabuto fix: ready: FIX 4.4 acceptor \S+ on [\d.]+:(\d+)").group(1)
        run = [sys.executable, str(examples / "fix_client.py"), "--port", fix_port, "--data-dir", str(tmp_path),
               "--symbol", "BTC-USD", "--price", "60000.00", "--qty", "0.01", "--refresh", "0.3"]
        maker = subprocess.Popen([*run, "--sender", "MM1", "--duration", "4"], stdout=subprocess.PIPE, text=True)
        taker = subprocess.run([*run, "--sender", "TRADER", "--taker", "--duration", "2.5"], capture_output=True,
                               text=True, timeout=120)
        maker_out, _ = maker.communicate(timeout=120)
        assert taker.returncode == 0 and maker.returncode == 0, taker.stdout + taker.stderr + maker_out
        assert "fill     ioc" in taker.stdout and "logged on" in maker_out
        ccxt = subprocess.run([sys.executable, str(examples / "ccxt_market_maker.py"), "--url", url, "--data-dir",
                               str(tmp_path), "--account", "mm2", "--symbol", "ETH/USD", "--ref", "3000.00",
                               "--size", "0.1", "--refresh", "0.3", "--duration", "2"],
                              capture_output=True, text=True, timeout=120)
        assert ccxt.returncode == 0, ccxt.stdout + ccxt.stderr
        assert "mm2: quoting ETH/USD" in ccxt.stdout and "done: canceled" in ccxt.stdout
    finally:
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(timeout=120) == 0, "".join(serve.lines)
