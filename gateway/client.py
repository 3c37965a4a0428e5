"""Client SDK: an order entry session (DEALER) and a market data subscriber with a self-healing local book.

    from kabuto.gateway.client import Client, MarketDataClient
    with Client.from_data_dir("kabuto-data", "mm1", cod=True) as c:
        cl = c.new("TSLAx-USD", "buy", "1.000", "245.10")
        report = c.wait_report(lambda r: r.cl_oid == cl)

Prices and quantities are decimal strings (or integers) on the way in and decimal strings in reports.
"""
from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import msgpack
import zmq
from kabuto.gateway import protocol as P
from kabuto.gateway.errors import ClientError, NotAuthorized
from kabuto.gateway.keys import Credentials, client_credentials
from zmq.utils.monitor import recv_monitor_message

AUTH_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
               | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)

L2_STATE_KINDS = (P.MD_STATUS, P.MD_BAND, P.MD_ORACLE)  # the L2 feed's messages besides `md`

class Report(NamedTuple):
    """One execution report (see docs/protocol.md, "Execution reports")."""
    ev: str
    seq: int
    ts: int
    req: int | None
    cl_oid: int | str | None
    oid: int | None
    sym: str | None
    side: str | None
    px: str | None
    qty: str | None
    open: str | None
    reason: str | None
    role: str | None
    fee: str | None = None  # a fill with risk on: this account's fee in the quote asset (a rebate negative)


class BalanceReport(NamedTuple):
    """A balance, deposited or withdrawn report (risk on; docs/protocol.md, Balance reports)."""
    ev: str
    seq: int
    ts: int
    req: int | None
    asset: str
    amount: str | None  # deposited, withdrawn: the amount
    total: str | None   # balance: the account's total of the asset now
    held: str | None    # balance: the part its live orders hold
    id: int | None      # deposited: the deposit id; withdrawn: the withdrawal id


def venue_info(data_dir: str | Path) -> dict:
    """The endpoints.json a running `kabuto serve` wrote into its data directory."""
    path = Path(data_dir) / "endpoints.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ClientError(f"cannot read {path}: {e}") from None


def _secure(sock: zmq.Socket, cred: Credentials | None) -> None:
    if cred is not None:
        sock.curve_secretkey = cred.secret
        sock.curve_publickey = cred.public
        sock.curve_serverkey = cred.server


def new_command(req: int, cl_oid, sym: str, side: str, qty, px=None, type: str = "limit",
                tif: str | None = None, stp: str | None = None, protect=None) -> list:
    """The wire array of a new order (for batches); protect: a market order's protection price (risk on)."""
    cmd = [P.NEW, req, cl_oid, sym, side, type, px, qty, tif, stp]
    return cmd if protect is None else cmd + [str(protect)]


