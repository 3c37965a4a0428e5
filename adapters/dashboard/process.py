"""The dashboard's process: started by `kabuto serve --dashboard` beside the venue, so that its Python work (decoding
the feed, answering the page) never holds the matching thread's GIL; it ends when the venue's process does."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from kabuto.adapters.dashboard.errors import DashboardError
from kabuto.engine.instruments import Instrument
from kabuto.gateway.errors import ConfigError
from kabuto.gateway.keys import Credentials, add_client, client_credentials, keys_dir, load_key_file

ACCOUNT = "dashboard"  # the feed's CurveZMQ account (market data only: it never logs on to order entry)
START_TIMEOUT = 120.0  # seconds for the child to bind (imports, the feed's sockets)
_children: list[subprocess.Popen] = []  # kept: their stdin pipes stay open while the venue lives


def instrument_spec(i: Instrument) -> dict:
    """An instrument's static facts as the page shows them."""
    return {"symbol": i.symbol, "tick_size": str(i.tick_size), "lot_size": str(i.lot_size),
            "min_qty": str(i.min_qty), "band_pct": None if i.band_pct is None else str(i.band_pct),
            "oracle": i.oracle is not None}


def feed_credentials(data_dir: Path, key_file: Path, server_public: bytes) -> Credentials:
    """The dashboard account's CurveZMQ credentials, its key pair created and registered on first use."""
    secret = keys_dir(data_dir) / f"{ACCOUNT}.key_secret"
    try:
        if not secret.exists():
            add_client(data_dir, key_file, ACCOUNT)
        cred = client_credentials(data_dir, ACCOUNT, server_public)
        if cred.public not in load_key_file(key_file):
            raise DashboardError(f"the dashboard's key {secret} is not in the key file {key_file}: add it, or delete "
                                 f"{secret} to have a new one made")
    except ConfigError as e:
        raise DashboardError(f"dashboard: {e}") from None
    return cred


def serve_dashboard(address: tuple[str, int], server, ledger: Path | None) -> str:
    """Start the dashboard of a bound venue (its endpoints, instruments and keys; its ledger directory or None) in
    a process of its own; returns the page's URL. DashboardError when it cannot."""
    cfg = server.config
    cred = None if cfg.insecure else feed_credentials(cfg.data_dir, cfg.key_file, server.server_public)
    doc = {"address": list(address), "market_data": server.endpoints["market_data"],
           "snapshots": server.endpoints["snapshots"], "instruments": [instrument_spec(i) for i in server.instruments],
           "credentials": None if cred is None else [cred.public.decode(), cred.secret.decode(), cred.server.decode()],
           "ledger": None if ledger is None else str(ledger)}
    child = subprocess.Popen([sys.executable, "-m", "kabuto.adapters.dashboard"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    child.stdin.write(json.dumps(doc) + "\n")
    child.stdin.flush()
    line = _first_line(child)
    if not line.startswith("url "):
        child.kill()
        child.wait()
        raise DashboardError(line[len("error "):] if line.startswith("error ") else
                             f"the dashboard's process did not start (exit {child.returncode})")
    _children.append(child)
    return line[len("url "):]


def _first_line(child: subprocess.Popen) -> str:
    """The child's first line of output ('' when it ends or stays silent)."""
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(child.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    return out[0].strip() if out else ""
