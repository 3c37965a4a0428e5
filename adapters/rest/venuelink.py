"""One venue session per account over zmq.asyncio: requests, their answers and reports, never blocking the loop."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import zmq
import zmq.asyncio
from kabuto.adapters.rest.errors import VenueUnavailable, venue_error
from kabuto.adapters.rest.orders import OrderBook
from kabuto.gateway import protocol as P
from kabuto.gateway.client import venue_info
from kabuto.gateway.keys import Credentials, add_client, client_credentials, keys_dir

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 10.0  # seconds the adapter waits for the venue before answering 503
ORDER_KINDS = (P.NEW, P.CANCEL, P.AMEND)  # answered by the reports frame holding their req's reports
LOG_ON_FIRST = "log on first"  # the venue's error text for a request on a connection without a session


def credentials(data_dir: Path, key_file: Path, account: str) -> Credentials | None:
    """The CurveZMQ credentials of an account (None for an --insecure venue), created with add_client on first use."""
    info = venue_info(data_dir)
    if not info.get("secure"):
        return None
    if not (keys_dir(data_dir) / f"{account}.key_secret").exists():
        add_client(data_dir, key_file, account)
        log.info("provisioned a CurveZMQ key for account %s in %s", account, key_file)
    return client_credentials(data_dir, account, info["server_key"].encode())


def secure(sock: zmq.Socket, cred: Credentials | None) -> None:
    """Make a socket a CURVE client with these credentials (nothing for None)."""
    if cred is not None:
        sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = cred.secret, cred.public, cred.server


class VenueSession:
    """A logged-on DEALER session of one account (logon option via), its orders, and listeners of its reports."""

    def __init__(self, ctx: zmq.asyncio.Context, endpoint: str, cred: Credentials | None, account: str,
                 via: str = "rest", cod: bool = False, timeout: float = ANSWER_TIMEOUT):
        self.account = account
        self.timeout = timeout
        self.via = via
        self.cod = cod
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        secure(self.sock, cred)
        self.sock.connect(endpoint)
        self.orders = OrderBook()
        self.info: dict = {}
        self.listeners: set[Callable[[list], None]] = set()  # each gets every report of the account
        self._req = itertools.count(1)
        self._cl = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future, list, str]] = {}  # req -> (future, its reports, kind)
        self._last_sent = time.monotonic()
        self._tasks: list[asyncio.Task] = []
        self._relogon = asyncio.Lock()

    async def start(self) -> dict:
        """Start reading and log on; returns the logon answer's options."""
        self._tasks.append(asyncio.create_task(self._read()))
        await self._logon()
        self._tasks.append(asyncio.create_task(self._heartbeat(max(0.1, self.info["timeout"] / 4))))
        return self.info

    async def _logon(self) -> None:
        opts = {"version": P.VERSION, "cod": self.cod, "via": self.via, "account": self.account}
        answer = await self._send([P.LOGON, None, opts], None)
        if answer[0] == P.ERROR:
            raise venue_error(answer[2], f"the venue refused the session of {self.account}: {answer[3]}", -2015)
        self.info = answer[2]

    def next_cl_oid(self) -> str:
        """A fresh client order id for an order whose client named none."""
        return f"k{time.time_ns() // 1000:x}-{next(self._cl)}"

    async def request(self, msg: list, timeout: float | None = None) -> list:
        """Send a request (its req is filled in); returns its answer, or for new/cancel/amend its reports.

        An `error` answer is returned as it is; a mass cancel returns [answer, its reports]. When the venue
        no longer knows the session (it dropped it after a silence), the session logs on again and the
        request is sent once more."""
        answer = await self._send(list(msg), timeout)
        first = answer[0] if msg[0] == P.MASS_CANCEL else answer
        if first and first[0] == P.ERROR and first[2] == "not_authorized" and first[3] == LOG_ON_FIRST:
            log.warning("account %s: the venue dropped the session; logging on again", self.account)
            async with self._relogon:
                await self._logon()
            answer = await self._send(list(msg), timeout)
        return answer

    async def _send(self, msg: list, timeout: float | None) -> list:
        req = next(self._req)
        msg[1] = req
        fut = asyncio.get_running_loop().create_future()
        self._pending[req] = (fut, [], msg[0])
        await self.sock.send(msgpack.packb(msg))
        self._last_sent = time.monotonic()
        timeout = self.timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise VenueUnavailable(f"the venue did not answer within {timeout:g} s") from None
        finally:
            self._pending.pop(req, None)

    async def _heartbeat(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            if time.monotonic() - self._last_sent >= every:
                with contextlib.suppress(VenueUnavailable):
                    await self.request([P.HEARTBEAT, None])

    async def _read(self) -> None:
        while True:
            msg = msgpack.unpackb(await self.sock.recv())
            try:
                self._dispatch(msg)
            except Exception:  # a report the adapter cannot read must not stop the session
                log.exception("account %s: cannot handle %r", self.account, msg[:2])

    def _dispatch(self, msg: list) -> None:
        if msg[0] == P.REPORTS:
            touched = set()
            for r in msg[1]:
                if r[0] in P.BALANCE_EVS:
                    pass
                else:
                    self.orders.apply(r)
                req = r[P.R_REQ]
                if req in self._pending:
                    self._pending[req][1].append(r)
                    touched.add(req)
                for listener in list(self.listeners):
                    listener(r)
            for req in touched:
                fut, reports, kind = self._pending[req]
                if kind in ORDER_KINDS and not fut.done():
                    fut.set_result(reports)
            return
        pending = self._pending.get(msg[1]) if len(msg) > 1 else None
        if pending is None:
            if msg[0] == P.ERROR:
                log.warning("account %s: venue error %s", self.account, msg[2:])
            return
        fut, reports, kind = pending
        if not fut.done():
            fut.set_result([msg, reports] if kind == P.MASS_CANCEL else msg)

    async def close(self) -> None:
        """Log out and close the socket."""
        with contextlib.suppress(VenueUnavailable, zmq.ZMQError):
            await self.request([P.LOGOUT, None], timeout=1.0)
        for t in self._tasks:
            t.cancel()
        self.sock.close(linger=0)
