"""`kabuto rest`: the REST and WebSocket adapter in front of a running venue (adapters/rest)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the rest subcommand."""
    p = subparsers.add_parser("rest", help="serve Binance-shaped REST and WebSocket in front of a running venue",
                              description="REST and WebSocket adapter (docs/rest-websocket.md): a ZeroMQ client "
                                          "of the venue whose endpoints.json is in DATA_DIR.")
    p.add_argument("--data-dir", type=Path, default=Path("kabuto-data"), metavar="DIR",
                   help="the running venue's data directory (default: %(default)s)")
    p.add_argument("--api-keys", type=Path, required=True, metavar="FILE",
                   help="TOML file of [[api_key]] tables: key, secret, account")
    p.add_argument("--keys", type=Path, metavar="FILE",
                   help="the venue's client key file, where accounts' CurveZMQ keys are provisioned "
                        "(default: DATA_DIR/clients.toml)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="TCP port, 0 for any free one (default: %(default)s)")
    p.add_argument("--public-account", default="rest-public", metavar="ACCOUNT",
                   help="the account the adapter's own session and market data use (default: %(default)s)")
    p.add_argument("--weight-limit", type=int, default=6000, metavar="N",
                   help="request weight per API key (or address) per minute (default: %(default)s)")
    p.add_argument("--order-limit", type=int, default=1000, metavar="N",
                   help="orders and amends per API key per 10 seconds (default: %(default)s)")
    p.add_argument("--venue-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="how long a request waits for the venue before it is answered 503 (default: %(default)s)")
    p.add_argument("--cod", action="store_true",
                   help="log the accounts' sessions on with cancel-on-disconnect (the adapter's exit cancels "
                        "their orders)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    from kabuto.adapters.rest.apikeys import load_api_keys
    from kabuto.adapters.rest.app import RestAdapter, serve

    keys = load_api_keys(args.api_keys)
    adapter = RestAdapter(args.data_dir, args.keys or args.data_dir / "clients.toml", keys, args.public_account,
                          args.weight_limit, args.order_limit, args.cod, args.venue_timeout)

    async def main() -> None:
        task = asyncio.ensure_future(serve(adapter, args.host, args.port,
                                           lambda url: log.info("ready, listening on %s", url)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    return 0
