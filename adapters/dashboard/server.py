"""The dashboard's web server (docs/dashboard.md): aiohttp, JSON endpoints and a static page; run by the dashboard's
own process (process.py), beside the venue's."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from kabuto.adapters.dashboard.chainview import ChainView
from kabuto.adapters.dashboard.errors import DashboardError
from kabuto.adapters.dashboard.feed import Feed
from kabuto.chain.errors import ProofError
from kabuto.gateway.keys import Credentials

STATIC = Path(__file__).parent  # index.html, dashboard.js, dashboard.css (package data)
FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def error(status: int, reason: str, message: str) -> web.Response:
    """A JSON error: {"error": reason, "message": text}."""
    return web.json_response({"error": reason, "message": message}, status=status)


def make_app(feed: Feed, specs: Sequence[dict], chain: ChainView | None) -> web.Application:
    """The dashboard's routes (docs/dashboard.md); specs: process.instrument_spec of each instrument, in order."""
    symbols = {s["symbol"] for s in specs}

    async def index(request: web.Request) -> web.Response:
        return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": FILES[name]})

    async def api_instruments(request: web.Request) -> web.Response:
        return web.json_response({"instruments": specs})

    async def api_market(request: web.Request) -> web.Response:
        return web.json_response({"time": time.time_ns(), "markets": [feed.market(s["symbol"]) for s in specs]})

    async def api_market_one(request: web.Request) -> web.Response:
        sym = request.match_info["symbol"]
        if sym not in symbols:
            return error(404, "unknown_symbol", f"unknown symbol {sym!r}")
        return web.json_response(feed.market(sym))

    async def api_chain(request: web.Request) -> web.Response:
        if chain is None:
            return web.json_response({"ledger": None, "count": 0, "batches": []})
        return web.json_response(chain.batches())

    async def api_proof(request: web.Request) -> web.Response:
        text = request.match_info["seq"]
        if not text.isdigit() or not 0 < int(text) < 1 << 63:
            return error(400, "malformed", f"a fill id is the fill's event seq, a positive integer, not {text!r}")
        seq = int(text)
        if chain is None:
            return error(404, "not_found", "this venue commits no fills to a ledger (serve --no-chain)")
        try:
            doc = chain.proof(seq)
        except ProofError as e:
            return error(404, "not_found", str(e))
        if doc is None:
            return error(404, "not_found", f"fill {seq} is in no batch of the ledger (yet)")
        return web.json_response(doc)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/instruments", api_instruments)
    app.router.add_get("/api/market", api_market)
    app.router.add_get("/api/market/{symbol}", api_market_one)
    app.router.add_get("/api/chain", api_chain)
    app.router.add_get("/api/proof/{seq}", api_proof)
    return app


class Dashboard:
    """The dashboard: its feed thread and its web server, bound at construction, serving in run()."""

    def __init__(self, address: tuple[str, int], market_data: str, snapshots: str, specs: Sequence[dict],
                 credentials: Credentials | None, ledger: Path | None):
        host, port = address
        self.feed = Feed(market_data, snapshots, [s["symbol"] for s in specs], credentials)
        self.chain = ChainView(ledger) if ledger is not None else None
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(make_app(self.feed, specs, self.chain), access_log=None)
        try:
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, host, port)
            self.loop.run_until_complete(site.start())
        except OSError as e:
            self.close()
            why = os.strerror(e.errno) if e.errno else str(e)  # (asyncio's strerror is a whole sentence)
            raise DashboardError(f"--dashboard {host}:{port}: cannot listen: {why}") from None
        bound = self.runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}/"

    def run(self) -> None:
        """Serve until stop() (from any thread)."""
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def stop(self) -> None:
        """Make run() return."""
        self.loop.call_soon_threadsafe(self.loop.stop)

    def close(self) -> None:
        """Close the web server, the feed and the ledger (after run() returned, or instead of it)."""
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()
        self.feed.close()
        if self.chain is not None:
            self.chain.close()
