"""examples/ccxt_market_maker.py against a real `kabuto serve`: it starts `kabuto rest` itself, quotes both
sides through ccxt, a ZeroMQ taker trades against a quote, and the example tells the fill."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from kabuto.gateway.client import Client

from tests.gateway.gatewaykit import start_venue
from tests.polling import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ccxt_market_maker.py"


def test_the_ccxt_market_maker_quotes_both_sides_and_tells_its_fills(tmp_path):
    serve = start_venue(tmp_path)  # CurveZMQ, demo accounts mm1, mm2, trader
    lines: list[str] = []
    maker = None
    try:
        maker = subprocess.Popen([sys.executable, str(EXAMPLE), "--data-dir", str(tmp_path), "--account", "mm1",
                                  "--symbol", "BTC/USD", "--ref", "60000.00", "--size", "0.5", "--refresh", "0.3",
                                  "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reader = threading.Thread(target=lambda: lines.extend(maker.stdout), daemon=True)
        reader.start()
        assert wait_until(lambda: any(x.startswith("quote BTC/USD") for x in lines) or maker.poll() is not None), \
            "".join(lines)
        with Client.from_data_dir(tmp_path, "trader") as taker:
            cl = taker.new("BTC-USD", "buy", "0.50000", "70000.00", tif="IOC")
            fill = taker.wait_report(lambda r: r.cl_oid == cl and r.ev == "fill", timeout=60)
        assert fill.qty == "0.50000"
        assert wait_until(lambda: any(x.startswith("fill  BTC/USD sell 0.5") for x in lines)
                          or maker.poll() is not None), "".join(lines)
        maker.send_signal(2)  # Ctrl-C: cancel the quotes and stop
        assert maker.wait(timeout=60) == 0, "".join(lines)
        reader.join(timeout=10)
    finally:
        if maker is not None and maker.poll() is None:
            maker.kill()
        serve.stop()
    out = "".join(lines)
    assert "mm1: quoting BTC/USD" in out and "book  BTC/USD bid" in out and "done: canceled 2 quotes" in out