class Client:
    """One order entry session. Not thread safe: call it from one thread, and poll() regularly
    (it sends the heartbeats that keep the session, and its cancel-on-disconnect, alive)."""

    def __init__(self, endpoint: str, *, credentials: Credentials | None = None, account: str | None = None,
                 cod: bool = False, heartbeat: float = 1.0, timeout: float = 5.0,
                 context: zmq.Context | None = None, logon: bool = True, via: str = "zmq"):
        self.endpoint = endpoint
        self.account = account
        self.cod = cod
        self.via = via  # an adapter's sessions say which protocol their users speak (rest, ws, fix)
        self.heartbeat_interval = heartbeat
        self.timeout = timeout
        self.sock = (context or zmq.Context.instance()).socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        _secure(self.sock, credentials)
        self._monitor = self.sock.get_monitor_socket(AUTH_FAILED) if credentials is not None else None
        self.sock.connect(endpoint)
        self._req = itertools.count(1)
        self._cl = itertools.count(1)
        self._last_sent = time.monotonic()
        self._auto_hb: set[int] = set()
        self.reports: deque[Report] = deque()   # execution reports not yet consumed
        self.balance_reports: deque[BalanceReport] = deque()  # balance, deposited, withdrawn (risk on)
        self.replies: dict[int, list] = {}      # answers by request id
        self.errors: list[list] = []            # error answers without a request id
        self.session: dict = {}
        if logon:
            self.logon()

    @classmethod
    def from_data_dir(cls, data_dir: str | Path, account: str, **kw) -> Client:
        """Connect to the venue whose endpoints.json (and, when secure, keys) are in data_dir."""
        info = venue_info(data_dir)
        cred = None
        if info.get("secure"):
            cred = client_credentials(Path(data_dir), account, info["server_key"].encode())
        return cls(info["orders"], credentials=cred, account=account, **kw)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ sending

    def next_req(self) -> int:
        """A fresh request id."""
        return next(self._req)

    def next_cl_oid(self) -> int:
        """A fresh client order id (integers counting up from 1)."""
        return next(self._cl)

    def send(self, msg: list) -> None:
        """Send one raw protocol message."""
        self.send_raw(msgpack.packb(msg))

    def send_raw(self, payload: bytes) -> None:
        """Send one frame as it is (for tests of bad input)."""
        self.sock.send(payload)
        self._last_sent = time.monotonic()

    def logon(self) -> dict:
        """Log on and wait for the answer; raises NotAuthorized when the key or account is refused."""
        opts = {"cod": self.cod, "version": P.VERSION}
        if self.via != "zmq":
            opts["via"] = self.via
        if self.account is not None:
            opts["account"] = self.account
        req = self.next_req()
        self.send([P.LOGON, req, opts])
        self.session = self.wait_reply(req)[2]
        return self.session

    def new(self, sym: str, side: str, qty, px=None, *, type: str = "limit", tif: str | None = None,
            stp: str | None = None, cl_oid=None, protect=None) -> int | str:
        """Send a new order; returns its client order id. protect: a market order's protection price (risk on)."""
        cl = self.next_cl_oid() if cl_oid is None else cl_oid
        self.send(new_command(self.next_req(), cl, sym, side, qty, px, type, tif, stp, protect))
        return cl

    def deposit(self, account: str, asset: str, amount) -> int:
        """Credit an account (operator accounts, embedded custodian); returns the req. wait_reply(req) gives
        ["deposit", req, account, deposit id] (a `rejected` report for the req comes first when it was rejected)."""
        req = self.next_req()
        self.send([P.DEPOSIT, req, account, asset, str(amount)])
        return req

    def withdraw(self, asset: str, amount, account: str | None = None) -> int:
        """Withdraw from this account (or, for an operator, from account); returns the req. wait_reply(req)
        gives ["withdraw", req, account, withdrawal id or nil when rejected]."""
        req = self.next_req()
        self.send([P.WITHDRAW, req, asset, str(amount)] + ([account] if account is not None else []))
        return req

    def fees(self, tier: int, maker_bps, taker_bps) -> int:
        """Set a fee tier's rates in basis points (operator accounts); returns the req."""
        req = self.next_req()
        self.send([P.FEES, req, tier, str(maker_bps), str(taker_bps)])
        return req

    def tier(self, account: str, tier: int) -> int:
        """Put an account in a fee tier (operator accounts); returns the req."""
        req = self.next_req()
        self.send([P.TIER, req, account, tier])
        return req

    def balances(self, account: str | None = None) -> dict[str, list[str]]:
        """{asset: [total, held]} of this account (or, for an operator, of account): the assets it holds some of."""
        req = self.next_req()
        self.send([P.BALANCES, req] + ([account] if account is not None else []))
        return self.wait_reply(req)[3]

    def cancel(self, cl_oid) -> int:
        """Cancel one of the account's orders; returns the request id."""
        req = self.next_req()
        self.send([P.CANCEL, req, cl_oid])
        return req

    def amend(self, cl_oid, px=None, qty=None) -> int:
        """Change an order's price and/or open quantity; returns the request id."""
        req = self.next_req()
        self.send([P.AMEND, req, cl_oid, px, qty])
        return req

    def mass_cancel(self, sym: str | None = None, side: str | None = None) -> int:
        """Cancel all the account's orders, or those of one symbol and/or side; returns the request id."""
        req = self.next_req()
        self.send([P.MASS_CANCEL, req, sym, side])
        return req

    def halt(self, sym: str | None = None) -> int:
        """Halt one instrument, or the whole venue when sym is None (operator accounts only); returns the req."""
        req = self.next_req()
        self.send([P.HALT, req, sym] if sym is not None else [P.HALT_ALL, req])
        return req

    def resume(self, sym: str | None = None) -> int:
        """Lift the operator's halt of one instrument, or the market-wide halt when sym is None; returns the req."""
        req = self.next_req()
        self.send([P.RESUME, req, sym] if sym is not None else [P.RESUME_ALL, req])
        return req

    def oracle(self, sym: str, px, mult, market: str, ots: int, **more) -> int:
        """Send an oracle update (oracle accounts only; more: next_mult, mult_at, reg_open, reg_close as in
        docs/market-integrity.md 4); returns the req. wait_reply(req) gives ["oracle", req, sym]."""
        req = self.next_req()
        self.send([P.ORACLE, req, {"sym": sym, "px": str(px), "mult": str(mult), "market": market, "ots": ots,
                                   **{k: str(v) if k == "next_mult" else v for k, v in more.items()}}])
        return req

    def ref(self, sym: str, px) -> int:
        """Set an instrument's reference price (operator accounts only); returns the request id.
        wait_reply(req) gives ["ref", req, sym, px, band low, band high]."""
        req = self.next_req()
        self.send([P.REF, req, sym, str(px)])
        return req

    def batch(self, commands: Iterable[list]) -> int:
        """Send many command arrays in one frame (answered in one reports frame); returns its request id."""
        req = self.next_req()
        self.send([P.BATCH, req, list(commands)])
        return req

    def heartbeat(self) -> int:
        """Send a heartbeat; returns its request id."""
        req = self.next_req()
        self.send([P.HEARTBEAT, req])
        return req

    def orders(self, sym: str | None = None) -> list[list]:
        """The account's live orders as [cl_oid, oid, sym, side, px, open]."""
        req = self.next_req()
        self.send([P.ORDERS, req, sym])
        return self.wait_reply(req)[2]

    def close(self, logout: bool = True) -> None:
        """Log out (when asked and possible) and close the socket."""
        if self.sock.closed:
            return
        if logout and self.session:
            try:
                req = self.next_req()
                self.send([P.LOGOUT, req])
                self.wait_reply(req, timeout=1.0)
            except ClientError:
                pass
        if self._monitor is not None:
            self.sock.disable_monitor()
            self._monitor.close(linger=0)
        self.sock.close(linger=0)

    # ------------------------------------------------------------------ receiving

    def poll(self, timeout: float = 0.0) -> int:
        """Receive what has arrived (waiting up to timeout seconds for the first); returns frames read.

        Sends a heartbeat when the session has been quiet for the heartbeat interval."""
        if time.monotonic() - self._last_sent >= self.heartbeat_interval and self.session:
            req = self.heartbeat()
            self._auto_hb.add(req)
        n = 0
        if self.sock.poll(int(timeout * 1000), zmq.POLLIN):
            while True:
                try:
                    payload = self.sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._dispatch(msgpack.unpackb(payload))
                n += 1
        if self._monitor is not None and self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)
            if event["event"] & AUTH_FAILED:
                raise NotAuthorized(f"{self.endpoint} refused this client's key")
        return n

    def _dispatch(self, msg: list) -> None:
        kind = msg[0]
        if kind == P.REPORTS:
            for r in msg[1]:
                if r[0] in P.BALANCE_EVS:
                    self.balance_reports.append(BalanceReport(*r[:len(P.BALANCE_FIELDS)]))
                else:
                    self.reports.append(Report(*r[:len(Report._fields)]))
        elif kind == P.ERROR and msg[1] is None:
            self.errors.append(msg)
        elif msg[1] in self._auto_hb:
            self._auto_hb.discard(msg[1])
        else:
            self.replies[msg[1]] = msg

    def wait_reply(self, req: int, timeout: float | None = None) -> list:
        """The answer to a request (logon, hb, orders, mass_cancel, logout); raises on an error answer."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while req not in self.replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError(f"no answer to request {req} within the timeout")
            self.poll(min(left, 0.05))
        msg = self.replies.pop(req)
        if msg[0] == P.ERROR:
            cls = NotAuthorized if msg[2] == "not_authorized" else ClientError
            raise cls(f"{msg[2]}: {msg[3]}")
        return msg

    def wait_report(self, pred: Callable[[Report], bool] = lambda r: True, timeout: float | None = None) -> Report:
        """The first unconsumed report matching pred (removed from the queue); earlier ones stay queued."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for r in self.reports:
                if pred(r):
                    self.reports.remove(r)
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError("no matching execution report within the timeout")
            self.poll(min(left, 0.05))

    def wait_balance(self, pred: Callable[[BalanceReport], bool] = lambda r: True,
                     timeout: float | None = None) -> BalanceReport:
        """The first unconsumed balance, deposited or withdrawn report matching pred (removed from the queue)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for r in self.balance_reports:
                if pred(r):
                    self.balance_reports.remove(r)
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientError("no matching balance report within the timeout")
            self.poll(min(left, 0.05))

    def wait_reports(self, n: int, pred: Callable[[Report], bool] = lambda r: True,
                     timeout: float | None = None) -> list[Report]:
        """The first n reports matching pred, in arrival order."""
        return [self.wait_report(pred, timeout) for _ in range(n)]

    def drain(self, quiet: float = 0.2) -> list[Report]:
        """Everything that arrives until nothing has for `quiet` seconds; empties the report queue."""
        while self.poll(quiet):
            pass
        out = list(self.reports)
        self.reports.clear()
        return out


class LocalBook:
    """One symbol's aggregated book as the feed describes it, with the sequence number it stands at."""

    def __init__(self, seq: int, bids: list, asks: list, status: list | None = None, band: list | None = None):
        self.seq = seq
        self.sides = ({p: q for p, q in bids}, {p: q for p, q in asks})
        # [status, reason, until, indicative or None] (docs/protocol.md, Trading status)
        self.status = status
        self.band = band  # an oracle instrument's [ref, lo, hi, source]
        self.oracle: list | None = None  # the last oracle message: [ref, mult, market, ots, state]

    def apply(self, changes: list) -> None:
        """Apply [side, px, qty] level changes (qty zero removes the level)."""
        for side, px, qty in changes:
            levels = self.sides[0 if side == "buy" else 1]
            if Decimal(qty):
                levels[px] = qty
            else:
                levels.pop(px, None)

    def update(self, msg: list) -> None:
        """Apply one `md`, `status`, `band` or `oracle` message."""
        if msg[0] == P.MD_STATUS:
            self.status = msg[4:8]
        elif msg[0] == P.MD_BAND:
            self.band = msg[4:8]
        elif msg[0] == P.MD_ORACLE:
            self.oracle = msg[4:9]
        else:
            self.apply(msg[5])

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        """(bids, asks) as [[px, qty], ...] best first, as in a snapshot."""
        bids = sorted(self.sides[0].items(), key=lambda kv: Decimal(kv[0]), reverse=True)
        asks = sorted(self.sides[1].items(), key=lambda kv: Decimal(kv[0]))
        return [list(x) for x in bids], [list(x) for x in asks]


