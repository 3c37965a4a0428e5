"""The venue's public feed over zmq.asyncio: a book per symbol (snapshot + sequenced updates), recent trades,
trading status, and the depth diffs, trades and status changes handed to WebSocket subscribers."""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal

import msgpack
import zmq
import zmq.asyncio
from kabuto.adapters.rest.venuelink import secure
from kabuto.gateway import protocol as P
from kabuto.gateway.client import LocalBook
from kabuto.gateway.keys import Credentials

log = logging.getLogger(__name__)
KEEP_TRADES = 1000  # recent trades kept per symbol
SNAPSHOT_TIMEOUT = 2.0  # seconds before a snapshot request is sent again
STATE_KINDS = (P.MD_UPDATE, P.MD_STATUS, P.MD_BAND, P.MD_ORACLE)  # the sequenced L2 messages


def zero_like(qty: str) -> str:
    """Zero with the places of a quantity ("0.000" for "1.500"), as the venue writes a level that went away."""
    return f"{Decimal(0):.{max(0, -Decimal(qty).as_tuple().exponent)}f}"


def level_changes(old: LocalBook, new: LocalBook) -> tuple[list, list]:
    """(bids, asks) as [[px, qty], ...] that turn old's levels into new's ("0" for a level that went away)."""
    out = []
    for side in (0, 1):
        a, b = old.sides[side], new.sides[side]
        changes = [[px, qty] for px, qty in b.items() if a.get(px) != qty]
        changes += [[px, zero_like(qty)] for px, qty in a.items() if px not in b]
        out.append(changes)
    return out[0], out[1]


