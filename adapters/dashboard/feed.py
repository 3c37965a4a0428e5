"""The dashboard's view of the market: the venue's own public feed (MarketDataClient), subscribed only while the
page is being watched, read by a thread of the dashboard's process."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import zmq
from kabuto.gateway.client import MarketDataClient
from kabuto.gateway.keys import Credentials

TRADES = 50  # recent trades kept per symbol
DEPTH = 10  # price levels shown per side
IDLE_S = 10.0  # no request for this long: the subscription is dropped (a subscriber costs the venue)


class Feed:
    """Books, status, bands and recent trades of every symbol, while someone asks for them."""

    def __init__(self, md_endpoint: str, snapshot_endpoint: str, symbols: Sequence[str],
                 credentials: Credentials | None = None):
        self.symbols = list(symbols)
        self.endpoints = (md_endpoint, snapshot_endpoint)
        self.credentials = credentials
        self.trades: dict[str, deque] = {s: deque(maxlen=TRADES) for s in self.symbols}
        self.md: MarketDataClient | None = None  # None while nobody watches
        self._ctx = zmq.Context()
        self._asked = -IDLE_S  # monotonic time of the last request
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kabuto-dashboard-feed", daemon=True)
        self._thread.start()

    def _on_trade(self, sym: str, trade: list, received: int) -> None:
        trade_id, px, qty, side, ts = trade
        self.trades[sym].appendleft({"id": trade_id, "px": px, "qty": qty, "side": side, "ts": ts})

    def _run(self) -> None:
        poller = None
        while not self._stop.is_set():
            with self._lock:
                watched = time.monotonic() - self._asked < IDLE_S
                if watched and self.md is None:
                    for t in self.trades.values():
                        t.clear()  # trades missed while unsubscribed would leave a hole
                    self.md = MarketDataClient(*self.endpoints, self.symbols, credentials=self.credentials,
                                               context=self._ctx, on_trade=self._on_trade)
                    poller = zmq.Poller()
                    poller.register(self.md.sub, zmq.POLLIN)
                    poller.register(self.md.snap, zmq.POLLIN)
                elif not watched and self.md is not None:
                    self.md.close()
                    self.md, poller = None, None
            if poller is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            poller.poll(200)  # wait outside the lock; read (and resync after a gap) under it
            with self._lock:
                self.md.poll(0)

    def market(self, sym: str, depth: int = DEPTH) -> dict:
        """One symbol as the feed shows it: book (best levels first), status, band, recent trades (all empty, and
        synced false, until the subscription that this request starts has its snapshot)."""
        self._asked = time.monotonic()
        with self._lock:
            md = self.md
            if md is None:
                self._wake.set()
                synced, bids, asks, status, band, oracle, seq = False, [], [], None, None, None, -1
            else:
                synced = md.synced(sym)
                bids, asks = md.book(sym) if md.books[sym] is not None else ([], [])
                status, band, oracle, seq = md.status(sym), md.band(sym), md.oracle(sym), md.seq(sym)
            trades = list(self.trades[sym])
        out = {"symbol": sym, "seq": seq, "synced": synced, "bids": bids[:depth], "asks": asks[:depth],
               "trades": trades, "status": None, "band": None, "oracle": None}
        if status is not None:
            st, reason, until, indicative = status
            out["status"] = {"status": st, "reason": reason, "until": until, "indicative": indicative}
        if band is not None:
            ref, lo, hi, source = band
            out["band"] = {"ref": ref, "lo": lo, "hi": hi, "source": source}
        if oracle is not None:
            ref, mult, market, ots, state = oracle
            out["oracle"] = {"ref": ref, "mult": mult, "market": market, "ots": ots, "state": state}
        return out

    def close(self) -> None:
        """Stop the thread and close the sockets."""
        self._stop.set()
        self._wake.set()
        self._thread.join(5)
        if self.md is not None:
            self.md.close()
        self._ctx.term()
