"""Helpers for the gateway tests: a `kabuto serve` subprocess, client factories, polling waits."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import zmq
from kabuto.gateway.client import Client, MarketDataClient, venue_info
from kabuto.gateway.keys import client_credentials

KABUTO = str(Path(sys.executable).with_name("kabuto"))
ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
            "mallory", "oscar", "peggy", "trent", "victor", "walter", "capa", "capb", "seqa", "seqb", "keepa", "mda",
            "mdb", "massa", "lista", "hala", "halb", "olga", "orca", "orcb"]
OPERATOR = "trent"  # the shared venue's operator account (serve --operators)
ORACLE = "olga"  # the shared venue's oracle account (serve --oracles)

INSTRUMENTS = """
[[instrument]]
symbol = "TSLAx-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"
reference_price = "250.00"

[[instrument]]
symbol = "AMZNx-USD"
tick_size = "0.01"
lot_size = "0.001"
min_qty = "0.010"

[[instrument]]
symbol = "BTC-USD"
tick_size = "0.01"
lot_size = "0.00001"

[[instrument]]
symbol = "ETH-USD"
tick_size = "0.01"
lot_size = "0.0001"

[[instrument]]
symbol = "MDA-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "MDB-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "SES-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "L3A-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "REF-USD"
tick_size = "0.01"
lot_size = "0.001"
band_pct = "10"

[[instrument]]
symbol = "BAD-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "CAP-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "SEQ-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "MDC-USD"
tick_size = "0.01"
lot_size = "0.001"

[[instrument]]
symbol = "HALT-USD"
tick_size = "0.01"
lot_size = "0.001"
reopen_ms = 2500
indicative_ms = 400

[[instrument]]
symbol = "ORC-USD"
tick_size = "0.01"
lot_size = "0.001"
luld_tier = 1
stale_ms = 600000
halt_ms = 1200000

[[instrument]]
symbol = "ORV-USD"
tick_size = "0.01"
lot_size = "0.001"
luld_tier = 1
stale_ms = 600000
halt_ms = 1200000
ref_interval_ms = 500
"""

LIMITS = {"cod_timeout": 2.0, "rate_limit": 1000, "max_live_orders": 200, "max_batch": 100,
          "max_frame": 65536, "md_heartbeat": 0.3}


class ServeProcess:
    """A `kabuto serve` subprocess whose output is collected line by line."""

    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen([KABUTO, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 180.0) -> None:
        """Wait until a line containing text was printed."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None:
                raise RuntimeError("kabuto serve exited:\n" + "".join(self.lines))
            if time.monotonic() > deadline:
                raise RuntimeError("kabuto serve not ready:\n" + "".join(self.lines))
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send sig and wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return rc


class Venue:
    """The running venue and factories for clients that are closed at the end."""

    def __init__(self, data_dir: Path, serve: ServeProcess):
        self.data_dir = data_dir
        self.serve = serve
        self.info = venue_info(data_dir)
        self._open: list = []

    def client(self, account: str, **kw) -> Client:
        """A logged-on order entry session of an account (heartbeating well inside the timeout)."""
        kw.setdefault("heartbeat", 0.3)
        c = Client.from_data_dir(self.data_dir, account, **kw)
        self._open.append(c)
        return c

    def market_data(self, account: str, symbols: list[str], **kw) -> MarketDataClient:
        """A market data subscriber (authenticated with an account's key)."""
        m = MarketDataClient.from_data_dir(self.data_dir, account, symbols, **kw)
        self._open.append(m)
        return m

    def close_clients(self) -> None:
        """Close every client made so far."""
        for c in self._open:
            try:
                c.close()
            except Exception:
                pass
        self._open.clear()


def start_venue(data_dir: Path, extra: list[str] = ()) -> ServeProcess:
    """Start kabuto serve on free ports with the test instruments and limits."""
    inst = data_dir / "instruments.toml"
    inst.write_text(INSTRUMENTS)
    args = ["--data-dir", str(data_dir), "--instruments", str(inst), "--orders", "tcp://127.0.0.1:0",
            "--market-data", "tcp://127.0.0.1:0", "--snapshots", "tcp://127.0.0.1:0"]
    for k, v in LIMITS.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    serve = ServeProcess(args + list(extra))
    serve.wait_for("ready")
    return serve





def keep_polling(seconds: float, *clients) -> None:
    """Let time pass while the clients keep reading (and heartbeating)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for c in clients:
            c.poll(0.02)


def raw_snapshot(venue: Venue, sym: str, kind: str = "snapshot", req: int = 1) -> list:
    """A snapshot answer fetched with a raw DEALER (the engine's own book and the seq it stands at)."""
    s = zmq.Context.instance().socket(zmq.DEALER)
    cred = client_credentials(venue.data_dir, "victor", venue.info["server_key"].encode())
    s.curve_secretkey, s.curve_publickey, s.curve_serverkey = cred.secret, cred.public, cred.server
    s.linger = 0
    s.connect(venue.info["snapshots"])
    try:
        s.send(msgpack.packb([kind, req, sym]))
        assert s.poll(5000), "no snapshot answer"
        return msgpack.unpackb(s.recv())
    finally:
        s.close()