class MarketFeed:
    """Keeps every symbol's book in sync (the Clone pattern of docs/protocol.md) and publishes stream events.

    `emitted[sym]` is the last update id the depth stream has described: a depth event spans
    U = emitted + 1 .. u = the book's seq after it, so the stream has no holes even across the status
    messages (which change no level) and across the adapter's own resyncs (one event with the differences)."""

    def __init__(self, ctx: zmq.asyncio.Context, md_endpoint: str, snapshot_endpoint: str, symbols: list[str],
                 cred: Credentials | None):
        self.symbols = list(symbols)
        self.books: dict[str, LocalBook | None] = {s: None for s in self.symbols}
        self.emitted: dict[str, int] = {}
        self.trades: dict[str, deque] = {s: deque(maxlen=KEEP_TRADES) for s in self.symbols}
        self.synced_event: dict[str, asyncio.Event] = {s: asyncio.Event() for s in self.symbols}
        self.listeners: dict[str, set[Callable[[dict], None]]] = {}  # stream name -> callbacks
        self.gaps = 0
        self._buffer: dict[str, list] = {s: [] for s in self.symbols}
        self._pending: dict[str, tuple[int, float]] = {}
        self._req = itertools.count(1)
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 100_000)
        secure(self.sub, cred)
        for s in self.symbols:
            self.sub.setsockopt(zmq.SUBSCRIBE, P.topic(s))
        self.sub.connect(md_endpoint)
        self.snap = ctx.socket(zmq.DEALER)
        self.snap.setsockopt(zmq.LINGER, 0)
        secure(self.snap, cred)
        self.snap.connect(snapshot_endpoint)
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Start reading the feed and ask for every symbol's snapshot."""
        self._tasks = [asyncio.create_task(self._read_updates()), asyncio.create_task(self._read_snapshots()),
                       asyncio.create_task(self._retry_snapshots())]
        for s in self.symbols:
            await self._resync(s)

    async def wait_synced(self, sym: str, timeout: float) -> bool:
        """True once sym's book is in sync (False after timeout)."""
        try:
            await asyncio.wait_for(self.synced_event[sym].wait(), timeout)
            return True
        except TimeoutError:
            return False

    def status(self, sym: str) -> list:
        """[status, reason, until, indicative] of a symbol as the feed last gave it."""
        b = self.books.get(sym)
        return (b.status if b is not None and b.status else None) or ["continuous", None, None, None]

    def publish(self, stream: str, event: dict) -> None:
        """Hand an event to the subscribers of a stream."""
        for cb in list(self.listeners.get(stream, ())):
            cb(event)

    async def _resync(self, sym: str) -> None:
        req = next(self._req)
        self._pending[sym] = (req, time.monotonic())
        self._buffer[sym] = []
        self.synced_event[sym].clear()
        await self.snap.send(msgpack.packb([P.SNAPSHOT, req, sym]))

    async def _retry_snapshots(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_TIMEOUT / 4)
            now = time.monotonic()
            for sym, (_, sent) in list(self._pending.items()):
                if now - sent > SNAPSHOT_TIMEOUT:
                    await self._resync(sym)

    async def _read_snapshots(self) -> None:
        while True:
            msg = msgpack.unpackb(await self.snap.recv())
            if msg[0] != P.SNAPSHOT:
                continue
            _, req, sym, seq, bids, asks, *rest = msg
            if self._pending.get(sym, (None,))[0] != req:
                continue
            del self._pending[sym]
            old = self.books[sym]
            book = self.books[sym] = LocalBook(seq, bids, asks, *rest[:2])
            if old is None:
                self.emitted[sym] = seq
            elif seq > self.emitted[sym]:
                self._emit_depth(sym, *level_changes(old, book), seq)
            for m in self._buffer.pop(sym, []):
                if m[2] > book.seq and not self._apply(sym, m):
                    return
            self._buffer[sym] = []
            self.synced_event[sym].set()

    async def _read_updates(self) -> None:
        while True:
            _, body = await self.sub.recv_multipart()
            msg = msgpack.unpackb(body)
            kind, sym, seq = msg[0], msg[1], msg[2]
            if sym not in self.books:
                continue
            if kind == P.MD_UPDATE:
                for t in msg[4]:
                    self._on_trade(sym, t)
            if sym in self._pending:
                if kind in STATE_KINDS:
                    self._buffer[sym].append(msg)
                continue
            book = self.books[sym]
            if kind == P.MD_HEARTBEAT:
                if seq > book.seq:
                    self.gaps += 1
                    await self._resync(sym)
            elif kind in STATE_KINDS and seq > book.seq:
                self._apply(sym, msg)

    def _apply(self, sym: str, msg: list) -> bool:
        book = self.books[sym]
        if msg[2] != book.seq + 1:
            self.gaps += 1
            if sym not in self._pending:
                asyncio.get_running_loop().create_task(self._resync(sym))
            return False
        book.update(msg)
        book.seq = msg[2]
        if msg[0] == P.MD_UPDATE and msg[5]:
            bids = [[px, qty] for side, px, qty in msg[5] if side == "buy"]
            asks = [[px, qty] for side, px, qty in msg[5] if side == "sell"]
            self._emit_depth(sym, bids, asks, msg[2], msg[3])
        elif msg[0] == P.MD_STATUS:
            self.publish(f"{sym}@status", {"e": "status", "E": time.time_ns() // 1_000_000, "s": sym,
                                           "u": msg[2], "T": msg[3] // 1_000_000, "status": msg[4],
                                           "reason": msg[5], "until": msg[6], "indicative": msg[7]})
        return True

    def _emit_depth(self, sym: str, bids: list, asks: list, seq: int, ts: int | None = None) -> None:
        event = {"e": "depthUpdate", "E": time.time_ns() // 1_000_000, "s": sym, "U": self.emitted[sym] + 1,
                 "u": seq, "b": bids, "a": asks}
        self.emitted[sym] = seq
        self.publish(f"{sym}@depth", event)

    def _on_trade(self, sym: str, t: list) -> None:
        trade_id, px, qty, taker_side, ts = t[:5]
        if self.trades[sym] and self.trades[sym][-1]["id"] >= trade_id:
            return  # a message seen twice (a resync's buffer)
        row = {"id": trade_id, "price": px, "qty": qty, "quoteQty": str(Decimal(px) * Decimal(qty)),
               "time": ts // 1_000_000, "isBuyerMaker": taker_side == "sell", "isBestMatch": True}
        self.trades[sym].append(row)
        self.publish(f"{sym}@trade", {"e": "trade", "E": time.time_ns() // 1_000_000, "s": sym, "t": trade_id,
                                      "p": px, "q": qty, "T": ts // 1_000_000, "m": taker_side == "sell",
                                      "M": True})

    def depth(self, sym: str, limit: int) -> dict:
        """The depth snapshot: lastUpdateId and the best `limit` levels a side."""
        book = self.books[sym]
        bids, asks = book.levels()
        return {"lastUpdateId": book.seq, "bids": bids[:limit], "asks": asks[:limit]}

    def close(self) -> None:
        """Stop reading and close both sockets."""
        for t in self._tasks:
            t.cancel()
        self.sub.close(linger=0)
        self.snap.close(linger=0)
