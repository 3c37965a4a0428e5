"""`python -m kabuto.adapters.dashboard`: the dashboard's process (process.py starts it). Reads its settings as one
JSON line on stdin, prints `url URL` (or `error TEXT` and exits 2), then serves until stdin closes (the venue ended)."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from kabuto.adapters.dashboard.errors import DashboardError
from kabuto.adapters.dashboard.server import Dashboard
from kabuto.gateway.keys import Credentials

NICE = 10  # the matching thread's process goes first under CPU contention


def main() -> int:
    """Run the dashboard until the venue's end of the stdin pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the venue, whose exit stops this process
    os.nice(NICE)
    doc = json.loads(sys.stdin.readline())
    cred = doc["credentials"]
    credentials = None if cred is None else Credentials(*(k.encode() for k in cred))
    try:
        d = Dashboard(tuple(doc["address"]), doc["market_data"], doc["snapshots"], doc["instruments"], credentials,
                      None if doc["ledger"] is None else Path(doc["ledger"]))
    except DashboardError as e:
        print(f"error {e}", flush=True)
        return 2
    print(f"url {d.url}", flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), d.stop()), daemon=True).start()
    d.run()
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