class LocalOrderBook:
    """One symbol's order-by-order book from an L3 snapshot plus L3 ops, in time priority."""

    def __init__(self, seq: int, bids: list, asks: list):
        self.seq = seq
        self.orders: dict[int, list] = {}  # oid -> [side, px, open]
        self.queues: tuple[dict, dict] = ({}, {})  # per side: px -> {oid: None} in priority order
        for side, rows in ((0, bids), (1, asks)):
            for oid, px, qty in rows:
                self._add(oid, side, px, qty)

    def _add(self, oid: int, side: int, px: str, qty: str) -> None:
        self.orders[oid] = [side, px, qty]
        self.queues[side].setdefault(px, {})[oid] = None

    def _remove(self, oid: int) -> None:
        side, px, _ = self.orders.pop(oid)
        queue = self.queues[side][px]
        del queue[oid]
        if not queue:
            del self.queues[side][px]

    def update(self, msg: list) -> None:
        """Apply one `l3` message's ops in order."""
        for op in msg[4]:
            kind, oid = op[0], op[1]
            if kind == "add":
                self._add(oid, 0 if op[2] == "buy" else 1, op[3], op[4])
            elif kind == "delete":
                self._remove(oid)
            elif kind == "amend":
                self.orders[oid][2] = op[2]
            elif Decimal(op[3]):  # fill or cancel, something left
                self.orders[oid][2] = op[3]
            else:
                self._remove(oid)

    def book(self) -> tuple[list[list], list[list]]:
        """(bids, asks) as [[oid, px, open], ...]: best price first, then time priority (as a snapshot)."""
        out = []
        for side in (0, 1):
            prices = sorted(self.queues[side], key=Decimal, reverse=side == 0)
            out.append([[oid, px, self.orders[oid][2]] for px in prices for oid in self.queues[side][px]])
        return out[0], out[1]


class MarketDataClient:
    """Subscribes to symbols, keeps each one's book from a snapshot plus sequenced updates, and
    resyncs by itself on a gap (the zguide Clone pattern): buffer updates, fetch a snapshot, drop
    updates up to its sequence, apply the rest, which must follow without a hole."""

    def __init__(self, md_endpoint: str, snapshot_endpoint: str, symbols: Iterable[str], *,
                 credentials: Credentials | None = None, context: zmq.Context | None = None,
                 rcvhwm: int = 100_000, snapshot_timeout: float = 2.0,
                 on_trade: Callable[[str, list, int], None] | None = None, l3: bool = False):
        self.l3 = l3  # follow the order-by-order feed (books are LocalOrderBook) instead of L2
        self._update_kind = P.L3_UPDATE if l3 else P.MD_UPDATE
        self._snapshot_kind = P.L3_SNAPSHOT if l3 else P.SNAPSHOT
        self._topic = P.l3_topic if l3 else P.topic
        self._ctx = context or zmq.Context.instance()
        self._cred = credentials
        self.md_endpoint = md_endpoint
        self.symbols = list(symbols)
        self.rcvhwm = rcvhwm
        self.snapshot_timeout = snapshot_timeout
        self.on_trade = on_trade
        self.books: dict[str, LocalBook | LocalOrderBook | None] = {s: None for s in self.symbols}
        self.gaps = 0       # gaps detected (each followed by a resync)
        self.snapshots = 0  # snapshots applied
        self.trades: deque = deque(maxlen=100_000)  # (sym, [trade_id, px, qty, taker_side, ts], received ns)
        self._buffer: dict[str, list] = {s: [] for s in self.symbols}
        self._heard: set[str] = set()  # symbols the current subscription has delivered something for
        self._pending: dict[str, tuple[int, float]] = {}  # sym -> (snapshot req, sent at)
        self._req = itertools.count(1)
        self.snap = self._ctx.socket(zmq.DEALER)
        self.snap.setsockopt(zmq.LINGER, 0)
        _secure(self.snap, credentials)
        self.snap.connect(snapshot_endpoint)
        self.sub: zmq.Socket | None = None
        self._subscribe()
        for s in self.symbols:
            self._resync(s)

    @classmethod
    def from_data_dir(cls, data_dir: str | Path, account: str | None, symbols: Iterable[str],
                      **kw) -> MarketDataClient:
        """Subscribe to the venue whose endpoints.json (and keys, when secure) are in data_dir."""
        info = venue_info(data_dir)
        cred = None
        if info.get("secure"):
            cred = client_credentials(Path(data_dir), account, info["server_key"].encode())
        return cls(info["market_data"], info["snapshots"], symbols, credentials=cred, **kw)

    def __enter__(self) -> MarketDataClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _subscribe(self) -> None:
        sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, self.rcvhwm)
        _secure(sub, self._cred)
        for s in self.symbols:
            sub.setsockopt(zmq.SUBSCRIBE, self._topic(s))
        sub.connect(self.md_endpoint)
        self.sub = sub

    def reconnect(self) -> None:
        """Drop the subscription and subscribe again (what a client does after a network drop)."""
        self.sub.close(linger=0)
        self._heard.clear()
        self._subscribe()

    def receiving(self, sym: str | None = None) -> bool:
        """True once the feed delivered a message (update or heartbeat) for sym (or every symbol):
        ZeroMQ gives no other sign that a subscription has reached the publisher."""
        return all(s in self._heard for s in (self.symbols if sym is None else [sym]))

    def _resync(self, sym: str) -> None:
        req = next(self._req)
        self._pending[sym] = (req, time.monotonic())
        self._buffer[sym] = []
        self.snap.send(msgpack.packb([self._snapshot_kind, req, sym]))

    def synced(self, sym: str | None = None) -> bool:
        """True when the symbol (or every symbol) has a book and no snapshot is pending."""
        syms = self.symbols if sym is None else [sym]
        return all(self.books[s] is not None and s not in self._pending for s in syms)

    def book(self, sym: str) -> tuple[list, list]:
        """(bids, asks) of the local book, best first: [[px, qty], ...] on L2, [[oid, px, open], ...] in
        time priority on L3 (both as the snapshots give them)."""
        b = self.books[sym]
        if b is None:
            raise ClientError(f"no book for {sym} yet")
        return b.book() if self.l3 else b.levels()

    def status(self, sym: str) -> list | None:
        """The symbol's trading status as the feed gave it: [status, reason, until, indicative] (L2 only)."""
        b = self.books[sym]
        return None if b is None or self.l3 else b.status

    def band(self, sym: str) -> list | None:
        """An oracle instrument's price band as the feed gave it: [ref, lo, hi, source] (L2 only)."""
        b = self.books[sym]
        return None if b is None or self.l3 else b.band

    def oracle(self, sym: str) -> list | None:
        """The last oracle message of an oracle instrument since the book was synced: [ref, mult, market,
        ots, state] (L2 only)."""
        b = self.books[sym]
        return None if b is None or self.l3 else b.oracle

    def seq(self, sym: str) -> int:
        """The sequence number the local book of sym stands at."""
        b = self.books[sym]
        return -1 if b is None else b.seq

    def poll(self, timeout: float = 0.0) -> int:
        """Process what has arrived, waiting up to timeout seconds for the first; returns messages read."""
        n = 0
        poller = zmq.Poller()
        poller.register(self.sub, zmq.POLLIN)
        poller.register(self.snap, zmq.POLLIN)
        ready = dict(poller.poll(int(timeout * 1000)))
        if self.snap in ready:
            while True:
                try:
                    self._on_snapshot(msgpack.unpackb(self.snap.recv(zmq.NOBLOCK)))
                except zmq.Again:
                    break
                n += 1
        if self.sub in ready:
            while True:
                try:
                    _, body = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._on_update(msgpack.unpackb(body), time.time_ns())
                n += 1
        now = time.monotonic()
        for sym, (_, sent) in list(self._pending.items()):
            if now - sent > self.snapshot_timeout:
                self._resync(sym)
        return n

    def wait_synced(self, timeout: float = 5.0, until: Callable[[], bool] | None = None) -> None:
        """Poll until every book is synced (and until() holds, when given)."""
        deadline = time.monotonic() + timeout
        while not (self.synced() and (until is None or until())):
            if time.monotonic() > deadline:
                raise ClientError("market data not in sync within the timeout")
            self.poll(0.05)

    def _on_snapshot(self, msg: list) -> None:
        if msg[0] != self._snapshot_kind:
            return
        _, req, sym, seq, bids, asks, *status = msg
        pending = self._pending.get(sym)
        if pending is None or pending[0] != req:
            return  # an answer to a request we gave up on
        del self._pending[sym]
        book = self.books[sym] = LocalOrderBook(seq, bids, asks) if self.l3 else LocalBook(seq, bids, asks,
                                                                                          *status[:2])
        self.snapshots += 1
        for m in self._buffer.pop(sym, []):
            if m[2] <= book.seq:
                continue
            if not self._apply(sym, m):
                return
        self._buffer[sym] = []

    def _on_update(self, msg: list, received: int) -> None:
        kind, sym, seq = msg[0], msg[1], msg[2]
        if sym not in self.books:
            return
        self._heard.add(sym)
        if kind == P.MD_UPDATE and self.on_trade is not None:
            for t in msg[4]:
                self.on_trade(sym, t, received)
        if kind == P.MD_UPDATE:
            for t in msg[4]:
                self.trades.append((sym, t, received))
        if sym in self._pending:
            if kind == self._update_kind or (kind in L2_STATE_KINDS and not self.l3):
                self._buffer[sym].append(msg)
            return
        book = self.books[sym]
        if kind == P.MD_HEARTBEAT:
            if seq > book.seq:
                self.gaps += 1
                self._resync(sym)
            return
        if seq > book.seq:
            self._apply(sym, msg)

    def _apply(self, sym: str, msg: list) -> bool:
        book = self.books[sym]
        if msg[2] != book.seq + 1:
            self.gaps += 1
            self._resync(sym)
            return False
        book.update(msg)
        book.seq = msg[2]
        return True

    def close(self) -> None:
        """Close both sockets."""
        if self.sub is not None:
            self.sub.close(linger=0)
        self.snap.close(linger=0)
